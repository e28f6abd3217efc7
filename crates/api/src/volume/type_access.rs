//! `GET /types/{id}/os-volume-type-access` (the projects of a private type) and
//! `POST /types/{id}/action` with `addProjectAccess` or `removeProjectAccess` (202).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::actions::{no_such_action, single_action};
use super::auth::Context;
use super::fault::ApiResult;
use super::{schema, type_requests};
use crate::state::ApiState;

pub async fn list(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let projects = state.types.access(&ctx.caller(), &id).await?;
    let items: Vec<Value> = projects
        .iter()
        .map(|p| json!({"volume_type_id": id, "project_id": p}))
        .collect();
    Ok(Json(json!({ "volume_type_access": items })))
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
    let caller = ctx.caller();
    match name {
        "addProjectAccess" => {
            ctx.require_admin("volume_extension:volume_type_access:addProjectAccess")?;
            let project = type_requests::access_project(name, args)?;
            state.types.add_access(&caller, &id, &project).await?;
        }
        "removeProjectAccess" => {
            ctx.require_admin("volume_extension:volume_type_access:removeProjectAccess")?;
            let project = type_requests::access_project(name, args)?;
            state.types.remove_access(&caller, &id, &project).await?;
        }
        other => return Err(no_such_action(other)),
    }
    Ok(StatusCode::ACCEPTED)
}
