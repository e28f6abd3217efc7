//! `/snapshots`: list (summary and detail, paged), show, create (202), update, delete (202).
//! Another project's snapshot does not exist for a non-admin (404, never 403).

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use basalt_domain::snapshot::{Snapshot, SnapshotQuery};

use super::auth::Context;
use super::fault::ApiResult;
use super::links::{query_pairs, Link, Links};
use super::snapshot_views::{self as views, SnapshotDoc, SnapshotList};
use super::{schema, snapshot_requests};
use crate::state::ApiState;

/// One page of the caller's snapshots, and the link to the next page when this one is full.
async fn page(
    state: &ApiState,
    ctx: &Context,
    raw_query: Option<&str>,
    path: &str,
) -> ApiResult<(Vec<Snapshot>, Option<Link>)> {
    let params = query_pairs(raw_query);
    let max = state.volumes.settings().max_page_size;
    let query = SnapshotQuery::from_params(&params, &ctx.caller(), max)?;
    let snapshots = state.snapshots.list(&query).await?;
    let full = !snapshots.is_empty() && snapshots.len() == query.limit as usize;
    let next = snapshots
        .last()
        .filter(|_| full)
        .map(|last| Links::new(state, ctx).next(path, &params, &last.id));
    Ok((snapshots, next))
}

async fn listing(
    ctx: Context,
    state: ApiState,
    raw_query: Option<String>,
    detail: bool,
) -> ApiResult<Json<SnapshotList>> {
    let path = if detail {
        "snapshots/detail"
    } else {
        "snapshots"
    };
    let (snapshots, next) = page(&state, &ctx, raw_query.as_deref(), path).await?;
    let items = snapshots.iter().map(|s| views::view(s, detail)).collect();
    Ok(Json(SnapshotList::new(items, next)))
}

/// The summary list: v2 shows every field but the extension attributes.
pub async fn list(
    ctx: Context,
    State(state): State<ApiState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<SnapshotList>> {
    listing(ctx, state, q, false).await
}

pub async fn detail(
    ctx: Context,
    State(state): State<ApiState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<SnapshotList>> {
    listing(ctx, state, q, true).await
}

pub async fn show(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<SnapshotDoc>> {
    let s = state.snapshots.get(&ctx.caller(), &id).await?;
    Ok(Json(views::doc(&s, true)))
}

pub async fn create(
    ctx: Context,
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<SnapshotDoc>)> {
    let body = schema::read_body(&state, &headers, body).await?;
    let request = snapshot_requests::new_snapshot(&body)?;
    let s = state.snapshots.create(&ctx.caller(), request).await?;
    Ok((StatusCode::ACCEPTED, Json(views::doc(&s, false))))
}

pub async fn update(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<SnapshotDoc>> {
    let body = schema::read_body(&state, &headers, body).await?;
    let update = snapshot_requests::snapshot_update(&body)?;
    let s = state.snapshots.update(&ctx.caller(), &id, update).await?;
    Ok(Json(views::doc(&s, false)))
}

/// Accepted (202): the snapshot goes `deleting`, and a job removes it.
pub async fn delete(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.snapshots.delete(&ctx.caller(), &id).await?;
    Ok(StatusCode::ACCEPTED)
}
