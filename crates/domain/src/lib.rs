//! The block-storage domain: volumes and their status machine, metadata, quotas and the jobs
//! that carry asynchronous work. Persistence goes through the traits in [`ports`]; storage work
//! is done by the workers, which report back through the completion methods of the services.

pub mod attach;
pub mod backends;
pub mod backup;
pub mod context;
pub mod error;
pub mod jobs;
pub mod manage;
pub mod metadata;
pub mod migration;
pub mod ports;
pub mod qos;
pub mod quota;
pub mod settings;
pub mod snapshot;
pub mod transfer;
pub mod volume;
pub mod volume_type;
mod wire;

pub use async_trait::async_trait;
pub use context::Caller;
pub use error::{DomainError, QuotaExceeded};
pub use settings::{BackendPlacement, DomainSettings};
