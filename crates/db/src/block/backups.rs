//! [`BackupStore`] over sqlx: creation guarded by the volume's (and snapshot's, and
//! parent's) status, with its claim and job; CAS transitions that carry the volume's and
//! snapshot's status changes and, for a restore to a new volume, the volume's row and claim.

use async_trait::async_trait;
use basalt_domain::backup::{
    Backup, BackupClaim, BackupQuery, BackupStatus, BackupStore, BackupTransition, NewBackupGuards,
    StatusChange,
};
use basalt_domain::jobs::Job;
use basalt_domain::ports::StoreError;
use basalt_domain::snapshot::SnapshotStatus;
use basalt_domain::volume::VolumeStatus;
use chrono::Utc;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::backup_rows::{fetch_backups, load_backup, BACKUP_COLUMNS, BACKUP_FROM};
use super::volumes::{insert_job, insert_volume, NOT_MIGRATING};
use super::{backup_usage, claim, micros, push_in, SqlBlockStore};
use crate::error::store_err_domain as err;

async fn delete_job(conn: &mut SqliteConnection, job_id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM jobs WHERE id = ?")
        .bind(job_id)
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    Ok(())
}

/// A volume's or snapshot's status change in wire names.
struct Change<'a> {
    id: &'a str,
    from: Vec<&'static str>,
    to: &'static str,
    reason: Option<&'a Option<String>>,
}

fn volume_change(c: &StatusChange<VolumeStatus>) -> Change<'_> {
    Change {
        id: &c.id,
        from: c.from.iter().map(|s| s.as_str()).collect(),
        to: c.to.as_str(),
        reason: c.reason.as_ref(),
    }
}

fn snapshot_change(c: &StatusChange<SnapshotStatus>) -> Change<'_> {
    Change {
        id: &c.id,
        from: c.from.iter().map(|s| s.as_str()).collect(),
        to: c.to.as_str(),
        reason: None,
    }
}

/// `UPDATE <table> SET status = to WHERE id AND status IN from`; whether a row changed.
async fn change_status(
    conn: &mut SqliteConnection,
    table: &str,
    c: Change<'_>,
) -> Result<bool, StoreError> {
    let mut b: QueryBuilder<Sqlite> = QueryBuilder::new(format!("UPDATE {table} SET status = "));
    b.push_bind(c.to)
        .push(", updated_at = ")
        .push_bind(micros(Utc::now()));
    if let Some(r) = c.reason {
        b.push(", status_reason = ").push_bind(r.clone());
    }
    b.push(" WHERE id = ")
        .push_bind(c.id.to_owned())
        .push(" AND ");
    push_in(&mut b, "status", c.from);
    Ok(b.build()
        .execute(&mut *conn)
        .await
        .map_err(err)?
        .rows_affected()
        == 1)
}

async fn insert(
    conn: &mut SqliteConnection,
    b: &Backup,
    or_ignore: bool,
) -> Result<bool, StoreError> {
    let conflict = if or_ignore {
        " ON CONFLICT (id) DO NOTHING"
    } else {
        ""
    };
    let done = sqlx::query(&format!(
        "INSERT INTO backups (id, project_id, user_id, volume_id, snapshot_id, display_name, \
         display_description, container, availability_zone, host, status, fail_reason, size, \
         object_count, parent_id, restore_volume_id, data_timestamp, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?){conflict}"
    ))
    .bind(&b.id)
    .bind(&b.project_id)
    .bind(&b.user_id)
    .bind(&b.volume_id)
    .bind(&b.snapshot_id)
    .bind(&b.name)
    .bind(&b.description)
    .bind(&b.container)
    .bind(&b.availability_zone)
    .bind(&b.host)
    .bind(b.status.as_str())
    .bind(&b.fail_reason)
    .bind(b.size)
    .bind(b.object_count)
    .bind(&b.parent_id)
    .bind(&b.restore_volume_id)
    .bind(b.data_timestamp.map(micros))
    .bind(micros(b.created_at))
    .bind(b.updated_at.map(micros))
    .execute(&mut *conn)
    .await
    .map_err(err)?;
    Ok(done.rows_affected() == 1)
}

/// Whether the guards of a new backup hold, applying the volume's and snapshot's changes.
async fn guard(
    conn: &mut SqliteConnection,
    b: &Backup,
    g: &NewBackupGuards,
) -> Result<bool, StoreError> {
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT 1 FROM volumes WHERE id = ");
    q.push_bind(b.volume_id.clone()).push(" AND ");
    push_in(&mut q, "status", g.volume_from.iter().map(|s| s.as_str()));
    q.push(" AND ").push(NOT_MIGRATING);
    let volume_ok: Option<(i64,)> = q
        .build_query_as()
        .fetch_optional(&mut *conn)
        .await
        .map_err(err)?;
    if volume_ok.is_none() {
        return Ok(false);
    }
    if let Some(to) = g.volume_to {
        let c = StatusChange::required(&b.volume_id, &g.volume_from, to);
        if !change_status(conn, "volumes", volume_change(&c)).await? {
            return Ok(false);
        }
    }
    if let Some(s) = &g.snapshot {
        let c = StatusChange::required(s, &[SnapshotStatus::Available], SnapshotStatus::BackingUp);
        if !change_status(conn, "snapshots", snapshot_change(&c)).await? {
            return Ok(false);
        }
    }
    if let Some(p) = &g.parent {
        let parent_ok: Option<(i64,)> = sqlx::query_as(
            "SELECT 1 FROM backups WHERE id = ? AND volume_id = ? AND status = 'available'",
        )
        .bind(p)
        .bind(&b.volume_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(err)?;
        if parent_ok.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

#[async_trait]
impl BackupStore for SqlBlockStore {
    async fn create_backup(
        &self,
        b: &Backup,
        guards: &NewBackupGuards,
        claim: &BackupClaim,
        job: &Job,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if !guard(&mut tx, b, guards).await? {
            tx.rollback().await.map_err(err)?;
            return Ok(false);
        }
        backup_usage::check(&mut tx, claim).await?;
        insert(&mut tx, b, false).await?;
        insert_job(&mut tx, job).await?;
        tx.commit().await.map_err(err)?;
        Ok(true)
    }

    async fn insert_backup(&self, b: &Backup) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        let inserted = insert(&mut tx, b, true).await?;
        tx.commit().await.map_err(err)?;
        Ok(inserted)
    }

    async fn get_backup(&self, id: &str) -> Result<Option<Backup>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(err)?;
        load_backup(&mut conn, id).await
    }

    async fn list_backups(&self, q: &BackupQuery) -> Result<Vec<Backup>, StoreError> {
        super::backup_list::list(&self.pool, q).await
    }

    async fn latest_backup_of(&self, volume_id: &str) -> Result<Option<Backup>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(err)?;
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT {BACKUP_COLUMNS} {BACKUP_FROM} WHERE b.volume_id = "
        ));
        // A backup still being made has no data timestamp yet: its creation stands in.
        q.push_bind(volume_id.to_owned()).push(
            " ORDER BY COALESCE(b.data_timestamp, b.created_at) DESC, b.created_at DESC LIMIT 1",
        );
        Ok(fetch_backups(&mut conn, q).await?.pop())
    }

    async fn backup_transition(&self, t: &BackupTransition) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if let Some((v, c)) = &t.new_volume {
            claim::check(&mut tx, c).await?;
            insert_volume(&mut tx, v).await?;
        }
        let mut b: QueryBuilder<Sqlite> = QueryBuilder::new("UPDATE backups SET status = ");
        b.push_bind(t.to.as_str())
            .push(", updated_at = ")
            .push_bind(micros(Utc::now()));
        if let Some(r) = &t.fail_reason {
            b.push(", fail_reason = ").push_bind(r.clone());
        }
        if let Some(n) = t.object_count {
            b.push(", object_count = ").push_bind(n);
        }
        if let Some(ts) = t.data_timestamp {
            b.push(", data_timestamp = ").push_bind(micros(ts));
        }
        if let Some(v) = &t.restore_volume_id {
            b.push(", restore_volume_id = ").push_bind(v.clone());
        }
        b.push(" WHERE id = ").push_bind(t.backup_id.clone());
        if !t.from.is_empty() {
            b.push(" AND ");
            push_in(&mut b, "status", t.from.iter().map(|s| s.as_str()));
        }
        if t.require_no_children {
            b.push(" AND NOT EXISTS (SELECT 1 FROM backups c WHERE c.parent_id = ")
                .push_bind(t.backup_id.clone())
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
        if let Some(c) = &t.volume {
            if !change_status(&mut tx, "volumes", volume_change(c)).await? && c.required {
                tx.rollback().await.map_err(err)?;
                return Ok(false);
            }
        }
        if let Some(c) = &t.snapshot {
            if !change_status(&mut tx, "snapshots", snapshot_change(c)).await? && c.required {
                tx.rollback().await.map_err(err)?;
                return Ok(false);
            }
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

    async fn remove_backup(&self, id: &str, job_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        let removed = sqlx::query("DELETE FROM backups WHERE id = ? AND status = 'deleting'")
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

    async fn backups_with_status(
        &self,
        statuses: &[BackupStatus],
    ) -> Result<Vec<Backup>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(err)?;
        let mut b: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {BACKUP_COLUMNS} {BACKUP_FROM} WHERE "));
        push_in(&mut b, "b.status", statuses.iter().map(|s| s.as_str()));
        b.push(" ORDER BY b.created_at, b.id");
        fetch_backups(&mut conn, b).await
    }
}
