//! Asynchronous work. Workers lease jobs from the outbox, do the storage work through the
//! backend the volume lives on, and report through the volume service, which ends the job in
//! the same transaction as the status change. Nothing here decides a status.

mod assemble;
mod backup_jobs;
mod backup_records;
mod exporter;
mod heartbeat;
mod inventory;
mod iscsi;
mod iscsi_tgt;
mod manager;
mod migrate;
mod nbd_export;
mod reconciler;
mod runner;
mod throttle;

pub use assemble::{
    assemble, assemble_with_backups, BlockServices, Protocols, REPORT_INTERVAL, SERVICE_DOWN_TIME,
};
pub use backup_jobs::BackupJobs;
pub use backup_records::RepositoryRecords;
pub use exporter::{Exporters, Protocol};
pub use heartbeat::{BackendService, Heartbeat};
pub use iscsi::{TgtIscsi, TgtSettings, MAX_CONTROL_PORT};
pub use manager::{Backends, Failure, VolumeManager};
pub use migrate::copy_volume;
pub use nbd_export::NbdExporter;
pub use reconciler::spawn_reconciler;
pub use runner::{JobRunner, RunnerSettings};
pub use throttle::Throttled;
