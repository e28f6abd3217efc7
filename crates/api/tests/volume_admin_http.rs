//! The admin's volume actions over HTTP, in process: `os-reset_status` (status,
//! attach_status, migration_status) and `os-force_delete`, with Cinder's codes and messages,
//! 403 for everyone else, and nothing left transitional by a reset.

mod common;
mod volume_client;

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};
use volume_client::*;

const SERVER: &str = "0b4e8a2e-3f52-4e6c-9a1e-2d7c5b8f9a10";

async fn action(c: &Client<'_>, id: &str, body: Value) -> Resp {
    c.post(&format!("volumes/{id}/action"), body).await
}

async fn accepted(c: &Client<'_>, id: &str, body: Value) {
    let r = action(c, id, body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
}

#[tokio::test]
async fn reset_status_is_for_admins_only() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = alice.available(json!({"size": 1})).await;
    let r = action(&alice, &id, json!({"os-reset_status": {"status": "error"}})).await;
    assert_eq!(
        forbidden(&r),
        "Policy doesn't allow volume_extension:volume_admin_actions:reset_status to be performed."
    );
    let r = action(&alice, &id, json!({"os-force_delete": {}})).await;
    assert_eq!(
        forbidden(&r),
        "Policy doesn't allow volume_extension:volume_admin_actions:force_delete to be performed."
    );
    // Another project's volume does not exist for her, even to the policy question.
    let bob = Client::member(&a, "bob", "bp").await;
    let r = action(&bob, &id, json!({"os-force_delete": {}})).await;
    assert_eq!(not_found(&r), format!("Volume {id} could not be found."));
    assert_eq!(alice.volume(&id).await["status"], "available");
}

#[tokio::test]
async fn reset_status_sets_each_field_as_asked() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let admin = Client::admin(&a).await;
    let id = alice.available(json!({"size": 1})).await;

    accepted(&admin, &id, json!({"os-reset_status": {"status": "ERROR"}})).await;
    let v = admin.volume(&id).await;
    assert_eq!(v["status"], "error");
    assert_eq!(v["os-vol-mig-status-attr:migstat"], Value::Null);

    accepted(
        &admin,
        &id,
        json!({"os-reset_status": {"migration_status": "migrating"}}),
    )
    .await;
    let v = admin.volume(&id).await;
    assert_eq!(v["status"], "error", "the status stays when not given");
    assert_eq!(v["os-vol-mig-status-attr:migstat"], "migrating");
    assert_eq!(v["migration_status"], "migrating");

    accepted(
        &admin,
        &id,
        json!({"os-reset_status": {"status": "available", "migration_status": "none"}}),
    )
    .await;
    let v = admin.volume(&id).await;
    assert_eq!(v["status"], "available");
    assert_eq!(v["os-vol-mig-status-attr:migstat"], Value::Null);

    // An unknown volume is 404 after the body is checked.
    let r = action(
        &admin,
        "nope",
        json!({"os-reset_status": {"status": "error"}}),
    )
    .await;
    assert_eq!(not_found(&r), "Volume nope could not be found.");
}

#[tokio::test]
async fn reset_status_refuses_values_outside_cinders_enums() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let id = admin.available(json!({"size": 1})).await;
    for (body, message) in [
        (
            json!({"os-reset_status": {}}),
            "Must specify 'status', 'attach_status' or 'migration_status' for update.",
        ),
        (
            json!({"os-reset_status": {"attach_status": "attaching"}}),
            "Volume attach status: attaching is invalid, valid statuses are: ['attached', \
             'detached'].",
        ),
        (
            json!({"os-reset_status": {"migration_status": "flying"}}),
            "Volume migration status: flying is invalid, valid statuses are: ('migrating', \
             'error', 'success', 'completing', 'none', 'starting').",
        ),
        (
            json!({"os-reset_status": {"status": "available", "size": 3}}),
            "Invalid input for field/attribute os-reset_status. Value: {'size': 3, \
             'status': 'available'}. Additional properties are not allowed ('size' was \
             unexpected)",
        ),
    ] {
        assert_eq!(bad_request(&action(&admin, &id, body).await), message);
    }
    let r = action(&admin, &id, json!({"os-reset_status": {"status": "bogus"}})).await;
    assert!(bad_request(&r).starts_with(
        "Volume status: bogus is invalid, valid statuses are: ('creating', 'available', "
    ));
    let r = action(&admin, &id, json!({"os-reset_status": {"status": 3}})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(admin.volume(&id).await["status"], "available");
}

#[tokio::test]
async fn resetting_to_detached_removes_the_attachments() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let id = admin.available(json!({"size": 1})).await;
    accepted(&admin, &id, json!({"os-reserve": null})).await;
    accepted(
        &admin,
        &id,
        json!({"os-attach": {"instance_uuid": SERVER, "mountpoint": "/dev/vdb", "mode": "rw"}}),
    )
    .await;
    let v = admin.volume(&id).await;
    assert_eq!(v["status"], "in-use");
    assert_eq!(v["attachments"].as_array().unwrap().len(), 1);
    // Attached: even a forced delete is refused.
    let r = action(&admin, &id, json!({"os-force_delete": {}})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid volume: Volume  must not be migrating, attached, belong to a group, have \
         snapshots, awaiting a transfer, or be disassociated from snapshots after volume \
         transfer."
    );
    accepted(
        &admin,
        &id,
        json!({"os-reset_status": {"status": "available", "attach_status": "detached"}}),
    )
    .await;
    let v = admin.volume(&id).await;
    assert_eq!(v["status"], "available");
    assert_eq!(v["attachments"], json!([]));
    let r = admin.delete(&format!("volumes/{id}")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
}

#[tokio::test]
async fn force_delete_removes_a_volume_in_any_settled_status() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let admin = Client::admin(&a).await;
    let id = alice.available(json!({"size": 1})).await;
    let file = a.volume_dir.join(format!("volume-{id}"));
    assert!(file.exists());
    accepted(
        &admin,
        &id,
        json!({"os-reset_status": {"status": "error_deleting"}}),
    )
    .await;
    // A plain delete refuses that status...
    let r = alice.delete(&format!("volumes/{id}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // ... a forced one does not, and twice is fine.
    accepted(&admin, &id, json!({"os-force_delete": {}})).await;
    accepted(&admin, &id, json!({"os-force_delete": null})).await;
    assert_eq!(admin.volume(&id).await["status"], "deleting");
    a.run_jobs().await;
    let r = alice.get(&format!("volumes/{id}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!file.exists());
    let r = alice.get("limits").await;
    assert_eq!(r.body["limits"]["absolute"]["totalVolumesUsed"], 0);
}

#[tokio::test]
async fn force_delete_refuses_migrating_volumes_snapshots_and_running_jobs() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let id = admin.available(json!({"size": 1})).await;
    accepted(
        &admin,
        &id,
        json!({"os-reset_status": {"migration_status": "migrating"}}),
    )
    .await;
    let r = action(&admin, &id, json!({"os-force_delete": {}})).await;
    assert!(bad_request(&r).starts_with("Invalid volume: Volume  must not be migrating"));
    accepted(
        &admin,
        &id,
        json!({"os-reset_status": {"migration_status": "none"}}),
    )
    .await;

    let r = admin
        .post("snapshots", json!({"snapshot": {"volume_id": id}}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let sid = r.body["snapshot"]["id"].as_str().unwrap().to_owned();
    a.run_jobs().await;
    let r = action(&admin, &id, json!({"os-force_delete": {}})).await;
    assert!(bad_request(&r).contains("have snapshots"));
    let r = admin.delete(&format!("snapshots/{sid}")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    a.run_jobs().await;

    // A volume whose create job has not run yet: the job would race the delete.
    let fresh = admin.create(json!({"size": 1})).await;
    let r = action(&admin, &fresh, json!({"os-force_delete": {}})).await;
    assert_eq!(
        bad_request(&r),
        format!(
            "Invalid volume: Volume {fresh} has a create_volume job under way; force-delete \
             it once the job ends."
        )
    );
    a.run_jobs().await;
    accepted(&admin, &fresh, json!({"os-force_delete": {}})).await;
    accepted(&admin, &id, json!({"os-force_delete": {}})).await;
    a.run_jobs().await;
    assert_eq!(admin.get("volumes").await.body["volumes"], json!([]));
}

#[tokio::test]
async fn a_reset_to_a_transitional_status_does_not_survive_reconciliation() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let id = admin.available(json!({"size": 1})).await;
    accepted(
        &admin,
        &id,
        json!({"os-reset_status": {"status": "extending"}}),
    )
    .await;
    assert_eq!(a.volumes.reconcile(true).await.unwrap(), 1);
    assert_eq!(admin.volume(&id).await["status"], "error_extending");
}
