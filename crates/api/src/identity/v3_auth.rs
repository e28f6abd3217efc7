//! Identity v3 tokens: `POST /v3/auth/tokens` (password or token; project scope or none),
//! validation and revocation through `X-Subject-Token`, and the caller's projects and catalog.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use basalt_identity::{
    AuthRequest, Credentials, DomainSelector, ProjectSelector, ScopeRequest, UserSelector,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{KeystoneError, KsResult};
use super::extract::{Caller, KsJson};
use super::views::{catalog_v3, project_v3, token_v3, CollectionLinks};
use crate::state::ApiState;

#[derive(Deserialize)]
pub struct AuthTokensRequest {
    auth: Option<AuthV3>,
}

#[derive(Deserialize)]
struct AuthV3 {
    identity: Option<IdentityV3>,
    scope: Option<Value>,
}

#[derive(Deserialize)]
struct IdentityV3 {
    methods: Vec<String>,
    password: Option<PasswordV3>,
    token: Option<TokenRefV3>,
}

#[derive(Deserialize)]
struct PasswordV3 {
    user: Option<UserV3Ref>,
}

#[derive(Deserialize)]
struct UserV3Ref {
    id: Option<String>,
    name: Option<String>,
    domain: Option<DomainRef>,
    password: Option<String>,
}

#[derive(Deserialize)]
struct DomainRef {
    id: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct TokenRefV3 {
    id: Option<String>,
}

#[derive(Deserialize)]
struct ProjectRef {
    id: Option<String>,
    name: Option<String>,
    domain: Option<DomainRef>,
}

fn missing(what: &str) -> KeystoneError {
    KeystoneError::bad_request(format!("Expecting to find {what} in request body -"))
}

fn domain(d: Option<&DomainRef>, owner: &str) -> KsResult<DomainSelector> {
    match d {
        Some(DomainRef { id: Some(id), .. }) => Ok(DomainSelector::Id(id.clone())),
        Some(DomainRef { name: Some(n), .. }) => Ok(DomainSelector::Name(n.clone())),
        _ => Err(missing(&format!("domain id or name of the {owner}"))),
    }
}

fn credentials(identity: &IdentityV3) -> KsResult<Credentials> {
    match identity.methods.as_slice() {
        [m] if m == "password" => {
            let user = identity
                .password
                .as_ref()
                .and_then(|p| p.user.as_ref())
                .ok_or_else(|| missing("password.user"))?;
            let password = user.password.clone().ok_or_else(|| missing("password"))?;
            let selector = match (&user.id, &user.name) {
                (Some(id), _) => UserSelector::Id(id.clone()),
                (None, Some(name)) => UserSelector::Name {
                    name: name.clone(),
                    domain: domain(user.domain.as_ref(), "user")?,
                },
                (None, None) => return Err(missing("user id or name")),
            };
            Ok(Credentials::Password {
                user: selector,
                password,
            })
        }
        [m] if m == "token" => {
            let id = identity
                .token
                .as_ref()
                .and_then(|t| t.id.clone())
                .ok_or_else(|| missing("token.id"))?;
            Ok(Credentials::Token { id })
        }
        // Other methods (application credentials, TOTP, multi-factor) are not offered.
        _ => Err(KeystoneError::unauthorized()),
    }
}

fn scope(scope: Option<&Value>) -> KsResult<ScopeRequest> {
    let Some(scope) = scope else {
        return Ok(ScopeRequest::Default);
    };
    if scope.as_str() == Some("unscoped") {
        return Ok(ScopeRequest::Unscoped);
    }
    let Some(project) = scope.get("project") else {
        // Domain and system scopes need domain or system role assignments, which Basalt does
        // not grant: such a request cannot be authorized.
        return Err(KeystoneError::unauthorized());
    };
    let p: ProjectRef = serde_json::from_value(project.clone())
        .map_err(|e| KeystoneError::bad_request(format!("Invalid scope.project: {e} -")))?;
    match (p.id, p.name) {
        (Some(id), _) => Ok(ScopeRequest::Project(ProjectSelector::Id(id))),
        (None, Some(name)) => Ok(ScopeRequest::Project(ProjectSelector::Name {
            name,
            domain: domain(p.domain.as_ref(), "project")?,
        })),
        (None, None) => Err(missing("project id or name in scope")),
    }
}

pub async fn issue(
    State(s): State<ApiState>,
    Query(q): Query<HashMap<String, String>>,
    KsJson(req): KsJson<AuthTokensRequest>,
) -> KsResult<Response> {
    let nocatalog = q.contains_key("nocatalog");
    let auth = req.auth.ok_or_else(|| missing("auth"))?;
    let identity = auth.identity.as_ref().ok_or_else(|| missing("identity"))?;
    let request = AuthRequest {
        credentials: credentials(identity)?,
        scope: scope(auth.scope.as_ref())?,
    };
    let issued = s.identity.issue_token(request).await?;
    Ok(token_response(
        &s,
        StatusCode::CREATED,
        &issued.id,
        &issued.info,
        nocatalog,
    ))
}

fn token_response(
    s: &ApiState,
    status: StatusCode,
    id: &str,
    info: &basalt_identity::TokenInfo,
    nocatalog: bool,
) -> Response {
    let catalog = (!nocatalog)
        .then(|| info.project_id().map(|p| s.identity.catalog().catalog(p)))
        .flatten();
    let mut resp = (status, Json(token_v3(info, catalog.as_deref()))).into_response();
    if let Ok(v) = HeaderValue::from_str(id) {
        resp.headers_mut().insert("x-subject-token", v);
    }
    resp
}

fn subject(headers: &HeaderMap) -> KsResult<String> {
    headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| missing("X-Subject-Token header"))
}

/// Admins validate any token; a user validates their own.
async fn validated(
    s: &ApiState,
    caller: &Caller,
    headers: &HeaderMap,
) -> KsResult<(String, std::sync::Arc<basalt_identity::TokenInfo>)> {
    let id = subject(headers)?;
    let info = s
        .identity
        .validate(&id)
        .await
        .map_err(|_| KeystoneError::not_found(format!("Could not find token: {id}.")))?;
    caller.require_self_or_admin(&info.user.id, "identity:validate_token")?;
    Ok((id, info))
}

pub async fn validate(
    State(s): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> KsResult<Response> {
    let (id, info) = validated(&s, &caller, &headers).await?;
    Ok(token_response(
        &s,
        StatusCode::OK,
        &id,
        &info,
        q.contains_key("nocatalog"),
    ))
}

pub async fn check(
    State(s): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
) -> KsResult<StatusCode> {
    validated(&s, &caller, &headers).await?;
    Ok(StatusCode::OK)
}

pub async fn revoke(
    State(s): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
) -> KsResult<StatusCode> {
    let (id, _) = validated(&s, &caller, &headers).await?;
    s.identity.revoke(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn projects(State(s): State<ApiState>, caller: Caller) -> KsResult<Json<Value>> {
    let base = &s.urls.identity;
    let projects = s.identity.projects_of_user(&caller.token.user.id).await?;
    let views: Vec<_> = projects.iter().map(|p| project_v3(p, base)).collect();
    Ok(Json(json!({
        "projects": views,
        "links": CollectionLinks::at(format!("{base}/v3/auth/projects")),
    })))
}

pub async fn catalog(State(s): State<ApiState>, caller: Caller) -> KsResult<Json<Value>> {
    let project = caller.token.project_id().ok_or_else(|| {
        KeystoneError::new(
            StatusCode::FORBIDDEN,
            "A project-scoped token is required to produce a service catalog.",
        )
    })?;
    let base = &s.urls.identity;
    Ok(Json(json!({
        "catalog": catalog_v3(&s.identity.catalog().catalog(project)),
        "links": CollectionLinks::at(format!("{base}/v3/auth/catalog")),
    })))
}

pub async fn domains(State(s): State<ApiState>, _caller: Caller) -> Json<Value> {
    // Basalt grants roles on projects only, so no domain can be a token scope.
    let base = &s.urls.identity;
    Json(json!({"domains": [], "links": CollectionLinks::at(format!("{base}/v3/auth/domains"))}))
}
