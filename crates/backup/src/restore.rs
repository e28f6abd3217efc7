//! Restoring a backup onto a device: holes become discards (so a target that held other
//! data ends up with exactly the backup's bytes), data chunks are read, decompressed and
//! checked against their hash on a pool of threads and written in place, and the device is
//! flushed. Any missing or corrupt chunk fails the restore with an error naming it.

use std::ops::Range;

use basalt_storage::BlockDevice;

use crate::chunk::{ChunkId, ReadFailure};
use crate::error::{BackupError, Result};
use crate::plan;
use crate::pool;
use crate::repo::Repository;

/// What one restore did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreStats {
    /// Data bytes written to the target.
    pub bytes_written: u64,
    /// Chunks read from the repository (a chunk that appears twice is read twice).
    pub chunks_read: u64,
    /// Bytes discarded on the target (holes of the backup that might have held data there).
    pub bytes_discarded: u64,
}

struct Worker {
    decompressor: zstd::bulk::Decompressor<'static>,
    compressed: Vec<u8>,
    data: Vec<u8>,
}

impl Repository {
    /// Restores backup `id` onto `target`, which must be at least the backup's volume size.
    /// Bytes `0..volume_size` end up exactly as backed up; a larger target's tail is left
    /// as it was. The target is flushed before success is returned.
    ///
    /// Errors: [`BackupError::NotFound`], [`BackupError::TargetTooSmall`],
    /// [`BackupError::MissingChunk`], [`BackupError::CorruptChunk`], I/O errors. After an
    /// error the target holds a mix of old and restored data.
    pub fn restore(&self, id: &str, target: &dyn BlockDevice) -> Result<RestoreStats> {
        let manifest = self.manifest(id)?;
        if target.size() < manifest.volume_size {
            return Err(BackupError::TargetTooSmall {
                target: target.size(),
                needed: manifest.volume_size,
            });
        }
        let _lock = self.lock_shared()?;
        let mut stats = RestoreStats::default();

        // Holes: discard merged runs, skipping the ones where the target has no data anyway.
        let count = manifest.chunks.len() as u64;
        let target_data = target
            .data_ranges()
            .map_err(BackupError::io("asking the target where its data is"))?
            .map(|ranges| plan::touched(&ranges, manifest.chunk_size, count));
        let mut run: Option<Range<u64>> = None;
        for i in 0..=count {
            let discard = i < count
                && manifest.chunks[i as usize].is_none()
                && target_data.as_ref().is_none_or(|d| d[i as usize]);
            if discard {
                let r = manifest.chunk_range(i);
                run = Some(run.map_or(r.clone(), |run| run.start..r.end));
            } else if let Some(r) = run.take() {
                target
                    .discard(r.start, r.end - r.start)
                    .map_err(BackupError::io(format!("discarding {r:?} on the target")))?;
                stats.bytes_discarded += r.end - r.start;
            }
        }

        let data: Vec<(u64, ChunkId)> = manifest
            .chunks
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.map(|c| (i as u64, c)))
            .collect();
        let written = pool::run(
            self.threads(),
            &data,
            || {
                Ok(Worker {
                    decompressor: zstd::bulk::Decompressor::new()
                        .map_err(BackupError::io("starting zstd"))?,
                    compressed: Vec::new(),
                    data: Vec::with_capacity(manifest.chunk_size as usize),
                })
            },
            |w, &(index, chunk)| {
                let range = manifest.chunk_range(index);
                let len = (range.end - range.start) as usize;
                let failed = |reason: ReadFailure| match reason {
                    ReadFailure::Missing => BackupError::MissingChunk {
                        backup: id.to_owned(),
                        index,
                        hash: chunk.to_hex(),
                    },
                    ReadFailure::Corrupt(reason) => BackupError::CorruptChunk {
                        backup: id.to_owned(),
                        index,
                        hash: chunk.to_hex(),
                        reason,
                    },
                    ReadFailure::Io(e) => {
                        BackupError::io(format!("reading chunk {index} ({chunk})"))(e)
                    }
                };
                self.chunks
                    .read(
                        &chunk,
                        len,
                        &mut w.decompressor,
                        &mut w.compressed,
                        &mut w.data,
                    )
                    .map_err(failed)?;
                target.write_at(&w.data, range.start).map_err(|e| {
                    BackupError::io(format!("writing chunk {index} to the target"))(e)
                })?;
                Ok(len as u64)
            },
        )?;
        stats.chunks_read = written.len() as u64;
        stats.bytes_written = written.iter().sum();
        target
            .flush()
            .map_err(BackupError::io("flushing the target"))?;
        Ok(stats)
    }
}
