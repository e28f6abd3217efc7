//! `BackupError`: every way a repository operation can fail. Variants that concern one chunk
//! name it (its index in the volume and its hash), so that an operator can find the file.

use std::io;
use std::path::PathBuf;

/// What went wrong in a repository operation. Nothing is ever half-done on error: a failed
/// backup leaves no manifest, a failed delete leaves every referenced chunk in place.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Reading or writing the repository or a device failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },

    /// The directory holds no repository (no `repository.json`), or one of another format.
    #[error("{path} is not a backup repository: {reason}")]
    NotARepository { path: PathBuf, reason: String },

    /// A backup id that could not be a file name: 1 to 128 of `[A-Za-z0-9_-]`.
    #[error("invalid backup id {0:?}")]
    InvalidId(String),

    /// No manifest of that id.
    #[error("backup {0} not found")]
    NotFound(String),

    /// A manifest of that id exists already (a retried job should read it instead).
    #[error("backup {0} already exists")]
    AlreadyExists(String),

    /// The backup is the parent of incremental backups; delete them first.
    #[error("backup {id} has incremental backups: {children:?}")]
    HasChildren { id: String, children: Vec<String> },

    /// The parent cannot serve as the base of this incremental backup.
    #[error("backup {parent} cannot be the parent: {reason}")]
    IncompatibleParent { parent: String, reason: String },

    /// A changed range reaches outside the volume.
    #[error("changed range {start}..{end} lies outside the volume of {size} bytes")]
    ChangedRangeOutOfBounds { start: u64, end: u64, size: u64 },

    /// The restore target is smaller than the backed-up volume.
    #[error("the target holds {target} bytes, the backup needs {needed}")]
    TargetTooSmall { target: u64, needed: u64 },

    /// A chunk the manifest references is not in the repository.
    #[error("chunk {index} ({hash}) of backup {backup} is missing from the repository")]
    MissingChunk {
        backup: String,
        index: u64,
        hash: String,
    },

    /// A chunk's stored bytes do not decompress to the data its hash names.
    #[error("chunk {index} ({hash}) of backup {backup} is corrupt: {reason}")]
    CorruptChunk {
        backup: String,
        index: u64,
        hash: String,
        reason: String,
    },

    /// A manifest or an imported record that fails its checksum or does not parse.
    #[error("backup record {what} is invalid: {reason}")]
    InvalidManifest { what: String, reason: String },

    /// An imported record names chunks this repository does not hold.
    #[error("backup {backup} cannot be imported: {missing} of its chunks are not in this repository (first: {first})")]
    ImportMissingChunks {
        backup: String,
        missing: usize,
        first: String,
    },

    /// The same id exists with a different manifest.
    #[error("backup {0} exists with a different manifest")]
    ImportConflict(String),
}

impl BackupError {
    /// Wraps an I/O error with what was being done, for messages that say which file failed.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }
}

/// Result of repository operations.
pub type Result<T, E = BackupError> = std::result::Result<T, E>;
