//! `POST /volumes/{id}/action`: the body names exactly one action (more or fewer keys is
//! "Malformed request body", an unknown name "There is no such action: <name>", both before the
//! volume is looked up, as in Cinder's dispatcher). Implemented: `os-extend`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::auth::Context;
use super::fault::{ApiError, ApiResult};
use super::schema;
use crate::state::ApiState;

/// The actions Basalt implements, by their wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Extend,
}

impl Action {
    fn named(name: &str) -> Option<Action> {
        match name {
            "os-extend" => Some(Action::Extend),
            _ => None,
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
fn dispatch(body: &Value) -> ApiResult<(Action, &Value)> {
    let (name, args) = single_action(body)?;
    let action = Action::named(name).ok_or_else(|| no_such_action(name))?;
    Ok((action, args))
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
    let (action, args) = dispatch(&body)?;
    match action {
        Action::Extend => {
            let size = new_size(args)?;
            state.volumes.extend(&ctx.caller(), &id, size).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message<T: std::fmt::Debug>(r: ApiResult<T>) -> String {
        match r {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn bodies_name_exactly_one_known_action() {
        assert_eq!(
            message(dispatch(&json!({"os-extend": {}, "os-reserve": null}))),
            "Malformed request body"
        );
        assert_eq!(message(dispatch(&json!({}))), "Malformed request body");
        assert_eq!(message(dispatch(&json!([1]))), "Malformed request body");
        assert_eq!(
            message(dispatch(&json!({"os-reserve": null}))),
            "There is no such action: os-reserve"
        );
        assert_eq!(
            dispatch(&json!({"os-extend": {}})).unwrap().0,
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
