//! Identity v2.0: `POST /v2.0/tokens` (password, API key, token re-scope), token validation
//! and revocation, and the tenants of a token's user.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use basalt_identity::{
    AuthRequest, Credentials, DomainSelector, ProjectSelector, ScopeRequest, UserSelector,
    DEFAULT_DOMAIN_ID,
};
use serde::Deserialize;
use serde_json::json;

use super::error::{KeystoneError, KsResult};
use super::extract::{Caller, KsJson};
use super::views::{access_v2, endpoints_v2, TenantV2};
use crate::state::ApiState;

#[derive(Deserialize)]
pub struct TokensRequest {
    auth: Option<AuthV2>,
}

#[derive(Deserialize)]
struct AuthV2 {
    #[serde(rename = "passwordCredentials")]
    password: Option<SecretCredentials>,
    #[serde(rename = "apiKeyCredentials")]
    api_key: Option<SecretCredentials>,
    #[serde(rename = "RAX-KSKEY:apiKeyCredentials")]
    rax_api_key: Option<SecretCredentials>,
    token: Option<TokenRef>,
    #[serde(rename = "tenantId")]
    tenant_id: Option<String>,
    #[serde(rename = "tenantName")]
    tenant_name: Option<String>,
}

#[derive(Deserialize)]
struct SecretCredentials {
    username: Option<String>,
    #[serde(rename = "userId")]
    user_id: Option<String>,
    password: Option<String>,
    #[serde(rename = "apiKey")]
    api_key: Option<String>,
}

#[derive(Deserialize)]
struct TokenRef {
    id: Option<String>,
}

fn v2_user(c: &SecretCredentials, kind: &str) -> KsResult<UserSelector> {
    // v2.0 names users in the default domain only.
    match (&c.user_id, &c.username) {
        (Some(id), _) => Ok(UserSelector::Id(id.clone())),
        (None, Some(name)) => Ok(UserSelector::Name {
            name: name.clone(),
            domain: DomainSelector::Id(DEFAULT_DOMAIN_ID.into()),
        }),
        (None, None) => Err(KeystoneError::bad_request(format!(
            "Expecting to find username or userId in {kind} -"
        ))),
    }
}

fn credentials(auth: &AuthV2) -> KsResult<Credentials> {
    let given = [
        auth.password.is_some(),
        auth.api_key.is_some() || auth.rax_api_key.is_some(),
        auth.token.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(KeystoneError::bad_request(
            "Expecting exactly one of passwordCredentials, apiKeyCredentials or token in auth -",
        ));
    }
    if let Some(c) = &auth.password {
        let password = c.password.clone().ok_or_else(|| {
            KeystoneError::bad_request("Expecting to find password in passwordCredentials -")
        })?;
        return Ok(Credentials::Password {
            user: v2_user(c, "passwordCredentials")?,
            password,
        });
    }
    if let Some(c) = auth.api_key.as_ref().or(auth.rax_api_key.as_ref()) {
        let key = c.api_key.clone().ok_or_else(|| {
            KeystoneError::bad_request("Expecting to find apiKey in apiKeyCredentials -")
        })?;
        return Ok(Credentials::ApiKey {
            user: v2_user(c, "apiKeyCredentials")?,
            key,
        });
    }
    let id = auth
        .token
        .as_ref()
        .and_then(|t| t.id.clone())
        .ok_or_else(|| KeystoneError::bad_request("Expecting to find id in token -"))?;
    Ok(Credentials::Token { id })
}

async fn scope(s: &ApiState, auth: &AuthV2) -> KsResult<ScopeRequest> {
    let by_name = |name: &String| ProjectSelector::Name {
        name: name.clone(),
        domain: DomainSelector::Id(DEFAULT_DOMAIN_ID.into()),
    };
    Ok(match (&auth.tenant_id, &auth.tenant_name) {
        (Some(id), Some(name)) => {
            let named = s
                .identity
                .list_projects(&basalt_identity::NameFilter {
                    name: Some(name.clone()),
                    domain_id: Some(DEFAULT_DOMAIN_ID.into()),
                    enabled: None,
                })
                .await?;
            if !named.iter().any(|p| &p.id == id) {
                return Err(KeystoneError::bad_request(
                    "tenantId and tenantName name different tenants -",
                ));
            }
            ScopeRequest::Project(ProjectSelector::Id(id.clone()))
        }
        (Some(id), None) => ScopeRequest::Project(ProjectSelector::Id(id.clone())),
        (None, Some(name)) => ScopeRequest::Project(by_name(name)),
        (None, None) => ScopeRequest::Unscoped,
    })
}

pub async fn issue(
    State(s): State<ApiState>,
    KsJson(req): KsJson<TokensRequest>,
) -> KsResult<Response> {
    let auth = req
        .auth
        .ok_or_else(|| KeystoneError::bad_request("Expecting to find auth in request body -"))?;
    let request = AuthRequest {
        credentials: credentials(&auth)?,
        scope: scope(&s, &auth).await?,
    };
    let issued = s.identity.issue_token(request).await?;
    let catalog = issued
        .info
        .project_id()
        .map(|p| s.identity.catalog().catalog(p))
        .unwrap_or_default();
    Ok(Json(access_v2(&issued.id, &issued.info, &catalog)).into_response())
}

/// Validation by an admin of someone's token; `belongsTo` must name the token's tenant.
async fn checked(
    s: &ApiState,
    caller: &Caller,
    token_id: &str,
    q: &HashMap<String, String>,
) -> KsResult<std::sync::Arc<basalt_identity::TokenInfo>> {
    caller.require_admin("identity:validate_token")?;
    let info = s
        .identity
        .validate(token_id)
        .await
        .map_err(|_| KeystoneError::not_found(format!("Could not find token: {token_id}.")))?;
    if let Some(tenant) = q.get("belongsTo") {
        if info.project_id() != Some(tenant.as_str()) {
            return Err(KeystoneError::unauthorized());
        }
    }
    Ok(info)
}

pub async fn validate(
    State(s): State<ApiState>,
    caller: Caller,
    Path(token_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> KsResult<Response> {
    let info = checked(&s, &caller, &token_id, &q).await?;
    let catalog = info
        .project_id()
        .map(|p| s.identity.catalog().catalog(p))
        .unwrap_or_default();
    Ok(Json(access_v2(&token_id, &info, &catalog)).into_response())
}

pub async fn check(
    State(s): State<ApiState>,
    caller: Caller,
    Path(token_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> KsResult<StatusCode> {
    checked(&s, &caller, &token_id, &q).await?;
    Ok(StatusCode::OK)
}

pub async fn revoke(
    State(s): State<ApiState>,
    caller: Caller,
    Path(token_id): Path<String>,
) -> KsResult<StatusCode> {
    caller.require_admin("identity:revoke_token")?;
    if !s.identity.revoke(&token_id).await? {
        return Err(KeystoneError::not_found(format!(
            "Could not find token: {token_id}."
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn endpoints(
    State(s): State<ApiState>,
    caller: Caller,
    Path(token_id): Path<String>,
) -> KsResult<Json<serde_json::Value>> {
    let info = checked(&s, &caller, &token_id, &HashMap::new()).await?;
    let catalog = info
        .project_id()
        .map(|p| s.identity.catalog().catalog(p))
        .unwrap_or_default();
    let endpoints: Vec<_> = catalog
        .iter()
        .map(|svc| {
            let mut e = serde_json::to_value(endpoints_v2(svc)).unwrap_or_default();
            e["name"] = json!(svc.name);
            e["type"] = json!(svc.service_type);
            e
        })
        .collect();
    Ok(Json(json!({"endpoints": endpoints, "endpoints_links": []})))
}

pub async fn tenants(
    State(s): State<ApiState>,
    caller: Caller,
) -> KsResult<Json<serde_json::Value>> {
    let projects = s.identity.projects_of_user(&caller.token.user.id).await?;
    let tenants: Vec<TenantV2> = projects.iter().map(TenantV2::from).collect();
    Ok(Json(json!({"tenants": tenants, "tenants_links": []})))
}
