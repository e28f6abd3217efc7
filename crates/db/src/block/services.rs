//! [`ServiceStore`] over sqlx: service rows with their heartbeats and reported pool stats,
//! the per-pool provisioned capacity that triggers keep (migration 0007), and what each
//! project holds on a host.

use std::collections::BTreeMap;

use async_trait::async_trait;
use basalt_domain::backends::{HostUsage, PoolStats, ServiceRecord, ServiceReport};
use basalt_domain::ports::{ServiceStore, StoreError};
use chrono::{DateTime, Utc};

use super::{from_micros, micros, SqlBlockStore};
use crate::error::store_err_domain as err;

type Row = (
    String,
    String,
    String,
    bool,
    Option<String>,
    Option<String>,
    i64,
    i64,
);

fn record(r: Row) -> ServiceRecord {
    ServiceRecord {
        host: r.0,
        binary: r.1,
        availability_zone: r.2,
        disabled: r.3,
        disabled_reason: r.4,
        // A report this version cannot read is treated as no report.
        capabilities: r.5.and_then(|c| serde_json::from_str::<PoolStats>(&c).ok()),
        created_at: from_micros(r.6),
        heartbeat_at: from_micros(r.7),
    }
}

/// Pools of `host` itself (`host@backend#pool`) or of every backend of a host name.
fn host_pattern(host: &str) -> String {
    let escaped = host
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    if host.contains('@') {
        format!("{escaped}#%")
    } else {
        format!("{escaped}@%")
    }
}

#[async_trait]
impl ServiceStore for SqlBlockStore {
    async fn report_service(
        &self,
        r: &ServiceReport,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let caps = match &r.capabilities {
            Some(c) => {
                Some(serde_json::to_string(c).map_err(|e| StoreError::Backend(e.to_string()))?)
            }
            None => None,
        };
        sqlx::query(
            "INSERT INTO services (host, binary, availability_zone, capabilities, created_at, \
             heartbeat_at) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (host, binary) DO UPDATE SET \
             availability_zone = excluded.availability_zone, \
             capabilities = excluded.capabilities, heartbeat_at = excluded.heartbeat_at",
        )
        .bind(&r.host)
        .bind(&r.binary)
        .bind(&r.availability_zone)
        .bind(caps)
        .bind(micros(now))
        .bind(micros(now))
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn list_services(&self) -> Result<Vec<ServiceRecord>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT host, binary, availability_zone, disabled, disabled_reason, capabilities, \
             created_at, heartbeat_at FROM services ORDER BY binary, host",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        Ok(rows.into_iter().map(record).collect())
    }

    async fn set_service_disabled(
        &self,
        host: &str,
        binary: &str,
        disabled: bool,
        reason: Option<&str>,
    ) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE services SET disabled = ?, disabled_reason = ? WHERE host = ? AND binary = ?",
        )
        .bind(disabled)
        .bind(reason)
        .bind(host)
        .bind(binary)
        .execute(&self.pool)
        .await
        .map_err(err)?
        .rows_affected();
        Ok(changed > 0)
    }

    async fn pool_usage(&self) -> Result<BTreeMap<String, (i64, i64)>, StoreError> {
        let rows: Vec<(String, i64, i64)> =
            sqlx::query_as("SELECT host, volumes, provisioned_gib FROM pool_usage")
                .fetch_all(&self.pool)
                .await
                .map_err(err)?;
        Ok(rows.into_iter().map(|(h, v, g)| (h, (v, g))).collect())
    }

    async fn host_project_usage(&self, host: &str) -> Result<Vec<HostUsage>, StoreError> {
        let pattern = host_pattern(host);
        let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT project_id, SUM(volumes), SUM(volume_gb), SUM(snapshots), SUM(snapshot_gb) \
             FROM ( \
               SELECT project_id, 1 AS volumes, size AS volume_gb, 0 AS snapshots, \
                      0 AS snapshot_gb FROM volumes WHERE host LIKE ?1 ESCAPE '\\' \
               UNION ALL \
               SELECT s.project_id, 0, 0, 1, s.volume_size FROM snapshots s \
                 JOIN volumes v ON v.id = s.volume_id WHERE v.host LIKE ?1 ESCAPE '\\' \
             ) GROUP BY project_id ORDER BY project_id",
        )
        .bind(pattern)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        Ok(rows
            .into_iter()
            .map(|r| HostUsage {
                project_id: r.0,
                volume_count: r.1,
                total_volume_gb: r.2,
                snapshot_count: r.3,
                total_snapshot_gb: r.4,
            })
            .collect())
    }
}
