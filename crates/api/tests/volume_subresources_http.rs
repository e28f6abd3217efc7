//! A volume's metadata and actions over HTTP, in process: Cinder's metadata rules and
//! messages, the one-action body rule, and `os-extend`.

mod common;
mod volume_client;

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};
use volume_client::*;

// ---- metadata ------------------------------------------------------------------------------

#[tokio::test]
async fn metadata_is_listed_merged_replaced_and_deleted_like_cinder() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = alice
        .available(json!({"size": 1, "metadata": {"a": "1"}}))
        .await;
    let md = format!("volumes/{id}/metadata");

    let r = alice.get(&md).await;
    assert_eq!(
        (r.status, r.body),
        (StatusCode::OK, json!({"metadata": {"a": "1"}}))
    );
    let r = alice.post(&md, json!({"metadata": {"b": "2"}})).await;
    assert_eq!(
        (r.status, r.body),
        (StatusCode::OK, json!({"metadata": {"a": "1", "b": "2"}}))
    );
    let r = alice.put(&md, json!({"metadata": {"c": "3"}})).await;
    assert_eq!(
        (r.status, r.body),
        (StatusCode::OK, json!({"metadata": {"c": "3"}}))
    );

    let r = alice.get(&format!("{md}/c")).await;
    assert_eq!(
        (r.status, r.body),
        (StatusCode::OK, json!({"meta": {"c": "3"}}))
    );
    let r = alice
        .put(&format!("{md}/d"), json!({"meta": {"d": "4"}}))
        .await;
    assert_eq!(
        (r.status, r.body),
        (StatusCode::OK, json!({"meta": {"d": "4"}}))
    );
    assert_eq!(
        alice.volume(&id).await["metadata"],
        json!({"c": "3", "d": "4"})
    );

    let r = alice.delete(&format!("{md}/c")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.raw.is_empty());
    let missing = format!("Volume {id} has no metadata with key c.");
    assert_eq!(not_found(&alice.get(&format!("{md}/c")).await), missing);
    assert_eq!(not_found(&alice.delete(&format!("{md}/c")).await), missing);
    let r = alice.get(&format!("{md}/a%20b")).await;
    assert_eq!(
        not_found(&r),
        format!("Volume {id} has no metadata with key a b.")
    );
}

#[tokio::test]
async fn one_key_metadata_bodies_must_match_the_uri() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = alice.available(json!({"size": 1})).await;
    let item = format!("volumes/{id}/metadata/k");
    let r = alice.put(&item, json!({"meta": {"j": "v"}})).await;
    assert_eq!(bad_request(&r), "Request body and URI mismatch");
    let r = alice
        .put(&item, json!({"meta": {"k": "v", "j": "w"}}))
        .await;
    assert_eq!(bad_request(&r), "Request body contains too many items");
    let r = alice.put(&item, json!({"metadata": {"k": "v"}})).await;
    assert_eq!(bad_request(&r), "'meta' is a required property");
    let r = alice
        .post(&format!("volumes/{id}/metadata"), json!({"meta": {}}))
        .await;
    assert_eq!(bad_request(&r), "'metadata' is a required property");
}

#[tokio::test]
async fn metadata_keys_and_values_follow_cinders_schema() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = alice.available(json!({"size": 1})).await;
    let md = format!("volumes/{id}/metadata");
    let long_key: Value = [("k".repeat(256), json!("v"))].into_iter().collect();
    for bad in [
        json!({"bad*key": "v"}),
        json!({"": "v"}),
        json!({"naïve": "v"}),
        long_key,
        json!({"k": "v".repeat(256)}),
        json!({"k": 1}),
        json!({"k": null}),
    ] {
        let r = alice.post(&md, json!({ "metadata": bad })).await;
        assert!(
            bad_request(&r).starts_with("Invalid input for field/attribute"),
            "{bad}"
        );
        let r = alice
            .post("volumes", json!({"volume": {"size": 1, "metadata": bad}}))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = alice.post(&md, json!({"metadata": {"bad*key": "v"}})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid input for field/attribute metadata. Value: {'bad*key': 'v'}. Additional \
         properties are not allowed ('bad*key' was unexpected)"
    );
    let ok: Value = [("k".repeat(255), json!("v".repeat(255)))]
        .into_iter()
        .collect();
    let r = alice.post(&md, json!({ "metadata": ok })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn ten_thousand_metadata_items_are_refused() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = alice.available(json!({"size": 1})).await;
    let many: Value = (0..10_000).map(|i| (format!("k{i}"), json!("v"))).collect();
    let r = alice
        .post(
            &format!("volumes/{id}/metadata"),
            json!({ "metadata": many }),
        )
        .await;
    assert!(
        [StatusCode::BAD_REQUEST, StatusCode::PAYLOAD_TOO_LARGE].contains(&r.status),
        "{}",
        r.status
    );
    let some: Value = (0..1100).map(|i| (format!("k{i}"), json!("v"))).collect();
    let r = alice
        .put(
            &format!("volumes/{id}/metadata"),
            json!({ "metadata": some }),
        )
        .await;
    assert!(bad_request(&r).contains("metadata"));
    assert_eq!(
        alice.get(&format!("volumes/{id}/metadata")).await.body,
        json!({"metadata": {}})
    );
}

// ---- actions -------------------------------------------------------------------------------

#[tokio::test]
async fn extend_grows_an_available_volume() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = alice.available(json!({"size": 1})).await;
    let r = alice
        .post(
            &format!("volumes/{id}/action"),
            json!({"os-extend": {"new_size": "3"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert!(r.raw.is_empty());
    assert_eq!(alice.volume(&id).await["status"], "extending");
    a.run_jobs().await;
    let v = alice.volume(&id).await;
    assert_eq!(
        (v["status"].clone(), v["size"].clone()),
        (json!("available"), json!(3))
    );
}

#[tokio::test]
async fn extend_needs_an_available_volume_and_a_larger_size() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = alice.create(json!({"size": 2})).await;
    let action = format!("volumes/{id}/action");
    let r = alice
        .post(&action, json!({"os-extend": {"new_size": 3}}))
        .await;
    assert_eq!(
        bad_request(&r),
        format!(
            "Invalid volume: Volume {id} status must be available to extend, but current \
             status is: creating."
        )
    );
    a.run_jobs().await;
    let r = alice
        .post(&action, json!({"os-extend": {"new_size": 2}}))
        .await;
    assert_eq!(
        bad_request(&r),
        "Invalid input received: New size for extend must be greater than current size. \
         (current: 2, extended: 2)."
    );
    for (args, message) in [
        (json!({}), "Invalid input for field/attribute os-extend. Value: {}. 'new_size' is a required property"),
        (json!({"new_size": 0}), "Invalid input for field/attribute new_size. Value: 0. 0 is less than the minimum of 1"),
        (json!({"new_size": "x"}), "Invalid input for field/attribute new_size. Value: x. 'x' does not match '^[0-9]+$'"),
        (json!({"new_size": 3, "size": 3}), "Invalid input for field/attribute os-extend. Value: {'new_size': 3, 'size': 3}. Additional properties are not allowed ('size' was unexpected)"),
    ] {
        let r = alice.post(&action, json!({ "os-extend": args })).await;
        assert_eq!(bad_request(&r), message);
    }
}

#[tokio::test]
async fn action_bodies_name_exactly_one_known_action() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let id = alice.available(json!({"size": 1})).await;
    let action = format!("volumes/{id}/action");
    let r = alice
        .post(
            &action,
            json!({"os-extend": {"new_size": 2}, "os-reserve": null}),
        )
        .await;
    assert_eq!(bad_request(&r), "Malformed request body");
    let r = alice.post(&action, json!({})).await;
    assert_eq!(bad_request(&r), "Malformed request body");
    for name in ["os-volume_upload_image", "os-frobnicate"] {
        let r = alice.post(&action, json!({ name: null })).await;
        assert_eq!(bad_request(&r), format!("There is no such action: {name}"));
    }
    let r = alice
        .post("volumes/nope/action", json!({"os-extend": {"new_size": 2}}))
        .await;
    assert_eq!(not_found(&r), "Volume nope could not be found.");
    let r = alice.get(&action).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}
