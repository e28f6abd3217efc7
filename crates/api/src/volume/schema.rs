//! Request-body checks that answer with Cinder's JSON-schema messages ("Invalid input for
//! field/attribute X. Value: v. <reason>"), values rendered as Python would print them, since
//! scripts and tests match on those texts. Every body check of the block-storage API is built
//! from these pieces.

use std::fmt::Display;

use axum::body::Body;
use axum::http::HeaderMap;
use basalt_domain::metadata::Metadata;
use serde_json::{Map, Value};

use super::fault::ApiError;
use crate::body::read_json;
use crate::state::ApiState;

/// Cinder's `DB_MAX_INT`, the largest size or quota value accepted.
pub const MAX_INT: i64 = 2_147_483_647;

/// Reads a JSON body of any shape (415, 413 and "Malformed request body" come from here);
/// the checks below then give it its meaning.
pub async fn read_body(
    state: &ApiState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Value, ApiError> {
    Ok(read_json::<Value>(headers, body, state.max_body_bytes).await?)
}

/// Python's `repr` of a JSON value (`'text'`, `None`, `True`, `{'k': 1}`).
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => py_str_repr(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(py_repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", py_str_repr(k), py_repr(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

/// Python's `str` of a JSON value: strings bare, everything else as `repr`.
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// An error about one field, in Cinder's wording.
pub fn field_error(field: &str, value: &Value, reason: impl Display) -> ApiError {
    ApiError::BadRequest(format!(
        "Invalid input for field/attribute {field}. Value: {}. {reason}",
        py_str(value)
    ))
}

/// `<repr> is not of type 'a', 'b'`, about a field or (with `None`) the whole body.
pub fn type_error(field: Option<&str>, value: &Value, types: &[&str]) -> ApiError {
    let names: Vec<String> = types.iter().map(|t| format!("'{t}'")).collect();
    let reason = format!("{} is not of type {}", py_repr(value), names.join(", "));
    match field {
        Some(f) => field_error(f, value, reason),
        None => ApiError::BadRequest(reason),
    }
}

/// The JSON object holding `field`, or the schema's type error.
pub fn object<'a>(
    field: Option<&str>,
    value: &'a Value,
) -> Result<&'a Map<String, Value>, ApiError> {
    value
        .as_object()
        .ok_or_else(|| type_error(field, value, &["object"]))
}

/// Refuses keys other than `allowed` (`field`: the object's name, `None` for the body).
pub fn only_keys(
    field: Option<&str>,
    value: &Value,
    obj: &Map<String, Value>,
    allowed: &[&str],
) -> Result<(), ApiError> {
    let extra: Vec<String> = obj
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| py_str_repr(k))
        .collect();
    if extra.is_empty() {
        return Ok(());
    }
    let verb = if extra.len() == 1 { "was" } else { "were" };
    let reason = format!(
        "Additional properties are not allowed ({} {verb} unexpected)",
        extra.join(", ")
    );
    Err(match field {
        Some(f) => field_error(f, value, reason),
        None => ApiError::BadRequest(reason),
    })
}

/// The body's envelope: an object with the key `required` and no keys but `allowed`
/// (`required` included); returns the value under `required`.
pub fn envelope<'a>(
    body: &'a Value,
    required: &str,
    allowed: &[&str],
) -> Result<&'a Value, ApiError> {
    let obj = object(None, body)?;
    let inner = obj
        .get(required)
        .ok_or_else(|| ApiError::BadRequest(format!("'{required}' is a required property")))?;
    only_keys(None, body, obj, allowed)?;
    Ok(inner)
}

/// A size in GiB: an integer or a string of digits, 1..=2147483647 (Cinder's `volume_size`).
/// `null` is `None` when `nullable`.
pub fn volume_size(field: &str, v: &Value, nullable: bool) -> Result<Option<i64>, ApiError> {
    let types: &[&str] = if nullable {
        &["integer", "string", "null"]
    } else {
        &["integer", "string"]
    };
    let number = match v {
        Value::Null if nullable => return Ok(None),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.trim_start_matches('0').to_owned()
        }
        Value::String(s) => {
            return Err(field_error(
                field,
                v,
                format!("{} does not match '^[0-9]+$'", py_str_repr(s)),
            ))
        }
        _ => return Err(type_error(Some(field), v, types)),
    };
    let shown = if number.is_empty() {
        "0"
    } else {
        number.as_str()
    };
    match shown.parse::<i64>() {
        Ok(n) if n < 1 => Err(field_error(
            field,
            v,
            format!("{n} is less than the minimum of 1"),
        )),
        Ok(n) if n <= MAX_INT => Ok(Some(n)),
        _ => Err(field_error(
            field,
            v,
            format!("{shown} is greater than the maximum of {MAX_INT}"),
        )),
    }
}

/// An optional string of at most `max` characters; `Some(None)` for an explicit `null`.
pub fn nullable_string(
    obj: &Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<Option<Option<String>>, ApiError> {
    match obj.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v @ Value::String(s)) => {
            let n = s.chars().count();
            if n > max {
                return Err(field_error(
                    field,
                    v,
                    format!("{} is too long", py_str_repr(s)),
                ));
            }
            Ok(Some(Some(s.clone())))
        }
        Some(v) => Err(type_error(Some(field), v, &["string", "null"])),
    }
}

/// A name or description: stripped of surrounding white space, at most 255 characters
/// (Cinder's `*_non_mandatory_remove_white_spaces` formats). `label` names it in the message.
pub fn display_text(
    obj: &Map<String, Value>,
    field: &str,
    label: &str,
) -> Result<Option<Option<String>>, ApiError> {
    match obj.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => {
            let trimmed = s.trim();
            let n = trimmed.chars().count();
            if n > 255 {
                return Err(ApiError::BadRequest(format!(
                    "Invalid input received: {label} has {n} characters, more than 255."
                )));
            }
            Ok(Some(Some(trimmed.to_owned())))
        }
        Some(v) => Err(type_error(Some(field), v, &["string", "null"])),
    }
}

/// An optional UUID (`null` allowed), as its canonical hyphenated lower-case string.
pub fn optional_uuid(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    let not_valid = |v: &Value| {
        field_error(
            field,
            v,
            format!("{} is not valid under any of the given schemas", py_repr(v)),
        )
    };
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::String(s)) => uuid::Uuid::parse_str(s)
            .map(|u| Some(u.hyphenated().to_string()))
            .map_err(|_| not_valid(v)),
        Some(v) => Err(not_valid(v)),
    }
}

/// The boolean spellings Cinder accepts (oslo's `is_valid_boolstr`).
pub fn bool_str(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

/// An optional boolean body field: JSON booleans or the spellings of [`bool_str`].
pub fn optional_bool(obj: &Map<String, Value>, field: &str) -> Result<Option<bool>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v @ Value::String(s)) => bool_str(s).map(Some).ok_or_else(|| {
            field_error(
                field,
                v,
                format!("{} is not valid under any of the given schemas", py_repr(v)),
            )
        }),
        Some(v) => Err(field_error(
            field,
            v,
            format!("{} is not valid under any of the given schemas", py_repr(v)),
        )),
    }
}

/// A boolean query parameter (Cinder's `get_bool_param`): absent is false, a spelling outside
/// [`bool_str`] is a 400.
pub fn bool_param(params: &[(String, String)], name: &str) -> Result<bool, ApiError> {
    match params.iter().find(|(k, _)| k == name) {
        None => Ok(false),
        Some((_, v)) => bool_str(v).ok_or_else(|| {
            ApiError::BadRequest(format!("Value '{v}' for '{name}' is not a boolean."))
        }),
    }
}

fn metadata_key_ok(k: &str) -> bool {
    (1..=255).contains(&k.chars().count())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_:. /".contains(c))
}

/// User metadata (Cinder's `extra_specs` schema): an object whose keys match
/// `^[a-zA-Z0-9-_:. /]{1,255}$` and whose values are strings of at most 255 characters.
/// `null` is empty when `nullable`.
pub fn metadata(field: &str, v: &Value, nullable: bool) -> Result<Metadata, ApiError> {
    let obj = match v {
        Value::Null if nullable => return Ok(Metadata::new()),
        Value::Object(obj) => obj,
        _ if nullable => return Err(type_error(Some(field), v, &["object", "null"])),
        _ => return Err(type_error(Some(field), v, &["object"])),
    };
    let allowed: Vec<&str> = obj
        .keys()
        .filter(|k| metadata_key_ok(k))
        .map(String::as_str)
        .collect();
    only_keys(Some(field), v, obj, &allowed)?;
    let mut out = Metadata::new();
    for (k, value) in obj {
        match value {
            Value::String(s) if s.chars().count() <= 255 => {
                out.insert(k.clone(), s.clone());
            }
            Value::String(s) => {
                return Err(field_error(
                    k,
                    value,
                    format!("{} is too long", py_str_repr(s)),
                ))
            }
            other => return Err(type_error(Some(k), other, &["string"])),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(e: ApiError) -> String {
        match e {
            ApiError::BadRequest(m) => m,
            other => panic!("not a 400: {other:?}"),
        }
    }

    #[test]
    fn values_print_as_python_would() {
        assert_eq!(
            py_repr(&json!({"a": [1, null, true], "b": "it's"})),
            r#"{'a': [1, None, True], 'b': "it's"}"#
        );
        assert_eq!(py_str(&json!("abc")), "abc");
    }

    #[test]
    fn sizes_follow_cinders_volume_size_schema() {
        assert_eq!(volume_size("size", &json!(5), false).unwrap(), Some(5));
        assert_eq!(volume_size("size", &json!("7"), false).unwrap(), Some(7));
        assert_eq!(volume_size("size", &json!(null), true).unwrap(), None);
        let err = |v: Value| message(volume_size("size", &v, true).unwrap_err());
        assert_eq!(
            err(json!(0)),
            "Invalid input for field/attribute size. Value: 0. 0 is less than the minimum of 1"
        );
        assert_eq!(
            err(json!(-1)),
            "Invalid input for field/attribute size. Value: -1. -1 is less than the minimum of 1"
        );
        assert_eq!(
            err(json!(1.5)),
            "Invalid input for field/attribute size. Value: 1.5. 1.5 is not of type 'integer', \
             'string', 'null'"
        );
        assert_eq!(
            err(json!("abc")),
            "Invalid input for field/attribute size. Value: abc. 'abc' does not match '^[0-9]+$'"
        );
        assert_eq!(
            err(json!(1u64 << 40)),
            "Invalid input for field/attribute size. Value: 1099511627776. 1099511627776 is \
             greater than the maximum of 2147483647"
        );
        assert!(err(json!("00")).contains("less than the minimum"));
        assert!(err(json!("99999999999999999999999")).contains("greater than the maximum"));
    }

    #[test]
    fn envelopes_need_their_key_and_nothing_else() {
        let e = |b: Value| message(envelope(&b, "volume", &["volume"]).unwrap_err());
        assert_eq!(e(json!([])), "[] is not of type 'object'");
        assert_eq!(e(json!({})), "'volume' is a required property");
        assert_eq!(
            e(json!({"volume": {}, "x": 1})),
            "Additional properties are not allowed ('x' was unexpected)"
        );
    }

    #[test]
    fn metadata_keys_and_values_are_checked() {
        assert_eq!(
            metadata("metadata", &json!({"a b:c": "v"}), false)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            message(metadata("metadata", &json!({"k*": "v"}), false).unwrap_err()),
            "Invalid input for field/attribute metadata. Value: {'k*': 'v'}. Additional \
             properties are not allowed ('k*' was unexpected)"
        );
        assert!(metadata("metadata", &json!({"k": 1}), false).is_err());
        assert!(metadata("metadata", &json!({"k": "v".repeat(256)}), false).is_err());
        let long_key: Value = [("k".repeat(256), json!("v"))].into_iter().collect();
        assert!(metadata("metadata", &long_key, false).is_err());
        assert!(metadata("metadata", &json!(null), false).is_err());
        assert!(metadata("metadata", &json!(null), true).unwrap().is_empty());
    }
}
