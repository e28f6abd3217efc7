//! The snapshot record as the domain sees it.

use chrono::{DateTime, Utc};

use super::status::SnapshotStatus;
use crate::metadata::Metadata;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub volume_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// GiB: the size of the volume when the snapshot was taken.
    pub size: i64,
    pub status: SnapshotStatus,
    /// `"0%"` .. `"100%"`, as Cinder shows it.
    pub progress: String,
    /// The volume's type, for the per-type quota.
    pub volume_type_id: String,
    /// `host@backend#pool`, the volume's location: the snapshot lives beside it.
    pub host: Option<String>,
    /// Whether the snapshot counts against its project's quota (false after a failed create).
    pub use_quota: bool,
    /// Why the last asynchronous operation failed.
    pub status_reason: Option<String>,
    pub metadata: Metadata,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Snapshot {
    /// The backend name, the middle of `host@backend#pool`.
    pub fn backend(&self) -> Option<&str> {
        crate::volume::model::backend_of(self.host.as_deref())
    }
}

/// What a client asks for when creating a snapshot, already validated for shape.
#[derive(Debug, Clone, Default)]
pub struct NewSnapshot {
    pub volume_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Allows a snapshot of an `in-use` volume.
    pub force: bool,
    pub metadata: Metadata,
}

/// `PUT /snapshots/{id}`: `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct SnapshotUpdate {
    pub name: Option<Option<String>>,
    pub description: Option<Option<String>>,
}
