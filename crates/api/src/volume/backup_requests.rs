//! Request schemas of the backup API (Cinder's `backups` schemas): `POST /backups`,
//! `POST /backups/{id}/restore`, `POST /backups/import_record` and the reset-status action.
//! No key outside a schema is allowed.

use basalt_domain::backup::{BackupStatus, NewBackup, RestoreRequest};
use serde_json::{Map, Value};

use super::fault::ApiError;
use super::schema;

const CREATE_KEYS: [&str; 7] = [
    "volume_id",
    "container",
    "description",
    "incremental",
    "force",
    "name",
    "snapshot_id",
];

fn text(obj: &Map<String, Value>, field: &str, max: usize) -> Result<Option<String>, ApiError> {
    Ok(schema::nullable_string(obj, field, max)?
        .flatten()
        .map(|s| s.trim().to_owned()))
}

/// `POST /backups`.
pub fn new_backup(body: &Value) -> Result<NewBackup, ApiError> {
    let backup = schema::envelope(body, "backup", &["backup"])?;
    let obj = schema::object(Some("backup"), backup)?;
    schema::only_keys(Some("backup"), backup, obj, &CREATE_KEYS)?;
    if !obj.contains_key("volume_id") {
        return Err(schema::field_error(
            "backup",
            backup,
            "'volume_id' is a required property",
        ));
    }
    let volume_id = schema::optional_uuid(obj, "volume_id")?
        .ok_or_else(|| ApiError::NotFound("Volume None could not be found.".into()))?;
    Ok(NewBackup {
        volume_id,
        container: text(obj, "container", 255)?,
        name: text(obj, "name", 255)?,
        description: text(obj, "description", 255)?,
        incremental: schema::optional_bool(obj, "incremental")?.unwrap_or(false),
        force: schema::optional_bool(obj, "force")?.unwrap_or(false),
        snapshot_id: schema::optional_uuid(obj, "snapshot_id")?,
    })
}

/// `POST /backups/{id}/restore`: `{"restore": null}` or an object with `volume_id` and
/// `name`, both optional.
pub fn restore(body: &Value) -> Result<RestoreRequest, ApiError> {
    let restore = schema::envelope(body, "restore", &["restore"])?;
    if restore.is_null() {
        return Ok(RestoreRequest::default());
    }
    let obj = schema::object(Some("restore"), restore)?;
    schema::only_keys(Some("restore"), restore, obj, &["volume_id", "name"])?;
    Ok(RestoreRequest {
        volume_id: schema::optional_uuid(obj, "volume_id")?,
        name: text(obj, "name", 255)?,
    })
}

/// `POST /backups/import_record`: `(backup_service, backup_url)`.
pub fn import_record(body: &Value) -> Result<(String, String), ApiError> {
    let record = schema::envelope(body, "backup-record", &["backup-record"])?;
    let obj = schema::object(Some("backup-record"), record)?;
    schema::only_keys(
        Some("backup-record"),
        record,
        obj,
        &["backup_service", "backup_url"],
    )?;
    let field = |name: &str| match obj.get(name) {
        None => Err(schema::field_error(
            "backup-record",
            record,
            format!("'{name}' is a required property"),
        )),
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(v) => Err(schema::type_error(Some(name), v, &["string"])),
    };
    Ok((field("backup_service")?, field("backup_url")?))
}

/// `{"os-reset_status": {"status": "available" | "error"}}` (any case).
pub fn reset_status(args: &Value) -> Result<BackupStatus, ApiError> {
    let obj = schema::object(Some("os-reset_status"), args)?;
    schema::only_keys(Some("os-reset_status"), args, obj, &["status"])?;
    let status = match obj.get("status") {
        None => {
            return Err(schema::field_error(
                "os-reset_status",
                args,
                "'status' is a required property",
            ))
        }
        Some(Value::String(s)) => s.to_lowercase(),
        Some(other) => return Err(schema::type_error(Some("status"), other, &["string"])),
    };
    match BackupStatus::parse(&status).filter(|s| BackupStatus::RESETTABLE.contains(s)) {
        Some(s) => Ok(s),
        None => Err(schema::field_error(
            "status",
            &obj["status"],
            format!("'{status}' is not one of ['available', 'error']"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VOL: &str = "0b8c2f0e-3c1e-4b7e-9d62-3f4e1a2b5c6d";

    #[test]
    fn create_takes_cinders_fields_and_nothing_else() {
        let b = new_backup(&json!({"backup": {"volume_id": VOL, "incremental": "true",
            "name": " n ", "container": "c"}}))
        .unwrap();
        assert!(b.incremental && !b.force);
        assert_eq!(b.name.as_deref(), Some("n"));
        assert!(new_backup(&json!({"backup": {"volume_id": VOL, "bogus": 1}})).is_err());
        assert!(new_backup(&json!({"backup": {}})).is_err());
    }

    #[test]
    fn reset_status_allows_available_and_error_only() {
        assert_eq!(
            reset_status(&json!({"status": "ERROR"})).unwrap(),
            BackupStatus::Error
        );
        assert!(reset_status(&json!({"status": "creating"})).is_err());
    }
}
