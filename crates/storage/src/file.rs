//! The local file backend: each volume is a sparse raw file `<dir>/volume-<name>` of exactly
//! its size, each snapshot a file `<dir>/snapshot-<name>` beside it. A file appears under its
//! real name only when complete (temp file, fsync, rename, fsync of the directory), so a crash
//! never leaves a half-made volume or snapshot behind.

mod adopt;
mod copies;
mod disk;
mod extents;
mod tracking;

use std::collections::HashSet;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::backend::gib_to_bytes;
use crate::{
    validate_name, BackendStats, BlockBackend, BlockDevice, Capabilities, FileDevice, StorageError,
    GIB,
};
use disk::{efbig_as, not_found_as, probe_features, remove_if_present, scan, sync_dir, too_big};
use tracking::Tracking;
pub use tracking::{Baseline, Stamp};

/// Prefix of volume files, Cinder's `volume_name_template`, so operators see familiar names.
const VOLUME_PREFIX: &str = "volume-";

/// Prefix of snapshot files, Cinder's `snapshot_name_template`.
const SNAPSHOT_PREFIX: &str = "snapshot-";

/// Sparse raw files in one directory. Cheap to clone: clones share the directory and lock.
#[derive(Clone)]
pub struct FileBackend {
    inner: Arc<Inner>,
    name: String,
    capabilities: Capabilities,
}

struct Inner {
    dir: PathBuf,
    over_subscription_ratio: f64,
    reserved_percentage: u8,
    /// Copies are reflinks (the filesystem shares blocks) rather than extent copies.
    reflink: bool,
    /// Serialises the changes, so the capacity check and the change it allows happen as one
    /// step: two concurrent creates cannot both take the last free space. A std mutex,
    /// because it is only ever taken on a blocking thread.
    changes: Mutex<Changes>,
    /// Signalled when a copy ends, for the changes waiting until its target is idle.
    copy_ended: Condvar,
    /// Where copies cannot share blocks, the record of what each volume's devices wrote, so
    /// that an incremental backup reads only that ([`tracking`]).
    tracking: Option<Tracking>,
}

/// What the change lock guards.
struct Changes {
    /// Bytes provisioned to volumes and snapshots, plus those reserved by copies under way:
    /// counted once at start and kept up to date, so that a capacity check costs a `statvfs`,
    /// not a scan of every file.
    provisioned: u64,
    /// Files (`volume-x`, `snapshot-y`) a copy is being made into. A copy runs outside the
    /// lock, which would otherwise stall every change for seconds; any other change to the
    /// same file waits for it (see [`Inner::lock_idle`]).
    copying: HashSet<String>,
}

impl FileBackend {
    /// A backend over `dir` (created if missing). Probes once whether the filesystem can
    /// reflink (copies are then instant) and punch holes, and logs the copy mode.
    /// `over_subscription_ratio` must be at least 1.0 and `reserved_percentage` at most 100
    /// (see [`BackendStats::provisionable_bytes`]).
    pub fn new(
        dir: PathBuf,
        over_subscription_ratio: f64,
        reserved_percentage: u8,
    ) -> Result<Self, StorageError> {
        if !(over_subscription_ratio.is_finite() && over_subscription_ratio >= 1.0) {
            return Err(StorageError::InvalidConfig(format!(
                "max_over_subscription_ratio must be a number >= 1.0, not {over_subscription_ratio}"
            )));
        }
        if reserved_percentage > 100 {
            return Err(StorageError::InvalidConfig(format!(
                "reserved_percentage must be 0..=100, not {reserved_percentage}"
            )));
        }
        fs::create_dir_all(&dir)?;
        let (reflink, discard) = probe_features(&dir)?;
        let provisioned = scan(&dir)?.provisioned;
        let copies = if reflink {
            "reflink (instant)"
        } else {
            "extent copy"
        };
        tracing::info!(dir = %dir.display(), copies, discard, "file backend ready");
        Ok(Self {
            inner: Arc::new(Inner {
                dir,
                over_subscription_ratio,
                reserved_percentage,
                reflink,
                changes: Mutex::new(Changes {
                    provisioned,
                    copying: HashSet::new(),
                }),
                copy_ended: Condvar::new(),
                tracking: (!reflink).then(Tracking::new),
            }),
            name: "file".to_owned(),
            capabilities: Capabilities {
                driver: "file",
                thin_provisioning: true,
                reflink,
                discard,
            },
        })
    }

    /// Renames the backend (default `"file"`), for hosts with several file backends.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The directory holding the volume files.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Where volume `name` lives, for the local exporter and for tests.
    pub fn volume_path(&self, name: &str) -> Result<PathBuf, StorageError> {
        validate_name(name)?;
        Ok(self.inner.path(&volume_file(name)))
    }

    /// Where snapshot `name` lives, for tests.
    pub fn snapshot_path(&self, name: &str) -> Result<PathBuf, StorageError> {
        validate_name(name)?;
        Ok(self.inner.path(&snapshot_file(name)))
    }

    /// Validates `name`, then runs `op` on a blocking thread.
    async fn blocking<T, F>(&self, name: &str, op: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner, &str) -> Result<T, StorageError> + Send + 'static,
    {
        validate_name(name)?;
        let inner = Arc::clone(&self.inner);
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || op(&inner, &name))
            .await
            .map_err(|e| StorageError::Io(io::Error::other(e)))?
    }

    /// Validates both names, then runs `op` on a blocking thread.
    async fn blocking_pair<T, F>(&self, a: &str, b: &str, op: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner, &str, &str) -> Result<T, StorageError> + Send + 'static,
    {
        validate_name(b)?;
        let b = b.to_owned();
        self.blocking(a, move |inner, a| op(inner, a, &b)).await
    }
}

#[async_trait]
impl BlockBackend for FileBackend {
    fn name(&self) -> &str {
        &self.name
    }

    async fn create(&self, name: &str, size_gib: u64) -> Result<(), StorageError> {
        self.blocking(name, move |inner, name| inner.create(name, size_gib))
            .await
    }

    async fn delete(&self, name: &str) -> Result<(), StorageError> {
        self.blocking(name, |inner, name| {
            if let Some(t) = &inner.tracking {
                t.remove(&inner.path(&volume_file(name)))?;
            }
            inner.delete(&volume_file(name))
        })
        .await
    }

    async fn extend(&self, name: &str, new_size_gib: u64) -> Result<(), StorageError> {
        self.blocking(name, move |inner, name| inner.extend(name, new_size_gib))
            .await
    }

    async fn exists(&self, name: &str) -> Result<bool, StorageError> {
        self.blocking(name, |inner, name| inner.is_file(&volume_file(name)))
            .await
    }

    async fn size_bytes(&self, name: &str) -> Result<u64, StorageError> {
        self.blocking(name, |inner, name| {
            let meta = fs::metadata(inner.path(&volume_file(name)))
                .map_err(not_found_as(StorageError::NotFound, name))?;
            Ok(meta.len())
        })
        .await
    }

    async fn open(&self, name: &str) -> Result<Arc<dyn BlockDevice>, StorageError> {
        self.blocking(name, |inner, name| {
            let path = inner.path(&volume_file(name));
            let file = File::options()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(not_found_as(StorageError::NotFound, name))?;
            let device = FileDevice::new(file)?;
            let device: Arc<dyn BlockDevice> = match &inner.tracking {
                Some(t) => Arc::new(t.track(&path, device)?),
                None => Arc::new(device),
            };
            Ok(device)
        })
        .await
    }

    async fn create_snapshot(&self, volume: &str, snapshot: &str) -> Result<(), StorageError> {
        self.blocking_pair(volume, snapshot, Inner::create_snapshot)
            .await
    }

    async fn delete_snapshot(&self, snapshot: &str) -> Result<(), StorageError> {
        self.blocking(snapshot, |inner, name| inner.delete(&snapshot_file(name)))
            .await
    }

    async fn snapshot_exists(&self, snapshot: &str) -> Result<bool, StorageError> {
        self.blocking(snapshot, |inner, name| inner.is_file(&snapshot_file(name)))
            .await
    }

    async fn open_snapshot(&self, snapshot: &str) -> Result<Arc<dyn BlockDevice>, StorageError> {
        self.blocking(snapshot, |inner, name| {
            let file = File::open(inner.path(&snapshot_file(name)))
                .map_err(not_found_as(StorageError::SnapshotNotFound, name))?;
            let device: Arc<dyn BlockDevice> = Arc::new(FileDevice::read_only(file)?);
            Ok(device)
        })
        .await
    }

    async fn clone_volume(
        &self,
        source_volume: &str,
        new_volume: &str,
        size_gib: u64,
    ) -> Result<(), StorageError> {
        self.blocking_pair(source_volume, new_volume, move |inner, source, new| {
            inner.copy_to_volume(copies::Source::Volume(source), new, size_gib)
        })
        .await
    }

    async fn create_from_snapshot(
        &self,
        snapshot: &str,
        new_volume: &str,
        size_gib: u64,
    ) -> Result<(), StorageError> {
        self.blocking_pair(snapshot, new_volume, move |inner, snapshot, new| {
            inner.copy_to_volume(copies::Source::Snapshot(snapshot), new, size_gib)
        })
        .await
    }

    async fn revert_to_snapshot(&self, volume: &str, snapshot: &str) -> Result<(), StorageError> {
        self.blocking_pair(volume, snapshot, Inner::revert).await
    }

    async fn stats(&self) -> Result<BackendStats, StorageError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.stats())
            .await
            .map_err(|e| StorageError::Io(io::Error::other(e)))?
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities.clone()
    }

    fn local_path(&self, volume: &str) -> Option<PathBuf> {
        self.volume_path(volume).ok()
    }

    async fn largest_volume_gib(&self) -> Result<u64, StorageError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.capacity(0))
            .await
            .map_err(|e| StorageError::Io(io::Error::other(e)))?
            .map(|empty| {
                // What an empty backend could provision, by the thin-provisioning rule alone.
                let reserved = f64::from(empty.reserved_percentage.min(100)) / 100.0;
                let bytes =
                    empty.total_bytes as f64 * (1.0 - reserved) * empty.max_over_subscription_ratio;
                (bytes / GIB as f64).floor() as u64
            })
    }

    async fn changed_ranges(
        &self,
        base: &str,
        snapshot: &str,
    ) -> Result<Option<Vec<std::ops::Range<u64>>>, StorageError> {
        // Without reflink every snapshot owns its blocks: the maps say nothing.
        if !self.inner.reflink {
            return Ok(None);
        }
        self.blocking_pair(base, snapshot, |inner, base, snapshot| {
            let open = |name: &str| {
                File::open(inner.path(&snapshot_file(name)))
                    .map_err(not_found_as(StorageError::SnapshotNotFound, name))
            };
            let (a, b) = (open(base)?, open(snapshot)?);
            let size = b.metadata()?.len();
            let ranges = extents::differing(&extents::extents(&a)?, &extents::extents(&b)?, size);
            Ok(Some(ranges))
        })
        .await
    }

    async fn changes_since(
        &self,
        name: &str,
        parent: Option<&str>,
    ) -> Result<Baseline, StorageError> {
        let parent = parent.map(str::to_owned);
        self.blocking(name, move |inner, name| match &inner.tracking {
            Some(t) => Ok(t.baseline(&inner.path(&volume_file(name)), parent.as_deref())?),
            None => Ok(Baseline::default()),
        })
        .await
    }

    async fn track_from(
        &self,
        name: &str,
        backup: &str,
        baseline: &Baseline,
    ) -> Result<(), StorageError> {
        let (backup, stamp) = (backup.to_owned(), baseline.stamp);
        self.blocking(name, move |inner, name| {
            let path = inner.path(&volume_file(name));
            match (&inner.tracking, stamp) {
                (Some(t), Some(stamp)) => Ok(t.restart(&path, &backup, stamp)?),
                (Some(t), None) => Ok(t.forget(&path)?),
                (None, _) => Ok(()),
            }
        })
        .await
    }

    async fn forget_changes(&self, name: &str) -> Result<(), StorageError> {
        self.blocking(name, |inner, name| match &inner.tracking {
            Some(t) => Ok(t.forget(&inner.path(&volume_file(name)))?),
            None => Ok(()),
        })
        .await
    }

    async fn list_files(&self) -> Result<Vec<(String, u64)>, StorageError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || adopt::list_files(&inner.dir))
            .await
            .map_err(|e| StorageError::Io(io::Error::other(e)))?
    }

    async fn adopt(&self, source: &str, name: &str, size_gib: u64) -> Result<(), StorageError> {
        let source = adopt::plain_file_name(source)?.to_owned();
        self.blocking(name, move |inner, name| {
            inner.adopt(&source, name, size_gib)
        })
        .await
    }

    async fn adopt_snapshot(
        &self,
        source: &str,
        name: &str,
        size_gib: u64,
    ) -> Result<(), StorageError> {
        let source = adopt::plain_file_name(source)?.to_owned();
        self.blocking(name, move |inner, name| {
            inner.adopt_snapshot(&source, name, size_gib)
        })
        .await
    }
}

/// The file name of volume `name`.
fn volume_file(name: &str) -> String {
    format!("{VOLUME_PREFIX}{name}")
}

/// The file name of snapshot `name`.
fn snapshot_file(name: &str) -> String {
    format!("{SNAPSHOT_PREFIX}{name}")
}

impl Inner {
    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Hidden and without a prefix, so a leftover never counts as a volume or snapshot. One
    /// fixed name per file: a retried create truncates the leftover, delete removes it.
    fn temp_path(&self, file: &str) -> PathBuf {
        self.dir.join(format!(".{file}.tmp"))
    }

    /// Takes the change lock once no copy into `file` is under way, so that no change to a
    /// file overtakes a copy into it (and sees it missing, or loses its temporary file).
    fn lock_idle(&self, file: &str) -> MutexGuard<'_, Changes> {
        let mut changes = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        while changes.copying.contains(file) {
            changes = self
                .copy_ended
                .wait(changes)
                .unwrap_or_else(PoisonError::into_inner);
        }
        changes
    }

    fn is_file(&self, file: &str) -> Result<bool, StorageError> {
        match fs::metadata(self.path(file)) {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn create(&self, name: &str, size_gib: u64) -> Result<(), StorageError> {
        if size_gib == 0 {
            return Err(StorageError::InvalidSize(
                "a volume needs at least 1 GiB".into(),
            ));
        }
        let file = volume_file(name);
        let mut changes = self.lock_idle(&file);
        let path = self.path(&file);
        if self.existing_volume(name, &path, size_gib)? {
            return Ok(());
        }
        let stats = self.capacity(changes.provisioned)?;
        stats.check_capacity(size_gib)?;
        let bytes = gib_to_bytes(size_gib).ok_or_else(|| too_big(size_gib, &stats))?;

        let temp = self.temp_path(&file);
        let made = (|| {
            let file = File::options()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&temp)?;
            // set_len on an empty file allocates nothing: the volume is sparse from the start.
            file.set_len(bytes).map_err(efbig_as(size_gib, &stats))?;
            file.sync_all()?;
            fs::rename(&temp, &path)?;
            sync_dir(&self.dir)
        })();
        match made {
            Ok(()) => changes.provisioned += bytes,
            Err(_) => {
                let _ = fs::remove_file(&temp);
            }
        }
        made
    }

    /// For an idempotent create or copy into volume `name`: true when it already exists with
    /// `size_gib`, [`StorageError::AlreadyExists`] when with another size, false when missing.
    fn existing_volume(
        &self,
        name: &str,
        path: &Path,
        size_gib: u64,
    ) -> Result<bool, StorageError> {
        match fs::metadata(path) {
            Ok(meta) if Some(meta.len()) == gib_to_bytes(size_gib) => Ok(true),
            Ok(meta) => Err(StorageError::AlreadyExists {
                name: name.to_owned(),
                size_bytes: meta.len(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a volume or snapshot `file` and its temporary leftover, if present.
    fn delete(&self, file: &str) -> Result<(), StorageError> {
        let mut changes = self.lock_idle(file);
        let path = self.path(file);
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let removed = remove_if_present(&path)?;
        if removed {
            changes.provisioned = changes.provisioned.saturating_sub(size);
        }
        let removed_temp = remove_if_present(&self.temp_path(file))?;
        if removed || removed_temp {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    fn extend(&self, name: &str, new_size_gib: u64) -> Result<(), StorageError> {
        let file = volume_file(name);
        let mut changes = self.lock_idle(&file);
        let path = self.path(&file);
        let current = fs::metadata(&path)
            .map_err(not_found_as(StorageError::NotFound, name))?
            .len();
        let new_bytes = gib_to_bytes(new_size_gib);
        if new_bytes == Some(current) {
            return Ok(());
        }
        if new_bytes.is_some_and(|new| new < current) {
            return Err(StorageError::InvalidSize(format!(
                "cannot shrink volume {name} from {current} bytes to {new_size_gib} GiB"
            )));
        }
        let stats = self.capacity(changes.provisioned)?;
        stats.check_capacity(new_size_gib - current / GIB)?;
        let new_bytes = new_bytes.ok_or_else(|| too_big(new_size_gib, &stats))?;
        let file = File::options().write(true).open(&path)?;
        file.set_len(new_bytes)
            .map_err(efbig_as(new_size_gib, &stats))?;
        // sync_all, not sync_data: the new size is metadata and must survive a crash.
        file.sync_all()?;
        changes.provisioned += new_bytes - current;
        Ok(())
    }

    /// The figures a capacity check needs: the filesystem's, and the provisioned bytes kept
    /// under the lock (allocation is not needed and would cost a scan).
    fn capacity(&self, provisioned: u64) -> Result<BackendStats, StorageError> {
        let fs = rustix::fs::statvfs(&self.dir).map_err(io::Error::from)?;
        Ok(BackendStats {
            total_bytes: fs.f_blocks * fs.f_frsize,
            free_bytes: fs.f_bavail * fs.f_frsize,
            allocated_bytes: 0,
            provisioned_bytes: provisioned,
            volume_count: 0,
            max_over_subscription_ratio: self.over_subscription_ratio,
            reserved_percentage: self.reserved_percentage,
        })
    }

    /// Full figures for reporting, from a scan of the volume and snapshot files.
    fn stats(&self) -> Result<BackendStats, StorageError> {
        let fs = rustix::fs::statvfs(&self.dir).map_err(io::Error::from)?;
        let scanned = scan(&self.dir)?;
        Ok(BackendStats {
            total_bytes: fs.f_blocks * fs.f_frsize,
            // f_bavail, not f_bfree: root's reserved blocks are not ours to promise.
            free_bytes: fs.f_bavail * fs.f_frsize,
            allocated_bytes: scanned.allocated,
            provisioned_bytes: scanned.provisioned,
            volume_count: scanned.volumes,
            max_over_subscription_ratio: self.over_subscription_ratio,
            reserved_percentage: self.reserved_percentage,
        })
    }
}
