//! The block-storage ports over sqlx: one store type, one file per port.
//!
//! Write transactions start with `BEGIN IMMEDIATE`, taking SQLite's write lock first, so that a
//! quota claim's count and the insert that consumes it cannot interleave with another writer.

mod claim;
mod jobs;
mod quotas;
mod rows;
mod types;
mod volume_list;
mod volumes;

use sqlx::SqlitePool;

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
