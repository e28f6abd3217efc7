//! The db layer's error, and its translation into the ports' `StoreError`.

use basalt_identity::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open database {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0}: only sqlite: is built in so far")]
    UnsupportedUrl(String),
}

/// Unique-constraint violations become `Conflict`; everything else is a backend failure.
pub(crate) fn store_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return StoreError::Conflict(db.message().to_owned());
        }
    }
    StoreError::Backend(e.to_string())
}

/// The same translation for the block-storage ports.
pub(crate) fn store_err_domain(e: sqlx::Error) -> basalt_domain::ports::StoreError {
    use basalt_domain::ports::StoreError as E;
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return E::Conflict(db.message().to_owned());
        }
    }
    E::Backend(e.to_string())
}
