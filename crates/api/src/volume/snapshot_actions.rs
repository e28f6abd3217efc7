//! `POST /snapshots/{id}/action`: exactly one action per body, as for volumes. Implemented:
//! `os-reset_status`, `os-force_delete` and `os-unmanage` (admin), `os-update_snapshot_status` (the owner's
//! progress reports). Bodies are checked against Cinder's schemas before the snapshot is
//! looked up or the caller's role is checked.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use basalt_domain::snapshot::SnapshotStatus;
use serde_json::{Map, Value};

use super::actions::{no_such_action, single_action};
use super::auth::Context;
use super::fault::{ApiError, ApiResult};
use super::schema;
use crate::state::ApiState;

const RESET_STATUS: &str = "os-reset_status";
const FORCE_DELETE: &str = "os-force_delete";
const UPDATE_STATUS: &str = "os-update_snapshot_status";
const UNMANAGE: &str = "os-unmanage";

/// Cinder's `SnapshotStatus.ALL`, in its order, for the reset-status message.
const CINDER_ORDER: [SnapshotStatus; 10] = [
    SnapshotStatus::Error,
    SnapshotStatus::Available,
    SnapshotStatus::Creating,
    SnapshotStatus::Deleting,
    SnapshotStatus::Deleted,
    SnapshotStatus::Updating,
    SnapshotStatus::ErrorDeleting,
    SnapshotStatus::Unmanaging,
    SnapshotStatus::BackingUp,
    SnapshotStatus::Restoring,
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    /// The new status, lower-cased.
    ResetStatus(SnapshotStatus),
    ForceDelete,
    Unmanage,
    UpdateStatus {
        status: String,
        progress: Option<String>,
    },
}

/// The arguments object of `action`, with its one required string property `status` and no
/// keys but `allowed`.
fn status_args<'a>(
    action: &str,
    args: &'a Value,
    allowed: &[&str],
) -> ApiResult<(&'a Map<String, Value>, &'a str)> {
    let obj = schema::object(Some(action), args)?;
    let status = match obj.get("status") {
        None => {
            return Err(schema::field_error(
                action,
                args,
                "'status' is a required property",
            ))
        }
        Some(Value::String(s)) => s.as_str(),
        Some(other) => return Err(schema::type_error(Some("status"), other, &["string"])),
    };
    schema::only_keys(Some(action), args, obj, allowed)?;
    Ok((obj, status))
}

/// `{"os-reset_status": {"status": <any snapshot status, any case>}}`.
fn reset_status(args: &Value) -> ApiResult<SnapshotStatus> {
    let (_, status) = status_args(RESET_STATUS, args, &["status"])?;
    SnapshotStatus::parse(&status.to_lowercase()).ok_or_else(|| {
        let all: Vec<String> = CINDER_ORDER
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        ApiError::BadRequest(format!(
            "Snapshot status: {status} is invalid, valid statuses are: ({}).",
            all.join(", ")
        ))
    })
}

/// Cinder's `progress` format: `"NN%"` with NN in 0..=100; empty or `null` is no report.
fn progress(v: Option<&Value>) -> ApiResult<Option<String>> {
    let not_integer = || {
        ApiError::BadRequest(
            "Invalid input received: progress must be an integer percentage".into(),
        )
    };
    let s = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(Value::String(s)) => s,
        Some(_) => return Err(not_integer()),
    };
    let (number, last) = s.split_at(s.len() - s.chars().last().map_or(0, char::len_utf8));
    let n: i64 = number.trim().parse().map_err(|_| not_integer())?;
    if !(0..=100).contains(&n) || last != "%" {
        return Err(ApiError::BadRequest(
            "Invalid input received: progress must be an integer percentage between 0 and 100"
                .into(),
        ));
    }
    Ok(Some(s.clone()))
}

/// `{"os-update_snapshot_status": {"status": <string>, "progress": "NN%"}}`.
fn update_status(args: &Value) -> ApiResult<Action> {
    let (obj, status) = status_args(UPDATE_STATUS, args, &["status", "progress"])?;
    Ok(Action::UpdateStatus {
        status: status.to_owned(),
        progress: progress(obj.get("progress"))?,
    })
}

/// The action a body names, its arguments checked.
fn parse(body: &Value) -> ApiResult<Action> {
    let (name, args) = single_action(body)?;
    match name {
        RESET_STATUS => reset_status(args).map(Action::ResetStatus),
        // Cinder takes any body here (`{}` or `null`).
        FORCE_DELETE => Ok(Action::ForceDelete),
        UNMANAGE => Ok(Action::Unmanage),
        UPDATE_STATUS => update_status(args),
        other => Err(no_such_action(other)),
    }
}

pub async fn act(
    ctx: Context,
    State(state): State<ApiState>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let body = schema::read_body(&state, &headers, body).await?;
    let caller = ctx.caller();
    match parse(&body)? {
        Action::ResetStatus(status) => {
            state
                .snapshots
                .reset_status(&caller, &id, status.as_str())
                .await?
        }
        Action::ForceDelete => state.snapshots.force_delete(&caller, &id).await?,
        Action::Unmanage => state.snapshots.unmanage(&caller, &id).await?,
        Action::UpdateStatus { status, progress } => {
            state
                .snapshots
                .update_status(&caller, &id, &status, progress)
                .await?
        }
    }
    Ok(StatusCode::ACCEPTED)
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
            message(parse(
                &json!({"os-force_delete": {}, "os-reset_status": {}})
            )),
            "Malformed request body"
        );
        assert_eq!(
            message(parse(&json!({"os-bogus": null}))),
            "There is no such action: os-bogus"
        );
        assert_eq!(
            parse(&json!({"os-unmanage": null})).unwrap(),
            Action::Unmanage
        );
        assert_eq!(
            parse(&json!({"os-force_delete": null})).unwrap(),
            Action::ForceDelete
        );
    }

    #[test]
    fn reset_status_takes_any_snapshot_status_in_any_case() {
        assert_eq!(
            parse(&json!({"os-reset_status": {"status": "ERROR"}})).unwrap(),
            Action::ResetStatus(SnapshotStatus::Error)
        );
        assert_eq!(
            message(reset_status(&json!({"status": "bogus"}))),
            "Snapshot status: bogus is invalid, valid statuses are: ('error', 'available', \
             'creating', 'deleting', 'deleted', 'updating', 'error_deleting', 'unmanaging', \
             'backing-up', 'restoring')."
        );
        assert_eq!(
            message(reset_status(&json!({}))),
            "Invalid input for field/attribute os-reset_status. Value: {}. 'status' is a \
             required property"
        );
        assert!(reset_status(&json!({"status": 1})).is_err());
        assert!(reset_status(&json!({"status": "error", "x": 1})).is_err());
        assert!(reset_status(&json!(null)).is_err());
    }

    #[test]
    fn update_status_checks_the_progress_format() {
        assert_eq!(
            parse(&json!({"os-update_snapshot_status": {"status": "available",
                                                        "progress": "90%"}}))
            .unwrap(),
            Action::UpdateStatus {
                status: "available".into(),
                progress: Some("90%".into())
            }
        );
        assert_eq!(progress(Some(&json!(""))).unwrap(), None);
        assert_eq!(progress(Some(&json!(null))).unwrap(), None);
        for bad in [json!("x%"), json!("%"), json!(5)] {
            assert_eq!(
                message(progress(Some(&bad))),
                "Invalid input received: progress must be an integer percentage",
                "{bad}"
            );
        }
        for bad in [json!("101%"), json!("-1%"), json!("50")] {
            assert!(
                message(progress(Some(&bad))).ends_with("between 0 and 100"),
                "{bad}"
            );
        }
        assert!(update_status(&json!({"progress": "1%"})).is_err());
    }
}
