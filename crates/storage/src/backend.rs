//! The `BlockBackend` port: what the volume manager asks of any storage engine. It speaks of
//! volume names and sizes only; tenants, quotas and HTTP live above it.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{BackendStats, Baseline, BlockDevice, StorageError};

/// One GiB in bytes: volume sizes are whole GiB, as in Cinder.
pub const GIB: u64 = 1 << 30;

/// The longest volume name a backend accepts; a UUID is 36 characters.
pub const MAX_NAME_LEN: usize = 128;

/// What a backend can do, for the scheduler's capability filter and the exporters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// The driver's short name, e.g. `"file"` (Cinder's `volume_driver`, abridged).
    pub driver: &'static str,
    /// Volumes take space only as data is written, so provisioned may exceed total.
    pub thin_provisioning: bool,
    /// Snapshots, clones and reverts share blocks with their source and take constant time;
    /// when false they copy the written data, in time that grows with it.
    pub reflink: bool,
    /// [`BlockDevice::discard`] gives space back; when false it still reads back zeros but
    /// frees nothing.
    pub discard: bool,
}

/// A storage engine holding volumes and their snapshots by name.
///
/// Names are the volumes' and snapshots' UUID strings and must pass [`validate_name`];
/// volumes and snapshots are separate namespaces. Every method that
/// changes state is idempotent, because a worker retries a job after a crash without knowing
/// how far the previous attempt got. Methods on a name that fails [`validate_name`] return
/// [`StorageError::InvalidName`]; any method may return [`StorageError::Io`].
#[async_trait]
pub trait BlockBackend: Send + Sync + 'static {
    /// This backend's name, as the scheduler and `os-vol-host-attr:host` show it.
    fn name(&self) -> &str;

    /// Creates a volume of exactly `size_gib` GiB that reads as zeros.
    ///
    /// Succeeds without change when the volume already exists with that size. Errors:
    /// [`StorageError::InvalidSize`] for 0, [`StorageError::AlreadyExists`] when it exists
    /// with another size, [`StorageError::InsufficientCapacity`] when the backend cannot
    /// hold it (see [`BackendStats::provisionable_bytes`]).
    async fn create(&self, name: &str, size_gib: u64) -> Result<(), StorageError>;

    /// Deletes a volume; a missing volume is success.
    async fn delete(&self, name: &str) -> Result<(), StorageError>;

    /// Grows a volume in place to `new_size_gib`, keeping its data; the new region reads zeros.
    ///
    /// Succeeds without change when it already has that size. Errors:
    /// [`StorageError::NotFound`], [`StorageError::InvalidSize`] for a shrink,
    /// [`StorageError::InsufficientCapacity`] when the growth does not fit.
    async fn extend(&self, name: &str, new_size_gib: u64) -> Result<(), StorageError>;

    /// Whether a volume of that name exists.
    async fn exists(&self, name: &str) -> Result<bool, StorageError>;

    /// The volume's size in bytes. Errors: [`StorageError::NotFound`].
    async fn size_bytes(&self, name: &str) -> Result<u64, StorageError>;

    /// Opens the volume for block I/O (export, backup). The device keeps the size the volume
    /// had when opened; open again after an extend. Errors: [`StorageError::NotFound`].
    async fn open(&self, name: &str) -> Result<Arc<dyn BlockDevice>, StorageError>;

    /// Makes snapshot `snapshot` of volume `volume`: a read-only copy of the volume's data and
    /// size at this moment, independent of later writes to the volume and of its deletion.
    ///
    /// Succeeds without change when the snapshot already exists (a retried job must not copy
    /// again the data written since). A snapshot counts as provisioned bytes like a volume.
    /// Errors: [`StorageError::NotFound`] for the volume,
    /// [`StorageError::InsufficientCapacity`] when its size no longer fits.
    async fn create_snapshot(&self, volume: &str, snapshot: &str) -> Result<(), StorageError>;

    /// Deletes a snapshot; a missing snapshot is success. Volumes created from it keep their
    /// data.
    async fn delete_snapshot(&self, snapshot: &str) -> Result<(), StorageError>;

    /// Whether a snapshot of that name exists.
    async fn snapshot_exists(&self, snapshot: &str) -> Result<bool, StorageError>;

    /// Opens a snapshot for reading (backup, checks); its writes and discards fail.
    /// Errors: [`StorageError::SnapshotNotFound`].
    async fn open_snapshot(&self, snapshot: &str) -> Result<Arc<dyn BlockDevice>, StorageError>;

    /// Creates volume `new_volume` of `size_gib` GiB holding the data of `source_volume`; the
    /// region beyond the source's size reads zeros. The two are independent afterwards.
    ///
    /// Succeeds without change when `new_volume` already exists with that size. Errors:
    /// [`StorageError::NotFound`] for the source, [`StorageError::InvalidSize`] when
    /// `size_gib` is smaller than the source, [`StorageError::AlreadyExists`] when
    /// `new_volume` exists with another size, [`StorageError::InsufficientCapacity`].
    async fn clone_volume(
        &self,
        source_volume: &str,
        new_volume: &str,
        size_gib: u64,
    ) -> Result<(), StorageError>;

    /// Creates volume `new_volume` of `size_gib` GiB holding the data of `snapshot`; the
    /// region beyond the snapshot's size reads zeros. Writing it leaves the snapshot intact.
    ///
    /// Succeeds without change when `new_volume` already exists with that size. Errors:
    /// [`StorageError::SnapshotNotFound`], [`StorageError::InvalidSize`] when `size_gib` is
    /// smaller than the snapshot, [`StorageError::AlreadyExists`] when `new_volume` exists
    /// with another size, [`StorageError::InsufficientCapacity`].
    async fn create_from_snapshot(
        &self,
        snapshot: &str,
        new_volume: &str,
        size_gib: u64,
    ) -> Result<(), StorageError>;

    /// Replaces the data of `volume` with that of `snapshot`, keeping the volume's size (a
    /// region beyond the snapshot's size reads zeros). The snapshot stays. Running it again
    /// gives the same result. Devices opened on the volume before the revert keep the old
    /// data: revert a volume nobody has open, and open it again afterwards.
    ///
    /// Errors: [`StorageError::NotFound`] for the volume, [`StorageError::SnapshotNotFound`],
    /// [`StorageError::InvalidSize`] when the volume is smaller than the snapshot.
    async fn revert_to_snapshot(&self, volume: &str, snapshot: &str) -> Result<(), StorageError>;

    /// Capacity figures for the scheduler and the capacity check. Snapshots count in the
    /// provisioned and allocated bytes, not in the volume count.
    async fn stats(&self) -> Result<BackendStats, StorageError>;

    /// What this backend can do; fixed for the backend's lifetime.
    fn capabilities(&self) -> Capabilities;

    /// The local file or device a compute service on this host may open directly (the
    /// `local` export); `None` when the backend has no such path.
    fn local_path(&self, _volume: &str) -> Option<std::path::PathBuf> {
        None
    }

    /// The largest volume this backend could ever hold, empty, in GiB: a request above it can
    /// be refused at once instead of failing later.
    async fn largest_volume_gib(&self) -> Result<u64, StorageError>;

    /// The byte ranges of snapshot `snapshot` whose data may differ from snapshot `base`'s
    /// (regions past `base`'s end included), when the backend can tell without reading the
    /// data (blocks shared by reflink); `None` when it cannot, and the caller must compare
    /// the data itself. Lets an incremental backup read only what changed.
    /// Errors: [`StorageError::SnapshotNotFound`] for either.
    async fn changed_ranges(
        &self,
        base: &str,
        snapshot: &str,
    ) -> Result<Option<Vec<std::ops::Range<u64>>>, StorageError> {
        let _ = (base, snapshot);
        Ok(None)
    }

    /// Before a backup reads volume `name` in place, with nothing open on it: the ranges
    /// written since backup `parent`, when the backend tracked every write since that backup
    /// was read ([`Baseline::changed`], else `None`: read everything), and the volume's state
    /// now, for [`track_from`](Self::track_from). The default tracks nothing.
    async fn changes_since(
        &self,
        name: &str,
        parent: Option<&str>,
    ) -> Result<Baseline, StorageError> {
        let _ = (name, parent);
        Ok(Baseline::default())
    }

    /// After backup `backup` read volume `name` in place from `baseline`: tracks the writes
    /// from now on, for the next incremental backup, unless the volume changed meanwhile.
    async fn track_from(
        &self,
        name: &str,
        backup: &str,
        baseline: &Baseline,
    ) -> Result<(), StorageError> {
        let _ = (name, backup, baseline);
        Ok(())
    }

    /// Another writer is given the volume's file ([`local_path`](Self::local_path): an iSCSI
    /// target, a local attach): the writes tracked so far no longer tell what changed.
    async fn forget_changes(&self, name: &str) -> Result<(), StorageError> {
        let _ = name;
        Ok(())
    }

    /// Every regular, non-hidden file of the backend as `(name, size in bytes)`: its volumes'
    /// and snapshots' and any other an operator put there (what manage lists).
    async fn list_files(&self) -> Result<Vec<(String, u64)>, StorageError> {
        Ok(vec![])
    }

    /// Makes the backend's file `source` volume `name` of `size_gib` GiB: renamed into place
    /// and grown to the size when smaller. A retry that finds volume `name` of that size
    /// succeeds. Errors: [`StorageError::NotFound`] for a missing source (or a name that
    /// could leave the backend), [`StorageError::InvalidSize`] when the file is larger.
    async fn adopt(&self, source: &str, name: &str, size_gib: u64) -> Result<(), StorageError> {
        let _ = (name, size_gib);
        Err(StorageError::NotFound(source.to_owned()))
    }

    /// As [`adopt`](Self::adopt), making the file snapshot `name`.
    async fn adopt_snapshot(
        &self,
        source: &str,
        name: &str,
        size_gib: u64,
    ) -> Result<(), StorageError> {
        let _ = (name, size_gib);
        Err(StorageError::NotFound(source.to_owned()))
    }
}

/// Checks that `name` is safe to use as a file or object name: 1 to [`MAX_NAME_LEN`] ASCII
/// letters, digits, `-` or `_`. Refusing `/`, `.` and everything else means no name can
/// reach outside the backend's directory or collide with its temporary files.
pub fn validate_name(name: &str) -> Result<(), StorageError> {
    let well_formed = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if well_formed {
        Ok(())
    } else {
        Err(StorageError::InvalidName(name.to_owned()))
    }
}

/// Converts a size in GiB to bytes, or `None` if it cannot be represented.
pub(crate) fn gib_to_bytes(size_gib: u64) -> Option<u64> {
    size_gib.checked_mul(GIB)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_names_are_accepted() {
        assert!(validate_name("6f1c0d2e-8a53-4c7e-9d5b-1e0f2a3b4c5d").is_ok());
        assert!(validate_name("a").is_ok());
    }

    #[test]
    fn names_that_could_escape_the_directory_are_refused() {
        for bad in [
            "", ".", "..", "../x", "a/b", "/abs", ".hidden", "a b", "é", "a\0b",
        ] {
            assert!(
                matches!(validate_name(bad), Err(StorageError::InvalidName(_))),
                "{bad:?} should be refused"
            );
        }
        assert!(validate_name(&"a".repeat(MAX_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn sizes_that_overflow_bytes_are_detected() {
        assert_eq!(gib_to_bytes(2), Some(2 * GIB));
        assert_eq!(gib_to_bytes(u64::MAX / GIB + 1), None);
    }
}
