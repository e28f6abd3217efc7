//! Deleting backups and freeing chunks by mark and sweep.
//!
//! A delete removes the manifest (durably) and then sweeps: under the exclusive lock, so no
//! backup or import is between finding a chunk and naming it in its manifest, it marks
//! every chunk that any remaining manifest names and removes the rest, with every leftover
//! temporary file. A crash anywhere leaves at worst unreferenced chunks for the next sweep;
//! a referenced chunk is never removed, because the marks come from the manifests
//! themselves and a manifest that cannot be read stops the sweep.

use std::collections::HashSet;
use std::fs;
use std::io;

use crate::error::{BackupError, Result};
use crate::fsio;
use crate::repo::{validate_id, Repository};

/// What a sweep freed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepStats {
    /// Chunks no manifest named, removed.
    pub chunks_removed: u64,
    /// Their size on disk (compressed).
    pub bytes_freed: u64,
    /// Chunks still named by a manifest.
    pub chunks_kept: u64,
    /// Leftovers of interrupted writes removed from `tmp/`.
    pub temp_files_removed: u64,
}

impl Repository {
    /// Deletes backup `id` and frees the chunks no other backup uses.
    ///
    /// Refuses with [`BackupError::HasChildren`] while incremental backups name it as their
    /// parent (Cinder's rule; every manifest here is complete, so the children would still
    /// restore). A missing backup is success: a job retried after a crash between the
    /// manifest's removal and the sweep finishes the sweep. Waits for running backups
    /// (the sweep needs the exclusive lock).
    pub fn delete(&self, id: &str) -> Result<SweepStats> {
        validate_id(id)?;
        let children = self.children(id)?;
        if !children.is_empty() {
            return Err(BackupError::HasChildren {
                id: id.to_owned(),
                children,
            });
        }
        let path = self.manifest_path(id);
        match fs::remove_file(&path) {
            Ok(()) => fsio::sync_dir(&self.manifest_dir())
                .map_err(BackupError::io(format!("removing {}", path.display())))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(BackupError::io(format!("removing {}", path.display()))(e)),
        }
        self.sweep()
    }

    /// Removes every chunk no manifest names and every temporary file: the clean-up after
    /// crashed backups and deletes. Safe at any time (it waits for running backups).
    pub fn sweep(&self) -> Result<SweepStats> {
        let _lock = self.lock_exclusive()?;
        let mut stats = SweepStats::default();
        let live: HashSet<_> = self
            .manifests()?
            .into_iter()
            .flat_map(|m| m.chunks.into_iter().flatten())
            .collect();
        let listing = BackupError::io("listing the chunks");
        let mut shards = HashSet::new();
        for (id, path) in self.chunks.list().map_err(listing)? {
            if live.contains(&id) {
                stats.chunks_kept += 1;
                continue;
            }
            let removed = BackupError::io(format!("removing {}", path.display()));
            let len = fs::symlink_metadata(&path).map(|m| m.len()).unwrap_or(0);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(removed(e)),
            }
            stats.chunks_removed += 1;
            stats.bytes_freed += len;
            shards.insert(id.0[0]);
        }
        self.chunks
            .sync_shards(shards)
            .map_err(BackupError::io("syncing the chunk directories"))?;

        // Nobody writes while we hold the exclusive lock: everything here is a leftover.
        let tmp = self.tmp_dir();
        let ctx = || format!("cleaning {}", tmp.display());
        for entry in fs::read_dir(&tmp).map_err(|e| BackupError::io(ctx())(e))? {
            let entry = entry.map_err(|e| BackupError::io(ctx())(e))?;
            match fs::remove_file(entry.path()) {
                Ok(()) => stats.temp_files_removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(BackupError::io(ctx())(e)),
            }
        }
        Ok(stats)
    }
}
