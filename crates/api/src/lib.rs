//! HTTP for Basalt: the Keystone-compatible identity endpoint and the block-storage API.
//!
//! Handlers extract (token, microversion, body), check policy, call one service, and render one
//! view. They never touch SQL or storage.

mod body;
mod identity;
mod request_id;
mod state;
mod timefmt;
mod volume;

pub use identity::router as identity_router;
pub use state::{ApiState, PublicUrls};
pub use volume::router as volume_router;
pub use volume::{ApiVersion, MAX_MICROVERSION};

/// Cinder's (oslo sizelimit) default request body limit.
pub const DEFAULT_MAX_BODY_BYTES: usize = 114_688;
