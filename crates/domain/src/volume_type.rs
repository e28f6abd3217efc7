//! Volume types, as far as volumes need them: every volume has one, and `__DEFAULT__` exists.

use chrono::{DateTime, Utc};

pub const DEFAULT_TYPE_NAME: &str = "__DEFAULT__";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeType {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub created_at: DateTime<Utc>,
}

impl VolumeType {
    pub fn default_type() -> VolumeType {
        VolumeType {
            id: uuid::Uuid::new_v4().to_string(),
            name: DEFAULT_TYPE_NAME.into(),
            description: Some("Default Volume Type".into()),
            is_public: true,
            created_at: Utc::now(),
        }
    }
}
