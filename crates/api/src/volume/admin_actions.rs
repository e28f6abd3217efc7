//! The admin's volume actions: `os-reset_status`, `os-force_delete` and `os-unmanage`.
//! Bodies are checked against Cinder's schemas before the volume is looked up; the service
//! answers 404 for an unknown volume and 403 for a non-admin.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use basalt_domain::volume::{AttachStatus, ResetStatus, VolumeStatus};
use basalt_domain::Caller;
use serde_json::Value;

use super::fault::{ApiError, ApiResult};
use super::schema;
use crate::state::ApiState;

const RESET_STATUS: &str = "os-reset_status";

/// Cinder's `VolumeMigrationStatus.ALL`, in its order.
const MIGRATION_STATUSES: [&str; 6] = [
    "migrating",
    "error",
    "success",
    "completing",
    "none",
    "starting",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AdminAction {
    ResetStatus(ResetStatus),
    ForceDelete,
    Unmanage,
}

impl AdminAction {
    /// The action `name` names, its arguments checked; `None` for other names.
    pub(super) fn parse(name: &str, args: &Value) -> Option<ApiResult<AdminAction>> {
        match name {
            RESET_STATUS => Some(reset_status(args).map(AdminAction::ResetStatus)),
            // Cinder takes any body for these (`{}` or `null`).
            "os-force_delete" => Some(Ok(AdminAction::ForceDelete)),
            "os-unmanage" => Some(Ok(AdminAction::Unmanage)),
            _ => None,
        }
    }
}

/// Python's repr of a tuple of strings, as Cinder's messages list the valid values.
fn py_tuple<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<String> = values.map(|s| format!("'{s}'")).collect();
    format!("({})", all.join(", "))
}

/// One optional string field (`null` is absent, as is an empty string in Cinder's check).
fn field<'a>(obj: &'a serde_json::Map<String, Value>, key: &str) -> ApiResult<Option<&'a str>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(schema::type_error(Some(key), other, &["string", "null"])),
    }
}

/// `{"os-reset_status": {"status", "attach_status", "migration_status"}}`, at least one.
fn reset_status(args: &Value) -> ApiResult<ResetStatus> {
    let obj = schema::object(Some(RESET_STATUS), args)?;
    schema::only_keys(
        Some(RESET_STATUS),
        args,
        obj,
        &["status", "attach_status", "migration_status"],
    )?;
    let mut r = ResetStatus::default();
    if let Some(s) = field(obj, "status")? {
        r.status = Some(VolumeStatus::parse(&s.to_lowercase()).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Volume status: {s} is invalid, valid statuses are: {}.",
                py_tuple(VolumeStatus::ALL.iter().map(|v| v.as_str()))
            ))
        })?);
    }
    if let Some(s) = field(obj, "attach_status")? {
        r.attach_status = match s.to_lowercase().as_str() {
            "attached" => Some(AttachStatus::Attached),
            "detached" => Some(AttachStatus::Detached),
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "Volume attach status: {s} is invalid, valid statuses are: ['attached', \
                     'detached']."
                )))
            }
        };
    }
    if let Some(s) = field(obj, "migration_status")? {
        let m = s.to_lowercase();
        if !MIGRATION_STATUSES.contains(&m.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "Volume migration status: {s} is invalid, valid statuses are: {}.",
                py_tuple(MIGRATION_STATUSES.into_iter())
            )));
        }
        r.migration_status = Some((m != "none").then_some(m));
    }
    if r == ResetStatus::default() {
        return Err(ApiError::BadRequest(
            "Must specify 'status', 'attach_status' or 'migration_status' for update.".into(),
        ));
    }
    Ok(r)
}

pub(super) async fn act(
    state: &ApiState,
    caller: &Caller,
    id: &str,
    action: AdminAction,
) -> ApiResult<Response> {
    match action {
        AdminAction::ResetStatus(r) => state.volumes.reset_status(caller, id, &r).await?,
        AdminAction::ForceDelete => state.volumes.force_delete(caller, id).await?,
        AdminAction::Unmanage => state.volumes.unmanage(caller, id).await?,
    }
    Ok(StatusCode::ACCEPTED.into_response())
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
    fn reset_status_takes_any_of_the_three_fields_in_any_case() {
        let r = reset_status(&json!({"status": "ERROR", "migration_status": "none"})).unwrap();
        assert_eq!(r.status, Some(VolumeStatus::Error));
        assert_eq!(r.migration_status, Some(None));
        let r = reset_status(&json!({"attach_status": "detached"})).unwrap();
        assert_eq!(r.attach_status, Some(AttachStatus::Detached));
        assert_eq!(
            message(reset_status(&json!({}))),
            "Must specify 'status', 'attach_status' or 'migration_status' for update."
        );
        assert!(message(reset_status(&json!({"status": "bogus"})))
            .starts_with("Volume status: bogus is invalid, valid statuses are: ('creating', "));
        assert_eq!(
            message(reset_status(&json!({"attach_status": "attaching"}))),
            "Volume attach status: attaching is invalid, valid statuses are: ['attached', \
             'detached']."
        );
        assert_eq!(
            message(reset_status(&json!({"migration_status": "x"}))),
            "Volume migration status: x is invalid, valid statuses are: ('migrating', 'error', \
             'success', 'completing', 'none', 'starting')."
        );
        assert!(reset_status(&json!({"status": 1})).is_err());
        assert!(reset_status(&json!({"status": "error", "x": 1})).is_err());
        assert!(reset_status(&json!(null)).is_err());
    }
}
