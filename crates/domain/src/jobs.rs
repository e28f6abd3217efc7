//! Jobs: asynchronous storage work, written in the same transaction as the status change that
//! asks for it (an outbox), leased by a worker, retried with backoff, and deleted in the same
//! transaction as the status change that ends it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::volume::VolumeStatus;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobKind {
    CreateVolume {
        backend: String,
        size_gib: i64,
        /// Where the data comes from; none for an empty volume.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<VolumeSource>,
    },
    /// Removes the volume's storage, after that of `snapshots` (a cascade).
    DeleteVolume {
        backend: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        snapshots: Vec<String>,
    },
    ExtendVolume {
        backend: String,
        new_size_gib: i64,
    },
    /// Puts the data of `snapshot_id` back into the volume (the subject).
    RevertVolume {
        backend: String,
        snapshot_id: String,
    },
    /// The subject is the snapshot.
    CreateSnapshot {
        backend: String,
        volume_id: String,
    },
    DeleteSnapshot {
        backend: String,
    },
    /// The subject is the backup: reads the volume (in place while it is `backing-up`, or
    /// through a temporary snapshot) or the snapshot into the repository. `volume_back_to` is the status the volume gets back
    /// when it was put in `backing-up`.
    CreateBackup {
        backend: String,
        volume_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        snapshot_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        volume_back_to: Option<VolumeStatus>,
        /// The volume's latest backup before this one: where a backend that shares blocks
        /// kept the snapshot this backup may diff against, dropped once this one is taken.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        supersedes: Option<String>,
    },
    /// Writes the backup (the subject) into `volume_id`, creating its storage first when
    /// the restore made a new volume.
    RestoreBackup {
        backend: String,
        volume_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        new_volume_gib: Option<i64>,
    },
    DeleteBackup,
    /// Makes the backend's file `source_name` the volume (the subject), grown to `size_gib`.
    ManageVolume {
        backend: String,
        source_name: String,
        size_gib: i64,
    },
    /// Copies the volume (the subject) to `to_backend`, where it lives from then on as
    /// `to_host`, with type `new_type_id` when a retype asked for the move.
    MigrateVolume {
        from_backend: String,
        to_backend: String,
        to_host: String,
        to_zone: String,
        size_gib: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        new_type_id: Option<String>,
    },
    /// Removes the copy of the volume (the subject) a migration left on `backend`: the
    /// source after a success, the destination after a failure.
    DropVolumeCopy {
        backend: String,
    },
    /// Makes the backend's file `source_name` the snapshot (the subject).
    ManageSnapshot {
        backend: String,
        source_name: String,
        size_gib: i64,
    },
}

/// The data a new volume starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VolumeSource {
    Snapshot(String),
    Volume(String),
}

impl JobKind {
    pub fn name(&self) -> &'static str {
        match self {
            JobKind::CreateVolume { .. } => "create_volume",
            JobKind::DeleteVolume { .. } => "delete_volume",
            JobKind::ExtendVolume { .. } => "extend_volume",
            JobKind::RevertVolume { .. } => "revert_volume",
            JobKind::CreateSnapshot { .. } => "create_snapshot",
            JobKind::DeleteSnapshot { .. } => "delete_snapshot",
            JobKind::CreateBackup { .. } => "create_backup",
            JobKind::RestoreBackup { .. } => "restore_backup",
            JobKind::DeleteBackup => "delete_backup",
            JobKind::ManageVolume { .. } => "manage_volume",
            JobKind::ManageSnapshot { .. } => "manage_snapshot",
            JobKind::MigrateVolume { .. } => "migrate_volume",
            JobKind::DropVolumeCopy { .. } => "drop_volume_copy",
        }
    }

    /// Whether the job's subject is a backup.
    pub fn on_backup(&self) -> bool {
        matches!(
            self,
            JobKind::CreateBackup { .. } | JobKind::RestoreBackup { .. } | JobKind::DeleteBackup
        )
    }

    /// Whether the job's subject is a snapshot (else a volume or a backup).
    pub fn on_snapshot(&self) -> bool {
        matches!(
            self,
            JobKind::CreateSnapshot { .. }
                | JobKind::DeleteSnapshot { .. }
                | JobKind::ManageSnapshot { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    /// The volume or snapshot the job works on.
    pub subject_id: String,
    pub kind: JobKind,
    /// Attempts already made (0 for a new job).
    pub attempts: u32,
    pub run_after: DateTime<Utc>,
}

impl Job {
    pub fn new(subject_id: &str, kind: JobKind) -> Job {
        Job {
            id: uuid::Uuid::new_v4().to_string(),
            subject_id: subject_id.to_owned(),
            kind,
            attempts: 0,
            run_after: Utc::now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_written_before_sources_existed_still_read() {
        let old = r#"{"kind":"create_volume","backend":"file","size_gib":1}"#;
        let k: JobKind = serde_json::from_str(old).unwrap();
        assert_eq!(
            k,
            JobKind::CreateVolume {
                backend: "file".into(),
                size_gib: 1,
                source: None
            }
        );
        let old = r#"{"kind":"delete_volume","backend":"file"}"#;
        assert!(matches!(
            serde_json::from_str::<JobKind>(old).unwrap(),
            JobKind::DeleteVolume { snapshots, .. } if snapshots.is_empty()
        ));
    }
}
