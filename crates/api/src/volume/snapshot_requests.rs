//! Request schemas of `POST /snapshots` and `PUT /snapshots/{id}` (Cinder's `snapshots`
//! schemas): no key outside the schema is allowed, neither at the top nor inside `snapshot`.
//! Create takes the description only from `description` (`display_description` is refused),
//! update takes both spellings and needs at least one field.

use basalt_domain::snapshot::{NewSnapshot, SnapshotUpdate};
use serde_json::{Map, Value};

use super::fault::ApiError;
use super::schema;

const CREATE_KEYS: [&str; 6] = [
    "name",
    "display_name",
    "description",
    "volume_id",
    "force",
    "metadata",
];

const UPDATE_KEYS: [&str; 4] = ["name", "description", "display_name", "display_description"];

/// A name or description: a string of at most 255 characters or `null` (the schema), then
/// stripped of surrounding white space (the controller).
fn text(obj: &Map<String, Value>, field: &str) -> Result<Option<Option<String>>, ApiError> {
    Ok(schema::nullable_string(obj, field, 255)?.map(|v| v.map(|s| s.trim().to_owned())))
}

/// The first of `keys` present wins, as in Cinder, where `name` overrides `display_name`.
fn first_of(obj: &Map<String, Value>, keys: &[&str]) -> Result<Option<Option<String>>, ApiError> {
    let mut found = None;
    for key in keys.iter().rev() {
        if let Some(v) = text(obj, key)? {
            found = Some(v);
        }
    }
    Ok(found)
}

/// `force`: a JSON boolean or one of Cinder's boolean spellings; anything else is refused
/// with the controller's message (`null` included: Cinder's schema does not allow it).
fn force(obj: &Map<String, Value>) -> Result<bool, ApiError> {
    let invalid = |v: &Value| {
        ApiError::BadRequest(format!("Invalid value '{}' for force.", schema::py_str(v)))
    };
    match obj.get("force") {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v @ Value::String(s)) => schema::bool_str(s).ok_or_else(|| invalid(v)),
        Some(v) => Err(invalid(v)),
    }
}

/// `volume_id`: required, a UUID (its canonical form) or `null`, which Cinder then looks up
/// and does not find.
fn volume_id(snapshot: &Value, obj: &Map<String, Value>) -> Result<String, ApiError> {
    if !obj.contains_key("volume_id") {
        return Err(schema::field_error(
            "snapshot",
            snapshot,
            "'volume_id' is a required property",
        ));
    }
    match schema::optional_uuid(obj, "volume_id")? {
        Some(id) => Ok(id),
        None => Err(ApiError::NotFound("Volume None could not be found.".into())),
    }
}

/// `POST /snapshots`.
pub fn new_snapshot(body: &Value) -> Result<NewSnapshot, ApiError> {
    let snapshot = schema::envelope(body, "snapshot", &["snapshot"])?;
    let obj = schema::object(Some("snapshot"), snapshot)?;
    schema::only_keys(Some("snapshot"), snapshot, obj, &CREATE_KEYS)?;
    let volume_id = volume_id(snapshot, obj)?;
    let metadata = match obj.get("metadata") {
        Some(v) => schema::metadata("metadata", v, true)?,
        None => Default::default(),
    };
    Ok(NewSnapshot {
        volume_id,
        name: first_of(obj, &["name", "display_name"])?.flatten(),
        description: text(obj, "description")?.flatten(),
        force: force(obj)?,
        metadata,
    })
}

/// `PUT /snapshots/{id}`: the name and the description, in either spelling; at least one.
pub fn snapshot_update(body: &Value) -> Result<SnapshotUpdate, ApiError> {
    let snapshot = schema::envelope(body, "snapshot", &["snapshot"])?;
    let obj = schema::object(Some("snapshot"), snapshot)?;
    schema::only_keys(Some("snapshot"), snapshot, obj, &UPDATE_KEYS)?;
    if obj.is_empty() {
        return Err(schema::field_error(
            "snapshot",
            snapshot,
            format!(
                "{} is not valid under any of the given schemas",
                schema::py_repr(snapshot)
            ),
        ));
    }
    Ok(SnapshotUpdate {
        name: first_of(obj, &["name", "display_name"])?,
        description: first_of(obj, &["description", "display_description"])?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VOL: &str = "0b8c2f0e-3c1e-4b7e-9d62-3f4e1a2b5c6d";

    fn message<T: std::fmt::Debug>(r: Result<T, ApiError>) -> String {
        match r {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn create_reads_names_force_and_metadata() {
        let s = new_snapshot(&json!({"snapshot": {
            "volume_id": VOL.to_uppercase(), "display_name": "old", "name": " new ",
            "description": "d", "force": "yes", "metadata": {"k": "v"}}}))
        .unwrap();
        assert_eq!(s.volume_id, VOL);
        assert_eq!(s.name.as_deref(), Some("new"));
        assert_eq!(s.description.as_deref(), Some("d"));
        assert!(s.force);
        assert_eq!(s.metadata.len(), 1);
        let s = new_snapshot(&json!({"snapshot": {"volume_id": VOL, "force": false,
                                                   "metadata": null}}))
        .unwrap();
        assert!(!s.force);
        assert!(s.metadata.is_empty());
    }

    #[test]
    fn create_refuses_what_cinders_schema_refuses() {
        assert_eq!(
            message(new_snapshot(&json!({"volume": {}}))),
            "'snapshot' is a required property"
        );
        assert_eq!(
            message(new_snapshot(&json!({"snapshot": {"name": "x"}}))),
            "Invalid input for field/attribute snapshot. Value: {'name': 'x'}. 'volume_id' is a \
             required property"
        );
        assert_eq!(
            message(new_snapshot(
                &json!({"snapshot": {"volume_id": VOL, "display_description": "d"}})
            )),
            format!(
                "Invalid input for field/attribute snapshot. Value: {{'display_description': \
                 'd', 'volume_id': '{VOL}'}}. Additional properties are not allowed \
                 ('display_description' was unexpected)"
            )
        );
        for (force, shown) in [
            (json!("maybe"), "maybe"),
            (json!(1), "1"),
            (json!(null), "None"),
        ] {
            assert_eq!(
                message(new_snapshot(
                    &json!({"snapshot": {"volume_id": VOL, "force": force}})
                )),
                format!("Invalid value '{shown}' for force.")
            );
        }
        for body in [
            json!({"snapshot": {"volume_id": "nope"}}),
            json!({"snapshot": {"volume_id": VOL, "name": 1}}),
            json!({"snapshot": {"volume_id": VOL, "name": "n".repeat(256)}}),
            json!({"snapshot": {"volume_id": VOL, "metadata": {"k": 1}}}),
            json!({"snapshot": {"volume_id": VOL}, "extra": 1}),
            json!({"snapshot": []}),
        ] {
            assert!(new_snapshot(&body).is_err(), "{body}");
        }
        assert!(matches!(
            new_snapshot(&json!({"snapshot": {"volume_id": null}})),
            Err(ApiError::NotFound(_))
        ));
    }

    #[test]
    fn updates_need_a_name_or_a_description() {
        let u = snapshot_update(&json!({"snapshot": {"display_description": "d",
                                                      "description": "e"}}))
        .unwrap();
        assert_eq!(u.name, None);
        assert_eq!(u.description, Some(Some("e".into())));
        let u = snapshot_update(&json!({"snapshot": {"display_name": null}})).unwrap();
        assert_eq!(u.name, Some(None));
        assert_eq!(
            message(snapshot_update(&json!({"snapshot": {}}))),
            "Invalid input for field/attribute snapshot. Value: {}. {} is not valid under any of \
             the given schemas"
        );
        assert!(snapshot_update(&json!({"snapshot": {"name": "x", "metadata": {}}})).is_err());
        assert!(snapshot_update(&json!({"name": "x"})).is_err());
    }
}
