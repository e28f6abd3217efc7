//! Moving a volume to another backend: `os-migrate_volume` (admin), the move a retype with
//! `migration_policy: on-demand` asks for, `os-migrate_volume_completion`, and the
//! completions of the jobs. The volume keeps its id: a job copies its data to the destination
//! backend under the same name while `migration_status` goes `starting` → `migrating` →
//! `completing`, and one compare-and-swap then points the volume at its new pool (with its
//! new type), marks it `success` and asks for the source copy to be dropped. A failure leaves
//! the volume where it was, `error`, and drops the destination copy.
//!
//! Only detached, `available` volumes move: Basalt serves attached volumes from their file
//! itself, and would lose the writes made during the copy. While a volume moves, its data
//! must not change, so reserve, extend, snapshots, transfers, backups and deletes refuse a
//! migrating volume; `lock_volume` shows it `maintenance` (a retype shows `retyping`).

use std::sync::Arc;

use super::model::Volume;
use super::retype::RETYPE_REFUSED;
use super::service::VolumeService;
use super::status::{AttachStatus, VolumeStatus};
use crate::backends::{choose, Candidate, Placement};
use crate::error::{DomainError, INTERRUPTED};
use crate::jobs::{Job, JobKind};
use crate::migration::{MigrationPhases, MigrationStore, RUNNING};
use crate::ports::{PoolClaim, QuotaClaim, SnapshotRule, StoreError, Transition};
use crate::volume_type::VolumeType;
use crate::Caller;

/// `os-migrate_volume`, checked for shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrateRequest {
    /// `host@backend#pool` (or `host@backend`).
    pub host: String,
    /// Basalt always copies through the host; accepted for Cinder's clients.
    pub force_host_copy: bool,
    pub lock_volume: bool,
}

/// Statuses a moving volume may show.
const MOVING: [VolumeStatus; 3] = [
    VolumeStatus::Available,
    VolumeStatus::Maintenance,
    VolumeStatus::Retyping,
];

const START_REFUSED: &str = "status must be available or in-use, must not be migrating, have \
     snapshots, be replicated, be part of a group and destination host must be different than \
     the current host";

fn running() -> Vec<String> {
    RUNNING.iter().map(|s| (*s).to_owned()).collect()
}

fn invalid_host(reason: impl std::fmt::Display) -> DomainError {
    DomainError::BadRequest(format!("Invalid host: {reason}"))
}

impl VolumeService {
    /// Lets the reconciler find migrations a restart left without a job.
    pub fn with_migrations(mut self, store: Arc<dyn MigrationStore>) -> Self {
        self.migrations = Some(store);
        self
    }

    /// Why the volume as read cannot move (Cinder's checks, in its order).
    async fn check_movable(&self, v: &Volume) -> Result<(), DomainError> {
        let id = &v.id;
        if !matches!(v.status, VolumeStatus::Available | VolumeStatus::InUse) {
            return Err(DomainError::InvalidVolume(format!(
                "Volume {id} status must be available or in-use, but current status is: {}.",
                v.status.shown()
            )));
        }
        if v.status == VolumeStatus::InUse || v.attach_status != AttachStatus::Detached {
            return Err(DomainError::InvalidVolume(format!(
                "Volume {id} is attached; Basalt migrates only volumes that are not attached."
            )));
        }
        if v.is_migrating() {
            return Err(DomainError::InvalidVolume(format!(
                "Volume {id} is already part of an active migration."
            )));
        }
        if !self.snapshots.snapshots_of_volume(id).await?.is_empty() {
            return Err(DomainError::InvalidVolume(format!(
                "Volume {id} must not have snapshots."
            )));
        }
        if v.replication_status != "disabled" && !v.replication_status.is_empty() {
            return Err(DomainError::InvalidVolume(format!(
                "Volume {id} must not be replicated."
            )));
        }
        Ok(())
    }

    /// The pool `host` names, checked as a destination for `v`.
    async fn destination(&self, v: &Volume, host: &str) -> Result<Candidate, DomainError> {
        let (service, pool) = match host.split_once('#') {
            Some((s, _)) => (s, Some(host)),
            None => (host, None),
        };
        let candidates = match &self.scheduler {
            Some(s) => s.candidates().await?,
            None => vec![],
        };
        let c = candidates
            .into_iter()
            .find(|c| c.service_host == service && pool.is_none_or(|p| p == c.pool))
            .ok_or_else(|| invalid_host(format!("Host '{host}' not found.")))?;
        let current = v.host.as_deref().and_then(|h| h.split('#').next());
        if current == Some(c.service_host.as_str()) {
            return Err(invalid_host(
                "Destination host must be different than the current host.",
            ));
        }
        if !c.usable {
            return Err(invalid_host(format!("Host '{host}' is down or disabled.")));
        }
        if c.room_gib() < v.size {
            return Err(invalid_host(format!(
                "Host '{host}' has no room for {}G now.",
                v.size
            )));
        }
        Ok(c)
    }

    /// The claim a move makes: room on the destination pool and, for a retype, the new
    /// type's own quotas (the project's totals do not change).
    async fn move_claim(
        &self,
        v: &Volume,
        pool: Option<&Candidate>,
        new_type: Option<&VolumeType>,
    ) -> Result<QuotaClaim, DomainError> {
        let ty = match new_type {
            Some(t) => t.clone(),
            None => self.resolve_type(Some(&v.volume_type_id)).await?,
        };
        let per_type = i64::from(new_type.is_some());
        let mut claim = self
            .quotas
            .claim(&v.project_id, &ty, per_type, 0, per_type * v.size, None)
            .await?;
        claim.volumes.1 = 0;
        claim.gigabytes.1 = 0;
        claim.pool = pool.map(|c| PoolClaim {
            pool: c.pool.clone(),
            delta_gib: v.size,
            limit_gib: c.stats.provisionable_gib(),
        });
        Ok(claim)
    }

    /// `os-migrate_volume` (admin).
    pub async fn migrate(
        &self,
        caller: &Caller,
        id: &str,
        req: &MigrateRequest,
    ) -> Result<(), DomainError> {
        let v = self.get(caller, id).await?;
        if !caller.is_admin {
            return Err(DomainError::Forbidden(
                "volume_extension:volume_admin_actions:migrate_volume",
            ));
        }
        self.check_movable(&v).await?;
        let dest = self.destination(&v, &req.host).await?;
        let during = if req.lock_volume {
            VolumeStatus::Maintenance
        } else {
            VolumeStatus::Available
        };
        self.start_move(&v, &dest, during, None).await
    }

    /// The move a retype with `on-demand` needs: the scheduler chooses a pool with what the
    /// new type asks for, away from the current one.
    pub(super) async fn retype_by_migration(
        &self,
        v: &Volume,
        ty: &VolumeType,
    ) -> Result<(), DomainError> {
        if v.status != VolumeStatus::Available || v.attach_status != AttachStatus::Detached {
            return Err(DomainError::InvalidInput(format!(
                "{RETYPE_REFUSED} Basalt migrates only volumes that are not attached."
            )));
        }
        self.check_movable(v).await.map_err(|e| match e {
            DomainError::InvalidVolume(m) => DomainError::InvalidInput(m),
            other => other,
        })?;
        let Some(scheduler) = &self.scheduler else {
            return Err(DomainError::InvalidInput(
                "No valid backend was found. No scheduler is configured.".into(),
            ));
        };
        let candidates = scheduler.candidates().await?;
        let current = v.host.as_deref().and_then(|h| h.split('#').next());
        let placement = Placement {
            size_gib: v.size,
            availability_zone: v.availability_zone.clone(),
            extra_specs: ty.extra_specs.clone(),
            same_host: None,
            different_host: current.map(str::to_owned).into_iter().collect(),
            exclude: vec![],
        };
        let dest = choose(&candidates, &placement)
            .map_err(|none| DomainError::InvalidInput(none.message()))?
            .clone();
        self.start_move(v, &dest, VolumeStatus::Retyping, Some(ty))
            .await
    }

    /// The compare-and-swap that starts a move, with its job.
    async fn start_move(
        &self,
        v: &Volume,
        dest: &Candidate,
        during: VolumeStatus,
        new_type: Option<&VolumeType>,
    ) -> Result<(), DomainError> {
        let id = &v.id;
        let mut t = Transition::new(id, &[VolumeStatus::Available], during);
        t.require_detached = true;
        t.require_not_migrating = true;
        t.require_no_job = true;
        t.snapshots = SnapshotRule::Refuse;
        t.changes.migration_status = Some(Some("starting".into()));
        t.changes.status_reason = Some(None);
        t.claim = Some(self.move_claim(v, Some(dest), new_type).await?);
        t.enqueue = Some(Job::new(
            id,
            JobKind::MigrateVolume {
                from_backend: v.backend().unwrap_or_default().to_owned(),
                to_backend: dest.backend.clone(),
                to_host: dest.pool.clone(),
                to_zone: dest.availability_zone.clone(),
                size_gib: v.size,
                new_type_id: new_type.map(|t| t.id.clone()),
            },
        ));
        let started = match self.store.transition(&t).await {
            Err(StoreError::NoCapacity(pool)) => {
                return Err(invalid_host(format!(
                    "Host '{pool}' has no room for {}G now.",
                    v.size
                )))
            }
            other => other.map_err(DomainError::from_claim)?,
        };
        if started {
            tracing::info!(volume = %id, to = %dest.pool, "migration started");
            self.job_signal.notify_waiters();
            return Ok(());
        }
        if let Some(job) = self.jobs.job_for(id).await? {
            return Err(DomainError::InvalidVolume(format!(
                "Volume {id} has a {} job under way; migrate it once the job ends.",
                job.kind.name()
            )));
        }
        Err(DomainError::InvalidVolume(format!(
            "Volume {id} {START_REFUSED}"
        )))
    }

    /// `os-migrate_volume_completion` (admin). Basalt's migrations keep the volume's id and
    /// end by themselves, so there is never a separate target volume (`target:<id>`): the
    /// call acknowledges a migration of the volume onto itself that has ended, and answers
    /// which volume to keep.
    pub async fn migrate_completion(
        &self,
        caller: &Caller,
        id: &str,
        new_volume: &str,
        error: bool,
    ) -> Result<String, DomainError> {
        let v = self.get(caller, id).await?;
        if !caller.is_admin {
            return Err(DomainError::Forbidden(
                "volume_extension:volume_admin_actions:migrate_volume_completion",
            ));
        }
        let target = self.get(caller, new_volume).await?;
        if v.migration_status.is_none() && target.migration_status.is_none() {
            return Err(DomainError::InvalidVolume(
                "Source volume not mid-migration.".into(),
            ));
        }
        if target.id != v.id && target.migration_status.as_deref() != Some(&format!("target:{id}"))
        {
            return Err(DomainError::InvalidVolume(
                "Destination volume not mid-migration.".into(),
            ));
        }
        if v.is_migrating() {
            return Err(DomainError::InvalidVolume(format!(
                "Volume {id} is still migrating; its migration ends by itself."
            )));
        }
        if error {
            tracing::info!(volume = %id, "migration completion reported an error");
        }
        Ok(v.id)
    }

    /// Ends a migration job or a copy drop.
    pub(super) async fn complete_move(
        &self,
        job: &Job,
        outcome: Result<(), String>,
    ) -> Result<(), DomainError> {
        let id = &job.subject_id;
        let JobKind::MigrateVolume {
            from_backend,
            to_backend,
            to_host,
            to_zone,
            new_type_id,
            ..
        } = &job.kind
        else {
            // A copy drop: nothing waits on it; a failure leaves only a stray file.
            if let Err(reason) = outcome {
                tracing::warn!(volume = %id, %reason, "a migration's stale copy stays behind");
            }
            self.jobs.finish(&job.id).await?;
            return Ok(());
        };
        if let Err(reason) = outcome {
            return self.fail_move(job, to_backend, reason).await;
        }
        let v = self.store.get_volume(id).await?;
        let mut t = Transition::new(id, &MOVING, VolumeStatus::Available);
        t.migration_in = Some(running());
        t.changes.migration_status = Some(Some("success".into()));
        t.changes.host = Some(Some(to_host.clone()));
        t.changes.availability_zone = Some(to_zone.clone());
        if let (Some(ty_id), Some(v)) = (new_type_id, &v) {
            let ty = self.resolve_type(Some(ty_id)).await?;
            t.claim = Some(self.move_claim(v, None, Some(&ty)).await?);
            t.changes.volume_type_id = Some(ty_id.clone());
        }
        t.enqueue = Some(Job::new(
            id,
            JobKind::DropVolumeCopy {
                backend: from_backend.clone(),
            },
        ));
        t.complete_job = Some(job.id.clone());
        match self.store.transition(&t).await {
            Ok(true) => {
                tracing::info!(volume = %id, to = %to_host, "migration done");
                self.job_signal.notify_waiters();
                Ok(())
            }
            Ok(false) => {
                let reason = "The volume changed while it was migrated.".to_owned();
                self.fail_move(job, to_backend, reason).await
            }
            Err(StoreError::QuotaExceeded(q)) => self.fail_move(job, to_backend, q.message()).await,
            Err(e) => Err(e.into()),
        }
    }

    /// The volume stays where it was, `error` in `migration_status` with the reason; the
    /// destination's copy is dropped.
    async fn fail_move(
        &self,
        job: &Job,
        to_backend: &str,
        reason: String,
    ) -> Result<(), DomainError> {
        let id = &job.subject_id;
        tracing::warn!(volume = %id, %reason, "migration failed");
        let mut t = Transition::new(id, &MOVING, VolumeStatus::Available);
        t.migration_in = Some(running());
        t.changes.migration_status = Some(Some("error".into()));
        t.changes.status_reason = Some(Some(reason));
        t.enqueue = Some(Job::new(
            id,
            JobKind::DropVolumeCopy {
                backend: to_backend.to_owned(),
            },
        ));
        t.complete_job = Some(job.id.clone());
        if self.store.transition(&t).await? {
            self.job_signal.notify_waiters();
        } else {
            self.jobs.finish(&job.id).await?;
        }
        Ok(())
    }

    /// Migrations a restart left with no job end in `error`; a volume shown `maintenance`
    /// or `retyping` for them is `available` again.
    pub(super) async fn reconcile_moves(&self) -> Result<usize, DomainError> {
        let Some(store) = &self.migrations else {
            return Ok(0);
        };
        let mut failed = 0;
        for v in store.migrating_volumes().await? {
            if self.jobs.job_for(&v.id).await?.is_some() {
                continue;
            }
            let to = if MOVING.contains(&v.status) {
                VolumeStatus::Available
            } else {
                v.status
            };
            let mut t = Transition::new(&v.id, &[v.status], to);
            t.migration_in = Some(running());
            t.changes.migration_status = Some(Some("error".into()));
            t.changes.status_reason = Some(Some(INTERRUPTED.into()));
            if self.store.transition(&t).await? {
                tracing::warn!(volume = %v.id, "stranded migration failed");
                failed += 1;
            }
        }
        Ok(failed)
    }
}

#[crate::async_trait]
impl MigrationPhases for VolumeService {
    async fn still_migrating(&self, volume_id: &str) -> Result<bool, DomainError> {
        Ok(self
            .store
            .get_volume(volume_id)
            .await?
            .and_then(|v| v.migration_status)
            .is_some_and(|m| RUNNING.contains(&m.as_str())))
    }

    async fn migration_phase(
        &self,
        volume_id: &str,
        from: &str,
        to: &str,
    ) -> Result<bool, DomainError> {
        for _ in 0..3 {
            let Some(v) = self.store.get_volume(volume_id).await? else {
                return Ok(false);
            };
            if v.migration_status.as_deref() != Some(from) {
                return Ok(false);
            }
            let mut t = Transition::new(volume_id, &[v.status], v.status);
            t.migration_in = Some(vec![from.to_owned()]);
            t.changes.migration_status = Some(Some(to.to_owned()));
            if self.store.transition(&t).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
