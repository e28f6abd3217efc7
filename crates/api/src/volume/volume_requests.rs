//! Request schemas of `POST /volumes` and `PUT /volumes/{id}` (Cinder's v2/v3.0 `volumes`
//! schemas): the body is checked field by field into the domain's request types, so that a
//! handler never sees a malformed value. Unknown keys inside `volume` are ignored on create
//! (old clients send `status`, `attach_status`, ...), refused on update.

use basalt_domain::volume::{NewVolume, VolumeUpdate};
use serde_json::{Map, Value};

use super::fault::ApiError;
use super::schema;

const SCHEDULER_HINTS: &str = "OS-SCH-HNT:scheduler_hints";

/// The first of `keys` present wins, as in Cinder, where `name` overrides `display_name`.
fn first_of<T>(
    obj: &Map<String, Value>,
    keys: [&str; 2],
    read: impl Fn(&Map<String, Value>, &str) -> Result<Option<T>, ApiError>,
) -> Result<Option<T>, ApiError> {
    let mut found = None;
    for key in keys.iter().rev() {
        if let Some(v) = read(obj, key)? {
            found = Some(v);
        }
    }
    Ok(found)
}

fn name(obj: &Map<String, Value>) -> Result<Option<Option<String>>, ApiError> {
    first_of(obj, ["name", "display_name"], |o, k| {
        schema::display_text(o, k, "name")
    })
}

fn description(obj: &Map<String, Value>) -> Result<Option<Option<String>>, ApiError> {
    first_of(obj, ["description", "display_description"], |o, k| {
        schema::display_text(o, k, "description")
    })
}

/// `POST /volumes`.
pub fn new_volume(body: &Value) -> Result<NewVolume, ApiError> {
    let volume = schema::envelope(body, "volume", &["volume", SCHEDULER_HINTS])?;
    let mut hints = (vec![], vec![]);
    if let Some(h) = schema::object(None, body)?.get(SCHEDULER_HINTS) {
        if !(h.is_object() || h.is_null()) {
            return Err(schema::type_error(
                Some(SCHEDULER_HINTS),
                h,
                &["object", "null"],
            ));
        }
        hints = (
            volume_ids(h, "same_host")?,
            volume_ids(h, "different_host")?,
        );
    }
    let obj = schema::object(Some("volume"), volume)?;
    let size = match obj.get("size") {
        Some(v) => schema::volume_size("size", v, true)?,
        None => None,
    };
    let metadata = match obj.get("metadata") {
        Some(v) => schema::metadata("metadata", v, true)?,
        None => Default::default(),
    };
    let availability_zone = match schema::nullable_string(obj, "availability_zone", 255)? {
        Some(Some(z)) if z.is_empty() => {
            return Err(schema::field_error(
                "availability_zone",
                &Value::String(z),
                "'' is too short",
            ))
        }
        other => other.flatten(),
    };
    let image_ref = first_of(obj, ["image_id", "imageRef"], |o, k| {
        schema::nullable_string(o, k, 255)
    })?;
    Ok(NewVolume {
        size,
        name: name(obj)?.flatten(),
        description: description(obj)?.flatten(),
        volume_type: schema::nullable_string(obj, "volume_type", 255)?
            .flatten()
            .filter(|t| !t.is_empty()),
        availability_zone,
        metadata,
        snapshot_id: schema::optional_uuid(obj, "snapshot_id")?,
        source_volid: schema::optional_uuid(obj, "source_volid")?,
        image_ref: image_ref.flatten(),
        consistencygroup_id: schema::optional_uuid(obj, "consistencygroup_id")?,
        multiattach: schema::optional_bool(obj, "multiattach")?.unwrap_or(false),
        same_host: hints.0,
        different_host: hints.1,
    })
}

/// A `same_host` / `different_host` hint: one volume id or a list of them (Cinder takes
/// both).
fn volume_ids(hints: &Value, key: &str) -> Result<Vec<String>, ApiError> {
    let bad = |v: &Value| {
        schema::field_error(
            key,
            v,
            format!(
                "{} is not a volume id or a list of them",
                schema::py_repr(v)
            ),
        )
    };
    let one = |v: &Value| match v {
        Value::String(s) => uuid::Uuid::parse_str(s)
            .map(|u| u.hyphenated().to_string())
            .map_err(|_| bad(v)),
        other => Err(bad(other)),
    };
    match hints.get(key) {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(items)) => items.iter().map(one).collect(),
        Some(v) => Ok(vec![one(v)?]),
    }
}

const UPDATABLE: [&str; 5] = [
    "name",
    "description",
    "display_name",
    "display_description",
    "metadata",
];

/// `PUT /volumes/{id}`: only the name, the description and the user metadata change.
pub fn volume_update(body: &Value) -> Result<VolumeUpdate, ApiError> {
    let volume = schema::envelope(body, "volume", &["volume"])?;
    let obj = schema::object(Some("volume"), volume)?;
    schema::only_keys(Some("volume"), volume, obj, &UPDATABLE)?;
    Ok(VolumeUpdate {
        name: name(obj)?,
        description: description(obj)?,
        metadata: obj
            .get("metadata")
            .map(|v| schema::metadata("metadata", v, false))
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn aliases_and_tolerated_keys_are_read() {
        let v = new_volume(&json!({
            "volume": {"size": "3", "display_name": " old ", "name": "new",
                       "display_description": "d", "image_id": null, "status": "x",
                       "multiattach": "yes", "metadata": {"k": "v"}},
            "OS-SCH-HNT:scheduler_hints": {"same_host": []}
        }))
        .unwrap();
        assert_eq!(v.size, Some(3));
        assert_eq!(v.name.as_deref(), Some("new"));
        assert_eq!(v.description.as_deref(), Some("d"));
        assert!(v.multiattach);
        assert_eq!(v.metadata.len(), 1);
    }

    #[test]
    fn bad_create_bodies_are_refused() {
        for body in [
            json!([]),
            json!({}),
            json!({"volume": []}),
            json!({"volume": {"size": 1}, "extra": 1}),
            json!({"volume": {"size": 0}}),
            json!({"volume": {"size": 1, "metadata": {"k": 1}}}),
            json!({"volume": {"size": 1, "snapshot_id": "nope"}}),
            json!({"volume": {"size": 1, "name": 5}}),
            json!({"volume": {"size": 1, "name": "n".repeat(256)}}),
            json!({"volume": {"size": 1, "availability_zone": ""}}),
            json!({"volume": {"size": 1}, "OS-SCH-HNT:scheduler_hints": "x"}),
        ] {
            assert!(new_volume(&body).is_err(), "{body}");
        }
    }

    #[test]
    fn updates_take_only_names_descriptions_and_metadata() {
        let u = volume_update(&json!({"volume": {"name": null, "metadata": {}}})).unwrap();
        assert_eq!(u.name, Some(None));
        assert_eq!(u.description, None);
        assert_eq!(u.metadata.map(|m| m.len()), Some(0));
        assert!(volume_update(&json!({"volume": {"size": 2}})).is_err());
        assert!(volume_update(&json!({"volume": {"metadata": null}})).is_err());
    }
}
