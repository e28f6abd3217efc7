//! The storage layer's one error type. Variants say what the caller can act on (missing,
//! conflicting, too big, malformed); everything else is an I/O error carried as is.

use std::io;

/// What a [`BlockBackend`](crate::BlockBackend) operation can fail with.
///
/// The domain layer maps these to its own errors; no variant is shown to a user verbatim.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No volume of that name exists on the backend.
    #[error("volume {0} not found on the backend")]
    NotFound(String),

    /// No snapshot of that name exists on the backend.
    #[error("snapshot {0} not found on the backend")]
    SnapshotNotFound(String),

    /// A volume of that name exists with a different size, so a retried `create` cannot simply
    /// succeed: something other than this job made it.
    #[error("volume {name} already exists with {size_bytes} bytes")]
    AlreadyExists { name: String, size_bytes: u64 },

    /// The backend cannot hold the requested size: the thin-provisioning limit, the free space
    /// or the filesystem's largest file would be exceeded. Sizes are whole GiB, rounded down
    /// for `available_gib`.
    #[error("insufficient capacity: {requested_gib} GiB requested, {available_gib} GiB available")]
    InsufficientCapacity {
        requested_gib: u64,
        available_gib: u64,
    },

    /// A size that no volume may have: zero, a shrink, or a copy smaller than its source.
    #[error("invalid size: {0}")]
    InvalidSize(String),

    /// A volume name that could escape the backend's namespace (see
    /// [`validate_name`](crate::validate_name)).
    #[error("invalid volume name {0:?}")]
    InvalidName(String),

    /// The backend was configured with values it cannot work with.
    #[error("invalid backend configuration: {0}")]
    InvalidConfig(String),

    /// Any other failure of the underlying storage.
    #[error(transparent)]
    Io(#[from] io::Error),
}
