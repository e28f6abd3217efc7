//! QoS specs over HTTP, in process: every operation with Cinder's codes (which differ from
//! its api-ref), associations with types, admin-only policy, bad input that changes nothing,
//! and front-end specs folded into `connection_info`.

mod common;
mod volume_client;

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};
use volume_client::*;

async fn create_qos(c: &Client<'_>, body: Value) -> Value {
    let r = c.post("qos-specs", json!({ "qos_specs": body })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body.clone()
}

async fn create_type(c: &Client<'_>, name: &str) -> String {
    let r = c
        .post("types", json!({"volume_type": {"name": name}}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["volume_type"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn create_show_update_unset_and_delete() {
    let app = app().await;
    let admin = Client::admin(&app).await;
    let doc = create_qos(
        &admin,
        json!({"name": "fast", "consumer": "both", "total_iops_sec": "100"}),
    )
    .await;
    assert_eq!(keys(&doc), vec!["links", "qos_specs"]);
    assert_eq!(
        keys(&doc["qos_specs"]),
        vec!["consumer", "id", "name", "specs"]
    );
    assert_eq!(doc["qos_specs"]["consumer"], "both");
    assert_eq!(doc["qos_specs"]["specs"], json!({"total_iops_sec": "100"}));
    let id = doc["qos_specs"]["id"].as_str().unwrap();
    assert_eq!(
        doc["links"][0]["href"],
        format!("{VOLUME}/v2/{}/qos-specs/{id}", admin.project)
    );

    let plain = create_qos(&admin, json!({"name": "plain"})).await;
    assert_eq!(plain["qos_specs"]["consumer"], "back-end");

    let r = admin
        .put(
            &format!("qos-specs/{id}"),
            json!({"qos_specs": {"read_bytes_sec": "1000", "consumer": "front-end"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body,
        json!({"qos_specs": {"read_bytes_sec": "1000", "consumer": "front-end"}})
    );
    let shown = admin.get(&format!("qos-specs/{id}")).await.body;
    assert_eq!(shown["qos_specs"]["consumer"], "front-end");
    assert_eq!(
        shown["qos_specs"]["specs"],
        json!({"read_bytes_sec": "1000", "total_iops_sec": "100"})
    );

    let r = admin
        .put(
            &format!("qos-specs/{id}/delete_keys"),
            json!({"keys": ["read_bytes_sec", "nope"]}),
        )
        .await;
    assert_eq!(
        not_found(&r),
        format!("QoS spec {id} has no spec with key nope.")
    );
    // All or nothing: the first key is still there.
    let shown = admin.get(&format!("qos-specs/{id}")).await.body;
    assert_eq!(shown["qos_specs"]["specs"]["read_bytes_sec"], "1000");
    let r = admin
        .put(
            &format!("qos-specs/{id}/delete_keys"),
            json!({"keys": ["read_bytes_sec"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);

    let list = admin.get("qos-specs?consumer=front-end").await.body;
    assert_eq!(list["qos_specs"].as_array().unwrap().len(), 1);
    let page = admin.get("qos-specs?limit=1").await.body;
    assert!(page["qos_specs_links"][0]["href"]
        .as_str()
        .unwrap()
        .contains("marker="));

    assert_eq!(
        admin.delete(&format!("qos-specs/{id}")).await.status,
        StatusCode::ACCEPTED
    );
    let r = admin.get(&format!("qos-specs/{id}")).await;
    assert_eq!(not_found(&r), format!("No such QoS spec {id}."));
}

#[tokio::test]
async fn associations_bind_one_spec_per_type() {
    let app = app().await;
    let admin = Client::admin(&app).await;
    let a = create_qos(&admin, json!({"name": "a"})).await["qos_specs"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = create_qos(&admin, json!({"name": "b"})).await["qos_specs"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let gold = create_type(&admin, "gold").await;

    let r = admin
        .get(&format!("qos-specs/{a}/associate?vol_type_id={gold}"))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let t = admin.get(&format!("types/{gold}")).await.body;
    assert_eq!(t["volume_type"]["qos_specs_id"], a.as_str());
    let r = admin.get(&format!("qos-specs/{a}/associations")).await;
    assert_eq!(
        r.body,
        json!({"qos_associations": [{"association_type": "volume_type", "name": "gold", "id": gold}]})
    );

    let r = admin
        .get(&format!("qos-specs/{b}/associate?vol_type_id={gold}"))
        .await;
    assert!(bad_request(&r).contains(&format!("associated with another qos specs: {a}")));
    let r = admin.get(&format!("qos-specs/{b}/associate")).await;
    assert_eq!(bad_request(&r), "Volume Type id must not be None.");
    let r = admin
        .get(&format!("qos-specs/{b}/associate?vol_type_id=nope"))
        .await;
    assert_eq!(not_found(&r), "Volume type nope could not be found.");

    let r = admin.delete(&format!("qos-specs/{a}")).await;
    assert_eq!(bad_request(&r), "Qos specs still in use.");
    let r = admin
        .get(&format!("qos-specs/{a}/disassociate?vol_type_id={gold}"))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let t = admin.get(&format!("types/{gold}")).await.body;
    assert_eq!(t["volume_type"]["qos_specs_id"], Value::Null);

    admin
        .get(&format!("qos-specs/{b}/associate?vol_type_id={gold}"))
        .await;
    let r = admin.get(&format!("qos-specs/{b}/disassociate_all")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    admin
        .get(&format!("qos-specs/{b}/associate?vol_type_id={gold}"))
        .await;
    let r = admin.delete(&format!("qos-specs/{b}?force=true")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let t = admin.get(&format!("types/{gold}")).await.body;
    assert_eq!(t["volume_type"]["qos_specs_id"], Value::Null);
}

#[tokio::test]
async fn bad_qos_input_is_refused_and_changes_nothing() {
    let app = app().await;
    let admin = Client::admin(&app).await;
    let r = admin
        .post(
            "qos-specs",
            json!({"qos_specs": {"name": "x", "consumer": "sideways"}}),
        )
        .await;
    assert_eq!(
        bad_request(&r),
        "Invalid qos specs: Valid consumer of QoS specs are: back-end, front-end, both"
    );
    let r = admin
        .post(
            "qos-specs",
            json!({"qos_specs": {"name": "x", "total_iops_sec": 100}}),
        )
        .await;
    assert!(bad_request(&r).contains("is not a string"));
    let r = admin.post("qos-specs", json!({"qos_specs": {}})).await;
    assert!(bad_request(&r).ends_with("'name' is a required property"));
    assert_eq!(admin.get("qos-specs").await.body, json!({"qos_specs": []}));

    let id = create_qos(&admin, json!({"name": "x"})).await["qos_specs"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = admin
        .post("qos-specs", json!({"qos_specs": {"name": "x"}}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.body["conflictingRequest"]["message"],
        "QoS Specs x already exists."
    );
    let r = admin
        .put(
            &format!("qos-specs/{id}"),
            json!({"qos_specs": {"consumer": "sideways"}}),
        )
        .await;
    assert!(bad_request(&r).starts_with("Invalid qos specs"));
    assert_eq!(
        admin.get(&format!("qos-specs/{id}")).await.body["qos_specs"]["consumer"],
        "back-end"
    );

    let member = Client::member(&app, "alice", "demo").await;
    for r in [
        member.get("qos-specs").await,
        member.get(&format!("qos-specs/{id}")).await,
        member
            .post("qos-specs", json!({"qos_specs": {"name": "y"}}))
            .await,
        member
            .put(&format!("qos-specs/{id}"), json!({"qos_specs": {"a": "b"}}))
            .await,
        member.delete(&format!("qos-specs/{id}")).await,
        member.get(&format!("qos-specs/{id}/associations")).await,
        member
            .get(&format!("qos-specs/{id}/disassociate_all"))
            .await,
    ] {
        assert!(forbidden(&r).contains("qos_specs_manage"));
    }
}

#[tokio::test]
async fn front_end_specs_reach_the_connection_info_scaled_by_size() {
    let app = app().await;
    let admin = Client::admin(&app).await;
    let q = create_qos(
        &admin,
        json!({"name": "per-gb", "consumer": "front-end",
               "total_iops_sec_per_gb": "10", "read_bytes_sec": "1048576"}),
    )
    .await["qos_specs"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = create_type(&admin, "metered").await;
    admin
        .get(&format!("qos-specs/{q}/associate?vol_type_id={t}"))
        .await;
    let v = admin
        .available(json!({"size": 3, "volume_type": "metered"}))
        .await;
    let act = format!("volumes/{v}/action");
    admin.post(&act, json!({"os-reserve": null})).await;
    let connector = json!({"host": "compute1", "do_local_attach": true});
    let r = admin
        .post(
            &act,
            json!({"os-initialize_connection": {"connector": connector}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["connection_info"]["data"]["qos_specs"],
        json!({"total_iops_sec": "30", "read_bytes_sec": "1048576"})
    );

    let plain = admin.available(json!({"size": 1})).await;
    let act = format!("volumes/{plain}/action");
    admin.post(&act, json!({"os-reserve": null})).await;
    let r = admin
        .post(
            &act,
            json!({"os-initialize_connection": {"connector": connector}}),
        )
        .await;
    assert_eq!(r.body["connection_info"]["data"]["qos_specs"], Value::Null);
}
