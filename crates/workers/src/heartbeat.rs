//! The services' heartbeat: every interval, the scheduler reports that it is alive and each
//! volume service (one per backend) reports its pool's stats, which the scheduler filters on
//! and the operator sees in `os-services` and `scheduler-stats/get_pools`.

use std::sync::Arc;
use std::time::Duration;

use basalt_domain::backends::{PoolStats, ServiceReport, SCHEDULER_BINARY, VOLUME_BINARY};
use basalt_domain::ports::ServiceStore;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::assemble::Protocols;
use crate::manager::VolumeManager;

/// One backend's place in the deployment.
#[derive(Debug, Clone)]
pub struct BackendService {
    pub name: String,
    pub availability_zone: String,
}

pub struct Heartbeat {
    store: Arc<dyn ServiceStore>,
    manager: Arc<VolumeManager>,
    protocols: Protocols,
    host: String,
    default_zone: String,
    backends: Vec<BackendService>,
}

impl Heartbeat {
    pub fn new(
        store: Arc<dyn ServiceStore>,
        manager: Arc<VolumeManager>,
        protocols: Protocols,
        host: String,
        default_zone: String,
        backends: Vec<BackendService>,
    ) -> Self {
        Heartbeat {
            store,
            manager,
            protocols,
            host,
            default_zone,
            backends,
        }
    }

    /// Reports every service once. A backend whose stats cannot be read reports no pool (so
    /// nothing is scheduled there) but stays listed.
    pub async fn beat(&self) {
        let now = chrono::Utc::now();
        let scheduler = ServiceReport {
            host: self.host.clone(),
            binary: SCHEDULER_BINARY.into(),
            availability_zone: self.default_zone.clone(),
            capabilities: None,
        };
        if let Err(e) = self.store.report_service(&scheduler, now).await {
            tracing::warn!(error = %e, "scheduler heartbeat not recorded");
        }
        for b in &self.backends {
            let report = ServiceReport {
                host: format!("{}@{}", self.host, b.name),
                binary: VOLUME_BINARY.into(),
                availability_zone: b.availability_zone.clone(),
                capabilities: self.pool_stats(&b.name).await,
            };
            if let Err(e) = self.store.report_service(&report, now).await {
                tracing::warn!(backend = %b.name, error = %e, "volume service heartbeat not recorded");
            }
        }
    }

    async fn pool_stats(&self, name: &str) -> Option<PoolStats> {
        let backend = self.manager.backend(name)?;
        let stats = match backend.stats().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(backend = name, error = %e, "pool stats unavailable");
                return None;
            }
        };
        let caps = backend.capabilities();
        let protocol = self.protocols.get(name).map(|p| p.name()).unwrap_or("nbd");
        Some(PoolStats {
            pool_name: name.to_owned(),
            volume_backend_name: name.to_owned(),
            vendor_name: "Basalt".into(),
            driver_version: env!("CARGO_PKG_VERSION").into(),
            storage_protocol: if protocol == "iscsi" { "iSCSI" } else { "NBD" }.into(),
            total_capacity_gb: stats.total_capacity_gb(),
            free_capacity_gb: stats.free_capacity_gb(),
            allocated_capacity_gb: stats.allocated_capacity_gb(),
            max_over_subscription_ratio: stats.max_over_subscription_ratio,
            reserved_percentage: stats.reserved_percentage,
            thin_provisioning_support: caps.thin_provisioning,
            thick_provisioning_support: !caps.thin_provisioning,
            qos_support: true,
            multiattach: true,
            reflink: caps.reflink,
        })
    }

    /// Beats every `every` until `stop` changes.
    pub fn spawn(
        self: Arc<Self>,
        every: Duration,
        mut stop: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => self.beat().await,
                    _ = stop.changed() => return,
                }
            }
        })
    }
}
