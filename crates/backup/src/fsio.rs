//! Durable file operations. A file reaches its final name only complete and fsynced (written
//! under a unique temporary name in `tmp/`, `fdatasync`, `rename`), and a directory is fsynced
//! before anything that depends on its entries, so a crash leaves either the whole file or
//! none of it under the final name, never a torn one.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Fsyncs a directory, making the creations, renames and removals in it durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A temporary path in `tmp_dir` that no other writer, in this process or another host
/// sharing the repository, will choose: a random UUID.
pub(crate) fn temp_path(tmp_dir: &Path, kind: &str) -> PathBuf {
    tmp_dir.join(format!("{kind}-{}", uuid::Uuid::new_v4().simple()))
}

/// Writes `bytes` to `dest` atomically: a temporary file in `tmp_dir` (same filesystem),
/// fdatasync, rename over `dest`. The caller fsyncs `dest`'s directory (once for many files
/// where it can), which makes the rename itself durable.
pub(crate) fn write_atomic(
    tmp_dir: &Path,
    kind: &str,
    dest: &Path,
    bytes: &[u8],
) -> io::Result<()> {
    let tmp = temp_path(tmp_dir, kind);
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_data()?;
        fs::rename(&tmp, dest)
    })();
    if result.is_err() {
        // Best effort: whatever is left is removed by the next sweep anyway.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates `dest` atomically with `bytes` unless it exists: a hard link from the fsynced
/// temporary file, which fails with `AlreadyExists` instead of replacing (rename would).
/// Returns false when `dest` was already there. The caller fsyncs `dest`'s directory.
pub(crate) fn create_atomic(
    tmp_dir: &Path,
    kind: &str,
    dest: &Path,
    bytes: &[u8],
) -> io::Result<bool> {
    let tmp = temp_path(tmp_dir, kind);
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_data()?;
        match fs::hard_link(&tmp, dest) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    })();
    let _ = fs::remove_file(&tmp);
    result
}

/// Reads a file, mapping "not found" to `None`.
pub(crate) fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("dest");
        write_atomic(dir.path(), "t", &dest, b"one").unwrap();
        write_atomic(dir.path(), "t", &dest, b"two").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn create_atomic_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("dest");
        assert!(create_atomic(dir.path(), "t", &dest, b"one").unwrap());
        assert!(!create_atomic(dir.path(), "t", &dest, b"two").unwrap());
        assert_eq!(fs::read(&dest).unwrap(), b"one");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
