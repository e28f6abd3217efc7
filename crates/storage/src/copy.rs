//! Copying one volume file into another: a reflink (`FICLONE`) where the filesystem shares
//! blocks, else a copy of the allocated extents only (`SEEK_DATA`/`SEEK_HOLE`), so that a hole
//! in the source stays a hole in the copy. Never `std::fs::copy`, which fills every hole.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use rustix::fs::SeekFrom;
use rustix::io::Errno;

/// Bytes per read and write when `copy_file_range` is unavailable.
const BUFFER: usize = 4 << 20;

/// How a copy was made, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Copied {
    /// The copy shares the source's blocks: constant time, nothing allocated.
    Reflink,
    /// This many bytes of allocated extents were read and written; holes were skipped.
    Extents(u64),
}

/// Copies the first `len` bytes of `src` into `dst`, an empty file open for writing. With
/// `reflink`, tries `FICLONE` first, which clones the whole of `src` (the caller sets the
/// length it wants afterwards), and falls back to the extent copy if the filesystem refuses it
/// for these files. The extent copy leaves `dst` exactly `len` bytes long.
pub(crate) fn copy_file(src: &File, dst: &File, len: u64, reflink: bool) -> io::Result<Copied> {
    if reflink {
        match rustix::fs::ioctl_ficlone(dst, src) {
            Ok(()) => return Ok(Copied::Reflink),
            Err(e @ (Errno::OPNOTSUPP | Errno::XDEV | Errno::INVAL | Errno::NOTTY)) => {
                tracing::warn!(error = %e, "reflink refused; copying the allocated extents");
            }
            Err(e) => return Err(e.into()),
        }
    }
    copy_extents(src, dst, len).map(Copied::Extents)
}

/// Sizes `dst` to `len` (a hole, allocating nothing), then copies each allocated extent of
/// `src` below `len` to the same offset. Returns the bytes copied.
fn copy_extents(src: &File, dst: &File, len: u64) -> io::Result<u64> {
    dst.set_len(len)?;
    let mut copier = RangeCopier::default();
    let (mut pos, mut copied) = (0, 0);
    while pos < len {
        let start = match rustix::fs::seek(src, SeekFrom::Data(pos)) {
            Ok(start) if start < len => start,
            // No data from `pos` to `len` (or to the end of the file): the rest is one hole.
            Ok(_) | Err(Errno::NXIO) => break,
            Err(e) => return Err(e.into()),
        };
        // Filesystems without hole tracking report the end of the file: all data, still right.
        let end = rustix::fs::seek(src, SeekFrom::Hole(start))?.min(len);
        copier.copy(src, dst, start, end)?;
        copied += end - start;
        pos = end;
    }
    Ok(copied)
}

/// Copies byte ranges in the kernel (`copy_file_range`) or, where that is refused, through
/// one large buffer allocated on first use.
#[derive(Default)]
struct RangeCopier {
    buffered: bool,
    buffer: Vec<u8>,
}

impl RangeCopier {
    fn copy(&mut self, src: &File, dst: &File, start: u64, end: u64) -> io::Result<()> {
        if !self.buffered {
            match in_kernel(src, dst, start, end) {
                Ok(()) => return Ok(()),
                // Nothing written yet when these come back, so the buffer can redo the range.
                Err(Errno::XDEV | Errno::NOSYS | Errno::OPNOTSUPP | Errno::INVAL) => {
                    self.buffered = true;
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.buffered(src, dst, start, end)
    }

    fn buffered(&mut self, src: &File, dst: &File, mut pos: u64, end: u64) -> io::Result<()> {
        if self.buffer.is_empty() {
            self.buffer = vec![0; BUFFER];
        }
        while pos < end {
            let n = (end - pos).min(BUFFER as u64) as usize;
            let chunk = &mut self.buffer[..n];
            src.read_exact_at(chunk, pos)?;
            dst.write_all_at(chunk, pos)?;
            pos += n as u64;
        }
        Ok(())
    }
}

/// `copy_file_range` over `start..end`, looping over short copies.
fn in_kernel(src: &File, dst: &File, start: u64, end: u64) -> Result<(), Errno> {
    let (mut off_in, mut off_out) = (start, start);
    while off_in < end {
        let want = usize::try_from(end - off_in).unwrap_or(usize::MAX);
        let n = rustix::fs::copy_file_range(src, Some(&mut off_in), dst, Some(&mut off_out), want)?;
        if n == 0 {
            // The source shrank under us; an I/O error rather than a silent short copy.
            return Err(Errno::IO);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    const MIB: u64 = 1 << 20;

    fn sparse(len: u64, writes: &[(u64, &[u8])]) -> tempfile::NamedTempFile {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.as_file().set_len(len).unwrap();
        for (offset, data) in writes {
            tmp.as_file().write_all_at(data, *offset).unwrap();
        }
        tmp
    }

    fn allocated(file: &File) -> u64 {
        file.metadata().unwrap().blocks() * 512
    }

    fn contents(file: &File) -> Vec<u8> {
        let mut all = vec![0; file.metadata().unwrap().len() as usize];
        file.read_exact_at(&mut all, 0).unwrap();
        all
    }

    #[test]
    fn the_extent_copy_keeps_data_and_holes() {
        let len = 64 * MIB;
        let data = vec![0x5a; MIB as usize];
        let src = sparse(
            len,
            &[(0, b"head"), (20 * MIB + 7, &data), (len - 3, b"end")],
        );
        let dst = tempfile::tempfile().unwrap();

        let copied = copy_file(src.as_file(), &dst, len, false).unwrap();

        assert!(
            matches!(copied, Copied::Extents(n) if n < 4 * MIB),
            "{copied:?}"
        );
        assert_eq!(dst.metadata().unwrap().len(), len);
        assert!(contents(&dst) == contents(src.as_file()), "data differs");
        assert!(
            allocated(&dst) <= allocated(src.as_file()) + MIB,
            "the copy allocates {} bytes, the source {}",
            allocated(&dst),
            allocated(src.as_file())
        );
    }

    #[test]
    fn only_the_first_len_bytes_are_copied() {
        let src = sparse(8 * MIB, &[(MIB, b"kept"), (6 * MIB, b"beyond")]);
        let dst = tempfile::tempfile().unwrap();
        copy_file(src.as_file(), &dst, 4 * MIB, false).unwrap();
        assert_eq!(dst.metadata().unwrap().len(), 4 * MIB);
        assert!(contents(&dst)[..] == contents(src.as_file())[..4 * MIB as usize]);
    }

    #[test]
    fn a_file_that_is_all_hole_copies_to_a_hole() {
        let src = sparse(16 * MIB, &[]);
        let dst = tempfile::tempfile().unwrap();
        assert_eq!(
            copy_file(src.as_file(), &dst, 16 * MIB, false).unwrap(),
            Copied::Extents(0)
        );
        assert_eq!(dst.metadata().unwrap().len(), 16 * MIB);
        assert_eq!(allocated(&dst), 0);
    }

    #[test]
    fn the_buffered_fallback_copies_a_range_larger_than_its_buffer() {
        let data: Vec<u8> = (0..BUFFER + 4096).map(|i| (i % 251) as u8).collect();
        let src = sparse(data.len() as u64 + 100, &[(100, &data)]);
        let dst = tempfile::tempfile().unwrap();
        dst.set_len(src.as_file().metadata().unwrap().len())
            .unwrap();
        let mut copier = RangeCopier {
            buffered: true,
            ..RangeCopier::default()
        };
        copier
            .copy(src.as_file(), &dst, 100, 100 + data.len() as u64)
            .unwrap();
        assert!(contents(&dst) == contents(src.as_file()), "data differs");
    }

    #[test]
    fn without_reflink_support_a_reflink_request_falls_back_to_copying() {
        // The temporary directory is on ext4 here (no reflinks); on a reflink filesystem the
        // same call shares blocks. Either way the data arrives.
        let src = sparse(4 * MIB, &[(MIB, b"data")]);
        let dst = tempfile::tempfile().unwrap();
        copy_file(src.as_file(), &dst, 4 * MIB, true).unwrap();
        assert!(contents(&dst) == contents(src.as_file()), "data differs");
    }
}
