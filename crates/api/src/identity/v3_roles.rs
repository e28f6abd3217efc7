//! `/v3/roles`, project role grants and `/v3/role_assignments`: admin-only.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use basalt_identity::AssignmentFilter;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{KeystoneError, KsResult};
use super::extract::{Caller, KsJson};
use super::v3_projects::name_filter;
use super::views::{role_v3, CollectionLinks};
use crate::state::ApiState;

#[derive(Deserialize)]
pub struct RoleBody {
    role: RoleFields,
}

#[derive(Deserialize)]
struct RoleFields {
    name: Option<String>,
}

pub async fn list(
    State(s): State<ApiState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> KsResult<Json<Value>> {
    caller.require_admin("identity:list_roles")?;
    let base = &s.urls.identity;
    let roles = s.identity.list_roles(&name_filter(&q)?).await?;
    let views: Vec<_> = roles.iter().map(|r| role_v3(r, base)).collect();
    Ok(Json(
        json!({"roles": views, "links": CollectionLinks::at(format!("{base}/v3/roles"))}),
    ))
}

pub async fn create(
    State(s): State<ApiState>,
    caller: Caller,
    KsJson(body): KsJson<RoleBody>,
) -> KsResult<(StatusCode, Json<Value>)> {
    caller.require_admin("identity:create_role")?;
    let name = body.role.name.ok_or_else(|| {
        KeystoneError::bad_request(
            "Invalid input for field 'name': 'name' is a required property -",
        )
    })?;
    let r = s.identity.create_role(&name).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"role": role_v3(&r, &s.urls.identity)})),
    ))
}

pub async fn show(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> KsResult<Json<Value>> {
    caller.require_admin("identity:get_role")?;
    let r = s.identity.get_role(&id).await?;
    Ok(Json(json!({"role": role_v3(&r, &s.urls.identity)})))
}

pub async fn delete(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> KsResult<StatusCode> {
    caller.require_admin("identity:delete_role")?;
    s.identity.delete_role(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

type Grant = Path<(String, String, String)>;

pub async fn grant(
    State(s): State<ApiState>,
    caller: Caller,
    Path((project, user, role)): Grant,
) -> KsResult<StatusCode> {
    caller.require_admin("identity:create_grant")?;
    s.identity.grant_role(&project, &user, &role).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn check_grant(
    State(s): State<ApiState>,
    caller: Caller,
    Path((project, user, role)): Grant,
) -> KsResult<StatusCode> {
    caller.require_admin("identity:check_grant")?;
    s.identity.check_grant(&project, &user, &role).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn revoke_grant(
    State(s): State<ApiState>,
    caller: Caller,
    Path((project, user, role)): Grant,
) -> KsResult<StatusCode> {
    caller.require_admin("identity:revoke_grant")?;
    s.identity.revoke_role(&project, &user, &role).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_grants(
    State(s): State<ApiState>,
    caller: Caller,
    Path((project, user)): Path<(String, String)>,
) -> KsResult<Json<Value>> {
    caller.require_admin("identity:list_grants")?;
    s.identity.get_project(&project).await?;
    s.identity.get_user(&user).await?;
    let filter = AssignmentFilter {
        user_id: Some(user.clone()),
        project_id: Some(project.clone()),
        role_id: None,
    };
    let base = &s.urls.identity;
    let mut views = Vec::new();
    for a in s.identity.list_assignments(&filter).await? {
        views.push(role_v3(&s.identity.get_role(&a.role_id).await?, base));
    }
    Ok(Json(json!({
        "roles": views,
        "links": CollectionLinks::at(format!("{base}/v3/projects/{project}/users/{user}/roles")),
    })))
}

/// `GET /v3/role_assignments` with the `user.id`, `scope.project.id`, `role.id` filters and
/// `include_names`. Every assignment is direct (no groups, no inheritance), so `effective`
/// changes nothing.
pub async fn assignments(
    State(s): State<ApiState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> KsResult<Json<Value>> {
    caller.require_admin("identity:list_role_assignments")?;
    let filter = AssignmentFilter {
        user_id: q.get("user.id").cloned(),
        project_id: q.get("scope.project.id").cloned(),
        role_id: q.get("role.id").cloned(),
    };
    let names = q.contains_key("include_names");
    let base = &s.urls.identity;
    let mut out = Vec::new();
    for a in s.identity.list_assignments(&filter).await? {
        let (mut role, mut user, mut project) = (
            json!({"id": a.role_id}),
            json!({"id": a.user_id}),
            json!({"id": a.project_id}),
        );
        if names {
            let r = s.identity.get_role(&a.role_id).await?;
            role["name"] = json!(r.name);
            let u = s.identity.get_user(&a.user_id).await?;
            user["name"] = json!(u.name);
            user["domain"] = json!(s
                .identity
                .get_domain(&u.domain_id)
                .await
                .map(|d| json!({"id": d.id, "name": d.name}))
                .unwrap_or(Value::Null));
            let p = s.identity.get_project(&a.project_id).await?;
            project["name"] = json!(p.name);
            project["domain"] = json!(s
                .identity
                .get_domain(&p.domain_id)
                .await
                .map(|d| json!({"id": d.id, "name": d.name}))
                .unwrap_or(Value::Null));
        }
        out.push(json!({
            "role": role,
            "user": user,
            "scope": {"project": project},
            "links": {"assignment": format!(
                "{base}/v3/projects/{}/users/{}/roles/{}", a.project_id, a.user_id, a.role_id)},
        }));
    }
    Ok(Json(json!({
        "role_assignments": out,
        "links": CollectionLinks::at(format!("{base}/v3/role_assignments")),
    })))
}
