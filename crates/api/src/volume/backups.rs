//! `/backups`: list (summary and detail, paged), show, create (202), delete (202). Another
//! project's backup does not exist for a non-admin (404, never 403). Restores, records and
//! actions are in `backup_actions.rs`.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use basalt_domain::backup::BackupQuery;

use super::auth::Context;
use super::backup_views::{self as views, BackupDoc, BackupList};
use super::fault::ApiResult;
use super::links::{query_pairs, Links};
use super::{backup_requests, schema};
use crate::state::ApiState;

async fn listing(
    ctx: Context,
    state: ApiState,
    raw_query: Option<String>,
    detail: bool,
) -> ApiResult<Json<BackupList>> {
    let path = if detail { "backups/detail" } else { "backups" };
    let params = query_pairs(raw_query.as_deref());
    let query = BackupQuery::from_params(&params, &ctx.caller(), state.backups.max_page_size())?;
    let backups = state.backups.list(&query).await?;
    let links = Links::new(&state, &ctx);
    let full = !backups.is_empty() && backups.len() == query.limit as usize;
    let next = backups
        .last()
        .filter(|_| full)
        .map(|last| links.next(path, &params, &last.id));
    let items = backups
        .iter()
        .map(|b| views::view(b, &links, detail))
        .collect();
    Ok(Json(BackupList::new(items, next)))
}

pub async fn list(
    ctx: Context,
    State(state): State<ApiState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<BackupList>> {
    listing(ctx, state, q, false).await
}

pub async fn detail(
    ctx: Context,
    State(state): State<ApiState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<BackupList>> {
    listing(ctx, state, q, true).await
}

pub async fn show(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<BackupDoc>> {
    let b = state.backups.get(&ctx.caller(), &id).await?;
    Ok(Json(views::doc(&b, &Links::new(&state, &ctx), true)))
}

pub async fn create(
    ctx: Context,
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<BackupDoc>)> {
    let body = schema::read_body(&state, &headers, body).await?;
    let request = backup_requests::new_backup(&body)?;
    let b = state.backups.create(&ctx.caller(), request).await?;
    let doc = views::doc(&b, &Links::new(&state, &ctx), false);
    Ok((StatusCode::ACCEPTED, Json(doc)))
}

/// Accepted (202): the backup goes `deleting`, and a job removes it from the repository.
pub async fn delete(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.backups.delete(&ctx.caller(), &id).await?;
    Ok(StatusCode::ACCEPTED)
}
