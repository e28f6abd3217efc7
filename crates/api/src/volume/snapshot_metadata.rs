//! `/snapshots/{id}/metadata[/{key}]`: a snapshot's user metadata, with the bodies, answers and
//! checks of volume metadata (writes answer with the full resulting set, except the one-key
//! PUT, which echoes its item; DELETE answers 200 with an empty body).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

use super::auth::Context;
use super::fault::ApiResult;
use super::metadata::{meta_body, metadata_body, MetaDoc, MetadataDoc};
use super::schema;
use crate::state::ApiState;

pub async fn list(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<MetadataDoc>> {
    let metadata = state.snapshots.metadata(&ctx.caller(), &id).await?;
    Ok(Json(MetadataDoc { metadata }))
}

async fn set_all(
    ctx: Context,
    state: ApiState,
    id: String,
    headers: HeaderMap,
    body: Body,
    replace: bool,
) -> ApiResult<Json<MetadataDoc>> {
    let body = schema::read_body(&state, &headers, body).await?;
    let md = metadata_body(&body)?;
    let metadata = state
        .snapshots
        .set_metadata(&ctx.caller(), &id, md, replace)
        .await?;
    Ok(Json(MetadataDoc { metadata }))
}

/// POST: merges into the current set.
pub async fn merge(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<MetadataDoc>> {
    set_all(ctx, state, id, headers, body, false).await
}

/// PUT: replaces the whole set.
pub async fn replace(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<MetadataDoc>> {
    set_all(ctx, state, id, headers, body, true).await
}

pub async fn show(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id, key)): Path<(String, String, String)>,
) -> ApiResult<Json<MetaDoc>> {
    let value = state
        .snapshots
        .metadata_item(&ctx.caller(), &id, &key)
        .await?;
    Ok(Json(MetaDoc {
        meta: [(key, value)].into(),
    }))
}

pub async fn set(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id, key)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<MetaDoc>> {
    let body = schema::read_body(&state, &headers, body).await?;
    let meta = meta_body(&body, &key)?;
    state
        .snapshots
        .set_metadata(&ctx.caller(), &id, meta.clone(), false)
        .await?;
    Ok(Json(MetaDoc { meta }))
}

pub async fn delete(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id, key)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    state
        .snapshots
        .delete_metadata_item(&ctx.caller(), &id, &key)
        .await?;
    Ok(StatusCode::OK)
}
