//! The attach and detach actions of `POST /volumes/{id}/action` (the legacy v2 sequence Nova
//! uses, contract §3.1a): each body is checked against Cinder's schema for it, before the volume
//! is looked up, then handed to the attach service. Everything answers 202 with no body except
//! `os-initialize_connection` (200 with `connection_info`) and `os-set_bootable` (200, empty).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use basalt_domain::attach::AttachRequest;
use basalt_domain::Caller;
use serde_json::{json, Map, Value};

use super::fault::{ApiError, ApiResult};
use super::schema;
use crate::state::ApiState;

/// The attach-related actions, by their wire names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AttachAction {
    Reserve,
    Unreserve,
    BeginDetaching,
    RollDetaching,
    InitializeConnection,
    TerminateConnection,
    Attach,
    Detach,
    ForceDetach,
    UpdateReadonlyFlag,
    SetBootable,
}

impl AttachAction {
    pub(super) fn named(name: &str) -> Option<AttachAction> {
        use AttachAction::*;
        Some(match name {
            "os-reserve" => Reserve,
            "os-unreserve" => Unreserve,
            "os-begin_detaching" => BeginDetaching,
            "os-roll_detaching" => RollDetaching,
            "os-initialize_connection" => InitializeConnection,
            "os-terminate_connection" => TerminateConnection,
            "os-attach" => Attach,
            "os-detach" => Detach,
            "os-force_detach" => ForceDetach,
            "os-update_readonly_flag" => UpdateReadonlyFlag,
            "os-set_bootable" => SetBootable,
            _ => return None,
        })
    }
}

/// An action with its arguments checked.
#[derive(Debug, Clone, PartialEq)]
enum Request {
    Reserve,
    Unreserve,
    BeginDetaching,
    RollDetaching,
    InitializeConnection(Value),
    TerminateConnection(Value),
    Attach {
        instance_uuid: Option<String>,
        host_name: Option<String>,
        mountpoint: String,
        mode: String,
    },
    Detach(Option<String>),
    ForceDetach {
        connector: Option<Value>,
        attachment_id: Option<String>,
    },
    UpdateReadonlyFlag(bool),
    SetBootable(bool),
}

const MODES: [&str; 2] = ["rw", "ro"];

/// The arguments object of `action` (`args`), with no keys but `allowed`.
fn args_object<'a>(
    action: &str,
    args: &'a Value,
    required: &[&str],
    allowed: &[&str],
) -> ApiResult<&'a Map<String, Value>> {
    let obj = schema::object(Some(action), args)?;
    if let Some(missing) = required.iter().find(|k| !obj.contains_key(**k)) {
        return Err(schema::field_error(
            action,
            args,
            format!("'{missing}' is a required property"),
        ));
    }
    schema::only_keys(Some(action), args, obj, allowed)?;
    Ok(obj)
}

/// A connector: a JSON value of one of `types` (`object`, `string`, `null`).
fn connector(obj: &Map<String, Value>, types: &[&str]) -> ApiResult<Option<Value>> {
    let Some(v) = obj.get("connector") else {
        return Ok(None);
    };
    let ok = match v {
        Value::Object(_) => types.contains(&"object"),
        Value::String(_) => types.contains(&"string"),
        Value::Null => types.contains(&"null"),
        _ => false,
    };
    if !ok {
        return Err(schema::type_error(Some("connector"), v, types));
    }
    Ok(Some(v.clone()))
}

/// A string of at most `max` characters (and at least `min`), when present.
fn string(
    obj: &Map<String, Value>,
    field: &str,
    min: usize,
    max: usize,
) -> ApiResult<Option<String>> {
    match obj.get(field) {
        None => Ok(None),
        Some(v @ Value::String(s)) => {
            let n = s.chars().count();
            if n < min {
                return Err(schema::field_error(
                    field,
                    v,
                    format!("{} is too short", schema::py_repr(v)),
                ));
            }
            if n > max {
                return Err(schema::field_error(
                    field,
                    v,
                    format!("{} is too long", schema::py_repr(v)),
                ));
            }
            Ok(Some(s.clone()))
        }
        Some(v) => Err(schema::type_error(Some(field), v, &["string"])),
    }
}

/// A required boolean (Cinder's `parameter_types.boolean`: JSON booleans or its spellings).
fn required_bool(action: &str, args: &Value, field: &str) -> ApiResult<bool> {
    let obj = args_object(action, args, &[field], &[field])?;
    match obj.get(field) {
        Some(v @ Value::Null) => Err(schema::type_error(Some(field), v, &["boolean", "string"])),
        _ => Ok(schema::optional_bool(obj, field)?.expect("required and not null")),
    }
}

/// `{"os-attach": {"mountpoint", "instance_uuid" and/or "host_name", "mode"}}`.
fn attach(args: &Value) -> ApiResult<Request> {
    const ALLOWED: [&str; 4] = ["instance_uuid", "mountpoint", "host_name", "mode"];
    let obj = args_object("os-attach", args, &["mountpoint"], &ALLOWED)?;
    if !obj.contains_key("instance_uuid") && !obj.contains_key("host_name") {
        return Err(schema::field_error(
            "os-attach",
            args,
            format!(
                "{} is not valid under any of the given schemas",
                schema::py_repr(args)
            ),
        ));
    }
    let mountpoint = string(obj, "mountpoint", 1, 255)?.expect("required");
    let host_name = string(obj, "host_name", 0, 255)?;
    let instance_uuid = match obj.get("instance_uuid") {
        None => None,
        Some(Value::String(s)) => match uuid::Uuid::parse_str(s) {
            Ok(u) => Some(u.hyphenated().to_string()),
            Err(_) => {
                return Err(ApiError::BadRequest(format!(
                    "Invalid input received: Invalid instance UUID: expected a UUID but \
                     received {s}."
                )))
            }
        },
        Some(v) => return Err(schema::type_error(Some("instance_uuid"), v, &["string"])),
    };
    let mode = match obj.get("mode") {
        None => "rw".to_owned(),
        Some(Value::String(m)) if MODES.contains(&m.as_str()) => m.clone(),
        Some(v @ Value::String(_)) => {
            return Err(schema::field_error(
                "mode",
                v,
                format!("{} is not one of ['rw', 'ro']", schema::py_repr(v)),
            ))
        }
        Some(v) => return Err(schema::type_error(Some("mode"), v, &["string"])),
    };
    Ok(Request::Attach {
        instance_uuid,
        host_name,
        mountpoint,
        mode,
    })
}

/// `{"os-detach": null | {} | {"attachment_id": <uuid or null>}}`.
fn detach(args: &Value) -> ApiResult<Request> {
    if args.is_null() {
        return Ok(Request::Detach(None));
    }
    let obj = args
        .as_object()
        .ok_or_else(|| schema::type_error(Some("os-detach"), args, &["object", "null"]))?;
    schema::only_keys(Some("os-detach"), args, obj, &["attachment_id"])?;
    Ok(Request::Detach(schema::optional_uuid(
        obj,
        "attachment_id",
    )?))
}

/// `{"os-force_detach": {"connector"?, "attachment_id"?}}`.
fn force_detach(args: &Value) -> ApiResult<Request> {
    let obj = args_object(
        "os-force_detach",
        args,
        &[],
        &["connector", "attachment_id"],
    )?;
    let connector = connector(obj, &["string", "object", "null"])?;
    let attachment_id = match obj.get("attachment_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => {
            return Err(schema::type_error(
                Some("attachment_id"),
                v,
                &["string", "null"],
            ))
        }
    };
    Ok(Request::ForceDetach {
        connector,
        attachment_id,
    })
}

/// Checks the arguments of `action` against Cinder's schema for it.
fn parse(action: AttachAction, args: &Value) -> ApiResult<Request> {
    use AttachAction as A;
    Ok(match action {
        // Cinder reads no body for these.
        A::Reserve => Request::Reserve,
        A::Unreserve => Request::Unreserve,
        A::BeginDetaching => Request::BeginDetaching,
        A::RollDetaching => Request::RollDetaching,
        A::InitializeConnection => {
            const NAME: &str = "os-initialize_connection";
            let obj = args_object(NAME, args, &["connector"], &["connector"])?;
            Request::InitializeConnection(connector(obj, &["object", "string"])?.expect("required"))
        }
        A::TerminateConnection => {
            const NAME: &str = "os-terminate_connection";
            let obj = args_object(NAME, args, &["connector"], &["connector"])?;
            Request::TerminateConnection(
                connector(obj, &["string", "object", "null"])?.expect("required"),
            )
        }
        A::Attach => attach(args)?,
        A::Detach => detach(args)?,
        A::ForceDetach => force_detach(args)?,
        A::UpdateReadonlyFlag => {
            Request::UpdateReadonlyFlag(required_bool("os-update_readonly_flag", args, "readonly")?)
        }
        A::SetBootable => Request::SetBootable(required_bool("os-set_bootable", args, "bootable")?),
    })
}

/// Runs `action` on volume `id` for `caller`, its arguments checked first.
pub(super) async fn act(
    state: &ApiState,
    caller: &Caller,
    id: &str,
    action: AttachAction,
    args: &Value,
) -> ApiResult<Response> {
    let svc = &state.attach;
    match parse(action, args)? {
        Request::Reserve => svc.reserve(caller, id).await?,
        Request::Unreserve => svc.unreserve(caller, id).await?,
        Request::BeginDetaching => svc.begin_detaching(caller, id).await?,
        Request::RollDetaching => svc.roll_detaching(caller, id).await?,
        Request::InitializeConnection(connector) => {
            let info = svc.initialize_connection(caller, id, &connector).await?;
            let body = json!({ "connection_info": info });
            return Ok((StatusCode::OK, Json(body)).into_response());
        }
        Request::TerminateConnection(connector) => {
            svc.terminate_connection(caller, id, &connector).await?
        }
        Request::Attach {
            instance_uuid,
            host_name,
            mountpoint,
            mode,
        } => {
            let req = AttachRequest {
                instance_uuid,
                host_name,
                mountpoint,
                mode,
            };
            svc.attach(caller, id, req).await?
        }
        Request::Detach(attachment_id) => svc.detach(caller, id, attachment_id.as_deref()).await?,
        Request::ForceDetach {
            connector,
            attachment_id,
        } => {
            svc.force_detach(caller, id, connector.as_ref(), attachment_id.as_deref())
                .await?
        }
        Request::UpdateReadonlyFlag(readonly) => {
            svc.update_readonly_flag(caller, id, readonly).await?
        }
        Request::SetBootable(bootable) => {
            svc.set_bootable(caller, id, bootable).await?;
            return Ok(StatusCode::OK.into_response());
        }
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message<T: std::fmt::Debug>(r: ApiResult<T>) -> String {
        match r {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    fn p(name: &str, args: Value) -> ApiResult<Request> {
        parse(AttachAction::named(name).expect("known action"), &args)
    }

    #[test]
    fn state_changes_take_any_body() {
        for name in [
            "os-reserve",
            "os-unreserve",
            "os-begin_detaching",
            "os-roll_detaching",
        ] {
            assert!(p(name, json!(null)).is_ok());
            assert!(p(name, json!({})).is_ok());
        }
        assert_eq!(AttachAction::named("os-attachx"), None);
    }

    #[test]
    fn attach_needs_a_mountpoint_and_a_server_or_host() {
        let ok = p(
            "os-attach",
            json!({"instance_uuid": "4B8C36A0-0F6E-4C0A-9C7B-1D0E6A8E2F11",
                   "mountpoint": "/dev/vdb"}),
        )
        .unwrap();
        assert_eq!(
            ok,
            Request::Attach {
                instance_uuid: Some("4b8c36a0-0f6e-4c0a-9c7b-1d0e6a8e2f11".into()),
                host_name: None,
                mountpoint: "/dev/vdb".into(),
                mode: "rw".into(),
            }
        );
        assert!(p(
            "os-attach",
            json!({"host_name": "h", "mountpoint": "/d", "mode": "ro"})
        )
        .is_ok());
        assert_eq!(
            message(p("os-attach", json!({"host_name": "h"}))),
            "Invalid input for field/attribute os-attach. Value: {'host_name': 'h'}. \
             'mountpoint' is a required property"
        );
        assert_eq!(
            message(p("os-attach", json!({"mountpoint": "/d"}))),
            "Invalid input for field/attribute os-attach. Value: {'mountpoint': '/d'}. \
             {'mountpoint': '/d'} is not valid under any of the given schemas"
        );
        assert_eq!(
            message(p(
                "os-attach",
                json!({"host_name": "h", "mountpoint": "/d", "mode": "rx"})
            )),
            "Invalid input for field/attribute mode. Value: rx. 'rx' is not one of ['rw', 'ro']"
        );
        assert!(message(p(
            "os-attach",
            json!({"instance_uuid": "nope", "mountpoint": "/d"})
        ))
        .starts_with("Invalid input received: Invalid instance UUID"));
        assert!(p("os-attach", json!({"host_name": "h", "mountpoint": ""})).is_err());
        assert!(p("os-attach", json!({"host_name": "h", "mountpoint": 1})).is_err());
        assert!(p(
            "os-attach",
            json!({"host_name": "h", "mountpoint": "/d", "x": 1})
        )
        .is_err());
        assert!(p("os-attach", json!(null)).is_err());
    }

    #[test]
    fn detach_takes_an_optional_attachment_uuid() {
        assert_eq!(p("os-detach", json!(null)).unwrap(), Request::Detach(None));
        assert_eq!(p("os-detach", json!({})).unwrap(), Request::Detach(None));
        assert_eq!(
            p("os-detach", json!({"attachment_id": null})).unwrap(),
            Request::Detach(None)
        );
        let id = "4b8c36a0-0f6e-4c0a-9c7b-1d0e6a8e2f11";
        assert_eq!(
            p("os-detach", json!({ "attachment_id": id })).unwrap(),
            Request::Detach(Some(id.into()))
        );
        assert!(p("os-detach", json!({"attachment_id": "x"})).is_err());
        assert!(p("os-detach", json!({"other": 1})).is_err());
        assert!(p("os-detach", json!([])).is_err());
    }

    #[test]
    fn connections_need_the_connector_key() {
        assert_eq!(
            message(p("os-initialize_connection", json!({}))),
            "Invalid input for field/attribute os-initialize_connection. Value: {}. \
             'connector' is a required property"
        );
        assert_eq!(
            message(p("os-initialize_connection", json!({"connector": 5}))),
            "Invalid input for field/attribute connector. Value: 5. 5 is not of type \
             'object', 'string'"
        );
        assert!(p("os-initialize_connection", json!({"connector": null})).is_err());
        assert!(p("os-initialize_connection", json!({"connector": {}, "x": 1})).is_err());
        assert!(p("os-terminate_connection", json!({"connector": null})).is_ok());
        assert!(p("os-terminate_connection", json!({"connector": "h"})).is_ok());
        assert!(p("os-terminate_connection", json!({})).is_err());
        assert!(p("os-terminate_connection", json!({"connector": [1]})).is_err());
    }

    #[test]
    fn force_detach_takes_optional_connector_and_attachment() {
        assert_eq!(
            p("os-force_detach", json!({})).unwrap(),
            Request::ForceDetach {
                connector: None,
                attachment_id: None
            }
        );
        assert!(p(
            "os-force_detach",
            json!({"connector": {"host": "h"},
                                             "attachment_id": "a"})
        )
        .is_ok());
        assert!(p("os-force_detach", json!({"attachment_id": 1})).is_err());
        assert!(p("os-force_detach", json!({"x": 1})).is_err());
    }

    #[test]
    fn flags_are_required_booleans() {
        assert_eq!(
            p("os-update_readonly_flag", json!({"readonly": "yes"})).unwrap(),
            Request::UpdateReadonlyFlag(true)
        );
        assert_eq!(
            p("os-set_bootable", json!({"bootable": false})).unwrap(),
            Request::SetBootable(false)
        );
        assert_eq!(
            message(p("os-set_bootable", json!({}))),
            "Invalid input for field/attribute os-set_bootable. Value: {}. 'bootable' is a \
             required property"
        );
        assert!(p("os-set_bootable", json!({"bootable": null})).is_err());
        assert!(p("os-set_bootable", json!({"bootable": "maybe"})).is_err());
        assert!(p("os-update_readonly_flag", json!({"readonly": 1})).is_err());
        assert!(p("os-update_readonly_flag", json!(null)).is_err());
    }
}
