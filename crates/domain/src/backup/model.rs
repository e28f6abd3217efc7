//! The backup record as the domain sees it, and what clients ask of backups.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::status::BackupStatus;

/// One backup. Serialisable because an exported record carries it (`backup_url`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub volume_id: String,
    /// The snapshot the backup was taken from, when asked for.
    pub snapshot_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Recorded and shown; chunks are content-addressed, so it does not place anything.
    pub container: Option<String>,
    pub availability_zone: Option<String>,
    /// `host@backend#pool` of the volume when it was backed up.
    pub host: Option<String>,
    pub status: BackupStatus,
    pub fail_reason: Option<String>,
    /// GiB: the volume's size when it was backed up.
    pub size: i64,
    /// Distinct chunks the backup references (what its restore reads).
    pub object_count: i64,
    /// The backup this one is incremental on.
    pub parent_id: Option<String>,
    /// Computed by the store: some backup names this one as its parent.
    #[serde(skip)]
    pub has_dependent_backups: bool,
    /// The volume a restore in progress writes to.
    #[serde(skip)]
    pub restore_volume_id: Option<String>,
    /// When the data was captured (the snapshot's time).
    pub data_timestamp: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Backup {
    pub fn is_incremental(&self) -> bool {
        self.parent_id.is_some()
    }

    /// The backend name, the middle of `host@backend#pool`.
    pub fn backend(&self) -> Option<&str> {
        crate::volume::model::backend_of(self.host.as_deref())
    }
}

/// `POST /backups`, validated for shape.
#[derive(Debug, Clone, Default)]
pub struct NewBackup {
    pub volume_id: String,
    pub container: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub incremental: bool,
    /// Allows a backup of an `in-use` volume.
    pub force: bool,
    pub snapshot_id: Option<String>,
}

/// `POST /backups/{id}/restore`.
#[derive(Debug, Clone, Default)]
pub struct RestoreRequest {
    /// The volume to overwrite; none: a new volume of the backup's size.
    pub volume_id: Option<String>,
    /// The new volume's name (ignored with `volume_id`, as in Cinder).
    pub name: Option<String>,
}

/// What an accepted restore answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreAccepted {
    pub backup_id: String,
    pub volume_id: String,
    pub volume_name: Option<String>,
}

/// What a finished backup job reports (only a create has figures).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupDone {
    pub object_count: i64,
    pub data_timestamp: Option<DateTime<Utc>>,
}
