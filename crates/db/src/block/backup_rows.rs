//! Reading backup rows back into domain backups; `has_dependent_backups` is computed from
//! the children's `parent_id` in the same query.

use basalt_domain::backup::{Backup, BackupStatus};
use basalt_domain::ports::StoreError;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::from_micros;
use crate::error::store_err_domain as err;

/// Columns of `backups b`, in `BackupRow`'s order.
pub(crate) const BACKUP_COLUMNS: &str = "b.id, b.project_id, b.user_id, b.volume_id, \
    b.snapshot_id, b.display_name, b.display_description, b.container, b.availability_zone, \
    b.host, b.status, b.fail_reason, b.size, b.object_count, b.parent_id, \
    b.restore_volume_id, b.data_timestamp, b.created_at, b.updated_at, \
    EXISTS (SELECT 1 FROM backups c WHERE c.parent_id = b.id) AS has_children";

pub(crate) const BACKUP_FROM: &str = "FROM backups b";

#[derive(sqlx::FromRow)]
struct BackupRow {
    id: String,
    project_id: String,
    user_id: String,
    volume_id: String,
    snapshot_id: Option<String>,
    display_name: Option<String>,
    display_description: Option<String>,
    container: Option<String>,
    availability_zone: Option<String>,
    host: Option<String>,
    status: String,
    fail_reason: Option<String>,
    size: i64,
    object_count: i64,
    parent_id: Option<String>,
    restore_volume_id: Option<String>,
    data_timestamp: Option<i64>,
    created_at: i64,
    updated_at: Option<i64>,
    has_children: bool,
}

impl BackupRow {
    fn into_backup(self) -> Result<Backup, StoreError> {
        let status = BackupStatus::parse(&self.status)
            .ok_or_else(|| StoreError::Backend(format!("unknown backup status {}", self.status)))?;
        Ok(Backup {
            id: self.id,
            project_id: self.project_id,
            user_id: self.user_id,
            volume_id: self.volume_id,
            snapshot_id: self.snapshot_id,
            name: self.display_name,
            description: self.display_description,
            container: self.container,
            availability_zone: self.availability_zone,
            host: self.host,
            status,
            fail_reason: self.fail_reason,
            size: self.size,
            object_count: self.object_count,
            parent_id: self.parent_id,
            has_dependent_backups: self.has_children,
            restore_volume_id: self.restore_volume_id,
            data_timestamp: self.data_timestamp.map(from_micros),
            created_at: from_micros(self.created_at),
            updated_at: self.updated_at.map(from_micros),
        })
    }
}

/// Runs a query built on `BACKUP_COLUMNS`/`BACKUP_FROM`.
pub(crate) async fn fetch_backups(
    conn: &mut SqliteConnection,
    mut query: QueryBuilder<'_, Sqlite>,
) -> Result<Vec<Backup>, StoreError> {
    let rows: Vec<BackupRow> = query
        .build_query_as()
        .fetch_all(&mut *conn)
        .await
        .map_err(err)?;
    rows.into_iter().map(BackupRow::into_backup).collect()
}

pub(crate) async fn load_backup(
    conn: &mut SqliteConnection,
    id: &str,
) -> Result<Option<Backup>, StoreError> {
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
        "SELECT {BACKUP_COLUMNS} {BACKUP_FROM} WHERE b.id = "
    ));
    q.push_bind(id.to_owned());
    Ok(fetch_backups(conn, q).await?.pop())
}
