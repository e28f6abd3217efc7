//! Block storage: the [`BlockBackend`] port the volume manager drives, the local sparse-file
//! backend, and the [`conformance`] suite that every backend must pass.
//!
//! The layer knows volumes only as names (their UUID strings) and sizes in GiB; tenants,
//! quotas, statuses and HTTP belong to the layers above. Its design:
//!
//! - **Idempotent changes.** `create`, `extend`, `delete` and the snapshot and copy methods
//!   succeed when the work is already done, because a job may be retried after a crash at any
//!   point. A `create` (or clone) that finds the volume with a *different* size refuses
//!   ([`StorageError::AlreadyExists`]) rather than guess; a retried `create_snapshot` keeps
//!   the snapshot it finds rather than copy later writes into it.
//! - **Snapshots are copies, not dependencies.** A snapshot, a clone or a volume made from a
//!   snapshot holds its own data from the moment it is made, so deleting any of them never
//!   damages another. Copies count as provisioned bytes in the capacity rule.
//! - **Backends hand out devices, exporters serve them.** [`BlockBackend::open`] returns a
//!   [`BlockDevice`] (bounds-checked pread/pwrite, fdatasync, discard); NBD, iSCSI and backup
//!   build on that and never see a path or a pool.
//! - **One capacity rule.** [`BackendStats`] carries exact bytes and Cinder's float GiB
//!   figures as helpers; [`BackendStats::check_capacity`] is the thin-provisioning check of
//!   Cinder's capacity filter, which backends apply in `create`/`extend` and the scheduler
//!   can apply to the same stats.
//! - **Names are checked once, here.** [`validate_name`] admits only `[A-Za-z0-9_-]`, so no
//!   name can become a path outside a backend's directory.
//!
//! [`FileBackend`] keeps each volume as a sparse raw file `<dir>/volume-<name>` and each
//! snapshot as `<dir>/snapshot-<name>` (Cinder's naming). Files are sized with `set_len` and
//! never filled with zeros, made under a hidden temporary name and renamed into place after an
//! fsync, and the directory is fsynced after every rename or removal. Copies are reflinks
//! (`FICLONE`, constant time) where the filesystem shares blocks (XFS with reflink, btrfs),
//! detected at start-up; elsewhere (ext4) they copy only the allocated extents
//! (`SEEK_DATA`/`SEEK_HOLE`, `copy_file_range`), so holes stay holes and a 10 GiB volume
//! holding 1 GiB copies in the time of 1 GiB. Capacity comes from `statvfs`, allocation from
//! `st_blocks`, hole punching from `fallocate`, all through `rustix`, which offers them
//! without `unsafe`; only the block maps that tell an incremental backup what changed
//! between two reflinked snapshots (`FIEMAP`) need a raw ioctl. Blocking calls run on
//! tokio's blocking pool.

mod backend;
pub mod conformance;
mod copy;
mod device;
mod error;
mod file;
mod stats;

pub use backend::{validate_name, BlockBackend, Capabilities, GIB, MAX_NAME_LEN};
pub use device::{BlockDevice, FileDevice};
pub use error::StorageError;
pub use file::{Baseline, FileBackend, Stamp};
pub use stats::{bytes_to_gib, BackendStats};
