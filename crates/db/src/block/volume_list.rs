//! Volume listings: filters, sort and keyset pagination built as one parameterised query.
//!
//! A marker page continues strictly after the marker row in the requested order. When every
//! sort key runs the same way, the condition is a row-value comparison, which SQLite answers
//! from the `(project_id, created_at, id)` index for the default order: the cost of a page does
//! not grow with the number of volumes.

use basalt_domain::ports::StoreError;
use basalt_domain::volume::{FilterValue, SortKey, Volume, VolumeQuery};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use super::keyset::{parse_time, push_page};
use super::rows::{fetch_volumes, VOLUME_COLUMNS, VOLUME_FROM};
use crate::error::store_err_domain as err;

/// The column of a sort or filter key, and whether it is nullable text.
fn raw(k: SortKey) -> (&'static str, bool) {
    use SortKey::*;
    match k {
        Id => ("id", false),
        Name => ("display_name", true),
        Description => ("display_description", true),
        Status => ("status", false),
        Size => ("size", false),
        AvailabilityZone => ("availability_zone", false),
        CreatedAt => ("created_at", false),
        UpdatedAt => ("updated_at", false),
        Bootable => ("bootable", false),
        ProjectId => ("project_id", false),
        UserId => ("user_id", false),
        Host => ("host", true),
        VolumeTypeId => ("volume_type_id", false),
        AttachStatus => ("attach_status", false),
        MigrationStatus => ("migration_status", true),
        Multiattach => ("multiattach", false),
        SnapshotId => ("snapshot_id", true),
        SourceVolid => ("source_volid", true),
        ReplicationStatus => ("replication_status", false),
        ConsistencygroupId => ("consistencygroup_id", true),
        GroupId => ("group_id", true),
        Encrypted => ("encrypted", false),
    }
}

/// The ordering expression under table alias `a`: nullable columns are coalesced so that
/// ordering and keyset comparisons are total.
fn expr(k: SortKey, a: &str) -> String {
    match raw(k) {
        ("updated_at", _) => format!("COALESCE({a}.updated_at, 0)"),
        (col, true) => format!("COALESCE({a}.{col}, '')"),
        (col, false) => format!("{a}.{col}"),
    }
}

/// The raw column for an equality filter (NULL never equals a value, as in Cinder).
fn column(k: SortKey) -> String {
    format!("v.{}", raw(k).0)
}

pub(crate) async fn list(pool: &SqlitePool, q: &VolumeQuery) -> Result<Vec<Volume>, StoreError> {
    if q.match_nothing || q.limit == 0 {
        return Ok(vec![]);
    }
    let mut conn = pool.acquire().await.map_err(err)?;
    if let Some(marker) = &q.marker {
        let found: Option<(i64,)> =
            sqlx::query_as("SELECT 1 FROM volumes WHERE id = ? AND (? IS NULL OR project_id = ?)")
                .bind(marker)
                .bind(&q.project_id)
                .bind(&q.project_id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(err)?;
        if found.is_none() {
            return Err(StoreError::NotFound(format!(
                "Marker {marker} could not be found."
            )));
        }
    }

    let mut b: QueryBuilder<Sqlite> =
        QueryBuilder::new(format!("SELECT {VOLUME_COLUMNS} {VOLUME_FROM} WHERE 1 = 1"));
    if let Some(p) = &q.project_id {
        b.push(" AND v.project_id = ").push_bind(p.clone());
    }
    if q.hide_migration_targets {
        b.push(" AND (v.migration_status IS NULL OR v.migration_status NOT LIKE 'target:%')");
    }
    for f in &q.filters {
        match (&f.value, f.column) {
            (FilterValue::Text(t), SortKey::CreatedAt | SortKey::UpdatedAt) => {
                match parse_time(t) {
                    Some(us) => {
                        b.push(format!(" AND {} = ", column(f.column)))
                            .push_bind(us);
                    }
                    None => return Ok(vec![]),
                }
            }
            (FilterValue::Text(t), c) => {
                b.push(format!(" AND {} = ", column(c)))
                    .push_bind(t.clone());
            }
            (FilterValue::Int(n), c) => {
                b.push(format!(" AND {} = ", column(c))).push_bind(*n);
            }
            (FilterValue::Bool(x), c) => {
                b.push(format!(" AND {} = ", column(c))).push_bind(*x);
            }
        }
    }
    for (k, val) in &q.metadata {
        b.push(" AND (EXISTS (SELECT 1 FROM volume_metadata md WHERE md.volume_id = v.id AND md.key = ")
            .push_bind(k.clone())
            .push(" AND md.value = ")
            .push_bind(val.clone())
            .push(") OR EXISTS (SELECT 1 FROM volume_admin_metadata am WHERE am.volume_id = v.id AND am.key = ")
            .push_bind(k.clone())
            .push(" AND am.value = ")
            .push_bind(val.clone())
            .push("))");
    }

    push_page(
        &mut b,
        "volumes",
        "v",
        &q.sort,
        SortKey::Id,
        expr,
        q.marker.as_deref(),
        q.limit,
        q.offset,
    );
    fetch_volumes(&mut conn, b).await
}
