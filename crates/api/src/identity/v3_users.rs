//! `/v3/users`: admin-only, except that users read themselves, list their projects, change
//! their password and manage their own API keys.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use basalt_identity::{UserPatch, DEFAULT_DOMAIN_ID};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{KeystoneError, KsResult};
use super::extract::{Caller, KsJson};
use super::v3_projects::name_filter;
use super::views::{project_v3, user_v3, CollectionLinks};
use crate::state::ApiState;
use crate::timefmt::keystone;

#[derive(Deserialize)]
pub struct UserBody {
    user: UserFields,
}

/// `Option<Option<_>>` tells "absent" (leave as is) from `null` (clear).
#[derive(Deserialize)]
struct UserFields {
    name: Option<String>,
    domain_id: Option<String>,
    password: Option<String>,
    enabled: Option<bool>,
    #[serde(default, with = "nullable")]
    default_project_id: Option<Option<String>>,
    #[serde(default, with = "nullable")]
    email: Option<Option<String>>,
    #[serde(default, with = "nullable")]
    description: Option<Option<String>>,
}

mod nullable {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Ok(Some(Option::deserialize(d)?))
    }
}

pub async fn list(
    State(s): State<ApiState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> KsResult<Json<Value>> {
    caller.require_admin("identity:list_users")?;
    let base = &s.urls.identity;
    let users = s.identity.list_users(&name_filter(&q)?).await?;
    let views: Vec<_> = users.iter().map(|u| user_v3(u, base)).collect();
    Ok(Json(
        json!({"users": views, "links": CollectionLinks::at(format!("{base}/v3/users"))}),
    ))
}

pub async fn create(
    State(s): State<ApiState>,
    caller: Caller,
    KsJson(body): KsJson<UserBody>,
) -> KsResult<(StatusCode, Json<Value>)> {
    caller.require_admin("identity:create_user")?;
    let f = body.user;
    let name = f.name.ok_or_else(|| {
        KeystoneError::bad_request(
            "Invalid input for field 'name': 'name' is a required property -",
        )
    })?;
    let domain_id = f.domain_id.unwrap_or_else(|| DEFAULT_DOMAIN_ID.to_owned());
    let mut u = s
        .identity
        .create_user(
            &name,
            &domain_id,
            f.password.as_deref(),
            f.enabled.unwrap_or(true),
            f.default_project_id.flatten().as_deref(),
        )
        .await?;
    if f.email.is_some() || f.description.is_some() {
        let patch = UserPatch {
            email: f.email,
            description: f.description,
            ..Default::default()
        };
        u = s.identity.update_user(&u.id, patch).await?;
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": user_v3(&u, &s.urls.identity)})),
    ))
}

pub async fn show(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> KsResult<Json<Value>> {
    caller.require_self_or_admin(&id, "identity:get_user")?;
    let u = s.identity.get_user(&id).await?;
    Ok(Json(json!({"user": user_v3(&u, &s.urls.identity)})))
}

pub async fn update(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    KsJson(body): KsJson<UserBody>,
) -> KsResult<Json<Value>> {
    caller.require_admin("identity:update_user")?;
    let f = body.user;
    let patch = UserPatch {
        name: f.name,
        password: f.password,
        enabled: f.enabled,
        default_project_id: f.default_project_id,
        email: f.email,
        description: f.description,
    };
    let u = s.identity.update_user(&id, patch).await?;
    Ok(Json(json!({"user": user_v3(&u, &s.urls.identity)})))
}

pub async fn delete(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> KsResult<StatusCode> {
    caller.require_admin("identity:delete_user")?;
    s.identity.delete_user(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn projects(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> KsResult<Json<Value>> {
    caller.require_self_or_admin(&id, "identity:list_user_projects")?;
    s.identity.get_user(&id).await?;
    let base = &s.urls.identity;
    let projects = s.identity.projects_of_user(&id).await?;
    let views: Vec<_> = projects.iter().map(|p| project_v3(p, base)).collect();
    Ok(Json(json!({
        "projects": views,
        "links": CollectionLinks::at(format!("{base}/v3/users/{id}/projects")),
    })))
}

#[derive(Deserialize)]
pub struct PasswordChange {
    user: PasswordFields,
}

#[derive(Deserialize)]
struct PasswordFields {
    password: String,
    original_password: String,
}

/// Self-service password change: the original password is checked like a login.
pub async fn change_password(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    KsJson(body): KsJson<PasswordChange>,
) -> KsResult<StatusCode> {
    if caller.token.user.id != id {
        return Err(KeystoneError::forbidden("identity:change_password"));
    }
    s.identity
        .change_password(&id, &body.user.original_password, &body.user.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct ApiKeyBody {
    api_key: Option<ApiKeyFields>,
}

#[derive(Deserialize)]
struct ApiKeyFields {
    description: Option<String>,
}

/// Basalt's own call: a new API key for `apiKeyCredentials`; its secret is shown only here.
pub async fn create_api_key(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Option<KsJson<ApiKeyBody>>,
) -> KsResult<(StatusCode, Json<Value>)> {
    caller.require_self_or_admin(&id, "identity:create_api_key")?;
    let description = body
        .and_then(|KsJson(b)| b.api_key)
        .and_then(|k| k.description)
        .unwrap_or_default();
    let k = s.identity.create_api_key(&id, &description).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"api_key": {
            "id": k.key.id,
            "user_id": k.key.user_id,
            "description": k.key.description,
            "created_at": keystone(k.key.created_at),
            "key": k.secret,
        }})),
    ))
}

pub async fn list_api_keys(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> KsResult<Json<Value>> {
    caller.require_self_or_admin(&id, "identity:list_api_keys")?;
    let keys: Vec<_> = s
        .identity
        .list_api_keys(&id)
        .await?
        .into_iter()
        .map(|k| {
            json!({"id": k.id, "user_id": k.user_id, "description": k.description,
                   "created_at": keystone(k.created_at)})
        })
        .collect();
    Ok(Json(json!({"api_keys": keys})))
}

pub async fn delete_api_key(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, key_id)): Path<(String, String)>,
) -> KsResult<StatusCode> {
    caller.require_self_or_admin(&id, "identity:delete_api_key")?;
    s.identity.delete_api_key(&id, &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
