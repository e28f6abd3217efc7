//! Taking a backup: plan the chunks, read the ones that need it on a pool of threads, in
//! runs of consecutive chunks read at once (up to [`READ_BYTES`]), and settle each chunk:
//! zero check, BLAKE3 fingerprint, and when the parent has that fingerprint at the same
//! index, its chunk id; otherwise SHA-256, and zstd + durable write only for a chunk the
//! repository lacks. Then fsync the shard directories that gained chunks, and only then
//! write the manifest. Until the manifest's rename the backup does not exist; a crash before
//! it leaves at most unreferenced chunks and temporary files, which the sweep removes.

use std::collections::{BTreeSet, HashSet};
use std::ops::Range;
use std::sync::Mutex;

use basalt_storage::BlockDevice;
use chrono::{DateTime, Utc};

use crate::chunk::{self, ChunkId, ZSTD_LEVEL};
use crate::error::{BackupError, Result};
use crate::fingerprint::Fingerprint;
use crate::fsio::AlignedBuf;
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
    /// chunk is read and fingerprinted, a chunk whose fingerprint the parent has at the same
    /// index is taken from the parent, and only the others are hashed with SHA-256 (and
    /// compressed and stored when new). A parent without fingerprints (format 1) is
    /// compared by SHA-256.
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

/// The most a thread reads at once: a run of consecutive chunks in one sequential read,
/// which the disk serves at two to three times the rate of 1 MiB reads (docs/decisions.md).
pub(crate) const READ_BYTES: u64 = 8 << 20;

/// How one read chunk ended.
enum Outcome {
    Hole,
    Reused(ChunkId, Fingerprint),
    Stored(ChunkId, Fingerprint, u64),
}

/// Per-thread buffers, reused for every run of chunks.
struct Worker {
    data: Vec<u8>,
    compressed: AlignedBuf,
    compressor: zstd::bulk::Compressor<'static>,
}

/// What every thread of one backup shares.
struct Scan<'a> {
    source: &'a dyn BlockDevice,
    size: u64,
    parent: Option<&'a Manifest>,
    /// Chunks the parent holds are known to be stored: no need to look for their files.
    known: HashSet<ChunkId>,
    /// Chunks this backup stores (or found stored): each written once.
    claimed: Mutex<HashSet<ChunkId>>,
}

impl Scan<'_> {
    /// The parent's chunk at `index` when its fingerprint there is `fp`. Equal BLAKE3
    /// fingerprints mean equal bytes, whose SHA-256 is the parent's id for them.
    fn parent_chunk(&self, index: u64, fp: &Fingerprint) -> Option<ChunkId> {
        let parent = self.parent?;
        match parent.fingerprints.get(index as usize) {
            Some(Some(known)) if known == fp => parent.chunks[index as usize],
            _ => None,
        }
    }
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
        let scan = Scan {
            source,
            size,
            parent: parent.as_ref(),
            known: parent
                .iter()
                .flat_map(|p| p.chunks.iter().flatten().copied())
                .collect(),
            claimed: Mutex::new(HashSet::new()),
        };
        let runs = plan::read_runs(&steps, READ_BYTES / cs);
        let run_bytes = runs.iter().map(|r| r.end - r.start).max().unwrap_or(0) * cs;
        let outcomes = pool::run(
            self.threads(),
            &runs,
            || {
                Ok(Worker {
                    data: vec![0; run_bytes as usize],
                    compressed: AlignedBuf::default(),
                    compressor: zstd::bulk::Compressor::new(ZSTD_LEVEL)
                        .map_err(BackupError::io("starting zstd"))?,
                })
            },
            |w, run| self.read_run(w, &scan, run),
        )?;

        let tally = Tally::of(&steps, outcomes, scan.parent, size, cs);
        let mut stats = tally.stats;
        self.chunks
            .sync_shards(tally.shards)
            .map_err(BackupError::io("syncing the chunk directories"))?;

        let manifest = Manifest {
            id: id.to_owned(),
            volume_size: size,
            chunk_size: cs,
            parent: parent.map(|p| p.id),
            created_at: now_micros(),
            chunks: tally.chunks,
            fingerprints: tally.fingerprints,
        };
        stats.object_count = manifest.object_count();
        self.write_manifest(&manifest)?;
        Ok(Backup { manifest, stats })
    }

    /// Reads a run of consecutive chunks with one read and settles each of them.
    fn read_run(&self, w: &mut Worker, scan: &Scan<'_>, run: &Range<u64>) -> Result<Vec<Outcome>> {
        let cs = self.chunk_size();
        let offset = run.start * cs;
        let len = ((run.end * cs).min(scan.size) - offset) as usize;
        let Worker {
            data,
            compressed,
            compressor,
        } = w;
        scan.source
            .read_at(&mut data[..len], offset)
            .map_err(|e| BackupError::io(format!("reading chunks {run:?} of the source"))(e))?;
        run.clone()
            .zip(data[..len].chunks(cs as usize))
            .map(|(index, bytes)| self.settle(scan, compressor, compressed, index, bytes))
            .collect()
    }

    /// Decides what chunk `index`, holding `data`, becomes: a hole, the parent's chunk at the
    /// same index (same fingerprint), a chunk already stored, or a new chunk stored now.
    fn settle(
        &self,
        scan: &Scan<'_>,
        compressor: &mut zstd::bulk::Compressor<'static>,
        compressed: &mut AlignedBuf,
        index: u64,
        data: &[u8],
    ) -> Result<Outcome> {
        if chunk::is_zero(data) {
            return Ok(Outcome::Hole);
        }
        let fp = Fingerprint::of(data);
        if let Some(id) = scan.parent_chunk(index, &fp) {
            return Ok(Outcome::Reused(id, fp));
        }
        let id = ChunkId::of(data);
        // Known to the parent, or stored by another thread of this backup: nothing to write.
        if scan.known.contains(&id) || !scan.claimed.lock().expect("no panics hold it").insert(id) {
            return Ok(Outcome::Reused(id, fp));
        }
        let stored = |e| BackupError::io(format!("storing chunk {index} ({id})"))(e);
        if self.chunks.contains(&id).map_err(stored)? {
            return Ok(Outcome::Reused(id, fp));
        }
        chunk::compress(compressor, data, compressed).map_err(stored)?;
        self.chunks.put(&id, compressed).map_err(stored)?;
        Ok(Outcome::Stored(id, fp, compressed.as_slice().len() as u64))
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

/// The plan and the outcomes of the reads, put together chunk by chunk.
struct Tally {
    chunks: Vec<Option<ChunkId>>,
    fingerprints: Vec<Option<Fingerprint>>,
    stats: BackupStats,
    /// Shard directories that gained chunks.
    shards: BTreeSet<u8>,
}

impl Tally {
    /// `outcomes` holds one per [`Step::Read`], in order; chunks taken unread from `parent`
    /// keep its fingerprint (if it had one).
    fn of(
        steps: &[Step],
        outcomes: Vec<Vec<Outcome>>,
        parent: Option<&Manifest>,
        size: u64,
        cs: u64,
    ) -> Self {
        let mut t = Tally {
            chunks: Vec::with_capacity(steps.len()),
            fingerprints: Vec::with_capacity(steps.len()),
            stats: BackupStats::default(),
            shards: BTreeSet::new(),
        };
        let mut outcomes = outcomes.into_iter().flatten();
        for (i, step) in steps.iter().enumerate() {
            let s = &mut t.stats;
            let (chunk, fp) = match step {
                Step::Hole => (None, None),
                Step::Reuse(None) => (None, None),
                Step::Reuse(entry) => {
                    (s.chunks_reused, s.chunks_unread) = (s.chunks_reused + 1, s.chunks_unread + 1);
                    (*entry, parent.and_then(|p| p.fingerprints[i]))
                }
                Step::Read => {
                    s.bytes_read += cs.min(size - i as u64 * cs);
                    match outcomes.next().expect("one outcome per chunk read") {
                        Outcome::Hole => (None, None),
                        Outcome::Reused(id, fp) => {
                            s.chunks_reused += 1;
                            (Some(id), Some(fp))
                        }
                        Outcome::Stored(id, fp, bytes) => {
                            (s.chunks_new, s.bytes_stored) =
                                (s.chunks_new + 1, s.bytes_stored + bytes);
                            t.shards.insert(id.0[0]);
                            (Some(id), Some(fp))
                        }
                    }
                }
            };
            s.holes += u64::from(chunk.is_none());
            t.chunks.push(chunk);
            t.fingerprints.push(fp);
        }
        t
    }
}

/// Now, at the microsecond precision the manifest keeps (so a manifest equals its re-read).
fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}
