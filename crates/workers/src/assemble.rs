//! Putting the block-storage services together over one store and a set of backends: the one
//! wiring used by the server and by every test that needs the real thing.

use std::collections::HashMap;
use std::sync::Arc;

use basalt_domain::attach::AttachService;
use basalt_domain::backends::OperatorService;
use basalt_domain::ports::{
    ExportStore, JobStore, QosStore, QuotaStore, ServiceStore, SnapshotStore, TransferStore,
    VolumeStore, VolumeTypeStore,
};
use basalt_domain::qos::QosService;
use basalt_domain::quota::QuotaService;
use basalt_domain::snapshot::SnapshotService;
use basalt_domain::transfer::TransferService;
use basalt_domain::volume::VolumeService;
use basalt_domain::volume_type::TypeService;
use basalt_domain::DomainSettings;
use tokio::sync::Notify;

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
    pub runner: Arc<JobRunner>,
}

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
        + ExportStore
        + JobStore
        + QuotaStore
        + VolumeTypeStore
        + QosStore
        + ServiceStore
        + TransferStore,
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
            settings,
            signal.clone(),
        )
        .with_capacity(manager.clone())
        .with_scheduler(operator.clone()),
    );
    let snapshots = Arc::new(SnapshotService::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        quotas.clone(),
        signal.clone(),
    ));
    let types = Arc::new(TypeService::new(store.clone()));
    let transfers = Arc::new(TransferService::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        quotas.clone(),
    ));
    let qos = Arc::new(QosService::new(store.clone(), store.clone()));
    let attach = Arc::new(
        AttachService::new(
            store.clone(),
            store.clone(),
            Arc::new(Exporters::new(manager.clone(), protocols)),
        )
        .with_qos(qos.clone()),
    );
    let runner = JobRunner::new(
        store,
        volumes.clone(),
        snapshots.clone(),
        attach.clone(),
        manager,
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
        runner,
    }
}
