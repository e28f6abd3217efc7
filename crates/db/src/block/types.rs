//! [`VolumeTypeStore`] over sqlx: types with their extra specs, project access and encryption
//! specs. A change refused while a volume uses the type checks that in the transaction that
//! makes it, so a volume created meanwhile cannot slip past.

use std::collections::BTreeMap;

use async_trait::async_trait;
use basalt_domain::ports::{StoreError, TypeFields, TypeWrite, VolumeTypeStore};
use basalt_domain::volume_type::{ControlLocation, ExtraSpecs, TypeEncryption, VolumeType};
use sqlx::SqliteConnection;

use super::{from_micros, micros, SqlBlockStore};
use crate::error::store_err_domain as err;

type TypeRow = (
    String,
    String,
    Option<String>,
    bool,
    Option<String>,
    i64,
    Option<i64>,
);

const COLS: &str = "SELECT id, name, description, is_public, qos_specs_id, created_at, updated_at \
                    FROM volume_types";

fn ty(r: TypeRow, extra_specs: ExtraSpecs) -> VolumeType {
    VolumeType {
        id: r.0,
        name: r.1,
        description: r.2,
        is_public: r.3,
        qos_specs_id: r.4,
        created_at: from_micros(r.5),
        updated_at: r.6.map(from_micros),
        extra_specs,
    }
}

async fn specs_of(conn: &mut SqliteConnection, type_id: &str) -> Result<ExtraSpecs, sqlx::Error> {
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT key, value FROM volume_type_extra_specs WHERE volume_type_id = ?")
            .bind(type_id)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().collect())
}

async fn exists(conn: &mut SqliteConnection, id: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM volume_types WHERE id = ?")
        .bind(id)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

async fn in_use(conn: &mut SqliteConnection, id: &str) -> Result<bool, sqlx::Error> {
    let n: i64 =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM volumes WHERE volume_type_id = ?)")
            .bind(id)
            .fetch_one(conn)
            .await?;
    Ok(n != 0)
}

/// `Some(answer)` when the type is missing or in use; `None` when the change may go ahead.
async fn guard(conn: &mut SqliteConnection, id: &str) -> Result<Option<TypeWrite>, sqlx::Error> {
    if !exists(conn, id).await? {
        return Ok(Some(TypeWrite::NoSuchType));
    }
    if in_use(conn, id).await? {
        return Ok(Some(TypeWrite::InUse));
    }
    Ok(None)
}

async fn put_specs(
    conn: &mut SqliteConnection,
    id: &str,
    specs: &ExtraSpecs,
) -> Result<(), sqlx::Error> {
    for (k, v) in specs {
        sqlx::query(
            "INSERT INTO volume_type_extra_specs (volume_type_id, key, value) VALUES (?, ?, ?) \
             ON CONFLICT (volume_type_id, key) DO UPDATE SET value = excluded.value",
        )
        .bind(id)
        .bind(k)
        .bind(v)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn touch(conn: &mut SqliteConnection, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE volume_types SET updated_at = ? WHERE id = ?")
        .bind(micros(chrono::Utc::now()))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The per-type quota resources Cinder names after the type.
const PER_TYPE: [&str; 3] = ["volumes", "snapshots", "gigabytes"];

impl SqlBlockStore {
    async fn fetch_type(
        &self,
        clause: &str,
        value: &str,
    ) -> Result<Option<VolumeType>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(err)?;
        let row: Option<TypeRow> = sqlx::query_as(&format!("{COLS} WHERE {clause} = ?"))
            .bind(value)
            .fetch_optional(&mut *conn)
            .await
            .map_err(err)?;
        match row {
            None => Ok(None),
            Some(r) => {
                let specs = specs_of(&mut conn, &r.0).await.map_err(err)?;
                Ok(Some(ty(r, specs)))
            }
        }
    }
}

#[async_trait]
impl VolumeTypeStore for SqlBlockStore {
    async fn get_type(&self, id: &str) -> Result<Option<VolumeType>, StoreError> {
        self.fetch_type("id", id).await
    }

    async fn find_type_by_name(&self, name: &str) -> Result<Option<VolumeType>, StoreError> {
        self.fetch_type("name", name).await
    }

    async fn list_types(&self) -> Result<Vec<VolumeType>, StoreError> {
        let rows: Vec<TypeRow> = sqlx::query_as(&format!("{COLS} ORDER BY name"))
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        let specs: Vec<(String, String, Option<String>)> =
            sqlx::query_as("SELECT volume_type_id, key, value FROM volume_type_extra_specs")
                .fetch_all(&self.pool)
                .await
                .map_err(err)?;
        let mut by_type: BTreeMap<String, ExtraSpecs> = BTreeMap::new();
        for (t, k, v) in specs {
            by_type.entry(t).or_default().insert(k, v);
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let s = by_type.remove(&r.0).unwrap_or_default();
                ty(r, s)
            })
            .collect())
    }

    async fn create_type(&self, t: &VolumeType) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        sqlx::query(
            "INSERT INTO volume_types (id, name, description, is_public, qos_specs_id, \
             created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&t.id)
        .bind(&t.name)
        .bind(&t.description)
        .bind(t.is_public)
        .bind(&t.qos_specs_id)
        .bind(micros(t.created_at))
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        put_specs(&mut tx, &t.id, &t.extra_specs)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(())
    }

    async fn update_type(&self, id: &str, f: &TypeFields) -> Result<TypeWrite, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        let old: Option<String> = sqlx::query_scalar("SELECT name FROM volume_types WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err)?;
        let Some(old) = old else {
            return Ok(TypeWrite::NoSuchType);
        };
        let renamed = sqlx::query(
            "UPDATE volume_types SET name = COALESCE(?, name), \
             description = CASE WHEN ? THEN ? ELSE description END, \
             is_public = COALESCE(?, is_public), updated_at = ? WHERE id = ?",
        )
        .bind(&f.name)
        .bind(f.description.is_some())
        .bind(f.description.clone().flatten())
        .bind(f.is_public)
        .bind(micros(chrono::Utc::now()))
        .bind(id)
        .execute(&mut *tx)
        .await;
        match renamed {
            Err(e) if matches!(err_ref(&e), Some(true)) => return Ok(TypeWrite::NameTaken),
            Err(e) => return Err(err(e)),
            Ok(_) => {}
        }
        if let Some(new) = f.name.as_deref().filter(|n| *n != old) {
            // Per-type quota limits follow the type's name (Cinder's update_quota_resource).
            for table in ["quota_limits", "quota_class_limits"] {
                for r in PER_TYPE {
                    sqlx::query(&format!(
                        "UPDATE {table} SET resource = ? WHERE resource = ?"
                    ))
                    .bind(format!("{r}_{new}"))
                    .bind(format!("{r}_{old}"))
                    .execute(&mut *tx)
                    .await
                    .map_err(err)?;
                }
            }
        }
        tx.commit().await.map_err(err)?;
        Ok(TypeWrite::Done)
    }

    async fn delete_type(&self, id: &str) -> Result<TypeWrite, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if let Some(refused) = guard(&mut tx, id).await.map_err(err)? {
            return Ok(refused);
        }
        sqlx::query("DELETE FROM quota_usage WHERE volume_type_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        sqlx::query("DELETE FROM volume_types WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(TypeWrite::Done)
    }

    async fn set_extra_specs(&self, id: &str, specs: &ExtraSpecs) -> Result<TypeWrite, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if let Some(refused) = guard(&mut tx, id).await.map_err(err)? {
            return Ok(refused);
        }
        put_specs(&mut tx, id, specs).await.map_err(err)?;
        touch(&mut tx, id).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(TypeWrite::Done)
    }

    async fn delete_extra_spec(&self, id: &str, key: &str) -> Result<TypeWrite, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if let Some(refused) = guard(&mut tx, id).await.map_err(err)? {
            return Ok(refused);
        }
        let gone =
            sqlx::query("DELETE FROM volume_type_extra_specs WHERE volume_type_id = ? AND key = ?")
                .bind(id)
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(err)?
                .rows_affected();
        if gone == 0 {
            return Ok(TypeWrite::Missing);
        }
        touch(&mut tx, id).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(TypeWrite::Done)
    }

    async fn type_projects(&self, id: &str) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT project_id FROM volume_type_projects WHERE volume_type_id = ? \
             ORDER BY project_id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(err)
    }

    async fn types_granted_to(&self, project_id: &str) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar("SELECT volume_type_id FROM volume_type_projects WHERE project_id = ?")
            .bind(project_id)
            .fetch_all(&self.pool)
            .await
            .map_err(err)
    }

    async fn add_type_project(&self, id: &str, project_id: &str) -> Result<TypeWrite, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if !exists(&mut tx, id).await.map_err(err)? {
            return Ok(TypeWrite::NoSuchType);
        }
        let added = sqlx::query(
            "INSERT INTO volume_type_projects (volume_type_id, project_id) VALUES (?, ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(project_id)
        .execute(&mut *tx)
        .await
        .map_err(err)?
        .rows_affected();
        tx.commit().await.map_err(err)?;
        Ok(if added == 0 {
            TypeWrite::Exists
        } else {
            TypeWrite::Done
        })
    }

    async fn remove_type_project(
        &self,
        id: &str,
        project_id: &str,
    ) -> Result<TypeWrite, StoreError> {
        let removed = sqlx::query(
            "DELETE FROM volume_type_projects WHERE volume_type_id = ? AND project_id = ?",
        )
        .bind(id)
        .bind(project_id)
        .execute(&self.pool)
        .await
        .map_err(err)?
        .rows_affected();
        Ok(if removed == 0 {
            TypeWrite::Missing
        } else {
            TypeWrite::Done
        })
    }

    async fn get_encryption(&self, type_id: &str) -> Result<Option<TypeEncryption>, StoreError> {
        type Row = (
            String,
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
            String,
            i64,
            Option<i64>,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT volume_type_id, encryption_id, provider, cipher, key_size, control_location, \
             created_at, updated_at FROM volume_type_encryption WHERE volume_type_id = ?",
        )
        .bind(type_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        Ok(row.map(|r| TypeEncryption {
            volume_type_id: r.0,
            encryption_id: r.1,
            provider: r.2,
            cipher: r.3,
            key_size: r.4,
            control_location: ControlLocation::parse(&r.5).unwrap_or(ControlLocation::FrontEnd),
            created_at: from_micros(r.6),
            updated_at: r.7.map(from_micros),
        }))
    }

    async fn put_encryption(
        &self,
        e: &TypeEncryption,
        create: bool,
    ) -> Result<TypeWrite, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if let Some(refused) = guard(&mut tx, &e.volume_type_id).await.map_err(err)? {
            return Ok(refused);
        }
        let present: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM volume_type_encryption WHERE volume_type_id = ?",
        )
        .bind(&e.volume_type_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(err)?;
        match (create, present > 0) {
            (true, true) => return Ok(TypeWrite::Exists),
            (false, false) => return Ok(TypeWrite::Missing),
            _ => {}
        }
        sqlx::query(
            "INSERT OR REPLACE INTO volume_type_encryption (volume_type_id, encryption_id, \
             provider, cipher, key_size, control_location, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&e.volume_type_id)
        .bind(&e.encryption_id)
        .bind(&e.provider)
        .bind(&e.cipher)
        .bind(e.key_size)
        .bind(e.control_location.as_str())
        .bind(micros(e.created_at))
        .bind(e.updated_at.map(micros))
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(TypeWrite::Done)
    }

    async fn delete_encryption(&self, type_id: &str) -> Result<TypeWrite, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if let Some(refused) = guard(&mut tx, type_id).await.map_err(err)? {
            return Ok(refused);
        }
        let gone = sqlx::query("DELETE FROM volume_type_encryption WHERE volume_type_id = ?")
            .bind(type_id)
            .execute(&mut *tx)
            .await
            .map_err(err)?
            .rows_affected();
        tx.commit().await.map_err(err)?;
        Ok(if gone == 0 {
            TypeWrite::Missing
        } else {
            TypeWrite::Done
        })
    }
}

/// `Some(true)` for a unique-constraint violation.
fn err_ref(e: &sqlx::Error) -> Option<bool> {
    match e {
        sqlx::Error::Database(db) => Some(db.is_unique_violation()),
        _ => None,
    }
}
