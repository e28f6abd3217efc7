//! `/os-volume-transfer`: list (summary and detail, paged), show, create (202, with the auth
//! key), accept (202, by anyone holding the key) and delete (202). Another project's transfer
//! does not exist for a non-admin (404), except to `accept`, which finds it by id alone.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use basalt_domain::transfer::{Transfer, TransferQuery};
use basalt_domain::DomainError;

use super::auth::Context;
use super::fault::{ApiError, ApiResult};
use super::links::{query_pairs, Link, Links};
use super::schema;
use super::transfer_requests;
use super::transfer_views::{self as views, Shape, TransferDoc, TransferList};
use crate::state::ApiState;

/// One page of the caller's transfers, and the link to the next page when this one is full.
async fn page(
    state: &ApiState,
    ctx: &Context,
    raw_query: Option<&str>,
    path: &str,
) -> ApiResult<(Vec<Transfer>, Option<Link>)> {
    let params = query_pairs(raw_query);
    let max = state.volumes.settings().max_page_size;
    let query = TransferQuery::from_params(&params, &ctx.caller(), max)?;
    let transfers = state.transfers.list(&query).await?;
    let full = !transfers.is_empty() && transfers.len() == query.limit as usize;
    let next = transfers
        .last()
        .filter(|_| full)
        .map(|last| Links::new(state, ctx).next(path, &params, &last.id));
    Ok((transfers, next))
}

async fn listing(
    ctx: Context,
    state: ApiState,
    raw_query: Option<String>,
    shape: Shape,
) -> ApiResult<Json<TransferList>> {
    let path = match shape {
        Shape::Summary => "os-volume-transfer",
        Shape::Detail => "os-volume-transfer/detail",
    };
    let (transfers, next) = page(&state, &ctx, raw_query.as_deref(), path).await?;
    let links = Links::new(&state, &ctx);
    let items = transfers
        .iter()
        .map(|t| views::view(t, shape, &links))
        .collect();
    Ok(Json(TransferList::new(items, next)))
}

pub async fn list(
    ctx: Context,
    State(state): State<ApiState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<TransferList>> {
    listing(ctx, state, q, Shape::Summary).await
}

pub async fn detail(
    ctx: Context,
    State(state): State<ApiState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<TransferList>> {
    listing(ctx, state, q, Shape::Detail).await
}

pub async fn show(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<TransferDoc>> {
    let t = state.transfers.get(&ctx.caller(), &id).await?;
    Ok(Json(views::doc(
        &t,
        Shape::Detail,
        &Links::new(&state, &ctx),
    )))
}

pub async fn create(
    ctx: Context,
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<TransferDoc>)> {
    let body = schema::read_body(&state, &headers, body).await?;
    let request = transfer_requests::new_transfer(&body)?;
    let (t, key) = state.transfers.create(&ctx.caller(), request).await?;
    let links = Links::new(&state, &ctx);
    Ok((StatusCode::ACCEPTED, Json(views::created(&t, key, &links))))
}

pub async fn accept(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<TransferDoc>)> {
    let body = schema::read_body(&state, &headers, body).await?;
    let key = transfer_requests::auth_key(&body)?;
    let t = state
        .transfers
        .accept(&ctx.caller(), &id, &key)
        .await
        .map_err(|e| match e {
            // Cinder's controller catches this one itself and shows the message without the
            // exception's class name; the other quota errors reach its fault wrapper.
            DomainError::QuotaExceeded(q) if q.resource.starts_with("gigabytes") => {
                ApiError::OverLimit(q.size_explanation())
            }
            other => other.into(),
        })?;
    let links = Links::new(&state, &ctx);
    Ok((
        StatusCode::ACCEPTED,
        Json(views::doc(&t, Shape::Summary, &links)),
    ))
}

/// Accepted (202): the offer is gone and the volume `available` again.
pub async fn delete(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.transfers.delete(&ctx.caller(), &id).await?;
    Ok(StatusCode::ACCEPTED)
}
