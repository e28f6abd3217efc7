//! Volume transfers over HTTP, in process: offer, list, show, cancel and accept between two
//! projects, with Cinder's statuses, shapes and messages; the quota usage of both projects
//! before and after (and a recount that finds every counter right after each scenario).

mod common;
mod volume_client;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};
use volume_client::*;

const SERVER: &str = "6f1a3c1e-2b7d-4e8f-9a0b-1c2d3e4f5a6b";

/// Offers `volume` as `c`; returns (transfer id, auth key).
async fn offer(c: &Client<'_>, volume: &str, name: Value) -> (String, String) {
    let r = c
        .post(
            "os-volume-transfer",
            json!({"transfer": {"volume_id": volume, "name": name}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let t = &r.body["transfer"];
    (
        t["id"].as_str().unwrap().to_owned(),
        t["auth_key"].as_str().unwrap().to_owned(),
    )
}

async fn accept(c: &Client<'_>, id: &str, key: Value) -> Resp {
    c.post(
        &format!("os-volume-transfer/{id}/accept"),
        json!({"accept": {"auth_key": key}}),
    )
    .await
}

/// `resource` of `project`'s usage view: (in use, limit).
async fn usage(admin: &Client<'_>, project: &str, resource: &str) -> (i64, i64) {
    let r = admin
        .get(&format!("os-quota-sets/{project}?usage=true"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let e = &r.body["quota_set"][resource];
    (e["in_use"].as_i64().unwrap(), e["limit"].as_i64().unwrap())
}

/// Every counter the triggers keep agrees with a recount from the rows.
async fn assert_counters_right(a: &App) {
    assert_eq!(a.quotas.recount_usage().await.unwrap(), 0, "usage drifted");
}

async fn set_quota(admin: &Client<'_>, project: &str, set: Value) {
    let r = admin
        .put(
            &format!("os-quota-sets/{project}"),
            json!({ "quota_set": set }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// An available snapshot of `volume`.
async fn snapshot(c: &Client<'_>, volume: &str) -> String {
    let r = c
        .post("snapshots", json!({"snapshot": {"volume_id": volume}}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    c.app.run_jobs().await;
    r.body["snapshot"]["id"].as_str().unwrap().to_owned()
}

async fn action(c: &Client<'_>, volume: &str, body: Value) -> Resp {
    c.post(&format!("volumes/{volume}/action"), body).await
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect()
}

// ---- create, show, list ----------------------------------------------------------------------

#[tokio::test]
async fn create_answers_202_with_the_key_once_and_the_volume_awaits_transfer() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 1})).await;
    let r = alice
        .post(
            "os-volume-transfer",
            json!({"transfer": {"volume_id": vol, "name": " gift "}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let t = &r.body["transfer"];
    assert_eq!(
        keys(t),
        ["auth_key", "created_at", "id", "links", "name", "volume_id"]
    );
    let key = t["auth_key"].as_str().unwrap();
    assert!(
        key.len() == 16 && key.chars().all(|c| c.is_ascii_hexdigit()),
        "{key}"
    );
    assert_eq!(
        (t["name"].as_str(), t["volume_id"].as_str()),
        (Some("gift"), Some(vol.as_str()))
    );
    assert!(is_cinder_time(&t["created_at"]));
    let id = t["id"].as_str().unwrap();
    assert_eq!(
        t["links"],
        json!([
            {"rel": "self", "href": format!("{VOLUME}/v2/{}/os-volume-transfer/{id}", alice.project)},
            {"rel": "bookmark", "href": format!("{VOLUME}/{}/os-volume-transfer/{id}", alice.project)},
        ])
    );
    assert_eq!(alice.volume(&vol).await["status"], "awaiting-transfer");
    // Show is the detail view: never the key again.
    let r = alice.get(&format!("os-volume-transfer/{id}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        keys(&r.body["transfer"]),
        ["created_at", "id", "links", "name", "volume_id"]
    );
    assert!(!r.raw.windows(key.len()).any(|w| w == key.as_bytes()));
    // v3 serves the same resource.
    let v3 = Client::member(&a, "carol", "cp").await.v3();
    let vol3 = v3.available(json!({"size": 1})).await;
    let (id3, _) = offer(&v3, &vol3, Value::Null).await;
    let r = v3.get(&format!("os-volume-transfer/{id3}")).await;
    assert_eq!(r.body["transfer"]["name"], Value::Null);
    assert!(r.body["transfer"]["links"][0]["href"]
        .as_str()
        .unwrap()
        .contains("/v3/"));
    assert_counters_right(&a).await;
}

#[tokio::test]
async fn lists_have_cinders_two_shapes_filter_on_name_and_stay_in_the_project() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    let bob = Client::member(&a, "bob", "bp").await;
    let v1 = alice.available(json!({"size": 1})).await;
    let v2 = alice.available(json!({"size": 1})).await;
    let vb = bob.available(json!({"size": 1})).await;
    let (t1, _) = offer(&alice, &v1, json!("one")).await;
    let (t2, _) = offer(&alice, &v2, json!("two")).await;
    let (tb, _) = offer(&bob, &vb, json!("bobs")).await;

    let r = alice.get("os-volume-transfer").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(ids(&r.body["transfers"]), [t1.as_str(), t2.as_str()]);
    assert_eq!(
        keys(&r.body["transfers"][0]),
        ["id", "links", "name", "volume_id"]
    );
    assert!(r.body.get("transfers_links").is_none());
    let r = alice.get("os-volume-transfer/detail").await;
    assert_eq!(
        keys(&r.body["transfers"][1]),
        ["created_at", "id", "links", "name", "volume_id"]
    );
    let r = alice.get("os-volume-transfer/detail?name=two").await;
    assert_eq!(ids(&r.body["transfers"]), [t2.as_str()]);
    // A filter on what transfers do not have matches nothing (Cinder's model-filter check).
    let r = alice.get("os-volume-transfer?bogus=1").await;
    assert_eq!(r.body["transfers"], json!([]));

    // Another project's transfer does not exist for a member; all_tenants is the admin's.
    assert_eq!(
        not_found(&alice.get(&format!("os-volume-transfer/{tb}")).await),
        format!("Transfer {tb} could not be found.")
    );
    let r = alice.get("os-volume-transfer?all_tenants=1").await;
    assert_eq!(r.body["transfers"].as_array().unwrap().len(), 2);
    let r = admin.get("os-volume-transfer?all_tenants=1").await;
    assert_eq!(
        ids(&r.body["transfers"]),
        [t1.as_str(), t2.as_str(), tb.as_str()]
    );
    let r = admin.get("os-volume-transfer").await;
    assert_eq!(r.body["transfers"], json!([]));
    let r = admin.get(&format!("os-volume-transfer/{tb}")).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn lists_page_with_limit_offset_and_marker_in_creation_order() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let mut made = vec![];
    for _ in 0..3 {
        let v = alice.available(json!({"size": 1})).await;
        made.push(offer(&alice, &v, Value::Null).await.0);
    }
    let r = alice.get("os-volume-transfer/detail?limit=2").await;
    assert_eq!(
        ids(&r.body["transfers"]),
        [made[0].as_str(), made[1].as_str()]
    );
    assert_eq!(
        r.body["transfers_links"],
        json!([{"rel": "next", "href": format!(
            "{VOLUME}/v2/{}/os-volume-transfer/detail?limit=2&marker={}",
            alice.project, made[1])}])
    );
    let r = alice
        .get(&format!("os-volume-transfer?limit=2&marker={}", made[1]))
        .await;
    assert_eq!(ids(&r.body["transfers"]), [made[2].as_str()]);
    assert!(r.body.get("transfers_links").is_none());
    let r = alice.get("os-volume-transfer?offset=1&limit=1").await;
    assert_eq!(ids(&r.body["transfers"]), [made[1].as_str()]);
    let r = alice.get("os-volume-transfer?marker=nope").await;
    assert_eq!(not_found(&r), "Transfer nope could not be found.");
    let r = alice.get("os-volume-transfer?limit=x").await;
    assert_eq!(bad_request(&r), "limit param must be an integer");
}

#[tokio::test]
async fn create_refuses_what_cinder_refuses() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let bob = Client::member(&a, "bob", "bp").await;
    let post = |c: &Client<'_>, body: Value| {
        let path = c.path("os-volume-transfer");
        req(Method::POST, &path).token(&c.token).json(body)
    };

    // Another project's volume does not exist for the caller.
    let bobs = bob.available(json!({"size": 1})).await;
    let r = post(&alice, json!({"transfer": {"volume_id": bobs}}))
        .send(&a.volume_app)
        .await;
    assert_eq!(not_found(&r), format!("Volume {bobs} could not be found."));

    // An attached (in-use) volume.
    let vol = alice.available(json!({"size": 1})).await;
    assert_eq!(
        action(&alice, &vol, json!({"os-reserve": null}))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let r = action(
        &alice,
        &vol,
        json!({"os-attach": {"instance_uuid": SERVER, "mountpoint": "/dev/vdb"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(alice.volume(&vol).await["status"], "in-use");
    let r = post(&alice, json!({"transfer": {"volume_id": vol}}))
        .send(&a.volume_app)
        .await;
    assert_eq!(bad_request(&r), "Invalid volume: status must be available");

    // A volume whose snapshot is still being made.
    let other = alice.available(json!({"size": 1})).await;
    let r = alice
        .post("snapshots", json!({"snapshot": {"volume_id": other}}))
        .await;
    let snap = r.body["snapshot"]["id"].as_str().unwrap().to_owned();
    let r = post(&alice, json!({"transfer": {"volume_id": other}}))
        .send(&a.volume_app)
        .await;
    assert_eq!(
        bad_request(&r),
        format!("Invalid snapshot: snapshot: {snap} status must be available")
    );
    assert_eq!(alice.volume(&other).await["status"], "available");

    // A volume already offered.
    a.run_jobs().await;
    offer(&alice, &other, Value::Null).await;
    let r = post(&alice, json!({"transfer": {"volume_id": other}}))
        .send(&a.volume_app)
        .await;
    assert_eq!(bad_request(&r), "Invalid volume: status must be available");

    // Bodies outside the schema.
    for (body, message) in [
        (
            json!({"transfer": {"volume_id": "x"}}),
            "Invalid input for field/attribute volume_id. Value: x. 'x' is not a 'uuid'",
        ),
        (
            json!({"transfer": {}}),
            "Invalid input for field/attribute transfer. Value: {}. 'volume_id' is a required \
             property",
        ),
        (
            json!({"volume_id": vol}),
            "'transfer' is a required property",
        ),
    ] {
        let r = post(&alice, body).send(&a.volume_app).await;
        assert_eq!(bad_request(&r), message);
    }
    assert_counters_right(&a).await;
}

// ---- accept ------------------------------------------------------------------------------------

#[tokio::test]
async fn accept_moves_the_volume_and_its_snapshot_and_both_projects_usage() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    let bob = Client::member(&a, "bob", "bp").await;
    let vol = alice.available(json!({"size": 2})).await;
    let snap = snapshot(&alice, &vol).await;
    let (id, key) = offer(&alice, &vol, json!("gift")).await;
    let (ap, bp) = (alice.project.clone(), bob.project.clone());
    assert_eq!(usage(&admin, &ap, "volumes").await.0, 1);
    assert_eq!(usage(&admin, &ap, "gigabytes").await.0, 4);
    assert_eq!(usage(&admin, &bp, "volumes").await.0, 0);

    let r = accept(&bob, &id, json!(key)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let t = &r.body["transfer"];
    assert_eq!(keys(t), ["id", "links", "name", "volume_id"]);
    assert_eq!(
        (t["id"].as_str(), t["name"].as_str()),
        (Some(id.as_str()), Some("gift"))
    );
    assert_eq!(t["volume_id"], vol);

    // The volume and its snapshot are bob's now, and available.
    let v = bob.volume(&vol).await;
    assert_eq!(v["status"], "available");
    assert_eq!(
        v["user_id"],
        a.identity
            .find_user_by_name("default", "bob")
            .await
            .unwrap()
            .unwrap()
            .id
    );
    let r = bob.get(&format!("snapshots/{snap}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body["snapshot"]["os-extended-snapshot-attributes:project_id"],
        bp
    );
    assert_eq!(
        not_found(&alice.get(&format!("volumes/{vol}")).await),
        format!("Volume {vol} could not be found.")
    );
    // Usage moved with them, per type too.
    for (resource, donor, acceptor) in [
        ("volumes", 0, 1),
        ("snapshots", 0, 1),
        ("gigabytes", 0, 4),
        ("volumes___DEFAULT__", 0, 1),
        ("gigabytes___DEFAULT__", 0, 4),
    ] {
        assert_eq!(usage(&admin, &ap, resource).await.0, donor, "{resource}");
        assert_eq!(usage(&admin, &bp, resource).await.0, acceptor, "{resource}");
    }
    // The transfer is gone: a second accept and the donor's show are 404.
    let r = accept(&bob, &id, json!(key)).await;
    assert_eq!(not_found(&r), format!("Transfer {id} could not be found."));
    assert_eq!(
        alice.get(&format!("os-volume-transfer/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    // The new owner may delete it, snapshot first.
    let r = bob.delete(&format!("snapshots/{snap}")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    a.run_jobs().await;
    assert_eq!(
        bob.delete(&format!("volumes/{vol}")).await.status,
        StatusCode::ACCEPTED
    );
    a.run_jobs().await;
    assert_eq!(usage(&admin, &bp, "gigabytes").await.0, 0);
    assert_counters_right(&a).await;
}

#[tokio::test]
async fn a_wrong_key_is_400_and_changes_nothing() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let bob = Client::member(&a, "bob", "bp").await;
    let vol = alice.available(json!({"size": 1})).await;
    let (id, key) = offer(&alice, &vol, Value::Null).await;
    let wrong = format!("Invalid auth key: Attempt to transfer {id} with invalid auth key.");
    for k in [
        json!("0000000000000000"),
        json!(1234),
        json!(format!("{key}0")),
    ] {
        assert_eq!(bad_request(&accept(&bob, &id, k).await), wrong);
    }
    assert_eq!(alice.volume(&vol).await["status"], "awaiting-transfer");
    let r = accept(&bob, &id, json!(true)).await;
    assert_eq!(
        bad_request(&r),
        "Invalid input for field/attribute auth_key. Value: True. True is not of type \
         'string', 'integer'"
    );
    let r = accept(&bob, "no-such-transfer", json!(key)).await;
    assert_eq!(
        not_found(&r),
        "Transfer no-such-transfer could not be found."
    );
    // The donor may accept its own offer (Cinder allows it): nothing moves but the status.
    let r = accept(&alice, &id, json!(key)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(alice.volume(&vol).await["status"], "available");
    assert_counters_right(&a).await;
}

#[tokio::test]
async fn accepting_into_a_project_over_quota_is_413_and_changes_nothing() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    let bob = Client::member(&a, "bob", "bp").await;
    let vol = alice.available(json!({"size": 2})).await;
    snapshot(&alice, &vol).await;
    let (id, key) = offer(&alice, &vol, Value::Null).await;
    let bp = bob.project.clone();
    for (set, message) in [
        (
            json!({"volumes": 0}),
            "VolumeLimitExceeded: Maximum number of volumes allowed (0) exceeded for quota \
             'volumes'.",
        ),
        // Caught by Cinder's controller: no class name.
        (
            json!({"volumes": 10, "gigabytes": 1}),
            "Requested volume or snapshot exceeds allowed gigabytes quota. Requested 2G, quota \
             is 1G and 0G has been consumed.",
        ),
        // The volume fits; its snapshot, counted after it, does not.
        (
            json!({"gigabytes": 3}),
            "Requested volume or snapshot exceeds allowed gigabytes quota. Requested 2G, quota \
             is 3G and 2G has been consumed.",
        ),
        (
            json!({"gigabytes": 100, "snapshots": 0}),
            "SnapshotLimitExceeded: Maximum number of snapshots allowed (0) exceeded for quota \
             'snapshots'.",
        ),
        (
            json!({"snapshots": 10, "per_volume_gigabytes": 1}),
            "VolumeSizeExceedsLimit: Requested volume size 2G is larger than maximum allowed \
             limit 1G.",
        ),
    ] {
        set_quota(&admin, &bp, set).await;
        assert_eq!(over_limit(&accept(&bob, &id, json!(key)).await), message);
        assert_eq!(alice.volume(&vol).await["status"], "awaiting-transfer");
        assert_eq!(usage(&admin, &bp, "gigabytes").await.0, 0);
        assert_eq!(usage(&admin, &bp, "volumes").await.0, 0);
        assert_eq!(usage(&admin, &alice.project, "gigabytes").await.0, 4);
        assert_counters_right(&a).await;
    }
    // Room made, the same key works.
    set_quota(&admin, &bp, json!({"per_volume_gigabytes": -1})).await;
    assert_eq!(
        accept(&bob, &id, json!(key)).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(usage(&admin, &bp, "gigabytes").await.0, 4);
    assert_counters_right(&a).await;
}

// ---- delete and the awaiting volume ------------------------------------------------------------

#[tokio::test]
async fn delete_cancels_the_offer_and_the_volume_is_available_again() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let bob = Client::member(&a, "bob", "bp").await;
    let vol = alice.available(json!({"size": 1})).await;
    let (id, key) = offer(&alice, &vol, Value::Null).await;
    let r = bob.delete(&format!("os-volume-transfer/{id}")).await;
    assert_eq!(not_found(&r), format!("Transfer {id} could not be found."));
    let r = alice.delete(&format!("os-volume-transfer/{id}")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(r.raw.is_empty());
    assert_eq!(alice.volume(&vol).await["status"], "available");
    assert_eq!(
        alice
            .delete(&format!("os-volume-transfer/{id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let r = accept(&bob, &id, json!(key)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_counters_right(&a).await;
}

#[tokio::test]
async fn an_awaiting_volume_cannot_be_deleted_attached_extended_or_snapshotted() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 1})).await;
    offer(&alice, &vol, Value::Null).await;
    assert!(bad_request(&alice.delete(&format!("volumes/{vol}")).await)
        .starts_with("Invalid volume: Volume status must be available or error"));
    assert_eq!(
        bad_request(&action(&alice, &vol, json!({"os-reserve": null})).await),
        "Invalid volume: Volume status must be available to reserve, but the status is \
         awaiting-transfer."
    );
    let r = action(
        &alice,
        &vol,
        json!({"os-attach": {"instance_uuid": SERVER, "mountpoint": "/dev/vdb"}}),
    )
    .await;
    assert_eq!(
        bad_request(&r),
        format!(
            "Invalid volume: Volume {vol} cannot be attached while its status is \
             awaiting-transfer."
        )
    );
    assert_eq!(
        bad_request(&action(&alice, &vol, json!({"os-extend": {"new_size": 2}})).await),
        format!(
            "Invalid volume: Volume {vol} status must be available to extend, but current \
             status is: awaiting-transfer."
        )
    );
    let r = alice
        .post(
            "snapshots",
            json!({"snapshot": {"volume_id": vol, "force": true}}),
        )
        .await;
    assert_eq!(
        bad_request(&r),
        format!(
            "Invalid volume: Volume {vol} status must be available or in-use, but current \
             status is: awaiting-transfer."
        )
    );
    let r = alice
        .post("volumes", json!({"volume": {"source_volid": vol}}))
        .await;
    assert!(bad_request(&r).contains("its status must be available or in-use"));
    assert_eq!(alice.volume(&vol).await["status"], "awaiting-transfer");
    assert_counters_right(&a).await;
}

#[tokio::test]
async fn the_extension_list_names_volume_transfers() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let r = alice.get("extensions/os-volume-transfer").await;
    assert_eq!(
        r.body,
        json!({"extension": {"alias": "os-volume-transfer", "name": "VolumeTransfer",
                             "description": "Volume transfer management support.",
                             "updated": "2013-05-29T00:00:00+00:00", "links": []}})
    );
}

#[tokio::test]
async fn transfer_routes_refuse_other_methods() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    for (method, path) in [
        (Method::PUT, "os-volume-transfer/x"),
        (Method::DELETE, "os-volume-transfer"),
        (Method::GET, "os-volume-transfer/x/accept"),
    ] {
        let r = alice.send(method, path, None).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
}
