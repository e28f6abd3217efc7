//! The local file backend: each volume is a sparse raw file `<dir>/volume-<name>` of exactly
//! its size. A volume file appears under its real name only when complete (temp file, fsync,
//! rename, fsync of the directory), so a crash never leaves a half-made volume behind.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use rustix::io::Errno;

use crate::backend::gib_to_bytes;
use crate::{
    validate_name, BackendStats, BlockBackend, BlockDevice, Capabilities, FileDevice, StorageError,
    GIB,
};

/// Prefix of volume files, Cinder's `volume_name_template`, so operators see familiar names
/// and snapshots can later live beside them under their own prefix.
const VOLUME_PREFIX: &str = "volume-";

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
    /// Serialises create, extend and delete, so the capacity check and the change it allows
    /// happen as one step: two concurrent creates cannot both take the last free space. It
    /// guards the bytes provisioned to volumes, counted once at start and kept up to date, so
    /// that a capacity check costs a `statvfs`, not a scan of every volume file.
    /// A std mutex, because it is only ever taken on a blocking thread.
    changes: Mutex<u64>,
}

impl FileBackend {
    /// A backend over `dir` (created if missing). Probes once whether the filesystem can
    /// reflink and punch holes. `over_subscription_ratio` must be at least 1.0 and
    /// `reserved_percentage` at most 100 (see [`BackendStats::provisionable_bytes`]).
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
        let provisioned = scan(&dir)?.1;
        tracing::debug!(dir = %dir.display(), reflink, discard, "file backend ready");
        Ok(Self {
            inner: Arc::new(Inner {
                dir,
                over_subscription_ratio,
                reserved_percentage,
                changes: Mutex::new(provisioned),
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
        Ok(self.inner.volume_path(name))
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
        self.blocking(name, Inner::delete).await
    }

    async fn extend(&self, name: &str, new_size_gib: u64) -> Result<(), StorageError> {
        self.blocking(name, move |inner, name| inner.extend(name, new_size_gib))
            .await
    }

    async fn exists(&self, name: &str) -> Result<bool, StorageError> {
        self.blocking(name, |inner, name| {
            match fs::metadata(inner.volume_path(name)) {
                Ok(meta) => Ok(meta.is_file()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn size_bytes(&self, name: &str) -> Result<u64, StorageError> {
        self.blocking(name, |inner, name| {
            let meta = fs::metadata(inner.volume_path(name)).map_err(not_found_as(name))?;
            Ok(meta.len())
        })
        .await
    }

    async fn open(&self, name: &str) -> Result<Arc<dyn BlockDevice>, StorageError> {
        self.blocking(name, |inner, name| {
            let file = File::options()
                .read(true)
                .write(true)
                .open(inner.volume_path(name))
                .map_err(not_found_as(name))?;
            let device: Arc<dyn BlockDevice> = Arc::new(FileDevice::new(file)?);
            Ok(device)
        })
        .await
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
}

impl Inner {
    fn volume_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{VOLUME_PREFIX}{name}"))
    }

    /// Hidden and without the volume prefix, so a leftover never counts as a volume. One fixed
    /// name per volume: a retried create truncates the leftover, delete removes it.
    fn temp_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!(".{VOLUME_PREFIX}{name}.tmp"))
    }

    fn create(&self, name: &str, size_gib: u64) -> Result<(), StorageError> {
        if size_gib == 0 {
            return Err(StorageError::InvalidSize(
                "a volume needs at least 1 GiB".into(),
            ));
        }
        let mut provisioned = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        let path = self.volume_path(name);
        match fs::metadata(&path) {
            Ok(meta) if Some(meta.len()) == gib_to_bytes(size_gib) => return Ok(()),
            Ok(meta) => {
                return Err(StorageError::AlreadyExists {
                    name: name.to_owned(),
                    size_bytes: meta.len(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let stats = self.capacity(*provisioned)?;
        stats.check_capacity(size_gib)?;
        let bytes = gib_to_bytes(size_gib).ok_or_else(|| too_big(size_gib, &stats))?;

        let temp = self.temp_path(name);
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
            Ok(()) => *provisioned += bytes,
            Err(_) => {
                let _ = fs::remove_file(&temp);
            }
        }
        made
    }

    fn delete(&self, name: &str) -> Result<(), StorageError> {
        let mut provisioned = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        let path = self.volume_path(name);
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let removed_volume = remove_if_present(&path)?;
        if removed_volume {
            *provisioned = provisioned.saturating_sub(size);
        }
        let removed_temp = remove_if_present(&self.temp_path(name))?;
        if removed_volume || removed_temp {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    fn extend(&self, name: &str, new_size_gib: u64) -> Result<(), StorageError> {
        let mut provisioned = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        let path = self.volume_path(name);
        let current = fs::metadata(&path).map_err(not_found_as(name))?.len();
        let new_bytes = gib_to_bytes(new_size_gib);
        if new_bytes == Some(current) {
            return Ok(());
        }
        if new_bytes.is_some_and(|new| new < current) {
            return Err(StorageError::InvalidSize(format!(
                "cannot shrink volume {name} from {current} bytes to {new_size_gib} GiB"
            )));
        }
        let stats = self.capacity(*provisioned)?;
        stats.check_capacity(new_size_gib - current / GIB)?;
        let new_bytes = new_bytes.ok_or_else(|| too_big(new_size_gib, &stats))?;
        let file = File::options().write(true).open(&path)?;
        file.set_len(new_bytes)
            .map_err(efbig_as(new_size_gib, &stats))?;
        // sync_all, not sync_data: the new size is metadata and must survive a crash.
        file.sync_all()?;
        *provisioned += new_bytes - current;
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

    /// Full figures for reporting, from a scan of the volume files.
    fn stats(&self) -> Result<BackendStats, StorageError> {
        let fs = rustix::fs::statvfs(&self.dir).map_err(io::Error::from)?;
        let (allocated, provisioned, count) = scan(&self.dir)?;
        Ok(BackendStats {
            total_bytes: fs.f_blocks * fs.f_frsize,
            // f_bavail, not f_bfree: root's reserved blocks are not ours to promise.
            free_bytes: fs.f_bavail * fs.f_frsize,
            allocated_bytes: allocated,
            provisioned_bytes: provisioned,
            volume_count: count,
            max_over_subscription_ratio: self.over_subscription_ratio,
            reserved_percentage: self.reserved_percentage,
        })
    }
}

/// (allocated, provisioned, count) over the volume files of `dir`.
fn scan(dir: &Path) -> Result<(u64, u64, u64), StorageError> {
    let (mut allocated, mut provisioned, mut count) = (0u64, 0u64, 0u64);
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if !entry
            .file_name()
            .as_encoded_bytes()
            .starts_with(VOLUME_PREFIX.as_bytes())
        {
            continue;
        }
        let meta = match entry.metadata() {
            Ok(meta) if meta.is_file() => meta,
            Ok(_) => continue,
            // Deleted between listing and stat: no longer a volume.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        // st_blocks counts 512-byte units whatever the filesystem's block size.
        allocated += meta.blocks() * 512;
        provisioned += meta.len();
        count += 1;
    }
    Ok((allocated, provisioned, count))
}

/// Tries a reflink and a hole punch on scratch files, which are removed again. Unique names
/// keep two backends starting over one directory from tripping over each other.
fn probe_features(dir: &Path) -> Result<(bool, bool), StorageError> {
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
fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

fn remove_if_present(path: &Path) -> Result<bool, StorageError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn not_found_as(name: &str) -> impl FnOnce(io::Error) -> StorageError + '_ {
    move |e| match e.kind() {
        io::ErrorKind::NotFound => StorageError::NotFound(name.to_owned()),
        _ => StorageError::Io(e),
    }
}

fn too_big(requested_gib: u64, stats: &BackendStats) -> StorageError {
    StorageError::InsufficientCapacity {
        requested_gib,
        available_gib: stats.provisionable_bytes() / GIB,
    }
}

/// A size beyond the filesystem's largest file (EFBIG) is a capacity refusal, not an I/O fault.
fn efbig_as(requested_gib: u64, stats: &BackendStats) -> impl FnOnce(io::Error) -> StorageError {
    let refusal = too_big(requested_gib, stats);
    move |e| match Errno::from_io_error(&e) {
        Some(Errno::FBIG) => refusal,
        _ => StorageError::Io(e),
    }
}
