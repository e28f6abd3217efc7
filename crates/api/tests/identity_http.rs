//! The identity endpoint over HTTP, in process: status codes, bodies and headers as Keystone
//! clients expect them.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::json;

const UNAUTHORIZED: &str = "The request you have made requires authentication.";

fn v2_password(user: &str, pw: &str) -> serde_json::Value {
    json!({"auth": {"passwordCredentials": {"username": user, "password": pw}, "tenantName": "admin"}})
}

fn assert_unauthorized(r: &Resp) {
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.body,
        json!({"error": {"code": 401, "title": "Unauthorized", "message": UNAUTHORIZED}})
    );
    assert_eq!(
        r.header("www-authenticate"),
        Some(format!("Keystone uri=\"{IDENTITY}\"").as_str())
    );
}

#[tokio::test]
async fn root_is_300_with_versions_values_and_every_response_has_a_request_id() {
    let a = app().await;
    let r = get("/").send(&a.identity_app).await;
    assert_eq!(r.status, StatusCode::MULTIPLE_CHOICES);
    let values = r.body["versions"]["values"].as_array().unwrap();
    assert_eq!(values[0]["id"], "v3.14");
    assert_eq!(values[0]["status"], "stable");
    assert_eq!(values[0]["links"][0]["href"], format!("{IDENTITY}/v3/"));
    assert_eq!(values[1]["id"], "v2.0");
    assert_eq!(
        r.header("location"),
        Some(format!("{IDENTITY}/v3/").as_str())
    );
    assert!(r
        .header("x-openstack-request-id")
        .unwrap()
        .starts_with("req-"));
    let v3 = get("/v3").send(&a.identity_app).await;
    assert_eq!(v3.body["version"]["id"], "v3.14");
    let v2 = get("/v2.0/").send(&a.identity_app).await;
    assert_eq!(v2.body["version"]["id"], "v2.0");
}

#[tokio::test]
async fn v2_password_token_has_tenant_catalog_and_z_timestamps() {
    let a = app().await;
    let r = post("/v2.0/tokens", v2_password("admin", ADMIN_PASSWORD))
        .send(&a.identity_app)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let access = &r.body["access"];
    assert!(access["token"]["expires"].as_str().unwrap().ends_with('Z'));
    assert_eq!(access["token"]["tenant"]["name"], "admin");
    let pid = access["token"]["tenant"]["id"].as_str().unwrap();
    let types: Vec<&str> = access["serviceCatalog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["identity", "block-storage", "volumev3", "volumev2"]);
    let v2 = &access["serviceCatalog"][3]["endpoints"][0];
    assert_eq!(v2["publicURL"], format!("{VOLUME}/v2/{pid}"));
    assert_eq!(v2["region"], "RegionOne");
    assert!(v2["internalURL"].is_string() && v2["adminURL"].is_string());
    assert_eq!(access["user"]["roles"], json!([{"name": "admin"}]));
}

#[tokio::test]
async fn v2_without_tenant_is_unscoped_with_an_empty_catalog() {
    let a = app().await;
    let body =
        json!({"auth": {"passwordCredentials": {"username": "admin", "password": ADMIN_PASSWORD}}});
    let r = post("/v2.0/tokens", body).send(&a.identity_app).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["access"]["token"].get("tenant").is_none());
    assert_eq!(r.body["access"]["serviceCatalog"], json!([]));
    // ...and it can be re-scoped by tenantId.
    let (_, pid) = a.admin_token().await;
    let id = r.body["access"]["token"]["id"].as_str().unwrap();
    let r = post(
        "/v2.0/tokens",
        json!({"auth": {"token": {"id": id}, "tenantId": pid}}),
    )
    .send(&a.identity_app)
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["access"]["token"]["tenant"]["id"], pid.as_str());
}

#[tokio::test]
async fn v2_user_id_and_tenant_id_work_and_mismatched_tenants_are_400() {
    let a = app().await;
    let (_, pid) = a.admin_token().await;
    let admin = a
        .identity
        .find_user_by_name("default", "admin")
        .await
        .unwrap()
        .unwrap();
    let body = json!({"auth": {"passwordCredentials": {"userId": admin.id, "password": ADMIN_PASSWORD}, "tenantId": pid}});
    let r = post("/v2.0/tokens", body).send(&a.identity_app).await;
    assert_eq!(r.status, StatusCode::OK);
    a.identity
        .create_project("other", "default", "", true)
        .await
        .unwrap();
    let body = json!({"auth": {"passwordCredentials": {"username": "admin", "password": ADMIN_PASSWORD}, "tenantId": pid, "tenantName": "other"}});
    let r = post("/v2.0/tokens", body).send(&a.identity_app).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"]["code"], 400);
}

#[tokio::test]
async fn bad_credentials_of_every_kind_get_the_same_401() {
    let a = app().await;
    a.member("dave", "dproj").await;
    let disabled = a
        .identity
        .create_user("eve", "default", Some("pw"), false, None)
        .await
        .unwrap();
    let _ = disabled;
    for body in [
        v2_password("admin", "wrong"),
        v2_password("nobody", "pw"),
        v2_password("eve", "pw"),
        // dave has no role on project admin
        v2_password("dave", "pw"),
    ] {
        assert_unauthorized(&post("/v2.0/tokens", body).send(&a.identity_app).await);
    }
    for body in [
        v3_password("admin", "wrong", Some("admin")),
        v3_password("dave", "pw", Some("admin")),
    ] {
        assert_unauthorized(&post("/v3/auth/tokens", body).send(&a.identity_app).await);
    }
}

#[tokio::test]
async fn malformed_bodies_get_keystone_errors() {
    let a = app().await;
    let r = req(Method::POST, "/v2.0/tokens")
        .raw_body(Some("application/json"), b"{not json".to_vec())
        .send(&a.identity_app)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"]["title"], "Bad Request");
    let r = post("/v2.0/tokens", json!({"nothing": 1}))
        .send(&a.identity_app)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = post(
        "/v2.0/tokens",
        json!({"auth": {"passwordCredentials": {"password": "x"}}}),
    )
    .send(&a.identity_app)
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("username or userId"));
    let r = req(Method::POST, "/v3/auth/tokens")
        .raw_body(Some("text/plain"), b"hello".to_vec())
        .send(&a.identity_app)
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let big = vec![b' '; 10 * 1024 * 1024];
    let r = req(Method::POST, "/v3/auth/tokens")
        .raw_body(Some("application/json"), big)
        .send(&a.identity_app)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn api_keys_work_in_both_v2_forms() {
    let a = app().await;
    let (token, _) = a.admin_token().await;
    let admin = a
        .identity
        .find_user_by_name("default", "admin")
        .await
        .unwrap()
        .unwrap();
    let r = post(
        &format!("/v3/users/{}/api_keys", admin.id),
        json!({"api_key": {"description": "ci"}}),
    )
    .token(&token)
    .send(&a.identity_app)
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let key = r.body["api_key"]["key"].as_str().unwrap().to_owned();
    for form in ["apiKeyCredentials", "RAX-KSKEY:apiKeyCredentials"] {
        let body =
            json!({"auth": {form: {"username": "admin", "apiKey": key}, "tenantName": "admin"}});
        let r = post("/v2.0/tokens", body).send(&a.identity_app).await;
        assert_eq!(r.status, StatusCode::OK, "{form}");
        let body =
            json!({"auth": {form: {"username": "admin", "apiKey": "nope"}, "tenantName": "admin"}});
        assert_unauthorized(&post("/v2.0/tokens", body).send(&a.identity_app).await);
    }
    let list = get(&format!("/v3/users/{}/api_keys", admin.id))
        .token(&token)
        .send(&a.identity_app)
        .await;
    assert_eq!(list.body["api_keys"].as_array().unwrap().len(), 1);
    assert!(
        list.body["api_keys"][0].get("key").is_none(),
        "secret never listed"
    );
}

#[tokio::test]
async fn v2_token_validation_and_revocation_are_admin_only() {
    let a = app().await;
    let (admin, pid) = a.admin_token().await;
    let (user, upid) = a.member("fred", "fproj").await;
    let r = get(&format!("/v2.0/tokens/{user}"))
        .token(&admin)
        .send(&a.identity_app)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["access"]["user"]["name"], "fred");
    let r = get(&format!("/v2.0/tokens/{user}?belongsTo={pid}"))
        .token(&admin)
        .send(&a.identity_app)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = get(&format!("/v2.0/tokens/{user}?belongsTo={upid}"))
        .token(&admin)
        .send(&a.identity_app)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = req(Method::HEAD, &format!("/v2.0/tokens/{user}"))
        .token(&admin)
        .send(&a.identity_app)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = get(&format!("/v2.0/tokens/{admin}"))
        .token(&user)
        .send(&a.identity_app)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = get("/v2.0/tokens/unknown")
        .token(&admin)
        .send(&a.identity_app)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = get("/v2.0/tenants")
        .token(&user)
        .send(&a.identity_app)
        .await;
    assert_eq!(r.body["tenants"][0]["name"], "fproj");
    let r = req(Method::DELETE, &format!("/v2.0/tokens/{user}"))
        .token(&admin)
        .send(&a.identity_app)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = get("/v2.0/tenants")
        .token(&user)
        .send(&a.identity_app)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn v3_token_is_201_with_subject_header_and_validates() {
    let a = app().await;
    let r = post(
        "/v3/auth/tokens",
        v3_password("admin", ADMIN_PASSWORD, Some("admin")),
    )
    .send(&a.identity_app)
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let token = r.header("x-subject-token").unwrap().to_owned();
    let t = &r.body["token"];
    assert_eq!(t["methods"], json!(["password"]));
    assert_eq!(
        t["user"]["domain"],
        json!({"id": "default", "name": "Default"})
    );
    assert_eq!(t["project"]["domain"]["id"], "default");
    assert!(t["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(t["roles"][0]["name"], "admin");
    let cat = t["catalog"].as_array().unwrap();
    let bs = cat.iter().find(|s| s["type"] == "block-storage").unwrap();
    assert_eq!(bs["endpoints"].as_array().unwrap().len(), 3);
    assert!(bs["endpoints"][0]["url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{VOLUME}/v3/")));

    let v = get("/v3/auth/tokens")
        .token(&token)
        .header("x-subject-token", &token)
        .send(&a.identity_app)
        .await;
    assert_eq!(v.status, StatusCode::OK);
    assert_eq!(v.header("x-subject-token"), Some(token.as_str()));
    let v = get("/v3/auth/tokens?nocatalog")
        .token(&token)
        .header("x-subject-token", &token)
        .send(&a.identity_app)
        .await;
    assert!(v.body["token"].get("catalog").is_none());
    let h = req(Method::HEAD, "/v3/auth/tokens")
        .token(&token)
        .header("x-subject-token", "bogus")
        .send(&a.identity_app)
        .await;
    assert_eq!(h.status, StatusCode::NOT_FOUND);
    let d = req(Method::DELETE, "/v3/auth/tokens")
        .token(&token)
        .header("x-subject-token", &token)
        .send(&a.identity_app)
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    let after = get("/v3/auth/projects")
        .token(&token)
        .send(&a.identity_app)
        .await;
    assert_unauthorized(&after);
}

#[tokio::test]
async fn v3_scope_by_project_id_by_user_id_and_unscoped() {
    let a = app().await;
    let (_, pid) = a.admin_token().await;
    let admin = a
        .identity
        .find_user_by_name("default", "admin")
        .await
        .unwrap()
        .unwrap();
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": admin.id, "password": ADMIN_PASSWORD}}}, "scope": {"project": {"id": pid}}}});
    let r = post("/v3/auth/tokens", body).send(&a.identity_app).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["token"]["project"]["id"], pid.as_str());
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": admin.id, "password": ADMIN_PASSWORD}}}, "scope": "unscoped"}});
    let r = post("/v3/auth/tokens", body).send(&a.identity_app).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.body["token"].get("project").is_none());
    assert!(r.body["token"].get("catalog").is_none());
    let unscoped = r.header("x-subject-token").unwrap().to_owned();
    let body = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": unscoped}}, "scope": {"project": {"id": pid}}}});
    let r = post("/v3/auth/tokens", body).send(&a.identity_app).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["token"]["methods"], json!(["token"]));
    let c = get("/v3/auth/catalog")
        .token(&unscoped)
        .send(&a.identity_app)
        .await;
    assert_eq!(c.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn admin_api_creates_projects_users_and_grants_and_members_are_refused() {
    let a = app().await;
    let (admin, _) = a.admin_token().await;
    let p = post(
        "/v3/projects",
        json!({"project": {"name": "demo", "description": "d"}}),
    )
    .token(&admin)
    .send(&a.identity_app)
    .await;
    assert_eq!(p.status, StatusCode::CREATED);
    assert_eq!(p.body["project"]["domain_id"], "default");
    let pid = p.body["project"]["id"].as_str().unwrap().to_owned();
    let dup = post("/v3/projects", json!({"project": {"name": "demo"}}))
        .token(&admin)
        .send(&a.identity_app)
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    let u = post(
        "/v3/users",
        json!({"user": {"name": "gina", "password": "pw", "default_project_id": pid}}),
    )
    .token(&admin)
    .send(&a.identity_app)
    .await;
    assert_eq!(u.status, StatusCode::CREATED);
    assert!(u.body["user"].get("password").is_none());
    let uid = u.body["user"]["id"].as_str().unwrap().to_owned();
    let roles = get("/v3/roles?name=member")
        .token(&admin)
        .send(&a.identity_app)
        .await;
    let rid = roles.body["roles"][0]["id"].as_str().unwrap().to_owned();
    let grant = format!("/v3/projects/{pid}/users/{uid}/roles/{rid}");
    let g = req(Method::PUT, &grant)
        .token(&admin)
        .send(&a.identity_app)
        .await;
    assert_eq!(g.status, StatusCode::NO_CONTENT);
    let h = req(Method::HEAD, &grant)
        .token(&admin)
        .send(&a.identity_app)
        .await;
    assert_eq!(h.status, StatusCode::NO_CONTENT);
    let ra = get(&format!("/v3/role_assignments?user.id={uid}&include_names"))
        .token(&admin)
        .send(&a.identity_app)
        .await;
    assert_eq!(ra.body["role_assignments"][0]["role"]["name"], "member");
    assert_eq!(
        ra.body["role_assignments"][0]["scope"]["project"]["name"],
        "demo"
    );

    let (gina, _) = a.token_for("gina", "pw", "demo").await;
    let denied = get("/v3/users").token(&gina).send(&a.identity_app).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(denied.body["error"]["code"], 403);
    let own = get(&format!("/v3/users/{uid}"))
        .token(&gina)
        .send(&a.identity_app)
        .await;
    assert_eq!(own.status, StatusCode::OK);

    let r = req(Method::DELETE, &grant)
        .token(&admin)
        .send(&a.identity_app)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let after = get(&format!("/v3/users/{uid}"))
        .token(&gina)
        .send(&a.identity_app)
        .await;
    assert_eq!(
        after.status,
        StatusCode::UNAUTHORIZED,
        "role removal revokes"
    );
    let r = req(Method::HEAD, &grant)
        .token(&admin)
        .send(&a.identity_app)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn users_change_their_own_password() {
    let a = app().await;
    let (tok, _) = a.member("hank", "hproj").await;
    let uid = a
        .identity
        .find_user_by_name("default", "hank")
        .await
        .unwrap()
        .unwrap()
        .id;
    let url = format!("/v3/users/{uid}/password");
    let bad = post(
        &url,
        json!({"user": {"password": "new", "original_password": "nope"}}),
    )
    .token(&tok)
    .send(&a.identity_app)
    .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let ok = post(
        &url,
        json!({"user": {"password": "new", "original_password": "pw"}}),
    )
    .token(&tok)
    .send(&a.identity_app)
    .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    a.token_for("hank", "new", "hproj").await;
}

#[tokio::test]
async fn unknown_routes_and_methods_get_keystone_errors() {
    let a = app().await;
    let r = get("/v3/nothing-here").send(&a.identity_app).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["error"]["code"], 404);
    let r = req(Method::PUT, "/v3/auth/tokens")
        .send(&a.identity_app)
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}
