//! The volume service: every volume operation of the API, and the completions through which
//! workers report the end of asynchronous work. Status changes are compare-and-swaps; a lost
//! race re-reads the volume to give Cinder's answer for the status it actually has.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::Notify;

use super::model::{NewVolume, Volume, VolumeUpdate};
use super::placement;
use super::query::VolumeQuery;
use super::status::{AttachStatus, VolumeStatus};
use crate::backends::{choose, NoValidBackend, OperatorService};
use crate::error::DomainError;
use crate::jobs::{Job, JobKind, VolumeSource};
use crate::manage::{Inventory, ManageStore};
use crate::metadata::{self, Metadata};
use crate::ports::{
    Capacity, Guarded, JobStore, PoolClaim, QuotaClaim, SnapshotChange, SnapshotRule,
    SnapshotStore, SourceGuard, StoreError, Transition, VolumeStore, VolumeTypeStore,
};
use crate::quota::QuotaService;
use crate::settings::DomainSettings;
use crate::snapshot::SnapshotStatus;
use crate::volume_type::{VolumeType, DEFAULT_TYPE_NAME};
use crate::Caller;

/// Largest size Cinder's schema accepts.
pub const MAX_SIZE_GIB: i64 = 2_147_483_647;

const DELETE_REFUSED: &str = "Volume status must be available or error or error_restoring or \
     error_extending or error_managing and must not be migrating, attached, belong to a group, \
     have snapshots, awaiting a transfer, or be disassociated from snapshots after volume \
     transfer.";

pub struct VolumeService {
    pub(super) store: Arc<dyn VolumeStore>,
    pub(super) snapshots: Arc<dyn SnapshotStore>,
    pub(super) jobs: Arc<dyn JobStore>,
    pub(super) types: Arc<dyn VolumeTypeStore>,
    pub(super) quotas: Arc<QuotaService>,
    pub(super) settings: DomainSettings,
    /// Wakes the workers when a job is written, so that none waits for a poll.
    pub(super) job_signal: Arc<Notify>,
    capacity: Option<Arc<dyn Capacity>>,
    /// Places new volumes on pools; without it, a zone's first configured backend.
    pub(super) scheduler: Option<Arc<OperatorService>>,
    /// Unmanage, manageable listings and adoption; without them those calls answer 400.
    pub(super) manage: Option<(Arc<dyn ManageStore>, Arc<dyn Inventory>)>,
    /// Finds migrations a restart interrupted.
    pub(super) migrations: Option<Arc<dyn crate::migration::MigrationStore>>,
}

/// How often a create chooses again after losing a pool's last room to another create.
const PLACEMENT_TRIES: usize = 3;

impl VolumeService {
    pub fn new(
        store: Arc<dyn VolumeStore>,
        snapshots: Arc<dyn SnapshotStore>,
        jobs: Arc<dyn JobStore>,
        types: Arc<dyn VolumeTypeStore>,
        quotas: Arc<QuotaService>,
        settings: DomainSettings,
        job_signal: Arc<Notify>,
    ) -> Self {
        VolumeService {
            store,
            snapshots,
            jobs,
            types,
            quotas,
            settings,
            job_signal,
            capacity: None,
            scheduler: None,
            manage: None,
            migrations: None,
        }
    }

    /// Lets volumes be unmanaged, and backend files listed and adopted.
    pub fn with_manage(
        mut self,
        store: Arc<dyn ManageStore>,
        inventory: Arc<dyn Inventory>,
    ) -> Self {
        self.manage = Some((store, inventory));
        self
    }

    /// Places new volumes with the scheduler, on the pools the services report.
    pub fn with_scheduler(mut self, scheduler: Arc<OperatorService>) -> Self {
        self.scheduler = Some(scheduler);
        self
    }

    /// Lets requests larger than a backend could ever hold be refused at once.
    pub fn with_capacity(mut self, capacity: Arc<dyn Capacity>) -> Self {
        self.capacity = Some(capacity);
        self
    }

    async fn check_fits(&self, backend: &str, size: i64) -> Result<(), DomainError> {
        let Some(c) = &self.capacity else {
            return Ok(());
        };
        match c.largest_volume_gib(backend).await {
            Some(max) if size > max => Err(DomainError::InvalidInput(format!(
                "Volume size {size}G is larger than backend '{backend}' can ever hold ({max}G)."
            ))),
            _ => Ok(()),
        }
    }

    pub fn settings(&self) -> &DomainSettings {
        &self.settings
    }

    /// Creates the default volume type when missing (first start).
    pub async fn ensure_default_type(&self) -> Result<VolumeType, DomainError> {
        if let Some(t) = self.types.find_type_by_name(DEFAULT_TYPE_NAME).await? {
            return Ok(t);
        }
        let t = VolumeType::default_type();
        match self.types.create_type(&t).await {
            Ok(()) => Ok(t),
            // Another node created it first.
            Err(StoreError::Conflict(_)) => self
                .types
                .find_type_by_name(DEFAULT_TYPE_NAME)
                .await?
                .ok_or_else(|| DomainError::NotFound("default volume type".into())),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn resolve_type(
        &self,
        requested: Option<&str>,
    ) -> Result<VolumeType, DomainError> {
        let Some(name_or_id) = requested else {
            return self.ensure_default_type().await;
        };
        if let Some(t) = self.types.get_type(name_or_id).await? {
            return Ok(t);
        }
        self.types
            .find_type_by_name(name_or_id)
            .await?
            .ok_or_else(|| {
                DomainError::NotFound(format!(
                    "Volume type with name {name_or_id} could not be found."
                ))
            })
    }

    /// The volume's encryption metadata: its type's encryption spec, if any (Basalt's volumes
    /// are never encrypted, so they have no key id).
    pub async fn encryption_metadata(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Option<crate::volume_type::TypeEncryption>, DomainError> {
        let v = self.get(caller, id).await?;
        Ok(self.types.get_encryption(&v.volume_type_id).await?)
    }

    /// A private type exists only for admins and the projects it was granted to.
    async fn check_type_visible(
        &self,
        caller: &Caller,
        ty: &VolumeType,
        asked: &str,
    ) -> Result<(), DomainError> {
        if ty.is_public || caller.is_admin {
            return Ok(());
        }
        let granted = self.types.type_projects(&ty.id).await?;
        if granted.contains(&caller.project_id) {
            return Ok(());
        }
        Err(DomainError::NotFound(format!(
            "Volume type with name {asked} could not be found."
        )))
    }

    /// The volume if the caller may see it: another project's volume does not exist for it.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<Volume, DomainError> {
        visible_volume(self.store.as_ref(), caller, id).await
    }

    pub async fn list(&self, q: &VolumeQuery) -> Result<Vec<Volume>, DomainError> {
        self.store.list_volumes(q).await.map_err(|e| match e {
            StoreError::NotFound(m) => DomainError::NotFound(m),
            other => other.into(),
        })
    }

    /// Where a new volume's data comes from, checked: its size, type, zone and backend.
    async fn source_of(
        &self,
        caller: &Caller,
        req: &NewVolume,
    ) -> Result<Option<Source>, DomainError> {
        match (&req.snapshot_id, &req.source_volid) {
            (Some(_), Some(_)) => Err(DomainError::InvalidInput(
                "A volume can be created from a snapshot or from a volume, not both.".into(),
            )),
            (Some(sid), None) => {
                let s = match self.snapshots.get_snapshot(sid).await? {
                    Some(s) if caller.is_admin || s.project_id == caller.project_id => s,
                    _ => return Err(DomainError::snapshot_not_found(sid)),
                };
                if s.status != SnapshotStatus::Available {
                    return Err(DomainError::InvalidSnapshot(
                        "Originating snapshot status must be one of 'available' values".into(),
                    ));
                }
                let zone = match self.store.get_volume(&s.volume_id).await? {
                    Some(v) => v.availability_zone,
                    None => self.settings.default_availability_zone.clone(),
                };
                Ok(Some(Source {
                    guard: SourceGuard::Snapshot(s.id.clone()),
                    job: VolumeSource::Snapshot(s.id.clone()),
                    size: s.size,
                    volume_type_id: s.volume_type_id.clone(),
                    zone,
                    backend: s.backend().unwrap_or_default().to_owned(),
                    what: "snapshot",
                }))
            }
            (None, Some(vid)) => {
                let v = self.get(caller, vid).await?;
                if !matches!(v.status, VolumeStatus::Available | VolumeStatus::InUse) {
                    return Err(DomainError::InvalidVolume(format!(
                        "Unable to clone volume {vid}: its status must be available or in-use, \
                         but current status is: {}.",
                        v.status.shown()
                    )));
                }
                Ok(Some(Source {
                    guard: SourceGuard::Volume(v.id.clone()),
                    job: VolumeSource::Volume(v.id.clone()),
                    size: v.size,
                    volume_type_id: v.volume_type_id.clone(),
                    zone: v.availability_zone.clone(),
                    backend: v.backend().unwrap_or_default().to_owned(),
                    what: "volume",
                }))
            }
            (None, None) => Ok(None),
        }
    }

    pub async fn create(&self, caller: &Caller, req: NewVolume) -> Result<Volume, DomainError> {
        if req.image_ref.is_some() {
            return Err(DomainError::BadRequest(
                "Invalid image identifier or unable to access requested image.".into(),
            ));
        }
        if let Some(cg) = &req.consistencygroup_id {
            return Err(DomainError::NotFound(format!(
                "ConsistencyGroup {cg} could not be found."
            )));
        }
        let source = self.source_of(caller, &req).await?;
        let size = match (req.size, &source) {
            (Some(size), _) => size,
            (None, Some(src)) => src.size,
            (None, None) => {
                return Err(DomainError::InvalidInput(
                    "Size must be specified for a new volume.".into(),
                ))
            }
        };
        if !(1..=MAX_SIZE_GIB).contains(&size) {
            return Err(DomainError::InvalidInput(format!(
                "Volume size '{size}' must be an integer and greater than 0"
            )));
        }
        if let Some(src) = source.as_ref().filter(|src| size < src.size) {
            let original = if src.what == "snapshot" {
                "the snapshot size"
            } else {
                "original volume size"
            };
            return Err(DomainError::InvalidInput(format!(
                "Volume size '{size}'GB cannot be smaller than {original} {}GB. They must be >= \
                 original {} size.",
                src.size, src.what
            )));
        }
        metadata::validate(&req.metadata, "metadata")?;
        // A copy inherits its source's type unless another is asked for (every type lives on
        // the same backends here, so Cinder's "retype possible" rule always holds).
        let requested_type = req
            .volume_type
            .as_deref()
            .or(source.as_ref().map(|s| s.volume_type_id.as_str()));
        let ty = self.resolve_type(requested_type).await?;
        if req.volume_type.is_some() {
            self.check_type_visible(caller, &ty, req.volume_type.as_deref().unwrap_or_default())
                .await?;
        }
        if self.types.get_encryption(&ty.id).await?.is_some() {
            // Cinder would ask its key manager for a key; Basalt has none yet, and a volume
            // that silently stays unencrypted would be worse than a refusal.
            return Err(DomainError::InvalidInput(format!(
                "Volume type {} is encrypted, and Basalt cannot create encrypted volumes yet.",
                ty.name
            )));
        }
        let zone = match &source {
            // A copy lives beside its source: same zone, same backend.
            Some(src) => {
                if req
                    .availability_zone
                    .as_ref()
                    .is_some_and(|z| *z != src.zone)
                {
                    return Err(DomainError::InvalidInput(format!(
                        "Volume must be in the same availability zone as the {}",
                        src.what
                    )));
                }
                src.zone.clone()
            }
            None => req
                .availability_zone
                .clone()
                .unwrap_or_else(|| self.settings.default_availability_zone.clone()),
        };
        let mut claim = self
            .quotas
            .claim(&caller.project_id, &ty, 1, 0, size, Some(size))
            .await?;
        let mut volume = self.new_row(caller, &req, &ty, size, zone.clone());
        let Some(scheduler) = self.scheduler.clone().filter(|_| source.is_none()) else {
            let backend = match &source {
                Some(src) => src.backend.clone(),
                None => self.configured_backend(&zone)?,
            };
            self.check_fits(&backend, size).await?;
            volume.host = Some(self.pool_of(&backend));
            return self
                .insert(caller, &req, volume, source.as_ref(), &claim, backend)
                .await;
        };
        let mut placement = placement::request(self.store.as_ref(), &req, &ty, size, &zone).await?;
        for _ in 0..PLACEMENT_TRIES {
            let candidates = scheduler.candidates().await?;
            placement::check_zone(&candidates, &zone, size)?;
            let chosen = match choose(&candidates, &placement) {
                Ok(c) => c.clone(),
                Err(none) => return self.unplaced(volume, none).await,
            };
            claim.pool = Some(PoolClaim {
                pool: chosen.pool.clone(),
                delta_gib: size,
                limit_gib: chosen.stats.provisionable_gib(),
            });
            volume.host = Some(chosen.pool.clone());
            match self
                .insert(caller, &req, volume.clone(), None, &claim, chosen.backend)
                .await
            {
                // Another create took the room meanwhile: choose again without this pool.
                Err(DomainError::Store(StoreError::NoCapacity(pool))) => {
                    placement.exclude.push(pool)
                }
                done => return done,
            }
        }
        let none =
            NoValidBackend("Every pool that fitted was filled by other requests meanwhile.".into());
        self.unplaced(volume, none).await
    }

    /// The volume row of a create, before it is placed.
    pub(super) fn new_row(
        &self,
        caller: &Caller,
        req: &NewVolume,
        ty: &VolumeType,
        size: i64,
        zone: String,
    ) -> Volume {
        Volume {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: caller.project_id.clone(),
            user_id: caller.user_id.clone(),
            name: req.name.clone(),
            description: req.description.clone(),
            size,
            new_size: None,
            status: VolumeStatus::Creating,
            attach_status: AttachStatus::Detached,
            migration_status: None,
            availability_zone: zone,
            volume_type_id: ty.id.clone(),
            volume_type_name: Some(ty.name.clone()),
            snapshot_id: req.snapshot_id.clone(),
            source_volid: req.source_volid.clone(),
            bootable: false,
            // The deprecated flag, or (Cinder's way since Queens) the type's extra spec.
            multiattach: req.multiattach || ty.is_multiattach(),
            encrypted: false,
            replication_status: "disabled".into(),
            consistencygroup_id: None,
            group_id: None,
            host: None,
            use_quota: true,
            status_reason: None,
            metadata: req.metadata.clone(),
            admin_metadata: Metadata::new(),
            attachments: vec![],
            created_at: Utc::now(),
            updated_at: None,
        }
    }

    pub(super) fn pool_of(&self, backend: &str) -> String {
        format!("{}@{backend}#{backend}", self.settings.host)
    }

    /// Without a scheduler: the first configured backend of the zone.
    fn configured_backend(&self, zone: &str) -> Result<String, DomainError> {
        self.settings
            .backends
            .iter()
            .find(|b| b.availability_zone == zone)
            .map(|b| b.name.clone())
            .ok_or_else(|| {
                DomainError::BadRequest(format!("Availability zone '{zone}' is invalid."))
            })
    }

    /// Writes the volume with its create job.
    async fn insert(
        &self,
        caller: &Caller,
        req: &NewVolume,
        volume: Volume,
        source: Option<&Source>,
        claim: &QuotaClaim,
        backend: String,
    ) -> Result<Volume, DomainError> {
        let job = Job::new(
            &volume.id,
            JobKind::CreateVolume {
                backend,
                size_gib: volume.size,
                source: source.map(|s| s.job.clone()),
            },
        );
        let written = match self
            .store
            .create_volume(&volume, source.map(|s| &s.guard), claim, &job)
            .await
        {
            Err(StoreError::NoCapacity(p)) => return Err(StoreError::NoCapacity(p).into()),
            other => other.map_err(DomainError::from_claim)?,
        };
        if !written {
            // The source changed between the check and the write: answer for what it is now.
            self.source_of(caller, req).await?;
            return Err(DomainError::InvalidInput(
                "The source of the volume changed while the volume was requested; try again."
                    .into(),
            ));
        }
        self.job_signal.notify_waiters();
        Ok(volume)
    }

    /// Nothing fits: the volume exists in `error` with the scheduler's reason (as Cinder's
    /// scheduler leaves it), holding no quota and no storage.
    async fn unplaced(
        &self,
        mut volume: Volume,
        none: NoValidBackend,
    ) -> Result<Volume, DomainError> {
        tracing::warn!(volume = %volume.id, reason = %none.0, "volume could not be placed");
        volume.status = VolumeStatus::Error;
        volume.use_quota = false;
        volume.host = None;
        volume.status_reason = Some(none.message());
        self.store.record_unplaced_volume(&volume).await?;
        Ok(volume)
    }

    pub async fn update(
        &self,
        caller: &Caller,
        id: &str,
        update: VolumeUpdate,
    ) -> Result<Volume, DomainError> {
        self.get(caller, id).await?;
        if let Some(md) = &update.metadata {
            metadata::validate(md, "metadata")?;
        }
        match self
            .store
            .update_volume(id, &update, &[VolumeStatus::Maintenance])
            .await?
        {
            Guarded::Done(()) => self.get(caller, id).await,
            Guarded::NoSuchVolume => Err(DomainError::volume_not_found(id)),
            Guarded::Refused(s) => Err(DomainError::InvalidVolume(format!(
                "Volume status must not be {s} to update it."
            ))),
        }
    }

    /// Accepts the deletion (202): the volume goes `deleting` and a job removes its storage;
    /// with `cascade`, its snapshots go too, else it must have none. A volume already
    /// `deleting` is accepted again.
    pub async fn delete(
        &self,
        caller: &Caller,
        id: &str,
        cascade: bool,
    ) -> Result<(), DomainError> {
        let v = self.get(caller, id).await?;
        if v.status == VolumeStatus::Deleting {
            return Ok(());
        }
        let snapshots: Vec<String> = if cascade {
            self.snapshots
                .snapshots_of_volume(id)
                .await?
                .into_iter()
                .map(|s| s.id)
                .collect()
        } else {
            vec![]
        };
        let mut t = Transition::new(id, VolumeStatus::DELETABLE, VolumeStatus::Deleting);
        t.require_detached = true;
        t.require_not_migrating = true;
        t.snapshots = if cascade {
            SnapshotRule::Cascade(snapshots.clone())
        } else {
            SnapshotRule::Refuse
        };
        t.changes.status_reason = Some(None);
        t.enqueue = Some(Job::new(
            id,
            JobKind::DeleteVolume {
                backend: v.backend().unwrap_or_default().to_owned(),
                snapshots,
            },
        ));
        if self.store.transition(&t).await? {
            self.job_signal.notify_waiters();
            return Ok(());
        }
        match self.store.get_volume(id).await? {
            None => Err(DomainError::volume_not_found(id)),
            Some(now) if now.status == VolumeStatus::Deleting => Ok(()),
            Some(_) => Err(DomainError::InvalidVolume(DELETE_REFUSED.into())),
        }
    }

    /// `os-extend` (v2: from `available` only); the quota for the extra GiB is claimed now.
    pub async fn extend(
        &self,
        caller: &Caller,
        id: &str,
        new_size: i64,
    ) -> Result<(), DomainError> {
        let v = self.get(caller, id).await?;
        if v.status != VolumeStatus::Available {
            return Err(DomainError::InvalidVolume(format!(
                "Volume {id} status must be available to extend, but current status is: {}.",
                v.status.shown()
            )));
        }
        if new_size <= v.size || new_size > MAX_SIZE_GIB {
            return Err(DomainError::InvalidInput(format!(
                "New size for extend must be greater than current size. (current: {}, \
                 extended: {new_size}).",
                v.size
            )));
        }
        self.check_fits(v.backend().unwrap_or_default(), new_size)
            .await?;
        let ty = self.resolve_type(Some(&v.volume_type_id)).await?;
        let claim = self
            .quotas
            .claim(&v.project_id, &ty, 0, 0, new_size - v.size, Some(new_size))
            .await?;
        if v.is_migrating() {
            return Err(DomainError::InvalidVolume(format!(
                "Volume {id} is migrating; it can be extended once the migration ends."
            )));
        }
        let mut t = Transition::new(id, &[VolumeStatus::Available], VolumeStatus::Extending);
        t.require_not_migrating = true;
        t.changes.new_size = Some(Some(new_size));
        t.changes.status_reason = Some(None);
        t.claim = Some(claim);
        t.enqueue = Some(Job::new(
            id,
            JobKind::ExtendVolume {
                backend: v.backend().unwrap_or_default().to_owned(),
                new_size_gib: new_size,
            },
        ));
        if self
            .store
            .transition(&t)
            .await
            .map_err(DomainError::from_claim)?
        {
            self.job_signal.notify_waiters();
            return Ok(());
        }
        let now = self.get(caller, id).await?;
        Err(DomainError::InvalidVolume(format!(
            "Volume {id} status must be available to extend, but current status is: {}.",
            now.status.shown()
        )))
    }

    /// `revert` (v3.40): puts the data of the volume's latest snapshot back into it. The
    /// volume goes `reverting` and the snapshot `restoring` until the job is done.
    pub async fn revert(
        &self,
        caller: &Caller,
        id: &str,
        snapshot_id: &str,
    ) -> Result<(), DomainError> {
        let v = self.get(caller, id).await?;
        let s = match self.snapshots.get_snapshot(snapshot_id).await? {
            Some(s) if caller.is_admin || s.project_id == caller.project_id => s,
            _ => return Err(DomainError::snapshot_not_found(snapshot_id)),
        };
        if s.volume_id != v.id {
            return Err(DomainError::InvalidInput(format!(
                "Snapshot {snapshot_id} is not a snapshot of volume {id}."
            )));
        }
        let mut t = Transition::new(id, &[VolumeStatus::Available], VolumeStatus::Reverting);
        t.require_detached = true;
        t.require_not_migrating = true;
        t.changes.status_reason = Some(None);
        t.snapshot = Some(SnapshotChange {
            snapshot_id: snapshot_id.to_owned(),
            from: vec![SnapshotStatus::Available],
            to: SnapshotStatus::Restoring,
            must_be_latest: true,
            required: true,
        });
        t.enqueue = Some(Job::new(
            id,
            JobKind::RevertVolume {
                backend: v.backend().unwrap_or_default().to_owned(),
                snapshot_id: snapshot_id.to_owned(),
            },
        ));
        if self.store.transition(&t).await? {
            self.job_signal.notify_waiters();
            return Ok(());
        }
        // Say why, from what the volume and its snapshots are now.
        let v = self.get(caller, id).await?;
        let all = self.snapshots.snapshots_of_volume(id).await?;
        let s = all
            .iter()
            .find(|x| x.id == snapshot_id)
            .ok_or_else(|| DomainError::snapshot_not_found(snapshot_id))?;
        let latest = all
            .iter()
            .max_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)))
            .is_some_and(|l| l.id == snapshot_id);
        Err(
            if v.status != VolumeStatus::Available || v.attach_status != AttachStatus::Detached {
                DomainError::InvalidVolume(format!(
                    "Volume {id} status must be available to be reverted, but current status \
                     is: {}.",
                    v.status.shown()
                ))
            } else if s.status != SnapshotStatus::Available {
                DomainError::InvalidSnapshot(format!(
                    "Snapshot {snapshot_id} status must be available to revert to it, but \
                     current status is: {}.",
                    s.status
                ))
            } else if !latest {
                DomainError::InvalidSnapshot(format!(
                    "Snapshot {snapshot_id} is not the latest snapshot of volume {id}; a volume \
                     can only be reverted to its latest snapshot."
                ))
            } else {
                DomainError::InvalidVolume(format!(
                    "Volume {id} changed while the revert was requested."
                ))
            },
        )
    }

    // ---- metadata --------------------------------------------------------------------------

    const METADATA_REFUSED: [VolumeStatus; 2] =
        [VolumeStatus::Maintenance, VolumeStatus::Uploading];

    fn metadata_refused(id: &str, s: VolumeStatus) -> DomainError {
        DomainError::InvalidVolume(format!(
            "Volume {id} is in {s} state; its metadata cannot be changed."
        ))
    }

    pub async fn metadata(&self, caller: &Caller, id: &str) -> Result<Metadata, DomainError> {
        Ok(self.get(caller, id).await?.metadata)
    }

    pub async fn set_metadata(
        &self,
        caller: &Caller,
        id: &str,
        md: Metadata,
        replace: bool,
    ) -> Result<Metadata, DomainError> {
        let current = self.get(caller, id).await?.metadata;
        metadata::check_update(&current, &md, replace, "volume")?;
        match self
            .store
            .set_metadata(id, &md, replace, &Self::METADATA_REFUSED)
            .await?
        {
            Guarded::Done(all) => Ok(all),
            Guarded::NoSuchVolume => Err(DomainError::volume_not_found(id)),
            Guarded::Refused(s) => Err(Self::metadata_refused(id, s)),
        }
    }

    pub async fn metadata_item(
        &self,
        caller: &Caller,
        id: &str,
        key: &str,
    ) -> Result<String, DomainError> {
        self.get(caller, id)
            .await?
            .metadata
            .get(key)
            .cloned()
            .ok_or_else(|| metadata_key_not_found(id, key))
    }

    pub async fn delete_metadata_item(
        &self,
        caller: &Caller,
        id: &str,
        key: &str,
    ) -> Result<(), DomainError> {
        self.get(caller, id).await?;
        match self
            .store
            .delete_metadata_key(id, key, &Self::METADATA_REFUSED)
            .await?
        {
            Guarded::Done(true) => Ok(()),
            Guarded::Done(false) => Err(metadata_key_not_found(id, key)),
            Guarded::NoSuchVolume => Err(DomainError::volume_not_found(id)),
            Guarded::Refused(s) => Err(Self::metadata_refused(id, s)),
        }
    }

    // ---- completions, called by workers ------------------------------------------------------

    /// Ends a job: success moves the volume on; failure records `reason` for the user and, for
    /// a create, releases its quota.
    pub async fn complete(
        &self,
        job: &Job,
        outcome: Result<(), String>,
    ) -> Result<(), DomainError> {
        let id = &job.subject_id;
        if matches!(
            job.kind,
            JobKind::MigrateVolume { .. } | JobKind::DropVolumeCopy { .. }
        ) {
            return self.complete_move(job, outcome).await;
        }
        let mut t = match (&job.kind, &outcome) {
            (JobKind::DeleteVolume { .. }, Ok(())) => {
                self.store.remove_volume(id, &job.id).await?;
                return Ok(());
            }
            (JobKind::CreateVolume { .. }, Ok(())) => {
                Transition::new(id, &[VolumeStatus::Creating], VolumeStatus::Available)
            }
            (JobKind::CreateVolume { .. }, Err(_)) => {
                let mut t = Transition::new(id, &[VolumeStatus::Creating], VolumeStatus::Error);
                t.changes.use_quota = Some(false);
                t
            }
            (JobKind::ExtendVolume { new_size_gib, .. }, Ok(())) => {
                let mut t =
                    Transition::new(id, &[VolumeStatus::Extending], VolumeStatus::Available);
                t.changes.size = Some(*new_size_gib);
                t
            }
            (JobKind::ExtendVolume { .. }, Err(_)) => {
                Transition::new(id, &[VolumeStatus::Extending], VolumeStatus::ErrorExtending)
            }
            (JobKind::DeleteVolume { .. }, Err(_)) => {
                Transition::new(id, &[VolumeStatus::Deleting], VolumeStatus::ErrorDeleting)
            }
            (JobKind::RevertVolume { .. }, Ok(())) => {
                Transition::new(id, &[VolumeStatus::Reverting], VolumeStatus::Available)
            }
            // The data is half old, half new: Cinder leaves such a volume in `error`.
            (JobKind::RevertVolume { .. }, Err(_)) => {
                Transition::new(id, &[VolumeStatus::Reverting], VolumeStatus::Error)
            }
            (JobKind::ManageVolume { .. }, Ok(())) => {
                Transition::new(id, &[VolumeStatus::Managing], VolumeStatus::Available)
            }
            (JobKind::ManageVolume { .. }, Err(_)) => {
                let mut t =
                    Transition::new(id, &[VolumeStatus::Managing], VolumeStatus::ErrorManaging);
                t.changes.use_quota = Some(false);
                t
            }
            (other, _) => {
                return Err(DomainError::InvalidInput(format!(
                    "{} is not a volume job",
                    other.name()
                )))
            }
        };
        if matches!(job.kind, JobKind::ExtendVolume { .. }) {
            t.changes.new_size = Some(None);
        }
        if let JobKind::RevertVolume { snapshot_id, .. } = &job.kind {
            // The snapshot is back to `available` whatever became of the revert.
            t.snapshot = Some(restored(snapshot_id));
        }
        t.changes.status_reason = Some(outcome.err());
        t.complete_job = Some(job.id.clone());
        if !self.store.transition(&t).await? {
            // The volume left the expected status meanwhile (an admin reset it, say): the job
            // has nothing left to finish, so it must not run again.
            tracing::warn!(volume = %id, job = job.kind.name(), "volume no longer in the job's status");
            self.jobs.finish(&job.id).await?;
        }
        Ok(())
    }

    /// Start-up and periodic repair: leases of dead workers are released (so their jobs run
    /// again), and a volume in a transitional status with no job to finish it is failed with a
    /// reason, its quota released. With `restarting`, every lease is released (single node).
    pub async fn reconcile(&self, restarting: bool) -> Result<usize, DomainError> {
        let released = if restarting {
            self.quotas.recount_usage().await?;
            self.jobs.release_all().await?
        } else {
            self.jobs.release_expired(Utc::now()).await?
        };
        if released > 0 {
            tracing::info!(released, "resuming interrupted jobs");
            self.job_signal.notify_waiters();
        }
        let mut failed = 0;
        for v in self
            .store
            .volumes_with_status(VolumeStatus::TRANSITIONAL)
            .await?
        {
            if self.jobs.job_for(&v.id).await?.is_some() {
                continue;
            }
            let to = match v.status {
                VolumeStatus::Creating | VolumeStatus::Reverting => VolumeStatus::Error,
                VolumeStatus::Deleting => VolumeStatus::ErrorDeleting,
                VolumeStatus::Managing => VolumeStatus::ErrorManaging,
                _ => VolumeStatus::ErrorExtending,
            };
            let mut t = Transition::new(&v.id, &[v.status], to);
            if v.status == VolumeStatus::Reverting {
                if let Some(s) = self
                    .snapshots
                    .snapshots_of_volume(&v.id)
                    .await?
                    .into_iter()
                    .find(|s| s.status == SnapshotStatus::Restoring)
                {
                    t.snapshot = Some(restored(&s.id));
                }
            }
            t.changes.status_reason = Some(Some(crate::error::INTERRUPTED.into()));
            t.changes.new_size = Some(None);
            if matches!(v.status, VolumeStatus::Creating | VolumeStatus::Managing) {
                t.changes.use_quota = Some(false);
            }
            if self.store.transition(&t).await? {
                tracing::warn!(volume = %v.id, from = %v.status, to = %to, "stranded volume failed");
                failed += 1;
            }
        }
        Ok(failed + self.reconcile_moves().await?)
    }
}

/// The volume if `caller` may see it: another project's volume does not exist for it.
pub(crate) async fn visible_volume(
    store: &dyn VolumeStore,
    caller: &Caller,
    id: &str,
) -> Result<Volume, DomainError> {
    match store.get_volume(id).await? {
        Some(v) if caller.is_admin || v.project_id == caller.project_id => Ok(v),
        _ => Err(DomainError::volume_not_found(id)),
    }
}

/// A snapshot a revert used goes back to `available`, if it is still `restoring`.
fn restored(snapshot_id: &str) -> SnapshotChange {
    SnapshotChange {
        snapshot_id: snapshot_id.to_owned(),
        from: vec![SnapshotStatus::Restoring],
        to: SnapshotStatus::Available,
        must_be_latest: false,
        required: false,
    }
}

/// A checked source of a new volume.
struct Source {
    guard: SourceGuard,
    job: VolumeSource,
    size: i64,
    volume_type_id: String,
    zone: String,
    backend: String,
    /// "snapshot" or "volume", for messages.
    what: &'static str,
}

fn metadata_key_not_found(id: &str, key: &str) -> DomainError {
    DomainError::NotFound(format!("Volume {id} has no metadata with key {key}."))
}
