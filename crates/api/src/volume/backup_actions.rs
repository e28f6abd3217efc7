//! `POST /backups/{id}/restore`, `GET /backups/{id}/export_record`,
//! `POST /backups/import_record` and `POST /backups/{id}/action` (`os-reset_status`,
//! `os-force_delete`, admin). Admin-only endpoints answer 403 before reading their body.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

use super::actions::{no_such_action, single_action};
use super::auth::Context;
use super::backup_views::{self as views, BackupDoc, RecordDoc, RestoreDoc};
use super::fault::ApiResult;
use super::links::Links;
use super::{backup_requests, schema};
use crate::state::ApiState;

pub async fn restore(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<RestoreDoc>)> {
    let body = schema::read_body(&state, &headers, body).await?;
    let request = backup_requests::restore(&body)?;
    let accepted = state.backups.restore(&ctx.caller(), &id, request).await?;
    Ok((StatusCode::ACCEPTED, Json(views::restore(accepted))))
}

pub async fn export_record(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<RecordDoc>> {
    ctx.require_admin("backup:export-import")?;
    let (service, url) = state.backups.export_record(&ctx.caller(), &id).await?;
    Ok(Json(views::record(service, url)))
}

pub async fn import_record(
    ctx: Context,
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<BackupDoc>)> {
    ctx.require_admin("backup:backup-import")?;
    let body = schema::read_body(&state, &headers, body).await?;
    let (service, url) = backup_requests::import_record(&body)?;
    let b = state
        .backups
        .import_record(&ctx.caller(), &service, &url)
        .await?;
    let doc = views::doc(&b, &Links::new(&state, &ctx), false);
    Ok((StatusCode::CREATED, Json(doc)))
}

pub async fn act(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let body = schema::read_body(&state, &headers, body).await?;
    let (name, args) = single_action(&body)?;
    match name {
        "os-reset_status" => {
            ctx.require_admin("volume_extension:backup_admin_actions:reset_status")?;
            let status = backup_requests::reset_status(args)?;
            state
                .backups
                .reset_status(&ctx.caller(), &id, status)
                .await?;
        }
        "os-force_delete" => {
            state.backups.force_delete(&ctx.caller(), &id).await?;
        }
        other => return Err(no_such_action(other)),
    }
    Ok(StatusCode::ACCEPTED)
}
