//! Backup jobs: the storage side of create, restore and delete, over the backup repository
//! (blocking, so on the blocking pool) and the volume's backend. Each is idempotent: a create
//! whose manifest exists reads it back, a temporary snapshot (where one is needed) is made or
//! found under a name derived from the backup and removed unless kept as the next base, a
//! restore writes everything again, and deleting a missing backup is success.

use std::sync::Arc;

use basalt_backup::{BackupError, Base, Repository};
use basalt_domain::backup::BackupDone;
use basalt_domain::jobs::{Job, JobKind};
use basalt_domain::ports::ExportStore;
use basalt_storage::{BlockBackend, BlockDevice};
use chrono::Utc;

use crate::manager::{explain, Failure, VolumeManager};

/// What a backup reads: the volume (in place, or through a temporary snapshot) or one of
/// its snapshots.
struct Source<'a> {
    volume_id: &'a str,
    snapshot_id: Option<&'a str>,
    /// The volume shows `backing-up` while it is read.
    backing_up: bool,
    parent: Option<String>,
    supersedes: Option<&'a str>,
}

pub struct BackupJobs {
    repo: Repository,
    manager: Arc<VolumeManager>,
    exports: Arc<dyn ExportStore>,
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
    pub fn new(
        repo: Repository,
        manager: Arc<VolumeManager>,
        exports: Arc<dyn ExportStore>,
    ) -> Self {
        BackupJobs {
            repo,
            manager,
            exports,
        }
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
                supersedes,
                volume_back_to,
            } => {
                let source = Source {
                    volume_id,
                    snapshot_id: snapshot_id.as_deref(),
                    backing_up: volume_back_to.is_some(),
                    parent: parent_id.clone(),
                    supersedes: supersedes.as_deref(),
                };
                self.create(id, backend, source).await
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
                let bid = id.clone();
                blocking(move || repo.delete(&bid)).await?;
                // The row does not say which backend kept its snapshot: ask each (a missing
                // snapshot is success).
                for backend in self.manager.backend_names() {
                    self.drop_base(&backend, &id).await?;
                }
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
        source: Source<'_>,
    ) -> Result<BackupDone, Failure> {
        let b = self.on(backend)?;
        let in_place = self.reads_in_place(b, &source).await?;
        let temp = (source.snapshot_id.is_none() && !in_place).then(|| temporary_snapshot(&id));
        // On a backend that shares blocks, the snapshot read stays as the base the volume's
        // next incremental backup diffs against (it costs only the blocks written since).
        let keep_base = temp.is_some() && b.capabilities().reflink;
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
                // Read in place, the writes the backend tracked since the parent say what
                // changed; this backup becomes the base the next one counts from.
                let mut baseline = match in_place {
                    true => Some(self.baseline(b, &source).await),
                    false => None,
                };
                let captured = Utc::now();
                let device: Arc<dyn BlockDevice> = match (&temp, source.snapshot_id) {
                    (Some(temp), _) => {
                        b.create_snapshot(source.volume_id, temp)
                            .await
                            .map_err(|e| explain(backend, e))?;
                        b.open_snapshot(temp).await
                    }
                    (None, Some(s)) => b.open_snapshot(s).await,
                    (None, None) => b.open(source.volume_id).await,
                }
                .map_err(|e| explain(backend, e))?;
                let changed = match (&temp, &source.parent) {
                    (Some(temp), Some(parent)) => self.changed_since(b, parent, temp).await,
                    _ => baseline.as_mut().and_then(|b| b.changed.take()),
                };
                let repo = self.repo.clone();
                let started = Utc::now();
                let parent = source.parent.clone();
                let taken = blocking(move || {
                    let base = match &parent {
                        Some(p) => Base::Incremental {
                            parent: p,
                            changed: changed.as_deref(),
                        },
                        None => Base::Full,
                    };
                    repo.backup(&id, device.as_ref(), base)
                })
                .await;
                if let (Some(temp), Err(_)) = (&temp, &taken) {
                    self.drop_temporary(b, backend, temp).await?;
                }
                let taken = taken?;
                tracing::info!(backup = %taken.manifest.id, read = taken.stats.bytes_read, stored = taken.stats.bytes_stored, unread = taken.stats.chunks_unread, ms = (Utc::now() - started).num_milliseconds(), "backup taken");
                if let Some(baseline) = &baseline {
                    if let Err(e) = b
                        .track_from(source.volume_id, &taken.manifest.id, baseline)
                        .await
                    {
                        tracing::warn!(volume = source.volume_id, error = %e, "change tracking not restarted; the next incremental backup reads the whole volume");
                    }
                }
                (taken.manifest, Some(captured))
            }
        };
        if let Some(temp) = &temp {
            if keep_base {
                if let Some(previous) = source.supersedes {
                    self.drop_base(backend, previous).await?;
                }
            } else {
                self.drop_temporary(b, backend, temp).await?;
            }
        }
        let mut d = done(&manifest);
        // A backup of a snapshot keeps the snapshot's time (set at create); one of a volume
        // says when its temporary snapshot was taken.
        d.data_timestamp = match source.snapshot_id {
            Some(_) => None,
            None => captured.or(d.data_timestamp),
        };
        Ok(d)
    }

    /// Whether the volume itself can be read, with no snapshot: as Cinder does for an
    /// available volume, which shows `backing-up` meanwhile, so that nothing may attach,
    /// export, extend, revert or move it. Only where a snapshot would copy the data (no
    /// shared blocks) and no export opened before the backup could still write it; a
    /// backend that shares blocks snapshots at no cost and keeps the snapshot as the next
    /// incremental's base.
    async fn reads_in_place(
        &self,
        b: &Arc<dyn BlockBackend>,
        source: &Source<'_>,
    ) -> Result<bool, Failure> {
        if source.snapshot_id.is_some() || !source.backing_up || b.capabilities().reflink {
            return Ok(false);
        }
        let exports = self
            .exports
            .exports_of_volume(source.volume_id)
            .await
            .map_err(|e| Failure::Transient(format!("Database error: {e}")))?;
        Ok(exports.is_empty())
    }

    /// What the backend tracked of the volume's writes since the parent (nothing to trust
    /// when it cannot say: the backup then reads everything).
    async fn baseline(
        &self,
        b: &Arc<dyn BlockBackend>,
        source: &Source<'_>,
    ) -> basalt_storage::Baseline {
        match b
            .changes_since(source.volume_id, source.parent.as_deref())
            .await
        {
            Ok(baseline) => baseline,
            Err(e) => {
                tracing::warn!(volume = source.volume_id, error = %e, "tracked changes unavailable; reading the whole volume");
                basalt_storage::Baseline::default()
            }
        }
    }

    /// Where the volume changed since `parent` was taken, when the backend kept that
    /// backup's snapshot and can tell from its block map; `None` (read everything) otherwise.
    async fn changed_since(
        &self,
        b: &Arc<dyn BlockBackend>,
        parent: &str,
        snapshot: &str,
    ) -> Option<Vec<std::ops::Range<u64>>> {
        let base = temporary_snapshot(parent);
        match b.snapshot_exists(&base).await {
            Ok(true) => {}
            _ => return None,
        }
        match b.changed_ranges(&base, snapshot).await {
            Ok(ranges) => ranges,
            Err(e) => {
                // Reading everything is slower, never wrong.
                tracing::warn!(parent, error = %e, "changed ranges unavailable; reading the whole volume");
                None
            }
        }
    }

    /// Drops the snapshot a backend may have kept for `backup_id`.
    pub async fn drop_base(&self, backend: &str, backup_id: &str) -> Result<(), Failure> {
        match self.manager.backend(backend) {
            Some(b) => {
                self.drop_temporary(b, backend, &temporary_snapshot(backup_id))
                    .await
            }
            None => Ok(()),
        }
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
