//! The operator's endpoints: `os-services` (list; enable, disable, disable-log-reason),
//! `os-availability-zone`, `os-hosts` (list, show), `scheduler-stats/get_pools` and
//! `capabilities/{host}`, with Cinder's shapes. All admin-only but the zone list.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use basalt_domain::backends::{ServiceView, VOLUME_BINARY};
use serde_json::{json, Value};

use super::auth::Context;
use super::fault::{ApiError, ApiResult};
use super::links::query_pairs;
use super::schema;
use crate::state::ApiState;
use crate::timefmt;

fn param(q: Option<&str>, name: &str) -> Option<String> {
    query_pairs(q)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn service(v: &ServiceView) -> Value {
    let r = &v.record;
    let mut out = json!({
        "binary": r.binary,
        "host": r.host,
        "zone": r.availability_zone,
        "status": if r.disabled { "disabled" } else { "enabled" },
        "state": if v.up { "up" } else { "down" },
        "updated_at": timefmt::cinder(r.heartbeat_at),
        "disabled_reason": r.disabled_reason,
    });
    if r.binary == VOLUME_BINARY {
        // Basalt's backends do not replicate.
        out["replication_status"] = json!("disabled");
        out["active_backend_id"] = Value::Null;
        out["frozen"] = json!(false);
    }
    out
}

pub async fn services(
    ctx: Context,
    State(state): State<ApiState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let host = param(q.as_deref(), "host");
    let binary = param(q.as_deref(), "binary");
    let all = state
        .operator
        .services(&ctx.caller(), host.as_deref(), binary.as_deref())
        .await?;
    Ok(Json(
        json!({"services": all.iter().map(service).collect::<Vec<_>>()}),
    ))
}

/// `PUT /os-services/{enable|disable|disable-log-reason}`.
pub async fn update_service(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    ctx.require_admin("volume_extension:services:update")?;
    let (disabled, with_reason) = match action.as_str() {
        "enable" => (false, false),
        "disable" => (true, false),
        "disable-log-reason" => (true, true),
        "freeze" | "thaw" | "failover_host" => {
            return Err(ApiError::BadRequest(
                "Invalid input received: Basalt's backends do not replicate, so there is \
                 nothing to freeze, thaw or fail over."
                    .into(),
            ))
        }
        _ => {
            return Err(ApiError::BadRequest(
                "Invalid input received: Unknown action".into(),
            ))
        }
    };
    let body = schema::read_body(&state, &headers, body).await?;
    let obj = schema::object(None, &body)?;
    let mut allowed = vec!["binary", "host", "cluster", "service"];
    if with_reason {
        allowed.push("disabled_reason");
    }
    schema::only_keys(None, &body, obj, &allowed)?;
    let text = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (host, service_key, binary) = (text("host"), text("service"), text("binary"));
    if host.is_empty() {
        return Err(ApiError::BadRequest(
            "Invalid input received: Missing required element 'host' in request body.".into(),
        ));
    }
    let binary_key = if binary.is_empty() {
        &service_key
    } else {
        &binary
    };
    if binary_key.is_empty() {
        return Err(ApiError::BadRequest(
            "'binary' is a required property".into(),
        ));
    }
    let reason =
        if with_reason {
            match obj.get("disabled_reason").and_then(Value::as_str) {
                Some(r) if !r.trim().is_empty() && r.chars().count() <= 255 => Some(r.to_owned()),
                _ => return Err(ApiError::BadRequest(
                    "Invalid input received: Disabled reason contains invalid characters or is \
                     too long"
                        .into(),
                )),
            }
        } else {
            None
        };
    state
        .operator
        .set_disabled(
            &ctx.caller(),
            &host,
            binary_key,
            disabled,
            reason.as_deref(),
        )
        .await?;
    let mut out = json!({
        "host": host,
        "service": service_key,
        "binary": binary,
        "status": if disabled { "disabled" } else { "enabled" },
        "disabled": disabled,
    });
    if let Some(r) = reason {
        out["disabled_reason"] = json!(r);
    }
    Ok(Json(out))
}

pub async fn zones(_ctx: Context, State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    let zones = state.operator.zones().await?;
    let items: Vec<Value> = zones
        .iter()
        .map(|(z, ok)| json!({"zoneName": z, "zoneState": {"available": ok}}))
        .collect();
    Ok(Json(json!({ "availabilityZoneInfo": items })))
}

pub async fn hosts(
    ctx: Context,
    State(state): State<ApiState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let zone = param(q.as_deref(), "zone");
    let all = state.operator.hosts(&ctx.caller(), zone.as_deref()).await?;
    let items: Vec<Value> = all
        .iter()
        .map(|v| {
            json!({
                "host_name": v.record.host,
                "service": v.record.binary,
                "zone": v.record.availability_zone,
                "service-status": if v.up { "available" } else { "unavailable" },
                "service-state": if v.record.disabled { "disabled" } else { "enabled" },
                "last-update": timefmt::cinder(v.record.heartbeat_at),
            })
        })
        .collect();
    Ok(Json(json!({ "hosts": items })))
}

/// `GET /os-hosts/{host}`: the total first, then each project, every count a string.
pub async fn host(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, host)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let usage = state.operator.host_usage(&ctx.caller(), &host).await?;
    let sum = |f: fn(&basalt_domain::backends::HostUsage) -> i64| -> String {
        usage.iter().map(f).sum::<i64>().to_string()
    };
    let mut items = vec![json!({"resource": {
        "host": host, "project": "(total)",
        "volume_count": sum(|u| u.volume_count),
        "total_volume_gb": sum(|u| u.total_volume_gb),
        "snapshot_count": sum(|u| u.snapshot_count),
        "total_snapshot_gb": sum(|u| u.total_snapshot_gb),
    }})];
    items.extend(usage.iter().map(|u| {
        json!({"resource": {
            "host": host, "project": u.project_id,
            "volume_count": u.volume_count.to_string(),
            "total_volume_gb": u.total_volume_gb.to_string(),
            "snapshot_count": u.snapshot_count.to_string(),
            "total_snapshot_gb": u.total_snapshot_gb.to_string(),
        }})
    }));
    Ok(Json(json!({ "host": items })))
}

pub async fn pools(
    ctx: Context,
    State(state): State<ApiState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let detail = schema::bool_param(&query_pairs(q.as_deref()), "detail")?;
    let pools = state.operator.pools(&ctx.caller()).await?;
    let items: Vec<Value> = pools
        .iter()
        .map(|c| {
            if !detail {
                return json!({"name": c.pool});
            }
            let mut caps = serde_json::to_value(&c.stats).unwrap_or_default();
            caps["provisioned_capacity_gb"] = json!(c.provisioned_gib);
            caps["backend_state"] = json!(if c.usable { "up" } else { "down" });
            json!({"name": c.pool, "capabilities": caps})
        })
        .collect();
    Ok(Json(json!({ "pools": items })))
}

pub async fn capabilities(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, host)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (host, s) = state.operator.capabilities(&ctx.caller(), &host).await?;
    let prop = |title: &str, description: &str| json!({"title": title, "description": description, "type": "boolean"});
    Ok(Json(json!({
        "namespace": format!("OS::Storage::Capabilities::{host}"),
        "vendor_name": s.vendor_name,
        "volume_backend_name": s.volume_backend_name,
        "pool_name": s.pool_name,
        "driver_version": s.driver_version,
        "storage_protocol": s.storage_protocol,
        "display_name": format!("Basalt file backend {}", s.volume_backend_name),
        "description": "Sparse files on a local filesystem (reflink copies where it allows).",
        "visibility": "public",
        "replication_targets": [],
        "properties": {
            "thin_provisioning": prop("Thin Provisioning", "Sets thin provisioning."),
            "qos": prop("QoS", "Enables QoS."),
            "multiattach": prop("Multi-attach", "Volumes may be attached to several hosts."),
        },
    })))
}
