//! [`TransferStore`] over sqlx: an offer is written with its volume's compare-and-swap to
//! `awaiting-transfer`; an acceptance checks the acceptor's claims and moves the volume and
//! its snapshots in one transaction, the usage triggers carrying both projects' counters.

use std::collections::BTreeSet;

use async_trait::async_trait;
use basalt_domain::ports::{AcceptOutcome, Acceptance, StoreError, TransferStore};
use basalt_domain::transfer::{Transfer, TransferQuery};
use basalt_domain::volume::SortDir;
use chrono::Utc;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::keyset::push_page;
use super::volumes::NOT_MIGRATING;
use super::{claim, from_micros, micros, SqlBlockStore};
use crate::error::store_err_domain as err;

const COLUMNS: &str = "t.id, t.volume_id, t.project_id, t.display_name, t.salt, t.crypt_hash, \
     t.created_at";

#[derive(sqlx::FromRow)]
struct TransferRow {
    id: String,
    volume_id: String,
    project_id: String,
    display_name: Option<String>,
    salt: String,
    crypt_hash: String,
    created_at: i64,
}

impl From<TransferRow> for Transfer {
    fn from(r: TransferRow) -> Transfer {
        Transfer {
            id: r.id,
            volume_id: r.volume_id,
            project_id: r.project_id,
            name: r.display_name,
            salt: r.salt,
            crypt_hash: r.crypt_hash,
            created_at: from_micros(r.created_at),
        }
    }
}

/// The listing's keys: Cinder sorts transfers by `created_at`, then `id`, always ascending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    CreatedAt,
    Id,
}

fn expr(k: Key, alias: &str) -> String {
    match k {
        Key::CreatedAt => format!("{alias}.created_at"),
        Key::Id => format!("{alias}.id"),
    }
}

/// The volume's snapshots inside the transaction: `(id, status)`.
async fn snapshots_of(
    conn: &mut SqliteConnection,
    volume_id: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    sqlx::query_as("SELECT id, status FROM snapshots WHERE volume_id = ? ORDER BY created_at, id")
        .bind(volume_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(err)
}

/// The conditions of an acceptance that hold or not before anything is claimed.
async fn acceptance_refused(
    conn: &mut SqliteConnection,
    a: &Acceptance,
) -> Result<Option<AcceptOutcome>, StoreError> {
    let found: Option<(String,)> = sqlx::query_as("SELECT volume_id FROM transfers WHERE id = ?")
        .bind(&a.transfer_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(err)?;
    if found.is_none_or(|(v,)| v != a.volume_id) {
        return Ok(Some(AcceptOutcome::NoSuchTransfer));
    }
    let status: Option<(String,)> = sqlx::query_as("SELECT status FROM volumes WHERE id = ?")
        .bind(&a.volume_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(err)?;
    if status.is_none_or(|(s,)| s != "awaiting-transfer") {
        return Ok(Some(AcceptOutcome::VolumeNotAwaiting));
    }
    let snapshots = snapshots_of(conn, &a.volume_id).await?;
    let now: BTreeSet<&str> = snapshots.iter().map(|(id, _)| id.as_str()).collect();
    let read: BTreeSet<&str> = a.snapshot_ids.iter().map(String::as_str).collect();
    if now != read {
        return Ok(Some(AcceptOutcome::SnapshotsChanged));
    }
    if let Some((id, _)) = snapshots.iter().find(|(_, s)| s != "available") {
        return Ok(Some(AcceptOutcome::SnapshotNotAvailable(id.clone())));
    }
    Ok(None)
}

#[async_trait]
impl TransferStore for SqlBlockStore {
    async fn create_transfer(&self, t: &Transfer) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        let offered = sqlx::query(&format!(
            "UPDATE volumes SET status = 'awaiting-transfer', updated_at = ?1 \
             WHERE id = ?2 AND status = 'available' AND attach_status = 'detached' \
             AND {NOT_MIGRATING} AND NOT EXISTS (SELECT 1 FROM snapshots s \
               WHERE s.volume_id = ?2 AND s.status <> 'available')"
        ))
        .bind(micros(Utc::now()))
        .bind(&t.volume_id)
        .execute(&mut *tx)
        .await
        .map_err(err)?
        .rows_affected()
            == 1;
        if !offered {
            tx.rollback().await.map_err(err)?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO transfers (id, volume_id, project_id, display_name, salt, crypt_hash, \
             created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&t.id)
        .bind(&t.volume_id)
        .bind(&t.project_id)
        .bind(&t.name)
        .bind(&t.salt)
        .bind(&t.crypt_hash)
        .bind(micros(t.created_at))
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(true)
    }

    async fn get_transfer(&self, id: &str) -> Result<Option<Transfer>, StoreError> {
        let row: Option<TransferRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM transfers t WHERE t.id = ?"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(err)?;
        Ok(row.map(Transfer::from))
    }

    async fn list_transfers(&self, q: &TransferQuery) -> Result<Vec<Transfer>, StoreError> {
        if q.match_nothing || q.limit == 0 {
            return Ok(vec![]);
        }
        if let Some(marker) = &q.marker {
            let found: Option<(i64,)> = sqlx::query_as(
                "SELECT 1 FROM transfers WHERE id = ? AND (? IS NULL OR project_id = ?)",
            )
            .bind(marker)
            .bind(&q.project_id)
            .bind(&q.project_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
            if found.is_none() {
                return Err(StoreError::NotFound(format!(
                    "Transfer {marker} could not be found."
                )));
            }
        }
        let mut b: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {COLUMNS} FROM transfers t WHERE 1 = 1"));
        for (column, value) in [
            ("project_id", &q.project_id),
            ("display_name", &q.name),
            ("volume_id", &q.volume_id),
            ("id", &q.id),
        ] {
            if let Some(v) = value {
                b.push(format!(" AND t.{column} = ")).push_bind(v.clone());
            }
        }
        push_page(
            &mut b,
            "transfers",
            "t",
            &[(Key::CreatedAt, SortDir::Asc), (Key::Id, SortDir::Asc)],
            Key::Id,
            expr,
            q.marker.as_deref(),
            q.limit,
            q.offset,
        );
        let rows: Vec<TransferRow> = b
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        Ok(rows.into_iter().map(Transfer::from).collect())
    }

    async fn delete_transfer(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        let gone: Option<(String,)> =
            sqlx::query_as("DELETE FROM transfers WHERE id = ? RETURNING volume_id")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(err)?;
        let Some((volume_id,)) = gone else {
            tx.rollback().await.map_err(err)?;
            return Ok(false);
        };
        // A volume no longer awaiting (Cinder logs that and deletes the offer all the same)
        // keeps its status.
        sqlx::query(
            "UPDATE volumes SET status = 'available', updated_at = ? \
             WHERE id = ? AND status = 'awaiting-transfer'",
        )
        .bind(micros(Utc::now()))
        .bind(&volume_id)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(true)
    }

    async fn accept_transfer(&self, a: &Acceptance) -> Result<AcceptOutcome, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if let Some(refused) = acceptance_refused(&mut tx, a).await? {
            tx.rollback().await.map_err(err)?;
            return Ok(refused);
        }
        let now = micros(Utc::now());
        // The volume's claim is checked before it moves and the snapshots' after, so that the
        // second sees the first's usage, as Cinder's second reservation does. An error drops
        // the transaction, and with it everything.
        claim::check(&mut tx, &a.volume_claim).await?;
        sqlx::query(
            "UPDATE volumes SET status = 'available', project_id = ?, user_id = ?, \
             updated_at = ? WHERE id = ? AND status = 'awaiting-transfer'",
        )
        .bind(&a.project_id)
        .bind(&a.user_id)
        .bind(now)
        .bind(&a.volume_id)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        claim::check(&mut tx, &a.snapshot_claim).await?;
        sqlx::query(
            "UPDATE snapshots SET project_id = ?, user_id = ?, updated_at = ? WHERE volume_id = ?",
        )
        .bind(&a.project_id)
        .bind(&a.user_id)
        .bind(now)
        .bind(&a.volume_id)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        sqlx::query("DELETE FROM transfers WHERE id = ?")
            .bind(&a.transfer_id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(AcceptOutcome::Accepted)
    }
}
