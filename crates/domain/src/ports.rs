//! The persistence ports of the block-storage domain. Every status change is a
//! compare-and-swap ([`Transition`]); the job it asks for and the quota it claims are written in
//! the same transaction.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::QuotaExceeded;
use crate::jobs::Job;
use crate::metadata::Metadata;
use crate::quota::Usage;
use crate::volume::{Volume, VolumeQuery, VolumeStatus, VolumeUpdate};
use crate::volume_type::VolumeType;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A referenced row (a pagination marker, say) does not exist.
    #[error("{0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// A quota claim did not fit; nothing was written.
    #[error("quota exceeded for {}", .0.resource)]
    QuotaExceeded(QuotaExceeded),
    #[error("{0}")]
    Backend(String),
}

/// A quota claim checked and applied inside the transaction that needs it. Usage is counted
/// from the rows themselves, so a claim can never leak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaClaim {
    pub project_id: String,
    pub volume_type_id: String,
    /// `(resource name, delta, limit)`; limit -1 is unlimited. Per-type resources name the
    /// type (`gigabytes_<type name>`); the store counts them over `volume_type_id`.
    pub volumes: (String, i64, i64),
    pub gigabytes: (String, i64, i64),
    pub type_volumes: (String, i64, i64),
    pub type_gigabytes: (String, i64, i64),
}

/// Field changes that go with a status change; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub size: Option<i64>,
    pub new_size: Option<Option<i64>>,
    pub use_quota: Option<bool>,
    pub status_reason: Option<Option<String>>,
    pub host: Option<Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub volume_id: String,
    /// The CAS condition: the status must be one of these.
    pub from: Vec<VolumeStatus>,
    /// Also require `attach_status = detached`.
    pub require_detached: bool,
    /// Also require that no migration is running.
    pub require_not_migrating: bool,
    pub to: VolumeStatus,
    pub changes: Changes,
    pub claim: Option<QuotaClaim>,
    pub enqueue: Option<Job>,
    /// The job this transition ends, deleted in the same transaction.
    pub complete_job: Option<String>,
}

impl Transition {
    pub fn new(volume_id: &str, from: &[VolumeStatus], to: VolumeStatus) -> Transition {
        Transition {
            volume_id: volume_id.to_owned(),
            from: from.to_vec(),
            require_detached: false,
            require_not_migrating: false,
            to,
            changes: Changes::default(),
            claim: None,
            enqueue: None,
            complete_job: None,
        }
    }
}

/// How a guarded metadata change ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guarded<T> {
    Done(T),
    NoSuchVolume,
    /// The volume's status forbids the change.
    Refused(VolumeStatus),
}

#[async_trait]
pub trait VolumeStore: Send + Sync + 'static {
    /// Inserts the volume (status `creating`) and its job, after checking `claim`.
    async fn create_volume(
        &self,
        v: &Volume,
        claim: &QuotaClaim,
        job: &Job,
    ) -> Result<(), StoreError>;
    async fn get_volume(&self, id: &str) -> Result<Option<Volume>, StoreError>;
    /// A page of volumes; an unknown marker is `NotFound`.
    async fn list_volumes(&self, q: &VolumeQuery) -> Result<Vec<Volume>, StoreError>;
    /// Applies the transition if its condition holds; false when it does not (or no volume).
    async fn transition(&self, t: &Transition) -> Result<bool, StoreError>;
    /// Changes name, description and/or user metadata unless the status is in `refuse`.
    async fn update_volume(
        &self,
        id: &str,
        update: &VolumeUpdate,
        refuse: &[VolumeStatus],
    ) -> Result<Guarded<()>, StoreError>;
    /// Merges (or with `replace`, replaces) user metadata; returns the full new set.
    async fn set_metadata(
        &self,
        id: &str,
        md: &Metadata,
        replace: bool,
        refuse: &[VolumeStatus],
    ) -> Result<Guarded<Metadata>, StoreError>;
    /// Removes one key; `Done(false)` when the key was absent.
    async fn delete_metadata_key(
        &self,
        id: &str,
        key: &str,
        refuse: &[VolumeStatus],
    ) -> Result<Guarded<bool>, StoreError>;
    /// The volume is gone from storage: remove its row (and metadata) and its job at once.
    async fn remove_volume(&self, id: &str, job_id: &str) -> Result<bool, StoreError>;
    async fn volumes_with_status(
        &self,
        statuses: &[VolumeStatus],
    ) -> Result<Vec<Volume>, StoreError>;
}

#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Takes the oldest runnable job, leasing it to `owner` until `until`.
    async fn lease(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError>;
    /// Releases a job for another try after `run_after`, recording the error.
    async fn retry_later(
        &self,
        job_id: &str,
        attempts: u32,
        run_after: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError>;
    /// Jobs whose lease expired (their worker died) become runnable again.
    async fn release_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Every job lease, whatever its expiry, is released (a single node restarting).
    async fn release_all(&self) -> Result<u64, StoreError>;
    async fn job_for_volume(&self, volume_id: &str) -> Result<Option<Job>, StoreError>;
    /// Drops a job that has nothing left to do.
    async fn finish(&self, job_id: &str) -> Result<(), StoreError>;
}

#[async_trait]
pub trait QuotaStore: Send + Sync + 'static {
    async fn usage(&self, project_id: &str) -> Result<Usage, StoreError>;
    /// Recounts usage from the resources themselves and repairs the stored counters; returns
    /// how many counters were wrong.
    async fn recount_usage(&self) -> Result<u64, StoreError>;
    /// Limits set for the project (only those that differ from its class).
    async fn project_limits(&self, project_id: &str) -> Result<BTreeMap<String, i64>, StoreError>;
    async fn set_project_limits(
        &self,
        project_id: &str,
        limits: &BTreeMap<String, i64>,
    ) -> Result<(), StoreError>;
    async fn delete_project_limits(&self, project_id: &str) -> Result<(), StoreError>;
    async fn class_limits(&self, class: &str) -> Result<BTreeMap<String, i64>, StoreError>;
    async fn set_class_limits(
        &self,
        class: &str,
        limits: &BTreeMap<String, i64>,
    ) -> Result<(), StoreError>;
}

#[async_trait]
pub trait VolumeTypeStore: Send + Sync + 'static {
    async fn get_type(&self, id: &str) -> Result<Option<VolumeType>, StoreError>;
    async fn find_type_by_name(&self, name: &str) -> Result<Option<VolumeType>, StoreError>;
    async fn list_types(&self) -> Result<Vec<VolumeType>, StoreError>;
    async fn create_type(&self, t: &VolumeType) -> Result<(), StoreError>;
}

/// What the storage side knows of its own limits, asked before a request is accepted.
#[async_trait]
pub trait Capacity: Send + Sync + 'static {
    /// The largest volume (GiB) the backend could ever hold; `None` when unknown.
    async fn largest_volume_gib(&self, backend: &str) -> Option<i64>;
}
