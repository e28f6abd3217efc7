//! [`MigrationStore`] over sqlx: the volumes whose migration is under way.

use async_trait::async_trait;
use basalt_domain::migration::{MigrationStore, RUNNING};
use basalt_domain::ports::StoreError;
use basalt_domain::volume::Volume;
use sqlx::{QueryBuilder, Sqlite};

use super::rows::{fetch_volumes, VOLUME_COLUMNS, VOLUME_FROM};
use super::{push_in, SqlBlockStore};
use crate::error::store_err_domain as err;

#[async_trait]
impl MigrationStore for SqlBlockStore {
    async fn migrating_volumes(&self) -> Result<Vec<Volume>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(err)?;
        let mut b: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {VOLUME_COLUMNS} {VOLUME_FROM} WHERE "));
        push_in(&mut b, "v.migration_status", RUNNING);
        fetch_volumes(&mut conn, b).await
    }
}
