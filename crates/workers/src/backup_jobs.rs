//! Backup jobs: the storage side of create, restore and delete, over the backup repository
//! (blocking, so on the blocking pool) and the volume's backend. Each is idempotent: a create
//! whose manifest exists reads it back, the temporary snapshot is made (or found) under a
//! name derived from the backup and always removed, a restore writes everything again, and
//! deleting a missing backup is success.

use std::sync::Arc;

use basalt_backup::{BackupError, Base, Repository};
use basalt_domain::backup::BackupDone;
use basalt_domain::jobs::{Job, JobKind};
use basalt_storage::{BlockBackend, BlockDevice};
use chrono::Utc;

use crate::manager::{explain, Failure, VolumeManager};

pub struct BackupJobs {
    repo: Repository,
    manager: Arc<VolumeManager>,
}

/// The backend snapshot a backup of a volume reads from.
fn temporary_snapshot(backup_id: &str) -> String {
    format!("backup-{backup_id}")
}

/// Repository I/O may heal (a full disk, a flaky mount): retried; anything else will fail
/// the same way again (a corrupt chunk, a missing parent).
fn failure(e: BackupError) -> Failure {
    match e {
        BackupError::Io { .. } => Failure::Transient(format!("Backup repository I/O error: {e}")),
        other => Failure::Permanent(format!("{other}.")),
    }
}

async fn blocking<T, F>(f: F) -> Result<T, Failure>
where
    T: Send + 'static,
    F: FnOnce() -> basalt_backup::Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Failure::Transient(format!("the backup thread failed: {e}")))?
        .map_err(failure)
}

fn done(m: &basalt_backup::Manifest) -> BackupDone {
    BackupDone {
        object_count: i64::try_from(m.object_count()).unwrap_or(i64::MAX),
        data_timestamp: Some(m.created_at),
    }
}

impl BackupJobs {
    pub fn new(repo: Repository, manager: Arc<VolumeManager>) -> Self {
        BackupJobs { repo, manager }
    }

    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    fn on(&self, name: &str) -> Result<&Arc<dyn BlockBackend>, Failure> {
        self.manager.backend(name).ok_or_else(|| {
            Failure::Permanent(format!("Backend '{name}' is not configured on this host."))
        })
    }

    /// Does the job's work; what a create reports goes into the backup's row.
    pub async fn run(&self, job: &Job) -> Result<BackupDone, Failure> {
        let id = job.subject_id.clone();
        match &job.kind {
            JobKind::CreateBackup {
                backend,
                volume_id,
                snapshot_id,
                parent_id,
                ..
            } => {
                self.create(
                    id,
                    backend,
                    volume_id,
                    snapshot_id.as_deref(),
                    parent_id.clone(),
                )
                .await
            }
            JobKind::RestoreBackup {
                backend,
                volume_id,
                new_volume_gib,
            } => {
                let b = self.on(backend)?;
                if let Some(gib) = new_volume_gib {
                    let gib = u64::try_from(*gib)
                        .map_err(|_| Failure::Permanent(format!("Invalid size {gib} GiB.")))?;
                    b.create(volume_id, gib)
                        .await
                        .map_err(|e| explain(backend, e))?;
                }
                let target = b.open(volume_id).await.map_err(|e| explain(backend, e))?;
                let repo = self.repo.clone();
                let stats = blocking(move || repo.restore(&id, target.as_ref())).await?;
                tracing::info!(backup = %job.subject_id, volume = %volume_id, bytes = stats.bytes_written, "backup restored");
                Ok(BackupDone::default())
            }
            JobKind::DeleteBackup => {
                let repo = self.repo.clone();
                blocking(move || repo.delete(&id)).await?;
                Ok(BackupDone::default())
            }
            other => Err(Failure::Permanent(format!(
                "{} is not a backup job",
                other.name()
            ))),
        }
    }

    async fn create(
        &self,
        id: String,
        backend: &str,
        volume_id: &str,
        snapshot_id: Option<&str>,
        parent: Option<String>,
    ) -> Result<BackupDone, Failure> {
        let b = self.on(backend)?;
        let temp = snapshot_id.is_none().then(|| temporary_snapshot(&id));
        let repo = self.repo.clone();
        let bid = id.clone();
        let existing = blocking(move || match repo.manifest(&bid) {
            Ok(m) => Ok(Some(m)),
            Err(BackupError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        })
        .await?;
        let (manifest, captured) = match existing {
            // A retry after the manifest was written: the backup is complete.
            Some(m) => (m, None),
            None => {
                let captured = Utc::now();
                let device: Arc<dyn BlockDevice> = match (&temp, snapshot_id) {
                    (Some(temp), _) => {
                        b.create_snapshot(volume_id, temp)
                            .await
                            .map_err(|e| explain(backend, e))?;
                        b.open_snapshot(temp).await
                    }
                    (None, Some(s)) => b.open_snapshot(s).await,
                    (None, None) => unreachable!("a backup reads a snapshot"),
                }
                .map_err(|e| explain(backend, e))?;
                let repo = self.repo.clone();
                let started = Utc::now();
                let taken = blocking(move || {
                    let base = match &parent {
                        Some(p) => Base::Incremental {
                            parent: p,
                            changed: None,
                        },
                        None => Base::Full,
                    };
                    repo.backup(&id, device.as_ref(), base)
                })
                .await;
                if let Some(temp) = &temp {
                    self.drop_temporary(b, backend, temp).await?;
                }
                let taken = taken?;
                tracing::info!(backup = %taken.manifest.id, read = taken.stats.bytes_read, stored = taken.stats.bytes_stored, ms = (Utc::now() - started).num_milliseconds(), "backup taken");
                (taken.manifest, Some(captured))
            }
        };
        if let Some(temp) = &temp {
            self.drop_temporary(b, backend, temp).await?;
        }
        let mut d = done(&manifest);
        // A backup of a snapshot keeps the snapshot's time (set at create); one of a volume
        // says when its temporary snapshot was taken.
        d.data_timestamp = match snapshot_id {
            Some(_) => None,
            None => captured.or(d.data_timestamp),
        };
        Ok(d)
    }

    async fn drop_temporary(
        &self,
        b: &Arc<dyn BlockBackend>,
        backend: &str,
        temp: &str,
    ) -> Result<(), Failure> {
        b.delete_snapshot(temp)
            .await
            .map_err(|e| explain(backend, e))
    }
}
