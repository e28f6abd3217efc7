//! The actions that move a volume: `os-retype` (owner), `os-migrate_volume` and
//! `os-migrate_volume_completion` (admin), their bodies checked against Cinder's schemas
//! before the volume is looked up.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use basalt_domain::volume::{MigrateRequest, MigrationPolicy};
use basalt_domain::Caller;
use serde_json::{json, Map, Value};

use super::fault::ApiResult;
use super::schema;
use crate::state::ApiState;

const RETYPE: &str = "os-retype";
const MIGRATE: &str = "os-migrate_volume";
const COMPLETION: &str = "os-migrate_volume_completion";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum MoveAction {
    Retype {
        new_type: String,
        policy: MigrationPolicy,
    },
    Migrate(MigrateRequest),
    Completion {
        new_volume: String,
        error: bool,
    },
}

impl MoveAction {
    /// The action `name` names, its arguments checked; `None` for other names.
    pub(super) fn parse(name: &str, args: &Value) -> Option<ApiResult<MoveAction>> {
        match name {
            RETYPE => Some(retype(args)),
            MIGRATE => Some(migrate(args)),
            COMPLETION => Some(completion(args)),
            _ => None,
        }
    }

    pub(super) fn named(name: &str) -> bool {
        matches!(name, RETYPE | MIGRATE | COMPLETION)
    }
}

fn required<'a>(action: &str, args: &'a Value, key: &str) -> ApiResult<&'a Value> {
    let obj = schema::object(Some(action), args)?;
    obj.get(key)
        .ok_or_else(|| schema::field_error(action, args, format!("'{key}' is a required property")))
}

fn string<'a>(key: &str, v: &'a Value) -> ApiResult<&'a str> {
    v.as_str()
        .ok_or_else(|| schema::type_error(Some(key), v, &["string"]))
}

fn boolean(obj: &Map<String, Value>, key: &str) -> ApiResult<bool> {
    Ok(schema::optional_bool(obj, key)?.unwrap_or(false))
}

/// `{"os-retype": {"new_type": <name or id>, "migration_policy": "never" | "on-demand"}}`.
fn retype(args: &Value) -> ApiResult<MoveAction> {
    let new_type = string("new_type", required(RETYPE, args, "new_type")?)?.to_owned();
    let obj = schema::object(Some(RETYPE), args)?;
    schema::only_keys(Some(RETYPE), args, obj, &["new_type", "migration_policy"])?;
    let policy = match obj.get("migration_policy") {
        None | Some(Value::Null) => MigrationPolicy::Never,
        Some(Value::String(s)) if s == "never" => MigrationPolicy::Never,
        Some(Value::String(s)) if s == "on-demand" => MigrationPolicy::OnDemand,
        Some(v) => {
            return Err(schema::field_error(
                "migration_policy",
                v,
                format!(
                    "{} is not one of ['on-demand', 'never']",
                    schema::py_repr(v)
                ),
            ))
        }
    };
    Ok(MoveAction::Retype { new_type, policy })
}

/// `{"os-migrate_volume": {"host", "force_host_copy", "lock_volume"}}`.
fn migrate(args: &Value) -> ApiResult<MoveAction> {
    let host_value = required(MIGRATE, args, "host")?;
    let host = string("host", host_value)?;
    if host.chars().count() > 255 {
        return Err(schema::field_error(
            "host",
            host_value,
            format!("{} is too long", schema::py_repr(host_value)),
        ));
    }
    let obj = schema::object(Some(MIGRATE), args)?;
    schema::only_keys(
        Some(MIGRATE),
        args,
        obj,
        &["host", "force_host_copy", "lock_volume"],
    )?;
    Ok(MoveAction::Migrate(MigrateRequest {
        host: host.to_owned(),
        force_host_copy: boolean(obj, "force_host_copy")?,
        lock_volume: boolean(obj, "lock_volume")?,
    }))
}

/// `{"os-migrate_volume_completion": {"new_volume": <uuid>, "error": <bool>}}`.
fn completion(args: &Value) -> ApiResult<MoveAction> {
    required(COMPLETION, args, "new_volume")?;
    let obj = schema::object(Some(COMPLETION), args)?;
    schema::only_keys(Some(COMPLETION), args, obj, &["new_volume", "error"])?;
    let new_volume = schema::optional_uuid(obj, "new_volume")?.ok_or_else(|| {
        schema::field_error(
            "new_volume",
            &Value::Null,
            "None is not valid under any of the given schemas",
        )
    })?;
    Ok(MoveAction::Completion {
        new_volume,
        error: boolean(obj, "error")?,
    })
}

pub(super) async fn act(
    state: &ApiState,
    caller: &Caller,
    id: &str,
    action: MoveAction,
) -> ApiResult<Response> {
    match action {
        MoveAction::Retype { new_type, policy } => {
            state.volumes.retype(caller, id, &new_type, policy).await?
        }
        MoveAction::Migrate(req) => state.volumes.migrate(caller, id, &req).await?,
        MoveAction::Completion { new_volume, error } => {
            let kept = state
                .volumes
                .migrate_completion(caller, id, &new_volume, error)
                .await?;
            return Ok(Json(json!({ "save_volume_id": kept })).into_response());
        }
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

#[cfg(test)]
mod tests {
    use super::super::fault::ApiError;
    use super::*;

    fn message<T: std::fmt::Debug>(r: ApiResult<T>) -> String {
        match r {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn retype_takes_a_type_and_a_known_policy() {
        assert_eq!(
            retype(&json!({"new_type": "gold", "migration_policy": "on-demand"})).unwrap(),
            MoveAction::Retype {
                new_type: "gold".into(),
                policy: MigrationPolicy::OnDemand
            }
        );
        assert_eq!(
            message(retype(&json!({}))),
            "Invalid input for field/attribute os-retype. Value: {}. 'new_type' is a required \
             property"
        );
        assert_eq!(
            message(retype(
                &json!({"new_type": "g", "migration_policy": "sideways"})
            )),
            "Invalid input for field/attribute migration_policy. Value: sideways. 'sideways' \
             is not one of ['on-demand', 'never']"
        );
        assert!(retype(&json!({"new_type": 1})).is_err());
        assert!(retype(&json!({"new_type": "g", "x": 1})).is_err());
    }

    #[test]
    fn migrate_needs_a_host() {
        assert_eq!(
            migrate(&json!({"host": "h@b#b", "lock_volume": "true"})).unwrap(),
            MoveAction::Migrate(MigrateRequest {
                host: "h@b#b".into(),
                force_host_copy: false,
                lock_volume: true
            })
        );
        assert_eq!(
            message(migrate(&json!({"lock_volume": true}))),
            "Invalid input for field/attribute os-migrate_volume. Value: {'lock_volume': \
             True}. 'host' is a required property"
        );
        assert!(migrate(&json!({"host": "h", "force": true})).is_err());
        assert!(completion(&json!({"new_volume": "not-a-uuid"})).is_err());
        assert!(completion(&json!({})).is_err());
    }
}
