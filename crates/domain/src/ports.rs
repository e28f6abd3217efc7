//! The persistence ports of the block-storage domain. Every status change is a
//! compare-and-swap ([`Transition`]); the job it asks for and the quota it claims are written in
//! the same transaction.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use crate::backup::{BackupRecords, BackupStore};
use crate::error::QuotaExceeded;
use crate::jobs::Job;
use crate::metadata::Metadata;
use crate::qos::{QosConsumer, QosSpecs};
use crate::quota::Usage;
use crate::snapshot::{Snapshot, SnapshotQuery, SnapshotStatus, SnapshotUpdate};
use crate::transfer::{Transfer, TransferQuery};
use crate::volume::{AttachStatus, Attachment, Volume, VolumeQuery, VolumeStatus, VolumeUpdate};
use crate::volume_type::{TypeEncryption, VolumeType};

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
    /// A pool's capacity guard did not hold (another create took the room); nothing was
    /// written.
    #[error("no room left on pool {0}")]
    NoCapacity(String),
    #[error("{0}")]
    Backend(String),
}

/// A quota claim checked inside the transaction that consumes it, against usage counters the
/// store keeps with the rows (so a claim can never leak).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaClaim {
    pub project_id: String,
    pub volume_type_id: String,
    /// `(resource name, delta, limit)`; limit -1 is unlimited. Per-type resources name the
    /// type (`gigabytes_<type name>`); the store counts them over `volume_type_id`.
    pub volumes: (String, i64, i64),
    pub snapshots: (String, i64, i64),
    /// Volumes' and snapshots' GiB together, as Cinder counts them.
    pub gigabytes: (String, i64, i64),
    pub type_volumes: (String, i64, i64),
    pub type_snapshots: (String, i64, i64),
    pub type_gigabytes: (String, i64, i64),
    /// The pool the volume goes to, checked in the same transaction: what is provisioned
    /// there plus the delta must stay within the limit.
    pub pool: Option<PoolClaim>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolClaim {
    /// A volume's `host`: `host@backend#pool`.
    pub pool: String,
    pub delta_gib: i64,
    pub limit_gib: i64,
}

/// What a volume's snapshots and dependants mean for a volume transition (a delete).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SnapshotRule {
    /// Snapshots do not matter.
    #[default]
    Ignore,
    /// The volume must have no snapshot, and no volume may be being created from it.
    Refuse,
    /// The volume's snapshots must all be among these (read just before: one taken
    /// meanwhile fails the transition), each in [`SnapshotStatus::CASCADABLE`]; they go `deleting` with
    /// the volume. No volume may be being created from the volume or its snapshots.
    Cascade(Vec<String>),
}

/// A snapshot's status change that goes with a volume's (a revert).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotChange {
    pub snapshot_id: String,
    /// The snapshot's status must be one of these, and it must belong to the volume.
    pub from: Vec<SnapshotStatus>,
    pub to: SnapshotStatus,
    /// Also require that no later snapshot of the volume exists.
    pub must_be_latest: bool,
    /// When the snapshot does not match, the whole transition fails; when false, the
    /// volume's change is applied anyway (ending a job must not depend on the snapshot).
    pub required: bool,
}

/// A source a new volume is created from, checked in the creating transaction: a snapshot
/// must still be `available`, a volume `available` or `in-use`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceGuard {
    Snapshot(String),
    Volume(String),
}

/// Field changes that go with a status change; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub size: Option<i64>,
    pub new_size: Option<Option<i64>>,
    pub use_quota: Option<bool>,
    pub status_reason: Option<Option<String>>,
    pub host: Option<Option<String>>,
    pub attach_status: Option<AttachStatus>,
    pub bootable: Option<bool>,
    /// Admin metadata keys to set (`Some`) or remove (`None`): `readonly`, `attached_mode`.
    pub admin_metadata: Vec<(String, Option<String>)>,
    pub add_attachment: Option<Attachment>,
    /// The attachment must exist (else the transition fails) and is removed.
    pub remove_attachment: Option<String>,
    /// `Some(None)` clears the migration status.
    pub migration_status: Option<Option<String>>,
    /// A retype: the volume's new type (per-type quota usage follows the row).
    pub volume_type_id: Option<String>,
    /// A migration to a backend of another zone.
    pub availability_zone: Option<String>,
    /// Every attachment record goes (an admin's reset to `detached`).
    pub remove_all_attachments: bool,
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
    /// Also require `attach_status <> attached` (a forced delete).
    pub require_not_attached: bool,
    /// Also require that no job works on the volume (its work would race the new one).
    pub require_no_job: bool,
    /// Also require the migration status to be one of these (`None`: no condition).
    pub migration_in: Option<Vec<String>>,
    pub snapshots: SnapshotRule,
    /// A status change of one of the volume's snapshots, in the same transaction.
    pub snapshot: Option<SnapshotChange>,
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
            require_not_attached: false,
            require_no_job: false,
            migration_in: None,
            snapshots: SnapshotRule::Ignore,
            snapshot: None,
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
    /// Inserts the volume (status `creating`) and its job, after checking `claim` and, when
    /// given, that the source may still be copied; false (nothing written) when it may not.
    async fn create_volume(
        &self,
        v: &Volume,
        source: Option<&SourceGuard>,
        claim: &QuotaClaim,
        job: &Job,
    ) -> Result<bool, StoreError>;
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
    /// The volume is gone from storage: remove its row (with its metadata, attachments and
    /// export records), its snapshots (a cascade: they went with it), and its job at once.
    async fn remove_volume(&self, id: &str, job_id: &str) -> Result<bool, StoreError>;
    async fn volumes_with_status(
        &self,
        statuses: &[VolumeStatus],
    ) -> Result<Vec<Volume>, StoreError>;
    /// Inserts a volume that could not be placed (status `error`, no host, no job, counted in
    /// no quota), so that the user sees it and its reason.
    async fn record_unplaced_volume(&self, v: &Volume) -> Result<(), StoreError>;
}

/// The services of the deployment and the capacity held on each pool.
#[async_trait]
pub trait ServiceStore: Send + Sync + 'static {
    /// Records a heartbeat, creating the service the first time; an operator's disable stays.
    async fn report_service(
        &self,
        r: &crate::backends::ServiceReport,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn list_services(&self) -> Result<Vec<crate::backends::ServiceRecord>, StoreError>;
    /// False when there is no such service.
    async fn set_service_disabled(
        &self,
        host: &str,
        binary: &str,
        disabled: bool,
        reason: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// `(volumes, provisioned GiB)` per pool (a volume's `host`).
    async fn pool_usage(&self) -> Result<BTreeMap<String, (i64, i64)>, StoreError>;
    /// Per project: volumes and snapshots held on pools of a volume service (`host@backend`)
    /// or of every backend of a host.
    async fn host_project_usage(
        &self,
        host: &str,
    ) -> Result<Vec<crate::backends::HostUsage>, StoreError>;
}

/// A snapshot's compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotTransition {
    pub snapshot_id: String,
    /// The CAS condition: the status must be one of these (empty: any status).
    pub from: Vec<SnapshotStatus>,
    pub to: SnapshotStatus,
    pub progress: Option<String>,
    pub use_quota: Option<bool>,
    pub status_reason: Option<Option<String>>,
    /// Also require that no volume is being created from the snapshot.
    pub require_no_creating_volumes: bool,
    pub enqueue: Option<Job>,
    /// The job this transition ends, deleted in the same transaction.
    pub complete_job: Option<String>,
}

impl SnapshotTransition {
    pub fn new(
        snapshot_id: &str,
        from: &[SnapshotStatus],
        to: SnapshotStatus,
    ) -> SnapshotTransition {
        SnapshotTransition {
            snapshot_id: snapshot_id.to_owned(),
            from: from.to_vec(),
            to,
            progress: None,
            use_quota: None,
            status_reason: None,
            require_no_creating_volumes: false,
            enqueue: None,
            complete_job: None,
        }
    }
}

#[async_trait]
pub trait SnapshotStore: Send + Sync + 'static {
    /// Inserts the snapshot (status `creating`, with its metadata) and its job after checking
    /// `claim`, provided its volume still has one of `volume_from` statuses and is not
    /// migrating; false (nothing written) otherwise.
    async fn create_snapshot(
        &self,
        s: &Snapshot,
        volume_from: &[VolumeStatus],
        claim: &QuotaClaim,
        job: &Job,
    ) -> Result<bool, StoreError>;
    async fn get_snapshot(&self, id: &str) -> Result<Option<Snapshot>, StoreError>;
    /// A page of snapshots; an unknown marker is `NotFound`.
    async fn list_snapshots(&self, q: &SnapshotQuery) -> Result<Vec<Snapshot>, StoreError>;
    /// Every snapshot of a volume, oldest first.
    async fn snapshots_of_volume(&self, volume_id: &str) -> Result<Vec<Snapshot>, StoreError>;
    /// Applies the transition if its condition holds; false when it does not (or no snapshot).
    async fn snapshot_transition(&self, t: &SnapshotTransition) -> Result<bool, StoreError>;
    /// Changes name and/or description; false when there is no such snapshot.
    async fn update_snapshot(&self, id: &str, u: &SnapshotUpdate) -> Result<bool, StoreError>;
    /// Merges (or with `replace`, replaces) metadata; the full new set, `None` when there is
    /// no such snapshot.
    async fn set_snapshot_metadata(
        &self,
        id: &str,
        md: &Metadata,
        replace: bool,
    ) -> Result<Option<Metadata>, StoreError>;
    /// Removes one key: `Some(false)` when the key was absent, `None` when the snapshot is.
    async fn delete_snapshot_metadata_key(
        &self,
        id: &str,
        key: &str,
    ) -> Result<Option<bool>, StoreError>;
    /// The snapshot is gone from storage: remove its row (and metadata) and its job at once.
    async fn remove_snapshot(&self, id: &str, job_id: &str) -> Result<bool, StoreError>;
    async fn snapshots_with_status(
        &self,
        statuses: &[SnapshotStatus],
    ) -> Result<Vec<Snapshot>, StoreError>;
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
    /// Extends the lease `owner` holds on a job still running; false when it no longer
    /// holds it (the job was released or finished meanwhile).
    async fn renew_lease(
        &self,
        job_id: &str,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Jobs whose lease expired (their worker died) become runnable again.
    async fn release_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Every job lease, whatever its expiry, is released (a single node restarting).
    async fn release_all(&self) -> Result<u64, StoreError>;
    /// The pending job of a volume or snapshot.
    async fn job_for(&self, subject_id: &str) -> Result<Option<Job>, StoreError>;
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

/// How a guarded change of a type ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeWrite {
    Done,
    NoSuchType,
    /// A volume uses the type: the change is refused.
    InUse,
    /// Another type has the name.
    NameTaken,
    /// What is being created exists already (an encryption spec, a project's access).
    Exists,
    /// What is being changed or removed does not exist (a key, an encryption spec, access).
    Missing,
}

/// A type's new name, description and/or visibility; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeFields {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub is_public: Option<bool>,
}

#[async_trait]
pub trait VolumeTypeStore: Send + Sync + 'static {
    /// A type with its extra specs and QoS association.
    async fn get_type(&self, id: &str) -> Result<Option<VolumeType>, StoreError>;
    async fn find_type_by_name(&self, name: &str) -> Result<Option<VolumeType>, StoreError>;
    async fn list_types(&self) -> Result<Vec<VolumeType>, StoreError>;
    /// Inserts the type with its extra specs; a taken name is `Conflict`.
    async fn create_type(&self, t: &VolumeType) -> Result<(), StoreError>;
    /// Changes the type's fields; a rename also renames the per-type quota limits
    /// (`volumes_<name>`, ...), in the same transaction.
    async fn update_type(&self, id: &str, f: &TypeFields) -> Result<TypeWrite, StoreError>;
    /// Removes the type unless a volume uses it.
    async fn delete_type(&self, id: &str) -> Result<TypeWrite, StoreError>;
    /// Merges extra specs unless a volume uses the type.
    async fn set_extra_specs(
        &self,
        id: &str,
        specs: &crate::volume_type::ExtraSpecs,
    ) -> Result<TypeWrite, StoreError>;
    /// Removes one extra spec unless a volume uses the type.
    async fn delete_extra_spec(&self, id: &str, key: &str) -> Result<TypeWrite, StoreError>;
    /// Projects granted a (private) type.
    async fn type_projects(&self, id: &str) -> Result<Vec<String>, StoreError>;
    /// Ids of the types granted to a project.
    async fn types_granted_to(&self, project_id: &str) -> Result<Vec<String>, StoreError>;
    async fn add_type_project(&self, id: &str, project_id: &str) -> Result<TypeWrite, StoreError>;
    async fn remove_type_project(
        &self,
        id: &str,
        project_id: &str,
    ) -> Result<TypeWrite, StoreError>;
    async fn get_encryption(&self, type_id: &str) -> Result<Option<TypeEncryption>, StoreError>;
    /// Creates (`create`) or replaces the type's encryption spec, unless a volume uses the
    /// type; `Exists` when creating over one, `Missing` when replacing none.
    async fn put_encryption(
        &self,
        e: &TypeEncryption,
        create: bool,
    ) -> Result<TypeWrite, StoreError>;
    async fn delete_encryption(&self, type_id: &str) -> Result<TypeWrite, StoreError>;
}

/// How a QoS association change ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QosWrite {
    Done,
    NoSuchSpecs,
    NoSuchType,
    /// The type is associated with another QoS spec (its id).
    TypeTaken(String),
    /// The spec is associated with types and the delete was not forced.
    InUse,
    /// A key to delete is not among the specs (nothing was deleted).
    NoSuchKey(String),
}

#[async_trait]
pub trait QosStore: Send + Sync + 'static {
    /// A taken name is `Conflict`.
    async fn create_qos(&self, q: &QosSpecs) -> Result<(), StoreError>;
    async fn get_qos(&self, id: &str) -> Result<Option<QosSpecs>, StoreError>;
    async fn list_qos(&self) -> Result<Vec<QosSpecs>, StoreError>;
    /// Merges specs and sets the consumer when given.
    async fn update_qos(
        &self,
        id: &str,
        consumer: Option<QosConsumer>,
        specs: &BTreeMap<String, String>,
    ) -> Result<QosWrite, StoreError>;
    /// Removes every key or, when one is missing, none.
    async fn delete_qos_keys(&self, id: &str, keys: &[String]) -> Result<QosWrite, StoreError>;
    /// Removes the spec; associated types lose it when `force`, else `InUse`.
    async fn delete_qos(&self, id: &str, force: bool) -> Result<QosWrite, StoreError>;
    async fn associate_qos(&self, id: &str, type_id: &str) -> Result<QosWrite, StoreError>;
    async fn disassociate_qos(&self, id: &str, type_id: &str) -> Result<QosWrite, StoreError>;
    async fn disassociate_qos_all(&self, id: &str) -> Result<QosWrite, StoreError>;
    /// The types associated with a spec.
    async fn qos_types(&self, id: &str) -> Result<Vec<VolumeType>, StoreError>;
}

/// Accepting a transfer: the volume and the snapshots read just before move to `project_id`
/// and `user_id`, each claim checked against the acceptor's counters just before its rows
/// move (the volume's first, as Cinder reserves them), the transfer row deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acceptance {
    pub transfer_id: String,
    pub volume_id: String,
    pub project_id: String,
    pub user_id: String,
    /// The volume's snapshots: exactly these must exist, all `available`.
    pub snapshot_ids: Vec<String>,
    pub volume_claim: QuotaClaim,
    pub snapshot_claim: QuotaClaim,
}

/// How an acceptance ended; anything but `Accepted` wrote nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptOutcome {
    Accepted,
    NoSuchTransfer,
    /// The volume is no longer `awaiting-transfer`.
    VolumeNotAwaiting,
    /// A snapshot of the volume is not `available` (its id).
    SnapshotNotAvailable(String),
    /// The volume's snapshots are not those read before (one was removed meanwhile).
    SnapshotsChanged,
}

#[async_trait]
pub trait TransferStore: Send + Sync + 'static {
    /// Inserts the transfer and moves its volume `available` → `awaiting-transfer`, provided
    /// the volume is detached, not migrating and every snapshot of it `available`; false
    /// (nothing written) otherwise.
    async fn create_transfer(&self, t: &Transfer) -> Result<bool, StoreError>;
    async fn get_transfer(&self, id: &str) -> Result<Option<Transfer>, StoreError>;
    /// A page of transfers by `created_at`, `id`; an unknown marker is `NotFound`.
    async fn list_transfers(&self, q: &TransferQuery) -> Result<Vec<Transfer>, StoreError>;
    /// Removes the transfer and puts its volume back to `available` if it is still
    /// `awaiting-transfer`; false when there was no such transfer.
    async fn delete_transfer(&self, id: &str) -> Result<bool, StoreError>;
    /// Applies an acceptance; an over-quota claim is `StoreError::QuotaExceeded`.
    async fn accept_transfer(&self, a: &Acceptance) -> Result<AcceptOutcome, StoreError>;
}

/// What the storage side knows of its own limits, asked before a request is accepted.
#[async_trait]
pub trait Capacity: Send + Sync + 'static {
    /// The largest volume (GiB) the backend could ever hold; `None` when unknown.
    async fn largest_volume_gib(&self, backend: &str) -> Option<i64>;
}

/// Where a volume is exported to one connector (a compute host), kept so that terminate,
/// force-detach and a restart know what to undo or restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub id: String,
    pub volume_id: String,
    /// The connector it was issued to: its `host`, else its `initiator`, else its `ip`.
    pub connector_key: String,
    /// `driver_volume_type`: `nbd`, `iscsi`, `local`.
    pub protocol: String,
    pub read_only: bool,
    /// The exporter's own record of the export (an NBD export name, an iSCSI target...).
    pub handle: serde_json::Value,
    /// `connection_info.data` as given to the connector.
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

#[async_trait]
pub trait ExportStore: Send + Sync + 'static {
    async fn add_export(&self, e: &Export) -> Result<(), StoreError>;
    async fn exports_of_volume(&self, volume_id: &str) -> Result<Vec<Export>, StoreError>;
    /// False when it was already gone.
    async fn remove_export(&self, id: &str) -> Result<bool, StoreError>;
    /// Replaces the `connection_info.data` given out for an export (after a restart moved it).
    async fn update_export_data(
        &self,
        id: &str,
        data: &serde_json::Value,
    ) -> Result<bool, StoreError>;
    /// Every export, for restoring them at start-up.
    async fn all_exports(&self) -> Result<Vec<Export>, StoreError>;
}

/// What an exporter made for one connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportGrant {
    pub protocol: String,
    pub handle: serde_json::Value,
    /// `connection_info.data` (without `access_mode` and `encrypted`, which the domain adds).
    pub data: serde_json::Value,
}

/// Makes volumes reachable by compute hosts (NBD, iSCSI, local paths): the storage side of
/// `os-initialize_connection` and `os-terminate_connection`.
#[async_trait]
pub trait Exporter: Send + Sync + 'static {
    /// Exports `volume` to `connector`; `Err` carries the reason for the user.
    async fn export(
        &self,
        volume: &Volume,
        read_only: bool,
        connector: &serde_json::Value,
    ) -> Result<ExportGrant, String>;
    /// Removes an export and drops its sessions, after in-flight I/O completes.
    async fn unexport(&self, export: &Export) -> Result<(), String>;
    /// Makes a recorded export reachable again after a restart, under the same names; returns
    /// the `connection_info.data` to give out from now on when it changed (a new port, say).
    async fn restore(
        &self,
        volume: &Volume,
        export: &Export,
    ) -> Result<Option<serde_json::Value>, String>;
}
