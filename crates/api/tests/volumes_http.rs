//! Volumes over HTTP, in process: create, show, list and page, update and delete, with
//! Cinder's exact statuses, JSON types and messages.

mod common;
mod volume_client;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};
use volume_client::*;

// ---- create and show -----------------------------------------------------------------------

#[tokio::test]
async fn create_answers_202_with_the_full_volume_in_cinders_json_types() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let r = alice
        .post(
            "volumes",
            json!({"volume": {"size": 1, "name": "v1", "description": "d",
                              "metadata": {"k": "v"}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let v = &r.body["volume"];
    assert_eq!(keys(v), with(&[]), "no os-vol-* attributes on create");
    assert_eq!(v["status"], "creating");
    assert_eq!(v["size"], json!(1));
    assert_eq!(v["name"], "v1");
    assert_eq!(v["description"], "d");
    assert_eq!(v["bootable"], json!("false"));
    assert_eq!(v["encrypted"], json!(false));
    assert_eq!(v["multiattach"], json!(false));
    assert_eq!(v["volume_type"], "__DEFAULT__");
    assert_eq!(v["availability_zone"], "nova");
    assert_eq!(v["metadata"], json!({"k": "v"}));
    assert_eq!(v["attachments"], json!([]));
    assert_eq!(v["replication_status"], "disabled");
    assert_eq!(v["snapshot_id"], Value::Null);
    assert_eq!(v["source_volid"], Value::Null);
    assert_eq!(v["consistencygroup_id"], Value::Null);
    assert_eq!(v["updated_at"], Value::Null);
    assert!(is_cinder_time(&v["created_at"]), "{}", v["created_at"]);
    assert_eq!(v["user_id"].as_str().unwrap().len(), 32);
    let id = v["id"].as_str().unwrap();
    assert_eq!(id.len(), 36);
    let p = &alice.project;
    assert_eq!(
        v["links"],
        json!([
            {"rel": "self", "href": format!("{VOLUME}/v2/{p}/volumes/{id}")},
            {"rel": "bookmark", "href": format!("{VOLUME}/{p}/volumes/{id}")},
        ])
    );
}

#[tokio::test]
async fn show_adds_the_tenant_attribute_and_admins_see_host_and_migration() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let admin = Client::admin(&a).await;
    let id = alice.available(json!({"size": 1})).await;

    let mine = alice.volume(&id).await;
    assert_eq!(keys(&mine), with(&["os-vol-tenant-attr:tenant_id"]));
    assert_eq!(mine["os-vol-tenant-attr:tenant_id"], json!(alice.project));
    assert!(
        is_cinder_time(&mine["updated_at"]),
        "{}",
        mine["updated_at"]
    );

    let seen = admin.volume(&id).await;
    assert_eq!(
        keys(&seen),
        with(&[
            "migration_status",
            "os-vol-host-attr:host",
            "os-vol-mig-status-attr:migstat",
            "os-vol-mig-status-attr:name_id",
            "os-vol-tenant-attr:tenant_id",
        ])
    );
    assert_eq!(seen["os-vol-host-attr:host"], "testhost@file#file");
    assert_eq!(seen["os-vol-mig-status-attr:migstat"], Value::Null);
    assert_eq!(seen["os-vol-mig-status-attr:name_id"], Value::Null);
    assert_eq!(seen["migration_status"], Value::Null);
    let own_link = format!("{VOLUME}/v2/{}/volumes/{id}", admin.project);
    assert_eq!(
        seen["links"][0]["href"],
        json!(own_link),
        "links name the caller's project"
    );
}

#[tokio::test]
async fn admins_see_migration_status_on_create_but_no_extension_attributes() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let r = admin.post("volumes", json!({"volume": {"size": 1}})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(keys(&r.body["volume"]), with(&["migration_status"]));
}

#[tokio::test]
async fn v3_serves_volumes_with_v3_links() {
    let a = app().await;
    let admin = Client::admin(&a).await.v3();
    let r = admin.post("volumes", json!({"volume": {"size": 1}})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.header("openstack-api-version"), Some("volume 3.0"));
    let id = r.body["volume"]["id"].as_str().unwrap();
    let p = &admin.project;
    assert_eq!(
        r.body["volume"]["links"][0]["href"],
        json!(format!("{VOLUME}/v3/{p}/volumes/{id}"))
    );
    assert_eq!(
        r.body["volume"]["links"][1]["href"],
        json!(format!("{VOLUME}/{p}/volumes/{id}"))
    );
    let r = admin.get("volumes.json").await;
    assert_eq!(r.body["volumes"][0]["id"], json!(id));
}

#[tokio::test]
async fn another_projects_volume_does_not_exist_for_a_member() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let bob = Client::member(&a, "bob", "bp").await;
    let id = alice.available(json!({"size": 1})).await;
    let gone = format!("Volume {id} could not be found.");
    let v = format!("volumes/{id}");
    assert_eq!(not_found(&bob.get(&v).await), gone);
    assert_eq!(
        not_found(&bob.put(&v, json!({"volume": {"name": "x"}})).await),
        gone
    );
    assert_eq!(not_found(&bob.delete(&v).await), gone);
    assert_eq!(not_found(&bob.get(&format!("{v}/metadata")).await), gone);
    let extend = json!({"os-extend": {"new_size": 2}});
    assert_eq!(
        not_found(&bob.post(&format!("{v}/action"), extend).await),
        gone
    );
    assert_eq!(bob.get("volumes").await.body["volumes"], json!([]));
    assert_eq!(alice.volume(&id).await["size"], json!(1));
}

// ---- create validation ---------------------------------------------------------------------

#[tokio::test]
async fn create_refuses_bad_sizes_with_the_schema_message() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    for (size, reason) in [
        (json!(0), "0 is less than the minimum of 1"),
        (json!(-1), "-1 is less than the minimum of 1"),
        (json!(1.5), "1.5 is not of type 'integer', 'string', 'null'"),
        (json!("abc"), "'abc' does not match '^[0-9]+$'"),
        (
            json!(1u64 << 40),
            "1099511627776 is greater than the maximum of 2147483647",
        ),
        (
            json!(true),
            "True is not of type 'integer', 'string', 'null'",
        ),
    ] {
        let r = admin
            .post("volumes", json!({"volume": {"size": size}}))
            .await;
        let shown = match &size {
            Value::String(s) => s.clone(),
            Value::Bool(_) => "True".into(),
            other => other.to_string(),
        };
        assert_eq!(
            bad_request(&r),
            format!("Invalid input for field/attribute size. Value: {shown}. {reason}")
        );
    }
    let r = admin
        .post("volumes", json!({"volume": {"name": "x"}}))
        .await;
    assert_eq!(
        bad_request(&r),
        "Invalid input received: Size must be specified for a new volume."
    );
}

#[tokio::test]
async fn create_refuses_malformed_envelopes() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    for (body, message) in [
        (json!([]), "[] is not of type 'object'"),
        (
            json!([{"volume": {"size": 1}}]),
            "[{'volume': {'size': 1}}] is not of type 'object'",
        ),
        (json!({}), "'volume' is a required property"),
        (
            json!({"volume": {"size": 1}, "extra": 1}),
            "Additional properties are not allowed ('extra' was unexpected)",
        ),
        (
            json!({"volume": "big"}),
            "Invalid input for field/attribute volume. Value: big. 'big' is not of type 'object'",
        ),
        (
            json!({"volume": {"size": 1, "metadata": {"k": 1}}}),
            "Invalid input for field/attribute k. Value: 1. 1 is not of type 'string'",
        ),
        (
            json!({"volume": {"size": 1, "metadata": ["k"]}}),
            "Invalid input for field/attribute metadata. Value: ['k']. ['k'] is not of type \
             'object', 'null'",
        ),
        (
            json!({"volume": {"size": 1, "multiattach": "maybe"}}),
            "Invalid input for field/attribute multiattach. Value: maybe. 'maybe' is not valid \
             under any of the given schemas",
        ),
        (
            json!({"volume": {"size": 1, "name": "n".repeat(256)}}),
            "Invalid input received: name has 256 characters, more than 255.",
        ),
    ] {
        let r = admin.post("volumes", body.clone()).await;
        assert_eq!(bad_request(&r), message, "{body}");
    }
    let r = req(Method::POST, &admin.path("volumes"))
        .token(&admin.token)
        .raw_body(Some("application/json"), b"{not json".to_vec())
        .send(&a.volume_app)
        .await;
    assert_eq!(bad_request(&r), "Malformed request body");
}

#[tokio::test]
async fn create_tolerates_legacy_keys_aliases_digit_strings_and_hints() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let r = admin
        .post(
            "volumes",
            json!({
                "volume": {"size": "2", "display_name": "old", "display_description": "dd",
                           "status": "creating", "attach_status": "detached",
                           "user_id": null, "project_id": null, "source_replica": null,
                           "imageRef": null, "snapshot_id": null, "source_volid": null,
                           "volume_type": "__DEFAULT__", "availability_zone": "nova",
                           "multiattach": true},
                "OS-SCH-HNT:scheduler_hints": {"same_host": []}
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let v = &r.body["volume"];
    assert_eq!(v["size"], json!(2));
    assert_eq!(v["name"], "old");
    assert_eq!(v["description"], "dd");
    assert_eq!(v["multiattach"], json!(true));
    let v = &admin
        .post(
            "volumes",
            json!({"volume": {"size": 1, "name": " new ", "display_name": "old"}}),
        )
        .await
        .body["volume"];
    assert_eq!(v["name"], "new", "`name` wins over `display_name`, trimmed");
}

#[tokio::test]
async fn create_with_unknown_type_or_zone_is_refused() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let r = admin
        .post(
            "volumes",
            json!({"volume": {"size": 1, "volume_type": "gold"}}),
        )
        .await;
    assert_eq!(
        not_found(&r),
        "Volume type with name gold could not be found."
    );
    let r = admin
        .post(
            "volumes",
            json!({"volume": {"size": 1, "availability_zone": "mars"}}),
        )
        .await;
    assert_eq!(bad_request(&r), "Availability zone 'mars' is invalid.");
}

#[tokio::test]
async fn a_size_no_backend_could_ever_hold_is_refused_and_changes_nothing() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let r = admin
        .post("volumes", json!({"volume": {"size": 2147483647}}))
        .await;
    assert!(
        bad_request(&r).starts_with(
            "Invalid input received: Volume size 2147483647G is larger than backend 'file' can ever hold"
        ),
        "{:?}",
        r.body
    );
    let list = admin.get("volumes").await;
    assert_eq!(list.body["volumes"], json!([]));
    assert_eq!(a.run_jobs().await, 0);
}

// ---- update and delete ---------------------------------------------------------------------

#[tokio::test]
async fn update_changes_name_description_and_replaces_metadata() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = alice
        .available(json!({"size": 1, "name": "a", "metadata": {"old": "1"}}))
        .await;
    let r = alice
        .put(
            &format!("volumes/{id}"),
            json!({"volume": {"display_name": "b", "description": "c",
                              "metadata": {"new": "2"}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v = &r.body["volume"];
    assert_eq!(keys(v), with(&[]), "no os-vol-* attributes on update");
    assert_eq!(v["name"], "b");
    assert_eq!(v["description"], "c");
    assert_eq!(v["metadata"], json!({"new": "2"}));
    assert!(is_cinder_time(&v["updated_at"]));
    let r = alice
        .put(&format!("volumes/{id}"), json!({"volume": {"name": null}}))
        .await;
    assert_eq!(r.body["volume"]["name"], Value::Null);
    assert_eq!(r.body["volume"]["description"], "c");
}

#[tokio::test]
async fn update_refuses_anything_but_names_descriptions_and_metadata() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let id = admin.create(json!({"size": 1})).await;
    let path = format!("volumes/{id}");
    let r = admin.put(&path, json!({"volume": {"size": 2}})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid input for field/attribute volume. Value: {'size': 2}. Additional properties \
         are not allowed ('size' was unexpected)"
    );
    let r = admin.put(&path, json!({"name": "x"})).await;
    assert_eq!(bad_request(&r), "'volume' is a required property");
    let r = admin
        .put(&path, json!({"volume": {"metadata": {"bad*key": "v"}}}))
        .await;
    assert!(bad_request(&r).contains("('bad*key' was unexpected)"));
}

#[tokio::test]
async fn delete_is_accepted_and_the_volume_disappears() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = alice.available(json!({"size": 1})).await;
    let r = alice
        .delete(&format!("volumes/{id}?cascade=true&force=true"))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert!(r.raw.is_empty());
    assert_eq!(alice.volume(&id).await["status"], "deleting");
    a.run_jobs().await;
    let r = alice.get(&format!("volumes/{id}")).await;
    assert_eq!(not_found(&r), format!("Volume {id} could not be found."));
}

#[tokio::test]
async fn delete_needs_a_boolean_cascade_and_a_deletable_status() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let id = admin.create(json!({"size": 1})).await;
    let r = admin.delete(&format!("volumes/{id}?cascade=maybe")).await;
    assert_eq!(
        bad_request(&r),
        "Value 'maybe' for 'cascade' is not a boolean."
    );
    let r = admin.delete(&format!("volumes/{id}")).await;
    assert!(bad_request(&r).starts_with("Invalid volume: Volume status must be available"));
    let r = admin
        .delete("volumes/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(
        not_found(&r),
        "Volume 00000000-0000-0000-0000-000000000000 could not be found."
    );
}

// ---- listing -------------------------------------------------------------------------------

#[tokio::test]
async fn summary_list_shows_id_name_and_links_only() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = alice.create(json!({"size": 1, "name": "one"})).await;
    let r = alice.get("volumes").await;
    assert_eq!(r.status, StatusCode::OK);
    let p = &alice.project;
    assert_eq!(
        r.body,
        json!({"volumes": [{"id": id, "name": "one", "links": [
            {"rel": "self", "href": format!("{VOLUME}/v2/{p}/volumes/{id}")},
            {"rel": "bookmark", "href": format!("{VOLUME}/{p}/volumes/{id}")},
        ]}]})
    );
    let r = alice.get("volumes/detail").await;
    assert_eq!(
        r.body["volumes"][0]["os-vol-tenant-attr:tenant_id"],
        json!(p)
    );
    assert!(r.body.get("volumes_links").is_none());
}

#[tokio::test]
async fn full_pages_link_to_the_next_page_with_the_last_id_as_marker() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let mut ids = vec![];
    for i in 0..3 {
        ids.push(
            alice
                .create(json!({"size": 1, "name": format!("v{i}")}))
                .await,
        );
    }
    let r = alice.get("volumes/detail?limit=2&sort=name:asc").await;
    let page: Vec<&Value> = r.body["volumes"].as_array().unwrap().iter().collect();
    assert_eq!(page.len(), 2);
    assert_eq!(page[1]["id"], json!(ids[1]));
    let p = &alice.project;
    let next = format!(
        "{VOLUME}/v2/{p}/volumes/detail?limit=2&sort=name%3Aasc&marker={}",
        ids[1]
    );
    assert_eq!(
        r.body["volumes_links"],
        json!([{"rel": "next", "href": next}])
    );

    let rest = next.strip_prefix(&format!("{VOLUME}/v2/{p}/")).unwrap();
    let r = alice.get(rest).await;
    assert_eq!(r.body["volumes"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["volumes"][0]["id"], json!(ids[2]));
    assert!(r.body.get("volumes_links").is_none());

    let r = alice
        .get(&format!("volumes?marker={}&sort=name:asc&limit=1", ids[0]))
        .await;
    assert_eq!(r.body["volumes"][0]["id"], json!(ids[1]));
    assert_eq!(
        r.body["volumes_links"][0]["href"],
        json!(format!(
            "{VOLUME}/v2/{p}/volumes?sort=name%3Aasc&limit=1&marker={}",
            ids[1]
        ))
    );
}

#[tokio::test]
async fn bad_paging_and_sorting_parameters_are_refused() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    alice.create(json!({"size": 1})).await;
    for (query, message) in [
        ("limit=-1", "limit param must be positive"),
        ("limit=x", "limit param must be an integer"),
        (
            "sort=foo:sideways",
            "Invalid input received: Invalid sort key",
        ),
        (
            "sort=size:sideways",
            "Invalid input received: Unknown sort direction, must be 'desc' or 'asc': sideways",
        ),
    ] {
        for coll in ["volumes", "volumes/detail"] {
            let r = alice.get(&format!("{coll}?{query}")).await;
            assert_eq!(bad_request(&r), message, "{coll}?{query}");
        }
    }
    let r = alice.get("volumes?marker=nope").await;
    assert_eq!(not_found(&r), "Marker nope could not be found.");
}

#[tokio::test]
async fn members_lose_filters_they_may_not_use_and_admins_may_use_any() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let admin = Client::admin(&a).await;
    let id = alice
        .create(json!({"size": 1, "name": "x", "metadata": {"k": "v"}}))
        .await;
    admin.create(json!({"size": 1})).await;
    let count = |r: &Resp| r.body["volumes"].as_array().unwrap().len();

    assert_eq!(
        count(&alice.get("volumes?host=nowhere&all_tenants=1").await),
        1
    );
    assert_eq!(count(&alice.get("volumes?name=x").await), 1);
    assert_eq!(count(&alice.get("volumes?name=y").await), 0);
    assert_eq!(count(&alice.get("volumes?status=creating").await), 1);
    let md = "volumes?metadata=%7B%27k%27%3A+%27v%27%7D";
    assert_eq!(count(&alice.get(md).await), 1);

    assert_eq!(count(&admin.get("volumes?host=nowhere").await), 0);
    assert_eq!(count(&admin.get("volumes").await), 1);
    let all = admin.get("volumes/detail?all_tenants=1").await;
    assert_eq!(count(&all), 2);
    let theirs: Vec<&Value> = all.body["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["id"] == json!(id))
        .collect();
    assert_eq!(
        theirs[0]["os-vol-tenant-attr:tenant_id"],
        json!(alice.project)
    );
}
