//! The legacy (v2) attach and detach actions over HTTP, in process: Nova's call sequence and
//! its failure paths, the connection info of a local attach, the read-only and bootable flags,
//! multiattach, the admin's force-detach, and Cinder's statuses and messages when a step is
//! not allowed.

mod common;
mod volume_client;

use axum::http::StatusCode;
use basalt_storage::FileBackend;
use common::*;
use serde_json::{json, Value};
use volume_client::*;

const SERVER: &str = "8f5b1a52-3c1e-4d0e-9a43-5b6a2f1c7d90";
const SERVER2: &str = "0c7e9a1d-2b4f-4f6a-8e3d-9a1b2c3d4e5f";

/// The connector of a compute host that reads volume files directly.
fn local_connector() -> Value {
    json!({"host": "compute1", "ip": "10.0.0.5", "initiator": "iqn.1994-05.com.redhat:c1",
           "multipath": false, "platform": "x86_64", "os_type": "linux",
           "do_local_attach": true})
}

async fn action(c: &Client<'_>, id: &str, body: Value) -> Resp {
    c.post(&format!("volumes/{id}/action"), body).await
}

/// Posts an action that must answer 202 with no body.
async fn accepted(c: &Client<'_>, id: &str, body: Value) {
    let r = action(c, id, body.clone()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{body} -> {}", r.body);
    assert!(r.raw.is_empty(), "{body} -> {:?}", r.raw);
}

async fn status(c: &Client<'_>, id: &str) -> String {
    c.volume(id).await["status"].as_str().unwrap().to_owned()
}

fn attach_body(server: &str) -> Value {
    json!({"os-attach": {"instance_uuid": server, "mountpoint": "/dev/vdb", "mode": "rw"}})
}

/// Reserve, initialize the connection and attach to `server`, as Nova does.
async fn attach_to(c: &Client<'_>, id: &str, server: &str) {
    accepted(c, id, json!({"os-reserve": null})).await;
    let r = action(
        c,
        id,
        json!({"os-initialize_connection": {"connector": local_connector()}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    accepted(c, id, attach_body(server)).await;
}

/// An `available` volume whose `attachments` list holds one entry for `server`.
async fn attached(c: &Client<'_>, server: &str) -> String {
    let id = c.available(json!({"size": 1})).await;
    attach_to(c, &id, server).await;
    assert_eq!(status(c, &id).await, "in-use");
    id
}

fn attachment_ids(v: &Value) -> Vec<String> {
    v["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["attachment_id"].as_str().unwrap().to_owned())
        .collect()
}

// ---- Nova's sequence --------------------------------------------------------------------------

#[tokio::test]
async fn the_nova_attach_and_detach_sequence_walks_cinders_statuses() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let admin = Client::admin(&a).await;
    let id = alice.available(json!({"size": 1})).await;

    accepted(&alice, &id, json!({"os-reserve": {}})).await;
    assert_eq!(status(&alice, &id).await, "attaching");

    let r = action(
        &alice,
        &id,
        json!({"os-initialize_connection": {"connector": local_connector()}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let info = &r.body["connection_info"];
    assert_eq!(keys(&r.body), ["connection_info"]);
    assert_eq!(info["driver_volume_type"], "local");
    let path = FileBackend::new(a.volume_dir.clone(), 20.0, 0)
        .unwrap()
        .volume_path(&id)
        .unwrap();
    assert_eq!(
        info["data"]["device_path"],
        json!(path.display().to_string())
    );
    assert!(path.starts_with(&a.volume_dir));
    assert_eq!(info["data"]["access_mode"], "rw");
    assert_eq!(info["data"]["encrypted"], json!(false));
    assert_eq!(info["data"]["volume_id"], json!(id));
    // Asking again for the same connector gives the same export.
    let again = action(
        &alice,
        &id,
        json!({"os-initialize_connection": {"connector": local_connector()}}),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, r.body);

    accepted(
        &alice,
        &id,
        json!({"os-attach": {"instance_uuid": SERVER, "host_name": "compute1",
                             "mountpoint": "/dev/vdb"}}),
    )
    .await;
    let v = alice.volume(&id).await;
    assert_eq!(v["status"], "in-use");
    assert_eq!(v["metadata"]["attached_mode"], "rw");
    assert_eq!(v["metadata"]["readonly"], "False");
    let att = v["attachments"].as_array().unwrap();
    assert_eq!(att.len(), 1);
    let att = &att[0];
    assert_eq!(
        keys(att),
        [
            "attached_at",
            "attachment_id",
            "device",
            "host_name",
            "id",
            "server_id",
            "volume_id"
        ]
    );
    assert_eq!(att["id"], json!(id));
    assert_eq!(att["volume_id"], json!(id));
    assert_eq!(att["server_id"], SERVER);
    assert_eq!(att["device"], "/dev/vdb");
    assert_eq!(att["host_name"], Value::Null, "hidden from members");
    assert!(
        is_cinder_time(&att["attached_at"]),
        "{}",
        att["attached_at"]
    );
    assert_eq!(att["attachment_id"].as_str().unwrap().len(), 36);
    let shown_to_admin = admin.volume(&id).await;
    assert_eq!(shown_to_admin["attachments"][0]["host_name"], "compute1");

    // Detach, with the failure path first.
    accepted(&alice, &id, json!({"os-begin_detaching": null})).await;
    assert_eq!(status(&alice, &id).await, "detaching");
    accepted(&alice, &id, json!({"os-roll_detaching": null})).await;
    assert_eq!(status(&alice, &id).await, "in-use");
    accepted(&alice, &id, json!({"os-begin_detaching": {}})).await;
    accepted(
        &alice,
        &id,
        json!({"os-terminate_connection": {"connector": local_connector()}}),
    )
    .await;
    assert_eq!(status(&alice, &id).await, "detaching");
    let attachment_id = attachment_ids(&alice.volume(&id).await).remove(0);
    accepted(
        &alice,
        &id,
        json!({"os-detach": {"attachment_id": attachment_id}}),
    )
    .await;
    let v = alice.volume(&id).await;
    assert_eq!(v["status"], "available");
    assert_eq!(v["attachments"], json!([]));
    assert!(
        v["metadata"].get("attached_mode").is_none(),
        "{}",
        v["metadata"]
    );

    // Detached, the volume can go.
    let r = alice.delete(&format!("volumes/{id}")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
}

#[tokio::test]
async fn a_failed_attach_is_unreserved_back_to_available() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = alice.available(json!({"size": 1})).await;

    // Unreserving a volume that is not attaching changes nothing.
    accepted(&alice, &id, json!({"os-unreserve": null})).await;
    assert_eq!(status(&alice, &id).await, "available");
    // So does rolling back a detach that never began.
    accepted(&alice, &id, json!({"os-roll_detaching": {}})).await;
    assert_eq!(status(&alice, &id).await, "available");

    accepted(&alice, &id, json!({"os-reserve": null})).await;
    assert_eq!(status(&alice, &id).await, "attaching");
    accepted(&alice, &id, json!({"os-unreserve": {}})).await;
    assert_eq!(status(&alice, &id).await, "available");

    // Terminating the connection unreserves too.
    accepted(&alice, &id, json!({"os-reserve": null})).await;
    let r = action(
        &alice,
        &id,
        json!({"os-initialize_connection": {"connector": local_connector()}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    accepted(
        &alice,
        &id,
        json!({"os-terminate_connection": {"connector": local_connector()}}),
    )
    .await;
    let v = alice.volume(&id).await;
    assert_eq!(v["status"], "available");
    assert_eq!(v["attachments"], json!([]));

    // A string or null connector is accepted on terminate.
    for connector in [json!("compute1"), Value::Null] {
        accepted(
            &alice,
            &id,
            json!({"os-terminate_connection": { "connector": connector }}),
        )
        .await;
    }
}

#[tokio::test]
async fn a_connection_without_local_attach_needs_a_network_protocol() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = alice.available(json!({"size": 1})).await;
    accepted(&alice, &id, json!({"os-reserve": null})).await;
    let r = action(
        &alice,
        &id,
        json!({"os-initialize_connection": {"connector": {"host": "compute1",
                                                           "initiator": "iqn.x"}}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.body);
    assert_eq!(r.body["computeFault"]["code"], 500);
    let message = r.body["computeFault"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Unable to fetch connection information from backend")
            && message.contains("no network export protocol is configured"),
        "{message}"
    );
    // Nothing was recorded: the volume is still only reserved.
    assert_eq!(status(&alice, &id).await, "attaching");
}

// ---- refusals ---------------------------------------------------------------------------------

#[tokio::test]
async fn reserve_needs_an_available_volume() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let creating = alice.create(json!({"size": 1})).await;
    let r = action(&alice, &creating, json!({"os-reserve": null})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid volume: Volume status must be available to reserve, but the status is creating."
    );
    a.run_jobs().await;

    let id = attached(&alice, SERVER).await;
    let r = action(&alice, &id, json!({"os-reserve": null})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid volume: Volume status must be available to reserve, but the status is in-use."
    );
    assert_eq!(status(&alice, &id).await, "in-use");
}

#[tokio::test]
async fn attach_is_refused_for_errored_attached_and_read_only_volumes() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;

    // A volume file of the wrong size on the backend makes the create job fail for good.
    let broken = alice.create(json!({"size": 1})).await;
    let backend = FileBackend::new(a.volume_dir.clone(), 20.0, 0).unwrap();
    std::fs::write(backend.volume_path(&broken).unwrap(), b"x").unwrap();
    a.run_jobs().await;
    assert_eq!(status(&alice, &broken).await, "error");
    let r = action(&alice, &broken, attach_body(SERVER)).await;
    assert!(
        bad_request(&r).starts_with("Invalid volume: "),
        "{}",
        r.body
    );
    assert_eq!(status(&alice, &broken).await, "error");

    // A second attachment of a volume that is not multiattach.
    let id = attached(&alice, SERVER).await;
    let r = action(&alice, &id, attach_body(SERVER2)).await;
    assert_eq!(
        bad_request(&r),
        format!("Invalid volume: Volume {id} is already attached and is not multiattach.")
    );
    assert_eq!(attachment_ids(&alice.volume(&id).await).len(), 1);

    // The read-only flag changes only on an available volume.
    let r = action(
        &alice,
        &id,
        json!({"os-update_readonly_flag": {"readonly": true}}),
    )
    .await;
    assert_eq!(
        bad_request(&r),
        "Invalid volume: Volume status must be available to update readonly flag."
    );

    // A read-only volume attaches read-only only.
    let ro = alice.available(json!({"size": 1})).await;
    accepted(
        &alice,
        &ro,
        json!({"os-update_readonly_flag": {"readonly": "True"}}),
    )
    .await;
    assert_eq!(alice.volume(&ro).await["metadata"]["readonly"], "True");
    let r = action(&alice, &ro, attach_body(SERVER)).await;
    assert_eq!(
        bad_request(&r),
        format!("Invalid volume: Invalid attaching mode 'rw' for volume {ro}.")
    );
    // Without a mode the default, rw, is refused as well.
    let r = action(
        &alice,
        &ro,
        json!({"os-attach": {"host_name": "h1", "mountpoint": "/mnt/v"}}),
    )
    .await;
    assert!(bad_request(&r).contains("Invalid attaching mode 'rw'"));
    accepted(&alice, &ro, json!({"os-reserve": null})).await;
    let r = action(
        &alice,
        &ro,
        json!({"os-initialize_connection": {"connector": local_connector()}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["connection_info"]["data"]["access_mode"], "ro");
    accepted(
        &alice,
        &ro,
        json!({"os-attach": {"instance_uuid": SERVER, "mountpoint": "/dev/vdc",
                             "mode": "ro"}}),
    )
    .await;
    let v = alice.volume(&ro).await;
    assert_eq!(v["status"], "in-use");
    assert_eq!(v["metadata"]["attached_mode"], "ro");
    assert_eq!(v["metadata"]["readonly"], "True");
}

#[tokio::test]
async fn action_bodies_are_checked_against_cinders_schemas() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = alice.available(json!({"size": 1})).await;
    let cases = [
        (
            json!({"os-initialize_connection": {"connector": "compute1"}}),
            "Invalid input received: Connector doesn't have required information: a connector \
             must be an object.",
        ),
        (
            json!({"os-initialize_connection": {"connector": 5}}),
            "Invalid input for field/attribute connector. Value: 5. 5 is not of type 'object', \
             'string'",
        ),
        (
            json!({"os-initialize_connection": {}}),
            "Invalid input for field/attribute os-initialize_connection. Value: {}. \
             'connector' is a required property",
        ),
        (
            json!({"os-initialize_connection": {"connector": {"multipath": false}}}),
            "Invalid input received: Connector doesn't have required information: host, \
             initiator or ip.",
        ),
        (
            json!({"os-terminate_connection": {}}),
            "Invalid input for field/attribute os-terminate_connection. Value: {}. \
             'connector' is a required property",
        ),
        (
            json!({"os-attach": {"mountpoint": "/dev/vdb"}}),
            "Invalid input for field/attribute os-attach. Value: {'mountpoint': '/dev/vdb'}. \
             {'mountpoint': '/dev/vdb'} is not valid under any of the given schemas",
        ),
        (
            json!({"os-attach": {"host_name": "h"}}),
            "Invalid input for field/attribute os-attach. Value: {'host_name': 'h'}. \
             'mountpoint' is a required property",
        ),
        (
            json!({"os-attach": {"host_name": "h", "mountpoint": "/d", "mode": "wo"}}),
            "Invalid input for field/attribute mode. Value: wo. 'wo' is not one of ['rw', 'ro']",
        ),
        (
            json!({"os-set_bootable": {}}),
            "Invalid input for field/attribute os-set_bootable. Value: {}. 'bootable' is a \
             required property",
        ),
        (
            json!({"os-update_readonly_flag": {"readonly": "perhaps"}}),
            "Invalid input for field/attribute readonly. Value: perhaps. 'perhaps' is not valid \
             under any of the given schemas",
        ),
    ];
    for (body, message) in cases {
        let r = action(&alice, &id, body.clone()).await;
        assert_eq!(bad_request(&r), message, "{body}");
    }
    let r = action(
        &alice,
        &id,
        json!({"os-attach": {"instance_uuid": "not-a-uuid", "mountpoint": "/dev/vdb"}}),
    )
    .await;
    assert!(
        bad_request(&r).starts_with("Invalid input received: Invalid instance UUID"),
        "{}",
        r.body
    );
    for body in [
        json!({"os-detach": {"attachment_id": "nope"}}),
        json!({"os-detach": {"other": 1}}),
        json!({"os-attach": {"host_name": "h", "mountpoint": "/d", "extra": 1}}),
        json!({"os-force_detach": {"attachment_id": 1}}),
        json!({"os-set_bootable": {"bootable": null}}),
        json!({"os-reserve": null, "os-unreserve": null}),
    ] {
        let r = action(&alice, &id, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body} -> {}", r.body);
    }
    let v = alice.volume(&id).await;
    assert_eq!(v["status"], "available");
    assert_eq!(v["attachments"], json!([]));
}

#[tokio::test]
async fn detaching_needs_an_attached_volume_and_a_known_attachment() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let free = alice.available(json!({"size": 1})).await;
    let r = action(&alice, &free, json!({"os-begin_detaching": null})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid volume: Unable to detach volume. Volume status must be 'in-use' and \
         attach_status must be 'attached' to detach."
    );
    assert_eq!(status(&alice, &free).await, "available");

    let id = attached(&alice, SERVER).await;
    let unknown = "11111111-2222-4333-8444-555555555555";
    let r = action(
        &alice,
        &id,
        json!({"os-detach": {"attachment_id": unknown}}),
    )
    .await;
    assert!(
        bad_request(&r).starts_with("Invalid volume: "),
        "{}",
        r.body
    );
    assert_eq!(status(&alice, &id).await, "in-use");

    // Without an id the only attachment is the one detached; the body may be null.
    accepted(&alice, &id, json!({"os-detach": null})).await;
    let v = alice.volume(&id).await;
    assert_eq!(v["status"], "available");
    assert_eq!(v["attachments"], json!([]));
}

#[tokio::test]
async fn an_attached_volume_cannot_be_deleted_or_extended() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = attached(&alice, SERVER).await;
    let r = alice.delete(&format!("volumes/{id}")).await;
    assert!(
        bad_request(&r).starts_with("Invalid volume: "),
        "{}",
        r.body
    );
    let r = action(&alice, &id, json!({"os-extend": {"new_size": 2}})).await;
    assert!(
        bad_request(&r).starts_with("Invalid volume: "),
        "{}",
        r.body
    );
    let v = alice.volume(&id).await;
    assert_eq!(v["status"], "in-use");
    assert_eq!(v["size"], json!(1));
}

// ---- admin, flags, other projects ------------------------------------------------------------

#[tokio::test]
async fn force_detach_is_for_admins_and_leaves_the_volume_available() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let admin = Client::admin(&a).await;
    let id = attached(&alice, SERVER).await;

    let r = action(&alice, &id, json!({"os-force_detach": {}})).await;
    assert_eq!(
        forbidden(&r),
        "Policy doesn't allow volume_extension:volume_admin_actions:force_detach to be \
         performed."
    );
    assert_eq!(status(&alice, &id).await, "in-use");

    let attachment_id = attachment_ids(&alice.volume(&id).await).remove(0);
    accepted(
        &admin,
        &id,
        json!({"os-force_detach": {"connector": local_connector(),
                                   "attachment_id": attachment_id}}),
    )
    .await;
    let v = alice.volume(&id).await;
    assert_eq!(v["status"], "available");
    assert_eq!(v["attachments"], json!([]));
    assert!(v["metadata"].get("attached_mode").is_none());

    // Also from a half-done attach, with no arguments at all.
    accepted(&alice, &id, json!({"os-reserve": null})).await;
    accepted(&admin, &id, json!({"os-force_detach": {}})).await;
    assert_eq!(status(&alice, &id).await, "available");
}

#[tokio::test]
async fn set_bootable_answers_200_with_an_empty_body() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = alice.available(json!({"size": 1})).await;
    assert_eq!(alice.volume(&id).await["bootable"], "false");
    for (flag, shown) in [(json!(true), "true"), (json!("false"), "false")] {
        let r = action(&alice, &id, json!({"os-set_bootable": {"bootable": flag}})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.raw.is_empty(), "{:?}", r.raw);
        assert_eq!(alice.volume(&id).await["bootable"], shown);
    }
    // Attached volumes change their flag too.
    let used = attached(&alice, SERVER).await;
    let r = action(&alice, &used, json!({"os-set_bootable": {"bootable": "1"}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(alice.volume(&used).await["bootable"], "true");
}

#[tokio::test]
async fn another_projects_volume_is_not_found_for_every_action() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let bob = Client::member(&a, "bob", "bp").await;
    let id = attached(&alice, SERVER).await;
    let bodies = [
        json!({"os-reserve": null}),
        json!({"os-unreserve": null}),
        json!({"os-begin_detaching": null}),
        json!({"os-roll_detaching": null}),
        json!({"os-initialize_connection": {"connector": local_connector()}}),
        json!({"os-terminate_connection": {"connector": local_connector()}}),
        attach_body(SERVER2),
        json!({"os-detach": null}),
        json!({"os-force_detach": {}}),
        json!({"os-update_readonly_flag": {"readonly": true}}),
        json!({"os-set_bootable": {"bootable": true}}),
    ];
    for body in bodies {
        let r = action(&bob, &id, body.clone()).await;
        assert_eq!(
            not_found(&r),
            format!("Volume {id} could not be found."),
            "{body}"
        );
    }
    let v = alice.volume(&id).await;
    assert_eq!(v["status"], "in-use");
    assert_eq!(v["bootable"], "false");
    assert_eq!(attachment_ids(&v).len(), 1);
}

#[tokio::test]
async fn a_multiattach_volume_takes_several_servers() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = alice
        .available(json!({"size": 1, "multiattach": true}))
        .await;
    assert_eq!(alice.volume(&id).await["multiattach"], json!(true));
    attach_to(&alice, &id, SERVER).await;
    assert_eq!(status(&alice, &id).await, "in-use");
    // Reserving an in-use multiattach volume is allowed.
    accepted(&alice, &id, json!({"os-reserve": null})).await;
    assert_eq!(status(&alice, &id).await, "attaching");
    accepted(&alice, &id, attach_body(SERVER2)).await;
    let v = alice.volume(&id).await;
    assert_eq!(v["status"], "in-use");
    let servers: Vec<&str> = v["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["server_id"].as_str().unwrap())
        .collect();
    assert_eq!(servers.len(), 2);
    assert!(servers.contains(&SERVER) && servers.contains(&SERVER2));

    // Unreserving with attachments left goes back to in-use.
    accepted(&alice, &id, json!({"os-reserve": null})).await;
    accepted(&alice, &id, json!({"os-unreserve": null})).await;
    assert_eq!(status(&alice, &id).await, "in-use");

    // With two attachments, detach must name one; the first leaves the volume in-use.
    let ids = attachment_ids(&v);
    let r = action(&alice, &id, json!({"os-detach": {}})).await;
    assert!(
        bad_request(&r).starts_with("Invalid volume: "),
        "{}",
        r.body
    );
    accepted(&alice, &id, json!({"os-detach": {"attachment_id": ids[0]}})).await;
    let v = alice.volume(&id).await;
    assert_eq!(v["status"], "in-use");
    assert_eq!(attachment_ids(&v), vec![ids[1].clone()]);
    accepted(&alice, &id, json!({"os-detach": {"attachment_id": ids[1]}})).await;
    let v = alice.volume(&id).await;
    assert_eq!(v["status"], "available");
    assert_eq!(v["attachments"], json!([]));
}
