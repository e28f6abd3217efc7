//! Reading snapshot rows back into domain snapshots, with their metadata, and writing that
//! metadata.

use std::collections::HashMap;

use basalt_domain::metadata::Metadata;
use basalt_domain::ports::StoreError;
use basalt_domain::snapshot::{Snapshot, SnapshotStatus};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::from_micros;
use crate::error::store_err_domain as err;

/// Columns of `snapshots s`, in `SnapshotRow`'s order.
pub(crate) const SNAPSHOT_COLUMNS: &str = "s.id, s.project_id, s.user_id, s.volume_id, \
    s.display_name, s.display_description, s.volume_size, s.status, s.progress, \
    s.volume_type_id, s.host, s.use_quota, s.status_reason, s.created_at, s.updated_at";

pub(crate) const SNAPSHOT_FROM: &str = "FROM snapshots s";

#[derive(sqlx::FromRow)]
struct SnapshotRow {
    id: String,
    project_id: String,
    user_id: String,
    volume_id: String,
    display_name: Option<String>,
    display_description: Option<String>,
    volume_size: i64,
    status: String,
    progress: String,
    volume_type_id: String,
    host: Option<String>,
    use_quota: bool,
    status_reason: Option<String>,
    created_at: i64,
    updated_at: Option<i64>,
}

impl SnapshotRow {
    fn into_snapshot(self) -> Result<Snapshot, StoreError> {
        let status = SnapshotStatus::parse(&self.status).ok_or_else(|| {
            StoreError::Backend(format!("unknown snapshot status {}", self.status))
        })?;
        Ok(Snapshot {
            id: self.id,
            project_id: self.project_id,
            user_id: self.user_id,
            volume_id: self.volume_id,
            name: self.display_name,
            description: self.display_description,
            size: self.volume_size,
            status,
            progress: self.progress,
            volume_type_id: self.volume_type_id,
            host: self.host,
            use_quota: self.use_quota,
            status_reason: self.status_reason,
            metadata: Metadata::new(),
            created_at: from_micros(self.created_at),
            updated_at: self.updated_at.map(from_micros),
        })
    }
}

/// Fills in the metadata of `snapshots` with one query, whatever their number.
async fn attach_metadata(
    conn: &mut SqliteConnection,
    snapshots: &mut [Snapshot],
) -> Result<(), StoreError> {
    if snapshots.is_empty() {
        return Ok(());
    }
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SELECT snapshot_id, key, value FROM snapshot_metadata WHERE snapshot_id IN (",
    );
    let mut ids = q.separated(", ");
    for s in snapshots.iter() {
        ids.push_bind(s.id.clone());
    }
    q.push(")");
    let rows: Vec<(String, String, String)> = q
        .build_query_as()
        .fetch_all(&mut *conn)
        .await
        .map_err(err)?;
    let mut by_snapshot: HashMap<String, Metadata> = HashMap::new();
    for (id, k, v) in rows {
        by_snapshot.entry(id).or_default().insert(k, v);
    }
    for s in snapshots.iter_mut() {
        s.metadata = by_snapshot.remove(&s.id).unwrap_or_default();
    }
    Ok(())
}

/// Runs a snapshot query built on `SNAPSHOT_COLUMNS`/`SNAPSHOT_FROM` and fills in the metadata.
pub(crate) async fn fetch_snapshots(
    conn: &mut SqliteConnection,
    mut query: QueryBuilder<'_, Sqlite>,
) -> Result<Vec<Snapshot>, StoreError> {
    let rows: Vec<SnapshotRow> = query
        .build_query_as()
        .fetch_all(&mut *conn)
        .await
        .map_err(err)?;
    let mut snapshots = rows
        .into_iter()
        .map(SnapshotRow::into_snapshot)
        .collect::<Result<Vec<_>, _>>()?;
    attach_metadata(conn, &mut snapshots).await?;
    Ok(snapshots)
}

pub(crate) async fn load_snapshot(
    conn: &mut SqliteConnection,
    id: &str,
) -> Result<Option<Snapshot>, StoreError> {
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
        "SELECT {SNAPSHOT_COLUMNS} {SNAPSHOT_FROM} WHERE s.id = "
    ));
    q.push_bind(id.to_owned());
    Ok(fetch_snapshots(conn, q).await?.pop())
}
