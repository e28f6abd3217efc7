//! The repository lock: `flock` on `DIR/lock`. Backups, imports and restores hold it shared,
//! the sweep exclusive, so the sweep's mark phase sees every manifest that could reference a
//! chunk: a backup that found a chunk already stored, and will name it in a manifest not yet
//! written, keeps the sweep waiting until it is done. Linux forwards `flock` on NFS to the
//! server's byte-range locks, so this holds across hosts sharing the repository too.

use std::fs::File;
use std::io;
use std::path::Path;

use rustix::fs::FlockOperation;

/// A held lock; released on drop (closing the file releases the `flock`).
#[derive(Debug)]
pub(crate) struct RepoLock {
    _file: File,
}

impl RepoLock {
    /// Blocks until the lock is held in shared mode.
    pub(crate) fn shared(path: &Path) -> io::Result<Self> {
        Self::take(path, FlockOperation::LockShared)
    }

    /// Blocks until the lock is held in exclusive mode.
    pub(crate) fn exclusive(path: &Path) -> io::Result<Self> {
        Self::take(path, FlockOperation::LockExclusive)
    }

    /// Takes the exclusive lock only if nobody holds the lock now.
    #[cfg(test)]
    pub(crate) fn try_exclusive(path: &Path) -> io::Result<Option<Self>> {
        match Self::take(path, FlockOperation::NonBlockingLockExclusive) {
            Ok(lock) => Ok(Some(lock)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn take(path: &Path, op: FlockOperation) -> io::Result<Self> {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        rustix::fs::flock(&file, op)?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exclusive_lock_waits_for_shared_holders() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let shared = RepoLock::shared(&path).unwrap();
        let also_shared = RepoLock::shared(&path).unwrap();
        assert!(RepoLock::try_exclusive(&path).unwrap().is_none());
        drop(shared);
        assert!(RepoLock::try_exclusive(&path).unwrap().is_none());
        drop(also_shared);
        let exclusive = RepoLock::try_exclusive(&path).unwrap();
        assert!(exclusive.is_some());
    }
}
