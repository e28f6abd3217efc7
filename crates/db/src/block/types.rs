//! [`VolumeTypeStore`] over sqlx (what volumes need of types; the full types API comes later).

use async_trait::async_trait;
use basalt_domain::ports::{StoreError, VolumeTypeStore};
use basalt_domain::volume_type::VolumeType;

use super::{from_micros, micros, SqlBlockStore};
use crate::error::store_err_domain as err;

type TypeRow = (String, String, Option<String>, bool, i64);

fn ty(r: TypeRow) -> VolumeType {
    VolumeType {
        id: r.0,
        name: r.1,
        description: r.2,
        is_public: r.3,
        created_at: from_micros(r.4),
    }
}

const COLS: &str = "SELECT id, name, description, is_public, created_at FROM volume_types";

#[async_trait]
impl VolumeTypeStore for SqlBlockStore {
    async fn get_type(&self, id: &str) -> Result<Option<VolumeType>, StoreError> {
        let row: Option<TypeRow> = sqlx::query_as(&format!("{COLS} WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        Ok(row.map(ty))
    }

    async fn find_type_by_name(&self, name: &str) -> Result<Option<VolumeType>, StoreError> {
        let row: Option<TypeRow> = sqlx::query_as(&format!("{COLS} WHERE name = ?"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        Ok(row.map(ty))
    }

    async fn list_types(&self) -> Result<Vec<VolumeType>, StoreError> {
        let rows: Vec<TypeRow> = sqlx::query_as(&format!("{COLS} ORDER BY name"))
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        Ok(rows.into_iter().map(ty).collect())
    }

    async fn create_type(&self, t: &VolumeType) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO volume_types (id, name, description, is_public, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&t.id)
        .bind(&t.name)
        .bind(&t.description)
        .bind(t.is_public)
        .bind(micros(t.created_at))
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }
}
