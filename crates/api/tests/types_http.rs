//! Volume types over HTTP, in process: CRUD with Cinder's codes and messages, extra specs,
//! private types and project access, encryption specs, admin-only policy, the rules for a
//! type in use, and what a type means for the volumes created with it.

mod common;
mod volume_client;

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};
use volume_client::*;

async fn create_type(c: &Client<'_>, body: Value) -> Value {
    let r = c.post("types", json!({ "volume_type": body })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["volume_type"].clone()
}

fn conflict(r: &Resp) -> &str {
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["conflictingRequest"]["code"], 409);
    r.body["conflictingRequest"]["message"].as_str().unwrap()
}

#[tokio::test]
async fn create_show_list_update_delete() {
    let app = app().await;
    let admin = Client::admin(&app).await;
    let t = create_type(
        &admin,
        json!({"name": "gold", "description": "fast", "extra_specs": {"volume_backend_name": "file"}}),
    )
    .await;
    assert_eq!(
        keys(&t),
        vec![
            "description",
            "extra_specs",
            "id",
            "is_public",
            "name",
            "os-volume-type-access:is_public",
            "qos_specs_id"
        ]
    );
    assert_eq!(t["is_public"], true);
    assert_eq!(t["extra_specs"]["volume_backend_name"], "file");
    let id = t["id"].as_str().unwrap();

    let shown = admin.get(&format!("types/{id}")).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.body["volume_type"]["name"], "gold");

    let default = admin.get("types/default").await;
    assert_eq!(default.body["volume_type"]["name"], "__DEFAULT__");

    let list = admin.get("types").await;
    let names: Vec<&str> = list.body["volume_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    // Newest first, as Cinder sorts by default.
    assert_eq!(names, vec!["gold", "__DEFAULT__"]);

    let r = admin
        .put(
            &format!("types/{id}"),
            json!({"volume_type": {"name": "platinum", "description": null}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["volume_type"]["name"], "platinum");
    assert_eq!(r.body["volume_type"]["description"], Value::Null);
    // Update answers without the access extension's field, as Cinder does.
    assert!(r.body["volume_type"]
        .get("os-volume-type-access:is_public")
        .is_none());

    let r = admin.delete(&format!("types/{id}")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let msg = not_found(&admin.get(&format!("types/{id}")).await).to_owned();
    assert_eq!(msg, format!("Volume type {id} could not be found."));
}

#[tokio::test]
async fn bad_type_requests_get_cinders_errors_and_change_nothing() {
    let app = app().await;
    let admin = Client::admin(&app).await;
    create_type(&admin, json!({"name": "gold"})).await;
    let r = admin
        .post("types", json!({"volume_type": {"name": "gold"}}))
        .await;
    assert_eq!(conflict(&r), "Volume Type gold already exists.");

    let long = "x".repeat(256);
    let r = admin
        .post("types", json!({"volume_type": {"name": long}}))
        .await;
    assert!(bad_request(&r).contains("is too long"));
    let r = admin.post("types", json!({"volume_type": {}})).await;
    assert!(bad_request(&r).ends_with("'name' is a required property"));
    let r = admin
        .post(
            "types",
            json!({"volume_type": {"name": "a", "colour": "red"}}),
        )
        .await;
    assert!(bad_request(&r).contains("'colour' was unexpected"));

    let default = admin.get("types/default").await.body["volume_type"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = admin.delete(&format!("types/{default}")).await;
    assert_eq!(
        bad_request(&r),
        format!("The volume type {default} is a default volume type and cannot be deleted.")
    );
    let r = admin
        .put(&format!("types/{default}"), json!({"volume_type": {}}))
        .await;
    assert_eq!(
        bad_request(&r),
        "Specify volume type name, description, is_public or a combination thereof."
    );
    let other = create_type(&admin, json!({"name": "silver"})).await;
    let r = admin
        .put(
            &format!("types/{}", other["id"].as_str().unwrap()),
            json!({"volume_type": {"name": "gold"}}),
        )
        .await;
    assert_eq!(conflict(&r), "Volume Type gold already exists.");

    let list = admin.get("types").await;
    assert_eq!(list.body["volume_types"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn only_admins_manage_types_and_see_their_specs() {
    let app = app().await;
    let admin = Client::admin(&app).await;
    let member = Client::member(&app, "alice", "demo").await;
    let t = create_type(&admin, json!({"name": "gold", "extra_specs": {"k": "v"}})).await;
    let id = t["id"].as_str().unwrap();

    let shown = member.get(&format!("types/{id}")).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body["volume_type"].get("extra_specs").is_none());
    assert!(shown.body["volume_type"].get("qos_specs_id").is_none());

    let denied = [
        member
            .post("types", json!({"volume_type": {"name": "x"}}))
            .await,
        member
            .put(
                &format!("types/{id}"),
                json!({"volume_type": {"name": "y"}}),
            )
            .await,
        member.delete(&format!("types/{id}")).await,
        member.get(&format!("types/{id}/extra_specs")).await,
        member
            .post(
                &format!("types/{id}/extra_specs"),
                json!({"extra_specs": {"a": "b"}}),
            )
            .await,
        member.delete(&format!("types/{id}/extra_specs/k")).await,
        member.get(&format!("types/{id}/encryption")).await,
        member
            .post(
                &format!("types/{id}/action"),
                json!({"addProjectAccess": {"project": member.project}}),
            )
            .await,
    ];
    for r in &denied {
        assert!(forbidden(r).starts_with("Policy doesn't allow volume_extension:"));
    }
    let again = admin.get(&format!("types/{id}")).await;
    assert_eq!(again.body["volume_type"]["name"], "gold");
    assert_eq!(again.body["volume_type"]["extra_specs"], json!({"k": "v"}));
}

#[tokio::test]
async fn extra_specs_are_refused_while_a_volume_uses_the_type() {
    let app = app().await;
    let admin = Client::admin(&app).await;
    let t = create_type(&admin, json!({"name": "gold"})).await;
    let id = t["id"].as_str().unwrap();
    let specs = format!("types/{id}/extra_specs");

    let r = admin
        .post(&specs, json!({"extra_specs": {"x:a": "1", "x:b": "2"}}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"extra_specs": {"x:a": "1", "x:b": "2"}}));
    let r = admin.get(&format!("{specs}/x:a")).await;
    assert_eq!(r.body, json!({"x:a": "1"}));
    let r = admin
        .put(&format!("{specs}/x:a"), json!({"x:a": "3"}))
        .await;
    assert_eq!(r.body, json!({"x:a": "3"}));
    let r = admin
        .put(&format!("{specs}/x:a"), json!({"x:b": "3"}))
        .await;
    assert_eq!(bad_request(&r), "Request body and URI mismatch");
    let r = admin.delete(&format!("{specs}/x:b")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = admin.get(&format!("{specs}/x:b")).await;
    assert_eq!(
        not_found(&r),
        format!("Volume Type {id} has no extra specs with key x:b.")
    );
    let r = admin
        .post(
            &specs,
            json!({"extra_specs": {"multiattach": "<is> True", "cacheable": "<is> True"}}),
        )
        .await;
    assert_eq!(bad_request(&r), "cacheable cannot be set with multiattach.");

    admin
        .available(json!({"size": 1, "volume_type": "gold"}))
        .await;
    for r in [
        admin
            .post(&specs, json!({"extra_specs": {"x:c": "1"}}))
            .await,
        admin
            .put(&format!("{specs}/x:a"), json!({"x:a": "4"}))
            .await,
        admin.delete(&format!("{specs}/x:a")).await,
    ] {
        assert_eq!(bad_request(&r), "Volume Type is currently in use.");
    }
    let r = admin.delete(&format!("types/{id}")).await;
    assert_eq!(bad_request(&r), "Target volume type is still in use.");
    assert_eq!(
        admin.get(&specs).await.body,
        json!({"extra_specs": {"x:a": "3"}})
    );
}

#[tokio::test]
async fn private_types_exist_only_for_the_projects_they_are_granted_to() {
    let app = app().await;
    let admin = Client::admin(&app).await;
    let alice = Client::member(&app, "alice", "demo").await;
    let t = create_type(
        &admin,
        json!({"name": "secret", "os-volume-type-access:is_public": false}),
    )
    .await;
    assert_eq!(t["is_public"], false);
    let id = t["id"].as_str().unwrap();

    assert_eq!(
        alice.get(&format!("types/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    let r = alice
        .post(
            "volumes",
            json!({"volume": {"size": 1, "volume_type": "secret"}}),
        )
        .await;
    assert_eq!(
        not_found(&r),
        "Volume type with name secret could not be found."
    );
    let names = |r: &Resp| -> Vec<String> {
        r.body["volume_types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&alice.get("types").await), vec!["__DEFAULT__"]);
    assert_eq!(
        names(&admin.get("types?is_public=false").await),
        vec!["secret"]
    );
    assert_eq!(names(&admin.get("types?is_public=None").await).len(), 2);

    let action = format!("types/{id}/action");
    let add = json!({"addProjectAccess": {"project": alice.project}});
    assert_eq!(
        admin.post(&action, add.clone()).await.status,
        StatusCode::ACCEPTED
    );
    let r = admin.post(&action, add).await;
    assert_eq!(
        conflict(&r),
        format!(
            "Volume type access for {id} / {} combination already exists.",
            alice.project
        )
    );
    let r = admin
        .get(&format!("types/{id}/os-volume-type-access"))
        .await;
    assert_eq!(
        r.body,
        json!({"volume_type_access": [{"volume_type_id": id, "project_id": alice.project}]})
    );
    assert_eq!(
        alice.get(&format!("types/{id}")).await.status,
        StatusCode::OK
    );
    assert_eq!(names(&alice.get("types").await).len(), 2);
    let v = alice
        .available(json!({"size": 1, "volume_type": "secret"}))
        .await;
    assert_eq!(alice.volume(&v).await["volume_type"], "secret");

    let remove = json!({"removeProjectAccess": {"project": alice.project}});
    assert_eq!(
        admin.post(&action, remove.clone()).await.status,
        StatusCode::ACCEPTED
    );
    let r = admin.post(&action, remove).await;
    assert!(not_found(&r).starts_with("Volume type access not found for"));
    assert_eq!(
        alice.get(&format!("types/{id}")).await.status,
        StatusCode::NOT_FOUND
    );

    let public = admin.get("types/default").await.body["volume_type"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = admin
        .get(&format!("types/{public}/os-volume-type-access"))
        .await;
    assert_eq!(
        not_found(&r),
        "Access list not available for public volume types."
    );
    let r = admin
        .post(
            &format!("types/{public}/action"),
            json!({"addProjectAccess": {"project": alice.project}}),
        )
        .await;
    assert!(bad_request(&r).contains("not applicable to public volume type"));
    let r = admin
        .post(
            &action,
            json!({"addProjectAccess": {"project": "not-a-project"}}),
        )
        .await;
    assert!(bad_request(&r).contains("is not a 'uuid'"));
}

#[tokio::test]
async fn encryption_specs_follow_cinders_rules() {
    let app = app().await;
    let admin = Client::admin(&app).await;
    let t = create_type(&admin, json!({"name": "luks"})).await;
    let id = t["id"].as_str().unwrap();
    let path = format!("types/{id}/encryption");
    assert_eq!(admin.get(&path).await.body, json!({}));

    let body = json!({"encryption": {"provider": "luks", "control_location": "front-end",
        "cipher": "aes-xts-plain64", "key_size": "256"}});
    let r = admin.post(&path, body.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["encryption"]["key_size"], 256);
    let shown = admin.get(&path).await.body;
    assert_eq!(shown["provider"], "luks");
    assert_eq!(shown["deleted"], false);
    assert!(is_cinder_time(&shown["created_at"]));
    let enc_id = shown["encryption_id"].as_str().unwrap().to_owned();
    let r = admin.get(&format!("{path}/cipher")).await;
    assert_eq!(r.body, json!({"cipher": "aes-xts-plain64"}));

    let r = admin.post(&path, body).await;
    assert_eq!(
        bad_request(&r),
        format!("Volume type encryption for type {id} already exists.")
    );
    let r = admin
        .put(
            &format!("{path}/{enc_id}"),
            json!({"encryption": {"key_size": 512}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(admin.get(&path).await.body["key_size"], 512);
    let r = admin
        .post(
            &format!("types/{}/encryption", t["id"].as_str().unwrap()),
            json!({"encryption": {"provider": "luks"}}),
        )
        .await;
    assert!(bad_request(&r).contains("'control_location' is a required property"));

    // Basalt cannot encrypt yet, so it refuses rather than hand out a plain volume.
    let r = admin
        .post(
            "volumes",
            json!({"volume": {"size": 1, "volume_type": "luks"}}),
        )
        .await;
    assert!(bad_request(&r).contains("cannot create encrypted volumes yet"));

    let r = admin.delete(&format!("{path}/{enc_id}")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = admin.delete(&format!("{path}/{enc_id}")).await;
    assert_eq!(
        not_found(&r),
        format!("Volume type encryption for type {id} does not exist.")
    );
    let v = admin
        .available(json!({"size": 1, "volume_type": "luks"}))
        .await;
    let r = admin.get(&format!("volumes/{v}/encryption")).await;
    assert_eq!(r.body, json!({"encryption_key_id": null}));
    let r = admin
        .post(
            &path,
            json!({"encryption": {"provider": "luks", "control_location": "front-end"}}),
        )
        .await;
    assert_eq!(
        bad_request(&r),
        "Cannot create encryption specs. Volume type in use."
    );
}

#[tokio::test]
async fn a_multiattach_type_makes_multiattach_volumes() {
    let app = app().await;
    let admin = Client::admin(&app).await;
    create_type(
        &admin,
        json!({"name": "shared", "extra_specs": {"multiattach": "<is> True"}}),
    )
    .await;
    let shared = admin
        .available(json!({"size": 1, "volume_type": "shared"}))
        .await;
    assert_eq!(admin.volume(&shared).await["multiattach"], true);
    let plain = admin.available(json!({"size": 1})).await;
    assert_eq!(admin.volume(&plain).await["multiattach"], false);

    // Reserved twice: a multiattach volume may be reserved while in use.
    for server in [
        "8f5b1a52-3c1e-4d0e-9a43-5b6a2f1c7d90",
        "0c7e9a1d-2b4f-4f6a-8e3d-9a1b2c3d4e5f",
    ] {
        let act = format!("volumes/{shared}/action");
        assert_eq!(
            admin.post(&act, json!({"os-reserve": null})).await.status,
            StatusCode::ACCEPTED
        );
        let r = admin
            .post(
                &act,
                json!({"os-attach": {"instance_uuid": server, "mountpoint": "/dev/vdb"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    }
    let v = admin.volume(&shared).await;
    assert_eq!(v["status"], "in-use");
    assert_eq!(v["attachments"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn renaming_a_type_keeps_its_per_type_quota() {
    let app = app().await;
    let admin = Client::admin(&app).await;
    let t = create_type(&admin, json!({"name": "gold"})).await;
    let alice = Client::member(&app, "alice", "demo").await;
    let target = format!("os-quota-sets/{}", alice.project);
    let r = admin
        .put(&target, json!({"quota_set": {"volumes_gold": 1}}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    admin
        .put(
            &format!("types/{}", t["id"].as_str().unwrap()),
            json!({"volume_type": {"name": "platinum"}}),
        )
        .await;
    let q = admin.get(&target).await.body;
    assert_eq!(q["quota_set"]["volumes_platinum"], 1);
    assert!(q["quota_set"].get("volumes_gold").is_none());
    alice
        .available(json!({"size": 1, "volume_type": "platinum"}))
        .await;
    let r = alice
        .post(
            "volumes",
            json!({"volume": {"size": 1, "volume_type": "platinum"}}),
        )
        .await;
    assert!(over_limit(&r).contains("'volumes_platinum'"));
}

#[tokio::test]
async fn the_extension_list_names_types_encryption_and_qos() {
    let app = app().await;
    let alice = Client::member(&app, "alice", "demo").await;
    let r = alice.get("extensions").await;
    let aliases: Vec<&str> = r.body["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["alias"].as_str().unwrap())
        .collect();
    for alias in [
        "os-types-manage",
        "os-types-extra-specs",
        "os-volume-type-access",
        "encryption",
        "os-volume-encryption-metadata",
        "qos-specs",
        "os-volume-actions",
    ] {
        assert!(aliases.contains(&alias), "{alias}");
    }
}
