//! [`ManageStore`] over sqlx: unmanage removes a row whose storage stays, in one guarded
//! `DELETE` (metadata, attachments and exports go by `ON DELETE CASCADE`, usage counters by
//! the triggers of 0003/0004).

use async_trait::async_trait;
use basalt_domain::manage::ManageStore;
use basalt_domain::ports::StoreError;
use basalt_domain::snapshot::SnapshotStatus;
use basalt_domain::volume::VolumeStatus;
use sqlx::{QueryBuilder, Sqlite};

use super::volumes::NOT_MIGRATING;
use super::{push_in, SqlBlockStore};
use crate::error::store_err_domain as err;

#[async_trait]
impl ManageStore for SqlBlockStore {
    async fn unmanage_volume(&self, id: &str, from: &[VolumeStatus]) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        let mut b: QueryBuilder<Sqlite> = QueryBuilder::new("DELETE FROM volumes WHERE id = ");
        b.push_bind(id.to_owned()).push(" AND ");
        push_in(&mut b, "status", from.iter().map(|s| s.as_str()));
        b.push(" AND attach_status = 'detached' AND ")
            .push(NOT_MIGRATING)
            .push(
                " AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.volume_id = volumes.id) \
                 AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.subject_id = volumes.id) \
                 AND NOT EXISTS (SELECT 1 FROM volume_exports e WHERE e.volume_id = volumes.id) \
                 AND NOT EXISTS (SELECT 1 FROM volumes c WHERE c.status = 'creating' \
                 AND c.source_volid = volumes.id)",
            );
        let removed = b
            .build()
            .execute(&mut *tx)
            .await
            .map_err(err)?
            .rows_affected()
            == 1;
        tx.commit().await.map_err(err)?;
        Ok(removed)
    }

    async fn unmanage_snapshot(
        &self,
        id: &str,
        from: &[SnapshotStatus],
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        let mut b: QueryBuilder<Sqlite> = QueryBuilder::new("DELETE FROM snapshots WHERE id = ");
        b.push_bind(id.to_owned()).push(" AND ");
        push_in(&mut b, "status", from.iter().map(|s| s.as_str()));
        b.push(
            " AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.subject_id = snapshots.id) \
             AND NOT EXISTS (SELECT 1 FROM volumes c WHERE c.status = 'creating' \
             AND c.snapshot_id = snapshots.id)",
        );
        let removed = b
            .build()
            .execute(&mut *tx)
            .await
            .map_err(err)?
            .rows_affected()
            == 1;
        tx.commit().await.map_err(err)?;
        Ok(removed)
    }
}
