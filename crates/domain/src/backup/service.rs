//! The backup service: create, read, delete and the admin actions. Every status change is a
//! compare-and-swap carrying the volume's (and snapshot's) status change, the quota claim and
//! the job in one transaction; a lost race re-reads to give Cinder's answer for what is there
//! now. Restores are in `restore.rs`, records in `records.rs`, job completions in
//! `complete.rs`.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::Notify;

use super::model::{Backup, NewBackup};
use super::query::BackupQuery;
use super::status::BackupStatus;
use super::store::{BackupRecords, BackupStore, BackupTransition, NewBackupGuards};
use crate::error::DomainError;
use crate::jobs::{Job, JobKind};
use crate::ports::{JobStore, SnapshotStore, StoreError, VolumeStore, VolumeTypeStore};
use crate::quota::QuotaService;
use crate::snapshot::SnapshotStatus;
use crate::volume::{Volume, VolumeStatus};
use crate::{Caller, DomainSettings};

const DELETE_REFUSED: &str = "Backup status must be available or error";
const HAS_CHILDREN: &str = "Incremental backups exist for this backup.";

pub struct BackupService {
    pub(super) store: Arc<dyn BackupStore>,
    pub(super) volumes: Arc<dyn VolumeStore>,
    pub(super) snapshots: Arc<dyn SnapshotStore>,
    pub(super) jobs: Arc<dyn JobStore>,
    pub(super) types: Arc<dyn VolumeTypeStore>,
    pub(super) quotas: Arc<QuotaService>,
    pub(super) settings: DomainSettings,
    /// None when no repository is configured: backups are then "unavailable" (503).
    pub(super) records: Option<Arc<dyn BackupRecords>>,
    pub(super) job_signal: Arc<Notify>,
}

impl BackupService {
    #[expect(
        clippy::too_many_arguments,
        reason = "the ports a backup touches; assembled once in workers::assemble"
    )]
    pub fn new(
        store: Arc<dyn BackupStore>,
        volumes: Arc<dyn VolumeStore>,
        snapshots: Arc<dyn SnapshotStore>,
        jobs: Arc<dyn JobStore>,
        types: Arc<dyn VolumeTypeStore>,
        quotas: Arc<QuotaService>,
        settings: DomainSettings,
        records: Option<Arc<dyn BackupRecords>>,
        job_signal: Arc<Notify>,
    ) -> Self {
        BackupService {
            store,
            volumes,
            snapshots,
            jobs,
            types,
            quotas,
            settings,
            records,
            job_signal,
        }
    }

    pub fn max_page_size(&self) -> u32 {
        self.settings.max_page_size
    }

    /// The repository, or Cinder's answer when no backup service runs (503).
    pub(super) fn records(&self) -> Result<&Arc<dyn BackupRecords>, DomainError> {
        self.records.as_ref().ok_or_else(|| {
            DomainError::ServiceUnavailable("Service cinder-backup could not be found.".into())
        })
    }

    /// The backup if the caller may see it: another project's backup does not exist for it.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<Backup, DomainError> {
        match self.store.get_backup(id).await? {
            Some(b) if caller.is_admin || b.project_id == caller.project_id => Ok(b),
            _ => Err(DomainError::backup_not_found(id)),
        }
    }

    pub async fn list(&self, q: &BackupQuery) -> Result<Vec<Backup>, DomainError> {
        self.store.list_backups(q).await.map_err(|e| match e {
            StoreError::NotFound(m) => DomainError::NotFound(m),
            other => other.into(),
        })
    }

    /// The ids of every backup of `volume_id`, in any project: the snapshots a backend may
    /// keep for them go when the volume does.
    pub async fn backups_of_volume(&self, volume_id: &str) -> Result<Vec<String>, DomainError> {
        let q = BackupQuery {
            project_id: None,
            filters: vec![(super::query::BackupSortKey::VolumeId, volume_id.to_owned())],
            match_nothing: false,
            sort: vec![(
                super::query::BackupSortKey::CreatedAt,
                crate::volume::SortDir::Desc,
            )],
            limit: u32::MAX,
            offset: 0,
            marker: None,
        };
        Ok(self.list(&q).await?.into_iter().map(|b| b.id).collect())
    }

    /// Why the volume (or the snapshot) cannot be backed up now: Cinder's checks and messages.
    async fn refusal(
        &self,
        caller: &Caller,
        v: &Volume,
        req: &NewBackup,
    ) -> Result<Option<DomainError>, DomainError> {
        if let Some(sid) = &req.snapshot_id {
            let s = match self.snapshots.get_snapshot(sid).await? {
                Some(s) if caller.is_admin || s.project_id == caller.project_id => s,
                _ => return Err(DomainError::snapshot_not_found(sid)),
            };
            if s.volume_id != v.id {
                return Ok(Some(DomainError::InvalidVolume(format!(
                    "Volume {} does not match with snapshot.volume_id {}.",
                    v.id, s.volume_id
                ))));
            }
            if s.status != SnapshotStatus::Available {
                return Ok(Some(DomainError::InvalidSnapshot(format!(
                    "Snapshot to be backed up must be available, but the current status is \
                     \"{}\".",
                    s.status
                ))));
            }
            return Ok(None);
        }
        Ok(match v.status {
            VolumeStatus::Available => None,
            VolumeStatus::InUse if req.force => None,
            VolumeStatus::InUse => Some(DomainError::InvalidVolume(
                "Backing up an in-use volume must use the force flag.".into(),
            )),
            other => Some(DomainError::InvalidVolume(format!(
                "Volume to be backed up must be available or in-use, but the current status \
                 is \"{}\".",
                other.shown()
            ))),
        })
    }

    /// The parent of an incremental backup: the volume's latest backup, which must be
    /// `available` (Cinder's rule and messages).
    async fn parent_for(&self, volume_id: &str) -> Result<Backup, DomainError> {
        let latest = self
            .store
            .latest_backup_of(volume_id)
            .await?
            .ok_or_else(|| {
                DomainError::InvalidBackup(
                    "No backups available to do an incremental backup.".into(),
                )
            })?;
        if latest.status != BackupStatus::Available {
            return Err(DomainError::InvalidBackup(
                "The parent backup must be available for incremental backup.".into(),
            ));
        }
        Ok(latest)
    }

    pub async fn create(&self, caller: &Caller, req: NewBackup) -> Result<Backup, DomainError> {
        let v =
            crate::volume::service::visible_volume(self.volumes.as_ref(), caller, &req.volume_id)
                .await?;
        if let Some(e) = self.refusal(caller, &v, &req).await? {
            return Err(e);
        }
        self.records()?;
        let backend = v.backend().unwrap_or_default().to_owned();
        if backend.is_empty() {
            return Err(DomainError::InvalidVolume(format!(
                "Volume {} has not been scheduled to any host.",
                v.id
            )));
        }
        let parent = if req.incremental {
            Some(self.parent_for(&v.id).await?)
        } else {
            None
        };
        // A backup of the volume itself replaces the previous one as the base to diff from.
        let supersedes = match (&req.snapshot_id, &parent) {
            (Some(_), _) => None,
            (None, Some(p)) => Some(p.id.clone()),
            (None, None) => self.store.latest_backup_of(&v.id).await?.map(|b| b.id),
        };
        let claim = self.quotas.backup_claim(&v.project_id, 1, v.size).await?;
        // A backup of a snapshot holds the data of the snapshot's time (Cinder's rule).
        let data_timestamp = match &req.snapshot_id {
            Some(sid) => self
                .snapshots
                .get_snapshot(sid)
                .await?
                .map(|s| s.created_at),
            None => None,
        };
        // An available volume shows `backing-up` while its data is read; an in-use one (or
        // a backup of a snapshot) is read through a snapshot and stays as it is.
        let backing_up = req.snapshot_id.is_none() && v.status == VolumeStatus::Available;
        let id = uuid::Uuid::new_v4().to_string();
        let backup = Backup {
            id: id.clone(),
            project_id: v.project_id.clone(),
            user_id: caller.user_id.clone(),
            volume_id: v.id.clone(),
            snapshot_id: req.snapshot_id.clone(),
            name: req.name,
            description: req.description,
            container: req.container,
            availability_zone: Some(v.availability_zone.clone()),
            host: v.host.clone(),
            status: BackupStatus::Creating,
            fail_reason: None,
            size: v.size,
            object_count: 0,
            parent_id: parent.as_ref().map(|p| p.id.clone()),
            has_dependent_backups: false,
            restore_volume_id: None,
            data_timestamp,
            created_at: Utc::now(),
            updated_at: None,
        };
        let job = Job::new(
            &id,
            JobKind::CreateBackup {
                backend,
                volume_id: v.id.clone(),
                snapshot_id: req.snapshot_id.clone(),
                parent_id: backup.parent_id.clone(),
                volume_back_to: backing_up.then_some(VolumeStatus::Available),
                supersedes,
            },
        );
        let guards = NewBackupGuards {
            volume_from: vec![v.status],
            volume_to: backing_up.then_some(VolumeStatus::BackingUp),
            snapshot: req.snapshot_id.clone(),
            parent: backup.parent_id.clone(),
        };
        let written = self
            .store
            .create_backup(&backup, &guards, &claim, &job)
            .await
            .map_err(DomainError::from_claim)?;
        if !written {
            return Err(DomainError::InvalidVolume(format!(
                "Volume {} changed while the backup was requested; try again.",
                v.id
            )));
        }
        self.job_signal.notify_waiters();
        Ok(backup)
    }

    /// Accepts the deletion (202): the backup goes `deleting` and a job removes it from the
    /// repository. Refused while incremental backups depend on it.
    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<(), DomainError> {
        let b = self.get(caller, id).await?;
        if !BackupStatus::DELETABLE.contains(&b.status) {
            return Err(DomainError::InvalidBackup(DELETE_REFUSED.into()));
        }
        self.begin_delete(&b, BackupStatus::DELETABLE).await
    }

    /// `os-force_delete` (admin): deletes whatever the status, children still refuse it.
    pub async fn force_delete(&self, caller: &Caller, id: &str) -> Result<(), DomainError> {
        let b = self.get(caller, id).await?;
        if !caller.is_admin {
            return Err(DomainError::Forbidden(
                "volume_extension:backup_admin_actions:force_delete",
            ));
        }
        if b.status == BackupStatus::Deleting {
            return Ok(());
        }
        let others: Vec<BackupStatus> = BackupStatus::ALL
            .iter()
            .copied()
            .filter(|s| *s != BackupStatus::Deleting)
            .collect();
        self.begin_delete(&b, &others).await
    }

    async fn begin_delete(&self, b: &Backup, from: &[BackupStatus]) -> Result<(), DomainError> {
        if b.has_dependent_backups {
            return Err(DomainError::InvalidBackup(HAS_CHILDREN.into()));
        }
        let mut t = BackupTransition::new(&b.id, from, BackupStatus::Deleting);
        t.require_no_children = true;
        t.fail_reason = Some(None);
        t.enqueue = Some(Job::new(&b.id, JobKind::DeleteBackup));
        if self.store.backup_transition(&t).await? {
            self.job_signal.notify_waiters();
            return Ok(());
        }
        match self.store.get_backup(&b.id).await? {
            None => Err(DomainError::backup_not_found(&b.id)),
            Some(now) if now.has_dependent_backups => {
                Err(DomainError::InvalidBackup(HAS_CHILDREN.into()))
            }
            Some(_) => Err(DomainError::InvalidBackup(DELETE_REFUSED.into())),
        }
    }

    /// `os-reset_status` (admin): only to `available` or `error`; `available` only when the
    /// repository holds the backup whole, so that a restore of it can work.
    pub async fn reset_status(
        &self,
        caller: &Caller,
        id: &str,
        status: BackupStatus,
    ) -> Result<(), DomainError> {
        self.get(caller, id).await?;
        if !caller.is_admin {
            return Err(DomainError::Forbidden(
                "volume_extension:backup_admin_actions:reset_status",
            ));
        }
        if !BackupStatus::RESETTABLE.contains(&status) {
            return Err(DomainError::InvalidBackup(format!(
                "Backup status can only be reset to available or error, not {status}."
            )));
        }
        if status == BackupStatus::Available {
            let held = self
                .records()?
                .holds(id)
                .await
                .map_err(super::records::record_error)?;
            if !held {
                return Err(DomainError::InvalidBackup(format!(
                    "Backup {id} is not in the backup repository; it cannot be available."
                )));
            }
        }
        let mut t = BackupTransition::new(id, &[], status);
        if status == BackupStatus::Available {
            t.fail_reason = Some(None);
        }
        if !self.store.backup_transition(&t).await? {
            return Err(DomainError::backup_not_found(id));
        }
        Ok(())
    }
}
