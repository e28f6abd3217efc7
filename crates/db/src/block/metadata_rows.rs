//! Key/value metadata rows of one owner (a volume, a snapshot): read, merge and replace, with
//! the table and owner column as the only difference between owners.

use basalt_domain::metadata::Metadata;
use basalt_domain::ports::StoreError;
use sqlx::SqliteConnection;

use crate::error::store_err_domain as err;

pub(crate) struct MetadataTable {
    table: &'static str,
    owner: &'static str,
}

pub(crate) const VOLUME_METADATA: MetadataTable = MetadataTable {
    table: "volume_metadata",
    owner: "volume_id",
};

pub(crate) const SNAPSHOT_METADATA: MetadataTable = MetadataTable {
    table: "snapshot_metadata",
    owner: "snapshot_id",
};

impl MetadataTable {
    pub(crate) async fn load(
        &self,
        conn: &mut SqliteConnection,
        id: &str,
    ) -> Result<Metadata, StoreError> {
        let (table, owner) = (self.table, self.owner);
        let rows: Vec<(String, String)> =
            sqlx::query_as(&format!("SELECT key, value FROM {table} WHERE {owner} = ?"))
                .bind(id)
                .fetch_all(&mut *conn)
                .await
                .map_err(err)?;
        Ok(rows.into_iter().collect())
    }

    /// Sets every key of `md`, keeping the others.
    pub(crate) async fn upsert(
        &self,
        conn: &mut SqliteConnection,
        id: &str,
        md: &Metadata,
    ) -> Result<(), StoreError> {
        let (table, owner) = (self.table, self.owner);
        let sql = format!(
            "INSERT INTO {table} ({owner}, key, value) VALUES (?, ?, ?) \
             ON CONFLICT ({owner}, key) DO UPDATE SET value = excluded.value"
        );
        for (k, v) in md {
            sqlx::query(&sql)
                .bind(id)
                .bind(k)
                .bind(v)
                .execute(&mut *conn)
                .await
                .map_err(err)?;
        }
        Ok(())
    }

    /// Makes `md` the whole set.
    pub(crate) async fn replace(
        &self,
        conn: &mut SqliteConnection,
        id: &str,
        md: &Metadata,
    ) -> Result<(), StoreError> {
        let (table, owner) = (self.table, self.owner);
        sqlx::query(&format!("DELETE FROM {table} WHERE {owner} = ?"))
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(err)?;
        self.upsert(conn, id, md).await
    }
}
