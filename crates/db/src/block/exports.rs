//! [`ExportStore`] over sqlx: the exports made for connectors, with the exporter's handle and
//! the connection data kept as JSON text.

use async_trait::async_trait;
use basalt_domain::ports::{Export, ExportStore, StoreError};

use super::{from_micros, micros, SqlBlockStore};
use crate::error::store_err_domain as err;

const EXPORT_COLUMNS: &str =
    "id, volume_id, connector_key, protocol, read_only, handle, data, created_at";

#[derive(sqlx::FromRow)]
struct ExportRow {
    id: String,
    volume_id: String,
    connector_key: String,
    protocol: String,
    read_only: bool,
    handle: String,
    data: String,
    created_at: i64,
}

fn json(column: &str, id: &str, text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Backend(format!("export {id}: bad JSON in {column}: {e}")))
}

impl ExportRow {
    fn into_export(self) -> Result<Export, StoreError> {
        Ok(Export {
            handle: json("handle", &self.id, &self.handle)?,
            data: json("data", &self.id, &self.data)?,
            id: self.id,
            volume_id: self.volume_id,
            connector_key: self.connector_key,
            protocol: self.protocol,
            read_only: self.read_only,
            created_at: from_micros(self.created_at),
        })
    }
}

fn rows(rows: Vec<ExportRow>) -> Result<Vec<Export>, StoreError> {
    rows.into_iter().map(ExportRow::into_export).collect()
}

#[async_trait]
impl ExportStore for SqlBlockStore {
    async fn add_export(&self, e: &Export) -> Result<(), StoreError> {
        let handle =
            serde_json::to_string(&e.handle).map_err(|e| StoreError::Backend(e.to_string()))?;
        let data =
            serde_json::to_string(&e.data).map_err(|e| StoreError::Backend(e.to_string()))?;
        // A volume that is gone has nothing to export: its row is the foreign key's parent.
        let inserted = sqlx::query(
            "INSERT INTO volume_exports (id, volume_id, connector_key, protocol, read_only, \
             handle, data, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&e.id)
        .bind(&e.volume_id)
        .bind(&e.connector_key)
        .bind(&e.protocol)
        .bind(e.read_only)
        .bind(handle)
        .bind(data)
        .bind(micros(e.created_at))
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => Err(
                StoreError::NotFound(format!("Volume {} could not be found.", e.volume_id)),
            ),
            Err(x) => Err(err(x)),
        }
    }

    async fn exports_of_volume(&self, volume_id: &str) -> Result<Vec<Export>, StoreError> {
        let sql = format!(
            "SELECT {EXPORT_COLUMNS} FROM volume_exports WHERE volume_id = ? \
             ORDER BY created_at, id"
        );
        let found: Vec<ExportRow> = sqlx::query_as(&sql)
            .bind(volume_id)
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows(found)
    }

    async fn remove_export(&self, id: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("DELETE FROM volume_exports WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(err)?
            .rows_affected()
            == 1)
    }

    async fn update_export_data(
        &self,
        id: &str,
        data: &serde_json::Value,
    ) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("UPDATE volume_exports SET data = ? WHERE id = ?")
                .bind(data.to_string())
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(err)?
                .rows_affected()
                == 1,
        )
    }

    async fn all_exports(&self) -> Result<Vec<Export>, StoreError> {
        let sql = format!("SELECT {EXPORT_COLUMNS} FROM volume_exports ORDER BY created_at, id");
        let found: Vec<ExportRow> = sqlx::query_as(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows(found)
    }
}
