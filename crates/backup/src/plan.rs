//! Per-chunk planning: which chunks a backup must read and which it can settle unread.
//!
//! A chunk is settled without reading when the device reports no data in it (a hole, which
//! is certain: a hole reads zeros) or, in an incremental backup given the changed ranges,
//! when no changed range touches it and the parent has a chunk of the same extent there
//! (the parent's entry is reused). Everything else is read.

use std::ops::Range;

use crate::chunk::ChunkId;
use crate::error::{BackupError, Result};
use crate::manifest::Manifest;

/// What to do with one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing to read: the device holds no data there.
    Hole,
    /// Unchanged since the parent: take the parent's entry.
    Reuse(Option<ChunkId>),
    /// Read, hash and store if new.
    Read,
}

/// Marks, for each of `count` chunks of `chunk_size`, whether any of `ranges` touches it.
/// Empty ranges touch nothing.
pub(crate) fn touched(ranges: &[Range<u64>], chunk_size: u64, count: u64) -> Vec<bool> {
    let mut marks = vec![false; count as usize];
    for r in ranges.iter().filter(|r| r.start < r.end) {
        let first = r.start / chunk_size;
        let last = ((r.end - 1) / chunk_size).min(count.saturating_sub(1));
        for mark in &mut marks[first as usize..=last as usize] {
            *mark = true;
        }
    }
    marks
}

/// Checks that every changed range lies within the volume.
pub(crate) fn check_changed(changed: &[Range<u64>], size: u64) -> Result<()> {
    match changed.iter().find(|r| r.start > r.end || r.end > size) {
        Some(r) => Err(BackupError::ChangedRangeOutOfBounds {
            start: r.start,
            end: r.end,
            size,
        }),
        None => Ok(()),
    }
}

/// The plan for a volume of `size` bytes. `data` is the device's report of where data may
/// be (`None`: anywhere); `reuse` is the parent with the changed ranges, when known.
pub(crate) fn plan(
    size: u64,
    chunk_size: u64,
    data: Option<&[Range<u64>]>,
    reuse: Option<(&Manifest, &[Range<u64>])>,
) -> Vec<Step> {
    let count = Manifest::chunk_count(size, chunk_size);
    let has_data = match data {
        Some(ranges) => touched(ranges, chunk_size, count),
        None => vec![true; count as usize],
    };
    let changed = reuse.map(|(_, changed)| touched(changed, chunk_size, count));
    (0..count)
        .map(|i| {
            if !has_data[i as usize] {
                return Step::Hole;
            }
            if let (Some((parent, _)), Some(changed)) = (reuse, &changed) {
                let extent = i * chunk_size..((i + 1) * chunk_size).min(size);
                let same_extent = i < parent.chunks.len() as u64 && parent.chunk_range(i) == extent;
                if same_extent && !changed[i as usize] {
                    return Step::Reuse(parent.chunks[i as usize]);
                }
            }
            Step::Read
        })
        .collect()
}

/// The chunks to read, as runs of consecutive chunks of at most `max` each (at least 1), so
/// that a thread reads a run with one large sequential read.
pub(crate) fn read_runs(steps: &[Step], max: u64) -> Vec<Range<u64>> {
    let max = max.max(1);
    let mut runs: Vec<Range<u64>> = Vec::new();
    for (i, _) in (0..).zip(steps).filter(|(_, s)| **s == Step::Read) {
        match runs.last_mut() {
            Some(run) if run.end == i && run.end - run.start < max => run.end += 1,
            _ => runs.push(i..i + 1),
        }
    }
    runs
}

#[cfg(test)]
// Slices holding one range are what these tests mean, not a misspelt range of values.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    fn parent(size: u64, chunks: Vec<Option<ChunkId>>) -> Manifest {
        Manifest {
            id: "p".into(),
            volume_size: size,
            chunk_size: 10,
            parent: None,
            created_at: chrono::Utc::now(),
            fingerprints: vec![None; chunks.len()],
            chunks,
        }
    }

    #[test]
    fn ranges_mark_every_chunk_they_touch_and_no_other() {
        assert_eq!(touched(&[5..6], 10, 3), [true, false, false]);
        assert_eq!(touched(&[9..11], 10, 3), [true, true, false]);
        assert_eq!(touched(&[10..20], 10, 3), [false, true, false]);
        assert_eq!(touched(&[20..20, 0..0], 10, 3), [false, false, false]);
        assert_eq!(touched(&[25..30], 10, 3), [false, false, true]);
    }

    #[test]
    fn out_of_bounds_changes_are_refused() {
        assert!(check_changed(&[0..30], 30).is_ok());
        assert!(check_changed(&[0..31], 30).is_err());
        assert!(check_changed(&[std::ops::Range { start: 5, end: 4 }], 30).is_err());
    }

    #[test]
    fn holes_are_never_read_and_unchanged_chunks_come_from_the_parent() {
        let a = Some(ChunkId::of(b"a"));
        let p = parent(30, vec![a, a, a]);
        let steps = plan(30, 10, Some(&[0..15]), Some((&p, &[12..13])));
        assert_eq!(steps, [Step::Reuse(a), Step::Read, Step::Hole]);
        let steps = plan(30, 10, None, Some((&p, &[29..30])));
        assert_eq!(steps, [Step::Reuse(a), Step::Reuse(a), Step::Read]);
        let no_changes: &[Range<u64>] = &[];
        let steps = plan(30, 10, Some(&[0..5]), Some((&p, no_changes)));
        assert_eq!(steps, [Step::Reuse(a), Step::Hole, Step::Hole]);
    }

    #[test]
    fn a_grown_volume_reads_what_the_parent_did_not_cover() {
        // The parent's last chunk was short (25 bytes): after growth it has another extent.
        let a = Some(ChunkId::of(b"a"));
        let p = parent(25, vec![a, a, a]);
        let none: &[Range<u64>] = &[];
        let steps = plan(40, 10, None, Some((&p, none)));
        assert_eq!(
            steps,
            [Step::Reuse(a), Step::Reuse(a), Step::Read, Step::Read]
        );
    }

    #[test]
    fn reads_are_grouped_into_runs_of_consecutive_chunks() {
        let (r, h) = (Step::Read, Step::Hole);
        let steps = [r, r, r, h, r, Step::Reuse(None), r, r, r, r, r];
        assert_eq!(read_runs(&steps, 3), [0..3, 4..5, 6..9, 9..11]);
        assert_eq!(read_runs(&steps[..3], 0), [0..1, 1..2, 2..3]);
        assert!(read_runs(&[h], 3).is_empty());
    }

    #[test]
    fn without_a_parent_every_data_chunk_is_read() {
        assert_eq!(plan(25, 10, None, None), [Step::Read; 3]);
    }
}
