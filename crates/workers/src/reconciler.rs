//! The reconciler: at start-up every lease of the previous process is released (its jobs run
//! again) and stranded volumes, snapshots and backups are failed; then, periodically, leases of dead
//! workers expire and the same check runs again.

use std::sync::Arc;
use std::time::Duration;

use basalt_domain::backup::BackupService;
use basalt_domain::snapshot::SnapshotService;
use basalt_domain::volume::VolumeService;
use tokio::sync::watch;

pub fn spawn_reconciler(
    volumes: Arc<VolumeService>,
    snapshots: Arc<SnapshotService>,
    backups: Arc<BackupService>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => return,
            }
            if let Err(e) = volumes.reconcile(false).await {
                tracing::error!(error = %e, "reconciliation failed");
            }
            if let Err(e) = snapshots.reconcile().await {
                tracing::error!(error = %e, "snapshot reconciliation failed");
            }
            if let Err(e) = backups.reconcile().await {
                tracing::error!(error = %e, "backup reconciliation failed");
            }
        }
    })
}
