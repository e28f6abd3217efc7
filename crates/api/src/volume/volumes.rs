//! `/volumes`: list (summary and detail, paged), show, create (202), update, delete (202).
//! Another project's volume does not exist for a non-admin (404, never 403).

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use basalt_domain::volume::{Volume, VolumeQuery};

use super::auth::Context;
use super::fault::ApiResult;
use super::links::{query_pairs, Link, Links};
use super::volume_views::{
    self as views, Audience, VolumeDoc, VolumeList, VolumeSummary, VolumeView,
};
use super::{schema, volume_requests};
use crate::state::ApiState;

/// One page of the caller's volumes, and the link to the next page when this one is full.
async fn page(
    state: &ApiState,
    ctx: &Context,
    raw_query: Option<&str>,
    path: &str,
) -> ApiResult<(Vec<Volume>, Option<Link>)> {
    let params = query_pairs(raw_query);
    let max = state.volumes.settings().max_page_size;
    let query = VolumeQuery::from_params(&params, &ctx.caller(), max)?;
    let volumes = state.volumes.list(&query).await?;
    let full = !volumes.is_empty() && volumes.len() == query.limit as usize;
    let next = volumes
        .last()
        .filter(|_| full)
        .map(|last| Links::new(state, ctx).next(path, &params, &last.id));
    Ok((volumes, next))
}

pub async fn list(
    ctx: Context,
    State(state): State<ApiState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<VolumeList<VolumeSummary>>> {
    let (volumes, next) = page(&state, &ctx, q.as_deref(), "volumes").await?;
    let links = Links::new(&state, &ctx);
    let items = volumes.iter().map(|v| views::summary(v, &links)).collect();
    Ok(Json(VolumeList::new(items, next)))
}

pub async fn detail(
    ctx: Context,
    State(state): State<ApiState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<VolumeList<VolumeView>>> {
    let (volumes, next) = page(&state, &ctx, q.as_deref(), "volumes/detail").await?;
    let links = Links::new(&state, &ctx);
    let who = Audience {
        admin: ctx.is_admin(),
        extended: true,
    };
    let items = volumes
        .iter()
        .map(|v| views::detail(v, &links, who))
        .collect();
    Ok(Json(VolumeList::new(items, next)))
}

pub async fn show(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<VolumeDoc>> {
    let v = state.volumes.get(&ctx.caller(), &id).await?;
    let who = Audience {
        admin: ctx.is_admin(),
        extended: true,
    };
    Ok(Json(views::doc(&v, &Links::new(&state, &ctx), who)))
}

pub async fn create(
    ctx: Context,
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<VolumeDoc>)> {
    let body = schema::read_body(&state, &headers, body).await?;
    let request = volume_requests::new_volume(&body)?;
    let v = state.volumes.create(&ctx.caller(), request).await?;
    let who = Audience {
        admin: ctx.is_admin(),
        extended: false,
    };
    let doc = views::doc(&v, &Links::new(&state, &ctx), who);
    Ok((StatusCode::ACCEPTED, Json(doc)))
}

pub async fn update(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<VolumeDoc>> {
    let body = schema::read_body(&state, &headers, body).await?;
    let update = volume_requests::volume_update(&body)?;
    let v = state.volumes.update(&ctx.caller(), &id, update).await?;
    let who = Audience {
        admin: ctx.is_admin(),
        extended: false,
    };
    Ok(Json(views::doc(&v, &Links::new(&state, &ctx), who)))
}

/// `cascade` (a boolean, as in Cinder) deletes the volume's snapshots with it; without it a
/// volume with snapshots is refused. `force` belongs to v3.23 and is ignored below it.
pub async fn delete(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let cascade = schema::bool_param(&query_pairs(q.as_deref()), "cascade")?;
    state.volumes.delete(&ctx.caller(), &id, cascade).await?;
    Ok(StatusCode::ACCEPTED)
}
