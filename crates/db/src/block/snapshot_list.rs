//! Snapshot listings: filters, sort and keyset pagination built as one parameterised query,
//! as for volumes (`volume_list`).
//!
//! A marker page continues strictly after the marker row in the requested order. When every
//! sort key runs the same way, the condition is a row-value comparison, which SQLite answers
//! from the `(project_id, created_at, id)` index for the default order.

use basalt_domain::ports::StoreError;
use basalt_domain::snapshot::{Snapshot, SnapshotQuery, SnapshotSortKey};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use super::keyset::{parse_time, push_page};
use super::snapshot_rows::{fetch_snapshots, SNAPSHOT_COLUMNS, SNAPSHOT_FROM};
use crate::error::store_err_domain as err;

/// The column of a sort or filter key, and whether it is nullable text.
fn raw(k: SnapshotSortKey) -> (&'static str, bool) {
    use SnapshotSortKey::*;
    match k {
        Id => ("id", false),
        Name => ("display_name", true),
        Description => ("display_description", true),
        Status => ("status", false),
        Size => ("volume_size", false),
        Progress => ("progress", false),
        VolumeId => ("volume_id", false),
        ProjectId => ("project_id", false),
        UserId => ("user_id", false),
        CreatedAt => ("created_at", false),
        UpdatedAt => ("updated_at", false),
    }
}

/// The ordering expression under table alias `a`: nullable columns are coalesced so that
/// ordering and keyset comparisons are total.
fn expr(k: SnapshotSortKey, a: &str) -> String {
    match raw(k) {
        ("updated_at", _) => format!("COALESCE({a}.updated_at, 0)"),
        (col, true) => format!("COALESCE({a}.{col}, '')"),
        (col, false) => format!("{a}.{col}"),
    }
}

pub(crate) async fn list(
    pool: &SqlitePool,
    q: &SnapshotQuery,
) -> Result<Vec<Snapshot>, StoreError> {
    if q.match_nothing || q.limit == 0 {
        return Ok(vec![]);
    }
    let mut conn = pool.acquire().await.map_err(err)?;
    if let Some(marker) = &q.marker {
        let found: Option<(i64,)> = sqlx::query_as(
            "SELECT 1 FROM snapshots WHERE id = ? AND (? IS NULL OR project_id = ?)",
        )
        .bind(marker)
        .bind(&q.project_id)
        .bind(&q.project_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(err)?;
        if found.is_none() {
            // Cinder looks the marker up as a snapshot: SnapshotNotFound.
            return Err(StoreError::NotFound(format!(
                "Snapshot {marker} could not be found."
            )));
        }
    }

    let mut b: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
        "SELECT {SNAPSHOT_COLUMNS} {SNAPSHOT_FROM} WHERE 1 = 1"
    ));
    if let Some(p) = &q.project_id {
        b.push(" AND s.project_id = ").push_bind(p.clone());
    }
    // Exact matches on the raw column (NULL never equals a value, as in Cinder).
    for (k, value) in &q.filters {
        let column = format!(" AND s.{} = ", raw(*k).0);
        match k {
            SnapshotSortKey::CreatedAt | SnapshotSortKey::UpdatedAt => match parse_time(value) {
                Some(us) => {
                    b.push(column).push_bind(us);
                }
                None => return Ok(vec![]),
            },
            SnapshotSortKey::Size => match value.parse::<i64>() {
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
        "snapshots",
        "s",
        &q.sort,
        SnapshotSortKey::Id,
        expr,
        q.marker.as_deref(),
        q.limit,
        q.offset,
    );
    fetch_snapshots(&mut conn, b).await
}
