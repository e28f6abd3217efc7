//! Attaching volumes to compute hosts, by the legacy (v2) call sequence Nova uses: reserve,
//! initialize_connection, attach; begin_detaching, terminate_connection, detach; with their
//! failure paths (unreserve, roll_detaching) and the admin's force_detach.

mod connector;
mod service;

pub use connector::{connector_key, ConnectionInfo};
pub use service::{AttachRequest, AttachService};
