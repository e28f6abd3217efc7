//! Volumes: the record, its status machine, listing queries and the service.

mod admin;
mod manage;
mod migrate;
pub(crate) mod model;
mod placement;
pub(crate) mod query;
mod retype;
pub(crate) mod service;
mod status;

pub use admin::ResetStatus;
pub use manage::{ManageSnapshot, ManageVolume};
pub use migrate::MigrateRequest;
pub use model::{Attachment, NewVolume, Volume, VolumeUpdate};
pub use query::{Filter, FilterValue, SortDir, SortKey, VolumeQuery};
pub use retype::MigrationPolicy;
pub use service::VolumeService;
pub use status::{AttachStatus, VolumeStatus};
