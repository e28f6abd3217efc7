//! The ports of backups: the store (rows, compare-and-swap transitions that carry the
//! volume's and snapshot's status changes, the quota claim and the job in one transaction)
//! and the repository's records (export and import, which the workers implement).

use async_trait::async_trait;

use super::model::Backup;
use super::query::BackupQuery;
use super::status::BackupStatus;
use crate::jobs::Job;
use crate::ports::{QuotaClaim, StoreError};
use crate::snapshot::SnapshotStatus;
use crate::volume::{Volume, VolumeStatus};

/// The name under which exported records say which driver wrote them.
pub const BACKUP_SERVICE: &str = "basalt.backup.posix";

/// Backup quota: `(resource name, delta, limit)`; limit -1 is unlimited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupClaim {
    pub project_id: String,
    pub backups: (String, i64, i64),
    pub backup_gigabytes: (String, i64, i64),
}

/// A status change of a volume or snapshot that goes with a backup's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange<S> {
    pub id: String,
    pub from: Vec<S>,
    pub to: S,
    /// When the row does not match, the whole transition fails; when false, the backup's
    /// change is applied anyway (ending a job must not depend on the volume).
    pub required: bool,
    /// For a volume: its `status_reason`.
    pub reason: Option<Option<String>>,
}

impl<S: Copy> StatusChange<S> {
    pub fn required(id: &str, from: &[S], to: S) -> Self {
        StatusChange {
            id: id.to_owned(),
            from: from.to_vec(),
            to,
            required: true,
            reason: None,
        }
    }

    pub fn if_still(id: &str, from: &[S], to: S) -> Self {
        StatusChange {
            required: false,
            ..Self::required(id, from, to)
        }
    }
}

/// What must still hold when a backup row is inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBackupGuards {
    /// The volume's status must be one of these (and it must not be migrating).
    pub volume_from: Vec<VolumeStatus>,
    /// The volume's new status (`backing-up`), when it changes.
    pub volume_to: Option<VolumeStatus>,
    /// The snapshot backed up must be `available`; it goes `backing-up`.
    pub snapshot: Option<String>,
    /// The parent of an incremental backup must still be `available`.
    pub parent: Option<String>,
}

/// A backup's compare-and-swap, with what goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupTransition {
    pub backup_id: String,
    /// The CAS condition: the status must be one of these (empty: any status).
    pub from: Vec<BackupStatus>,
    pub to: BackupStatus,
    pub fail_reason: Option<Option<String>>,
    pub object_count: Option<i64>,
    pub data_timestamp: Option<chrono::DateTime<chrono::Utc>>,
    pub restore_volume_id: Option<Option<String>>,
    /// Also require that no backup names this one as its parent.
    pub require_no_children: bool,
    pub volume: Option<StatusChange<VolumeStatus>>,
    pub snapshot: Option<StatusChange<SnapshotStatus>>,
    /// A volume to insert (a restore to a new volume), with its quota claim.
    pub new_volume: Option<(Volume, QuotaClaim)>,
    pub enqueue: Option<Job>,
    /// The job this transition ends, deleted in the same transaction.
    pub complete_job: Option<String>,
}

impl BackupTransition {
    pub fn new(backup_id: &str, from: &[BackupStatus], to: BackupStatus) -> Self {
        BackupTransition {
            backup_id: backup_id.to_owned(),
            from: from.to_vec(),
            to,
            fail_reason: None,
            object_count: None,
            data_timestamp: None,
            restore_volume_id: None,
            require_no_children: false,
            volume: None,
            snapshot: None,
            new_volume: None,
            enqueue: None,
            complete_job: None,
        }
    }
}

#[async_trait]
pub trait BackupStore: Send + Sync + 'static {
    /// Inserts the backup (status `creating`) and its job after checking `claim` and the
    /// guards; false (nothing written) when a guard no longer holds.
    async fn create_backup(
        &self,
        b: &Backup,
        guards: &NewBackupGuards,
        claim: &BackupClaim,
        job: &Job,
    ) -> Result<bool, StoreError>;
    /// Inserts an imported backup as it is; false when a backup of that id exists.
    async fn insert_backup(&self, b: &Backup) -> Result<bool, StoreError>;
    async fn get_backup(&self, id: &str) -> Result<Option<Backup>, StoreError>;
    /// A page of backups; an unknown marker is `NotFound`.
    async fn list_backups(&self, q: &BackupQuery) -> Result<Vec<Backup>, StoreError>;
    /// The volume's backup with the latest `data_timestamp`, whatever its status.
    async fn latest_backup_of(&self, volume_id: &str) -> Result<Option<Backup>, StoreError>;
    /// Applies the transition if its condition holds; false when it does not.
    async fn backup_transition(&self, t: &BackupTransition) -> Result<bool, StoreError>;
    /// The backup is gone from the repository: remove its row and its job at once.
    async fn remove_backup(&self, id: &str, job_id: &str) -> Result<bool, StoreError>;
    async fn backups_with_status(
        &self,
        statuses: &[BackupStatus],
    ) -> Result<Vec<Backup>, StoreError>;
}

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// Not a record Basalt wrote, changed or truncated: 400 and nothing is created.
    Invalid(String),
    /// A sound record this repository cannot take (chunks missing, a different manifest).
    Refused(String),
    /// The repository could not be read or written.
    Failed(String),
}

/// The backup repository's records, as the API needs them (workers implement it).
#[async_trait]
pub trait BackupRecords: Send + Sync + 'static {
    /// `backup_url`: the repository's record of `b` with the row, checksummed, in base64.
    async fn export(&self, b: &Backup) -> Result<String, RecordError>;
    /// Decodes and verifies a `backup_url` without writing anything.
    async fn read(&self, backup_url: &str) -> Result<Backup, RecordError>;
    /// Writes the record's manifest into the repository (again: success).
    async fn import(&self, backup_url: &str) -> Result<(), RecordError>;
    /// Whether the repository holds a complete backup of that id.
    async fn holds(&self, id: &str) -> Result<bool, RecordError>;
}
