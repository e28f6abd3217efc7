//! The domain's error enum. The api crate maps each variant to exactly one HTTP status and
//! Cinder fault name; messages are Cinder's, since scripts match on them.

use crate::ports::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaExceeded {
    /// The quota resource name (`volumes`, `gigabytes`, `gigabytes___DEFAULT__`, ...).
    pub resource: String,
    pub limit: i64,
    pub in_use: i64,
    pub requested: i64,
}

impl QuotaExceeded {
    /// Cinder's message, prefixed with the exception class name as its API does.
    pub fn message(&self) -> String {
        if self.resource == "backups" {
            format!(
                "BackupLimitExceeded: Maximum number of backups allowed ({}) exceeded",
                self.limit
            )
        } else if self.resource == "backup_gigabytes" {
            format!(
                "VolumeBackupSizeExceedsAvailableQuota: Requested backup exceeds allowed Backup \
                 gigabytes quota. Requested {}G, quota is {}G and {}G has been consumed.",
                self.requested, self.limit, self.in_use
            )
        } else if self.resource.starts_with("gigabytes") {
            format!(
                "VolumeSizeExceedsAvailableQuota: {}",
                self.size_explanation()
            )
        } else if self.resource.starts_with("snapshots") {
            format!(
                "SnapshotLimitExceeded: Maximum number of snapshots allowed ({}) exceeded for \
                 quota '{}'.",
                self.limit, self.resource
            )
        } else {
            format!(
                "VolumeLimitExceeded: Maximum number of volumes allowed ({}) exceeded for quota \
                 '{}'.",
                self.limit, self.resource
            )
        }
    }
}

impl QuotaExceeded {
    /// The gigabytes message without its class name, as handlers that catch the exception
    /// themselves (transfer accept) show it.
    pub fn size_explanation(&self) -> String {
        format!(
            "Requested volume or snapshot exceeds allowed {} quota. Requested {}G, quota is {}G \
             and {}G has been consumed.",
            self.resource, self.requested, self.limit, self.in_use
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// 400 with the message as given (schema-style errors, "Malformed request body", ...).
    #[error("{0}")]
    BadRequest(String),
    /// 400 "Invalid input received: ..."
    #[error("Invalid input received: {0}")]
    InvalidInput(String),
    /// 400 "Invalid volume: ..."
    #[error("Invalid volume: {0}")]
    InvalidVolume(String),
    /// 400 "Invalid snapshot: ..."
    #[error("Invalid snapshot: {0}")]
    InvalidSnapshot(String),
    /// 400 "Invalid auth key: ..." (a transfer accepted with the wrong key)
    #[error("Invalid auth key: {0}")]
    InvalidAuthKey(String),
    /// 400 "Invalid backup: ..."
    #[error("Invalid backup: {0}")]
    InvalidBackup(String),
    /// 403 "Policy doesn't allow <rule> to be performed."
    #[error("Policy doesn't allow {0} to be performed.")]
    Forbidden(&'static str),
    /// 404 with the message as given ("Volume <id> could not be found.").
    #[error("{0}")]
    NotFound(String),
    /// 409 with the message as given (a duplicate name, access granted twice).
    #[error("{0}")]
    Conflict(String),
    /// 413 over a quota.
    #[error("{}", .0.message())]
    QuotaExceeded(QuotaExceeded),
    /// 413 over `per_volume_gigabytes`.
    #[error("VolumeSizeExceedsLimit: Requested volume size {requested}G is larger than maximum allowed limit {limit}G.")]
    SizeExceedsLimit { requested: i64, limit: i64 },
    /// 503 with the message as given (no backup repository is configured).
    #[error("{0}")]
    ServiceUnavailable(String),
    /// 500 with the reason: the storage side failed a synchronous request (an export).
    #[error("{0}")]
    Storage(String),
    #[error("storage of state failed: {0}")]
    Store(#[from] StoreError),
}

/// The reason recorded on whatever a restart left in a transitional status with no job.
pub(crate) const INTERRUPTED: &str =
    "The operation was interrupted by a restart of Basalt and could not be resumed.";

impl DomainError {
    /// A store error of a write that carried a quota claim: over quota is the user's 413.
    pub(crate) fn from_claim(e: StoreError) -> DomainError {
        match e {
            StoreError::QuotaExceeded(q) => DomainError::QuotaExceeded(q),
            other => other.into(),
        }
    }

    pub fn volume_not_found(id: &str) -> Self {
        DomainError::NotFound(format!("Volume {id} could not be found."))
    }

    pub fn type_not_found(id: &str) -> Self {
        DomainError::NotFound(format!("Volume type {id} could not be found."))
    }

    pub fn backup_not_found(id: &str) -> Self {
        DomainError::NotFound(format!("Backup {id} could not be found."))
    }

    pub fn snapshot_not_found(id: &str) -> Self {
        DomainError::NotFound(format!("Snapshot {id} could not be found."))
    }

    pub fn transfer_not_found(id: &str) -> Self {
        DomainError::NotFound(format!("Transfer {id} could not be found."))
    }
}
