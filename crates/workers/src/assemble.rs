//! Putting the block-storage services together over one store and a set of backends: the one
//! wiring used by the server and by every test that needs the real thing.

use std::collections::HashMap;
use std::sync::Arc;

use basalt_backup::Repository;
use basalt_domain::attach::AttachService;
use basalt_domain::backends::OperatorService;
use basalt_domain::backup::{BackupRecords, BackupService};
use basalt_domain::manage::ManageStore;
use basalt_domain::migration::MigrationStore;
use basalt_domain::ports::{
    BackupStore, ExportStore, JobStore, QosStore, QuotaStore, ServiceStore, SnapshotStore,
    TransferStore, VolumeStore, VolumeTypeStore,
};
use basalt_domain::qos::QosService;
use basalt_domain::quota::QuotaService;
use basalt_domain::snapshot::SnapshotService;
use basalt_domain::transfer::TransferService;
use basalt_domain::volume::VolumeService;
use basalt_domain::volume_type::TypeService;
use basalt_domain::DomainSettings;
use tokio::sync::Notify;

use crate::backup_jobs::BackupJobs;
use crate::backup_records::RepositoryRecords;
use crate::exporter::{Exporters, Protocol};
use crate::heartbeat::{BackendService, Heartbeat};
use crate::manager::VolumeManager;
use crate::runner::{JobRunner, RunnerSettings};

/// The network export protocol of each backend, by backend name (Cinder's `target_protocol`).
pub type Protocols = HashMap<String, Arc<dyn Protocol>>;

/// A service whose last heartbeat is older than this is down (Cinder's `service_down_time`).
pub const SERVICE_DOWN_TIME: std::time::Duration = std::time::Duration::from_secs(60);
/// How often services report (Cinder's `report_interval`).
pub const REPORT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

pub struct BlockServices {
    pub volumes: Arc<VolumeService>,
    pub snapshots: Arc<SnapshotService>,
    pub attach: Arc<AttachService>,
    pub quotas: Arc<QuotaService>,
    pub types: Arc<TypeService>,
    pub qos: Arc<QosService>,
    pub operator: Arc<OperatorService>,
    /// Reports the services and their pools; run `beat` once before serving, then `spawn`.
    pub heartbeat: Arc<Heartbeat>,
    pub transfers: Arc<TransferService>,
    pub backups: Arc<BackupService>,
    pub runner: Arc<JobRunner>,
}

/// The block-storage services without a backup repository (backups answer 503).
pub fn assemble<S>(
    store: Arc<S>,
    manager: Arc<VolumeManager>,
    settings: DomainSettings,
    runner: RunnerSettings,
    protocols: Protocols,
) -> BlockServices
where
    S: VolumeStore
        + SnapshotStore
        + BackupStore
        + ExportStore
        + JobStore
        + QuotaStore
        + VolumeTypeStore
        + QosStore
        + ServiceStore
        + TransferStore
        + ManageStore
        + MigrationStore,
{
    assemble_with_backups(store, manager, settings, runner, protocols, None)
}

/// The block-storage services, with backups kept in `backups` when given.
pub fn assemble_with_backups<S>(
    store: Arc<S>,
    manager: Arc<VolumeManager>,
    settings: DomainSettings,
    runner: RunnerSettings,
    protocols: Protocols,
    backups: Option<Repository>,
) -> BlockServices
where
    S: VolumeStore
        + BackupStore
        + SnapshotStore
        + ExportStore
        + JobStore
        + QuotaStore
        + VolumeTypeStore
        + QosStore
        + ServiceStore
        + TransferStore
        + ManageStore
        + MigrationStore,
{
    let signal = Arc::new(Notify::new());
    let operator = Arc::new(OperatorService::new(store.clone(), SERVICE_DOWN_TIME));
    let heartbeat = Arc::new(Heartbeat::new(
        store.clone(),
        manager.clone(),
        protocols.clone(),
        settings.host.clone(),
        settings.default_availability_zone.clone(),
        settings
            .backends
            .iter()
            .map(|b| BackendService {
                name: b.name.clone(),
                availability_zone: b.availability_zone.clone(),
            })
            .collect(),
    ));
    let quotas = Arc::new(QuotaService::new(store.clone(), store.clone()));
    let volumes = Arc::new(
        VolumeService::new(
            store.clone(),
            store.clone(),
            store.clone(),
            store.clone(),
            quotas.clone(),
            settings.clone(),
            signal.clone(),
        )
        .with_capacity(manager.clone())
        .with_scheduler(operator.clone())
        .with_manage(store.clone(), manager.clone())
        .with_migrations(store.clone()),
    );
    manager.report_migrations_to(volumes.clone());
    let snapshots = Arc::new(
        SnapshotService::new(
            store.clone(),
            store.clone(),
            store.clone(),
            store.clone(),
            quotas.clone(),
            signal.clone(),
        )
        .with_manage(store.clone()),
    );
    let types = Arc::new(TypeService::new(store.clone()));
    let transfers = Arc::new(TransferService::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        quotas.clone(),
    ));
    let qos = Arc::new(QosService::new(store.clone(), store.clone()));
    for p in protocols.values() {
        p.enforce_qos(qos.clone());
    }
    let attach = Arc::new(
        AttachService::new(
            store.clone(),
            store.clone(),
            Arc::new(Exporters::new(manager.clone(), protocols)),
        )
        .with_qos(qos.clone()),
    );
    let records = backups
        .clone()
        .map(|r| Arc::new(RepositoryRecords::new(r)) as Arc<dyn BackupRecords>);
    let backup_service = Arc::new(BackupService::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        quotas.clone(),
        settings,
        records,
        signal.clone(),
    ));
    let backup_jobs = backups.map(|r| Arc::new(BackupJobs::new(r, manager.clone(), store.clone())));
    let runner = JobRunner::new(
        store,
        volumes.clone(),
        snapshots.clone(),
        attach.clone(),
        manager,
        (backup_service.clone(), backup_jobs),
        signal,
        runner,
    );
    BlockServices {
        volumes,
        snapshots,
        attach,
        quotas,
        types,
        qos,
        operator,
        heartbeat,
        transfers,
        backups: backup_service,
        runner,
    }
}
