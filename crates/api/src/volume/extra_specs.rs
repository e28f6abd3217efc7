//! `/types/{id}/extra_specs`: list, merge (200, echoing the body), show one (`{key: value}`,
//! no envelope), set one (200, echo) and delete one (202). Admin-only; refused while a volume
//! uses the type.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::auth::Context;
use super::fault::ApiResult;
use super::{schema, type_requests};
use crate::state::ApiState;

pub async fn list(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let specs = state.types.extra_specs(&ctx.caller(), &id).await?;
    Ok(Json(json!({ "extra_specs": specs })))
}

pub async fn create(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    ctx.require_admin("volume_extension:types_extra_specs:create")?;
    let body = schema::read_body(&state, &headers, body).await?;
    let specs = type_requests::extra_specs_body(&body)?;
    let rule = "volume_extension:types_extra_specs:create";
    state
        .types
        .set_extra_specs(&ctx.caller(), &id, &specs, rule)
        .await?;
    Ok(Json(json!({ "extra_specs": specs })))
}

pub async fn show(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id, key)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let value = state.types.extra_spec(&ctx.caller(), &id, &key).await?;
    Ok(Json(json!({ key: value })))
}

pub async fn update(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id, key)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    ctx.require_admin("volume_extension:types_extra_specs:update")?;
    let body = schema::read_body(&state, &headers, body).await?;
    let spec = type_requests::one_spec(&body, &key)?;
    let rule = "volume_extension:types_extra_specs:update";
    state
        .types
        .set_extra_specs(&ctx.caller(), &id, &spec, rule)
        .await?;
    Ok(Json(json!(spec)))
}

pub async fn delete(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id, key)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    state
        .types
        .delete_extra_spec(&ctx.caller(), &id, &key)
        .await?;
    Ok(StatusCode::ACCEPTED)
}
