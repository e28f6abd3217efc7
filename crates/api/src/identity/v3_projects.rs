//! `/v3/projects` and `/v3/domains`: admin-only except reading one's own project.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use basalt_identity::{NameFilter, ProjectPatch, DEFAULT_DOMAIN_ID};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{KeystoneError, KsResult};
use super::extract::{Caller, KsJson};
use super::views::{domain_v3, project_v3, CollectionLinks};
use crate::state::ApiState;

pub fn name_filter(q: &HashMap<String, String>) -> KsResult<NameFilter> {
    let enabled = match q.get("enabled").map(|v| v.to_ascii_lowercase()) {
        None => None,
        Some(v) if ["true", "1", "yes"].contains(&v.as_str()) => Some(true),
        Some(v) if ["false", "0", "no"].contains(&v.as_str()) => Some(false),
        Some(v) => {
            return Err(KeystoneError::bad_request(format!(
                "Invalid value for enabled filter: {v} -"
            )))
        }
    };
    Ok(NameFilter {
        name: q.get("name").cloned(),
        domain_id: q.get("domain_id").cloned(),
        enabled,
    })
}

#[derive(Deserialize)]
pub struct ProjectBody {
    project: ProjectFields,
}

#[derive(Deserialize)]
struct ProjectFields {
    name: Option<String>,
    domain_id: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
    is_domain: Option<bool>,
}

pub async fn list(
    State(s): State<ApiState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> KsResult<Json<Value>> {
    caller.require_admin("identity:list_projects")?;
    let base = &s.urls.identity;
    let projects = s.identity.list_projects(&name_filter(&q)?).await?;
    let views: Vec<_> = projects.iter().map(|p| project_v3(p, base)).collect();
    Ok(Json(json!({
        "projects": views,
        "links": CollectionLinks::at(format!("{base}/v3/projects")),
    })))
}

pub async fn create(
    State(s): State<ApiState>,
    caller: Caller,
    KsJson(body): KsJson<ProjectBody>,
) -> KsResult<(StatusCode, Json<Value>)> {
    caller.require_admin("identity:create_project")?;
    let f = body.project;
    if f.is_domain == Some(true) {
        return Err(KeystoneError::bad_request(
            "Projects acting as domains are not supported -",
        ));
    }
    let name = f.name.ok_or_else(|| {
        KeystoneError::bad_request(
            "Invalid input for field 'name': 'name' is a required property -",
        )
    })?;
    let domain_id = f.domain_id.unwrap_or_else(|| {
        caller
            .token
            .project
            .as_ref()
            .map_or(DEFAULT_DOMAIN_ID.to_owned(), |p| p.domain.id.clone())
    });
    let p = s
        .identity
        .create_project(
            &name,
            &domain_id,
            f.description.as_deref().unwrap_or(""),
            f.enabled.unwrap_or(true),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"project": project_v3(&p, &s.urls.identity)})),
    ))
}

pub async fn show(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> KsResult<Json<Value>> {
    if caller.token.project_id() != Some(id.as_str()) {
        caller.require_admin("identity:get_project")?;
    }
    let p = s.identity.get_project(&id).await?;
    Ok(Json(json!({"project": project_v3(&p, &s.urls.identity)})))
}

pub async fn update(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    KsJson(body): KsJson<ProjectBody>,
) -> KsResult<Json<Value>> {
    caller.require_admin("identity:update_project")?;
    let f = body.project;
    let patch = ProjectPatch {
        name: f.name,
        description: f.description,
        enabled: f.enabled,
    };
    let p = s.identity.update_project(&id, patch).await?;
    Ok(Json(json!({"project": project_v3(&p, &s.urls.identity)})))
}

pub async fn delete(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> KsResult<StatusCode> {
    caller.require_admin("identity:delete_project")?;
    s.identity.delete_project(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_domains(
    State(s): State<ApiState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> KsResult<Json<Value>> {
    caller.require_admin("identity:list_domains")?;
    let base = &s.urls.identity;
    let domains = s.identity.list_domains(&name_filter(&q)?).await?;
    let views: Vec<_> = domains.iter().map(|d| domain_v3(d, base)).collect();
    Ok(Json(json!({
        "domains": views,
        "links": CollectionLinks::at(format!("{base}/v3/domains")),
    })))
}

pub async fn show_domain(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> KsResult<Json<Value>> {
    let own = caller.token.user.domain.id == id
        || caller
            .token
            .project
            .as_ref()
            .is_some_and(|p| p.domain.id == id);
    if !own {
        caller.require_admin("identity:get_domain")?;
    }
    let d = s.identity.get_domain(&id).await?;
    Ok(Json(json!({"domain": domain_v3(&d, &s.urls.identity)})))
}
