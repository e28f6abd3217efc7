//! Putting the block-storage services together over one store and a set of backends: the one
//! wiring used by the server and by every test that needs the real thing.

use std::sync::Arc;

use basalt_domain::attach::AttachService;
use basalt_domain::ports::{
    ExportStore, JobStore, QuotaStore, SnapshotStore, VolumeStore, VolumeTypeStore,
};
use basalt_domain::quota::QuotaService;
use basalt_domain::snapshot::SnapshotService;
use basalt_domain::volume::VolumeService;
use basalt_domain::DomainSettings;
use tokio::sync::Notify;

use crate::exporter::{Exporters, Protocol};
use crate::manager::{Backends, VolumeManager};
use crate::runner::{JobRunner, RunnerSettings};

/// Builds the network export protocol once the volume manager exists.
pub type NetworkExport = Box<dyn FnOnce(Arc<VolumeManager>) -> Arc<dyn Protocol> + Send>;

pub struct BlockServices {
    pub volumes: Arc<VolumeService>,
    pub snapshots: Arc<SnapshotService>,
    pub attach: Arc<AttachService>,
    pub quotas: Arc<QuotaService>,
    pub runner: Arc<JobRunner>,
}

pub fn assemble<S>(
    store: Arc<S>,
    backends: Backends,
    settings: DomainSettings,
    runner: RunnerSettings,
    network: Option<NetworkExport>,
) -> BlockServices
where
    S: VolumeStore + SnapshotStore + ExportStore + JobStore + QuotaStore + VolumeTypeStore,
{
    let signal = Arc::new(Notify::new());
    let quotas = Arc::new(QuotaService::new(store.clone(), store.clone()));
    let manager = Arc::new(VolumeManager::new(backends));
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
        .with_capacity(manager.clone()),
    );
    let snapshots = Arc::new(SnapshotService::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        quotas.clone(),
        signal.clone(),
    ));
    let attach = Arc::new(AttachService::new(
        store.clone(),
        store.clone(),
        Arc::new(Exporters::new(
            manager.clone(),
            network.map(|make| make(manager.clone())),
        )),
    ));
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
        runner,
    }
}
