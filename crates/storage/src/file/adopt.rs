//! Files an operator put in the backend's directory: listing them and adopting one as a
//! volume (Cinder's manage). Adoption is a rename into `volume-<name>` under the change lock,
//! then growth to whole GiB; a retry after a crash finds the rename done and only grows.

use std::fs::{self, File};
use std::io;
use std::path::Path;

use super::disk::{not_found_as, sync_dir};
use super::{snapshot_file, volume_file, Inner, SNAPSHOT_PREFIX, VOLUME_PREFIX};
use crate::backend::gib_to_bytes;
use crate::StorageError;

/// Every regular file of `dir` whose name is UTF-8 and not hidden (temporary files and
/// probes are hidden), with its size. Symbolic links are not followed, so nothing outside
/// the directory is ever listed.
pub(super) fn list_files(dir: &Path) -> Result<Vec<(String, u64)>, StorageError> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        // DirEntry::metadata does not traverse symbolic links.
        match entry.metadata() {
            Ok(meta) if meta.is_file() => files.push((name, meta.len())),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(files)
}

/// `name` if it names a plain, visible file of the directory (no path, not hidden);
/// anything else cannot be one of the listed files, so it is not found.
pub(super) fn plain_file_name(name: &str) -> Result<&str, StorageError> {
    let plain = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains(['/', '\0']);
    if plain {
        Ok(name)
    } else {
        Err(StorageError::NotFound(name.to_owned()))
    }
}

impl Inner {
    /// Adopts `source` as volume `name`.
    pub(super) fn adopt(
        &self,
        source: &str,
        name: &str,
        size_gib: u64,
    ) -> Result<(), StorageError> {
        self.adopt_as(source, volume_file(name), size_gib)
    }

    /// Adopts `source` as snapshot `name`.
    pub(super) fn adopt_snapshot(
        &self,
        source: &str,
        name: &str,
        size_gib: u64,
    ) -> Result<(), StorageError> {
        self.adopt_as(source, snapshot_file(name), size_gib)
    }

    fn adopt_as(&self, source: &str, file: String, size_gib: u64) -> Result<(), StorageError> {
        let mut changes = self.lock_idle(&file);
        let target = self.path(&file);
        let too_small = |len: u64| {
            StorageError::InvalidSize(format!(
                "file {source} holds {len} bytes, more than {size_gib} GiB"
            ))
        };
        let want = gib_to_bytes(size_gib).ok_or_else(|| too_small(u64::MAX))?;
        match fs::symlink_metadata(&target) {
            // Renamed by an earlier attempt.
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let src = self.path(source);
                let meta = fs::symlink_metadata(&src)
                    .map_err(not_found_as(StorageError::NotFound, source))?;
                if !meta.is_file() {
                    return Err(StorageError::NotFound(source.to_owned()));
                }
                if meta.len() > want {
                    return Err(too_small(meta.len()));
                }
                fs::rename(&src, &target)?;
                sync_dir(&self.dir)?;
                // Files under a volume or snapshot prefix were counted already.
                if !source.starts_with(VOLUME_PREFIX) && !source.starts_with(SNAPSHOT_PREFIX) {
                    changes.provisioned += meta.len();
                }
            }
            Err(e) => return Err(e.into()),
        }
        let f = File::options().write(true).open(&target)?;
        let len = f.metadata()?.len();
        if len > want {
            return Err(too_small(len));
        }
        if len < want {
            f.set_len(want)?;
            f.sync_all()?;
            changes.provisioned += want - len;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlockBackend, FileBackend, GIB};

    #[tokio::test]
    async fn a_raw_file_becomes_a_volume_of_whole_gib_once() {
        let dir = tempfile::tempdir().unwrap();
        let b = FileBackend::new(dir.path().to_path_buf(), 1.0, 0).unwrap();
        std::fs::write(dir.path().join("disk.img"), b"hello").unwrap();
        std::fs::write(dir.path().join(".hidden"), b"x").unwrap();
        let files = b.list_files().await.unwrap();
        assert_eq!(files, vec![("disk.img".to_owned(), 5)]);
        b.adopt("disk.img", "v1", 1).await.unwrap();
        // A retry finds the work done.
        b.adopt("disk.img", "v1", 1).await.unwrap();
        assert_eq!(b.size_bytes("v1").await.unwrap(), GIB);
        assert!(!dir.path().join("disk.img").exists());
        let mut buf = [0u8; 5];
        b.open("v1").await.unwrap().read_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"hello");
        assert!(matches!(
            b.adopt("missing", "v2", 1).await,
            Err(StorageError::NotFound(_))
        ));
        assert!(matches!(
            b.adopt("../etc", "v2", 1).await,
            Err(StorageError::NotFound(_))
        ));
        std::fs::write(dir.path().join("snap.img"), b"s").unwrap();
        b.adopt_snapshot("snap.img", "s1", 1).await.unwrap();
        assert!(b.snapshot_exists("s1").await.unwrap());
        std::fs::write(dir.path().join("snap.img"), b"s").unwrap();
        b.adopt_snapshot("snap.img", "s1", 1).await.unwrap();
        assert!(b.snapshot_exists("s1").await.unwrap());
    }
}
