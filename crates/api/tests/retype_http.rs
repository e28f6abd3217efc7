//! `os-retype` over HTTP, in process, with two file backends: in place when the pool still
//! fits the new type (type and per-type quota usage change together), refused when it would
//! have to move under `migration_policy: never`, moved by a migration under `on-demand`.

mod common;
mod volume_client;

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};
use volume_client::*;

const REFUSED: &str = "Invalid input received: Retype needs volume to be in available or \
     in-use state, not be part of an active migration or a consistency group, requested type \
     has to be different that the one from the volume, and for in-use volumes front-end qos \
     specs cannot change.";

async fn create_type(c: &Client<'_>, name: &str, specs: Value) -> String {
    let r = c
        .post(
            "types",
            json!({"volume_type": {"name": name, "extra_specs": specs}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["volume_type"]["id"].as_str().unwrap().to_owned()
}

async fn retype(c: &Client<'_>, id: &str, args: Value) -> Resp {
    c.post(
        &format!("volumes/{id}/action"),
        json!({ "os-retype": args }),
    )
    .await
}

async fn usage(admin: &Client<'_>, project: &str, key: &str) -> Value {
    let r = admin
        .get(&format!("os-quota-sets/{project}?usage=true"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["quota_set"][key]["in_use"].clone()
}

async fn two_backends() -> App {
    app_with_backends(&[("a", "nova", 20.0), ("b", "nova", 20.0)]).await
}

#[tokio::test]
async fn a_retype_within_the_pool_changes_type_and_per_type_usage() {
    let a = two_backends().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    create_type(&admin, "on-a", json!({"volume_backend_name": "a"})).await;
    let plain = create_type(&admin, "plain", json!({})).await;
    let id = alice
        .available(json!({"size": 2, "volume_type": "on-a"}))
        .await;
    assert_eq!(usage(&admin, &alice.project, "volumes_on-a").await, 1);

    // By id, as clients may send it.
    let r = retype(&alice, &id, json!({"new_type": plain})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(a.run_jobs().await, 0, "no storage work");
    let v = alice.volume(&id).await;
    assert_eq!(v["volume_type"], "plain");
    assert_eq!(v["status"], "available");
    assert_eq!(usage(&admin, &alice.project, "volumes_on-a").await, 0);
    assert_eq!(usage(&admin, &alice.project, "gigabytes_on-a").await, 0);
    assert_eq!(usage(&admin, &alice.project, "volumes_plain").await, 1);
    assert_eq!(usage(&admin, &alice.project, "gigabytes_plain").await, 2);
    assert_eq!(usage(&admin, &alice.project, "volumes").await, 1);
    assert_eq!(usage(&admin, &alice.project, "gigabytes").await, 2);

    // Back by name, explicitly never migrating: still in place.
    let r = retype(
        &alice,
        &id,
        json!({"new_type": "on-a", "migration_policy": "never"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(alice.volume(&id).await["volume_type"], "on-a");
}

#[tokio::test]
async fn retypes_that_cannot_be_done_are_refused_and_change_nothing() {
    let a = two_backends().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    create_type(&admin, "on-a", json!({"volume_backend_name": "a"})).await;
    create_type(&admin, "on-b", json!({"volume_backend_name": "b"})).await;
    create_type(&admin, "plain", json!({})).await;
    let id = alice
        .available(json!({"size": 1, "volume_type": "on-a"}))
        .await;

    let r = retype(&alice, &id, json!({"new_type": "on-a"})).await;
    assert_eq!(bad_request(&r), REFUSED);
    let r = retype(&alice, &id, json!({"new_type": "gold"})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid input received: Invalid volume_type passed: gold."
    );
    let r = retype(&alice, &id, json!({"new_type": "on-b"})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid input received: Retype requires migration but is not allowed."
    );
    let r = retype(
        &alice,
        &id,
        json!({"new_type": "on-b", "migration_policy": "sideways"}),
    )
    .await;
    assert_eq!(
        bad_request(&r),
        "Invalid input for field/attribute migration_policy. Value: sideways. 'sideways' is \
         not one of ['on-demand', 'never']"
    );
    let r = retype(&alice, &id, json!({})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid input for field/attribute os-retype. Value: {}. 'new_type' is a required \
         property"
    );
    let bob = Client::member(&a, "bob", "bp").await;
    let r = retype(&bob, &id, json!({"new_type": "plain"})).await;
    assert_eq!(not_found(&r), format!("Volume {id} could not be found."));

    // Over the new type's own quota: 413, nothing moves.
    let r = admin
        .put(
            &format!("os-quota-sets/{}", alice.project),
            json!({"quota_set": {"volumes_plain": 0}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = retype(&alice, &id, json!({"new_type": "plain"})).await;
    assert_eq!(
        over_limit(&r),
        "VolumeLimitExceeded: Maximum number of volumes allowed (0) exceeded for quota \
         'volumes_plain'."
    );

    // Not available or in-use.
    let r = admin
        .post(
            &format!("volumes/{id}/action"),
            json!({"os-reset_status": {"status": "error"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = retype(&alice, &id, json!({"new_type": "on-b"})).await;
    assert_eq!(bad_request(&r), REFUSED);
    let v = alice.volume(&id).await;
    assert_eq!(v["volume_type"], "on-a");
    assert_eq!(usage(&admin, &alice.project, "volumes_on-a").await, 1);
    assert_eq!(usage(&admin, &alice.project, "volumes_plain").await, 0);
}

#[tokio::test]
async fn an_on_demand_retype_moves_the_volume_to_a_backend_that_fits() {
    let a = two_backends().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    create_type(&admin, "on-a", json!({"volume_backend_name": "a"})).await;
    create_type(&admin, "on-b", json!({"volume_backend_name": "b"})).await;
    let id = alice
        .available(json!({"size": 1, "volume_type": "on-a"}))
        .await;
    let on_a = a.volume_dir.join(format!("volume-{id}"));
    std::fs::write(&on_a, b"typed data").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&on_a)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();

    let r = retype(
        &alice,
        &id,
        json!({"new_type": "on-b", "migration_policy": "on-demand"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let v = admin.volume(&id).await;
    assert_eq!(v["status"], "retyping");
    assert_eq!(v["os-vol-mig-status-attr:migstat"], "starting");
    a.run_jobs().await;
    let v = admin.volume(&id).await;
    assert_eq!(v["status"], "available", "{v}");
    assert_eq!(v["volume_type"], "on-b");
    assert_eq!(v["os-vol-host-attr:host"], "testhost@b#b");
    assert_eq!(v["os-vol-mig-status-attr:migstat"], "success");
    let on_b = a
        .volume_dir
        .parent()
        .unwrap()
        .join(format!("volumes-b/volume-{id}"));
    let mut head = [0u8; 10];
    std::io::Read::read_exact(&mut std::fs::File::open(&on_b).unwrap(), &mut head).unwrap();
    assert_eq!(&head, b"typed data");
    assert!(!on_a.exists());
    assert_eq!(usage(&admin, &alice.project, "volumes_on-b").await, 1);
    assert_eq!(usage(&admin, &alice.project, "volumes_on-a").await, 0);
}

#[tokio::test]
async fn an_attached_volume_is_retyped_in_place_only() {
    let a = two_backends().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    create_type(&admin, "on-a", json!({"volume_backend_name": "a"})).await;
    create_type(&admin, "on-b", json!({"volume_backend_name": "b"})).await;
    create_type(&admin, "plain", json!({})).await;
    let id = alice
        .available(json!({"size": 1, "volume_type": "on-a"}))
        .await;
    for body in [
        json!({"os-reserve": null}),
        json!({"os-attach": {"instance_uuid": "0b4e8a2e-3f52-4e6c-9a1e-2d7c5b8f9a10",
                             "mountpoint": "/dev/vdb"}}),
    ] {
        let r = alice.post(&format!("volumes/{id}/action"), body).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    }
    let r = retype(&alice, &id, json!({"new_type": "plain"})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let v = alice.volume(&id).await;
    assert_eq!(
        (v["status"].as_str(), v["volume_type"].as_str()),
        (Some("in-use"), Some("plain"))
    );
    let r = retype(
        &alice,
        &id,
        json!({"new_type": "on-b", "migration_policy": "on-demand"}),
    )
    .await;
    assert_eq!(
        bad_request(&r),
        format!("{REFUSED} Basalt migrates only volumes that are not attached.")
    );
    assert_eq!(alice.volume(&id).await["volume_type"], "plain");
}
