//! `Repository`: a backup repository in one directory, local or on shared storage.
//!
//! ```text
//! DIR/repository.json      {"format": 1, "chunk_size": N}, written once at creation
//! DIR/lock                 flock target (see lock.rs)
//! DIR/chunks/ab/ab12...    one zstd frame per distinct chunk, named by its SHA-256
//! DIR/manifests/<id>.json  one per backup, written last
//! DIR/tmp/                 files being written; emptied by the sweep
//! ```
//!
//! Invariants: a chunk file is complete under its final name; a manifest exists only after
//! every chunk it names is durable; a chunk is removed only by the sweep, under the
//! exclusive lock, when no manifest names it.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::chunk::ChunkStore;
use crate::error::{BackupError, Result};
use crate::fsio;
use crate::lock::RepoLock;
use crate::manifest::Manifest;

/// The default chunk size, 1 MiB (docs/decisions.md).
pub const DEFAULT_CHUNK_SIZE: u64 = 1 << 20;

/// The longest backup id accepted; a UUID is 36 characters.
pub const MAX_ID_LEN: usize = 128;

const CONFIG: &str = "repository.json";
const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    format: u32,
    chunk_size: u64,
}

/// A backup repository. Cheap to clone; every method blocks (run it on a blocking thread).
#[derive(Debug, Clone)]
pub struct Repository {
    root: PathBuf,
    chunk_size: u64,
    threads: usize,
    pub(crate) chunks: ChunkStore,
}

impl Repository {
    /// Opens the repository in `root`, creating it (with `chunk_size`) when the directory is
    /// missing or empty. An existing repository keeps its own chunk size. Safe to call
    /// concurrently: the configuration is created with a no-replace link.
    pub fn open_or_create(root: impl AsRef<Path>, chunk_size: u64) -> Result<Self> {
        let root = root.as_ref();
        if !root.join(CONFIG).exists() {
            Self::create(root, chunk_size)?;
        }
        Self::open(root)
    }

    /// Opens an existing repository.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        let not_repo = |reason: String| BackupError::NotARepository {
            path: root.clone(),
            reason,
        };
        let bytes = fsio::read_optional(&root.join(CONFIG))
            .map_err(BackupError::io(format!(
                "reading {}",
                root.join(CONFIG).display()
            )))?
            .ok_or_else(|| not_repo(format!("no {CONFIG}")))?;
        let config: Config =
            serde_json::from_slice(&bytes).map_err(|e| not_repo(format!("{CONFIG}: {e}")))?;
        if config.format != FORMAT {
            return Err(not_repo(format!("unknown format {}", config.format)));
        }
        if config.chunk_size == 0 {
            return Err(not_repo("chunk size 0".into()));
        }
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            chunks: ChunkStore::new(root.join("chunks"), root.join("tmp")),
            root,
            chunk_size: config.chunk_size,
            // One more thread than cores, so a core stays busy while a thread waits on I/O.
            threads: threads + 1,
        })
    }

    fn create(root: &Path, chunk_size: u64) -> Result<()> {
        if chunk_size == 0 || chunk_size > 1 << 30 {
            return Err(BackupError::NotARepository {
                path: root.to_path_buf(),
                reason: format!("chunk size {chunk_size} is not within 1 B..1 GiB"),
            });
        }
        let ctx = |what: &str| BackupError::io(format!("creating {what} in {}", root.display()));
        for dir in ["", "chunks", "manifests", "tmp"] {
            fs::create_dir_all(root.join(dir)).map_err(ctx(dir))?;
        }
        ChunkStore::new(root.join("chunks"), root.join("tmp"))
            .create_shards()
            .map_err(ctx("chunk shards"))?;
        let config = serde_json::to_vec_pretty(&Config {
            format: FORMAT,
            chunk_size,
        })
        .expect("config serialises");
        // A racing creator may have won: its configuration stands.
        fsio::create_atomic(&root.join("tmp"), "config", &root.join(CONFIG), &config)
            .map_err(ctx(CONFIG))?;
        fsio::sync_dir(root).map_err(ctx("the root entry"))
    }

    /// The repository's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Bytes per chunk for new backups.
    pub fn chunk_size(&self) -> u64 {
        self.chunk_size
    }

    /// Sets the number of threads a backup or restore uses (at least 1). The default is one
    /// more than the CPUs.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub(crate) fn manifest_dir(&self) -> PathBuf {
        self.root.join("manifests")
    }

    pub(crate) fn manifest_path(&self, id: &str) -> PathBuf {
        self.manifest_dir().join(format!("{id}.json"))
    }

    pub(crate) fn lock_shared(&self) -> Result<RepoLock> {
        RepoLock::shared(&self.root.join("lock")).map_err(BackupError::io("taking the shared lock"))
    }

    pub(crate) fn lock_exclusive(&self) -> Result<RepoLock> {
        RepoLock::exclusive(&self.root.join("lock"))
            .map_err(BackupError::io("taking the exclusive lock"))
    }

    /// Whether a backup of that id exists.
    pub fn exists(&self, id: &str) -> Result<bool> {
        validate_id(id)?;
        Ok(self.manifest_path(id).exists())
    }

    /// Reads and verifies a backup's manifest. Errors: [`BackupError::NotFound`],
    /// [`BackupError::InvalidManifest`] when the file fails its checksum.
    pub fn manifest(&self, id: &str) -> Result<Manifest> {
        validate_id(id)?;
        let path = self.manifest_path(id);
        let bytes = fsio::read_optional(&path)
            .map_err(BackupError::io(format!("reading {}", path.display())))?
            .ok_or_else(|| BackupError::NotFound(id.to_owned()))?;
        let manifest = Manifest::from_bytes(&bytes, &path.display().to_string())?;
        if manifest.id != id {
            return Err(BackupError::InvalidManifest {
                what: path.display().to_string(),
                reason: format!("holds backup {}", manifest.id),
            });
        }
        Ok(manifest)
    }

    /// The ids of every backup in the repository, sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let dir = self.manifest_dir();
        let mut ids = Vec::new();
        let entries =
            fs::read_dir(&dir).map_err(BackupError::io(format!("listing {}", dir.display())))?;
        for entry in entries {
            let entry = entry.map_err(BackupError::io(format!("listing {}", dir.display())))?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if validate_id(id).is_ok() {
                ids.push(id.to_owned());
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Every manifest, verified. One that fails its checksum is an error: the sweep must not
    /// guess what it referenced.
    pub fn manifests(&self) -> Result<Vec<Manifest>> {
        self.list()?
            .iter()
            .filter_map(|id| match self.manifest(id) {
                // Deleted between the listing and the read.
                Err(BackupError::NotFound(_)) => None,
                other => Some(other),
            })
            .collect()
    }

    /// The ids of the backups whose parent is `id` (Cinder's `has_dependent_backups`).
    pub fn children(&self, id: &str) -> Result<Vec<String>> {
        validate_id(id)?;
        Ok(self
            .manifests()?
            .into_iter()
            .filter(|m| m.parent.as_deref() == Some(id))
            .map(|m| m.id)
            .collect())
    }
}

/// Checks that a backup id is safe as a file name: 1 to [`MAX_ID_LEN`] of `[A-Za-z0-9_-]`.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(BackupError::InvalidId(id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_keeps_its_chunk_size() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::open_or_create(dir.path(), 1 << 20).unwrap();
        assert_eq!(repo.chunk_size(), 1 << 20);
        let again = Repository::open_or_create(dir.path(), 4 << 20).unwrap();
        assert_eq!(again.chunk_size(), 1 << 20);
        assert!(repo.list().unwrap().is_empty());
    }

    #[test]
    fn a_plain_directory_is_not_a_repository() {
        let dir = tempfile::tempdir().unwrap();
        let err = Repository::open(dir.path()).unwrap_err();
        assert!(matches!(err, BackupError::NotARepository { .. }), "{err}");
    }

    #[test]
    fn ids_that_could_escape_are_refused() {
        for bad in ["", "..", "a/b", "a.json", &"x".repeat(MAX_ID_LEN + 1)] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
        assert!(validate_id("6f1c0d2e-8a53-4c7e-9d5b-1e0f2a3b4c5d").is_ok());
    }
}
