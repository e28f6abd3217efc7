//! [`QosStore`] over sqlx: QoS specs with their key/value rows, and their association with
//! volume types (`volume_types.qos_specs_id`), each change in one transaction.

use std::collections::BTreeMap;

use async_trait::async_trait;
use basalt_domain::ports::{QosStore, QosWrite, StoreError, VolumeTypeStore};
use basalt_domain::qos::{QosConsumer, QosSpecs};
use basalt_domain::volume_type::VolumeType;
use sqlx::SqliteConnection;

use super::{from_micros, micros, SqlBlockStore};
use crate::error::store_err_domain as err;

type Row = (String, String, String, i64, Option<i64>);

fn spec(r: Row, specs: BTreeMap<String, String>) -> QosSpecs {
    QosSpecs {
        id: r.0,
        name: r.1,
        consumer: QosConsumer::parse(&r.2).unwrap_or(QosConsumer::BackEnd),
        created_at: from_micros(r.3),
        updated_at: r.4.map(from_micros),
        specs,
    }
}

const COLS: &str = "SELECT id, name, consumer, created_at, updated_at FROM qos_specs";

async fn qos_exists(conn: &mut SqliteConnection, id: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM qos_specs WHERE id = ?")
        .bind(id)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

async fn touch(conn: &mut SqliteConnection, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE qos_specs SET updated_at = ? WHERE id = ?")
        .bind(micros(chrono::Utc::now()))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

async fn put_values(
    conn: &mut SqliteConnection,
    id: &str,
    specs: &BTreeMap<String, String>,
) -> Result<(), sqlx::Error> {
    for (k, v) in specs {
        sqlx::query(
            "INSERT INTO qos_spec_values (qos_specs_id, key, value) VALUES (?, ?, ?) \
             ON CONFLICT (qos_specs_id, key) DO UPDATE SET value = excluded.value",
        )
        .bind(id)
        .bind(k)
        .bind(v)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl QosStore for SqlBlockStore {
    async fn create_qos(&self, q: &QosSpecs) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        sqlx::query("INSERT INTO qos_specs (id, name, consumer, created_at) VALUES (?, ?, ?, ?)")
            .bind(&q.id)
            .bind(&q.name)
            .bind(q.consumer.as_str())
            .bind(micros(q.created_at))
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        put_values(&mut tx, &q.id, &q.specs).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(())
    }

    async fn get_qos(&self, id: &str) -> Result<Option<QosSpecs>, StoreError> {
        let row: Option<Row> = sqlx::query_as(&format!("{COLS} WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let values: Vec<(String, String)> =
            sqlx::query_as("SELECT key, value FROM qos_spec_values WHERE qos_specs_id = ?")
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(err)?;
        Ok(Some(spec(row, values.into_iter().collect())))
    }

    async fn list_qos(&self) -> Result<Vec<QosSpecs>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(COLS)
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        let values: Vec<(String, String, String)> =
            sqlx::query_as("SELECT qos_specs_id, key, value FROM qos_spec_values")
                .fetch_all(&self.pool)
                .await
                .map_err(err)?;
        let mut by_spec: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (id, k, v) in values {
            by_spec.entry(id).or_default().insert(k, v);
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let values = by_spec.remove(&r.0).unwrap_or_default();
                spec(r, values)
            })
            .collect())
    }

    async fn update_qos(
        &self,
        id: &str,
        consumer: Option<QosConsumer>,
        specs: &BTreeMap<String, String>,
    ) -> Result<QosWrite, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if !qos_exists(&mut tx, id).await.map_err(err)? {
            return Ok(QosWrite::NoSuchSpecs);
        }
        if let Some(c) = consumer {
            sqlx::query("UPDATE qos_specs SET consumer = ? WHERE id = ?")
                .bind(c.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        put_values(&mut tx, id, specs).await.map_err(err)?;
        touch(&mut tx, id).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(QosWrite::Done)
    }

    async fn delete_qos_keys(&self, id: &str, keys: &[String]) -> Result<QosWrite, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if !qos_exists(&mut tx, id).await.map_err(err)? {
            return Ok(QosWrite::NoSuchSpecs);
        }
        for k in keys {
            let gone =
                sqlx::query("DELETE FROM qos_spec_values WHERE qos_specs_id = ? AND key = ?")
                    .bind(id)
                    .bind(k)
                    .execute(&mut *tx)
                    .await
                    .map_err(err)?
                    .rows_affected();
            if gone == 0 {
                // Dropping the transaction rolls back the keys already removed.
                return Ok(QosWrite::NoSuchKey(k.clone()));
            }
        }
        touch(&mut tx, id).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(QosWrite::Done)
    }

    async fn delete_qos(&self, id: &str, force: bool) -> Result<QosWrite, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if !qos_exists(&mut tx, id).await.map_err(err)? {
            return Ok(QosWrite::NoSuchSpecs);
        }
        let used: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM volume_types WHERE qos_specs_id = ?")
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err(err)?;
        if used > 0 && !force {
            return Ok(QosWrite::InUse);
        }
        sqlx::query("UPDATE volume_types SET qos_specs_id = NULL WHERE qos_specs_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        sqlx::query("DELETE FROM qos_specs WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(QosWrite::Done)
    }

    async fn associate_qos(&self, id: &str, type_id: &str) -> Result<QosWrite, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if !qos_exists(&mut tx, id).await.map_err(err)? {
            return Ok(QosWrite::NoSuchSpecs);
        }
        let current: Option<Option<String>> =
            sqlx::query_scalar("SELECT qos_specs_id FROM volume_types WHERE id = ?")
                .bind(type_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(err)?;
        match current {
            None => return Ok(QosWrite::NoSuchType),
            Some(Some(other)) if other != id => return Ok(QosWrite::TypeTaken(other)),
            Some(Some(_)) => return Ok(QosWrite::Done),
            Some(None) => {}
        }
        sqlx::query("UPDATE volume_types SET qos_specs_id = ? WHERE id = ?")
            .bind(id)
            .bind(type_id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(QosWrite::Done)
    }

    async fn disassociate_qos(&self, id: &str, type_id: &str) -> Result<QosWrite, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if !qos_exists(&mut tx, id).await.map_err(err)? {
            return Ok(QosWrite::NoSuchSpecs);
        }
        let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM volume_types WHERE id = ?")
            .bind(type_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(err)?;
        if found == 0 {
            return Ok(QosWrite::NoSuchType);
        }
        sqlx::query(
            "UPDATE volume_types SET qos_specs_id = NULL WHERE id = ? AND qos_specs_id = ?",
        )
        .bind(type_id)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(QosWrite::Done)
    }

    async fn disassociate_qos_all(&self, id: &str) -> Result<QosWrite, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if !qos_exists(&mut tx, id).await.map_err(err)? {
            return Ok(QosWrite::NoSuchSpecs);
        }
        sqlx::query("UPDATE volume_types SET qos_specs_id = NULL WHERE qos_specs_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(QosWrite::Done)
    }

    async fn qos_types(&self, id: &str) -> Result<Vec<VolumeType>, StoreError> {
        Ok(self
            .list_types()
            .await?
            .into_iter()
            .filter(|t| t.qos_specs_id.as_deref() == Some(id))
            .collect())
    }
}
