//! Backup listings: filters, sort and keyset pagination in one parameterised query, as for
//! snapshots (`snapshot_list`).

use basalt_domain::backup::{Backup, BackupQuery, BackupSortKey};
use basalt_domain::ports::StoreError;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use super::backup_rows::{fetch_backups, BACKUP_COLUMNS, BACKUP_FROM};
use super::keyset::{parse_time, push_page};
use crate::error::store_err_domain as err;

/// The column of a sort or filter key, and whether it is nullable.
fn raw(k: BackupSortKey) -> (&'static str, bool) {
    use BackupSortKey::*;
    match k {
        Id => ("id", false),
        Name => ("display_name", true),
        Description => ("display_description", true),
        Status => ("status", false),
        Size => ("size", false),
        ObjectCount => ("object_count", false),
        VolumeId => ("volume_id", false),
        SnapshotId => ("snapshot_id", true),
        ProjectId => ("project_id", false),
        UserId => ("user_id", false),
        Container => ("container", true),
        AvailabilityZone => ("availability_zone", true),
        DataTimestamp => ("data_timestamp", true),
        CreatedAt => ("created_at", false),
        UpdatedAt => ("updated_at", true),
    }
}

/// The ordering expression under alias `a`: nullable columns are coalesced so that ordering
/// and keyset comparisons are total.
fn expr(k: BackupSortKey, a: &str) -> String {
    match raw(k) {
        (col @ ("updated_at" | "data_timestamp"), _) => format!("COALESCE({a}.{col}, 0)"),
        (col, true) => format!("COALESCE({a}.{col}, '')"),
        (col, false) => format!("{a}.{col}"),
    }
}

pub(crate) async fn list(pool: &SqlitePool, q: &BackupQuery) -> Result<Vec<Backup>, StoreError> {
    if q.match_nothing || q.limit == 0 {
        return Ok(vec![]);
    }
    let mut conn = pool.acquire().await.map_err(err)?;
    if let Some(marker) = &q.marker {
        let found: Option<(i64,)> =
            sqlx::query_as("SELECT 1 FROM backups WHERE id = ? AND (? IS NULL OR project_id = ?)")
                .bind(marker)
                .bind(&q.project_id)
                .bind(&q.project_id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(err)?;
        if found.is_none() {
            return Err(StoreError::NotFound(format!(
                "Backup {marker} could not be found."
            )));
        }
    }
    let mut b: QueryBuilder<Sqlite> =
        QueryBuilder::new(format!("SELECT {BACKUP_COLUMNS} {BACKUP_FROM} WHERE 1 = 1"));
    if let Some(p) = &q.project_id {
        b.push(" AND b.project_id = ").push_bind(p.clone());
    }
    for (k, value) in &q.filters {
        let column = format!(" AND b.{} = ", raw(*k).0);
        match k {
            BackupSortKey::CreatedAt | BackupSortKey::UpdatedAt | BackupSortKey::DataTimestamp => {
                match parse_time(value) {
                    Some(us) => {
                        b.push(column).push_bind(us);
                    }
                    None => return Ok(vec![]),
                }
            }
            BackupSortKey::Size | BackupSortKey::ObjectCount => match value.parse::<i64>() {
                Ok(n) => {
                    b.push(column).push_bind(n);
                }
                Err(_) => return Ok(vec![]),
            },
            _ => {
                b.push(column).push_bind(value.clone());
            }
        }
    }
    push_page(
        &mut b,
        "backups",
        "b",
        &q.sort,
        BackupSortKey::Id,
        expr,
        q.marker.as_deref(),
        q.limit,
        q.offset,
    );
    fetch_backups(&mut conn, b).await
}
