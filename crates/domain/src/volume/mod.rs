//! Volumes: the record, its status machine, listing queries and the service.

pub(crate) mod model;
mod placement;
pub(crate) mod query;
pub(crate) mod service;
mod status;

pub use model::{Attachment, NewVolume, Volume, VolumeUpdate};
pub use query::{Filter, FilterValue, SortDir, SortKey, VolumeQuery};
pub use service::VolumeService;
pub use status::{AttachStatus, VolumeStatus};
