//! Backup repository: the `posix` backup driver of Basalt, a library the backup worker calls.
//!
//! A [`Repository`] is a directory (local or shared storage) holding backups of volumes as
//! content-addressed chunks: a volume is cut into fixed-size chunks (1 MiB by default),
//! each hashed (SHA-256 of its bytes) and stored once, zstd-compressed, however many
//! volumes and backups contain it; chunks of zeros are holes and are not stored. Each
//! backup is a [`Manifest`] listing every chunk's hash (or hole), written last, and each
//! chunk's BLAKE3 [`Fingerprint`], with which an incremental backup without changed ranges
//! recognises unchanged chunks without computing their SHA-256.
//!
//! What the crate keeps invariant:
//! - **Crash safety.** Files reach their final names complete and fsynced; a manifest is
//!   written only after every chunk it names is durable; a crash leaves existing backups
//!   intact and at most unreferenced chunks and temporary files, which [`Repository::sweep`]
//!   removes.
//! - **Concurrency.** Backups, restores and imports run concurrently (shared `flock`); the
//!   sweep that frees chunks takes the lock exclusively, so it never frees a chunk that a
//!   running backup is about to name.
//! - **Verification.** A manifest carries its own SHA-256; every chunk read back is checked
//!   against its name, and a missing or corrupt chunk fails the restore naming it.
//! - **Self-contained manifests.** An incremental backup's manifest lists every chunk too
//!   (unchanged ones taken from the parent), so a restore reads one manifest and deleting
//!   a parent can never break a child; the parent link is lineage for Cinder's rules.
//!
//! Nothing here knows HTTP, SQL or tenants. Every method blocks; the worker calls them from
//! a blocking thread. Backups and restores use [`Repository::set_threads`] threads (default:
//! CPUs + 1) with one buffer each (a backup's reads up to 8 MiB of consecutive chunks at
//! once; a restore's one chunk), so memory stays bounded whatever the volume size.

mod backup;
mod chunk;
mod error;
mod fingerprint;
mod fsio;
mod gc;
mod lock;
mod manifest;
mod plan;
mod pool;
mod record;
mod repo;
mod restore;

pub use backup::{Backup, BackupStats, Base};
pub use chunk::ChunkId;
pub use error::{BackupError, Result};
pub use fingerprint::Fingerprint;
pub use gc::SweepStats;
pub use manifest::{Manifest, MANIFEST_FORMAT, MANIFEST_FORMAT_PLAIN};
pub use repo::{validate_id, Repository, DEFAULT_CHUNK_SIZE, MAX_ID_LEN};
pub use restore::RestoreStats;
