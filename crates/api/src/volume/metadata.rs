//! `/volumes/{id}/metadata[/{key}]`: a volume's user metadata (the admin keys merged into the
//! volume view are not shown here). Writes answer with the full resulting set, except the
//! one-key PUT, which echoes its item; DELETE answers 200 with an empty body.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use basalt_domain::metadata::Metadata;
use serde::Serialize;
use serde_json::Value;

use super::auth::Context;
use super::fault::{ApiError, ApiResult};
use super::schema;
use crate::state::ApiState;

#[derive(Debug, Serialize)]
pub struct MetadataDoc {
    pub metadata: Metadata,
}

#[derive(Debug, Serialize)]
pub struct MetaDoc {
    pub meta: Metadata,
}

/// `{"metadata": {...}}` for POST and PUT of the whole set.
pub(super) fn metadata_body(body: &Value) -> ApiResult<Metadata> {
    let md = schema::envelope(body, "metadata", &["metadata"])?;
    schema::metadata("metadata", md, false)
}

/// `{"meta": {key: value}}`: exactly the key of the URL.
pub(super) fn meta_body(body: &Value, key: &str) -> ApiResult<Metadata> {
    let md = schema::envelope(body, "meta", &["meta"])?;
    let md = schema::metadata("meta", md, false)?;
    if !md.contains_key(key) {
        return Err(ApiError::BadRequest("Request body and URI mismatch".into()));
    }
    if md.len() > 1 {
        return Err(ApiError::BadRequest(
            "Request body contains too many items".into(),
        ));
    }
    Ok(md)
}

pub async fn list(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<MetadataDoc>> {
    let metadata = state.volumes.metadata(&ctx.caller(), &id).await?;
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
        .volumes
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
        .volumes
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
        .volumes
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
        .volumes
        .delete_metadata_item(&ctx.caller(), &id, &key)
        .await?;
    Ok(StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(r: ApiResult<Metadata>) -> String {
        match r {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn one_key_bodies_must_match_the_uri_and_hold_one_item() {
        assert!(meta_body(&json!({"meta": {"k": "v"}}), "k").is_ok());
        assert_eq!(
            message(meta_body(&json!({"meta": {"j": "v"}}), "k")),
            "Request body and URI mismatch"
        );
        assert_eq!(
            message(meta_body(&json!({"meta": {"k": "v", "j": "w"}}), "k")),
            "Request body contains too many items"
        );
        assert!(meta_body(&json!({"metadata": {"k": "v"}}), "k").is_err());
    }
}
