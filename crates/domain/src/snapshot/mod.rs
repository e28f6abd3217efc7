//! Snapshots: the record, its status machine, listing queries and the service.

mod model;
mod query;
mod service;
mod status;

pub use model::{NewSnapshot, Snapshot, SnapshotUpdate};
pub use query::{SnapshotQuery, SnapshotSortKey};
pub use service::SnapshotService;
pub use status::SnapshotStatus;
