//! The snapshot service: every snapshot operation of the API and the completions of snapshot
//! jobs. Like volumes, every status change is a compare-and-swap, and a lost race re-reads
//! the snapshot to give Cinder's answer for the status it actually has.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::Notify;

use super::model::{NewSnapshot, Snapshot, SnapshotUpdate};
use super::query::SnapshotQuery;
use super::status::SnapshotStatus;
use crate::error::DomainError;
use crate::jobs::{Job, JobKind};
use crate::metadata::{self, Metadata};
use crate::ports::{
    JobStore, SnapshotStore, SnapshotTransition, StoreError, VolumeStore, VolumeTypeStore,
};
use crate::quota::QuotaService;
use crate::volume::{Volume, VolumeStatus};
use crate::Caller;

const DELETE_REFUSED: &str =
    "Snapshot status must be available or error and must not be part of a group.";

pub struct SnapshotService {
    store: Arc<dyn SnapshotStore>,
    volumes: Arc<dyn VolumeStore>,
    jobs: Arc<dyn JobStore>,
    types: Arc<dyn VolumeTypeStore>,
    quotas: Arc<QuotaService>,
    job_signal: Arc<Notify>,
    /// Unmanage; without it `os-unmanage` answers that it is not configured.
    manage: Option<Arc<dyn crate::manage::ManageStore>>,
}

impl SnapshotService {
    pub fn new(
        store: Arc<dyn SnapshotStore>,
        volumes: Arc<dyn VolumeStore>,
        jobs: Arc<dyn JobStore>,
        types: Arc<dyn VolumeTypeStore>,
        quotas: Arc<QuotaService>,
        job_signal: Arc<Notify>,
    ) -> Self {
        SnapshotService {
            store,
            volumes,
            jobs,
            types,
            quotas,
            job_signal,
            manage: None,
        }
    }

    /// Lets snapshots be unmanaged.
    pub fn with_manage(mut self, store: Arc<dyn crate::manage::ManageStore>) -> Self {
        self.manage = Some(store);
        self
    }

    /// `os-unmanage` (admin): Basalt forgets the snapshot, its file stays on the backend.
    /// Same preconditions as a delete; the row goes at once.
    pub async fn unmanage(&self, caller: &Caller, id: &str) -> Result<(), DomainError> {
        self.get(caller, id).await?;
        if !caller.is_admin {
            return Err(DomainError::Forbidden(
                "snapshot_extension:snapshot_unmanage",
            ));
        }
        let store = self.manage.as_ref().ok_or_else(|| {
            DomainError::BadRequest("Manage and unmanage are not configured here.".into())
        })?;
        if store
            .unmanage_snapshot(id, SnapshotStatus::DELETABLE)
            .await?
        {
            tracing::info!(snapshot = %id, "snapshot unmanaged; its file stays");
            return Ok(());
        }
        match self.store.get_snapshot(id).await? {
            None => Err(DomainError::snapshot_not_found(id)),
            Some(_) => Err(DomainError::InvalidSnapshot(DELETE_REFUSED.into())),
        }
    }

    /// The snapshot if the caller may see it: another project's snapshot does not exist for it.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<Snapshot, DomainError> {
        match self.store.get_snapshot(id).await? {
            Some(s) if caller.is_admin || s.project_id == caller.project_id => Ok(s),
            _ => Err(DomainError::snapshot_not_found(id)),
        }
    }

    pub async fn list(&self, q: &SnapshotQuery) -> Result<Vec<Snapshot>, DomainError> {
        self.store.list_snapshots(q).await.map_err(|e| match e {
            StoreError::NotFound(m) => DomainError::NotFound(m),
            other => other.into(),
        })
    }

    async fn volume_for(&self, caller: &Caller, id: &str) -> Result<Volume, DomainError> {
        crate::volume::service::visible_volume(self.volumes.as_ref(), caller, id).await
    }

    /// Why a volume in `v`'s state cannot be snapshotted (Cinder's checks and messages).
    fn refusal(v: &Volume, force: bool) -> Option<String> {
        if v.host.is_none() {
            return Some(
                "The snapshot cannot be created because volume has not been scheduled to any \
                 host."
                    .into(),
            );
        }
        if v.status == VolumeStatus::Maintenance {
            return Some(
                "The snapshot cannot be created when the volume is in maintenance mode.".into(),
            );
        }
        if v.is_migrating() {
            return Some("Snapshot cannot be created while volume is migrating.".into());
        }
        if v.status == VolumeStatus::Error {
            return Some(
                "The snapshot cannot be created when the volume is in error status.".into(),
            );
        }
        let allowed: &[VolumeStatus] = if force {
            &[VolumeStatus::Available, VolumeStatus::InUse]
        } else {
            &[VolumeStatus::Available]
        };
        if !allowed.contains(&v.status) {
            // Wallaby's wording (older releases said "Snapshot cannot be created because
            // volume ... is not available").
            let what = if force {
                "available or in-use"
            } else {
                "available"
            };
            return Some(format!(
                "Volume {} status must be {what}, but current status is: {}.",
                v.id,
                v.status.shown()
            ));
        }
        None
    }

    pub async fn create(&self, caller: &Caller, req: NewSnapshot) -> Result<Snapshot, DomainError> {
        let v = self.volume_for(caller, &req.volume_id).await?;
        metadata::validate(&req.metadata, "metadata")?;
        if let Some(why) = Self::refusal(&v, req.force) {
            return Err(DomainError::InvalidVolume(why));
        }
        let ty = self
            .types
            .get_type(&v.volume_type_id)
            .await?
            .ok_or_else(|| {
                DomainError::NotFound(format!(
                    "Volume type {} could not be found.",
                    v.volume_type_id
                ))
            })?;
        // Quota is the volume's project's, as Cinder reserves it (an admin snapshotting
        // another project's volume charges that project).
        let claim = self
            .quotas
            .claim(&v.project_id, &ty, 0, 1, v.size, None)
            .await?;
        let id = uuid::Uuid::new_v4().to_string();
        let snapshot = Snapshot {
            id: id.clone(),
            project_id: v.project_id.clone(),
            user_id: caller.user_id.clone(),
            volume_id: v.id.clone(),
            name: req.name,
            description: req.description,
            size: v.size,
            status: SnapshotStatus::Creating,
            progress: "0%".into(),
            volume_type_id: v.volume_type_id.clone(),
            host: v.host.clone(),
            use_quota: true,
            status_reason: None,
            metadata: req.metadata,
            created_at: Utc::now(),
            updated_at: None,
        };
        let job = Job::new(
            &id,
            JobKind::CreateSnapshot {
                backend: v.backend().unwrap_or_default().to_owned(),
                volume_id: v.id.clone(),
            },
        );
        let allowed: &[VolumeStatus] = if req.force {
            &[VolumeStatus::Available, VolumeStatus::InUse]
        } else {
            &[VolumeStatus::Available]
        };
        let written = self
            .store
            .create_snapshot(&snapshot, allowed, &claim, &job)
            .await
            .map_err(DomainError::from_claim)?;
        if !written {
            // The volume changed under us: answer for the state it has now.
            let now = self.volume_for(caller, &v.id).await?;
            let why = Self::refusal(&now, req.force).unwrap_or_else(|| {
                format!("Volume {} changed while the snapshot was requested.", v.id)
            });
            return Err(DomainError::InvalidVolume(why));
        }
        self.job_signal.notify_waiters();
        Ok(snapshot)
    }

    pub async fn update(
        &self,
        caller: &Caller,
        id: &str,
        update: SnapshotUpdate,
    ) -> Result<Snapshot, DomainError> {
        self.get(caller, id).await?;
        if !self.store.update_snapshot(id, &update).await? {
            return Err(DomainError::snapshot_not_found(id));
        }
        self.get(caller, id).await
    }

    /// Accepts the deletion (202): the snapshot goes `deleting` and a job removes its storage.
    /// A snapshot already `deleting` is accepted again.
    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<(), DomainError> {
        let s = self.get(caller, id).await?;
        if s.status == SnapshotStatus::Deleting {
            return Ok(());
        }
        self.begin_delete(&s, SnapshotStatus::DELETABLE).await
    }

    /// `os-force_delete` (admin): deletes whatever the status.
    pub async fn force_delete(&self, caller: &Caller, id: &str) -> Result<(), DomainError> {
        // Looked up first, as Cinder does: an unknown id is 404 even for a non-admin.
        let s = self.get(caller, id).await?;
        if !caller.is_admin {
            return Err(DomainError::Forbidden(
                "volume_extension:snapshot_admin_actions:force_delete",
            ));
        }
        let others: Vec<SnapshotStatus> = SnapshotStatus::ALL
            .iter()
            .copied()
            .filter(|st| *st != SnapshotStatus::Deleting)
            .collect();
        if s.status == SnapshotStatus::Deleting {
            return Ok(());
        }
        self.begin_delete(&s, &others).await
    }

    async fn begin_delete(&self, s: &Snapshot, from: &[SnapshotStatus]) -> Result<(), DomainError> {
        let mut t = SnapshotTransition::new(&s.id, from, SnapshotStatus::Deleting);
        t.status_reason = Some(None);
        t.require_no_creating_volumes = true;
        t.enqueue = Some(Job::new(
            &s.id,
            JobKind::DeleteSnapshot {
                backend: s.backend().unwrap_or_default().to_owned(),
            },
        ));
        if self.store.snapshot_transition(&t).await? {
            self.job_signal.notify_waiters();
            return Ok(());
        }
        match self.store.get_snapshot(&s.id).await? {
            None => Err(DomainError::snapshot_not_found(&s.id)),
            Some(now) if now.status == SnapshotStatus::Deleting => Ok(()),
            Some(now) if from.contains(&now.status) => Err(DomainError::InvalidSnapshot(format!(
                "Snapshot {} is the source of a volume being created; delete it once the \
                     volume is available.",
                s.id
            ))),
            Some(_) => Err(DomainError::InvalidSnapshot(DELETE_REFUSED.into())),
        }
    }

    /// `os-reset_status` (admin): any snapshot status, no questions asked (Cinder's).
    pub async fn reset_status(
        &self,
        caller: &Caller,
        id: &str,
        status: &str,
    ) -> Result<(), DomainError> {
        self.get(caller, id).await?;
        if !caller.is_admin {
            return Err(DomainError::Forbidden(
                "volume_extension:snapshot_admin_actions:reset_status",
            ));
        }
        let to = SnapshotStatus::parse(status).ok_or_else(|| {
            DomainError::InvalidInput(format!("Invalid status '{status}' for a snapshot."))
        })?;
        let mut t = SnapshotTransition::new(id, &[], to);
        t.status_reason = Some(None);
        if !self.store.snapshot_transition(&t).await? {
            return Err(DomainError::snapshot_not_found(id));
        }
        Ok(())
    }

    /// `os-update_snapshot_status`: progress reports from the one taking the snapshot (Nova's
    /// assisted snapshots), allowed only along Cinder's table.
    pub async fn update_status(
        &self,
        caller: &Caller,
        id: &str,
        status: &str,
        progress: Option<String>,
    ) -> Result<(), DomainError> {
        let s = self.get(caller, id).await?;
        // Cinder's controller answers these with a plain 400 (no "Invalid snapshot:" prefix).
        if s.status.reportable_from().is_empty() {
            return Err(DomainError::BadRequest(format!(
                "Snapshot status {} not allowed for update_snapshot_status",
                s.status
            )));
        }
        let to = SnapshotStatus::parse(status).ok_or_else(|| {
            DomainError::BadRequest(format!("Invalid status '{status}' for a snapshot."))
        })?;
        let not_allowed = || {
            DomainError::BadRequest(format!(
                "Provided snapshot status {to} not allowed for snapshot with status {}.",
                s.status
            ))
        };
        if !s.status.reportable_from().contains(&to) {
            return Err(not_allowed());
        }
        let mut t = SnapshotTransition::new(id, &[s.status], to);
        t.progress = progress;
        if !self.store.snapshot_transition(&t).await? {
            return Err(not_allowed());
        }
        Ok(())
    }

    // ---- metadata --------------------------------------------------------------------------

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
        metadata::check_update(&current, &md, replace, "snapshot")?;
        self.store
            .set_snapshot_metadata(id, &md, replace)
            .await?
            .ok_or_else(|| DomainError::snapshot_not_found(id))
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
        match self.store.delete_snapshot_metadata_key(id, key).await? {
            Some(true) => Ok(()),
            Some(false) => Err(metadata_key_not_found(id, key)),
            None => Err(DomainError::snapshot_not_found(id)),
        }
    }

    // ---- completions, called by workers ------------------------------------------------------

    /// Ends a snapshot job: success moves the snapshot on; failure records `reason` and, for a
    /// create, releases its quota.
    pub async fn complete(
        &self,
        job: &Job,
        outcome: Result<(), String>,
    ) -> Result<(), DomainError> {
        let id = &job.subject_id;
        let mut t = match (&job.kind, &outcome) {
            (JobKind::DeleteSnapshot { .. }, Ok(())) => {
                self.store.remove_snapshot(id, &job.id).await?;
                return Ok(());
            }
            (JobKind::DeleteSnapshot { .. }, Err(_)) => SnapshotTransition::new(
                id,
                &[SnapshotStatus::Deleting],
                SnapshotStatus::ErrorDeleting,
            ),
            (JobKind::CreateSnapshot { .. } | JobKind::ManageSnapshot { .. }, Ok(())) => {
                let mut t = SnapshotTransition::new(
                    id,
                    &[SnapshotStatus::Creating],
                    SnapshotStatus::Available,
                );
                t.progress = Some("100%".into());
                t
            }
            (JobKind::CreateSnapshot { .. } | JobKind::ManageSnapshot { .. }, Err(_)) => {
                let mut t =
                    SnapshotTransition::new(id, &[SnapshotStatus::Creating], SnapshotStatus::Error);
                t.use_quota = Some(false);
                t
            }
            (other, _) => {
                return Err(DomainError::InvalidInput(format!(
                    "{} is not a snapshot job",
                    other.name()
                )))
            }
        };
        t.status_reason = Some(outcome.err());
        t.complete_job = Some(job.id.clone());
        if !self.store.snapshot_transition(&t).await? {
            tracing::warn!(snapshot = %id, job = job.kind.name(), "snapshot no longer in the job's status");
            self.jobs.finish(&job.id).await?;
        }
        Ok(())
    }

    /// Start-up and periodic repair: a snapshot in a transitional status with no job to finish
    /// it (its own, or its volume's cascade) is failed with a reason.
    pub async fn reconcile(&self) -> Result<usize, DomainError> {
        let mut failed = 0;
        for s in self
            .store
            .snapshots_with_status(SnapshotStatus::TRANSITIONAL)
            .await?
        {
            if self.jobs.job_for(&s.id).await?.is_some() {
                continue;
            }
            if s.status == SnapshotStatus::Deleting
                && self.jobs.job_for(&s.volume_id).await?.is_some()
            {
                continue; // deleted with its volume
            }
            let mut t = match s.status {
                SnapshotStatus::Creating => {
                    let mut t = SnapshotTransition::new(&s.id, &[s.status], SnapshotStatus::Error);
                    t.use_quota = Some(false);
                    t
                }
                _ => SnapshotTransition::new(&s.id, &[s.status], SnapshotStatus::ErrorDeleting),
            };
            t.status_reason = Some(Some(crate::error::INTERRUPTED.into()));
            if self.store.snapshot_transition(&t).await? {
                tracing::warn!(snapshot = %s.id, from = %s.status, to = %t.to, "stranded snapshot failed");
                failed += 1;
            }
        }
        Ok(failed)
    }
}

fn metadata_key_not_found(id: &str, key: &str) -> DomainError {
    DomainError::NotFound(format!("Snapshot {id} has no metadata with key {key}."))
}
