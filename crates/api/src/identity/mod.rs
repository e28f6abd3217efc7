//! The Keystone-compatible identity endpoint (default port 5000): v2.0 and v3 tokens, version
//! discovery, and the v3 admin API needed to run a cloud.

mod error;
mod extract;
mod v2;
mod v3_auth;
mod v3_projects;
mod v3_roles;
mod v3_users;
mod versions;
mod views;

use axum::http::StatusCode;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::Router;

use crate::request_id;
use crate::state::ApiState;
use error::KeystoneError;

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(versions::root))
        .route("/v2.0", get(versions::v2))
        .route("/v2.0/", get(versions::v2))
        .route("/v2.0/tokens", post(v2::issue))
        .route(
            "/v2.0/tokens/{token_id}",
            get(v2::validate).head(v2::check).delete(v2::revoke),
        )
        .route("/v2.0/tokens/{token_id}/endpoints", get(v2::endpoints))
        .route("/v2.0/tenants", get(v2::tenants))
        .route("/v3", get(versions::v3))
        .route("/v3/", get(versions::v3))
        .route(
            "/v3/auth/tokens",
            post(v3_auth::issue)
                .get(v3_auth::validate)
                .head(v3_auth::check)
                .delete(v3_auth::revoke),
        )
        .route("/v3/auth/projects", get(v3_auth::projects))
        .route("/v3/auth/catalog", get(v3_auth::catalog))
        .route("/v3/auth/domains", get(v3_auth::domains))
        .route("/v3/users", get(v3_users::list).post(v3_users::create))
        .route(
            "/v3/users/{user_id}",
            get(v3_users::show)
                .patch(v3_users::update)
                .delete(v3_users::delete),
        )
        .route("/v3/users/{user_id}/projects", get(v3_users::projects))
        .route(
            "/v3/users/{user_id}/password",
            post(v3_users::change_password),
        )
        .route(
            "/v3/users/{user_id}/api_keys",
            get(v3_users::list_api_keys).post(v3_users::create_api_key),
        )
        .route(
            "/v3/users/{user_id}/api_keys/{key_id}",
            axum::routing::delete(v3_users::delete_api_key),
        )
        .route(
            "/v3/projects",
            get(v3_projects::list).post(v3_projects::create),
        )
        .route(
            "/v3/projects/{project_id}",
            get(v3_projects::show)
                .patch(v3_projects::update)
                .delete(v3_projects::delete),
        )
        .route(
            "/v3/projects/{project_id}/users/{user_id}/roles",
            get(v3_roles::list_grants),
        )
        .route(
            "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}",
            put(v3_roles::grant)
                .head(v3_roles::check_grant)
                .get(v3_roles::check_grant)
                .delete(v3_roles::revoke_grant),
        )
        .route("/v3/roles", get(v3_roles::list).post(v3_roles::create))
        .route(
            "/v3/roles/{role_id}",
            get(v3_roles::show).delete(v3_roles::delete),
        )
        .route("/v3/role_assignments", get(v3_roles::assignments))
        .route("/v3/domains", get(v3_projects::list_domains))
        .route("/v3/domains/{domain_id}", get(v3_projects::show_domain))
        .fallback(not_found)
        .method_not_allowed_fallback(bad_method)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            www_authenticate,
        ))
        .layer(middleware::from_fn(request_id::identity))
        .with_state(state)
}

/// Every 401 names the identity endpoint, as Keystone's do.
async fn www_authenticate(
    axum::extract::State(s): axum::extract::State<ApiState>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let mut resp = next.run(req).await;
    if resp.status() == StatusCode::UNAUTHORIZED {
        let value = format!("Keystone uri=\"{}\"", s.urls.identity);
        if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
            resp.headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, v);
        }
    }
    resp
}

async fn not_found() -> impl IntoResponse {
    KeystoneError::not_found("The resource could not be found.")
}

async fn bad_method() -> impl IntoResponse {
    KeystoneError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "The method specified is not allowed for the requested URL.",
    )
}
