//! The operator's view: services with their state (up when the last heartbeat is recent,
//! enabled unless disabled), availability zones, pools with their stats, a backend's
//! capabilities, hosts and what each project holds on them; and the candidates the scheduler
//! chooses from. Everything here is admin-only but the zone list, as in Cinder.

use std::sync::Arc;

use chrono::Utc;

use super::{Candidate, PoolStats, ServiceRecord, VOLUME_BINARY};
use crate::error::DomainError;
use crate::ports::ServiceStore;
use crate::Caller;

/// A service and whether it is up now.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceView {
    pub record: ServiceRecord,
    pub up: bool,
}

/// What one project holds on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostUsage {
    pub project_id: String,
    pub volume_count: i64,
    pub total_volume_gb: i64,
    pub snapshot_count: i64,
    pub total_snapshot_gb: i64,
}

pub struct OperatorService {
    store: Arc<dyn ServiceStore>,
    /// Cinder's `service_down_time`.
    down_after: chrono::Duration,
}

fn admin(caller: &Caller, rule: &'static str) -> Result<(), DomainError> {
    if caller.is_admin {
        Ok(())
    } else {
        Err(DomainError::Forbidden(rule))
    }
}

impl OperatorService {
    pub fn new(store: Arc<dyn ServiceStore>, down_after: std::time::Duration) -> Self {
        OperatorService {
            store,
            down_after: chrono::Duration::from_std(down_after)
                .unwrap_or(chrono::Duration::seconds(60)),
        }
    }

    async fn views(&self) -> Result<Vec<ServiceView>, DomainError> {
        let now = Utc::now();
        Ok(self
            .store
            .list_services()
            .await?
            .into_iter()
            .map(|record| ServiceView {
                up: record.is_up(now, self.down_after),
                record,
            })
            .collect())
    }

    /// The pools a new volume may be placed on, with what they hold now.
    pub async fn candidates(&self) -> Result<Vec<Candidate>, DomainError> {
        let usage = self.store.pool_usage().await?;
        Ok(self
            .views()
            .await?
            .into_iter()
            .filter(|v| v.record.binary == VOLUME_BINARY)
            .filter_map(|v| {
                let stats = v.record.capabilities.clone()?;
                let backend = v.record.host.split_once('@')?.1.to_owned();
                let pool = format!("{}#{}", v.record.host, stats.pool_name);
                Some(Candidate {
                    provisioned_gib: usage.get(&pool).map(|u| u.1).unwrap_or(0),
                    usable: v.up && !v.record.disabled,
                    service_host: v.record.host,
                    availability_zone: v.record.availability_zone,
                    pool,
                    backend,
                    stats,
                })
            })
            .collect())
    }

    /// `GET /os-services`, optionally filtered on `host` and `binary`.
    pub async fn services(
        &self,
        caller: &Caller,
        host: Option<&str>,
        binary: Option<&str>,
    ) -> Result<Vec<ServiceView>, DomainError> {
        admin(caller, "volume_extension:services:index")?;
        let mut all = self.views().await?;
        all.retain(|v| host.is_none_or(|h| v.record.host == h));
        all.retain(|v| binary.is_none_or(|b| v.record.binary == b));
        all.sort_by(|a, b| {
            (&a.record.binary, &a.record.host).cmp(&(&b.record.binary, &b.record.host))
        });
        Ok(all)
    }

    /// Enables or disables a service for scheduling (`disable-log-reason` gives a reason).
    pub async fn set_disabled(
        &self,
        caller: &Caller,
        host: &str,
        binary: &str,
        disabled: bool,
        reason: Option<&str>,
    ) -> Result<(), DomainError> {
        admin(caller, "volume_extension:services:update")?;
        if self
            .store
            .set_service_disabled(host, binary, disabled, reason)
            .await?
        {
            Ok(())
        } else {
            Err(DomainError::NotFound(format!(
                "Service {binary} could not be found on host {host}."
            )))
        }
    }

    /// `GET /os-availability-zone`: every zone with a volume service, available when one
    /// of its services is up and enabled.
    pub async fn zones(&self) -> Result<Vec<(String, bool)>, DomainError> {
        let mut zones: Vec<(String, bool)> = Vec::new();
        for v in self.views().await? {
            if v.record.binary != VOLUME_BINARY {
                continue;
            }
            let ok = v.up && !v.record.disabled;
            match zones
                .iter_mut()
                .find(|(z, _)| *z == v.record.availability_zone)
            {
                Some((_, available)) => *available |= ok,
                None => zones.push((v.record.availability_zone.clone(), ok)),
            }
        }
        zones.sort();
        Ok(zones)
    }

    /// `GET /scheduler-stats/get_pools`: every pool with its stats and what it holds.
    pub async fn pools(&self, caller: &Caller) -> Result<Vec<Candidate>, DomainError> {
        admin(caller, "scheduler_extension:scheduler_stats:get_pools")?;
        let mut all = self.candidates().await?;
        all.sort_by(|a, b| a.pool.cmp(&b.pool));
        Ok(all)
    }

    /// `GET /capabilities/{host}`: the stats a volume service (`host@backend`) reports.
    pub async fn capabilities(
        &self,
        caller: &Caller,
        host: &str,
    ) -> Result<(String, PoolStats), DomainError> {
        admin(caller, "volume_extension:capabilities")?;
        self.views()
            .await?
            .into_iter()
            .find(|v| v.record.binary == VOLUME_BINARY && v.record.host == host)
            .and_then(|v| v.record.capabilities.map(|c| (v.record.host, c)))
            .ok_or_else(|| DomainError::NotFound(format!("Host {host} could not be found.")))
    }

    /// `GET /os-hosts`: the services, optionally of one zone.
    pub async fn hosts(
        &self,
        caller: &Caller,
        zone: Option<&str>,
    ) -> Result<Vec<ServiceView>, DomainError> {
        admin(caller, "volume_extension:hosts")?;
        let mut all = self.views().await?;
        all.retain(|v| zone.is_none_or(|z| v.record.availability_zone == z));
        all.sort_by(|a, b| a.record.host.cmp(&b.record.host));
        Ok(all)
    }

    /// `GET /os-hosts/{host}`: per project, what the host's volume services hold.
    pub async fn host_usage(
        &self,
        caller: &Caller,
        host: &str,
    ) -> Result<Vec<HostUsage>, DomainError> {
        admin(caller, "volume_extension:hosts")?;
        let known = self.views().await?.into_iter().any(|v| {
            v.record.binary == VOLUME_BINARY
                && (v.record.host == host || v.record.host.split('@').next() == Some(host))
        });
        if !known {
            return Err(DomainError::NotFound(format!(
                "Host {host} could not be found."
            )));
        }
        Ok(self.store.host_project_usage(host).await?)
    }
}
