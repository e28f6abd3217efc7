//! `/types/{id}/encryption` (admin): show (`{}` when none), show one field, create (200,
//! echo), update (200, echo) and delete (202); and `GET /volumes/{id}/encryption`, the
//! volume's encryption metadata, for its owner.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::Value;

use super::auth::Context;
use super::fault::{ApiError, ApiResult};
use super::type_views as views;
use super::{schema, type_requests};
use crate::state::ApiState;

pub async fn show(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let e = state.types.encryption(&ctx.caller(), &id).await?;
    Ok(Json(views::encryption(e.as_ref())))
}

pub async fn show_field(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id, key)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let e = state.types.encryption(&ctx.caller(), &id).await?;
    let all = views::encryption(e.as_ref());
    match all.get(&key) {
        Some(v) => Ok(Json(serde_json::json!({ key: v }))),
        None => Err(ApiError::NotFound(format!(
            "Volume type encryption for type {id} does not exist."
        ))),
    }
}

pub async fn create(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    ctx.require_admin("volume_extension:volume_type_encryption:create")?;
    let body = schema::read_body(&state, &headers, body).await?;
    let change = type_requests::encryption(&body, true)?;
    let e = state
        .types
        .create_encryption(&ctx.caller(), &id, change)
        .await?;
    Ok(Json(views::encryption_echo(&body, &e)))
}

pub async fn update(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id, _encryption_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    ctx.require_admin("volume_extension:volume_type_encryption:update")?;
    let body = schema::read_body(&state, &headers, body).await?;
    let change = type_requests::encryption(&body, false)?;
    let e = state
        .types
        .update_encryption(&ctx.caller(), &id, change)
        .await?;
    Ok(Json(views::encryption_echo(&body, &e)))
}

pub async fn delete(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id, _encryption_id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    state.types.delete_encryption(&ctx.caller(), &id).await?;
    Ok(StatusCode::ACCEPTED)
}

pub async fn volume(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let e = state
        .volumes
        .encryption_metadata(&ctx.caller(), &id)
        .await?;
    Ok(Json(views::volume_encryption(e.as_ref())))
}

/// One field as a bare JSON value (Cinder returns `"luks"`, not an object).
pub async fn volume_field(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id, key)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let e = state
        .volumes
        .encryption_metadata(&ctx.caller(), &id)
        .await?;
    let all = views::volume_encryption(e.as_ref());
    all.get(&key)
        .cloned()
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("Volume {id} has no encryption field {key}.")))
}
