//! Restoring a backup onto a device: holes become discards (so a target that held other
//! data ends up with exactly the backup's bytes), data chunks are read, decompressed and
//! checked against their hash on a pool of threads and written in place, and the device is
//! flushed. Any missing or corrupt chunk fails the restore with an error naming it. The
//! threads read (direct I/O), decompress and verify in parallel and take turns to write.
//!
//! Zeros stay thin: within a data chunk, runs of zero 64 KiB blocks are not written but
//! discarded (or skipped where the target reports no data in that chunk), so a restored
//! volume allocates about what the original did, and the restore writes only data.

use std::ops::Range;
use std::sync::Mutex;

use basalt_storage::BlockDevice;

use crate::chunk::{self, ChunkId, ReadFailure};
use crate::error::{BackupError, Result};
use crate::fsio::AlignedBuf;
use crate::plan;
use crate::pool;
use crate::repo::Repository;

/// What one restore did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreStats {
    /// Data bytes written to the target (zero runs inside chunks are discarded instead).
    pub bytes_written: u64,
    /// Chunks read from the repository (a chunk that appears twice is read twice).
    pub chunks_read: u64,
    /// Bytes discarded on the target (zeros of the backup where it might have held data).
    pub bytes_discarded: u64,
}

struct Worker {
    decompressor: zstd::bulk::Decompressor<'static>,
    compressed: AlignedBuf,
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
        // The lock first: a delete's sweep must not free the chunks of the manifest we read.
        let _lock = self.lock_shared()?;
        let manifest = self.manifest(id)?;
        if target.size() < manifest.volume_size {
            return Err(BackupError::TargetTooSmall {
                target: target.size(),
                needed: manifest.volume_size,
            });
        }
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
        // One write at a time: writes to a file serialize on its inode lock anyway, where the
        // waiting threads spin and burn the CPU the others need; here they sleep.
        let turn = Mutex::new(());
        let written = pool::run(
            self.threads(),
            &data,
            || {
                Ok(Worker {
                    decompressor: zstd::bulk::Decompressor::new()
                        .map_err(BackupError::io("starting zstd"))?,
                    compressed: AlignedBuf::default(),
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
                // A target with no data in this chunk reads zeros there already.
                let blank = target_data.as_ref().is_some_and(|d| !d[index as usize]);
                write_sparse(target, &w.data, range.start, blank, &turn)
                    .map_err(|e| BackupError::io(format!("writing chunk {index} to the target"))(e))
            },
        )?;
        stats.chunks_read = written.len() as u64;
        stats.bytes_written = written.iter().map(|(w, _)| w).sum();
        stats.bytes_discarded += written.iter().map(|(_, d)| d).sum::<u64>();
        target
            .flush()
            .map_err(BackupError::io("flushing the target"))?;
        Ok(stats)
    }
}

/// Writes `data` at `offset`, except runs of zero 64 KiB blocks, which are discarded, or
/// left alone when `blank` (the target reads zeros there). Returns (written, discarded).
/// Each write or discard holds `turn`; finding the zero runs does not.
fn write_sparse(
    target: &dyn BlockDevice,
    data: &[u8],
    offset: u64,
    blank: bool,
    turn: &Mutex<()>,
) -> std::io::Result<(u64, u64)> {
    let turn = || {
        turn.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    const BLOCK: usize = 64 << 10;
    let zero_at = |pos: usize| chunk::is_zero(&data[pos..(pos + BLOCK).min(data.len())]);
    let (mut written, mut discarded, mut pos) = (0, 0, 0);
    while pos < data.len() {
        let zero = zero_at(pos);
        let mut end = (pos + BLOCK).min(data.len());
        while end < data.len() && zero_at(end) == zero {
            end = (end + BLOCK).min(data.len());
        }
        let (at, len) = (offset + pos as u64, (end - pos) as u64);
        if !zero {
            let _turn = turn();
            target.write_at(&data[pos..end], at)?;
            written += len;
        } else if !blank {
            let _turn = turn();
            target.discard(at, len)?;
            discarded += len;
        }
        pos = end;
    }
    Ok((written, discarded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use basalt_storage::FileDevice;

    fn device(fill: u8) -> (tempfile::NamedTempFile, FileDevice) {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), vec![fill; 4 << 20]).unwrap();
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .open(tmp.path())
            .unwrap();
        (tmp, FileDevice::new(file).unwrap())
    }

    /// 1 MiB: data, 192 KiB of zeros, data, zeros to the end (a short last block too).
    fn chunk() -> Vec<u8> {
        let mut data = vec![0u8; (1 << 20) - 1000];
        data[..100].fill(1);
        data[(256 << 10) + 5..(320 << 10)].fill(2);
        data
    }

    #[test]
    fn zero_runs_are_discarded_on_a_dirty_target() {
        let (_tmp, dev) = device(0xEE);
        let data = chunk();
        let (written, discarded) =
            write_sparse(&dev, &data, 1 << 20, false, &Mutex::new(())).unwrap();
        assert_eq!(written, 2 * (64 << 10));
        assert_eq!(written + discarded, data.len() as u64);
        let mut back = vec![0u8; data.len()];
        dev.read_at(&mut back, 1 << 20).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn zero_runs_stay_holes_on_a_blank_target() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.as_file().set_len(4 << 20).unwrap();
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .open(tmp.path())
            .unwrap();
        let dev = FileDevice::new(file).unwrap();
        let data = chunk();
        let (written, discarded) = write_sparse(&dev, &data, 0, true, &Mutex::new(())).unwrap();
        assert_eq!((written, discarded), (2 * (64 << 10), 0));
        let mut back = vec![0u8; data.len()];
        dev.read_at(&mut back, 0).unwrap();
        assert_eq!(back, data);
        let ranges = dev.data_ranges().unwrap().unwrap();
        let allocated: u64 = ranges.iter().map(|r| r.end - r.start).sum();
        assert_eq!(allocated, 2 * (64 << 10), "{ranges:?}");
    }
}
