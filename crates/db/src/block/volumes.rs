//! [`VolumeStore`] over sqlx: creation with its claim, source check and job, CAS transitions
//! (with the rules a volume's snapshots impose on them, and the attachments and admin metadata
//! that go with them), guarded metadata changes and removal.

use async_trait::async_trait;
use basalt_domain::jobs::Job;
use basalt_domain::metadata::Metadata;
use basalt_domain::ports::{
    Guarded, QuotaClaim, SnapshotChange, SnapshotRule, SourceGuard, StoreError, Transition,
    VolumeStore,
};
use basalt_domain::snapshot::SnapshotStatus;
use basalt_domain::volume::{Attachment, Volume, VolumeQuery, VolumeStatus, VolumeUpdate};
use chrono::Utc;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::metadata_rows::VOLUME_METADATA;
use super::rows::{fetch_volumes, load_volume, VOLUME_COLUMNS, VOLUME_FROM};
use super::{claim, micros, push_in, push_not_in, SqlBlockStore};
use crate::error::store_err_domain as err;

/// "Not migrating" in Cinder's sense, over the columns of `volumes`.
pub(crate) const NOT_MIGRATING: &str =
    "(migration_status IS NULL OR migration_status IN ('deleting', 'error', 'success'))";

pub(crate) async fn insert_job(conn: &mut SqliteConnection, job: &Job) -> Result<(), StoreError> {
    let payload =
        serde_json::to_string(&job.kind).map_err(|e| StoreError::Backend(e.to_string()))?;
    sqlx::query(
        "INSERT INTO jobs (id, subject_id, kind, payload, attempts, run_after, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&job.id)
    .bind(&job.subject_id)
    .bind(job.kind.name())
    .bind(payload)
    .bind(i64::from(job.attempts))
    .bind(micros(job.run_after))
    .bind(micros(Utc::now()))
    .execute(&mut *conn)
    .await
    .map_err(err)?;
    Ok(())
}

/// Inserts a volume row and its metadata (a create, or a restore to a new volume).
pub(crate) async fn insert_volume(
    conn: &mut SqliteConnection,
    v: &Volume,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO volumes (id, project_id, user_id, display_name, display_description, \
         size, new_size, status, attach_status, migration_status, availability_zone, \
         volume_type_id, snapshot_id, source_volid, bootable, multiattach, encrypted, \
         replication_status, consistencygroup_id, group_id, host, use_quota, status_reason, \
         created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&v.id)
    .bind(&v.project_id)
    .bind(&v.user_id)
    .bind(&v.name)
    .bind(&v.description)
    .bind(v.size)
    .bind(v.new_size)
    .bind(v.status.as_str())
    .bind(v.attach_status.as_str())
    .bind(&v.migration_status)
    .bind(&v.availability_zone)
    .bind(&v.volume_type_id)
    .bind(&v.snapshot_id)
    .bind(&v.source_volid)
    .bind(v.bootable)
    .bind(v.multiattach)
    .bind(v.encrypted)
    .bind(&v.replication_status)
    .bind(&v.consistencygroup_id)
    .bind(&v.group_id)
    .bind(&v.host)
    .bind(v.use_quota)
    .bind(&v.status_reason)
    .bind(micros(v.created_at))
    .bind(v.updated_at.map(micros))
    .execute(&mut *conn)
    .await
    .map_err(err)?;
    VOLUME_METADATA.upsert(conn, &v.id, &v.metadata).await?;
    Ok(())
}

/// Applies a snapshot's part of a volume transition; false when its condition does not hold.
async fn change_snapshot(
    conn: &mut SqliteConnection,
    volume_id: &str,
    c: &SnapshotChange,
) -> Result<bool, StoreError> {
    let mut b: QueryBuilder<Sqlite> = QueryBuilder::new("UPDATE snapshots SET status = ");
    b.push_bind(c.to.as_str())
        .push(", updated_at = ")
        .push_bind(micros(Utc::now()))
        .push(" WHERE id = ")
        .push_bind(c.snapshot_id.clone())
        .push(" AND volume_id = ")
        .push_bind(volume_id.to_owned())
        .push(" AND ");
    push_in(&mut b, "status", c.from.iter().map(|s| s.as_str()));
    if c.must_be_latest {
        b.push(
            " AND NOT EXISTS (SELECT 1 FROM snapshots later WHERE later.volume_id = \
             snapshots.volume_id AND (later.created_at, later.id) > \
             (snapshots.created_at, snapshots.id))",
        );
    }
    Ok(b.build()
        .execute(&mut *conn)
        .await
        .map_err(err)?
        .rows_affected()
        == 1)
}

async fn insert_attachment(
    conn: &mut SqliteConnection,
    volume_id: &str,
    a: &Attachment,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO volume_attachments (id, volume_id, instance_uuid, attached_host, \
         mountpoint, attach_mode, attached_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&a.id)
    .bind(volume_id)
    .bind(&a.instance_uuid)
    .bind(&a.attached_host)
    .bind(&a.mountpoint)
    .bind(&a.mode)
    .bind(a.attached_at.map(micros))
    .execute(&mut *conn)
    .await
    .map_err(err)?;
    Ok(())
}

/// Removes one of the volume's attachments; false when it has no such attachment.
async fn remove_attachment(
    conn: &mut SqliteConnection,
    volume_id: &str,
    attachment_id: &str,
) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("DELETE FROM volume_attachments WHERE id = ? AND volume_id = ?")
            .bind(attachment_id)
            .bind(volume_id)
            .execute(&mut *conn)
            .await
            .map_err(err)?
            .rows_affected()
            == 1,
    )
}

/// Sets (`Some`) or removes (`None`) admin metadata keys.
async fn set_admin_metadata(
    conn: &mut SqliteConnection,
    volume_id: &str,
    changes: &[(String, Option<String>)],
) -> Result<(), StoreError> {
    for (key, value) in changes {
        match value {
            Some(value) => sqlx::query(
                "INSERT INTO volume_admin_metadata (volume_id, key, value) VALUES (?, ?, ?) \
                 ON CONFLICT (volume_id, key) DO UPDATE SET value = excluded.value",
            )
            .bind(volume_id)
            .bind(key)
            .bind(value),
            None => {
                sqlx::query("DELETE FROM volume_admin_metadata WHERE volume_id = ? AND key = ?")
                    .bind(volume_id)
                    .bind(key)
            }
        }
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    }
    Ok(())
}

/// The status of a volume inside a transaction, or `NoSuchVolume` / `Refused`.
async fn guard(
    conn: &mut SqliteConnection,
    id: &str,
    refuse: &[VolumeStatus],
) -> Result<Option<Guarded<()>>, StoreError> {
    let status: Option<(String,)> = sqlx::query_as("SELECT status FROM volumes WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(err)?;
    Ok(match status.and_then(|(s,)| VolumeStatus::parse(&s)) {
        None => Some(Guarded::NoSuchVolume),
        Some(s) if refuse.contains(&s) => Some(Guarded::Refused(s)),
        Some(_) => None,
    })
}

async fn touch(conn: &mut SqliteConnection, id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE volumes SET updated_at = ? WHERE id = ?")
        .bind(micros(Utc::now()))
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    Ok(())
}

/// Whether the source a volume is created from may still be copied: a snapshot `available`,
/// a volume `available` or `in-use`.
async fn source_usable(
    conn: &mut SqliteConnection,
    source: &SourceGuard,
) -> Result<bool, StoreError> {
    let (sql, id) = match source {
        SourceGuard::Snapshot(id) => (
            "SELECT 1 FROM snapshots WHERE id = ? AND status = 'available'",
            id,
        ),
        SourceGuard::Volume(id) => (
            "SELECT 1 FROM volumes WHERE id = ? AND status IN ('available', 'in-use')",
            id,
        ),
    };
    let found: Option<(i64,)> = sqlx::query_as(sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(err)?;
    Ok(found.is_some())
}

/// The part of a transition's condition that its [`SnapshotRule`] adds.
fn push_snapshot_rule(b: &mut QueryBuilder<'_, Sqlite>, volume_id: &str, rule: &SnapshotRule) {
    const CREATING_FROM_VOLUME: &str =
        "SELECT 1 FROM volumes c WHERE c.status = 'creating' AND (c.source_volid = ";
    match rule {
        SnapshotRule::Ignore => {}
        SnapshotRule::Refuse => {
            // No snapshot, and no volume being created from this one.
            b.push(" AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.volume_id = ")
                .push_bind(volume_id.to_owned())
                .push(") AND NOT EXISTS (")
                .push(CREATING_FROM_VOLUME)
                .push_bind(volume_id.to_owned())
                .push("))");
        }
        SnapshotRule::Cascade(ids) => {
            // Every snapshot is one of `ids` (read just before) and may be cascaded...
            b.push(" AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.volume_id = ")
                .push_bind(volume_id.to_owned())
                .push(" AND (");
            push_not_in(b, "s.id", ids.iter().map(String::as_str));
            b.push(" OR ");
            let cascadable = SnapshotStatus::CASCADABLE.iter().map(|st| st.as_str());
            push_not_in(b, "s.status", cascadable);
            // ... and no volume is being created from the volume or from one of them.
            b.push(")) AND NOT EXISTS (")
                .push(CREATING_FROM_VOLUME)
                .push_bind(volume_id.to_owned())
                .push(" OR c.snapshot_id IN (SELECT s.id FROM snapshots s WHERE s.volume_id = ")
                .push_bind(volume_id.to_owned())
                .push(")))");
        }
    }
}

#[async_trait]
impl VolumeStore for SqlBlockStore {
    async fn create_volume(
        &self,
        v: &Volume,
        source: Option<&SourceGuard>,
        claim: &QuotaClaim,
        job: &Job,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if let Some(source) = source {
            if !source_usable(&mut tx, source).await? {
                tx.rollback().await.map_err(err)?;
                return Ok(false);
            }
        }
        claim::check(&mut tx, claim).await?;
        insert_volume(&mut tx, v).await?;
        insert_job(&mut tx, job).await?;
        tx.commit().await.map_err(err)?;
        Ok(true)
    }

    async fn record_unplaced_volume(&self, v: &Volume) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        insert_volume(&mut tx, v).await?;
        tx.commit().await.map_err(err)?;
        Ok(())
    }

    async fn get_volume(&self, id: &str) -> Result<Option<Volume>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(err)?;
        load_volume(&mut conn, id).await
    }

    async fn list_volumes(&self, q: &VolumeQuery) -> Result<Vec<Volume>, StoreError> {
        super::volume_list::list(&self.pool, q).await
    }

    async fn transition(&self, t: &Transition) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if let Some(c) = &t.claim {
            claim::check(&mut tx, c).await?;
        }
        let mut b: QueryBuilder<Sqlite> = QueryBuilder::new("UPDATE volumes SET status = ");
        b.push_bind(t.to.as_str())
            .push(", updated_at = ")
            .push_bind(micros(Utc::now()));
        let c = &t.changes;
        if let Some(size) = c.size {
            b.push(", size = ").push_bind(size);
        }
        if let Some(n) = c.new_size {
            b.push(", new_size = ").push_bind(n);
        }
        if let Some(q) = c.use_quota {
            b.push(", use_quota = ").push_bind(q);
        }
        if let Some(r) = &c.status_reason {
            b.push(", status_reason = ").push_bind(r.clone());
        }
        if let Some(h) = &c.host {
            b.push(", host = ").push_bind(h.clone());
        }
        if let Some(a) = c.attach_status {
            b.push(", attach_status = ").push_bind(a.as_str());
        }
        if let Some(boot) = c.bootable {
            b.push(", bootable = ").push_bind(boot);
        }
        if let Some(m) = &c.migration_status {
            b.push(", migration_status = ").push_bind(m.clone());
        }
        if let Some(ty) = &c.volume_type_id {
            b.push(", volume_type_id = ").push_bind(ty.clone());
        }
        if let Some(z) = &c.availability_zone {
            b.push(", availability_zone = ").push_bind(z.clone());
        }
        b.push(" WHERE id = ").push_bind(t.volume_id.clone());
        b.push(" AND ");
        push_in(&mut b, "status", t.from.iter().map(|s| s.as_str()));
        if t.require_detached {
            b.push(" AND attach_status = 'detached'");
        }
        if t.require_not_migrating {
            b.push(" AND ").push(NOT_MIGRATING);
        }
        if t.require_not_attached {
            b.push(" AND attach_status <> 'attached'");
        }
        if t.require_no_job {
            b.push(" AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.subject_id = volumes.id)");
        }
        if let Some(m) = &t.migration_in {
            b.push(" AND ");
            push_in(&mut b, "migration_status", m.iter().map(String::as_str));
        }
        push_snapshot_rule(&mut b, &t.volume_id, &t.snapshots);
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
        if let SnapshotRule::Cascade(_) = t.snapshots {
            // The condition held: every snapshot of the volume goes with it.
            sqlx::query(
                "UPDATE snapshots SET status = 'deleting', updated_at = ? WHERE volume_id = ?",
            )
            .bind(micros(Utc::now()))
            .bind(&t.volume_id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
        if let Some(change) = &t.snapshot {
            let moved = change_snapshot(&mut tx, &t.volume_id, change).await?;
            if !moved && change.required {
                tx.rollback().await.map_err(err)?;
                return Ok(false);
            }
        }
        if let Some(a) = &c.remove_attachment {
            if !remove_attachment(&mut tx, &t.volume_id, a).await? {
                tx.rollback().await.map_err(err)?;
                return Ok(false);
            }
        }
        if c.remove_all_attachments {
            sqlx::query("DELETE FROM volume_attachments WHERE volume_id = ?")
                .bind(&t.volume_id)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        if let Some(a) = &c.add_attachment {
            insert_attachment(&mut tx, &t.volume_id, a).await?;
        }
        set_admin_metadata(&mut tx, &t.volume_id, &c.admin_metadata).await?;
        if let Some(job) = &t.enqueue {
            insert_job(&mut tx, job).await?;
        }
        if let Some(job_id) = &t.complete_job {
            sqlx::query("DELETE FROM jobs WHERE id = ?")
                .bind(job_id)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        Ok(true)
    }

    async fn update_volume(
        &self,
        id: &str,
        u: &VolumeUpdate,
        refuse: &[VolumeStatus],
    ) -> Result<Guarded<()>, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if let Some(g) = guard(&mut tx, id, refuse).await? {
            return Ok(g);
        }
        if let Some(name) = &u.name {
            sqlx::query("UPDATE volumes SET display_name = ? WHERE id = ?")
                .bind(name)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        if let Some(d) = &u.description {
            sqlx::query("UPDATE volumes SET display_description = ? WHERE id = ?")
                .bind(d)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        if let Some(md) = &u.metadata {
            VOLUME_METADATA.replace(&mut tx, id, md).await?;
        }
        touch(&mut tx, id).await?;
        tx.commit().await.map_err(err)?;
        Ok(Guarded::Done(()))
    }

    async fn set_metadata(
        &self,
        id: &str,
        md: &Metadata,
        replace: bool,
        refuse: &[VolumeStatus],
    ) -> Result<Guarded<Metadata>, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if let Some(g) = guard(&mut tx, id, refuse).await? {
            return Ok(match g {
                Guarded::Refused(s) => Guarded::Refused(s),
                _ => Guarded::NoSuchVolume,
            });
        }
        if replace {
            VOLUME_METADATA.replace(&mut tx, id, md).await?;
        } else {
            VOLUME_METADATA.upsert(&mut tx, id, md).await?;
        }
        touch(&mut tx, id).await?;
        let all = VOLUME_METADATA.load(&mut tx, id).await?;
        tx.commit().await.map_err(err)?;
        Ok(Guarded::Done(all))
    }

    async fn delete_metadata_key(
        &self,
        id: &str,
        key: &str,
        refuse: &[VolumeStatus],
    ) -> Result<Guarded<bool>, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        if let Some(g) = guard(&mut tx, id, refuse).await? {
            return Ok(match g {
                Guarded::Refused(s) => Guarded::Refused(s),
                _ => Guarded::NoSuchVolume,
            });
        }
        let removed = sqlx::query("DELETE FROM volume_metadata WHERE volume_id = ? AND key = ?")
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
        Ok(Guarded::Done(removed))
    }

    async fn remove_volume(&self, id: &str, job_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await.map_err(err)?;
        // A cascade: a volume goes `deleting` only with no snapshot, or with all of them
        // named in its job, so every snapshot row left went from storage with it, whatever its
        // own delete job (which may have failed meanwhile) made of its status. Those jobs have
        // nothing left to do; they go first, being found through the snapshot rows.
        let cascaded = "SELECT id FROM snapshots WHERE volume_id = ?1 \
             AND EXISTS (SELECT 1 FROM volumes WHERE id = ?1 AND status = 'deleting')";
        for table_and_key in ["jobs WHERE subject_id", "snapshots WHERE id"] {
            sqlx::query(&format!("DELETE FROM {table_and_key} IN ({cascaded})"))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        // Metadata, attachments and exports go with the row (foreign keys ON DELETE CASCADE).
        let removed = sqlx::query("DELETE FROM volumes WHERE id = ? AND status = 'deleting'")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?
            .rows_affected()
            == 1;
        sqlx::query("DELETE FROM jobs WHERE id = ?")
            .bind(job_id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(removed)
    }

    async fn volumes_with_status(
        &self,
        statuses: &[VolumeStatus],
    ) -> Result<Vec<Volume>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(err)?;
        let mut b: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {VOLUME_COLUMNS} {VOLUME_FROM} WHERE "));
        push_in(&mut b, "v.status", statuses.iter().map(|s| s.as_str()));
        fetch_volumes(&mut conn, b).await
    }
}
