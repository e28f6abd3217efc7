//! [`SnapshotStore`] over sqlx: creation guarded by its volume's status, with its claim and
//! job; CAS transitions; metadata; removal.

use async_trait::async_trait;
use basalt_domain::jobs::Job;
use basalt_domain::metadata::Metadata;
use basalt_domain::ports::{QuotaClaim, SnapshotStore, SnapshotTransition, StoreError};
use basalt_domain::snapshot::{Snapshot, SnapshotQuery, SnapshotStatus, SnapshotUpdate};
use basalt_domain::volume::VolumeStatus;
use chrono::Utc;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::metadata_rows::SNAPSHOT_METADATA;
use super::snapshot_rows::{fetch_snapshots, load_snapshot, SNAPSHOT_COLUMNS, SNAPSHOT_FROM};
use super::volumes::{insert_job, NOT_MIGRATING};
use super::{claim, micros, push_in, SqlBlockStore};
use crate::error::store_err_domain as err;

async fn exists(conn: &mut SqliteConnection, id: &str) -> Result<bool, StoreError> {
    let found: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM snapshots WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(err)?;
    Ok(found.is_some())
}

async fn touch(conn: &mut SqliteConnection, id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE snapshots SET updated_at = ? WHERE id = ?")
        .bind(micros(Utc::now()))
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    Ok(())
}

async fn delete_job(conn: &mut SqliteConnection, job_id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM jobs WHERE id = ?")
        .bind(job_id)
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    Ok(())
}

#[async_trait]
impl SnapshotStore for SqlBlockStore {
    async fn create_snapshot(
        &self,
        s: &Snapshot,
        volume_from: &[VolumeStatus],
        claim: &QuotaClaim,
        job: &Job,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        let mut b: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT 1 FROM volumes WHERE id = ");
        b.push_bind(s.volume_id.clone()).push(" AND ");
        push_in(&mut b, "status", volume_from.iter().map(|st| st.as_str()));
        b.push(" AND ").push(NOT_MIGRATING);
        let volume_ok: Option<(i64,)> = b
            .build_query_as()
            .fetch_optional(&mut *tx)
            .await
            .map_err(err)?;
        if volume_ok.is_none() {
            tx.rollback().await.map_err(err)?;
            return Ok(false);
        }
        claim::check(&mut tx, claim).await?;
        sqlx::query(
            "INSERT INTO snapshots (id, project_id, user_id, volume_id, display_name, \
             display_description, volume_size, status, progress, volume_type_id, host, \
             use_quota, status_reason, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.id)
        .bind(&s.project_id)
        .bind(&s.user_id)
        .bind(&s.volume_id)
        .bind(&s.name)
        .bind(&s.description)
        .bind(s.size)
        .bind(s.status.as_str())
        .bind(&s.progress)
        .bind(&s.volume_type_id)
        .bind(&s.host)
        .bind(s.use_quota)
        .bind(&s.status_reason)
        .bind(micros(s.created_at))
        .bind(s.updated_at.map(micros))
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        SNAPSHOT_METADATA
            .upsert(&mut tx, &s.id, &s.metadata)
            .await?;
        insert_job(&mut tx, job).await?;
        tx.commit().await.map_err(err)?;
        Ok(true)
    }

    async fn get_snapshot(&self, id: &str) -> Result<Option<Snapshot>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(err)?;
        load_snapshot(&mut conn, id).await
    }

    async fn list_snapshots(&self, q: &SnapshotQuery) -> Result<Vec<Snapshot>, StoreError> {
        super::snapshot_list::list(&self.pool, q).await
    }

    async fn snapshots_of_volume(&self, volume_id: &str) -> Result<Vec<Snapshot>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(err)?;
        let mut b: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT {SNAPSHOT_COLUMNS} {SNAPSHOT_FROM} WHERE s.volume_id = "
        ));
        b.push_bind(volume_id.to_owned())
            .push(" ORDER BY s.created_at, s.id");
        fetch_snapshots(&mut conn, b).await
    }

    async fn snapshot_transition(&self, t: &SnapshotTransition) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        let mut b: QueryBuilder<Sqlite> = QueryBuilder::new("UPDATE snapshots SET status = ");
        b.push_bind(t.to.as_str())
            .push(", updated_at = ")
            .push_bind(micros(Utc::now()));
        if let Some(p) = &t.progress {
            b.push(", progress = ").push_bind(p.clone());
        }
        if let Some(q) = t.use_quota {
            b.push(", use_quota = ").push_bind(q);
        }
        if let Some(r) = &t.status_reason {
            b.push(", status_reason = ").push_bind(r.clone());
        }
        b.push(" WHERE id = ").push_bind(t.snapshot_id.clone());
        if !t.from.is_empty() {
            b.push(" AND ");
            push_in(&mut b, "status", t.from.iter().map(|s| s.as_str()));
        }
        if t.require_no_creating_volumes {
            b.push(
                " AND NOT EXISTS (SELECT 1 FROM volumes c WHERE c.status = 'creating' \
                 AND c.snapshot_id = ",
            )
            .push_bind(t.snapshot_id.clone())
            .push(")");
        }
        let applied = b
            .build()
            .execute(&mut *tx)
            .await
            .map_err(err)?
            .rows_affected()
            == 1;
        if !applied {
            tx.rollback().await.map_err(err)?;
            return Ok(false);
        }
        if let Some(job) = &t.enqueue {
            insert_job(&mut tx, job).await?;
        }
        if let Some(job_id) = &t.complete_job {
            delete_job(&mut tx, job_id).await?;
        }
        tx.commit().await.map_err(err)?;
        Ok(true)
    }

    async fn update_snapshot(&self, id: &str, u: &SnapshotUpdate) -> Result<bool, StoreError> {
        let mut b: QueryBuilder<Sqlite> = QueryBuilder::new("UPDATE snapshots SET updated_at = ");
        b.push_bind(micros(Utc::now()));
        if let Some(name) = &u.name {
            b.push(", display_name = ").push_bind(name.clone());
        }
        if let Some(d) = &u.description {
            b.push(", display_description = ").push_bind(d.clone());
        }
        b.push(" WHERE id = ").push_bind(id.to_owned());
        let updated = b
            .build()
            .execute(&self.pool)
            .await
            .map_err(err)?
            .rows_affected()
            == 1;
        Ok(updated)
    }

    async fn set_snapshot_metadata(
        &self,
        id: &str,
        md: &Metadata,
        replace: bool,
    ) -> Result<Option<Metadata>, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if !exists(&mut tx, id).await? {
            return Ok(None);
        }
        if replace {
            SNAPSHOT_METADATA.replace(&mut tx, id, md).await?;
        } else {
            SNAPSHOT_METADATA.upsert(&mut tx, id, md).await?;
        }
        touch(&mut tx, id).await?;
        let all = SNAPSHOT_METADATA.load(&mut tx, id).await?;
        tx.commit().await.map_err(err)?;
        Ok(Some(all))
    }

    async fn delete_snapshot_metadata_key(
        &self,
        id: &str,
        key: &str,
    ) -> Result<Option<bool>, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if !exists(&mut tx, id).await? {
            return Ok(None);
        }
        let removed =
            sqlx::query("DELETE FROM snapshot_metadata WHERE snapshot_id = ? AND key = ?")
                .bind(id)
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(err)?
                .rows_affected()
                == 1;
        if removed {
            touch(&mut tx, id).await?;
        }
        tx.commit().await.map_err(err)?;
        Ok(Some(removed))
    }

    async fn remove_snapshot(&self, id: &str, job_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        // Metadata goes with the row (ON DELETE CASCADE); usage with it (triggers).
        let removed = sqlx::query("DELETE FROM snapshots WHERE id = ? AND status = 'deleting'")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?
            .rows_affected()
            == 1;
        delete_job(&mut tx, job_id).await?;
        tx.commit().await.map_err(err)?;
        Ok(removed)
    }

    async fn snapshots_with_status(
        &self,
        statuses: &[SnapshotStatus],
    ) -> Result<Vec<Snapshot>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(err)?;
        let mut b: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {SNAPSHOT_COLUMNS} {SNAPSHOT_FROM} WHERE "));
        push_in(&mut b, "s.status", statuses.iter().map(|s| s.as_str()));
        b.push(" ORDER BY s.created_at, s.id");
        fetch_snapshots(&mut conn, b).await
    }
}
