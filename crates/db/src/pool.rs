//! Opening the database (SQLite in WAL mode for the embedded default) and applying migrations.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::error::DbError;
use crate::identity_store::SqlIdentityStore;

#[derive(Clone)]
pub struct Database {
    pool: SqlitePool,
}

impl Database {
    /// Opens (creating if missing) the database at `url` (`sqlite:///path/basalt.db`).
    pub async fn open(url: &str) -> Result<Self, DbError> {
        if !url.starts_with("sqlite:") {
            return Err(DbError::UnsupportedUrl(url.to_owned()));
        }
        let open_err = |source| DbError::Open {
            url: url.to_owned(),
            source,
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(open_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an acknowledged write survives power loss, not only a crash.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        Ok(Database { pool })
    }

    /// Applies every migration not yet applied; safe to run at each start.
    pub async fn migrate(&self) -> Result<(), DbError> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// The store behind every block-storage port (volumes, jobs, quotas, types).
    pub fn block_store(&self) -> Arc<crate::block::SqlBlockStore> {
        Arc::new(crate::block::SqlBlockStore::new(self.pool.clone()))
    }

    pub fn identity_store(&self) -> Arc<SqlIdentityStore> {
        Arc::new(SqlIdentityStore::new(self.pool.clone()))
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
