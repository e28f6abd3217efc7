//! Snapshots, clones, volumes from snapshots and reverts in the file backend. Each is a copy
//! of one file into another, made under the target's temporary name, fsynced and renamed into
//! place, so a retried job finds either nothing or the finished copy. The copy runs outside
//! the change lock; the bytes it will provision are reserved before it starts.

use std::fmt;
use std::fs::{self, File};
use std::sync::PoisonError;
use std::time::Instant;

use super::disk::{efbig_as, not_found_as, sync_dir, too_big};
use super::{snapshot_file, volume_file, Changes, Inner};
use crate::backend::gib_to_bytes;
use crate::copy::copy_file;
use crate::{BackendStats, StorageError, GIB};

/// What a new volume is copied from.
#[derive(Debug, Clone, Copy)]
pub(super) enum Source<'a> {
    Volume(&'a str),
    Snapshot(&'a str),
}

impl Source<'_> {
    /// Opens the source for reading; the open file stays valid if the source is deleted.
    fn open(self, inner: &Inner) -> Result<File, StorageError> {
        let (file, name, missing): (_, _, fn(String) -> StorageError) = match self {
            Source::Volume(name) => (volume_file(name), name, StorageError::NotFound),
            Source::Snapshot(name) => (snapshot_file(name), name, StorageError::SnapshotNotFound),
        };
        File::open(inner.path(&file)).map_err(not_found_as(missing, name))
    }
}

impl fmt::Display for Source<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Volume(name) => write!(f, "volume {name}"),
            Source::Snapshot(name) => write!(f, "snapshot {name}"),
        }
    }
}

/// A copy under way into `file`. Until dropped, `file` is marked as being copied into and
/// `bytes` are counted as provisioned; dropping it without [`keep`](Self::keep) (a failed or
/// panicking copy) gives the bytes back. Either way it wakes the changes waiting for `file`.
struct Reservation<'a> {
    inner: &'a Inner,
    file: String,
    bytes: u64,
    kept: bool,
}

impl Reservation<'_> {
    fn keep(&mut self) {
        self.kept = true;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut changes = self
            .inner
            .changes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        changes.copying.remove(&self.file);
        if !self.kept {
            changes.provisioned = changes.provisioned.saturating_sub(self.bytes);
        }
        drop(changes);
        self.inner.copy_ended.notify_all();
    }
}

impl Inner {
    /// Marks `file` as being copied into and reserves `bytes`; `changes` is the held lock.
    fn reserve(&self, changes: &mut Changes, file: String, bytes: u64) -> Reservation<'_> {
        changes.copying.insert(file.clone());
        changes.provisioned += bytes;
        Reservation {
            inner: self,
            file,
            bytes,
            kept: false,
        }
    }

    pub(super) fn create_snapshot(&self, volume: &str, snapshot: &str) -> Result<(), StorageError> {
        let file = snapshot_file(snapshot);
        let mut changes = self.lock_idle(&file);
        if self.is_file(&file)? {
            return Ok(());
        }
        let src = Source::Volume(volume).open(self)?;
        let size = src.metadata()?.len();
        let stats = self.capacity(changes.provisioned)?;
        stats.check_capacity(size.div_ceil(GIB))?;
        let reservation = self.reserve(&mut changes, file, size);
        drop(changes);
        self.copy_into(reservation, &src, size, size, &stats)
    }

    /// A clone (`source` a volume) or a volume from a snapshot, of `size_gib`.
    pub(super) fn copy_to_volume(
        &self,
        source: Source<'_>,
        new: &str,
        size_gib: u64,
    ) -> Result<(), StorageError> {
        if size_gib == 0 {
            return Err(StorageError::InvalidSize(
                "a volume needs at least 1 GiB".into(),
            ));
        }
        let file = volume_file(new);
        let mut changes = self.lock_idle(&file);
        if self.existing_volume(new, &self.path(&file), size_gib)? {
            return Ok(());
        }
        let src = source.open(self)?;
        let source_bytes = src.metadata()?.len();
        let bytes = gib_to_bytes(size_gib);
        if bytes.is_some_and(|bytes| bytes < source_bytes) {
            return Err(StorageError::InvalidSize(format!(
                "volume {new} of {size_gib} GiB cannot hold {source} of {source_bytes} bytes"
            )));
        }
        let stats = self.capacity(changes.provisioned)?;
        stats.check_capacity(size_gib)?;
        let bytes = bytes.ok_or_else(|| too_big(size_gib, &stats))?;
        let reservation = self.reserve(&mut changes, file, bytes);
        drop(changes);
        self.copy_into(reservation, &src, source_bytes, bytes, &stats)
    }

    /// Replaces volume `volume` by a copy of `snapshot` of the volume's size. Provisioned
    /// bytes do not change; the old data's blocks are freed when the rename drops the file.
    pub(super) fn revert(&self, volume: &str, snapshot: &str) -> Result<(), StorageError> {
        let file = volume_file(volume);
        let mut changes = self.lock_idle(&file);
        let size = fs::metadata(self.path(&file))
            .map_err(not_found_as(StorageError::NotFound, volume))?
            .len();
        let src = Source::Snapshot(snapshot).open(self)?;
        let snapshot_bytes = src.metadata()?.len();
        if size < snapshot_bytes {
            return Err(StorageError::InvalidSize(format!(
                "volume {volume} of {size} bytes cannot hold snapshot {snapshot} of \
                 {snapshot_bytes} bytes"
            )));
        }
        let stats = self.capacity(changes.provisioned)?;
        let reservation = self.reserve(&mut changes, file, 0);
        drop(changes);
        self.copy_into(reservation, &src, snapshot_bytes, size, &stats)
    }

    /// Copies the first `source_bytes` of `src` (its size when checked) into the reservation's
    /// file, sized `size`: under its temporary name, then fsync, rename into place and fsync
    /// of the directory. A leftover from an earlier attempt is truncated first; a failure
    /// removes the temporary file.
    fn copy_into(
        &self,
        mut reservation: Reservation<'_>,
        src: &File,
        source_bytes: u64,
        size: u64,
        stats: &BackendStats,
    ) -> Result<(), StorageError> {
        let temp = self.temp_path(&reservation.file);
        let started = Instant::now();
        let made = (|| {
            let dst = File::options()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&temp)?;
            // A source extended since its size was read does not make the copy larger than
            // planned (and reserved).
            let copied = copy_file(src, &dst, source_bytes, self.reflink)?;
            if dst.metadata()?.len() != size {
                dst.set_len(size)
                    .map_err(efbig_as(size.div_ceil(GIB), stats))?;
            }
            dst.sync_all()?;
            fs::rename(&temp, self.path(&reservation.file))?;
            sync_dir(&self.dir)?;
            Ok::<_, StorageError>(copied)
        })();
        match made {
            Ok(copied) => {
                reservation.keep();
                tracing::debug!(
                    file = reservation.file,
                    ?copied,
                    elapsed_ms = started.elapsed().as_millis(),
                    "copy made"
                );
                Ok(())
            }
            Err(e) => {
                let _ = fs::remove_file(&temp);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::disk::scan;
    use super::*;
    use crate::FileBackend;

    fn backend() -> (tempfile::TempDir, FileBackend) {
        let dir = tempfile::TempDir::new().unwrap();
        let backend = FileBackend::new(dir.path().to_path_buf(), 20.0, 0).unwrap();
        (dir, backend)
    }

    /// Panics unless the in-memory counter agrees with a scan of the files.
    fn assert_counted(inner: &Inner, what: &str) -> u64 {
        let counted = inner.changes.lock().unwrap().provisioned;
        assert_eq!(
            counted,
            scan(&inner.dir).unwrap().provisioned,
            "after {what}"
        );
        counted
    }

    #[test]
    fn the_provisioned_counter_follows_snapshots_copies_and_failures() {
        let (_dir, backend) = backend();
        let inner = &*backend.inner;
        inner.create("v", 2).unwrap();
        inner.create_snapshot("v", "s").unwrap();
        assert_eq!(assert_counted(inner, "a snapshot"), 4 * GIB);
        inner.create_snapshot("v", "s").unwrap();
        assert_counted(inner, "a retried snapshot");
        inner.copy_to_volume(Source::Snapshot("s"), "c", 3).unwrap();
        inner.copy_to_volume(Source::Volume("v"), "d", 2).unwrap();
        assert_eq!(assert_counted(inner, "two copies"), 9 * GIB);
        assert!(inner
            .copy_to_volume(Source::Snapshot("gone"), "e", 3)
            .is_err());
        assert!(inner.copy_to_volume(Source::Volume("v"), "e", 1).is_err());
        assert_counted(inner, "refused copies");
        inner.revert("v", "s").unwrap();
        assert_eq!(assert_counted(inner, "a revert"), 9 * GIB);
        inner.delete(&snapshot_file("s")).unwrap();
        for volume in ["v", "c", "d"] {
            inner.delete(&volume_file(volume)).unwrap();
        }
        assert_eq!(assert_counted(inner, "deletes"), 0);
    }

    #[test]
    fn a_failed_copy_gives_back_its_reservation() {
        let (dir, backend) = backend();
        let inner = &*backend.inner;
        inner.create("v", 1).unwrap();
        // A directory where the temporary file should go makes the copy fail mid-way.
        let blocker = dir.path().join(".volume-c.tmp");
        fs::create_dir(&blocker).unwrap();
        let result = inner.copy_to_volume(Source::Volume("v"), "c", 1);
        assert!(matches!(result, Err(StorageError::Io(_))), "{result:?}");
        assert_eq!(assert_counted(inner, "a failed copy"), GIB);
        assert!(inner.changes.lock().unwrap().copying.is_empty());
        fs::remove_dir(&blocker).unwrap();
        inner.copy_to_volume(Source::Volume("v"), "c", 1).unwrap();
        assert_eq!(assert_counted(inner, "the retried copy"), 2 * GIB);
    }

    #[test]
    fn concurrent_copies_into_one_volume_make_it_once() {
        let (_dir, backend) = backend();
        let inner = &*backend.inner;
        inner.create("v", 1).unwrap();
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| inner.copy_to_volume(Source::Volume("v"), "c", 2).unwrap());
            }
        });
        assert_eq!(assert_counted(inner, "concurrent copies"), 3 * GIB);
    }
}
