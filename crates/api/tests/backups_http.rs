//! Backups over HTTP, in process: create (full, incremental, of an in-use volume), show,
//! list and page, delete (children refuse it), restore to new and existing volumes, export
//! and import of records, the admin actions and the quotas, with Cinder's codes, bodies and
//! messages. Jobs run on the real file backend and the real repository.

mod common;
mod volume_client;

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};
use volume_client::*;

const DETAIL_KEYS: [&str; 17] = [
    "availability_zone",
    "container",
    "created_at",
    "data_timestamp",
    "description",
    "fail_reason",
    "has_dependent_backups",
    "id",
    "is_incremental",
    "links",
    "name",
    "object_count",
    "size",
    "snapshot_id",
    "status",
    "updated_at",
    "volume_id",
];

async fn backup_of(c: &Client<'_>, volume_id: &str, extra: Value) -> Resp {
    let mut body = json!({ "volume_id": volume_id });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    c.post("backups", json!({ "backup": body })).await
}

/// Creates a backup and runs the jobs, so that it is `available`.
async fn available_backup(c: &Client<'_>, volume_id: &str, extra: Value) -> String {
    let r = backup_of(c, volume_id, extra).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let id = r.body["backup"]["id"].as_str().unwrap().to_owned();
    c.app.run_jobs().await;
    assert_eq!(backup(c, &id).await["status"], "available");
    id
}

async fn backup(c: &Client<'_>, id: &str) -> Value {
    let r = c.get(&format!("backups/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["backup"].clone()
}

async fn action(c: &Client<'_>, id: &str, body: Value) -> Resp {
    c.post(&format!("backups/{id}/action"), body).await
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect()
}

async fn attach(c: &Client<'_>, id: &str) {
    let r = c
        .post(
            &format!("volumes/{id}/action"),
            json!({"os-attach": {"instance_uuid": "7f3c2a55-5a0e-4c36-9d7c-54d3cf3f6a01",
                                 "mountpoint": "/dev/vdb", "mode": "rw"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(c.volume(id).await["status"], "in-use");
}

#[tokio::test]
async fn create_answers_202_and_the_backup_becomes_available_with_every_field() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 2})).await;
    let r = backup_of(
        &alice,
        &vol,
        json!({"name": "b1", "description": "d", "container": "c1"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let b = &r.body["backup"];
    assert_eq!(keys(b), ["id", "links", "name"]);
    assert_eq!(b["name"], "b1");
    let id = b["id"].as_str().unwrap().to_owned();
    assert!(b["links"][0]["href"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/v2/{}/backups/{id}", alice.project)));
    assert_eq!(alice.volume(&vol).await["status"], "backing-up");
    let shown = backup(&alice, &id).await;
    assert_eq!(keys(&shown), DETAIL_KEYS);
    assert_eq!(shown["status"], "creating");

    a.run_jobs().await;
    let shown = backup(&alice, &id).await;
    assert_eq!(shown["status"], "available");
    assert_eq!(shown["size"], json!(2));
    assert_eq!(
        shown["object_count"],
        json!(0),
        "an empty volume is all holes"
    );
    assert_eq!(shown["container"], "c1");
    assert_eq!(shown["description"], "d");
    assert_eq!(shown["availability_zone"], "nova");
    assert_eq!(shown["is_incremental"], json!(false));
    assert_eq!(shown["has_dependent_backups"], json!(false));
    assert_eq!(shown["fail_reason"], Value::Null);
    assert_eq!(shown["snapshot_id"], Value::Null);
    assert!(is_cinder_time(&shown["data_timestamp"]), "{shown}");
    assert_eq!(alice.volume(&vol).await["status"], "available");
    assert!(a
        .backup_dir
        .join("manifests")
        .join(format!("{id}.json"))
        .exists());
}

#[tokio::test]
async fn lists_filter_sort_page_and_stay_in_the_project() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let bob = Client::member(&a, "bob", "bp").await;
    let vol = alice.available(json!({"size": 1})).await;
    let b1 = available_backup(&alice, &vol, json!({"name": "one"})).await;
    let b2 = available_backup(&alice, &vol, json!({"name": "two"})).await;
    let r = alice.get("backups").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(ids(&r.body["backups"]), [b2.as_str(), b1.as_str()]);
    assert_eq!(keys(&r.body["backups"][0]), ["id", "links", "name"]);
    let r = alice.get("backups/detail?name=one").await;
    assert_eq!(ids(&r.body["backups"]), [b1.as_str()]);
    assert_eq!(keys(&r.body["backups"][0]), DETAIL_KEYS);
    let r = alice
        .get(&format!("backups?volume_id={vol}&status=available"))
        .await;
    assert_eq!(r.body["backups"].as_array().unwrap().len(), 2);
    let r = alice.get("backups?limit=1").await;
    assert_eq!(ids(&r.body["backups"]), [b2.as_str()]);
    let next = r.body["backups_links"][0]["href"].as_str().unwrap();
    assert!(
        next.ends_with(&format!("backups?limit=1&marker={b2}")),
        "{next}"
    );
    let r = alice.get(&format!("backups?limit=1&marker={b2}")).await;
    assert_eq!(ids(&r.body["backups"]), [b1.as_str()]);
    let r = alice.get("backups?sort=display_name:asc").await;
    assert_eq!(ids(&r.body["backups"]), [b1.as_str(), b2.as_str()]);
    let r = alice.get("backups?all_tenants=maybe").await;
    assert_eq!(
        bad_request(&r),
        "all_tenants must be a boolean, got 'maybe'."
    );

    let r = bob.get("backups/detail?all_tenants=1").await;
    assert!(r.body["backups"].as_array().unwrap().is_empty());
    let r = bob.get(&format!("backups/{b1}")).await;
    assert_eq!(not_found(&r), format!("Backup {b1} could not be found."));
    let admin = Client::admin(&a).await;
    let r = admin.get("backups?all_tenants=true").await;
    assert_eq!(r.body["backups"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_in_use_volume_needs_force_and_stays_in_use() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 1})).await;
    attach(&alice, &vol).await;
    let r = backup_of(&alice, &vol, json!({})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid volume: Backing up an in-use volume must use the force flag."
    );
    let r = backup_of(&alice, &vol, json!({"force": true})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(alice.volume(&vol).await["status"], "in-use");
    a.run_jobs().await;
    let id = r.body["backup"]["id"].as_str().unwrap();
    assert_eq!(backup(&alice, id).await["status"], "available");
    assert_eq!(alice.volume(&vol).await["status"], "in-use");
}

#[tokio::test]
async fn incremental_backups_need_a_parent_and_protect_it_from_deletion() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 1})).await;
    let r = backup_of(&alice, &vol, json!({"incremental": true})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid backup: No backups available to do an incremental backup."
    );
    let full = available_backup(&alice, &vol, json!({})).await;
    let inc = available_backup(&alice, &vol, json!({"incremental": true})).await;
    assert_eq!(backup(&alice, &inc).await["is_incremental"], json!(true));
    assert_eq!(
        backup(&alice, &full).await["has_dependent_backups"],
        json!(true)
    );
    let r = alice.delete(&format!("backups/{full}")).await;
    assert_eq!(
        bad_request(&r),
        "Invalid backup: Incremental backups exist for this backup."
    );
    let admin = Client::admin(&a).await;
    let r = action(&admin, &full, json!({"os-force_delete": {}})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid backup: Incremental backups exist for this backup."
    );
    let r = alice.delete(&format!("backups/{inc}")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(backup(&alice, &inc).await["status"], "deleting");
    a.run_jobs().await;
    let r = alice.get(&format!("backups/{inc}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = alice.delete(&format!("backups/{full}")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    a.run_jobs().await;
    assert!(alice.get("backups").await.body["backups"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_creating_backup_cannot_be_deleted_and_its_volume_is_busy() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 1})).await;
    let r = backup_of(&alice, &vol, json!({})).await;
    let id = r.body["backup"]["id"].as_str().unwrap();
    let r = alice.delete(&format!("backups/{id}")).await;
    assert_eq!(
        bad_request(&r),
        "Invalid backup: Backup status must be available or error"
    );
    let r = backup_of(&alice, &vol, json!({})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid volume: Volume to be backed up must be available or in-use, but the \
         current status is \"backing-up\"."
    );
    let r = alice.delete(&format!("volumes/{vol}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn restore_to_a_new_volume_names_it_after_the_backup() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 2})).await;
    let id = available_backup(&alice, &vol, json!({})).await;
    let r = alice
        .post(&format!("backups/{id}/restore"), json!({"restore": {}}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let restore = &r.body["restore"];
    assert_eq!(keys(restore), ["backup_id", "volume_id", "volume_name"]);
    assert_eq!(restore["backup_id"], json!(id));
    assert_eq!(
        restore["volume_name"],
        json!(format!("restore_backup_{id}"))
    );
    let new = restore["volume_id"].as_str().unwrap();
    let v = alice.volume(new).await;
    assert_eq!(v["status"], "restoring-backup");
    assert_eq!(v["size"], json!(2));
    assert_eq!(backup(&alice, &id).await["status"], "restoring");
    a.run_jobs().await;
    assert_eq!(alice.volume(new).await["status"], "available");
    assert_eq!(backup(&alice, &id).await["status"], "available");

    let r = alice
        .post(
            &format!("backups/{id}/restore"),
            json!({"restore": {"name": "mine"}}),
        )
        .await;
    assert_eq!(r.body["restore"]["volume_name"], "mine");
    a.run_jobs().await;
}

#[tokio::test]
async fn restore_to_an_existing_volume_needs_it_available_and_large_enough() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 2})).await;
    let id = available_backup(&alice, &vol, json!({})).await;
    let small = alice.available(json!({"size": 1})).await;
    let r = alice
        .post(
            &format!("backups/{id}/restore"),
            json!({"restore": {"volume_id": small}}),
        )
        .await;
    assert_eq!(
        bad_request(&r),
        "Invalid volume: volume size 1 is too small to restore backup of size 2."
    );
    let busy = alice.available(json!({"size": 3})).await;
    attach(&alice, &busy).await;
    let r = alice
        .post(
            &format!("backups/{id}/restore"),
            json!({"restore": {"volume_id": busy}}),
        )
        .await;
    assert_eq!(
        bad_request(&r),
        "Invalid volume: Volume to be restored to must be available"
    );
    let target = alice.available(json!({"size": 3, "name": "t"})).await;
    let r = alice
        .post(
            &format!("backups/{id}/restore"),
            json!({"restore": {"volume_id": target}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(
        r.body["restore"],
        json!({"backup_id": id, "volume_id": target, "volume_name": "t"})
    );
    assert_eq!(alice.volume(&target).await["status"], "restoring-backup");
    let r = alice
        .post(&format!("backups/{id}/restore"), json!({"restore": null}))
        .await;
    assert_eq!(
        bad_request(&r),
        "Invalid backup: Backup status must be available"
    );
    a.run_jobs().await;
    assert_eq!(alice.volume(&target).await["status"], "available");
}

#[tokio::test]
async fn admin_endpoints_are_forbidden_to_members() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 1})).await;
    let id = available_backup(&alice, &vol, json!({})).await;
    let r = alice.get(&format!("backups/{id}/export_record")).await;
    assert_eq!(
        forbidden(&r),
        "Policy doesn't allow backup:export-import to be performed."
    );
    let r = alice
        .post("backups/import_record", json!({"backup-record": {}}))
        .await;
    assert_eq!(
        forbidden(&r),
        "Policy doesn't allow backup:backup-import to be performed."
    );
    let r = action(&alice, &id, json!({"os-reset_status": {"status": "error"}})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = action(&alice, &id, json!({"os-force_delete": {}})).await;
    assert_eq!(
        forbidden(&r),
        "Policy doesn't allow volume_extension:backup_admin_actions:force_delete to be \
         performed."
    );
}

#[tokio::test]
async fn reset_status_takes_available_or_error_and_force_delete_any_status() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let vol = admin.available(json!({"size": 1})).await;
    let id = available_backup(&admin, &vol, json!({})).await;
    let r = action(
        &admin,
        &id,
        json!({"os-reset_status": {"status": "creating"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = action(&admin, &id, json!({"os-reset_status": {"status": "error"}})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(backup(&admin, &id).await["status"], "error");
    let r = action(
        &admin,
        &id,
        json!({"os-reset_status": {"status": "AVAILABLE"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(backup(&admin, &id).await["status"], "available");
    let r = action(&admin, &id, json!({"os-bogus": {}})).await;
    assert_eq!(bad_request(&r), "There is no such action: os-bogus");

    let r = backup_of(&admin, &vol, json!({})).await;
    let creating = r.body["backup"]["id"].as_str().unwrap().to_owned();
    let r = action(&admin, &creating, json!({"os-force_delete": {}})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    a.run_jobs().await;
    let r = admin.get(&format!("backups/{creating}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(admin.volume(&vol).await["status"], "available");
}

#[tokio::test]
async fn records_export_and_import_and_a_tampered_record_creates_nothing() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let vol = admin.available(json!({"size": 1})).await;
    // Two backups of the same data: deleting the first leaves its chunks to the second.
    let first = available_backup(&admin, &vol, json!({"name": "first"})).await;
    available_backup(&admin, &vol, json!({})).await;
    let r = admin.get(&format!("backups/{first}/export_record")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let record = r.body["backup-record"].clone();
    assert_eq!(keys(&record), ["backup_service", "backup_url"]);
    assert_eq!(record["backup_service"], "basalt.backup.posix");

    let r = admin
        .post("backups/import_record", json!({"backup-record": record}))
        .await;
    assert_eq!(
        bad_request(&r),
        "Invalid backup: Backup already exists in database."
    );
    let r = admin.delete(&format!("backups/{first}")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    a.run_jobs().await;

    let url = record["backup_url"].as_str().unwrap();
    let truncated = &url[..url.len() / 2];
    let mut tampered = url.as_bytes().to_vec();
    let at = tampered.len() / 3;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    for bad in [truncated.to_owned(), String::from_utf8(tampered).unwrap()] {
        let r = admin
            .post(
                "backups/import_record",
                json!({"backup-record": {"backup_service": "basalt.backup.posix",
                                         "backup_url": bad}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(
            bad_request(&r).starts_with("Invalid input received: Can't parse backup record"),
            "{}",
            r.body
        );
    }
    assert_eq!(
        admin.get("backups").await.body["backups"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let r = admin
        .post(
            "backups/import_record",
            json!({"backup-record": {"backup_service": "other", "backup_url": url}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);

    let r = admin
        .post("backups/import_record", json!({"backup-record": record}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["backup"]["id"], json!(first));
    assert_eq!(r.body["backup"]["name"], "first");
    let shown = backup(&admin, &first).await;
    assert_eq!(shown["status"], "available");
    let r = admin
        .post(&format!("backups/{first}/restore"), json!({"restore": {}}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    a.run_jobs().await;
    let new = r.body["restore"]["volume_id"].as_str().unwrap();
    assert_eq!(admin.volume(new).await["status"], "available");
}

#[tokio::test]
async fn quotas_count_backups_and_refuse_over_the_limit() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 2})).await;
    let r = admin
        .put(
            &format!("os-quota-sets/{}", alice.project),
            json!({"quota_set": {"backups": 1, "backup_gigabytes": 3}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let id = available_backup(&alice, &vol, json!({})).await;
    let r = backup_of(&alice, &vol, json!({})).await;
    assert_eq!(
        over_limit(&r),
        "BackupLimitExceeded: Maximum number of backups allowed (1) exceeded"
    );
    assert_eq!(r.headers["retry-after"], "0");
    let r = admin
        .put(
            &format!("os-quota-sets/{}", alice.project),
            json!({"quota_set": {"backups": 5}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = backup_of(&alice, &vol, json!({})).await;
    assert_eq!(
        over_limit(&r),
        "VolumeBackupSizeExceedsAvailableQuota: Requested backup exceeds allowed Backup \
         gigabytes quota. Requested 2G, quota is 3G and 2G has been consumed."
    );
    let r = alice
        .get(&format!("os-quota-sets/{}?usage=true", alice.project))
        .await;
    assert_eq!(r.body["quota_set"]["backups"]["in_use"], json!(1));
    assert_eq!(r.body["quota_set"]["backup_gigabytes"]["in_use"], json!(2));
    let r = alice.get("limits").await;
    assert_eq!(r.body["limits"]["absolute"]["totalBackupsUsed"], json!(1));
    assert_eq!(
        r.body["limits"]["absolute"]["totalBackupGigabytesUsed"],
        json!(2)
    );

    // A restore to a new volume reserves volume quota.
    let r = admin
        .put(
            &format!("os-quota-sets/{}", alice.project),
            json!({"quota_set": {"gigabytes": 3}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = alice
        .post(&format!("backups/{id}/restore"), json!({"restore": {}}))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert_eq!(r.headers["retry-after"], "0");
    assert_eq!(backup(&alice, &id).await["status"], "available");
    assert_eq!(
        alice.get("volumes").await.body["volumes"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "nothing was created"
    );
}

#[tokio::test]
async fn bad_bodies_are_refused_before_anything_happens() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let r = alice
        .post("backups", json!({"backup": {"name": "x"}}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let vol = alice.available(json!({"size": 1})).await;
    let r = backup_of(&alice, &vol, json!({"bogus": 1})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = backup_of(&alice, "6f1c0d2e-8a53-4c7e-9d5b-1e0f2a3b4c5d", json!({})).await;
    assert_eq!(
        not_found(&r),
        "Volume 6f1c0d2e-8a53-4c7e-9d5b-1e0f2a3b4c5d could not be found."
    );
    let r = alice.get("extensions/backups").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["extension"]["name"], "Backups");
}
