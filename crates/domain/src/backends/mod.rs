//! The services of a deployment (the scheduler, one volume service per backend), their
//! heartbeats and the pool stats each volume service reports; the scheduler that places a
//! new volume on a pool; and the operator's view of all of it.

mod operator;
mod scheduler;
mod specs;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use operator::{HostUsage, OperatorService, ServiceView};
pub use scheduler::{choose, Candidate, NoValidBackend, Placement};
pub(crate) use specs::unmet;

pub const VOLUME_BINARY: &str = "cinder-volume";
pub const SCHEDULER_BINARY: &str = "cinder-scheduler";

/// A service as recorded: who it is, whether an operator disabled it, when it last reported.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRecord {
    /// `host` for the scheduler, `host@backend` for a volume service.
    pub host: String,
    pub binary: String,
    pub availability_zone: String,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    /// A volume service's last report of its pool.
    pub capabilities: Option<PoolStats>,
    pub created_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
}

impl ServiceRecord {
    /// Up when its last heartbeat is recent (Cinder's `service_down_time`).
    pub fn is_up(&self, now: DateTime<Utc>, down_after: chrono::Duration) -> bool {
        now - self.heartbeat_at <= down_after
    }
}

/// What a service reports on each heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceReport {
    pub host: String,
    pub binary: String,
    pub availability_zone: String,
    pub capabilities: Option<PoolStats>,
}

/// A pool's stats with Cinder's key names, as the scheduler filters on them and
/// `scheduler-stats/get_pools?detail=true` shows them. A file backend is one pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolStats {
    pub pool_name: String,
    pub volume_backend_name: String,
    pub vendor_name: String,
    pub driver_version: String,
    pub storage_protocol: String,
    pub total_capacity_gb: f64,
    pub free_capacity_gb: f64,
    /// GiB the volumes really occupy (written blocks).
    pub allocated_capacity_gb: f64,
    pub max_over_subscription_ratio: f64,
    pub reserved_percentage: u8,
    pub thin_provisioning_support: bool,
    pub thick_provisioning_support: bool,
    #[serde(rename = "QoS_support")]
    pub qos_support: bool,
    pub multiattach: bool,
    /// Snapshots and clones are constant-time copies (a reflink filesystem).
    #[serde(default)]
    pub reflink: bool,
}

impl PoolStats {
    /// The most GiB that may be provisioned on the pool: total less the reserved share, times
    /// the over-subscription ratio.
    pub fn provisionable_gib(&self) -> i64 {
        let reserved = f64::from(self.reserved_percentage.min(100)) / 100.0;
        (self.total_capacity_gb * (1.0 - reserved) * self.max_over_subscription_ratio).floor()
            as i64
    }

    /// The most GiB a new volume may take now, given what is provisioned already: within the
    /// over-subscription limit, and within the free space (less the reserve) times the ratio,
    /// so a filling disk stops taking volumes (the rule of the backend's own check).
    pub fn fits_now_gib(&self, provisioned_gib: i64) -> i64 {
        let reserved = f64::from(self.reserved_percentage.min(100)) / 100.0;
        let by_free = ((self.free_capacity_gb - self.total_capacity_gb * reserved)
            * self.max_over_subscription_ratio)
            .floor() as i64;
        (self.provisionable_gib() - provisioned_gib)
            .min(by_free)
            .max(0)
    }
}
