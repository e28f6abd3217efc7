//! Volume types: every volume has one (`__DEFAULT__` when none is asked for), with extra specs
//! that say what the type asks of a backend, project access for private types, an optional
//! encryption spec and an optional QoS spec.

mod query;
mod service;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

pub use query::TypeQuery;
pub use service::{EncryptionChange, NewType, TypeService, TypeUpdate};

pub const DEFAULT_TYPE_NAME: &str = "__DEFAULT__";

/// Extra specs: string keys; values are strings, or null (Cinder's schema allows it).
pub type ExtraSpecs = BTreeMap<String, Option<String>>;

/// The spelling of a true capability in extra specs (Cinder's `<is> True`).
const IS_TRUE: &str = "<is> True";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeType {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub extra_specs: ExtraSpecs,
    pub qos_specs_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl VolumeType {
    pub fn default_type() -> VolumeType {
        VolumeType::new(DEFAULT_TYPE_NAME, Some("Default Volume Type".into()))
    }

    /// A public type without specs.
    pub fn new(name: &str, description: Option<String>) -> VolumeType {
        VolumeType {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            description,
            is_public: true,
            extra_specs: ExtraSpecs::new(),
            qos_specs_id: None,
            created_at: Utc::now(),
            updated_at: None,
        }
    }

    pub fn spec(&self, key: &str) -> Option<&str> {
        self.extra_specs.get(key).and_then(|v| v.as_deref())
    }

    /// Volumes of this type may be attached to several hosts at once.
    pub fn is_multiattach(&self) -> bool {
        self.spec("multiattach") == Some(IS_TRUE)
    }
}

/// Where encryption happens, by Cinder's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlLocation {
    FrontEnd,
    BackEnd,
}

impl ControlLocation {
    pub fn parse(s: &str) -> Option<ControlLocation> {
        match s {
            "front-end" => Some(ControlLocation::FrontEnd),
            "back-end" => Some(ControlLocation::BackEnd),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ControlLocation::FrontEnd => "front-end",
            ControlLocation::BackEnd => "back-end",
        }
    }
}

/// A type's encryption spec (what a volume of the type would be encrypted with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeEncryption {
    pub volume_type_id: String,
    pub encryption_id: String,
    pub provider: Option<String>,
    pub cipher: Option<String>,
    pub key_size: Option<i64>,
    pub control_location: ControlLocation,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiattach_needs_cinders_exact_spelling() {
        let mut t = VolumeType::new("t", None);
        assert!(!t.is_multiattach());
        t.extra_specs
            .insert("multiattach".into(), Some("<is> True".into()));
        assert!(t.is_multiattach());
        t.extra_specs
            .insert("multiattach".into(), Some("True".into()));
        assert!(!t.is_multiattach());
    }
}
