//! Quota sets, quota classes and absolute limits over HTTP, in process: the shapes clients
//! parse, who may read and change them, Cinder's validation messages, and enforcement (413).

mod common;
mod volume_client;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};
use volume_client::*;

/// The default quota set of a fresh deployment (one type, `__DEFAULT__`).
fn defaults() -> Value {
    json!({
        "volumes": 10, "snapshots": 10, "gigabytes": 1000, "backups": 10,
        "backup_gigabytes": 1000, "groups": 10, "per_volume_gigabytes": -1,
        "volumes___DEFAULT__": -1, "snapshots___DEFAULT__": -1, "gigabytes___DEFAULT__": -1,
    })
}

fn with_id(mut set: Value, id: &str) -> Value {
    set["id"] = json!(id);
    set
}

#[tokio::test]
async fn a_quota_set_shows_the_projects_limits_with_its_id() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let p = alice.project.clone();
    for query in ["", "?usage=false", "?usage=0"] {
        let r = alice.get(&format!("os-quota-sets/{p}{query}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            r.body,
            json!({"quota_set": with_id(defaults(), &p)}),
            "{query}"
        );
    }
    let r = alice.get(&format!("os-quota-sets/{p}/defaults")).await;
    assert_eq!(r.body, json!({"quota_set": with_id(defaults(), &p)}));
}

#[tokio::test]
async fn the_usage_view_counts_what_the_project_uses() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    alice.create(json!({"size": 3})).await;
    let p = alice.project.clone();
    for flag in ["true", "True", "1", "yes"] {
        let r = alice.get(&format!("os-quota-sets/{p}?usage={flag}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let set = &r.body["quota_set"];
        assert_eq!(set["id"], json!(p));
        assert_eq!(
            set["volumes"],
            json!({"limit": 10, "in_use": 1, "reserved": 0})
        );
        assert_eq!(
            set["gigabytes"],
            json!({"limit": 1000, "in_use": 3, "reserved": 0})
        );
        assert_eq!(
            set["volumes___DEFAULT__"],
            json!({"limit": -1, "in_use": 1, "reserved": 0})
        );
        assert_eq!(
            set["per_volume_gigabytes"],
            json!({"limit": -1, "in_use": 0, "reserved": 0})
        );
        assert_eq!(set.as_object().unwrap().len(), 11);
    }
    let r = alice.get(&format!("os-quota-sets/{p}?usage=maybe")).await;
    assert_eq!(
        bad_request(&r),
        "Value 'maybe' for 'usage' is not a boolean."
    );
}

#[tokio::test]
async fn members_may_not_read_another_projects_quotas() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let bob = Client::member(&a, "bob", "bp").await;
    let theirs = format!("os-quota-sets/{}", bob.project);
    let message = "Policy doesn't allow volume_extension:quotas:show to be performed.";
    assert_eq!(forbidden(&alice.get(&theirs).await), message);
    assert_eq!(
        forbidden(&alice.get(&format!("{theirs}/defaults")).await),
        message
    );
    let admin = Client::admin(&a).await;
    assert_eq!(admin.get(&theirs).await.status, StatusCode::OK);
}

#[tokio::test]
async fn admins_update_a_quota_set_and_the_answer_has_no_id() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    let path = format!("os-quota-sets/{}", alice.project);
    let r = admin
        .put(
            &path,
            json!({"quota_set": {"volumes": 5, "gigabytes": "50", "volumes___DEFAULT__": 2,
                                 "id": "ignored", "tenant_id": "ignored"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut expected = defaults();
    expected["volumes"] = json!(5);
    expected["gigabytes"] = json!(50);
    expected["volumes___DEFAULT__"] = json!(2);
    assert_eq!(r.body, json!({ "quota_set": expected.clone() }));
    let r = alice.get(&path).await;
    assert_eq!(r.body["quota_set"], with_id(expected, &alice.project));

    let r = admin.delete(&path).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.raw.is_empty());
    let r = alice.get(&path).await;
    assert_eq!(r.body["quota_set"], with_id(defaults(), &alice.project));
}

#[tokio::test]
async fn quota_updates_are_validated() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    alice.create(json!({"size": 2})).await;
    let path = format!("os-quota-sets/{}", alice.project);
    let r = admin.put(&path, json!({"quota_set": {"x": 1}})).await;
    assert_eq!(bad_request(&r), "Bad key(s) in quota set: x");
    for value in [json!(-2), json!("abc"), json!(1.5), json!(null)] {
        let r = admin
            .put(&path, json!({"quota_set": {"volumes": value}}))
            .await;
        assert!(bad_request(&r).contains("volumes"), "{value}");
    }
    let r = admin.put(&path, json!({"quota_set": {"volumes": 0}})).await;
    assert!(
        bad_request(&r).contains("must be equal or greater than existing resources"),
        "{}",
        r.body
    );
    let r = admin
        .put(&path, json!({"quota_set": {"gigabytes": 1}}))
        .await;
    assert!(bad_request(&r).contains("Current usage is 2"));
    for unlimited in ["volumes", "gigabytes"] {
        let r = admin
            .put(&path, json!({"quota_set": { unlimited: -1 }}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let r = admin
        .put(&path, json!({"quota_set": {"per_volume_gigabytes": 1}}))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "per_volume_gigabytes ignores usage"
    );

    let r = admin.put(&path, json!({"quota_set": {}})).await;
    assert_eq!(
        bad_request(&r),
        "Invalid input for field/attribute quota_set. Value: {}. {} does not have enough \
         properties"
    );
    let r = admin.put(&path, json!({"quota": {"volumes": 1}})).await;
    assert_eq!(bad_request(&r), "'quota_set' is a required property");
    let r = admin.put(&path, json!({"quota_set": [1]})).await;
    assert!(bad_request(&r).contains("is not of type 'object'"));
}

#[tokio::test]
async fn members_may_not_change_or_reset_quotas() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let path = format!("os-quota-sets/{}", alice.project);
    let r = alice
        .put(&path, json!({"quota_set": {"volumes": 100}}))
        .await;
    assert_eq!(
        forbidden(&r),
        "Policy doesn't allow volume_extension:quotas:update to be performed."
    );
    assert_eq!(
        forbidden(&alice.delete(&path).await),
        "Policy doesn't allow volume_extension:quotas:delete to be performed."
    );
    assert_eq!(alice.get(&path).await.body["quota_set"]["volumes"], 10);
}

#[tokio::test]
async fn quota_classes_are_shown_and_changed_by_admins_only() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    let r = admin.get("os-quota-class-sets/default").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"quota_class_set": with_id(defaults(), "default")})
    );

    let r = admin
        .put(
            "os-quota-class-sets/default",
            json!({"quota_class_set": {"volumes": 20}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut expected = defaults();
    expected["volumes"] = json!(20);
    assert_eq!(r.body, json!({ "quota_class_set": expected }));
    let r = alice.get(&format!("os-quota-sets/{}", alice.project)).await;
    assert_eq!(
        r.body["quota_set"]["volumes"], 20,
        "projects inherit the class"
    );

    let r = admin
        .put(
            "os-quota-class-sets/default",
            json!({"quota_class_set": {"nonsense": 1}}),
        )
        .await;
    assert!(bad_request(&r).contains("nonsense"));
    let message = "Policy doesn't allow volume_extension:quota_classes to be performed.";
    assert_eq!(
        forbidden(&alice.get("os-quota-class-sets/default").await),
        message
    );
    let r = alice
        .put(
            "os-quota-class-sets/default",
            json!({"quota_class_set": {"volumes": 99}}),
        )
        .await;
    assert_eq!(forbidden(&r), message);
}

#[tokio::test]
async fn limits_show_absolute_quota_and_usage_and_no_rates() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let r = alice.get("limits").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"limits": {"rate": [], "absolute": {
            "maxTotalVolumes": 10, "maxTotalSnapshots": 10, "maxTotalVolumeGigabytes": 1000,
            "maxTotalBackups": 10, "maxTotalBackupGigabytes": 1000,
            "totalVolumesUsed": 0, "totalGigabytesUsed": 0, "totalSnapshotsUsed": 0,
            "totalBackupsUsed": 0, "totalBackupGigabytesUsed": 0,
        }}})
    );
    alice.create(json!({"size": 4})).await;
    let r = alice.get("limits").await;
    let absolute = &r.body["limits"]["absolute"];
    assert_eq!(absolute["totalVolumesUsed"], 1);
    assert_eq!(absolute["totalGigabytesUsed"], 4);
    let r = req(Method::GET, &format!("/v3/{}/limits", alice.project))
        .token(&alice.token)
        .send(&a.volume_app)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["limits"]["absolute"]["totalVolumesUsed"], 1);
}

#[tokio::test]
async fn the_extension_list_names_quotas_limits_and_volume_attributes() {
    let a = app().await;
    let alice = Client::member(&a, "alice", "ap").await;
    let r = alice.get("extensions").await;
    let aliases: Vec<&str> = r.body["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["alias"].as_str().unwrap())
        .collect();
    for alias in [
        "os-quota-sets",
        "os-quota-class-sets",
        "os-used-limits",
        "os-vol-tenant-attr",
        "os-vol-host-attr",
        "os-vol-mig-status-attr",
    ] {
        assert!(aliases.contains(&alias), "{alias}");
    }
    let r = alice.get("extensions/os-quota-sets").await;
    assert_eq!(
        r.body,
        json!({"extension": {"alias": "os-quota-sets", "name": "Quotas",
                             "description": "Quota management support.",
                             "updated": "2011-08-08T00:00:00+00:00", "links": []}})
    );
}

// ---- enforcement -----------------------------------------------------------------------------

#[tokio::test]
async fn creates_and_extends_over_quota_are_413_with_cinders_messages() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let alice = Client::member(&a, "alice", "ap").await;
    let quota = format!("os-quota-sets/{}", alice.project);
    let r = admin
        .put(&quota, json!({"quota_set": {"volumes": 2, "gigabytes": 5}}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let id = alice.available(json!({"size": 3})).await;
    let r = alice.post("volumes", json!({"volume": {"size": 3}})).await;
    assert_eq!(
        over_limit(&r),
        "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed \
         gigabytes quota. Requested 3G, quota is 5G and 3G has been consumed."
    );
    let r = alice
        .post(
            &format!("volumes/{id}/action"),
            json!({"os-extend": {"new_size": 6}}),
        )
        .await;
    assert!(over_limit(&r).starts_with("VolumeSizeExceedsAvailableQuota: "));
    alice.create(json!({"size": 1})).await;
    let r = alice.post("volumes", json!({"volume": {"size": 1}})).await;
    assert_eq!(
        over_limit(&r),
        "VolumeLimitExceeded: Maximum number of volumes allowed (2) exceeded for quota \
         'volumes'."
    );
}

#[tokio::test]
async fn a_volume_larger_than_per_volume_gigabytes_is_413() {
    let a = app().await;
    let admin = Client::admin(&a).await;
    let r = admin
        .put(
            &format!("os-quota-sets/{}", admin.project),
            json!({"quota_set": {"per_volume_gigabytes": 5}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = admin.post("volumes", json!({"volume": {"size": 6}})).await;
    assert_eq!(
        over_limit(&r),
        "VolumeSizeExceedsLimit: Requested volume size 6G is larger than maximum allowed \
         limit 5G."
    );
    admin.create(json!({"size": 5})).await;
}
