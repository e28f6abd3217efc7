//! `POST /volumes/{id}/action`: the body names exactly one action (more or fewer keys is
//! "Malformed request body", an unknown name "There is no such action: <name>", both before the
//! volume is looked up, as in Cinder's dispatcher). Implemented: `os-extend`, `revert` from
//! v3.40 (below that it does not exist, as in Cinder), the attach and detach actions of
//! [`super::attach_actions`], the admin's of [`super::admin_actions`] and those that move a
//! volume, in [`super::move_actions`].

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::admin_actions::{self, AdminAction};
use super::attach_actions::{self, AttachAction};
use super::auth::Context;
use super::fault::{ApiError, ApiResult};
use super::microversion::ApiVersion;
use super::move_actions::{self, MoveAction};
use super::schema;
use crate::state::ApiState;

/// The actions Basalt implements, by their wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Extend,
    /// v3.40 and later only; unknown below.
    Revert,
    /// `os-reserve`, `os-attach`, `os-initialize_connection`, ...
    Attach(AttachAction),
    /// `os-reset_status`, `os-force_delete`, `os-unmanage`: named here, parsed with their
    /// arguments in [`dispatch`].
    Admin,
    /// `os-retype`, `os-migrate_volume`, `os-migrate_volume_completion`.
    Move,
}

impl Action {
    fn named(name: &str, version: ApiVersion) -> Option<Action> {
        match name {
            "os-extend" => Some(Action::Extend),
            "revert" if version.at_least(3, 40) => Some(Action::Revert),
            "os-reset_status" | "os-force_delete" | "os-unmanage" => Some(Action::Admin),
            other if MoveAction::named(other) => Some(Action::Move),
            other => AttachAction::named(other).map(Action::Attach),
        }
    }
}

/// The one action an action body names, with its arguments, whatever the resource: exactly
/// one key, else "Malformed request body".
pub(super) fn single_action(body: &Value) -> ApiResult<(&str, &Value)> {
    let malformed = || ApiError::BadRequest("Malformed request body".into());
    let obj = body.as_object().ok_or_else(malformed)?;
    let mut entries = obj.iter();
    let (Some((name, args)), None) = (entries.next(), entries.next()) else {
        return Err(malformed());
    };
    Ok((name.as_str(), args))
}

/// Cinder's answer to an action name no controller handles.
pub(super) fn no_such_action(name: &str) -> ApiError {
    ApiError::BadRequest(format!("There is no such action: {name}"))
}

/// The action's name and arguments.
fn dispatch(body: &Value, version: ApiVersion) -> ApiResult<(Action, &Value)> {
    let (name, args) = single_action(body)?;
    let action = Action::named(name, version).ok_or_else(|| no_such_action(name))?;
    Ok((action, args))
}

/// `{"revert": {"snapshot_id": "<uuid>"}}` (Cinder's `revert` schema).
fn revert_snapshot(args: &Value) -> ApiResult<String> {
    let obj = schema::object(Some("revert"), args)?;
    schema::only_keys(Some("revert"), args, obj, &["snapshot_id"])?;
    match obj.get("snapshot_id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
        Some(_) => Err(schema::field_error(
            "revert",
            args,
            "'snapshot_id' must be a non-empty string",
        )),
        None => Err(schema::field_error(
            "revert",
            args,
            "'snapshot_id' is a required property",
        )),
    }
}

/// `{"os-extend": {"new_size": <int or digit string>}}` (Cinder's `extend` schema).
fn new_size(args: &Value) -> ApiResult<i64> {
    let obj = schema::object(Some("os-extend"), args)?;
    let size = obj.get("new_size").ok_or_else(|| {
        schema::field_error("os-extend", args, "'new_size' is a required property")
    })?;
    schema::only_keys(Some("os-extend"), args, obj, &["new_size"])?;
    let n = schema::volume_size("new_size", size, false)?;
    Ok(n.expect("new_size is not nullable"))
}

pub async fn act(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let body = schema::read_body(&state, &headers, body).await?;
    let (action, args) = dispatch(&body, ctx.version)?;
    match action {
        Action::Extend => {
            let size = new_size(args)?;
            state.volumes.extend(&ctx.caller(), &id, size).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        Action::Revert => {
            let snapshot_id = revert_snapshot(args)?;
            state
                .volumes
                .revert(&ctx.caller(), &id, &snapshot_id)
                .await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        Action::Attach(action) => {
            attach_actions::act(&state, &ctx.caller(), &id, action, args).await
        }
        Action::Admin => {
            let (name, _) = single_action(&body)?;
            let action = AdminAction::parse(name, args).expect("named by Action::named")?;
            admin_actions::act(&state, &ctx.caller(), &id, action).await
        }
        Action::Move => {
            let (name, _) = single_action(&body)?;
            let action = MoveAction::parse(name, args).expect("named by Action::named")?;
            move_actions::act(&state, &ctx.caller(), &id, action).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dispatch_v3(body: &Value) -> ApiResult<(Action, &Value)> {
        dispatch(body, ApiVersion::MIN_V3)
    }

    #[test]
    fn revert_exists_from_3_40_only() {
        let body = json!({"revert": {"snapshot_id": "s"}});
        assert_eq!(
            message(dispatch(&body, ApiVersion::V2)),
            "There is no such action: revert"
        );
        let v3_40 = ApiVersion {
            major: 3,
            minor: 40,
        };
        assert_eq!(dispatch(&body, v3_40).unwrap().0, Action::Revert);
        assert_eq!(revert_snapshot(&body["revert"]).unwrap(), "s");
        assert!(revert_snapshot(&json!({})).is_err());
        assert!(revert_snapshot(&json!({"snapshot_id": 1})).is_err());
    }

    fn message<T: std::fmt::Debug>(r: ApiResult<T>) -> String {
        match r {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn bodies_name_exactly_one_known_action() {
        assert_eq!(
            message(dispatch_v3(&json!({"os-extend": {}, "os-reserve": null}))),
            "Malformed request body"
        );
        assert_eq!(message(dispatch_v3(&json!({}))), "Malformed request body");
        assert_eq!(message(dispatch_v3(&json!([1]))), "Malformed request body");
        assert_eq!(
            message(dispatch_v3(&json!({"os-bogus": null}))),
            "There is no such action: os-bogus"
        );
        assert_eq!(
            dispatch_v3(&json!({"os-reserve": null})).unwrap().0,
            Action::Attach(AttachAction::Reserve)
        );
        assert_eq!(
            dispatch_v3(&json!({"os-extend": {}})).unwrap().0,
            Action::Extend
        );
    }

    #[test]
    fn extend_takes_a_size_and_nothing_else() {
        assert_eq!(new_size(&json!({"new_size": 3})).unwrap(), 3);
        assert_eq!(new_size(&json!({"new_size": "4"})).unwrap(), 4);
        assert_eq!(
            message(new_size(&json!({}))),
            "Invalid input for field/attribute os-extend. Value: {}. 'new_size' is a required \
             property"
        );
        assert!(new_size(&json!({"new_size": 3, "x": 1})).is_err());
        assert!(new_size(&json!({"new_size": 0})).is_err());
        assert!(new_size(&json!(null)).is_err());
    }
}
