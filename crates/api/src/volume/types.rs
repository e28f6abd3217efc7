//! `/types`: list (paged), show (`default` names the default type), create (200), update and
//! delete (202). Anyone lists and shows the types they may use; the rest is admin-only.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use basalt_domain::volume_type::TypeQuery;

use super::auth::Context;
use super::fault::ApiResult;
use super::links::{query_pairs, Links};
use super::type_views::{self as views, TypeDoc, TypeList};
use super::{schema, type_requests};
use crate::state::ApiState;

pub async fn list(
    ctx: Context,
    State(state): State<ApiState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<TypeList>> {
    let params = query_pairs(q.as_deref());
    let max = state.volumes.settings().max_page_size;
    let query = TypeQuery::from_params(&params, &ctx.caller(), max)?;
    let types = state.types.list(&query).await?;
    let full = !types.is_empty() && types.len() == query.limit as usize;
    let next = types
        .last()
        .filter(|_| full)
        .map(|last| Links::new(&state, &ctx).next("types", &params, &last.id));
    let admin = ctx.is_admin();
    let items = types.iter().map(|t| views::view(t, admin, true)).collect();
    Ok(Json(TypeList::new(items, next)))
}

pub async fn show(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<TypeDoc>> {
    let t = state.types.get(&ctx.caller(), &id).await?;
    Ok(Json(views::doc(&t, ctx.is_admin(), true)))
}

pub async fn create(
    ctx: Context,
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<TypeDoc>> {
    ctx.require_admin("volume_extension:types_manage")?;
    let body = schema::read_body(&state, &headers, body).await?;
    let new = type_requests::new_type(&body)?;
    let t = state.types.create(&ctx.caller(), new).await?;
    Ok(Json(views::doc(&t, true, true)))
}

pub async fn update(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<TypeDoc>> {
    ctx.require_admin("volume_extension:types_manage")?;
    let body = schema::read_body(&state, &headers, body).await?;
    let update = type_requests::type_update(&body)?;
    let t = state.types.update(&ctx.caller(), &id, update).await?;
    Ok(Json(views::doc(&t, true, false)))
}

pub async fn delete(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.types.delete(&ctx.caller(), &id).await?;
    Ok(StatusCode::ACCEPTED)
}
