//! Taking a backup: plan the chunks, read and store the ones that need it on a pool of
//! threads (read, zero check, SHA-256, and zstd + durable write only for a chunk the
//! repository lacks), fsync the shard directories that gained chunks, and only then write
//! the manifest. Until the manifest's rename the backup does not exist; a crash before it
//! leaves at most unreferenced chunks and temporary files, which the sweep removes.

use std::collections::{BTreeSet, HashSet};
use std::ops::Range;
use std::sync::Mutex;

use basalt_storage::BlockDevice;
use chrono::{DateTime, Utc};

use crate::chunk::{self, ChunkId, ZSTD_LEVEL};
use crate::error::{BackupError, Result};
use crate::manifest::Manifest;
use crate::plan::{self, Step};
use crate::repo::{validate_id, Repository};
use crate::{fsio, pool};

/// What a backup starts from.
#[derive(Debug, Clone, Copy)]
pub enum Base<'a> {
    /// Every chunk is read (holes the device reports are skipped unread).
    Full,
    /// Incremental on `parent`. With `changed` (the ranges written since the parent's
    /// snapshot, e.g. from a dirty bitmap or the extents that differ between two snapshots),
    /// chunks no range touches are taken from the parent unread; with `None`, every data
    /// chunk is read and hashed but only changed ones are compressed and stored.
    Incremental {
        parent: &'a str,
        changed: Option<&'a [Range<u64>]>,
    },
}

/// What one backup did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackupStats {
    /// Bytes read from the source device.
    pub bytes_read: u64,
    /// Chunks compressed and written by this backup.
    pub chunks_new: u64,
    /// Data chunks already in the repository (read and found, or taken from the parent).
    pub chunks_reused: u64,
    /// Of those, taken from the parent without reading.
    pub chunks_unread: u64,
    /// Chunks of zeros, not stored.
    pub holes: u64,
    /// Compressed bytes written for the new chunks.
    pub bytes_stored: u64,
    /// Cinder's `object_count`: see [`Manifest::object_count`].
    pub object_count: u64,
}

/// A finished backup.
#[derive(Debug, Clone)]
pub struct Backup {
    pub manifest: Manifest,
    pub stats: BackupStats,
}

/// How one read chunk ended.
enum Outcome {
    Hole,
    Reused(ChunkId),
    Stored(ChunkId, u64),
}

/// Per-thread buffers, reused for every chunk.
struct Worker {
    data: Vec<u8>,
    compressed: Vec<u8>,
    compressor: zstd::bulk::Compressor<'static>,
}

impl Repository {
    /// Backs up `source` (a point-in-time copy: a snapshot's device) as backup `id`.
    ///
    /// Errors: [`BackupError::AlreadyExists`] (a retried job should read the manifest
    /// instead), [`BackupError::NotFound`] or [`BackupError::IncompatibleParent`] for the
    /// parent, [`BackupError::ChangedRangeOutOfBounds`], I/O errors of the device or the
    /// repository. On error no manifest is written.
    pub fn backup(&self, id: &str, source: &dyn BlockDevice, base: Base<'_>) -> Result<Backup> {
        validate_id(id)?;
        if self.exists(id)? {
            return Err(BackupError::AlreadyExists(id.to_owned()));
        }
        let _lock = self.lock_shared()?;
        let size = source.size();
        let cs = self.chunk_size();
        let (parent, changed) = match base {
            Base::Full => (None, None),
            Base::Incremental { parent, changed } => {
                let manifest = self.manifest(parent)?;
                if manifest.chunk_size != cs {
                    return Err(BackupError::IncompatibleParent {
                        parent: parent.to_owned(),
                        reason: format!("chunk size {} (repository: {cs})", manifest.chunk_size),
                    });
                }
                if let Some(changed) = changed {
                    plan::check_changed(changed, size)?;
                }
                (Some(manifest), changed)
            }
        };
        let data = source
            .data_ranges()
            .map_err(BackupError::io("asking the source where its data is"))?;
        let reuse = parent.as_ref().zip(changed);
        let steps = plan::plan(size, cs, data.as_deref(), reuse);
        // Chunks the parent holds are known to be stored: no need to look for their files.
        let known: HashSet<ChunkId> = parent
            .iter()
            .flat_map(|p| p.chunks.iter().flatten().copied())
            .collect();
        let claimed = Mutex::new(HashSet::new());

        let to_read: Vec<u64> = (0..steps.len() as u64)
            .filter(|&i| steps[i as usize] == Step::Read)
            .collect();
        let outcomes = pool::run(
            self.threads(),
            &to_read,
            || {
                Ok(Worker {
                    data: vec![0; cs as usize],
                    compressed: Vec::new(),
                    compressor: zstd::bulk::Compressor::new(ZSTD_LEVEL)
                        .map_err(BackupError::io("starting zstd"))?,
                })
            },
            |w, &i| self.read_chunk(w, source, i, size, &known, &claimed),
        )?;

        let mut stats = BackupStats::default();
        let mut shards = BTreeSet::new();
        let mut outcomes = to_read.iter().zip(outcomes);
        let mut read_outcome = || outcomes.next().expect("one outcome per chunk read");
        let chunks: Vec<Option<ChunkId>> = steps
            .iter()
            .enumerate()
            .map(|(i, step)| match step {
                Step::Hole => {
                    stats.holes += 1;
                    None
                }
                Step::Reuse(entry) => {
                    match entry {
                        Some(_) => {
                            (stats.chunks_reused, stats.chunks_unread) =
                                (stats.chunks_reused + 1, stats.chunks_unread + 1)
                        }
                        None => stats.holes += 1,
                    }
                    *entry
                }
                Step::Read => {
                    let (&index, outcome) = read_outcome();
                    debug_assert_eq!(index, i as u64);
                    stats.bytes_read += (cs).min(size - index * cs);
                    match outcome {
                        Outcome::Hole => {
                            stats.holes += 1;
                            None
                        }
                        Outcome::Reused(id) => {
                            stats.chunks_reused += 1;
                            Some(id)
                        }
                        Outcome::Stored(id, bytes) => {
                            stats.chunks_new += 1;
                            stats.bytes_stored += bytes;
                            shards.insert(id.0[0]);
                            Some(id)
                        }
                    }
                }
            })
            .collect();
        self.chunks
            .sync_shards(shards)
            .map_err(BackupError::io("syncing the chunk directories"))?;

        let manifest = Manifest {
            id: id.to_owned(),
            volume_size: size,
            chunk_size: cs,
            parent: parent.map(|p| p.id),
            created_at: now_micros(),
            chunks,
        };
        stats.object_count = manifest.object_count();
        self.write_manifest(&manifest)?;
        Ok(Backup { manifest, stats })
    }

    fn read_chunk(
        &self,
        w: &mut Worker,
        source: &dyn BlockDevice,
        index: u64,
        size: u64,
        known: &HashSet<ChunkId>,
        claimed: &Mutex<HashSet<ChunkId>>,
    ) -> Result<Outcome> {
        let offset = index * self.chunk_size();
        let len = self.chunk_size().min(size - offset) as usize;
        let data = &mut w.data[..len];
        source
            .read_at(data, offset)
            .map_err(|e| BackupError::io(format!("reading chunk {index} of the source"))(e))?;
        if chunk::is_zero(data) {
            return Ok(Outcome::Hole);
        }
        let id = ChunkId::of(data);
        // Known to the parent, or stored by another thread of this backup: nothing to write.
        if known.contains(&id) || !claimed.lock().expect("no panics hold it").insert(id) {
            return Ok(Outcome::Reused(id));
        }
        let stored = |e| BackupError::io(format!("storing chunk {index} ({id})"))(e);
        if self.chunks.contains(&id).map_err(stored)? {
            return Ok(Outcome::Reused(id));
        }
        chunk::compress(&mut w.compressor, data, &mut w.compressed).map_err(stored)?;
        self.chunks.put(&id, &w.compressed).map_err(stored)?;
        Ok(Outcome::Stored(id, w.compressed.len() as u64))
    }

    /// Writes a manifest under its id, never replacing one, and makes it durable.
    pub(crate) fn write_manifest(&self, manifest: &Manifest) -> Result<()> {
        let path = self.manifest_path(&manifest.id);
        let ctx = || format!("writing {}", path.display());
        let created = fsio::create_atomic(&self.tmp_dir(), "manifest", &path, &manifest.to_bytes())
            .map_err(|e| BackupError::io(ctx())(e))?;
        if !created {
            return Err(BackupError::AlreadyExists(manifest.id.clone()));
        }
        fsio::sync_dir(&self.manifest_dir()).map_err(|e| BackupError::io(ctx())(e))
    }
}

/// Now, at the microsecond precision the manifest keeps (so a manifest equals its re-read).
fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}
