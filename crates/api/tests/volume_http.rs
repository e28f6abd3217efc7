//! The block-storage skeleton over HTTP, in process: version documents, authentication,
//! project checks, microversions and the fault envelope.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::json;

#[tokio::test]
async fn root_lists_v2_and_v3_with_300_and_needs_no_token() {
    let a = app().await;
    let r = get("/").send(&a.volume_app).await;
    assert_eq!(r.status, StatusCode::MULTIPLE_CHOICES);
    let v = r.body["versions"].as_array().unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0]["id"], "v2.0");
    assert_eq!(v[0]["version"], "");
    assert_eq!(v[1]["id"], "v3.0");
    assert_eq!(v[1]["status"], "CURRENT");
    assert_eq!(v[1]["version"], basalt_api::MAX_MICROVERSION.to_string());
    assert_eq!(v[1]["min_version"], "3.0");
    let self_link = v[1]["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "self")
        .unwrap();
    assert_eq!(self_link["href"], format!("{VOLUME}/v3/"));
    assert!(r
        .header("x-openstack-request-id")
        .unwrap()
        .starts_with("req-"));
    assert_eq!(
        r.header("x-compute-request-id"),
        r.header("x-openstack-request-id")
    );
}

#[tokio::test]
async fn versioned_roots_need_a_token() {
    let a = app().await;
    for path in ["/v2/", "/v3/", "/v2", "/v3"] {
        let r = get(path).send(&a.volume_app).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(r.body["error"]["code"], 401);
        assert!(r.header("www-authenticate").unwrap().contains(IDENTITY));
    }
    let (t, _) = a.admin_token().await;
    let r = get("/v2/").token(&t).send(&a.volume_app).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["versions"][0]["id"], "v2.0");
    let r = get("/v3/").token(&t).send(&a.volume_app).await;
    assert_eq!(r.body["versions"][0]["id"], "v3.0");
    assert_eq!(r.header("openstack-api-version"), Some("volume 3.0"));
}

#[tokio::test]
async fn extensions_are_served_on_v2_and_v3_with_the_json_suffix_too() {
    let a = app().await;
    let (t, p) = a.admin_token().await;
    for path in [
        format!("/v2/{p}/extensions"),
        format!("/v3/{p}/extensions"),
        format!("/v2/{p}/extensions.json"),
    ] {
        let r = get(&path).token(&t).send(&a.volume_app).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(r.body["extensions"].is_array(), "{path}");
    }
    let r = get(&format!("/v2/{p}/extensions/os-nothing"))
        .token(&t)
        .send(&a.volume_app)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["itemNotFound"]["code"], 404);
}

#[tokio::test]
async fn bad_unknown_and_revoked_tokens_are_401() {
    let a = app().await;
    let (t, p) = a.admin_token().await;
    let path = format!("/v2/{p}/extensions");
    let r = get(&path).send(&a.volume_app).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = get(&path).token("not-a-token").send(&a.volume_app).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.body,
        json!({"error": {"code": 401, "title": "Unauthorized",
                         "message": "The request you have made requires authentication."}})
    );
    a.identity.revoke(&t).await.unwrap();
    let r = get(&path).token(&t).send(&a.volume_app).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_token_for_project_a_on_project_b_is_a_malformed_url() {
    let a = app().await;
    let (t, _) = a.admin_token().await;
    let (_, other) = a.member("ivy", "iproj").await;
    let r = get(&format!("/v2/{other}/extensions"))
        .token(&t)
        .send(&a.volume_app)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body,
        json!({"badRequest": {"code": 400, "message": "Malformed request url"}})
    );
}

#[tokio::test]
async fn v3_microversions_are_negotiated_and_echoed() {
    let a = app().await;
    let (t, p) = a.admin_token().await;
    let path = format!("/v3/{p}/extensions");
    for (header, status, echoed) in [
        (None, StatusCode::OK, "volume 3.0"),
        (Some("volume 3.0"), StatusCode::OK, "volume 3.0"),
        (Some("volume latest"), StatusCode::OK, "volume 3.0"),
        (
            Some("compute 2.1, volume 3.0"),
            StatusCode::OK,
            "volume 3.0",
        ),
        (
            Some("volume 3.71"),
            StatusCode::NOT_ACCEPTABLE,
            "volume 3.0",
        ),
        (Some("volume 3.x"), StatusCode::BAD_REQUEST, "volume 3.0"),
        (Some("compute 2.1"), StatusCode::BAD_REQUEST, "volume 3.0"),
    ] {
        let mut r = get(&path).token(&t);
        if let Some(h) = header {
            r = r.header("openstack-api-version", h);
        }
        let r = r.send(&a.volume_app).await;
        assert_eq!(r.status, status, "{header:?}");
        assert_eq!(
            r.header("openstack-api-version"),
            Some(echoed),
            "{header:?}"
        );
        assert_eq!(r.header("vary"), Some("OpenStack-API-Version"));
    }
    let r = get(&path)
        .token(&t)
        .header("openstack-api-version", "volume 3.71")
        .send(&a.volume_app)
        .await;
    assert_eq!(
        r.body["computeFault"]["message"],
        "Version 3.71 is not supported by the API. Minimum is 3.0 and maximum is 3.0."
    );
}

#[tokio::test]
async fn v2_ignores_the_microversion_header() {
    let a = app().await;
    let (t, p) = a.admin_token().await;
    let r = get(&format!("/v2/{p}/extensions"))
        .token(&t)
        .header("openstack-api-version", "volume 3.71")
        .send(&a.volume_app)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("openstack-api-version").is_none());
    assert!(r.header("vary").is_none());
}

#[tokio::test]
async fn unknown_routes_and_methods_use_the_cinder_fault_envelope() {
    let a = app().await;
    let (t, p) = a.admin_token().await;
    let r = get("/nothing").send(&a.volume_app).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.body,
        json!({"itemNotFound": {"code": 404, "message": "The resource could not be found."}})
    );
    let r = get(&format!("/v2/{p}/no-such-collection"))
        .token(&t)
        .send(&a.volume_app)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["itemNotFound"]["code"], 404);
    let r = req(Method::DELETE, &format!("/v2/{p}/extensions"))
        .token(&t)
        .send(&a.volume_app)
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.body["badMethod"]["code"], 405);
}

#[tokio::test]
async fn oversized_and_non_json_bodies_are_refused_before_routing() {
    let a = app().await;
    let (t, p) = a.admin_token().await;
    let path = format!("/v2/{p}/extensions");
    let r = req(Method::POST, &path)
        .token(&t)
        .raw_body(Some("application/json"), vec![b' '; 10 * 1024 * 1024])
        .send(&a.volume_app)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.body["overLimit"]["code"], 413);
    assert_eq!(r.header("retry-after"), Some("0"));
    let r = req(Method::POST, &path)
        .token(&t)
        .raw_body(Some("text/plain"), b"hello".to_vec())
        .send(&a.volume_app)
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        r.body,
        json!({"badMediaType": {"code": 415, "message": "Unsupported Content-Type"}})
    );
}
