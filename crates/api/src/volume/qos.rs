//! `/qos-specs` (all admin-only): list (paged), create (200), show, update (merge, 200, echo),
//! delete (202, `?force`), `delete_keys` (202), `associations`, and the GET actions
//! `associate`, `disassociate` (`?vol_type_id=`) and `disassociate_all` (202), with Cinder's
//! codes, which differ from its api-ref in several places.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use basalt_domain::qos::QosSpecs;
use serde_json::{json, Value};

use super::auth::Context;
use super::fault::{ApiError, ApiResult};
use super::links::{query_pairs, Links};
use super::{schema, type_requests};
use crate::state::ApiState;

fn item(q: &QosSpecs) -> Value {
    json!({"id": q.id, "name": q.name, "consumer": q.consumer.as_str(), "specs": q.specs})
}

/// Show and create put `links` beside `qos_specs`, not inside it.
fn doc(state: &ApiState, ctx: &Context, q: &QosSpecs) -> Value {
    json!({"qos_specs": item(q), "links": Links::new(state, ctx).resource("qos-specs", &q.id)})
}

/// Spec values: strings of at most 255 characters (Cinder's `validate_dictionary_string_length`).
fn spec_values(
    obj: &serde_json::Map<String, Value>,
    skip: &[&str],
) -> ApiResult<(Option<String>, BTreeMap<String, String>)> {
    let mut consumer = None;
    let mut specs = BTreeMap::new();
    for (k, v) in obj {
        if skip.contains(&k.as_str()) {
            continue;
        }
        let Value::String(s) = v else {
            return Err(ApiError::BadRequest(format!(
                "Invalid input received: {k} is not a string or unicode"
            )));
        };
        if k.chars().count() > 255 || s.chars().count() > 255 {
            return Err(ApiError::BadRequest(format!(
                "Invalid input received: {k} has more than 255 characters."
            )));
        }
        if k == "consumer" {
            consumer = Some(s.clone());
        } else {
            specs.insert(k.clone(), s.clone());
        }
    }
    Ok((consumer, specs))
}

pub async fn list(
    ctx: Context,
    State(state): State<ApiState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = query_pairs(q.as_deref());
    let max = state.volumes.settings().max_page_size;
    let specs = state.qos.list(&ctx.caller(), &params, max).await?;
    let mut out = json!({"qos_specs": specs.iter().map(item).collect::<Vec<_>>()});
    let limit = params
        .iter()
        .find(|(k, _)| k == "limit")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(max as usize)
        .min(max as usize);
    if let Some(last) = specs.last().filter(|_| specs.len() == limit) {
        let next = Links::new(&state, &ctx).next("qos-specs", &params, &last.id);
        out["qos_specs_links"] = json!([next]);
    }
    Ok(Json(out))
}

pub async fn create(
    ctx: Context,
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    ctx.require_admin("volume_extension:qos_specs_manage:create")?;
    let body = schema::read_body(&state, &headers, body).await?;
    let specs = schema::envelope(&body, "qos_specs", &["qos_specs"])?;
    let obj = schema::object(Some("qos_specs"), specs)?;
    let name = type_requests::name("qos_specs", specs, obj.get("name"))?;
    let (consumer, values) = spec_values(obj, &["name"])?;
    let q = state
        .qos
        .create(&ctx.caller(), name.trim(), consumer.as_deref(), values)
        .await?;
    Ok(Json(doc(&state, &ctx, &q)))
}

pub async fn show(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let q = state.qos.get(&ctx.caller(), &id).await?;
    Ok(Json(doc(&state, &ctx, &q)))
}

pub async fn update(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    ctx.require_admin("volume_extension:qos_specs_manage:update")?;
    let body = schema::read_body(&state, &headers, body).await?;
    let specs = schema::envelope(&body, "qos_specs", &["qos_specs"])?;
    let obj = schema::object(Some("qos_specs"), specs)?;
    let (consumer, values) = spec_values(obj, &[])?;
    state
        .qos
        .update(&ctx.caller(), &id, consumer.as_deref(), &values)
        .await?;
    Ok(Json(body))
}

pub async fn delete(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    ctx.require_admin("volume_extension:qos_specs_manage:delete")?;
    let force = schema::bool_param(&query_pairs(q.as_deref()), "force")?;
    state.qos.delete(&ctx.caller(), &id, force).await?;
    Ok(StatusCode::ACCEPTED)
}

pub async fn delete_keys(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    ctx.require_admin("volume_extension:qos_specs_manage:delete")?;
    let body = schema::read_body(&state, &headers, body).await?;
    let keys = schema::envelope(&body, "keys", &["keys"])?;
    let Value::Array(items) = keys else {
        return Err(schema::type_error(Some("keys"), keys, &["array"]));
    };
    let mut names: Vec<String> = Vec::with_capacity(items.len());
    for k in items {
        match k {
            Value::String(s) if (1..=255).contains(&s.chars().count()) => {
                if names.contains(s) {
                    return Err(schema::field_error(
                        "keys",
                        keys,
                        format!("{} has non-unique elements", schema::py_repr(keys)),
                    ));
                }
                names.push(s.clone());
            }
            other => return Err(schema::type_error(Some("keys"), other, &["string"])),
        }
    }
    state.qos.delete_keys(&ctx.caller(), &id, &names).await?;
    Ok(StatusCode::ACCEPTED)
}

pub async fn associations(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let types = state.qos.associations(&ctx.caller(), &id).await?;
    let items: Vec<Value> = types
        .iter()
        .map(|t| json!({"association_type": "volume_type", "name": t.name, "id": t.id}))
        .collect();
    Ok(Json(json!({ "qos_associations": items })))
}

fn type_param(q: Option<&str>) -> Option<String> {
    query_pairs(q)
        .into_iter()
        .find(|(k, _)| k == "vol_type_id")
        .map(|(_, v)| v)
}

pub async fn associate(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let type_id = type_param(q.as_deref());
    state
        .qos
        .associate(&ctx.caller(), &id, type_id.as_deref())
        .await?;
    Ok(StatusCode::ACCEPTED)
}

pub async fn disassociate(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let type_id = type_param(q.as_deref());
    state
        .qos
        .disassociate(&ctx.caller(), &id, type_id.as_deref())
        .await?;
    Ok(StatusCode::ACCEPTED)
}

pub async fn disassociate_all(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.qos.disassociate_all(&ctx.caller(), &id).await?;
    Ok(StatusCode::ACCEPTED)
}
