//! Ends backup jobs and repairs what a crash stranded. A create gives the volume back its
//! status (and the snapshot `available`) whether it worked or not; a restore leaves the
//! volume `available` or `error_restoring` and the backup `available`; a delete removes the
//! row. Each end is one transaction with the job's deletion.

use super::model::BackupDone;
use super::service::BackupService;
use super::status::BackupStatus;
use super::store::{BackupTransition, StatusChange};
use crate::error::{DomainError, INTERRUPTED};
use crate::jobs::{Job, JobKind};
use crate::ports::Transition;
use crate::snapshot::SnapshotStatus;
use crate::volume::VolumeStatus;

impl BackupService {
    pub async fn complete(
        &self,
        job: &Job,
        outcome: Result<BackupDone, String>,
    ) -> Result<(), DomainError> {
        let id = &job.subject_id;
        let mut t = match (&job.kind, &outcome) {
            (JobKind::DeleteBackup, Ok(_)) => {
                self.store.remove_backup(id, &job.id).await?;
                return Ok(());
            }
            (JobKind::DeleteBackup, Err(why)) => {
                let mut t =
                    BackupTransition::new(id, &[BackupStatus::Deleting], BackupStatus::Error);
                t.fail_reason = Some(Some(why.clone()));
                t
            }
            (
                JobKind::CreateBackup {
                    volume_id,
                    snapshot_id,
                    volume_back_to,
                    ..
                },
                _,
            ) => {
                let mut t = match &outcome {
                    Ok(done) => {
                        let mut t = BackupTransition::new(
                            id,
                            &[BackupStatus::Creating],
                            BackupStatus::Available,
                        );
                        t.object_count = Some(done.object_count);
                        t.data_timestamp = done.data_timestamp;
                        t
                    }
                    Err(why) => {
                        let mut t = BackupTransition::new(
                            id,
                            &[BackupStatus::Creating],
                            BackupStatus::Error,
                        );
                        t.fail_reason = Some(Some(why.clone()));
                        t
                    }
                };
                if let Some(to) = volume_back_to {
                    t.volume = Some(StatusChange::if_still(
                        volume_id,
                        &[VolumeStatus::BackingUp],
                        *to,
                    ));
                }
                if let Some(s) = snapshot_id {
                    t.snapshot = Some(StatusChange::if_still(
                        s,
                        &[SnapshotStatus::BackingUp],
                        SnapshotStatus::Available,
                    ));
                }
                t
            }
            (JobKind::RestoreBackup { volume_id, .. }, _) => {
                let mut t =
                    BackupTransition::new(id, &[BackupStatus::Restoring], BackupStatus::Available);
                t.restore_volume_id = Some(None);
                let mut v = match &outcome {
                    Ok(_) => StatusChange::if_still(
                        volume_id,
                        &[VolumeStatus::RestoringBackup],
                        VolumeStatus::Available,
                    ),
                    Err(_) => StatusChange::if_still(
                        volume_id,
                        &[VolumeStatus::RestoringBackup],
                        VolumeStatus::ErrorRestoring,
                    ),
                };
                v.reason = Some(outcome.as_ref().err().cloned());
                t.volume = Some(v);
                t
            }
            (other, _) => {
                return Err(DomainError::InvalidInput(format!(
                    "{} is not a backup job",
                    other.name()
                )))
            }
        };
        t.complete_job = Some(job.id.clone());
        if !self.store.backup_transition(&t).await? {
            tracing::warn!(backup = %id, job = job.kind.name(), "backup no longer in the job's status");
            // Reset or force-deleted meanwhile: the volume and snapshot still get their
            // status back.
            self.release_sources(&t).await?;
            self.jobs.finish(&job.id).await?;
        }
        Ok(())
    }

    /// Applies a transition's volume and snapshot changes on their own.
    async fn release_sources(&self, t: &BackupTransition) -> Result<(), DomainError> {
        if let Some(c) = &t.volume {
            let mut vt = Transition::new(&c.id, &c.from, c.to);
            vt.changes.status_reason = c.reason.clone();
            self.volumes.transition(&vt).await?;
        }
        if let Some(c) = &t.snapshot {
            let st = crate::ports::SnapshotTransition::new(&c.id, &c.from, c.to);
            self.snapshots.snapshot_transition(&st).await?;
        }
        Ok(())
    }

    /// Start-up and periodic repair: backups in a transitional status with no job are
    /// failed with a reason, then volumes left `backing-up` or `restoring-backup` by no
    /// running backup job get their status back (`available`) or fail (`error_restoring`).
    pub async fn reconcile(&self) -> Result<usize, DomainError> {
        let mut repaired = 0;
        // Volumes first: one that a backup starts on after this read is not a candidate, and
        // one whose backup ends meanwhile fails the compare-and-swap below.
        let volumes = self
            .volumes
            .volumes_with_status(&[VolumeStatus::BackingUp, VolumeStatus::RestoringBackup])
            .await?;
        let stuck = self
            .store
            .backups_with_status(BackupStatus::TRANSITIONAL)
            .await?;
        let mut busy_volumes = Vec::new();
        for b in stuck {
            if self.jobs.job_for(&b.id).await?.is_some() {
                busy_volumes.push(b.volume_id.clone());
                busy_volumes.extend(b.restore_volume_id.clone());
                continue;
            }
            let mut t = match b.status {
                BackupStatus::Restoring => {
                    let mut t = BackupTransition::new(&b.id, &[b.status], BackupStatus::Available);
                    t.restore_volume_id = Some(None);
                    t
                }
                _ => {
                    let mut t = BackupTransition::new(&b.id, &[b.status], BackupStatus::Error);
                    t.fail_reason = Some(Some(INTERRUPTED.into()));
                    t
                }
            };
            if let Some(s) = b
                .snapshot_id
                .as_deref()
                .filter(|_| b.status == BackupStatus::Creating)
            {
                t.snapshot = Some(StatusChange::if_still(
                    s,
                    &[SnapshotStatus::BackingUp],
                    SnapshotStatus::Available,
                ));
            }
            if self.store.backup_transition(&t).await? {
                tracing::warn!(backup = %b.id, from = %b.status, to = %t.to, "stranded backup repaired");
                repaired += 1;
            }
        }
        for v in volumes {
            if busy_volumes.contains(&v.id) {
                continue;
            }
            let to = if v.status == VolumeStatus::BackingUp {
                VolumeStatus::Available
            } else {
                VolumeStatus::ErrorRestoring
            };
            let mut t = Transition::new(&v.id, &[v.status], to);
            if to == VolumeStatus::ErrorRestoring {
                t.changes.status_reason = Some(Some(INTERRUPTED.into()));
            }
            if self.volumes.transition(&t).await? {
                tracing::warn!(volume = %v.id, from = %v.status, to = %to, "volume stranded by a backup repaired");
                repaired += 1;
            }
        }
        Ok(repaired)
    }
}
