//! The job runner: a few tasks that lease jobs, run them, and report the outcome. A new job
//! wakes them at once (the volume service signals); a poll catches jobs written by other nodes
//! and retries that come due.

use std::sync::Arc;
use std::time::Duration;

use basalt_domain::attach::AttachService;
use basalt_domain::backup::{BackupDone, BackupService};
use basalt_domain::jobs::{Job, JobKind};
use basalt_domain::ports::JobStore;
use basalt_domain::snapshot::SnapshotService;
use basalt_domain::volume::VolumeService;
use chrono::Utc;
use tokio::sync::{watch, Notify};

use crate::backup_jobs::BackupJobs;
use crate::manager::{Failure, VolumeManager};

#[derive(Debug, Clone)]
pub struct RunnerSettings {
    pub workers: usize,
    pub lease: Duration,
    pub poll: Duration,
    /// Attempts for a transient failure before it becomes the volume's error.
    pub max_attempts: u32,
    pub first_backoff: Duration,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        RunnerSettings {
            workers: 4,
            lease: Duration::from_secs(300),
            poll: Duration::from_secs(1),
            max_attempts: 5,
            first_backoff: Duration::from_secs(1),
        }
    }
}

pub struct JobRunner {
    jobs: Arc<dyn JobStore>,
    volumes: Arc<VolumeService>,
    snapshots: Arc<SnapshotService>,
    attach: Arc<AttachService>,
    manager: Arc<VolumeManager>,
    backups: Arc<BackupService>,
    /// None when no backup repository is configured: backup jobs then fail with a reason.
    backup_jobs: Option<Arc<BackupJobs>>,
    signal: Arc<Notify>,
    settings: RunnerSettings,
    owner: String,
}

/// Where a job's backup figures go (only backup jobs have any).
type Outcome = Result<Option<BackupDone>, String>;

impl JobRunner {
    #[expect(
        clippy::too_many_arguments,
        reason = "the services jobs report to; assembled once in workers::assemble"
    )]
    pub fn new(
        jobs: Arc<dyn JobStore>,
        volumes: Arc<VolumeService>,
        snapshots: Arc<SnapshotService>,
        attach: Arc<AttachService>,
        manager: Arc<VolumeManager>,
        (backups, backup_jobs): (Arc<BackupService>, Option<Arc<BackupJobs>>),
        signal: Arc<Notify>,
        settings: RunnerSettings,
    ) -> Arc<Self> {
        Arc::new(JobRunner {
            jobs,
            volumes,
            snapshots,
            attach,
            manager,
            backups,
            backup_jobs,
            signal,
            settings,
            owner: format!("runner-{}", uuid::Uuid::new_v4()),
        })
    }

    /// Leases and runs one job; false when none was runnable.
    pub async fn run_one(&self) -> bool {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(self.settings.lease).unwrap_or_default();
        let job = match self.jobs.lease(&self.owner, now, until).await {
            Ok(Some(job)) => job,
            Ok(None) => return false,
            Err(e) => {
                tracing::error!(error = %e, "leasing a job failed");
                return false;
            }
        };
        self.execute(job).await;
        true
    }

    /// Renews the job's lease every third of its length, for as long as it is polled.
    async fn keep_leased(&self, job: &Job) -> std::convert::Infallible {
        let every = self.settings.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            let until =
                Utc::now() + chrono::Duration::from_std(self.settings.lease).unwrap_or_default();
            match self.jobs.renew_lease(&job.id, &self.owner, until).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(subject = %job.subject_id, job = job.kind.name(), "a running job's lease was lost")
                }
                Err(e) => {
                    tracing::warn!(subject = %job.subject_id, error = %e, "renewing a job's lease failed")
                }
            }
        }
    }

    /// Runs every runnable job, then returns how many ran (tests drive the runner with this).
    pub async fn run_pending(&self) -> usize {
        let mut n = 0;
        while self.run_one().await {
            n += 1;
        }
        n
    }

    async fn execute(&self, job: Job) {
        let started = std::time::Instant::now();
        let run = async {
            match self.before(&job).await {
                Ok(()) => self.work(&job).await,
                Err(e) => Err(Failure::Transient(e.to_string())),
            }
        };
        // A long job (a backup, a migration) keeps its lease, so that it is never taken for
        // a dead worker's and started a second time while it runs.
        let outcome = tokio::select! {
            outcome = run => outcome,
            never = self.keep_leased(&job) => match never {},
        };
        let kind = job.kind.name();
        let reported = match outcome {
            Ok(done) => self.complete(&job, Ok(done)).await,
            Err(Failure::Permanent(reason)) => {
                tracing::warn!(subject = %job.subject_id, job = kind, %reason, "job failed");
                self.complete(&job, Err(reason)).await
            }
            Err(Failure::Transient(reason)) if job.attempts + 1 < self.settings.max_attempts => {
                let backoff = self.settings.first_backoff * 2u32.saturating_pow(job.attempts);
                let run_after =
                    Utc::now() + chrono::Duration::from_std(backoff).unwrap_or_default();
                tracing::warn!(subject = %job.subject_id, job = kind, %reason, attempt = job.attempts + 1, "job will be retried");
                self.jobs
                    .retry_later(&job.id, job.attempts + 1, run_after, &reason)
                    .await
                    .map_err(Into::into)
            }
            Err(Failure::Transient(reason)) => {
                tracing::warn!(subject = %job.subject_id, job = kind, %reason, "job gave up after retries");
                self.complete(&job, Err(reason)).await
            }
        };
        match reported {
            Ok(()) => {
                tracing::debug!(subject = %job.subject_id, job = kind, ms = started.elapsed().as_millis() as u64, "job done")
            }
            // The lease runs out and the job is retried: nothing is lost.
            Err(e) => {
                tracing::error!(subject = %job.subject_id, job = kind, error = %e, "recording a job's outcome failed")
            }
        }
    }

    /// What must happen before the storage work: a volume about to be deleted is no longer
    /// exported to anyone (in-flight I/O finishes first).
    async fn before(&self, job: &Job) -> Result<(), basalt_domain::DomainError> {
        if let JobKind::DeleteVolume { backend, .. } = &job.kind {
            let n = self.attach.drop_exports(&job.subject_id).await?;
            if n > 0 {
                tracing::info!(volume = %job.subject_id, exports = n, "exports removed before delete");
            }
            // The snapshots kept as bases for the volume's next incremental backup.
            if let Some(jobs) = &self.backup_jobs {
                for id in self.backups.backups_of_volume(&job.subject_id).await? {
                    if let Err(e) = jobs.drop_base(backend, &id).await {
                        tracing::warn!(volume = %job.subject_id, backup = %id, error = ?e, "a backup's base snapshot was not removed");
                    }
                }
            }
        }
        Ok(())
    }

    /// The storage work: backups on the repository, everything else on the backend.
    async fn work(&self, job: &Job) -> Result<Option<BackupDone>, Failure> {
        if !job.kind.on_backup() {
            return self.manager.run(job).await.map(|()| None);
        }
        match &self.backup_jobs {
            Some(b) => b.run(job).await.map(Some),
            None => Err(Failure::Permanent(
                "No backup repository is configured on this host.".into(),
            )),
        }
    }

    /// Reports the outcome to the service that owns the job's subject.
    async fn complete(
        &self,
        job: &Job,
        outcome: Outcome,
    ) -> Result<(), basalt_domain::DomainError> {
        if job.kind.on_backup() {
            self.backups
                .complete(job, outcome.map(Option::unwrap_or_default))
                .await
        } else if job.kind.on_snapshot() {
            self.snapshots.complete(job, outcome.map(|_| ())).await
        } else {
            self.volumes.complete(job, outcome.map(|_| ())).await
        }
    }

    /// Starts the worker tasks; they stop when `shutdown` turns true, after their current job.
    pub fn spawn(
        self: &Arc<Self>,
        shutdown: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        (0..self.settings.workers.max(1))
            .map(|_| {
                let me = self.clone();
                let mut shutdown = shutdown.clone();
                tokio::spawn(async move {
                    loop {
                        if *shutdown.borrow() {
                            return;
                        }
                        let notified = me.signal.notified();
                        tokio::pin!(notified);
                        // Registered before looking, so that a job written meanwhile wakes us.
                        notified.as_mut().enable();
                        if me.run_one().await {
                            continue;
                        }
                        tokio::select! {
                            _ = &mut notified => {}
                            _ = tokio::time::sleep(me.settings.poll) => {}
                            _ = shutdown.changed() => {}
                        }
                    }
                })
            })
            .collect()
    }
}
