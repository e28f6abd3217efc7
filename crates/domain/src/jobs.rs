//! Jobs: asynchronous storage work, written in the same transaction as the status change that
//! asks for it (an outbox), leased by a worker, retried with backoff, and deleted in the same
//! transaction as the status change that ends it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobKind {
    CreateVolume { backend: String, size_gib: i64 },
    DeleteVolume { backend: String },
    ExtendVolume { backend: String, new_size_gib: i64 },
}

impl JobKind {
    pub fn name(&self) -> &'static str {
        match self {
            JobKind::CreateVolume { .. } => "create_volume",
            JobKind::DeleteVolume { .. } => "delete_volume",
            JobKind::ExtendVolume { .. } => "extend_volume",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub volume_id: String,
    pub kind: JobKind,
    /// Attempts already made (0 for a new job).
    pub attempts: u32,
    pub run_after: DateTime<Utc>,
}

impl Job {
    pub fn new(volume_id: &str, kind: JobKind) -> Job {
        Job {
            id: uuid::Uuid::new_v4().to_string(),
            volume_id: volume_id.to_owned(),
            kind,
            attempts: 0,
            run_after: Utc::now(),
        }
    }
}
