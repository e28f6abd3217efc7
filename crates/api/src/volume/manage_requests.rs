//! Requests of `os-volume-manage` and `os-snapshot-manage`: the listing's query (`host`,
//! `limit`, `offset`, `marker`, `sort` or `sort_key`/`sort_dir`) and the body of an adoption.

use basalt_domain::manage::{ManageableKey, ManageableQuery};
use basalt_domain::volume::{ManageSnapshot, ManageVolume};
use serde_json::Value;

use super::fault::ApiError;
use super::schema;

fn invalid(reason: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("Invalid input received: {reason}"))
}

fn get<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn non_negative(params: &[(String, String)], key: &str) -> Result<Option<usize>, ApiError> {
    match get(params, key) {
        None => Ok(None),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Some(n as usize)),
            Ok(_) => Err(invalid(format!("{key} param must be positive"))),
            Err(_) => Err(invalid(format!("{key} param must be an integer"))),
        },
    }
}

/// A marker is the last entry's reference, as JSON (`{"source-name": "x"}`) or a bare name.
fn marker(raw: &str) -> Result<String, ApiError> {
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(o)) => match o.get("source-name") {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(invalid(format!("marker not found: {raw}"))),
        },
        Ok(Value::String(s)) => Ok(s),
        Ok(_) => Err(invalid(format!(
            "marker {raw} can not be analysed, please use json like format"
        ))),
        Err(_) => Ok(raw.to_owned()),
    }
}

fn sort(params: &[(String, String)]) -> Result<Vec<(ManageableKey, bool)>, ApiError> {
    let pairs: Vec<(String, String)> = match (get(params, "sort"), get(params, "sort_key")) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used \
                 with the 'sort' parameter.",
            ))
        }
        (Some(s), None) => s
            .split(',')
            .map(|part| {
                let (k, d) = part.split_once(':').unwrap_or((part, "desc"));
                (k.trim().to_owned(), d.trim().to_lowercase())
            })
            .collect(),
        (None, Some(k)) => vec![(
            k.to_owned(),
            get(params, "sort_dir").unwrap_or("desc").to_lowercase(),
        )],
        (None, None) => vec![],
    };
    let bad_keys: Vec<&str> = pairs
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !matches!(*k, "reference" | "size"))
        .collect();
    if !bad_keys.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "Invalid sort keys passed: {}",
            bad_keys.join(", ")
        )));
    }
    let bad_dirs: Vec<&str> = pairs
        .iter()
        .map(|(_, d)| d.as_str())
        .filter(|d| !matches!(*d, "asc" | "desc"))
        .collect();
    if !bad_dirs.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "Invalid sort dirs passed: {}",
            bad_dirs.join(", ")
        )));
    }
    Ok(pairs
        .into_iter()
        .map(|(k, d)| {
            let key = if k == "size" {
                ManageableKey::Size
            } else {
                ManageableKey::Reference
            };
            (key, d == "desc")
        })
        .collect())
}

/// The listing's query; `host` is required (v2 and v3.0 have no `cluster`).
pub fn query(params: &[(String, String)]) -> Result<ManageableQuery, ApiError> {
    let host = get(params, "host")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("Host field is missing."))?;
    Ok(ManageableQuery {
        host: host.to_owned(),
        limit: non_negative(params, "limit")?,
        offset: non_negative(params, "offset")?.unwrap_or(0),
        marker: get(params, "marker").map(marker).transpose()?,
        sort: sort(params)?,
    })
}

/// The file a `ref` names: `{"source-name": "<file>"}`.
fn source_name(reference: &Value) -> Result<String, ApiError> {
    match reference.get("source-name") {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(ApiError::BadRequest(format!(
            "Manage existing volume failed due to invalid backend reference {}: Reference \
             must contain source-name element.",
            schema::py_repr(reference)
        ))),
    }
}

fn optional_text(
    obj: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<String>, ApiError> {
    Ok(schema::nullable_string(obj, key, 255)?.flatten())
}

/// `POST /os-volume-manage`: `{"volume": {"host", "ref", "name", "description",
/// "volume_type", "availability_zone", "bootable", "metadata"}}`.
pub fn manage_volume(body: &Value) -> Result<ManageVolume, ApiError> {
    let volume = schema::envelope(body, "volume", &["volume"])?;
    let obj = schema::object(Some("volume"), volume)?;
    let source_name = reference("volume", volume, obj)?;
    let host = optional_text(obj, "host")?
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("Host field is missing."))?;
    Ok(ManageVolume {
        host,
        source_name,
        name: schema::display_text(obj, "name", "name")?.flatten(),
        description: schema::display_text(obj, "description", "description")?.flatten(),
        volume_type: optional_text(obj, "volume_type")?,
        availability_zone: optional_text(obj, "availability_zone")?,
        bootable: schema::optional_bool(obj, "bootable")?.unwrap_or(false),
        metadata: match obj.get("metadata") {
            Some(v) => schema::metadata("metadata", v, true)?,
            None => Default::default(),
        },
    })
}

/// The `ref` of an adoption body (required, an object naming `source-name`).
fn reference(
    field: &str,
    inner: &Value,
    obj: &serde_json::Map<String, Value>,
) -> Result<String, ApiError> {
    let reference = obj
        .get("ref")
        .ok_or_else(|| schema::field_error(field, inner, "'ref' is a required property"))?;
    if !(reference.is_object() || reference.is_string()) {
        return Err(schema::type_error(
            Some("ref"),
            reference,
            &["object", "string"],
        ));
    }
    source_name(reference)
}

/// `POST /os-snapshot-manage`: `{"snapshot": {"volume_id", "ref", "name", "description",
/// "metadata"}}`.
pub fn manage_snapshot(body: &Value) -> Result<ManageSnapshot, ApiError> {
    let snapshot = schema::envelope(body, "snapshot", &["snapshot"])?;
    let obj = schema::object(Some("snapshot"), snapshot)?;
    let source_name = reference("snapshot", snapshot, obj)?;
    let volume_id = match obj.get("volume_id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(other) => return Err(schema::type_error(Some("volume_id"), other, &["string"])),
        None => {
            return Err(schema::field_error(
                "snapshot",
                snapshot,
                "'volume_id' is a required property",
            ))
        }
    };
    Ok(ManageSnapshot {
        volume_id,
        source_name,
        name: schema::display_text(obj, "name", "name")?.flatten(),
        description: schema::display_text(obj, "description", "description")?.flatten(),
        metadata: match obj.get("metadata") {
            Some(v) => schema::metadata("metadata", v, true)?,
            None => Default::default(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn message<T: std::fmt::Debug>(r: Result<T, ApiError>) -> String {
        match r {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn listing_queries_need_a_host_and_known_sort_keys() {
        assert_eq!(
            message(query(&pairs(&[]))),
            "Invalid input received: Host field is missing."
        );
        let q = query(&pairs(&[
            ("host", "h@b"),
            ("sort", "size:asc"),
            ("limit", "2"),
        ]))
        .unwrap();
        assert_eq!(q.sort, vec![(ManageableKey::Size, false)]);
        assert_eq!(q.limit, Some(2));
        assert_eq!(
            message(query(&pairs(&[("host", "h@b"), ("sort", "name")]))),
            "Invalid sort keys passed: name"
        );
        assert_eq!(
            message(query(&pairs(&[("host", "h@b"), ("sort", "size:up")]))),
            "Invalid sort dirs passed: up"
        );
        let q = query(&pairs(&[
            ("host", "h@b"),
            ("marker", r#"{"source-name": "a"}"#),
        ]))
        .unwrap();
        assert_eq!(q.marker.as_deref(), Some("a"));
        assert!(query(&pairs(&[("host", "h@b"), ("limit", "x")])).is_err());
    }

    #[test]
    fn an_adoption_needs_a_source_name_and_a_host() {
        let m = manage_volume(&json!({"volume": {"host": "h@b#b",
            "ref": {"source-name": "disk"}, "name": "n", "bootable": true}}))
        .unwrap();
        assert_eq!((m.source_name.as_str(), m.bootable), ("disk", true));
        assert_eq!(
            message(manage_volume(
                &json!({"volume": {"host": "h@b", "ref": {"x": 1}}})
            )),
            "Manage existing volume failed due to invalid backend reference {'x': 1}: \
             Reference must contain source-name element."
        );
        assert_eq!(
            message(manage_volume(
                &json!({"volume": {"ref": {"source-name": "d"}}})
            )),
            "Invalid input received: Host field is missing."
        );
        assert!(manage_volume(&json!({"volume": {"host": "h@b"}})).is_err());
        assert!(manage_volume(&json!({"nothing": {}})).is_err());
    }
}
