//! An NBD server (fixed newstyle negotiation, simple replies, optional STARTTLS) that exports
//! Basalt volumes, as [`BlockDevice`](basalt_storage::BlockDevice)s, to compute hosts.
//!
//! - **Exports are issued, not discovered.** [`ExportTable::issue`] gives a volume a name of 256
//!   random bits, which the attach flow hands to the one host that needs it; `NBD_OPT_LIST`
//!   always answers with an empty list. [`ExportTable::revoke`] withdraws a name, closes every
//!   connection using it and returns only when the device operations they started are done.
//! - **One task per connection.** It negotiates, then reads requests in order. A READ served
//!   from the page cache, and a WRITE the filesystem takes without waiting (`RWF_NOWAIT`),
//!   completes on that task; any other request runs on tokio's blocking pool (short WRITEs
//!   in batches, one thread hand-off for several), so a slow export never stalls another
//!   and one connection may have several requests in flight (bounded in number and in
//!   buffered bytes). Replies are written whole under a per-connection lock, in completion
//!   order, several in one write when the next request is already buffered.
//! - **Hostile input costs one connection.** Bad magic, unknown client flags, oversized
//!   option data, an unskippable WRITE payload or EOF mid-request end that connection only;
//!   a bad but well-framed request gets an error reply and the session continues.

mod exports;
mod negotiate;
mod proto;
mod server;
mod transmission;

pub use exports::{Export, ExportTable};
pub use proto::{MAX_PAYLOAD, MIN_BLOCK, PREFERRED_BLOCK};
pub use server::NbdServer;

/// Errors of setting up the server; per-connection failures are logged, not returned.
#[derive(Debug, thiserror::Error)]
pub enum NbdError {
    #[error("invalid NBD server configuration: {0}")]
    InvalidConfig(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Why a connection ends early: the peer broke the protocol (logged as a warning), or the
/// transport failed (logged at debug).
#[derive(Debug)]
pub(crate) enum ConnError {
    Protocol(String),
    Io(std::io::Error),
}

impl ConnError {
    fn protocol(why: String) -> Self {
        Self::Protocol(why)
    }
}

impl From<std::io::Error> for ConnError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}
