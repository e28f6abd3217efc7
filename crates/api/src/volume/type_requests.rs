//! Request schemas of the volume-type API (Cinder's `volume_types`, `types_extra_specs`,
//! `volume_type_access` and `volume_type_encryption` schemas).

use basalt_domain::volume_type::{
    ControlLocation, EncryptionChange, ExtraSpecs, NewType, TypeUpdate,
};
use serde_json::{Map, Value};

use super::fault::ApiError;
use super::schema::{self, MAX_INT};

/// Cinder's `name` format: present, not only white space, at most 255 characters.
pub fn name(field_owner: &str, owner: &Value, v: Option<&Value>) -> Result<String, ApiError> {
    let Some(v) = v else {
        return Err(schema::field_error(
            field_owner,
            owner,
            "'name' is a required property",
        ));
    };
    let Value::String(s) = v else {
        return Err(schema::type_error(Some("name"), v, &["string"]));
    };
    if s.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "An invalid 'name' value was provided. The 'name' can not be empty.".into(),
        ));
    }
    if s.chars().count() > 255 {
        return Err(schema::field_error(
            "name",
            v,
            format!("{} is too long", schema::py_repr(v)),
        ));
    }
    Ok(s.clone())
}

fn key_ok(k: &str, spaces: bool) -> bool {
    (1..=255).contains(&k.chars().count())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_:.".contains(c) || (spaces && c == ' '))
}

/// Extra specs: keys `^[a-zA-Z0-9-_:.]{1,255}$` (with spaces too when `spaces`), values
/// strings of at most 255 characters or null.
pub fn extra_specs(field: &str, v: &Value, spaces: bool) -> Result<ExtraSpecs, ApiError> {
    let obj = schema::object(Some(field), v)?;
    let allowed: Vec<&str> = obj
        .keys()
        .filter(|k| key_ok(k, spaces))
        .map(String::as_str)
        .collect();
    schema::only_keys(Some(field), v, obj, &allowed)?;
    let mut out = ExtraSpecs::new();
    for (k, value) in obj {
        match value {
            Value::Null => {
                out.insert(k.clone(), None);
            }
            Value::String(s) if s.chars().count() <= 255 => {
                out.insert(k.clone(), Some(s.clone()));
            }
            Value::String(_) => {
                return Err(schema::field_error(
                    k,
                    value,
                    format!("{} is too long", schema::py_repr(value)),
                ))
            }
            other => return Err(schema::type_error(Some(k), other, &["string", "null"])),
        }
    }
    Ok(out)
}

/// A boolean field with Cinder's `boolean` schema (JSON booleans and the usual spellings).
fn boolean(obj: &Map<String, Value>, field: &str) -> Result<Option<bool>, ApiError> {
    match obj.get(field) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v @ Value::String(s)) => schema::bool_str(s)
            .map(Some)
            .ok_or_else(|| not_boolean(field, v)),
        Some(v) => Err(not_boolean(field, v)),
    }
}

fn not_boolean(field: &str, v: &Value) -> ApiError {
    schema::field_error(
        field,
        v,
        format!("{} is not one of the boolean spellings", schema::py_repr(v)),
    )
}

/// A description: a string of at most 255 characters, or null.
fn description(obj: &Map<String, Value>) -> Result<Option<Option<String>>, ApiError> {
    schema::nullable_string(obj, "description", 255)
}

pub fn new_type(body: &Value) -> Result<NewType, ApiError> {
    let t = schema::envelope(body, "volume_type", &["volume_type"])?;
    let obj = schema::object(Some("volume_type"), t)?;
    schema::only_keys(
        Some("volume_type"),
        t,
        obj,
        &[
            "name",
            "description",
            "extra_specs",
            "os-volume-type-access:is_public",
        ],
    )?;
    let name = name("volume_type", t, obj.get("name"))?;
    let extra_specs = match obj.get("extra_specs") {
        None | Some(Value::Null) => ExtraSpecs::new(),
        Some(v) => extra_specs("extra_specs", v, true)?,
    };
    Ok(NewType {
        name: name.trim().to_owned(),
        description: description(obj)?.flatten(),
        extra_specs,
        is_public: boolean(obj, "os-volume-type-access:is_public")?.unwrap_or(true),
    })
}

pub fn type_update(body: &Value) -> Result<TypeUpdate, ApiError> {
    let t = schema::envelope(body, "volume_type", &["volume_type"])?;
    let obj = schema::object(Some("volume_type"), t)?;
    schema::only_keys(
        Some("volume_type"),
        t,
        obj,
        &["name", "description", "is_public"],
    )?;
    let name = match schema::nullable_string(obj, "name", 255)? {
        Some(Some(n)) if n.is_empty() => {
            let v = Value::String(n);
            return Err(schema::field_error(
                "name",
                &v,
                "'' is too short".to_string(),
            ));
        }
        other => other.flatten(),
    };
    Ok(TypeUpdate {
        name,
        description: description(obj)?,
        is_public: boolean(obj, "is_public")?,
    })
}

/// `{"extra_specs": {...}}` of `POST /types/{id}/extra_specs`.
pub fn extra_specs_body(body: &Value) -> Result<ExtraSpecs, ApiError> {
    let specs = schema::envelope(body, "extra_specs", &["extra_specs"])?;
    extra_specs("extra_specs", specs, false)
}

/// `{"<key>": "<value>"}` of `PUT /types/{id}/extra_specs/{key}`: exactly one pair, whose key
/// is the URL's.
pub fn one_spec(body: &Value, key: &str) -> Result<ExtraSpecs, ApiError> {
    let obj = schema::object(None, body)?;
    if obj.len() != 1 {
        let n = obj.len();
        return Err(ApiError::BadRequest(if n == 0 {
            "{} does not have enough properties".into()
        } else {
            format!("{} has too many properties", schema::py_repr(body))
        }));
    }
    let specs = extra_specs("extra_specs", body, false)?;
    if !specs.contains_key(key) {
        return Err(ApiError::BadRequest("Request body and URI mismatch".into()));
    }
    Ok(specs)
}

/// The project of `addProjectAccess` / `removeProjectAccess` (Cinder's `uuid` format, which
/// also takes Keystone's 32 hex digits).
pub fn access_project(action: &str, args: &Value) -> Result<String, ApiError> {
    let obj = schema::object(Some(action), args)?;
    schema::only_keys(Some(action), args, obj, &["project"])?;
    let Some(v) = obj.get("project") else {
        return Err(schema::field_error(
            action,
            args,
            "'project' is a required property",
        ));
    };
    match v {
        Value::String(s) if uuid::Uuid::parse_str(s).is_ok() => Ok(s.clone()),
        _ => Err(schema::field_error(
            "project",
            v,
            format!("{} is not a 'uuid'", schema::py_repr(v)),
        )),
    }
}

/// `{"encryption": {...}}`: `provider` and `control_location` are required on create.
pub fn encryption(body: &Value, create: bool) -> Result<EncryptionChange, ApiError> {
    let e = schema::envelope(body, "encryption", &["encryption"])?;
    let obj = schema::object(Some("encryption"), e)?;
    if create {
        for required in ["provider", "control_location"] {
            if !obj.contains_key(required) {
                return Err(schema::field_error(
                    "encryption",
                    e,
                    format!("'{required}' is a required property"),
                ));
            }
        }
    }
    let provider = match obj.get("provider") {
        None => None,
        Some(v @ Value::String(s)) if s.chars().count() > 255 => {
            return Err(schema::field_error("provider", v, "is too long"))
        }
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(v) => return Err(schema::type_error(Some("provider"), v, &["string"])),
    };
    let control_location = match obj.get("control_location") {
        None => None,
        Some(v) => Some(v.as_str().and_then(ControlLocation::parse).ok_or_else(|| {
            schema::field_error(
                "control_location",
                v,
                format!(
                    "{} is not one of ['front-end', 'back-end']",
                    schema::py_repr(v)
                ),
            )
        })?),
    };
    Ok(EncryptionChange {
        provider,
        cipher: schema::nullable_string(obj, "cipher", 255)?,
        key_size: key_size(obj)?,
        control_location,
    })
}

/// `key_size`: an integer, a string of digits, or null; 0..=2147483647.
fn key_size(obj: &Map<String, Value>) -> Result<Option<Option<i64>>, ApiError> {
    let Some(v) = obj.get("key_size") else {
        return Ok(None);
    };
    let n = match v {
        Value::Null => return Ok(Some(None)),
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if (0..=MAX_INT).contains(&n) => Ok(Some(Some(n))),
        _ => Err(schema::field_error(
            "key_size",
            v,
            format!("{} is not a 'key_size'", schema::py_repr(v)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(e: ApiError) -> String {
        match e {
            ApiError::BadRequest(m) => m,
            other => panic!("not a 400: {other:?}"),
        }
    }

    #[test]
    fn a_type_needs_a_name_of_at_most_255_characters() {
        let e = new_type(&json!({"volume_type": {}})).unwrap_err();
        assert!(msg(e).ends_with("'name' is a required property"));
        let e = new_type(&json!({"volume_type": {"name": "   "}})).unwrap_err();
        assert_eq!(
            msg(e),
            "An invalid 'name' value was provided. The 'name' can not be empty."
        );
        let long = "n".repeat(256);
        let e = new_type(&json!({"volume_type": {"name": long}})).unwrap_err();
        assert!(msg(e).contains("is too long"));
        let t = new_type(&json!({"volume_type": {"name": " gold ",
            "os-volume-type-access:is_public": "false",
            "extra_specs": {"volume_backend_name": "file", "k": null}}}))
        .unwrap();
        assert_eq!(t.name, "gold");
        assert!(!t.is_public);
        assert_eq!(t.extra_specs.len(), 2);
    }

    #[test]
    fn unknown_fields_and_bad_specs_are_refused() {
        assert!(new_type(&json!({"volume_type": {"name": "a", "size": 1}})).is_err());
        assert!(new_type(&json!({"volume_type": {"name": "a", "extra_specs": {"k": 1}}})).is_err());
        assert!(extra_specs_body(&json!({"extra_specs": {"a b": "v"}})).is_err());
        assert!(extra_specs_body(&json!({"extra_specs": {"a:b": "v"}})).is_ok());
    }

    #[test]
    fn one_spec_must_match_the_url() {
        assert_eq!(
            msg(one_spec(&json!({"a": "1"}), "b").unwrap_err()),
            "Request body and URI mismatch"
        );
        assert!(one_spec(&json!({"a": "1", "b": "2"}), "a").is_err());
        assert!(one_spec(&json!({"a": "1"}), "a").is_ok());
    }

    #[test]
    fn encryption_needs_provider_and_location_on_create() {
        assert!(encryption(&json!({"encryption": {"provider": "luks"}}), true).is_err());
        let e = encryption(
            &json!({"encryption": {"provider": "luks", "control_location": "front-end",
                "cipher": "aes-xts-plain64", "key_size": "256"}}),
            true,
        )
        .unwrap();
        assert_eq!(e.key_size, Some(Some(256)));
        assert!(encryption(
            &json!({"encryption": {"control_location": "sideways"}}),
            false
        )
        .is_err());
    }

    #[test]
    fn access_projects_are_uuid_like() {
        assert!(access_project(
            "addProjectAccess",
            &json!({"project": "0123456789abcdef0123456789abcdef"})
        )
        .is_ok());
        assert!(access_project("addProjectAccess", &json!({"project": "demo"})).is_err());
        assert!(access_project("addProjectAccess", &json!({})).is_err());
    }
}
