//! The file backend's filesystem helpers: the scan that counts volume and snapshot files, the
//! feature probe, durable directory changes, and the mapping of I/O errors to storage errors.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::io::Errno;

use super::{SNAPSHOT_PREFIX, VOLUME_PREFIX};
use crate::{BackendStats, StorageError, GIB};

/// What a scan of the directory found.
pub(super) struct Scanned {
    /// Bytes the volume and snapshot files occupy (blocks shared by reflinks count in each).
    pub allocated: u64,
    /// Sum of the volume and snapshot files' sizes.
    pub provisioned: u64,
    /// Volume files only.
    pub volumes: u64,
}

/// Counts the volume and snapshot files of `dir`; hidden temporary files are neither.
pub(super) fn scan(dir: &Path) -> Result<Scanned, StorageError> {
    let mut found = Scanned {
        allocated: 0,
        provisioned: 0,
        volumes: 0,
    };
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.as_encoded_bytes();
        let volume = name.starts_with(VOLUME_PREFIX.as_bytes());
        if !volume && !name.starts_with(SNAPSHOT_PREFIX.as_bytes()) {
            continue;
        }
        let meta = match entry.metadata() {
            Ok(meta) if meta.is_file() => meta,
            Ok(_) => continue,
            // Deleted between listing and stat: no longer there.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        // st_blocks counts 512-byte units whatever the filesystem's block size.
        found.allocated += meta.blocks() * 512;
        found.provisioned += meta.len();
        found.volumes += u64::from(volume);
    }
    Ok(found)
}

/// Tries a reflink and a hole punch on scratch files, which are removed again. Unique names
/// keep two backends starting over one directory from tripping over each other.
pub(super) fn probe_features(dir: &Path) -> Result<(bool, bool), StorageError> {
    let id = uuid::Uuid::new_v4();
    let src_path = dir.join(format!(".probe-{id}-src"));
    let dst_path = dir.join(format!(".probe-{id}-dst"));
    let probed = (|| -> io::Result<(bool, bool)> {
        let src = File::create_new(&src_path)?;
        let dst = File::create_new(&dst_path)?;
        src.set_len(4096)?;
        let reflink = rustix::fs::ioctl_ficlone(&dst, &src).is_ok();
        let mode = rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE;
        let discard = rustix::fs::fallocate(&src, mode, 0, 4096).is_ok();
        Ok((reflink, discard))
    })();
    let _ = fs::remove_file(&src_path);
    let _ = fs::remove_file(&dst_path);
    Ok(probed?)
}

/// Makes renames and removals in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

pub(super) fn remove_if_present(path: &Path) -> Result<bool, StorageError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Maps a missing file to `missing(name)` ([`StorageError::NotFound`] for a volume,
/// [`StorageError::SnapshotNotFound`] for a snapshot).
pub(super) fn not_found_as(
    missing: fn(String) -> StorageError,
    name: &str,
) -> impl FnOnce(io::Error) -> StorageError + '_ {
    move |e| match e.kind() {
        io::ErrorKind::NotFound => missing(name.to_owned()),
        _ => StorageError::Io(e),
    }
}

pub(super) fn too_big(requested_gib: u64, stats: &BackendStats) -> StorageError {
    StorageError::InsufficientCapacity {
        requested_gib,
        available_gib: stats.provisionable_bytes() / GIB,
    }
}

/// A size beyond the filesystem's largest file (EFBIG) is a capacity refusal, not an I/O fault.
pub(super) fn efbig_as(
    requested_gib: u64,
    stats: &BackendStats,
) -> impl FnOnce(io::Error) -> StorageError {
    let refusal = too_big(requested_gib, stats);
    move |e| match Errno::from_io_error(&e) {
        Some(Errno::FBIG) => refusal,
        _ => StorageError::Io(e),
    }
}
