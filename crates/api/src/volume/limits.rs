//! `GET /limits`: the caller's absolute limits (its quota; -1 is unlimited) and what it uses
//! (Cinder's `os-used-limits` keys). There are no rate limits: `rate` is always empty.

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::auth::Context;
use super::fault::ApiResult;
use crate::state::ApiState;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AbsoluteLimits {
    max_total_volumes: i64,
    max_total_snapshots: i64,
    max_total_volume_gigabytes: i64,
    max_total_backups: i64,
    max_total_backup_gigabytes: i64,
    total_volumes_used: i64,
    total_gigabytes_used: i64,
    total_snapshots_used: i64,
    total_backups_used: i64,
    total_backup_gigabytes_used: i64,
}

#[derive(Debug, Serialize)]
pub struct LimitsView {
    rate: [(); 0],
    absolute: AbsoluteLimits,
}

#[derive(Debug, Serialize)]
pub struct LimitsDoc {
    limits: LimitsView,
}

pub async fn show(ctx: Context, State(state): State<ApiState>) -> ApiResult<Json<LimitsDoc>> {
    let l = state.quotas.limits(&ctx.caller()).await?;
    let absolute = AbsoluteLimits {
        max_total_volumes: l.max_total_volumes,
        max_total_snapshots: l.max_total_snapshots,
        max_total_volume_gigabytes: l.max_total_volume_gigabytes,
        max_total_backups: l.max_total_backups,
        max_total_backup_gigabytes: l.max_total_backup_gigabytes,
        total_volumes_used: l.usage.volumes,
        total_gigabytes_used: l.usage.gigabytes,
        total_snapshots_used: l.usage.snapshots,
        total_backups_used: l.usage.backups,
        total_backup_gigabytes_used: l.usage.backup_gigabytes,
    };
    Ok(Json(LimitsDoc {
        limits: LimitsView { rate: [], absolute },
    }))
}
