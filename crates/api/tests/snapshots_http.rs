//! Snapshots over HTTP, in process: create, show, list and page, update and delete, metadata,
//! actions, quota, and the volume operations snapshots take part in (cascade delete, volumes
//! created from snapshots and clones), with Cinder's statuses, JSON types and messages.

mod common;
mod volume_client;

use axum::http::{Method, StatusCode};
use basalt_storage::FileBackend;
use common::*;
use serde_json::{json, Value};
use volume_client::*;

/// The fields of every snapshot view (v2 snapshots have no `links`).
const SNAPSHOT_KEYS: [&str; 9] = [
    "created_at",
    "description",
    "id",
    "metadata",
    "name",
    "size",
    "status",
    "updated_at",
    "volume_id",
];

const PROJECT_ATTR: &str = "os-extended-snapshot-attributes:project_id";
const PROGRESS_ATTR: &str = "os-extended-snapshot-attributes:progress";

fn snapshot_keys(extended: bool) -> Vec<&'static str> {
    let mut k: Vec<&str> = SNAPSHOT_KEYS.to_vec();
    if extended {
        k.extend([PROJECT_ATTR, PROGRESS_ATTR]);
    }
    k.sort_unstable();
    k
}

/// Creates a snapshot of `volume_id` (`extra`: more fields of the request) and returns its id.
async fn snap(c: &Client<'_>, volume_id: &str, extra: Value) -> String {
    let mut body = json!({ "volume_id": volume_id });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = c.post("snapshots", json!({ "snapshot": body })).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    r.body["snapshot"]["id"].as_str().unwrap().to_owned()
}

/// Creates a snapshot and runs the jobs, so that it is `available`.
async fn available_snap(c: &Client<'_>, volume_id: &str, extra: Value) -> String {
    let id = snap(c, volume_id, extra).await;
    c.app.run_jobs().await;
    assert_eq!(snapshot(c, &id).await["status"], "available");
    id
}

async fn snapshot(c: &Client<'_>, id: &str) -> Value {
    let r = c.get(&format!("snapshots/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["snapshot"].clone()
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect()
}

async fn action(c: &Client<'_>, id: &str, body: Value) -> Resp {
    c.post(&format!("snapshots/{id}/action"), body).await
}

// ---- create and show -----------------------------------------------------------------------

#[tokio::test]
async fn create_answers_202_with_the_snapshot_in_cinders_json_types() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 2})).await;
    let r = alice
        .post(
            "snapshots",
            json!({"snapshot": {"volume_id": vol, "name": " s1 ", "description": "d",
                                "force": "False", "metadata": {"k": "v"}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let s = &r.body["snapshot"];
    assert_eq!(
        keys(s),
        snapshot_keys(false),
        "no extension attributes on create"
    );
    assert_eq!(s["status"], "creating");
    assert_eq!(s["size"], json!(2));
    assert_eq!(s["name"], "s1");
    assert_eq!(s["description"], "d");
    assert_eq!(s["volume_id"], json!(vol));
    assert_eq!(s["metadata"], json!({"k": "v"}));
    assert_eq!(s["updated_at"], Value::Null);
    assert!(is_cinder_time(&s["created_at"]), "{}", s["created_at"]);
    let id = s["id"].as_str().unwrap();
    assert_eq!(id.len(), 36);

    let shown = snapshot(&alice, id).await;
    assert_eq!(keys(&shown), snapshot_keys(true));
    assert_eq!(shown["status"], "creating");
    assert_eq!(shown[PROJECT_ATTR], json!(alice.project));
    assert_eq!(shown[PROGRESS_ATTR], "0%");

    assert_eq!(a.run_jobs().await, 1);
    let shown = snapshot(&alice, id).await;
    assert_eq!(shown["status"], "available");
    assert_eq!(shown[PROGRESS_ATTR], "100%");
    assert!(
        is_cinder_time(&shown["updated_at"]),
        "{}",
        shown["updated_at"]
    );
}

#[tokio::test]
async fn display_name_is_an_alias_and_names_are_optional() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 1})).await;
    let id = snap(&alice, &vol, json!({"display_name": "dn"})).await;
    assert_eq!(snapshot(&alice, &id).await["name"], "dn");
    let id = snap(&alice, &vol, json!({"display_name": "dn", "name": "n"})).await;
    assert_eq!(snapshot(&alice, &id).await["name"], "n");
    let id = snap(&alice, &vol, json!({})).await;
    let s = snapshot(&alice, &id).await;
    assert_eq!(s["name"], Value::Null);
    assert_eq!(s["description"], Value::Null);
    assert_eq!(s["metadata"], json!({}));
}

#[tokio::test]
async fn v3_serves_the_same_snapshots() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let vol = admin.available(json!({"size": 1})).await;
    let id = snap(&admin, &vol, json!({})).await;
    let v3 = Client::admin(&a).await.v3();
    let r = v3.get(&format!("snapshots/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.header("openstack-api-version"), Some("volume 3.0"));
    assert_eq!(keys(&r.body["snapshot"]), snapshot_keys(true));
    assert_eq!(ids(&v3.get("snapshots").await.body["snapshots"]), [id]);
}

// ---- create validation ---------------------------------------------------------------------

#[tokio::test]
async fn create_bodies_follow_cinders_schema() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 1})).await;
    let r = alice
        .post("snapshots", json!({"volume": {"volume_id": vol}}))
        .await;
    assert_eq!(bad_request(&r), "'snapshot' is a required property");
    let r = alice
        .post("snapshots", json!({"snapshot": {"name": "x"}}))
        .await;
    assert_eq!(
        bad_request(&r),
        "Invalid input for field/attribute snapshot. Value: {'name': 'x'}. 'volume_id' is a \
         required property"
    );
    let r = alice
        .post(
            "snapshots",
            json!({"snapshot": {"volume_id": vol, "display_description": "d"}}),
        )
        .await;
    assert!(
        bad_request(&r).ends_with(
            "Additional properties are not allowed ('display_description' was unexpected)"
        ),
        "{}",
        r.body
    );
    for (force, shown) in [
        (json!("maybe"), "maybe"),
        (json!(2), "2"),
        (json!(null), "None"),
    ] {
        let r = alice
            .post(
                "snapshots",
                json!({"snapshot": {"volume_id": vol, "force": force}}),
            )
            .await;
        assert_eq!(
            bad_request(&r),
            format!("Invalid value '{shown}' for force.")
        );
    }
    for snapshot in [
        json!({"volume_id": "not-a-uuid"}),
        json!({"volume_id": vol, "name": 5}),
        json!({"volume_id": vol, "name": "n".repeat(256)}),
        json!({"volume_id": vol, "metadata": {"k": 1}}),
        json!({"volume_id": vol, "metadata": {"k*": "v"}}),
    ] {
        let r = alice
            .post("snapshots", json!({ "snapshot": snapshot.clone() }))
            .await;
        assert!(
            bad_request(&r).starts_with("Invalid input for field/attribute"),
            "{snapshot}: {}",
            r.body
        );
    }
    let r = alice
        .post("snapshots", json!({"snapshot": {"volume_id": vol}, "x": 1}))
        .await;
    assert_eq!(
        bad_request(&r),
        "Additional properties are not allowed ('x' was unexpected)"
    );
    assert_eq!(alice.get("snapshots").await.body["snapshots"], json!([]));
}

#[tokio::test]
async fn only_available_volumes_are_snapshotted() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;

    let creating = alice.create(json!({"size": 1})).await;
    let r = alice
        .post("snapshots", json!({"snapshot": {"volume_id": creating}}))
        .await;
    assert_eq!(
        bad_request(&r),
        format!(
            "Invalid volume: Volume {creating} status must be available, but current status \
             is: creating."
        )
    );
    let r = alice
        .post(
            "snapshots",
            json!({"snapshot": {"volume_id": creating, "force": true}}),
        )
        .await;
    assert!(
        bad_request(&r).starts_with("Invalid volume: "),
        "{}",
        r.body
    );

    // A volume file of the wrong size on the backend makes the create job fail for good.
    let broken = alice.create(json!({"size": 1})).await;
    let backend = FileBackend::new(a.volume_dir.clone(), 20.0, 0).unwrap();
    std::fs::write(backend.volume_path(&broken).unwrap(), b"x").unwrap();
    a.run_jobs().await;
    assert_eq!(alice.volume(&broken).await["status"], "error");
    let r = alice
        .post("snapshots", json!({"snapshot": {"volume_id": broken}}))
        .await;
    assert_eq!(
        bad_request(&r),
        "Invalid volume: The snapshot cannot be created when the volume is in error status."
    );
    assert_eq!(alice.get("snapshots").await.body["snapshots"], json!([]));
}

#[tokio::test]
async fn another_projects_volume_cannot_be_snapshotted_by_a_member() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let bob = Client::member(&a, "bob", "bp").await;
    let vol = alice.available(json!({"size": 1})).await;
    let r = bob
        .post("snapshots", json!({"snapshot": {"volume_id": vol}}))
        .await;
    assert_eq!(not_found(&r), format!("Volume {vol} could not be found."));
    let unknown = "0b8c2f0e-3c1e-4b7e-9d62-3f4e1a2b5c6d";
    let r = bob
        .post("snapshots", json!({"snapshot": {"volume_id": unknown}}))
        .await;
    assert_eq!(
        not_found(&r),
        format!("Volume {unknown} could not be found.")
    );
}

#[tokio::test]
async fn another_projects_snapshot_does_not_exist_for_a_member() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let bob = Client::member(&a, "bob", "bp").await;
    let vol = alice.available(json!({"size": 1})).await;
    let id = available_snap(&alice, &vol, json!({"metadata": {"k": "v"}})).await;
    let gone = format!("Snapshot {id} could not be found.");
    let s = format!("snapshots/{id}");
    assert_eq!(not_found(&bob.get(&s).await), gone);
    assert_eq!(
        not_found(&bob.put(&s, json!({"snapshot": {"name": "x"}})).await),
        gone
    );
    assert_eq!(not_found(&bob.delete(&s).await), gone);
    assert_eq!(not_found(&bob.get(&format!("{s}/metadata")).await), gone);
    assert_eq!(
        not_found(
            &bob.post(&format!("{s}/metadata"), json!({"metadata": {"a": "b"}}))
                .await
        ),
        gone
    );
    assert_eq!(not_found(&bob.get(&format!("{s}/metadata/k")).await), gone);
    assert_eq!(
        not_found(&bob.delete(&format!("{s}/metadata/k")).await),
        gone
    );
    let report = json!({"os-update_snapshot_status": {"status": "available"}});
    assert_eq!(not_found(&action(&bob, &id, report).await), gone);
    assert_eq!(bob.get("snapshots").await.body["snapshots"], json!([]));
    assert_eq!(
        bob.get("snapshots/detail").await.body["snapshots"],
        json!([])
    );
    assert_eq!(
        bob.get("snapshots?all_tenants=1").await.body["snapshots"],
        json!([])
    );
    let mine = snapshot(&alice, &id).await;
    assert_eq!(mine["metadata"], json!({"k": "v"}));

    let admin = Client::admin(&a).await;
    assert_eq!(admin.get("snapshots").await.body["snapshots"], json!([]));
    let all = admin.get("snapshots/detail?all_tenants=1").await;
    assert_eq!(ids(&all.body["snapshots"]), [id.as_str()]);
    assert_eq!(all.body["snapshots"][0][PROJECT_ATTR], json!(alice.project));
    assert_eq!(snapshot(&admin, &id).await["id"], json!(id));
}

// ---- lists -----------------------------------------------------------------------------------

#[tokio::test]
async fn lists_show_every_field_and_detail_adds_the_extension_attributes() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 3})).await;
    let id = available_snap(&alice, &vol, json!({"name": "s"})).await;

    let r = alice.get("snapshots").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        keys(&r.body),
        ["snapshots"],
        "no links when the page is not full"
    );
    let listed = &r.body["snapshots"][0];
    assert_eq!(keys(listed), snapshot_keys(false));
    assert_eq!(listed["id"], json!(id));
    assert_eq!(listed["size"], json!(3));
    assert_eq!(listed["status"], "available");

    let r = alice.get("snapshots/detail").await;
    let detailed = &r.body["snapshots"][0];
    assert_eq!(keys(detailed), snapshot_keys(true));
    assert_eq!(detailed[PROJECT_ATTR], json!(alice.project));
    assert_eq!(detailed[PROGRESS_ATTR], "100%");
    assert_eq!(detailed, &snapshot(&alice, &id).await);
}

#[tokio::test]
async fn lists_page_with_limit_and_marker_and_link_the_next_page() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 1})).await;
    let mut made = vec![];
    for name in ["a", "b", "c"] {
        made.push(snap(&alice, &vol, json!({ "name": name })).await);
    }
    for path in ["snapshots", "snapshots/detail"] {
        let r = alice
            .get(&format!(
                "{path}?limit=2&sort_key=display_name&sort_dir=asc"
            ))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(ids(&r.body["snapshots"]), [&made[0], &made[1]]);
        let p = &alice.project;
        let next = format!(
            "{VOLUME}/v2/{p}/{path}?limit=2&sort_key=display_name&sort_dir=asc&marker={}",
            made[1]
        );
        assert_eq!(
            r.body["snapshots_links"],
            json!([{"rel": "next", "href": next}])
        );
        let rest = next.trim_start_matches(&format!("{VOLUME}/v2/{p}/"));
        let r = alice.get(rest).await;
        assert_eq!(ids(&r.body["snapshots"]), [&made[2]]);
        assert!(r.body.get("snapshots_links").is_none(), "{}", r.body);
    }
    let r = alice
        .get("snapshots?limit=1&offset=1&sort=display_name:desc")
        .await;
    assert_eq!(ids(&r.body["snapshots"]), [&made[1]]);

    let r = alice.get("snapshots?limit=x").await;
    // The shared pagination parser's wording (volumes answer the same).
    assert!(bad_request(&r).ends_with("limit param must be an integer"));
    let r = alice.get("snapshots?limit=-1").await;
    assert!(bad_request(&r).ends_with("limit param must be positive"));
    let unknown = "0b8c2f0e-3c1e-4b7e-9d62-3f4e1a2b5c6d";
    let r = alice.get(&format!("snapshots?marker={unknown}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}

#[tokio::test]
async fn members_filter_on_status_volume_and_name_and_other_filters_are_ignored() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let v1 = alice.available(json!({"size": 1})).await;
    let v2 = alice.available(json!({"size": 1})).await;
    let s1 = available_snap(&alice, &v1, json!({"name": "one"})).await;
    let s2 = snap(&alice, &v2, json!({"name": "two"})).await; // still creating

    let r = alice.get("snapshots?status=creating").await;
    assert_eq!(ids(&r.body["snapshots"]), [&s2]);
    let r = alice.get(&format!("snapshots/detail?volume_id={v1}")).await;
    assert_eq!(ids(&r.body["snapshots"]), [&s1]);
    let r = alice.get("snapshots?name=two").await;
    assert_eq!(ids(&r.body["snapshots"]), [&s2]);
    let r = alice.get("snapshots?name=tw").await;
    assert_eq!(r.body["snapshots"], json!([]), "names match exactly");
    let r = alice
        .get("snapshots?project_id=someone-else&progress=1%25&sort_key=created_at&sort_dir=asc")
        .await;
    assert_eq!(
        ids(&r.body["snapshots"]),
        [&s1, &s2],
        "filters outside the allowlist are dropped"
    );

    let admin = Client::admin(&a).await;
    let r = admin
        .get(&format!(
            "snapshots?all_tenants=1&project_id={}",
            alice.project
        ))
        .await;
    assert_eq!(r.body["snapshots"].as_array().unwrap().len(), 2);
    let r = admin.get("snapshots?all_tenants=1&bogus=1").await;
    assert_eq!(
        r.body["snapshots"],
        json!([]),
        "an admin's unknown column matches nothing"
    );
}

#[tokio::test]
async fn v2_sorts_snapshots_by_column_names_only() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 1})).await;
    let b = snap(&alice, &vol, json!({"name": "b"})).await;
    let a1 = snap(&alice, &vol, json!({"name": "a"})).await;
    let r = alice.get("snapshots?sort=name").await;
    assert_eq!(bad_request(&r), "Invalid input received: Invalid sort key");
    let r = alice.get("snapshots?sort_key=name").await;
    assert_eq!(bad_request(&r), "Invalid input received: Invalid sort key");
    let r = alice
        .get("snapshots?sort_key=display_name&sort_dir=asc")
        .await;
    assert_eq!(ids(&r.body["snapshots"]), [&a1, &b]);
    let r = alice.get("snapshots?sort=display_name:desc").await;
    assert_eq!(ids(&r.body["snapshots"]), [&b, &a1]);
    let r = alice.get("snapshots?sort=display_name&sort_key=id").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = alice.get("snapshots?sort=display_name:up").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}

// ---- update and delete -----------------------------------------------------------------------

#[tokio::test]
async fn update_changes_names_and_descriptions_in_either_spelling() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 1})).await;
    let id = available_snap(&alice, &vol, json!({"name": "old"})).await;
    let path = format!("snapshots/{id}");

    let r = alice
        .put(
            &path,
            json!({"snapshot": {"name": "new", "description": "d"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let s = &r.body["snapshot"];
    assert_eq!(keys(s), snapshot_keys(false));
    assert_eq!(s["name"], "new");
    assert_eq!(s["description"], "d");
    assert_eq!(s["status"], "available");

    let r = alice
        .put(
            &path,
            json!({"snapshot": {"display_name": "dn", "display_description": "dd"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["snapshot"]["name"], "dn");
    assert_eq!(r.body["snapshot"]["description"], "dd");
    let r = alice
        .put(&path, json!({"snapshot": {"description": null}}))
        .await;
    assert_eq!(r.body["snapshot"]["description"], Value::Null);
    assert_eq!(r.body["snapshot"]["name"], "dn");
    assert_eq!(snapshot(&alice, &id).await["name"], "dn");

    let r = alice.put(&path, json!({"snapshot": {}})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid input for field/attribute snapshot. Value: {}. {} is not valid under any of \
         the given schemas"
    );
    let r = alice
        .put(&path, json!({"snapshot": {"name": "x", "metadata": {}}}))
        .await;
    assert!(
        bad_request(&r)
            .ends_with("Additional properties are not allowed ('metadata' was unexpected)"),
        "{}",
        r.body
    );
    let r = alice.put(&path, json!({"name": "x"})).await;
    assert_eq!(bad_request(&r), "'snapshot' is a required property");
}

#[tokio::test]
async fn delete_is_accepted_again_while_deleting_and_then_the_snapshot_is_gone() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 1})).await;
    let id = available_snap(&alice, &vol, json!({})).await;
    let path = format!("snapshots/{id}");

    let r = alice.delete(&path).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert!(r.raw.is_empty());
    assert_eq!(snapshot(&alice, &id).await["status"], "deleting");
    let r = alice.delete(&path).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);

    a.run_jobs().await;
    let gone = format!("Snapshot {id} could not be found.");
    assert_eq!(not_found(&alice.get(&path).await), gone);
    assert_eq!(not_found(&alice.delete(&path).await), gone);
    assert_eq!(alice.get("snapshots").await.body["snapshots"], json!([]));
    // The volume has no snapshot left and may go.
    let r = alice.delete(&format!("volumes/{vol}")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
}

#[tokio::test]
async fn a_creating_snapshot_cannot_be_deleted() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 1})).await;
    let id = snap(&alice, &vol, json!({})).await;
    let r = alice.delete(&format!("snapshots/{id}")).await;
    assert_eq!(
        bad_request(&r),
        "Invalid snapshot: Snapshot status must be available or error and must not be part of \
         a group."
    );
    assert_eq!(snapshot(&alice, &id).await["status"], "creating");
}

// ---- metadata ----------------------------------------------------------------------------------

#[tokio::test]
async fn metadata_is_listed_merged_replaced_and_deleted_like_cinder() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 1})).await;
    let id = available_snap(&alice, &vol, json!({"metadata": {"a": "1"}})).await;
    let md = format!("snapshots/{id}/metadata");

    let r = alice.get(&md).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"metadata": {"a": "1"}}));

    let r = alice
        .post(&md, json!({"metadata": {"b": "2", "a": "one"}}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!({"metadata": {"a": "one", "b": "2"}}));

    let r = alice.put(&md, json!({"metadata": {"c": "3"}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!({"metadata": {"c": "3"}}));

    let r = alice.get(&format!("{md}/c")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"meta": {"c": "3"}}));

    let r = alice
        .put(&format!("{md}/d"), json!({"meta": {"d": "4"}}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!({"meta": {"d": "4"}}));
    assert_eq!(
        snapshot(&alice, &id).await["metadata"],
        json!({"c": "3", "d": "4"})
    );

    let r = alice.delete(&format!("{md}/c")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.raw.is_empty());
    assert_eq!(alice.get(&md).await.body, json!({"metadata": {"d": "4"}}));

    let missing = format!("Snapshot {id} has no metadata with key c.");
    assert_eq!(not_found(&alice.get(&format!("{md}/c")).await), missing);
    assert_eq!(not_found(&alice.delete(&format!("{md}/c")).await), missing);
}

#[tokio::test]
async fn metadata_bodies_are_checked_like_volume_metadata() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 1})).await;
    let id = available_snap(&alice, &vol, json!({})).await;
    let md = format!("snapshots/{id}/metadata");

    let r = alice
        .put(&format!("{md}/k"), json!({"meta": {"j": "v"}}))
        .await;
    assert_eq!(bad_request(&r), "Request body and URI mismatch");
    let r = alice
        .put(&format!("{md}/k"), json!({"meta": {"k": "v", "j": "w"}}))
        .await;
    assert_eq!(bad_request(&r), "Request body contains too many items");
    let r = alice.post(&md, json!({"meta": {"k": "v"}})).await;
    assert_eq!(bad_request(&r), "'metadata' is a required property");
    let r = alice.post(&md, json!({"metadata": {"k*": "v"}})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid input for field/attribute metadata. Value: {'k*': 'v'}. Additional \
         properties are not allowed ('k*' was unexpected)"
    );
    let r = alice.put(&md, json!({"metadata": {"k": 1}})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid input for field/attribute k. Value: 1. 1 is not of type 'string'"
    );
    let r = alice
        .post(&md, json!({"metadata": {"k": "v".repeat(256)}}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(alice.get(&md).await.body, json!({"metadata": {}}));
}

// ---- actions -----------------------------------------------------------------------------------

#[tokio::test]
async fn admins_reset_a_snapshots_status_and_members_may_not() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 1})).await;
    let id = available_snap(&alice, &vol, json!({})).await;

    let r = action(&admin, &id, json!({"os-reset_status": {"status": "ERROR"}})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert!(r.raw.is_empty());
    assert_eq!(snapshot(&alice, &id).await["status"], "error");

    let r = action(
        &alice,
        &id,
        json!({"os-reset_status": {"status": "available"}}),
    )
    .await;
    assert_eq!(
        forbidden(&r),
        "Policy doesn't allow volume_extension:snapshot_admin_actions:reset_status to be \
         performed."
    );
    assert_eq!(snapshot(&alice, &id).await["status"], "error");

    let r = action(&admin, &id, json!({"os-reset_status": {"status": "bogus"}})).await;
    assert_eq!(
        bad_request(&r),
        "Snapshot status: bogus is invalid, valid statuses are: ('error', 'available', \
         'creating', 'deleting', 'deleted', 'updating', 'error_deleting', 'unmanaging', \
         'backing-up', 'restoring')."
    );
    let r = action(&admin, &id, json!({"os-reset_status": {}})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid input for field/attribute os-reset_status. Value: {}. 'status' is a required \
         property"
    );
    let unknown = "0b8c2f0e-3c1e-4b7e-9d62-3f4e1a2b5c6d";
    let r = action(
        &admin,
        unknown,
        json!({"os-reset_status": {"status": "error"}}),
    )
    .await;
    assert_eq!(
        not_found(&r),
        format!("Snapshot {unknown} could not be found.")
    );

    // An errored snapshot may be deleted by its owner.
    let r = alice.delete(&format!("snapshots/{id}")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
}

#[tokio::test]
async fn admins_force_delete_a_snapshot_in_any_status() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 1})).await;
    let id = available_snap(&alice, &vol, json!({})).await;
    // Stuck in a status a plain delete refuses.
    let r = action(
        &admin,
        &id,
        json!({"os-reset_status": {"status": "updating"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);

    let r = action(&alice, &id, json!({"os-force_delete": {}})).await;
    assert_eq!(
        forbidden(&r),
        "Policy doesn't allow volume_extension:snapshot_admin_actions:force_delete to be \
         performed."
    );
    let r = alice.delete(&format!("snapshots/{id}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

    let r = action(&admin, &id, json!({"os-force_delete": null})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(snapshot(&alice, &id).await["status"], "deleting");
    a.run_jobs().await;
    assert_eq!(
        not_found(&alice.get(&format!("snapshots/{id}")).await),
        format!("Snapshot {id} could not be found.")
    );
}

#[tokio::test]
async fn owners_report_progress_only_along_cinders_transitions() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 1})).await;
    let id = snap(&alice, &vol, json!({})).await;

    let report = json!({"os-update_snapshot_status": {"status": "creating", "progress": "50%"}});
    let r = action(&alice, &id, report).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(snapshot(&alice, &id).await[PROGRESS_ATTR], "50%");

    let report = json!({"os-update_snapshot_status": {"status": "available", "progress": "x"}});
    let r = action(&alice, &id, report).await;
    assert_eq!(
        bad_request(&r),
        "Invalid input received: progress must be an integer percentage"
    );
    let report = json!({"os-update_snapshot_status": {"progress": "10%"}});
    let r = action(&alice, &id, report).await;
    assert_eq!(
        bad_request(&r),
        "Invalid input for field/attribute os-update_snapshot_status. Value: {'progress': \
         '10%'}. 'status' is a required property"
    );

    let report = json!({"os-update_snapshot_status": {"status": "available"}});
    let r = action(&alice, &id, report).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(snapshot(&alice, &id).await["status"], "available");

    let report = json!({"os-update_snapshot_status": {"status": "error"}});
    let r = action(&alice, &id, report).await;
    assert_eq!(
        bad_request(&r),
        "Snapshot status available not allowed for update_snapshot_status"
    );
    assert_eq!(snapshot(&alice, &id).await["status"], "available");
}

#[tokio::test]
async fn snapshot_action_bodies_name_exactly_one_known_action() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let vol = admin.available(json!({"size": 1})).await;
    let id = available_snap(&admin, &vol, json!({})).await;
    let r = action(
        &admin,
        &id,
        json!({"os-force_delete": {}, "os-reset_status": {"status": "error"}}),
    )
    .await;
    assert_eq!(bad_request(&r), "Malformed request body");
    let r = action(&admin, &id, json!({})).await;
    assert_eq!(bad_request(&r), "Malformed request body");
    let r = action(&admin, &id, json!({"os-extend": {"new_size": 2}})).await;
    assert_eq!(bad_request(&r), "There is no such action: os-extend");
    let r = action(&admin, &id, json!({"os-retype": null})).await;
    assert_eq!(bad_request(&r), "There is no such action: os-retype");
    assert_eq!(snapshot(&admin, &id).await["status"], "available");
}

// ---- quota -------------------------------------------------------------------------------------

#[tokio::test]
async fn a_snapshot_over_the_snapshots_quota_is_413() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    let r = admin
        .put(
            &format!("os-quota-sets/{}", alice.project),
            json!({"quota_set": {"snapshots": 1}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let vol = alice.available(json!({"size": 1})).await;
    snap(&alice, &vol, json!({})).await;
    let r = alice
        .post("snapshots", json!({"snapshot": {"volume_id": vol}}))
        .await;
    assert_eq!(
        over_limit(&r),
        "SnapshotLimitExceeded: Maximum number of snapshots allowed (1) exceeded for quota \
         'snapshots'."
    );
    let r = alice.get("limits").await;
    assert_eq!(r.body["limits"]["absolute"]["totalSnapshotsUsed"], 1);
}

// ---- volumes and their snapshots ------------------------------------------------------------

#[tokio::test]
async fn a_volume_with_snapshots_is_deleted_only_with_cascade() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 1})).await;
    let s1 = available_snap(&alice, &vol, json!({})).await;
    let s2 = available_snap(&alice, &vol, json!({})).await;
    let path = format!("volumes/{vol}");

    let r = alice.delete(&path).await;
    assert!(
        bad_request(&r).starts_with("Invalid volume: Volume status must be available or error"),
        "{}",
        r.body
    );
    let r = alice.delete(&format!("{path}?cascade=maybe")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = alice.delete(&format!("{path}?cascade=false")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(alice.volume(&vol).await["status"], "available");

    let r = alice.delete(&format!("{path}?cascade=true")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(alice.volume(&vol).await["status"], "deleting");
    assert_eq!(snapshot(&alice, &s1).await["status"], "deleting");

    a.run_jobs().await;
    assert_eq!(
        not_found(&alice.get(&path).await),
        format!("Volume {vol} could not be found.")
    );
    for s in [&s1, &s2] {
        assert_eq!(
            not_found(&alice.get(&format!("snapshots/{s}")).await),
            format!("Snapshot {s} could not be found.")
        );
    }
    assert_eq!(alice.get("snapshots").await.body["snapshots"], json!([]));
}

#[tokio::test]
async fn volumes_are_created_from_available_snapshots() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let bob = Client::member(&a, "bob", "bp").await;
    let vol = alice.available(json!({"size": 2})).await;
    let creating = snap(&alice, &vol, json!({})).await;

    let r = alice
        .post("volumes", json!({"volume": {"snapshot_id": creating}}))
        .await;
    assert_eq!(
        bad_request(&r),
        "Invalid snapshot: Originating snapshot status must be one of 'available' values"
    );
    a.run_jobs().await;
    let sid = creating;

    let r = alice
        .post(
            "volumes",
            json!({"volume": {"snapshot_id": sid, "size": 1}}),
        )
        .await;
    assert!(
        bad_request(&r).starts_with("Invalid input received: Volume size '1'GB cannot be smaller"),
        "{}",
        r.body
    );
    let unknown = "0b8c2f0e-3c1e-4b7e-9d62-3f4e1a2b5c6d";
    let r = alice
        .post("volumes", json!({"volume": {"snapshot_id": unknown}}))
        .await;
    assert_eq!(
        not_found(&r),
        format!("Snapshot {unknown} could not be found.")
    );
    let r = bob
        .post("volumes", json!({"volume": {"snapshot_id": sid}}))
        .await;
    assert_eq!(not_found(&r), format!("Snapshot {sid} could not be found."));

    let r = alice
        .post(
            "volumes",
            json!({"volume": {"snapshot_id": sid, "name": "copy"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let copy = &r.body["volume"];
    assert_eq!(copy["size"], json!(2), "the snapshot's size");
    assert_eq!(copy["snapshot_id"], json!(sid));
    assert_eq!(copy["status"], "creating");
    let copy_id = copy["id"].as_str().unwrap().to_owned();
    a.run_jobs().await;
    assert_eq!(alice.volume(&copy_id).await["status"], "available");

    let r = alice
        .post(
            "volumes",
            json!({"volume": {"snapshot_id": sid, "size": 3}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["volume"]["size"], json!(3));
}

#[tokio::test]
async fn volumes_are_cloned_from_source_volumes() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let vol = alice.available(json!({"size": 2})).await;
    let r = alice
        .post("volumes", json!({"volume": {"source_volid": vol}}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["volume"]["size"], json!(2));
    assert_eq!(r.body["volume"]["source_volid"], json!(vol));
    let clone = r.body["volume"]["id"].as_str().unwrap().to_owned();
    let r = alice
        .post(
            "volumes",
            json!({"volume": {"source_volid": vol, "size": 1}}),
        )
        .await;
    assert!(
        bad_request(&r).starts_with("Invalid input received: Volume size '1'GB cannot be smaller"),
        "{}",
        r.body
    );
    a.run_jobs().await;
    assert_eq!(alice.volume(&clone).await["status"], "available");
}

// ---- extensions --------------------------------------------------------------------------------

#[tokio::test]
async fn the_extension_list_names_the_snapshot_extensions() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let r = alice
        .get("extensions/os-extended-snapshot-attributes")
        .await;
    assert_eq!(
        r.body,
        json!({"extension": {"alias": "os-extended-snapshot-attributes",
                             "name": "ExtendedSnapshotAttributes",
                             "description": "Extended SnapshotAttributes support.",
                             "updated": "2012-06-19T00:00:00+00:00", "links": []}})
    );
    let r = alice.get("extensions/os-snapshot-actions").await;
    assert_eq!(r.body["extension"]["name"], "SnapshotActions");
    let r = alice.get("extensions/os-snapshot-manage").await;
    assert_eq!(r.body["extension"]["name"], "SnapshotManage");
}

// ---- routing -----------------------------------------------------------------------------------

#[tokio::test]
async fn snapshot_routes_refuse_other_methods() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let r = alice.send(Method::DELETE, "snapshots", None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.body["badMethod"]["code"], 405);
}
