//! Volume-type views (contract §2.4): `extra_specs` and `qos_specs_id` only for admins (the
//! default policy), `os-volume-type-access:is_public` on show, list and create (not update,
//! as in Cinder), and the encryption spec as Cinder's bare object.

use basalt_domain::volume_type::{ExtraSpecs, TypeEncryption, VolumeType};
use serde::Serialize;
use serde_json::{json, Value};

use super::links::Link;
use crate::timefmt;

#[derive(Debug, Serialize)]
pub struct TypeView {
    id: String,
    name: String,
    is_public: bool,
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra_specs: Option<ExtraSpecs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    qos_specs_id: Option<Option<String>>,
    #[serde(
        rename = "os-volume-type-access:is_public",
        skip_serializing_if = "Option::is_none"
    )]
    access_is_public: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct TypeDoc {
    volume_type: TypeView,
}

#[derive(Debug, Serialize)]
pub struct TypeList {
    volume_types: Vec<TypeView>,
    /// Singular `volume_type_links`, as Cinder names it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volume_type_links: Vec<Link>,
}

impl TypeList {
    pub fn new(volume_types: Vec<TypeView>, next: Option<Link>) -> Self {
        TypeList {
            volume_types,
            volume_type_links: next.into_iter().collect(),
        }
    }
}

/// One type; `admin` shows its specs, `access` adds the type-access extension's field.
pub fn view(t: &VolumeType, admin: bool, access: bool) -> TypeView {
    TypeView {
        id: t.id.clone(),
        name: t.name.clone(),
        is_public: t.is_public,
        description: t.description.clone(),
        extra_specs: admin.then(|| t.extra_specs.clone()),
        qos_specs_id: admin.then(|| t.qos_specs_id.clone()),
        access_is_public: access.then_some(t.is_public),
    }
}

pub fn doc(t: &VolumeType, admin: bool, access: bool) -> TypeDoc {
    TypeDoc {
        volume_type: view(t, admin, access),
    }
}

/// `GET /types/{id}/encryption`: every column, or `{}` when the type has none.
pub fn encryption(e: Option<&TypeEncryption>) -> Value {
    let Some(e) = e else {
        return json!({});
    };
    json!({
        "volume_type_id": e.volume_type_id,
        "encryption_id": e.encryption_id,
        "provider": e.provider,
        "cipher": e.cipher,
        "key_size": e.key_size,
        "control_location": e.control_location.as_str(),
        "created_at": timefmt::cinder(e.created_at),
        "updated_at": e.updated_at.map(timefmt::cinder),
        "deleted": false,
        "deleted_at": null,
    })
}

/// What create and update answer: the fields that were sent, as stored (Cinder echoes its
/// request body, with `key_size` made an integer).
pub fn encryption_echo(sent: &Value, e: &TypeEncryption) -> Value {
    let full = encryption(Some(e));
    let mut out = serde_json::Map::new();
    if let Some(obj) = sent.get("encryption").and_then(Value::as_object) {
        for k in ["provider", "cipher", "key_size", "control_location"] {
            if obj.contains_key(k) {
                out.insert(k.into(), full[k].clone());
            }
        }
    }
    json!({ "encryption": out })
}

/// `GET /volumes/{id}/encryption`: the key id (always null: Basalt does not encrypt yet) and
/// the type's encryption fields.
pub fn volume_encryption(e: Option<&TypeEncryption>) -> Value {
    let mut out = json!({"encryption_key_id": null});
    if let Some(e) = e {
        out["control_location"] = json!(e.control_location.as_str());
        out["cipher"] = json!(e.cipher);
        out["key_size"] = json!(e.key_size);
        out["provider"] = json!(e.provider);
    }
    out
}
