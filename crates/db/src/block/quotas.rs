//! [`QuotaStore`] over sqlx: limits are rows that differ from their defaults; usage is read from the
//! counters that triggers keep beside the volumes and snapshots.

use std::collections::BTreeMap;

use async_trait::async_trait;
use basalt_domain::ports::{QuotaStore, StoreError};
use basalt_domain::quota::Usage;

use super::claim;
use super::SqlBlockStore;
use crate::error::store_err_domain as err;

#[async_trait]
impl QuotaStore for SqlBlockStore {
    async fn usage(&self, project_id: &str) -> Result<Usage, StoreError> {
        let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT COALESCE(t.name, u.volume_type_id), u.volumes, u.volume_gib, u.snapshots, \
             u.snapshot_gib \
             FROM quota_usage u LEFT JOIN volume_types t ON t.id = u.volume_type_id \
             WHERE u.project_id = ? AND (u.volumes <> 0 OR u.volume_gib <> 0 \
               OR u.snapshots <> 0 OR u.snapshot_gib <> 0)",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        let mut u = Usage::default();
        for (ty, volumes, volume_gib, snapshots, snapshot_gib) in rows {
            // Gigabytes are volumes' and snapshots' together, as Cinder counts them.
            let gib = volume_gib + snapshot_gib;
            u.volumes += volumes;
            u.snapshots += snapshots;
            u.gigabytes += gib;
            u.per_type.insert(ty, (volumes, gib, snapshots));
        }
        let mut conn = self.pool.acquire().await.map_err(err)?;
        (u.backups, u.backup_gigabytes) = super::backup_usage::usage(&mut conn, project_id).await?;
        Ok(u)
    }

    async fn recount_usage(&self) -> Result<u64, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        let wrong = claim::recount(&mut tx).await? + super::backup_usage::recount(&mut tx).await?;
        tx.commit().await.map_err(err)?;
        Ok(wrong)
    }

    async fn project_limits(&self, project_id: &str) -> Result<BTreeMap<String, i64>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT resource, hard_limit FROM quota_limits WHERE project_id = ?")
                .bind(project_id)
                .fetch_all(&self.pool)
                .await
                .map_err(err)?;
        Ok(rows.into_iter().collect())
    }

    async fn set_project_limits(
        &self,
        project_id: &str,
        limits: &BTreeMap<String, i64>,
    ) -> Result<(), StoreError> {
        self.upsert_limits(
            "INSERT INTO quota_limits (project_id, resource, hard_limit) VALUES (?, ?, ?) \
             ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit",
            project_id,
            limits,
        )
        .await
    }

    async fn delete_project_limits(&self, project_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM quota_limits WHERE project_id = ?")
            .bind(project_id)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn class_limits(&self, class: &str) -> Result<BTreeMap<String, i64>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT resource, hard_limit FROM quota_class_limits WHERE class_name = ?",
        )
        .bind(class)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        Ok(rows.into_iter().collect())
    }

    async fn set_class_limits(
        &self,
        class: &str,
        limits: &BTreeMap<String, i64>,
    ) -> Result<(), StoreError> {
        self.upsert_limits(
            "INSERT INTO quota_class_limits (class_name, resource, hard_limit) VALUES (?, ?, ?) \
             ON CONFLICT (class_name, resource) DO UPDATE SET hard_limit = excluded.hard_limit",
            class,
            limits,
        )
        .await
    }
}

impl SqlBlockStore {
    /// Writes `(owner, resource, limit)` rows with `upsert`, all in one transaction.
    async fn upsert_limits(
        &self,
        upsert: &str,
        owner: &str,
        limits: &BTreeMap<String, i64>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        for (k, v) in limits {
            sqlx::query(upsert)
                .bind(owner)
                .bind(k)
                .bind(v)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }
}
