//! The block-storage ports over sqlx: one store type, one file per port.
//!
//! Write transactions start with `BEGIN IMMEDIATE`, taking SQLite's write lock first, so that a
//! quota claim's count and the insert that consumes it cannot interleave with another writer.

mod backup_list;
mod backup_rows;
mod backup_usage;
mod backups;
mod claim;
mod exports;
mod jobs;
mod keyset;
mod metadata_rows;
mod migrating;
mod qos;
mod quotas;
mod rows;
mod services;
mod snapshot_list;
mod snapshot_rows;
mod snapshots;
mod transfers;
mod types;
mod unmanage;
mod volume_list;
mod volumes;

use sqlx::{QueryBuilder, Sqlite, SqlitePool};

pub struct SqlBlockStore {
    pool: SqlitePool,
}

impl SqlBlockStore {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        SqlBlockStore { pool }
    }

    async fn write_tx(&self) -> Result<sqlx::Transaction<'_, sqlx::Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

pub(crate) fn micros(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn from_micros(v: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(v).unwrap_or_default()
}

/// Pushes `expr IN (?, ...)` binding `values`; with no values, a condition that never holds
/// (portable SQL has no empty `IN ()`).
pub(crate) fn push_in<I, S>(b: &mut QueryBuilder<'_, Sqlite>, expr: &str, values: I)
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    push_list(b, expr, "IN", "1 = 0", values);
}

/// Pushes `expr NOT IN (?, ...)`; with no values, a condition that always holds.
pub(crate) fn push_not_in<I, S>(b: &mut QueryBuilder<'_, Sqlite>, expr: &str, values: I)
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    push_list(b, expr, "NOT IN", "1 = 1", values);
}

fn push_list<I, S>(b: &mut QueryBuilder<'_, Sqlite>, expr: &str, op: &str, empty: &str, values: I)
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let values: Vec<String> = values.into_iter().map(Into::into).collect();
    if values.is_empty() {
        b.push(format!("({empty})"));
        return;
    }
    b.push(format!("{expr} {op} ("));
    let mut list = b.separated(", ");
    for v in values {
        list.push_bind(v);
    }
    b.push(")");
}
