//! The volume manager: one job's storage work on its backend, and what a failure means for
//! the user (a reason to show) and for the runner (retry or give up).

use std::collections::HashMap;
use std::sync::Arc;

use basalt_domain::jobs::{Job, JobKind, VolumeSource};
use basalt_domain::migration::MigrationPhases;
use basalt_domain::ports::Capacity;
use basalt_storage::{BlockBackend, StorageError};

pub type Backends = HashMap<String, Arc<dyn BlockBackend>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Will fail the same way again: the volume goes to its error status with this reason.
    Permanent(String),
    /// May succeed later (an I/O error): retried with backoff, then given up with this reason.
    Transient(String),
}

pub struct VolumeManager {
    backends: Backends,
    /// Where a migration reports its phases (the volume service), set once assembled.
    phases: std::sync::OnceLock<Arc<dyn MigrationPhases>>,
    /// Held while a migration copies: one copy at a time, so that a job run again while
    /// its first run still copies (an expired lease) waits, then finds the migration over.
    pub(crate) copying: tokio::sync::Mutex<()>,
}

impl VolumeManager {
    pub fn new(backends: Backends) -> Self {
        VolumeManager {
            backends,
            phases: std::sync::OnceLock::new(),
            copying: tokio::sync::Mutex::new(()),
        }
    }

    /// Sends migration phases (`migrating`, `completing`) to `phases`.
    pub fn report_migrations_to(&self, phases: Arc<dyn MigrationPhases>) {
        let _ = self.phases.set(phases);
    }

    /// Whether the volume's migration is still under way (true when nobody can tell).
    pub(crate) async fn still_migrating(&self, volume_id: &str) -> Result<bool, Failure> {
        match self.phases.get() {
            None => Ok(true),
            Some(p) => p
                .still_migrating(volume_id)
                .await
                .map_err(|e| Failure::Transient(e.to_string())),
        }
    }

    /// Moves a volume's migration status `from` → `to`, if anyone listens.
    pub(crate) async fn phase(&self, volume_id: &str, from: &str, to: &str) {
        if let Some(p) = self.phases.get() {
            if let Err(e) = p.migration_phase(volume_id, from, to).await {
                tracing::warn!(volume = volume_id, error = %e, "migration phase not recorded");
            }
        }
    }

    pub fn backend(&self, name: &str) -> Option<&Arc<dyn BlockBackend>> {
        self.backends.get(name)
    }

    /// The names of the backends configured here.
    pub fn backend_names(&self) -> Vec<String> {
        self.backends.keys().cloned().collect()
    }

    pub(crate) fn on(&self, name: &str) -> Result<&Arc<dyn BlockBackend>, Failure> {
        self.backends.get(name).ok_or_else(|| {
            Failure::Permanent(format!("Backend '{name}' is not configured on this host."))
        })
    }

    /// Does the job's storage work; idempotent, because a job may run again after a crash.
    pub async fn run(&self, job: &Job) -> Result<(), Failure> {
        let id = job.subject_id.as_str();
        match &job.kind {
            JobKind::CreateVolume {
                backend,
                size_gib,
                source,
            } => {
                let b = self.on(backend)?;
                let size = gib(*size_gib)?;
                let done = match source {
                    None => b.create(id, size).await,
                    Some(VolumeSource::Snapshot(s)) => b.create_from_snapshot(s, id, size).await,
                    Some(VolumeSource::Volume(v)) => b.clone_volume(v, id, size).await,
                };
                done.map_err(|e| explain(backend, e))
            }
            JobKind::ExtendVolume {
                backend,
                new_size_gib,
            } => {
                let b = self.on(backend)?;
                b.extend(id, gib(*new_size_gib)?)
                    .await
                    .map_err(|e| explain(backend, e))
            }
            JobKind::DeleteVolume { backend, snapshots } => {
                // A volume never placed has no storage to remove.
                if backend.is_empty() {
                    return Ok(());
                }
                let b = self.on(backend)?;
                for s in snapshots {
                    b.delete_snapshot(s)
                        .await
                        .map_err(|e| explain(backend, e))?;
                }
                b.delete(id).await.map_err(|e| explain(backend, e))
            }
            JobKind::RevertVolume {
                backend,
                snapshot_id,
            } => {
                let b = self.on(backend)?;
                b.revert_to_snapshot(id, snapshot_id)
                    .await
                    .map_err(|e| explain(backend, e))
            }
            JobKind::CreateSnapshot { backend, volume_id } => {
                let b = self.on(backend)?;
                b.create_snapshot(volume_id, id)
                    .await
                    .map_err(|e| explain(backend, e))
            }
            JobKind::DeleteSnapshot { backend } => {
                if backend.is_empty() {
                    return Ok(());
                }
                let b = self.on(backend)?;
                b.delete_snapshot(id).await.map_err(|e| explain(backend, e))
            }
            JobKind::ManageVolume {
                backend,
                source_name,
                size_gib,
            } => {
                let b = self.on(backend)?;
                b.adopt(source_name, id, gib(*size_gib)?)
                    .await
                    .map_err(|e| explain(backend, e))
            }
            JobKind::MigrateVolume {
                from_backend,
                to_backend,
                size_gib,
                ..
            } => crate::migrate::run(self, id, from_backend, to_backend, gib(*size_gib)?).await,
            JobKind::DropVolumeCopy { backend } => {
                let b = self.on(backend)?;
                b.delete(id).await.map_err(|e| explain(backend, e))
            }
            JobKind::ManageSnapshot {
                backend,
                source_name,
                size_gib,
            } => {
                let b = self.on(backend)?;
                b.adopt_snapshot(source_name, id, gib(*size_gib)?)
                    .await
                    .map_err(|e| explain(backend, e))
            }
            // The runner gives these to `BackupJobs`.
            JobKind::CreateBackup { .. }
            | JobKind::RestoreBackup { .. }
            | JobKind::DeleteBackup => Err(Failure::Permanent(format!(
                "{} runs on the backup repository",
                job.kind.name()
            ))),
        }
    }
}

#[basalt_domain::async_trait]
impl Capacity for VolumeManager {
    async fn largest_volume_gib(&self, backend: &str) -> Option<i64> {
        let b = self.backends.get(backend)?;
        match b.largest_volume_gib().await {
            Ok(n) => i64::try_from(n).ok(),
            Err(e) => {
                tracing::warn!(backend, error = %e, "capacity unknown");
                None
            }
        }
    }
}

fn gib(n: i64) -> Result<u64, Failure> {
    u64::try_from(n).map_err(|_| Failure::Permanent(format!("Invalid size {n} GiB.")))
}

/// What the user reads for each storage failure.
pub(crate) fn explain(backend: &str, e: StorageError) -> Failure {
    match e {
        StorageError::InsufficientCapacity {
            requested_gib,
            available_gib,
        } => Failure::Permanent(format!(
            "Backend '{backend}' does not have enough capacity: {requested_gib} GiB requested, \
             {available_gib} GiB available under its over-subscription ratio."
        )),
        StorageError::Io(io) => {
            Failure::Transient(format!("Storage I/O error on backend '{backend}': {io}"))
        }
        other => Failure::Permanent(format!(
            "Backend '{backend}' refused the operation: {other}."
        )),
    }
}
