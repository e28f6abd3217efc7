//! Request schemas of `POST /os-volume-transfer` and `POST /os-volume-transfer/{id}/accept`
//! (Cinder's `volume_transfer` schemas before 3.55): no key outside the schema, a `volume_id`
//! in UUID form, a name that is not blank, an auth key given as a string or an integer.

use basalt_domain::transfer::NewTransfer;
use serde_json::Value;

use super::fault::ApiError;
use super::schema;

/// `name`: `null`, or a string that is not blank and at most 255 characters once stripped
/// (the `name_skip_leading_trailing_spaces` format inside a `oneOf`, whence the message).
fn name(v: Option<&Value>) -> Result<Option<String>, ApiError> {
    let not_valid = |v: &Value| {
        schema::field_error(
            "name",
            v,
            format!(
                "{} is not valid under any of the given schemas",
                schema::py_repr(v)
            ),
        )
    };
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::String(s)) => {
            let trimmed = s.trim();
            if trimmed.is_empty() || trimmed.chars().count() > 255 {
                return Err(not_valid(v));
            }
            Ok(Some(trimmed.to_owned()))
        }
        Some(v) => Err(not_valid(v)),
    }
}

/// `volume_id`: required, a string in UUID form (`uuidutils.is_uuid_like`), returned in its
/// canonical spelling.
fn volume_id(transfer: &Value, v: Option<&Value>) -> Result<String, ApiError> {
    let Some(v) = v else {
        return Err(schema::field_error(
            "transfer",
            transfer,
            "'volume_id' is a required property",
        ));
    };
    let Value::String(s) = v else {
        return Err(schema::type_error(Some("volume_id"), v, &["string"]));
    };
    uuid::Uuid::parse_str(s)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| {
            schema::field_error(
                "volume_id",
                v,
                format!("{} is not a 'uuid'", schema::py_repr(v)),
            )
        })
}

/// `{"transfer": {"volume_id": ..., "name": ...}}`.
pub fn new_transfer(body: &Value) -> Result<NewTransfer, ApiError> {
    let transfer = schema::envelope(body, "transfer", &["transfer"])?;
    let obj = schema::object(Some("transfer"), transfer)?;
    schema::only_keys(Some("transfer"), transfer, obj, &["volume_id", "name"])?;
    Ok(NewTransfer {
        volume_id: volume_id(transfer, obj.get("volume_id"))?,
        name: name(obj.get("name"))?,
    })
}

/// `{"accept": {"auth_key": "..." | 123}}`: the key as Cinder hashes it (`str()` of it).
pub fn auth_key(body: &Value) -> Result<String, ApiError> {
    let accept = schema::envelope(body, "accept", &["accept"])?;
    let obj = schema::object(Some("accept"), accept)?;
    schema::only_keys(Some("accept"), accept, obj, &["auth_key"])?;
    match obj.get("auth_key") {
        None => Err(schema::field_error(
            "accept",
            accept,
            "'auth_key' is a required property",
        )),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        Some(v) => Err(schema::type_error(
            Some("auth_key"),
            v,
            &["string", "integer"],
        )),
    }
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
    fn create_takes_a_uuid_and_a_stripped_name() {
        let t = new_transfer(&json!({"transfer": {"volume_id": VOL.to_uppercase(),
            "name": "  mine "}}))
        .unwrap();
        assert_eq!(
            (t.volume_id.as_str(), t.name.as_deref()),
            (VOL, Some("mine"))
        );
        let t = new_transfer(&json!({"transfer": {"volume_id": VOL, "name": null}})).unwrap();
        assert_eq!(t.name, None);
    }

    #[test]
    fn create_refuses_what_the_schema_refuses() {
        assert_eq!(
            message(new_transfer(&json!({"transfer": {"volume_id": "nope"}}))),
            "Invalid input for field/attribute volume_id. Value: nope. 'nope' is not a 'uuid'"
        );
        assert_eq!(
            message(new_transfer(&json!({"transfer": {"name": "n"}}))),
            "Invalid input for field/attribute transfer. Value: {'name': 'n'}. 'volume_id' is \
             a required property"
        );
        assert_eq!(
            message(new_transfer(
                &json!({"transfer": {"volume_id": VOL, "name": "  "}})
            )),
            "Invalid input for field/attribute name. Value:   . '  ' is not valid under any \
             of the given schemas"
        );
        assert!(message(new_transfer(
            &json!({"transfer": {"volume_id": VOL, "no_snapshots": true}})
        ))
        .contains("Additional properties are not allowed ('no_snapshots' was unexpected)"));
        assert_eq!(
            message(new_transfer(&json!({"volume_id": VOL}))),
            "'transfer' is a required property"
        );
    }

    #[test]
    fn accept_takes_a_string_or_an_integer_key() {
        assert_eq!(
            auth_key(&json!({"accept": {"auth_key": "abc"}})).unwrap(),
            "abc"
        );
        assert_eq!(
            auth_key(&json!({"accept": {"auth_key": 1234}})).unwrap(),
            "1234"
        );
        assert_eq!(
            message(auth_key(&json!({"accept": {"auth_key": true}}))),
            "Invalid input for field/attribute auth_key. Value: True. True is not of type \
             'string', 'integer'"
        );
        assert_eq!(
            message(auth_key(&json!({"accept": {}}))),
            "Invalid input for field/attribute accept. Value: {}. 'auth_key' is a required \
             property"
        );
    }
}
