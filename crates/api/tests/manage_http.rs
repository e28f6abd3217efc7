//! Manage and unmanage over HTTP, in process: `os-unmanage` of volumes and snapshots (the
//! row goes, the file stays), the manageable listings of `os-volume-manage` and
//! `os-snapshot-manage`, and adopting a raw file as a volume, with every refusal changing
//! nothing.

mod common;
mod volume_client;

use std::io::Write;

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};
use volume_client::*;

const HOST: &str = "testhost@file#file";
/// `HOST` in a query string (`#` would start the fragment).
const HOST_Q: &str = "testhost@file%23file";
const GIB: u64 = 1 << 30;

async fn action(c: &Client<'_>, what: &str, id: &str, body: Value) -> Resp {
    c.post(&format!("{what}/{id}/action"), body).await
}

/// A sparse file of `len` bytes in the backend's directory, starting with `head`.
fn raw_file(a: &App, name: &str, len: u64, head: &[u8]) -> std::path::PathBuf {
    let path = a.volume_dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(head).unwrap();
    f.set_len(len).unwrap();
    path
}

fn entries<'a>(r: &'a Resp, key: &str) -> &'a Vec<Value> {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body[key].as_array().unwrap()
}

fn named<'a>(list: &'a [Value], name: &str) -> &'a Value {
    list.iter()
        .find(|e| e["reference"]["source-name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed in {list:?}"))
}

#[tokio::test]
async fn unmanage_forgets_the_volume_and_keeps_its_file() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let admin = Client::admin(&a).await;
    let id = alice.available(json!({"size": 1})).await;
    let r = action(&alice, "volumes", &id, json!({"os-unmanage": null})).await;
    assert_eq!(
        forbidden(&r),
        "Policy doesn't allow volume_extension:volume_unmanage to be performed."
    );
    let r = action(&admin, "volumes", &id, json!({"os-unmanage": {}})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(a.run_jobs().await, 0, "no storage work");
    assert_eq!(
        alice.get(&format!("volumes/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(a.volume_dir.join(format!("volume-{id}")).exists());
    let r = alice.get("limits").await;
    assert_eq!(r.body["limits"]["absolute"]["totalVolumesUsed"], 0);
    // The file is now one Basalt may adopt again.
    let r = admin.get(&format!("os-volume-manage?host={HOST_Q}")).await;
    let e = named(entries(&r, "manageable-volumes"), &format!("volume-{id}"));
    assert_eq!(
        e,
        &json!({"reference": {"source-name": format!("volume-{id}")},
                          "size": 1, "safe_to_manage": true})
    );
    let r = action(&admin, "volumes", &id, json!({"os-unmanage": {}})).await;
    assert_eq!(not_found(&r), format!("Volume {id} could not be found."));
}

#[tokio::test]
async fn unmanage_refuses_what_delete_refuses() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let id = admin.available(json!({"size": 1})).await;
    let r = admin
        .post("snapshots", json!({"snapshot": {"volume_id": id}}))
        .await;
    let sid = r.body["snapshot"]["id"].as_str().unwrap().to_owned();
    a.run_jobs().await;
    let r = action(&admin, "volumes", &id, json!({"os-unmanage": {}})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid volume: Volume status must be available or error or error_restoring or \
         error_extending or error_managing and must not be migrating, attached, exported, \
         belong to a group, have snapshots, or have a job under way."
    );
    // Snapshots unmanage too, the admin's only.
    let alice = Client::member(&a, "alice", "ap").await;
    let mine = alice.available(json!({"size": 1})).await;
    let r = alice
        .post("snapshots", json!({"snapshot": {"volume_id": mine}}))
        .await;
    let alices = r.body["snapshot"]["id"].as_str().unwrap().to_owned();
    a.run_jobs().await;
    let r = action(&alice, "snapshots", &alices, json!({"os-unmanage": {}})).await;
    assert_eq!(
        forbidden(&r),
        "Policy doesn't allow snapshot_extension:snapshot_unmanage to be performed."
    );
    // A snapshot in `creating` is refused.
    let r = admin
        .post(
            &format!("snapshots/{sid}/action"),
            json!({"os-reset_status": {"status": "creating"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = action(&admin, "snapshots", &sid, json!({"os-unmanage": {}})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid snapshot: Snapshot status must be available or error and must not be part of \
         a group."
    );
    let r = admin
        .post(
            &format!("snapshots/{sid}/action"),
            json!({"os-reset_status": {"status": "available"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);

    // The listing shows the snapshot's file as managed, with its volume.
    let r = admin
        .get(&format!("os-snapshot-manage/detail?host={HOST_Q}"))
        .await;
    let e = named(
        entries(&r, "manageable-snapshots"),
        &format!("snapshot-{sid}"),
    );
    assert_eq!(
        e,
        &json!({"reference": {"source-name": format!("snapshot-{sid}")}, "size": 1,
                "safe_to_manage": false, "reason_not_safe": "already managed",
                "cinder_id": sid, "extra_info": null,
                "source_reference": {"source-name": format!("volume-{id}")}})
    );
    let r = action(&admin, "snapshots", &sid, json!({"os-unmanage": {}})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(
        admin.get(&format!("snapshots/{sid}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(a.volume_dir.join(format!("snapshot-{sid}")).exists());
    let r = admin
        .get(&format!("os-snapshot-manage?host={HOST_Q}"))
        .await;
    let e = named(
        entries(&r, "manageable-snapshots"),
        &format!("snapshot-{sid}"),
    );
    assert_eq!(e["safe_to_manage"], true);
    assert_eq!(e["source_reference"], Value::Null);
    // With the snapshot gone, the volume may be unmanaged.
    let r = action(&admin, "volumes", &id, json!({"os-unmanage": {}})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
}

#[tokio::test]
async fn the_listing_says_which_files_may_be_adopted() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = admin.available(json!({"size": 1})).await;
    raw_file(&a, "disk.img", GIB + GIB / 2, b"x");
    raw_file(&a, "small", 10, b"");
    std::fs::write(a.volume_dir.join(".hidden"), b"x").unwrap();

    let r = admin.get(&format!("os-volume-manage?host={HOST_Q}")).await;
    let list = entries(&r, "manageable-volumes");
    let vol = format!("volume-{id}");
    let names: Vec<&str> = list
        .iter()
        .map(|e| e["reference"]["source-name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [vol.as_str(), "small", "disk.img"],
        "reference, descending"
    );
    assert_eq!(
        named(list, "disk.img"),
        &json!({"reference": {"source-name": "disk.img"},
                                               "size": 2, "safe_to_manage": true})
    );
    let r = admin
        .get(&format!("os-volume-manage/detail?host={HOST_Q}"))
        .await;
    let list = entries(&r, "manageable-volumes");
    assert_eq!(
        named(list, &vol),
        &json!({"reference": {"source-name": vol}, "size": 1, "safe_to_manage": false,
                "reason_not_safe": "already managed", "cinder_id": id, "extra_info": null})
    );
    assert_eq!(named(list, "small")["reason_not_safe"], Value::Null);

    // Paging and sorting as Cinder's.
    let r = admin
        .get(&format!(
            "os-volume-manage?host={HOST_Q}&sort=size:desc,reference:asc&limit=1"
        ))
        .await;
    assert_eq!(
        entries(&r, "manageable-volumes")[0]["reference"]["source-name"],
        "disk.img"
    );
    let marker = "%7B%22source-name%22%3A%20%22disk.img%22%7D";
    let r = admin
        .get(&format!(
            "os-volume-manage?host={HOST_Q}&sort=size:desc,reference:asc&marker={marker}"
        ))
        .await;
    assert_eq!(entries(&r, "manageable-volumes").len(), 2);
    let r = admin
        .get(&format!("os-volume-manage?host={HOST_Q}&sort=name"))
        .await;
    assert_eq!(bad_request(&r), "Invalid sort keys passed: name");
    let r = admin
        .get(&format!("os-volume-manage?host={HOST_Q}&marker=nope"))
        .await;
    assert_eq!(
        bad_request(&r),
        "Invalid input received: marker not found: {'source-name': 'nope'}"
    );

    // The host is required and must be one of this deployment's volume services.
    let r = admin.get("os-volume-manage").await;
    assert_eq!(
        bad_request(&r),
        "Invalid input received: Host field is missing."
    );
    let r = admin
        .get("os-volume-manage/detail?host=elsewhere@file")
        .await;
    assert_eq!(bad_request(&r), "Host 'elsewhere@file' not found");
    let r = admin
        .get("os-snapshot-manage?host=testhost@nobackend")
        .await;
    assert_eq!(bad_request(&r), "Host 'testhost@nobackend' not found");
    // Only admins list, whatever the query.
    let r = alice.get("os-volume-manage").await;
    assert_eq!(
        forbidden(&r),
        "Policy doesn't allow volume_extension:list_manageable to be performed."
    );
    let r = alice.get(&format!("os-volume-manage?host={HOST_Q}")).await;
    assert_eq!(
        forbidden(&r),
        "Policy doesn't allow volume_extension:list_manageable to be performed."
    );
    let r = alice
        .get(&format!("os-snapshot-manage/detail?host={HOST_Q}"))
        .await;
    assert_eq!(
        forbidden(&r),
        "Policy doesn't allow snapshot_extension:list_manageable to be performed."
    );
}

#[tokio::test]
async fn a_raw_file_is_adopted_as_a_volume_of_whole_gib() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let path = raw_file(&a, "disk.img", GIB + GIB / 2, b"precious data");
    let r = admin
        .post(
            "os-volume-manage",
            json!({"volume": {"host": HOST, "ref": {"source-name": "disk.img"},
                              "name": "adopted", "bootable": true,
                              "metadata": {"k": "v"}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let v = &r.body["volume"];
    assert_eq!(v["status"], "creating");
    assert_eq!(v["size"], 2);
    assert_eq!(v["name"], "adopted");
    assert_eq!(v["bootable"], "true");
    assert_eq!(v["volume_type"], "__DEFAULT__");
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(a.run_jobs().await, 1);
    let v = admin.volume(&id).await;
    assert_eq!(v["status"], "available");
    assert_eq!(v["metadata"], json!({"k": "v"}));
    assert_eq!(v["os-vol-host-attr:host"], HOST);
    assert!(!path.exists());
    let file = a.volume_dir.join(format!("volume-{id}"));
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 2 * GIB);
    let mut data = [0u8; 4096];
    std::io::Read::read_exact(&mut std::fs::File::open(&file).unwrap(), &mut data).unwrap();
    assert_eq!(&data[..13], b"precious data");
    assert!(data[13..].iter().all(|b| *b == 0));
    let r = admin.get("limits").await;
    assert_eq!(r.body["limits"]["absolute"]["totalGigabytesUsed"], 2);
    // The adopted volume behaves as any other: it extends and deletes.
    let r = action(
        &admin,
        "volumes",
        &id,
        json!({"os-extend": {"new_size": 3}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    a.run_jobs().await;
    assert_eq!(admin.volume(&id).await["size"], 3);
}

#[tokio::test]
async fn adoptions_that_cannot_work_are_refused_and_change_nothing() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = admin.available(json!({"size": 1})).await;
    let path = raw_file(&a, "disk.img", 3 * GIB, b"");
    let manage = |source: &str| json!({"volume": {"host": HOST, "ref": {"source-name": source}}});
    let r = admin.post("os-volume-manage", manage("missing.img")).await;
    assert_eq!(
        not_found(&r),
        "Manage existing volume failed due to invalid backend reference {'source-name': \
         'missing.img'}: no such file on backend 'file'."
    );
    let r = admin.post("os-volume-manage", manage("../t.db")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = admin
        .post("os-volume-manage", manage(&format!("volume-{id}")))
        .await;
    assert_eq!(
        bad_request(&r),
        format!("Unable to manage existing volume. Volume volume-{id} already managed.")
    );
    let r = admin
        .post(
            "os-volume-manage",
            json!({"volume": {"ref": {"source-name": "disk.img"}}}),
        )
        .await;
    assert_eq!(
        bad_request(&r),
        "Invalid input received: Host field is missing."
    );
    let r = admin
        .post(
            "os-volume-manage",
            json!({"volume": {"host": "nowhere@file", "ref": {"source-name": "disk.img"}}}),
        )
        .await;
    assert_eq!(bad_request(&r), "Host 'nowhere@file' not found");
    let r = admin
        .post(
            "os-volume-manage",
            json!({"volume": {"host": HOST, "ref": {"name": "x"}}}),
        )
        .await;
    assert_eq!(
        bad_request(&r),
        "Manage existing volume failed due to invalid backend reference {'name': 'x'}: \
         Reference must contain source-name element."
    );
    let r = admin
        .post("os-volume-manage", json!({"volume": {"host": HOST}}))
        .await;
    assert_eq!(
        bad_request(&r),
        "Invalid input for field/attribute volume. Value: {'host': 'testhost@file#file'}. \
         'ref' is a required property"
    );
    let r = admin
        .post(
            "os-volume-manage",
            json!({"volume": {"host": HOST, "ref": {"source-name": "disk.img"},
                              "volume_type": "gold"}}),
        )
        .await;
    assert_eq!(
        bad_request(&r),
        "Invalid input received: Volume type with name gold could not be found."
    );
    let r = alice.post("os-volume-manage", manage("disk.img")).await;
    assert_eq!(
        forbidden(&r),
        "Policy doesn't allow volume_extension:volume_manage to be performed."
    );
    // Over quota: 413, and the file stays where it was.
    let r = admin
        .put(
            &format!("os-quota-sets/{}", admin.project),
            json!({"quota_set": {"gigabytes": 3}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = admin.post("os-volume-manage", manage("disk.img")).await;
    assert!(over_limit(&r).starts_with("VolumeSizeExceedsAvailableQuota"));
    assert_eq!(a.run_jobs().await, 0);
    assert!(path.exists());
    assert_eq!(
        admin.get("volumes").await.body["volumes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn the_extension_list_names_manage_unmanage_and_admin_actions() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    for (alias, name) in [
        ("os-admin-actions", "AdminActions"),
        ("os-volume-manage", "VolumeManage"),
        ("os-volume-unmanage", "VolumeUnmanage"),
        ("os-snapshot-unmanage", "SnapshotUnmanage"),
        ("os-snapshot-manage", "SnapshotManage"),
    ] {
        let r = alice.get(&format!("extensions/{alias}")).await;
        assert_eq!(r.status, StatusCode::OK, "{alias}");
        assert_eq!(r.body["extension"]["name"], name);
    }
}

#[tokio::test]
async fn a_raw_file_is_adopted_as_a_snapshot_of_a_volume() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vid = alice.available(json!({"size": 1})).await;
    let path = raw_file(&a, "snap.img", GIB / 2, b"snapshot data");
    let manage = |vid: &str, source: &str| json!({"snapshot": {"volume_id": vid, "ref": {"source-name": source}, "name": "s"}});
    let r = alice
        .post("os-snapshot-manage", manage(&vid, "snap.img"))
        .await;
    assert_eq!(
        forbidden(&r),
        "Policy doesn't allow snapshot_extension:snapshot_manage to be performed."
    );
    let r = admin
        .post("os-snapshot-manage", manage("nope", "snap.img"))
        .await;
    assert_eq!(not_found(&r), "Volume nope could not be found.");
    let r = admin
        .post("os-snapshot-manage", manage(&vid, "gone.img"))
        .await;
    assert_eq!(
        not_found(&r),
        "Manage existing snapshot failed due to invalid backend reference {'source-name': \
         'gone.img'}: no such file on backend 'file'."
    );
    let r = admin
        .post("os-snapshot-manage", manage(&vid, &format!("volume-{vid}")))
        .await;
    assert_eq!(
        bad_request(&r),
        format!("Unable to manage existing snapshot. Volume volume-{vid} already managed.")
    );
    let r = admin
        .post(
            "os-snapshot-manage",
            json!({"snapshot": {"ref": {"source-name": "snap.img"}}}),
        )
        .await;
    assert_eq!(
        bad_request(&r),
        "Invalid input for field/attribute snapshot. Value: {'ref': {'source-name': \
         'snap.img'}}. 'volume_id' is a required property"
    );

    let r = admin
        .post("os-snapshot-manage", manage(&vid, "snap.img"))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["snapshot"]["status"], "creating");
    assert_eq!(r.body["snapshot"]["size"], 1);
    let sid = r.body["snapshot"]["id"].as_str().unwrap().to_owned();
    a.run_jobs().await;
    let r = alice.get(&format!("snapshots/{sid}")).await;
    assert_eq!(r.body["snapshot"]["status"], "available", "{}", r.body);
    assert!(!path.exists());
    // Charged to the volume's project, as any snapshot of it.
    let r = alice.get("limits").await;
    assert_eq!(r.body["limits"]["absolute"]["totalSnapshotsUsed"], 1);
    // Its data makes a volume.
    let copy = alice
        .available(json!({"size": 1, "snapshot_id": sid}))
        .await;
    let mut head = [0u8; 13];
    std::io::Read::read_exact(
        &mut std::fs::File::open(a.volume_dir.join(format!("volume-{copy}"))).unwrap(),
        &mut head,
    )
    .unwrap();
    assert_eq!(&head, b"snapshot data");
    // Adopting it again is refused: it is a snapshot's now.
    let r = admin
        .post(
            "os-snapshot-manage",
            manage(&vid, &format!("snapshot-{sid}")),
        )
        .await;
    assert_eq!(
        bad_request(&r),
        format!("Unable to manage existing snapshot. Snapshot snapshot-{sid} already managed.")
    );
}

#[tokio::test]
async fn a_backups_snapshot_is_listed_as_in_use_and_cannot_be_adopted() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let vid = admin.available(json!({"size": 1})).await;
    // What a reflink backend keeps between a volume's backups (`snapshot-backup-<id>`).
    let base = "snapshot-backup-5e0f4d8e-0b7a-4d43-9f3c-1f2e3d4c5b6a";
    raw_file(&a, base, GIB, b"");
    let r = admin
        .get(&format!("os-snapshot-manage/detail?host={HOST_Q}"))
        .await;
    let e = named(entries(&r, "manageable-snapshots"), base);
    assert_eq!(e["safe_to_manage"], false, "{e}");
    assert_eq!(e["reason_not_safe"], "in use by a backup");
    let r = admin
        .post(
            "os-snapshot-manage",
            json!({"snapshot": {"volume_id": vid, "ref": {"source-name": base}}}),
        )
        .await;
    assert_eq!(
        bad_request(&r),
        format!("Unable to manage existing snapshot. {base} is in use by a backup.")
    );
    assert!(a.volume_dir.join(base).exists());
}
