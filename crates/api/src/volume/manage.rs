//! `os-volume-manage` and `os-snapshot-manage` (admin): the files a backend holds, with
//! whether each may be adopted (`/detail` adds why not and whose it is), and the adoption of
//! one as a new volume (202, the volume shown `creating` until the file is in place).

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use basalt_domain::manage::Manageable;
use serde_json::{json, Value};

use super::auth::Context;
use super::fault::ApiResult;
use super::links::{query_pairs, Links};
use super::snapshot_views::{self, SnapshotDoc};
use super::volume_views::{self as views, Audience, VolumeDoc};
use super::{manage_requests, schema};
use crate::state::ApiState;

fn entry(m: &Manageable, detail: bool, snapshot: bool) -> Value {
    let mut v = json!({
        "reference": {"source-name": m.reference},
        "size": m.size,
        "safe_to_manage": m.safe_to_manage,
    });
    if snapshot {
        v["source_reference"] = match &m.source_reference {
            Some(s) => json!({"source-name": s}),
            None => Value::Null,
        };
    }
    if detail {
        v["reason_not_safe"] = json!(m.reason_not_safe);
        v["cinder_id"] = json!(m.cinder_id);
        v["extra_info"] = Value::Null;
    }
    v
}

async fn volumes(
    state: &ApiState,
    ctx: &Context,
    q: Option<&str>,
    detail: bool,
) -> ApiResult<Json<Value>> {
    ctx.require_admin("volume_extension:list_manageable")?;
    let query = manage_requests::query(&query_pairs(q))?;
    let all = state
        .volumes
        .manageable_volumes(&ctx.caller(), &query)
        .await?;
    let items: Vec<Value> = all.iter().map(|m| entry(m, detail, false)).collect();
    Ok(Json(json!({ "manageable-volumes": items })))
}

async fn snapshots(
    state: &ApiState,
    ctx: &Context,
    q: Option<&str>,
    detail: bool,
) -> ApiResult<Json<Value>> {
    ctx.require_admin("snapshot_extension:list_manageable")?;
    let query = manage_requests::query(&query_pairs(q))?;
    let all = state
        .volumes
        .manageable_snapshots(&ctx.caller(), &query)
        .await?;
    let items: Vec<Value> = all.iter().map(|m| entry(m, detail, true)).collect();
    Ok(Json(json!({ "manageable-snapshots": items })))
}

pub async fn list_volumes(
    ctx: Context,
    State(state): State<ApiState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    volumes(&state, &ctx, q.as_deref(), false).await
}

pub async fn detail_volumes(
    ctx: Context,
    State(state): State<ApiState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    volumes(&state, &ctx, q.as_deref(), true).await
}

pub async fn list_snapshots(
    ctx: Context,
    State(state): State<ApiState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    snapshots(&state, &ctx, q.as_deref(), false).await
}

pub async fn detail_snapshots(
    ctx: Context,
    State(state): State<ApiState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    snapshots(&state, &ctx, q.as_deref(), true).await
}

/// `POST /os-volume-manage`: 403 for a non-admin before the body is read, as Cinder's
/// policy check comes first here.
pub async fn manage_volume(
    ctx: Context,
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<VolumeDoc>)> {
    ctx.require_admin("volume_extension:volume_manage")?;
    let body = schema::read_body(&state, &headers, body).await?;
    let request = manage_requests::manage_volume(&body)?;
    let v = state.volumes.manage_volume(&ctx.caller(), request).await?;
    let who = Audience {
        admin: true,
        extended: false,
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(views::doc(&v, &Links::new(&state, &ctx), who)),
    ))
}

/// `POST /os-snapshot-manage`: 403 for a non-admin before the body is read.
pub async fn manage_snapshot(
    ctx: Context,
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<SnapshotDoc>)> {
    ctx.require_admin("snapshot_extension:snapshot_manage")?;
    let body = schema::read_body(&state, &headers, body).await?;
    let request = manage_requests::manage_snapshot(&body)?;
    let s = state
        .volumes
        .manage_snapshot(&ctx.caller(), request)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(snapshot_views::doc(&s, false))))
}
