//! Where two snapshot files differ, told from their block maps (`FS_IOC_FIEMAP`) without
//! reading them. On a reflink filesystem two files that map a region to the same physical
//! blocks share those blocks, and shared blocks are never written in place (a write to
//! either file moves it to new blocks), so the region holds the same bytes in both.

use std::fs::File;
use std::io;
use std::ops::Range;

use rustix::ioctl::{ioctl, opcode, Opcode, Updater};

/// `struct fiemap`'s header; the ioctl's number encodes its size, not the array's.
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct FiemapHeader {
    start: u64,
    length: u64,
    flags: u32,
    mapped_extents: u32,
    extent_count: u32,
    reserved: u32,
}

/// `struct fiemap_extent`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct FiemapExtent {
    logical: u64,
    physical: u64,
    length: u64,
    reserved64: [u64; 2],
    flags: u32,
    reserved: [u32; 3],
}

const BATCH: usize = 256;

#[repr(C)]
struct Fiemap {
    header: FiemapHeader,
    extents: [FiemapExtent; BATCH],
}

const FS_IOC_FIEMAP: Opcode = opcode::read_write::<FiemapHeader>(b'f', 11);
/// Flush delayed allocations first, so every written byte has its real blocks.
const FIEMAP_FLAG_SYNC: u32 = 0x1;
const FIEMAP_EXTENT_LAST: u32 = 0x1;
/// Extents whose physical address says nothing reliable about their content: unknown or
/// delayed location, encoded or inline data, packed tails.
const FIEMAP_EXTENT_UNRELIABLE: u32 = 0x2 | 0x4 | 0x8 | 0x80 | 0x100 | 0x200;

/// One mapped region of a file: `logical..logical + length` lives at `physical`, or at no
/// dependable address (`physical: None`: compare as different from everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Extent {
    pub logical: u64,
    pub length: u64,
    pub physical: Option<u64>,
}

/// The file's extents in logical order; holes are absent.
// rustix wraps FICLONE and SEEK_DATA but not FIEMAP: its raw ioctl is the one unsafe call.
#[allow(unsafe_code)]
pub(crate) fn extents(file: &File) -> io::Result<Vec<Extent>> {
    let mut out = Vec::new();
    let mut start = 0u64;
    loop {
        let mut map = Box::new(Fiemap {
            header: FiemapHeader {
                start,
                length: u64::MAX - start,
                flags: FIEMAP_FLAG_SYNC,
                extent_count: BATCH as u32,
                ..FiemapHeader::default()
            },
            extents: [FiemapExtent::default(); BATCH],
        });
        // SAFETY: `Fiemap` is the header the opcode names followed by room for
        // `extent_count` extents, which is all the kernel writes.
        unsafe {
            ioctl(
                file,
                Updater::<{ FS_IOC_FIEMAP }, Fiemap>::new(map.as_mut()),
            )?
        };
        let n = (map.header.mapped_extents as usize).min(BATCH);
        if n == 0 {
            return Ok(out);
        }
        let mut last = false;
        for e in &map.extents[..n] {
            out.push(Extent {
                logical: e.logical,
                length: e.length,
                physical: (e.flags & FIEMAP_EXTENT_UNRELIABLE == 0).then_some(e.physical),
            });
            last |= e.flags & FIEMAP_EXTENT_LAST != 0;
            start = e.logical.saturating_add(e.length);
        }
        if last {
            return Ok(out);
        }
    }
}

/// Where on `0..size` files mapped as `a` and `b` may hold different bytes: everywhere
/// except where both are holes or both map to the same physical blocks. Sorted, merged.
pub(crate) fn differing(a: &[Extent], b: &[Extent], size: u64) -> Vec<Range<u64>> {
    let mut cuts: Vec<u64> = [0, size]
        .into_iter()
        .chain(
            a.iter()
                .chain(b)
                .flat_map(|e| [e.logical, e.logical.saturating_add(e.length)]),
        )
        .filter(|&x| x <= size)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    // Where `pos` lives in a map: None for a hole, Some(None) for an unreliable extent.
    fn at(map: &[Extent], pos: u64) -> Option<Option<u64>> {
        let i = map.partition_point(|e| e.logical.saturating_add(e.length) <= pos);
        let e = map.get(i).filter(|e| e.logical <= pos)?;
        Some(e.physical.map(|p| p + (pos - e.logical)))
    }
    let mut out: Vec<Range<u64>> = Vec::new();
    for w in cuts.windows(2) {
        let (lo, hi) = (w[0], w[1]);
        let same = match (at(a, lo), at(b, lo)) {
            (None, None) => true,
            (Some(Some(x)), Some(Some(y))) => x == y,
            _ => false,
        };
        if same {
            continue;
        }
        match out.last_mut() {
            Some(r) if r.end == lo => r.end = hi,
            _ => out.push(lo..hi),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(logical: u64, length: u64, physical: u64) -> Extent {
        Extent {
            logical,
            length,
            physical: Some(physical),
        }
    }

    #[test]
    fn shared_blocks_and_common_holes_are_unchanged() {
        let a = [e(0, 100, 1000), e(200, 100, 5000)];
        let b = [e(0, 50, 1000), e(50, 50, 9000), e(200, 100, 5000)];
        assert_eq!(differing(&a, &b, 400), vec![50..100]);
    }

    #[test]
    fn data_where_the_other_has_a_hole_differs_and_ranges_merge() {
        let a = [e(0, 100, 1000)];
        let b = [e(0, 100, 1000), e(100, 100, 7000), e(200, 50, 8000)];
        assert_eq!(differing(&a, &b, 300), vec![100..250]);
        // A region that became a hole in the newer file changed too.
        assert_eq!(differing(&b, &a, 300), vec![100..250]);
    }

    #[test]
    fn the_same_blocks_at_another_offset_differ_and_unreliable_extents_always_differ() {
        let a = [e(0, 100, 1000)];
        let b = [e(0, 100, 1001)];
        assert_eq!(differing(&a, &b, 100), vec![0..100]);
        let u = [Extent {
            logical: 0,
            length: 100,
            physical: None,
        }];
        assert_eq!(differing(&u, &u, 100), vec![0..100]);
    }

    #[test]
    fn extents_past_the_size_are_ignored() {
        let a = [e(0, 10, 0)];
        let b = [e(0, 10, 0), e(10, 1000, 50)];
        assert_eq!(differing(&a, &b, 100), vec![10..100]);
    }

    #[test]
    fn a_written_file_has_extents_and_a_sparse_one_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let f = File::create(&path).unwrap();
        f.set_len(1 << 20).unwrap();
        assert!(extents(&f).unwrap().is_empty());
        std::os::unix::fs::FileExt::write_all_at(&f, &[7u8; 8192], 65536).unwrap();
        let got = extents(&f).unwrap();
        let covered: u64 = got.iter().map(|x| x.length).sum();
        assert!(covered >= 8192, "{got:?}");
        assert!(got.iter().all(|x| x.logical <= 65536 + 8192));
    }
}
