//! `os-migrate_volume` and `os-migrate_volume_completion` over HTTP, in process, with two
//! file backends: real data moved and checked byte for byte, the volume keeping its id,
//! `migration_status` progressing, `lock_volume`, every refusal, a failed copy, and no
//! migration left running by a restart.

mod common;
mod volume_client;

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};
use volume_client::*;

const MIGSTAT: &str = "os-vol-mig-status-attr:migstat";
const HOST_ATTR: &str = "os-vol-host-attr:host";
const MIB: u64 = 1 << 20;

async fn action(c: &Client<'_>, id: &str, body: Value) -> Resp {
    c.post(&format!("volumes/{id}/action"), body).await
}

async fn migrate(c: &Client<'_>, id: &str, args: Value) -> Resp {
    action(c, id, json!({ "os-migrate_volume": args })).await
}

async fn two_backends() -> App {
    app_with_backends(&[("a", "nova", 20.0), ("b", "nova", 20.0)]).await
}

fn on_b(a: &App, id: &str) -> PathBuf {
    a.volume_dir
        .parent()
        .unwrap()
        .join(format!("volumes-b/volume-{id}"))
}

/// Writes a recognisable pattern at offsets that cross the copy's chunk boundaries and the
/// end of the volume, leaving holes between.
fn write_pattern(path: &Path) -> Vec<(u64, Vec<u8>)> {
    let mut f = std::fs::File::options().write(true).open(path).unwrap();
    let len = f.metadata().unwrap().len();
    let mut written = vec![];
    for (i, offset) in [0, 8 * MIB - 4096, 100 * MIB + 17, len - 65536]
        .into_iter()
        .enumerate()
    {
        let data: Vec<u8> = (0..65536u32)
            .map(|n| (n.wrapping_mul(31).wrapping_add(i as u32 * 7) % 251) as u8 + 1)
            .collect();
        f.seek(SeekFrom::Start(offset)).unwrap();
        f.write_all(&data).unwrap();
        written.push((offset, data));
    }
    f.sync_all().unwrap();
    written
}

/// Whether two files hold the same bytes, read side by side.
fn same_bytes(a: &Path, b: &Path) -> bool {
    let (mut fa, mut fb) = (
        std::fs::File::open(a).unwrap(),
        std::fs::File::open(b).unwrap(),
    );
    if fa.metadata().unwrap().len() != fb.metadata().unwrap().len() {
        return false;
    }
    let (mut ba, mut bb) = (vec![0u8; 8 << 20], vec![0u8; 8 << 20]);
    loop {
        let n = fa.read(&mut ba).unwrap();
        if n == 0 {
            return true;
        }
        fb.read_exact(&mut bb[..n]).unwrap();
        if ba[..n] != bb[..n] {
            return false;
        }
    }
}

#[tokio::test]
async fn a_migration_moves_the_data_byte_for_byte_and_keeps_the_id() {
    let a = two_backends().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = alice.available(json!({"size": 1})).await;
    assert_eq!(admin.volume(&id).await[HOST_ATTR], "testhost@a#a");
    let on_a = a.volume_dir.join(format!("volume-{id}"));
    let written = write_pattern(&on_a);
    let reference = a.volume_dir.parent().unwrap().join("reference");
    std::fs::copy(&on_a, &reference).unwrap();

    let r = migrate(
        &admin,
        &id,
        json!({"host": "testhost@b#b", "lock_volume": true, "force_host_copy": false}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert!(r.raw.is_empty());
    let v = admin.volume(&id).await;
    assert_eq!(v["status"], "maintenance");
    assert_eq!(v[MIGSTAT], "starting");
    assert_eq!(v["migration_status"], "starting");
    assert_eq!(v[HOST_ATTR], "testhost@a#a");
    // The owner sees the lock, not the migration details.
    let mine = alice.volume(&id).await;
    assert_eq!(mine["status"], "maintenance");
    assert!(mine.get(MIGSTAT).is_none());

    assert_eq!(
        a.run_jobs().await,
        2,
        "the copy, then the drop of the source"
    );
    let v = admin.volume(&id).await;
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["status"], "available");
    assert_eq!(v[MIGSTAT], "success");
    assert_eq!(v[HOST_ATTR], "testhost@b#b");
    assert!(!on_a.exists(), "the source copy is dropped");
    let moved = on_b(&a, &id);
    assert!(same_bytes(&reference, &moved), "byte for byte");
    // Holes stay holes: only the written regions (and little more) take space.
    let allocated = std::fs::metadata(&moved).unwrap().blocks() * 512;
    assert!(allocated < 64 * MIB, "{allocated} bytes allocated");
    let mut f = std::fs::File::open(&moved).unwrap();
    for (offset, data) in written {
        let mut back = vec![0u8; data.len()];
        f.seek(SeekFrom::Start(offset)).unwrap();
        f.read_exact(&mut back).unwrap();
        assert_eq!(back, data);
    }

    // The volume works on its new backend: it extends, and the completion call says to
    // keep it.
    let r = action(&alice, &id, json!({"os-extend": {"new_size": 2}})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    a.run_jobs().await;
    assert_eq!(std::fs::metadata(&moved).unwrap().len(), 2 << 30);
    let r = action(
        &admin,
        &id,
        json!({"os-migrate_volume_completion": {"new_volume": id}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!({"save_volume_id": id}));
    // Pool usage follows the volume.
    let r = admin.get("scheduler-stats/get_pools?detail=true").await;
    let b = r.body["pools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "testhost@b#b")
        .cloned()
        .unwrap();
    assert_eq!(b["capabilities"]["provisioned_capacity_gb"], 2.0, "{b}");
}

#[tokio::test]
async fn migrate_refuses_bad_hosts_and_volumes_that_cannot_move() {
    let a = two_backends().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = alice.available(json!({"size": 1})).await;

    let r = migrate(&alice, &id, json!({"host": "testhost@b#b"})).await;
    assert_eq!(
        forbidden(&r),
        "Policy doesn't allow volume_extension:volume_admin_actions:migrate_volume to be \
         performed."
    );
    let r = migrate(&admin, &id, json!({"host": "testhost@a#a"})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid host: Destination host must be different than the current host."
    );
    let r = migrate(&admin, &id, json!({"host": "testhost@a"})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid host: Destination host must be different than the current host."
    );
    let r = migrate(&admin, &id, json!({"host": "elsewhere@b#b"})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid host: Host 'elsewhere@b#b' not found."
    );
    let r = migrate(&admin, &id, json!({"host": "testhost@b#other"})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid host: Host 'testhost@b#other' not found."
    );
    let r = migrate(&admin, &id, json!({})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid input for field/attribute os-migrate_volume. Value: {}. 'host' is a required \
         property"
    );
    let r = migrate(&admin, "nope", json!({"host": "testhost@b#b"})).await;
    assert_eq!(not_found(&r), "Volume nope could not be found.");

    // With snapshots.
    let r = alice
        .post("snapshots", json!({"snapshot": {"volume_id": id}}))
        .await;
    let sid = r.body["snapshot"]["id"].as_str().unwrap().to_owned();
    a.run_jobs().await;
    let r = migrate(&admin, &id, json!({"host": "testhost@b#b"})).await;
    assert_eq!(
        bad_request(&r),
        format!("Invalid volume: Volume {id} must not have snapshots.")
    );
    alice.delete(&format!("snapshots/{sid}")).await;
    a.run_jobs().await;

    // Attached.
    for body in [
        json!({"os-reserve": null}),
        json!({"os-attach": {"instance_uuid": "0b4e8a2e-3f52-4e6c-9a1e-2d7c5b8f9a10",
                             "mountpoint": "/dev/vdb"}}),
    ] {
        assert_eq!(action(&alice, &id, body).await.status, StatusCode::ACCEPTED);
    }
    let r = migrate(&admin, &id, json!({"host": "testhost@b#b"})).await;
    assert_eq!(
        bad_request(&r),
        format!(
            "Invalid volume: Volume {id} is attached; Basalt migrates only volumes that are \
             not attached."
        )
    );
    // Not available or in-use.
    let r = action(
        &admin,
        &id,
        json!({"os-reset_status": {"status": "error", "attach_status": "detached"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = migrate(&admin, &id, json!({"host": "testhost@b#b"})).await;
    assert_eq!(
        bad_request(&r),
        format!("Invalid volume: Volume {id} status must be available or in-use, but current status is: error.")
    );
    let v = admin.volume(&id).await;
    assert_eq!(v[MIGSTAT], Value::Null);
    assert_eq!(v[HOST_ATTR], "testhost@a#a");
}

#[tokio::test]
async fn a_migrating_volume_refuses_changes_to_its_data() {
    let a = two_backends().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = alice.available(json!({"size": 1})).await;
    let r = migrate(&admin, &id, json!({"host": "testhost@b"})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    // Unlocked: still `available` to its owner, but nothing may change its data.
    assert_eq!(alice.volume(&id).await["status"], "available");
    let r = action(&alice, &id, json!({"os-reserve": null})).await;
    assert_eq!(
        bad_request(&r),
        format!(
            "Invalid volume: Volume {id} is migrating; it can be reserved once the migration ends."
        )
    );
    let r = action(&alice, &id, json!({"os-extend": {"new_size": 2}})).await;
    assert_eq!(
        bad_request(&r),
        format!(
            "Invalid volume: Volume {id} is migrating; it can be extended once the migration ends."
        )
    );
    let r = alice.delete(&format!("volumes/{id}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = migrate(&admin, &id, json!({"host": "testhost@b#b"})).await;
    assert_eq!(
        bad_request(&r),
        format!("Invalid volume: Volume {id} is already part of an active migration.")
    );
    let r = action(
        &admin,
        &id,
        json!({"os-migrate_volume_completion": {"new_volume": id}}),
    )
    .await;
    assert_eq!(
        bad_request(&r),
        format!("Invalid volume: Volume {id} is still migrating; its migration ends by itself.")
    );
    // A restart meanwhile: the job runs again, the migration ends.
    assert_eq!(a.volumes.reconcile(true).await.unwrap(), 0);
    a.run_jobs().await;
    let v = admin.volume(&id).await;
    assert_eq!(
        (v["status"].as_str(), v[MIGSTAT].as_str()),
        (Some("available"), Some("success"))
    );
    assert_eq!(v[HOST_ATTR], "testhost@b#b");
}

#[tokio::test]
async fn a_failed_copy_leaves_the_volume_where_it_was() {
    let a = two_backends().await;
    let admin = Client::admin(&a).await;
    let id = admin.available(json!({"size": 1})).await;
    let r = migrate(
        &admin,
        &id,
        json!({"host": "testhost@b#b", "lock_volume": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    // The source disappears under the job.
    std::fs::remove_file(a.volume_dir.join(format!("volume-{id}"))).unwrap();
    a.run_jobs().await;
    let v = admin.volume(&id).await;
    assert_eq!(v["status"], "available");
    assert_eq!(v[MIGSTAT], "error");
    assert_eq!(v[HOST_ATTR], "testhost@a#a");
    assert!(!on_b(&a, &id).exists(), "the destination copy is dropped");
    let r = action(
        &admin,
        &id,
        json!({"os-migrate_volume_completion": {"new_volume": id, "error": true}}),
    )
    .await;
    assert_eq!(r.body, json!({"save_volume_id": id}));
}

#[tokio::test]
async fn completion_checks_its_volumes() {
    let a = two_backends().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = alice.available(json!({"size": 1})).await;
    let other = alice.available(json!({"size": 1})).await;
    let completion = |new: &str| json!({"os-migrate_volume_completion": {"new_volume": new}});
    let r = action(&alice, &id, completion(&other)).await;
    assert_eq!(
        forbidden(&r),
        "Policy doesn't allow volume_extension:volume_admin_actions:migrate_volume_completion \
         to be performed."
    );
    let missing = "6f1c0d2e-8a53-4c7e-9d5b-1e0f2a3b4c5d";
    let r = action(&admin, &id, completion(missing)).await;
    assert_eq!(
        not_found(&r),
        format!("Volume {missing} could not be found.")
    );
    let r = action(&admin, &id, completion(&other)).await;
    assert_eq!(
        bad_request(&r),
        "Invalid volume: Source volume not mid-migration."
    );
    let r = action(
        &admin,
        &id,
        json!({"os-reset_status": {"migration_status": "success"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = action(&admin, &id, completion(&other)).await;
    assert_eq!(
        bad_request(&r),
        "Invalid volume: Destination volume not mid-migration."
    );
    let r = action(&admin, &id, completion("x")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_migration_without_a_job_does_not_survive_reconciliation() {
    let a = two_backends().await;
    let admin = Client::admin(&a).await;
    let id = admin.available(json!({"size": 1})).await;
    let r = action(
        &admin,
        &id,
        json!({"os-reset_status": {"status": "maintenance", "migration_status": "migrating"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(a.volumes.reconcile(true).await.unwrap(), 1);
    let v = admin.volume(&id).await;
    assert_eq!(v["status"], "available");
    assert_eq!(v[MIGSTAT], "error");
}

#[tokio::test]
async fn a_migration_reset_before_its_job_runs_copies_nothing() {
    let a = two_backends().await;
    let admin = Client::admin(&a).await;
    let id = admin.available(json!({"size": 1})).await;
    let r = migrate(&admin, &id, json!({"host": "testhost@b#b"})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let r = action(
        &admin,
        &id,
        json!({"os-reset_status": {"migration_status": "none"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(a.run_jobs().await, 1);
    let v = admin.volume(&id).await;
    assert_eq!(
        (v["status"].as_str(), v[MIGSTAT].as_str()),
        (Some("available"), None)
    );
    assert_eq!(v[HOST_ATTR], "testhost@a#a");
    assert!(a.volume_dir.join(format!("volume-{id}")).exists());
    assert!(!on_b(&a, &id).exists());
    // Nothing is left running: another migration may start.
    let r = migrate(&admin, &id, json!({"host": "testhost@b#b"})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
}
