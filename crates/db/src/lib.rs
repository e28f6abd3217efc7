//! Persistence: sqlx repositories that implement the ports of the domain crates, and the
//! migrations that shape the database. Nothing above this crate sees SQL or a sqlx type.

mod block;
mod error;
mod identity_store;
mod pool;

pub use block::SqlBlockStore;
pub use error::DbError;
pub use identity_store::SqlIdentityStore;
pub use pool::Database;
