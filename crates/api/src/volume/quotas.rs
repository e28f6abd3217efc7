//! `/os-quota-sets/{project}` (show, with `?usage=true` the usage view; defaults; update and
//! reset, admin only) and `/os-quota-class-sets/{class}` (admin only). The domain checks the
//! policy, the names and the values; this module shapes the bodies.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use basalt_domain::quota::QuotaEntry;
use serde::Serialize;
use serde_json::Value;

use super::auth::Context;
use super::fault::ApiResult;
use super::links::query_pairs;
use super::schema;
use crate::state::ApiState;

/// One resource in the usage view.
#[derive(Debug, Serialize)]
pub struct UsageView {
    limit: i64,
    in_use: i64,
    reserved: i64,
}

/// A set of limits or usages, with its owner's `id` where Cinder shows one.
#[derive(Debug, Serialize)]
pub struct QuotaSetView<T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(flatten)]
    resources: BTreeMap<String, T>,
}

#[derive(Debug, Serialize)]
pub struct QuotaSetDoc<T> {
    quota_set: QuotaSetView<T>,
}

#[derive(Debug, Serialize)]
pub struct QuotaClassSetDoc {
    quota_class_set: QuotaSetView<i64>,
}

fn set_doc<T>(id: Option<String>, resources: BTreeMap<String, T>) -> QuotaSetDoc<T> {
    QuotaSetDoc {
        quota_set: QuotaSetView { id, resources },
    }
}

fn usage_view(entries: Vec<QuotaEntry>) -> BTreeMap<String, UsageView> {
    entries
        .into_iter()
        .map(|e| {
            let view = UsageView {
                limit: e.limit,
                in_use: e.in_use,
                reserved: e.reserved,
            };
            (e.resource, view)
        })
        .collect()
}

/// The changes of a PUT body: `{"<key>": {resource: value, ...}}`, at least one entry; the
/// domain checks the names and values.
fn changes(body: &Value, key: &str) -> ApiResult<BTreeMap<String, Value>> {
    let set = schema::envelope(body, key, &[key])?;
    let obj = schema::object(Some(key), set)?;
    if obj.is_empty() {
        return Err(schema::field_error(
            key,
            set,
            "{} does not have enough properties",
        ));
    }
    Ok(obj.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// Either shape of `GET /os-quota-sets/{project}`, chosen by `?usage`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ShownQuotaSet {
    Limits(QuotaSetDoc<i64>),
    Usage(QuotaSetDoc<UsageView>),
}

pub async fn show(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, target)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<ShownQuotaSet>> {
    let usage = schema::bool_param(&query_pairs(q.as_deref()), "usage")?;
    let entries = state.quotas.show(&ctx.caller(), &target).await?;
    let id = Some(target);
    Ok(Json(if usage {
        ShownQuotaSet::Usage(set_doc(id, usage_view(entries)))
    } else {
        let limits = entries.into_iter().map(|e| (e.resource, e.limit)).collect();
        ShownQuotaSet::Limits(set_doc(id, limits))
    }))
}

pub async fn defaults(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, target)): Path<(String, String)>,
) -> ApiResult<Json<QuotaSetDoc<i64>>> {
    let set = state.quotas.defaults(&ctx.caller(), &target).await?;
    Ok(Json(set_doc(Some(target), set)))
}

pub async fn update(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, target)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<QuotaSetDoc<i64>>> {
    let body = schema::read_body(&state, &headers, body).await?;
    let changes = changes(&body, "quota_set")?;
    let set = state
        .quotas
        .update(&ctx.caller(), &target, &changes)
        .await?;
    Ok(Json(set_doc(None, set)))
}

pub async fn reset(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, target)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.quotas.reset(&ctx.caller(), &target).await?;
    Ok(StatusCode::OK)
}

pub async fn show_class(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, class)): Path<(String, String)>,
) -> ApiResult<Json<QuotaClassSetDoc>> {
    let resources = state.quotas.show_class(&ctx.caller(), &class).await?;
    Ok(Json(QuotaClassSetDoc {
        quota_class_set: QuotaSetView {
            id: Some(class),
            resources,
        },
    }))
}

pub async fn update_class(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, class)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<QuotaClassSetDoc>> {
    let body = schema::read_body(&state, &headers, body).await?;
    let changes = changes(&body, "quota_class_set")?;
    let resources = state
        .quotas
        .update_class(&ctx.caller(), &class, &changes)
        .await?;
    Ok(Json(QuotaClassSetDoc {
        quota_class_set: QuotaSetView {
            id: None,
            resources,
        },
    }))
}
