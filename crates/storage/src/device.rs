//! `BlockDevice`: random-access I/O on one opened volume, and its implementation over a file.
//! Every access is bounds-checked so that no write can grow a volume past its size.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{FallocateFlags, SeekFrom};
use rustix::io::{Errno, ReadWriteFlags};

/// Fail with `EAGAIN` rather than wait for the disk.
const NOWAIT: ReadWriteFlags = ReadWriteFlags::NOWAIT;

/// An opened volume, for the exporters (NBD, iSCSI) and the backup worker.
///
/// The methods block: async callers run them in `tokio::task::spawn_blocking`. They take
/// `&self` so that one device can serve concurrent requests from several threads. A range
/// that does not lie within `0..size()` is refused with `InvalidInput`. A snapshot's device is
/// read-only: its writes and discards fail with `PermissionDenied`.
pub trait BlockDevice: Send + Sync {
    /// Size in bytes, as it was when the device was opened.
    fn size(&self) -> u64;

    /// Fills `buf` from `offset`; never returns fewer bytes.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;

    /// Writes all of `buf` at `offset`. Durable only after [`flush`](Self::flush).
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;

    /// Makes every completed write durable (fdatasync for a file).
    fn flush(&self) -> io::Result<()>;

    /// Drops the data in the range: it reads back as zeros afterwards, and a thin backend
    /// frees the space where it can.
    fn discard(&self, offset: u64, len: u64) -> io::Result<()>;

    /// The ranges of `0..size()` that may hold data, in order and disjoint: everything
    /// outside them reads as zeros. `None` (the default) when the device cannot tell; the
    /// caller must then read everything. Backups and restores use it to skip holes without
    /// reading them.
    fn data_ranges(&self) -> io::Result<Option<Vec<Range<u64>>>> {
        Ok(None)
    }

    /// [`read_at`](Self::read_at) only if it needs no waiting for the disk (the data is in
    /// the page cache): `Ok(false)` when it would wait, `buf` then holding nothing useful, and
    /// the caller calls `read_at` where blocking is allowed. Lets an async caller serve cached
    /// reads on its own thread. The default always answers `Ok(false)`.
    fn try_read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<bool> {
        let _ = (buf, offset);
        Ok(false)
    }

    /// [`write_at`](Self::write_at) only if it needs no waiting; `Ok(false)` when it would
    /// wait or the device cannot tell (a filesystem without buffered `RWF_NOWAIT` writes, such
    /// as ext4), part of `buf` then possibly written, and the caller writes all of it again
    /// with `write_at` where blocking is allowed. The default always answers `Ok(false)`.
    fn try_write_at(&self, buf: &[u8], offset: u64) -> io::Result<bool> {
        let _ = (buf, offset);
        Ok(false)
    }
}

/// A volume held in a (sparse) file, read and written with pread/pwrite through the page cache.
pub struct FileDevice {
    file: File,
    size: u64,
    /// Cleared after the filesystem refuses to punch holes, so later discards go straight to
    /// writing zeros instead of failing the same syscall again.
    punch_hole: AtomicBool,
    /// False for a snapshot: writes and discards are refused before they reach the file.
    writable: bool,
    /// Cleared after the filesystem refuses `RWF_NOWAIT` buffered writes (ext4 does), so
    /// `try_write_at` stops asking.
    nowait_writes: AtomicBool,
}

impl FileDevice {
    /// Wraps a file opened for reading and writing; its current length is the device size.
    pub fn new(file: File) -> io::Result<Self> {
        let size = file.metadata()?.len();
        Ok(Self {
            file,
            size,
            punch_hole: AtomicBool::new(true),
            writable: true,
            nowait_writes: AtomicBool::new(true),
        })
    }

    /// Wraps a file opened for reading only (a snapshot): writes and discards fail with
    /// `PermissionDenied`.
    pub fn read_only(file: File) -> io::Result<Self> {
        Ok(Self {
            writable: false,
            ..Self::new(file)?
        })
    }

    fn check_writable(&self) -> io::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the device is read-only",
            ))
        }
    }

    fn check_range(&self, offset: u64, len: u64) -> io::Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "range {offset}+{len} lies outside the device of {} bytes",
                    self.size
                ),
            )),
        }
    }

    fn write_zeroes(&self, mut offset: u64, len: u64) -> io::Result<()> {
        const CHUNK: u64 = 1 << 20;
        let zeros = vec![0u8; CHUNK.min(len) as usize];
        let end = offset + len;
        while offset < end {
            let n = CHUNK.min(end - offset) as usize;
            self.file.write_all_at(&zeros[..n], offset)?;
            offset += n as u64;
        }
        Ok(())
    }
}

impl BlockDevice for FileDevice {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.check_range(offset, buf.len() as u64)?;
        self.file.read_exact_at(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.check_writable()?;
        self.check_range(offset, buf.len() as u64)?;
        self.file.write_all_at(buf, offset)
    }

    fn flush(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn discard(&self, offset: u64, len: u64) -> io::Result<()> {
        self.check_writable()?;
        self.check_range(offset, len)?;
        if len == 0 {
            return Ok(());
        }
        if self.punch_hole.load(Ordering::Relaxed) {
            // KEEP_SIZE is mandatory with PUNCH_HOLE; it also keeps the volume's size fixed.
            let mode = FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE;
            match rustix::fs::fallocate(&self.file, mode, offset, len) {
                Ok(()) => return Ok(()),
                Err(e) if e == rustix::io::Errno::OPNOTSUPP => {
                    tracing::debug!("filesystem cannot punch holes; discard writes zeros");
                    self.punch_hole.store(false, Ordering::Relaxed);
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.write_zeroes(offset, len)
    }

    fn try_read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<bool> {
        self.check_range(offset, buf.len() as u64)?;
        let mut done = 0;
        while done < buf.len() {
            let mut iov = [io::IoSliceMut::new(&mut buf[done..])];
            match rustix::io::preadv2(&self.file, &mut iov, offset + done as u64, NOWAIT) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => done += n,
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN | Errno::OPNOTSUPP) => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }

    fn try_write_at(&self, buf: &[u8], offset: u64) -> io::Result<bool> {
        self.check_writable()?;
        self.check_range(offset, buf.len() as u64)?;
        if !self.nowait_writes.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let mut done = 0;
        while done < buf.len() {
            let iov = [io::IoSlice::new(&buf[done..])];
            match rustix::io::pwritev2(&self.file, &iov, offset + done as u64, NOWAIT) {
                Ok(0) => return Ok(false),
                Ok(n) => done += n,
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return Ok(false),
                Err(Errno::OPNOTSUPP) => {
                    self.nowait_writes.store(false, Ordering::Relaxed);
                    return Ok(false);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }

    fn data_ranges(&self) -> io::Result<Option<Vec<Range<u64>>>> {
        // SEEK_DATA/SEEK_HOLE take absolute offsets, so the shared file position they move
        // matters to no one (reads and writes are positional).
        let mut ranges = Vec::new();
        let mut pos = 0;
        while pos < self.size {
            let start = match rustix::fs::seek(&self.file, SeekFrom::Data(pos)) {
                Ok(start) if start < self.size => start,
                Ok(_) | Err(Errno::NXIO) => break,
                Err(e) => return Err(e.into()),
            };
            // Filesystems without hole tracking report data up to the end: still right.
            let end = rustix::fs::seek(&self.file, SeekFrom::Hole(start))?.min(self.size);
            ranges.push(start..end);
            pos = end;
        }
        Ok(Some(ranges))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(len: u64) -> (tempfile::NamedTempFile, FileDevice) {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.as_file().set_len(len).unwrap();
        let file = File::options()
            .read(true)
            .write(true)
            .open(tmp.path())
            .unwrap();
        (tmp, FileDevice::new(file).unwrap())
    }

    #[test]
    fn writes_past_the_end_are_refused_and_do_not_grow_the_file() {
        let (tmp, dev) = device(4096);
        let err = dev.write_at(&[1; 2], 4095).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(dev.write_at(&[1], u64::MAX).is_err());
        assert_eq!(tmp.as_file().metadata().unwrap().len(), 4096);
    }

    #[test]
    fn nonblocking_reads_and_writes_do_the_same_or_decline() {
        let (_tmp, dev) = device(8192);
        dev.write_at(&[5; 100], 4000).unwrap();
        let mut buf = [0u8; 200];
        if dev.try_read_at(&mut buf, 3950).unwrap() {
            assert_eq!(&buf[..50], &[0; 50]);
            assert_eq!(&buf[50..150], &[5; 100]);
        }
        if dev.try_write_at(&[9; 10], 0).unwrap() {
            let mut back = [0u8; 10];
            dev.read_at(&mut back, 0).unwrap();
            assert_eq!(back, [9; 10]);
        }
        assert!(dev.try_read_at(&mut buf, 8000).is_err());
        let err = dev.try_write_at(&[1; 2], 8191).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn reads_past_the_end_are_refused() {
        let (_tmp, dev) = device(4096);
        let mut buf = [0u8; 8];
        assert!(dev.read_at(&mut buf, 4090).is_err());
        assert!(dev.discard(4000, 200).is_err());
    }

    #[test]
    fn a_read_only_device_refuses_writes_and_discards() {
        let (tmp, _) = device(4096);
        let dev = FileDevice::read_only(File::open(tmp.path()).unwrap()).unwrap();
        let denied = |r: io::Result<()>| r.unwrap_err().kind() == io::ErrorKind::PermissionDenied;
        assert!(denied(dev.write_at(&[1], 0)));
        assert!(denied(dev.discard(0, 4096)));
        let mut buf = [1u8; 8];
        dev.read_at(&mut buf, 0).unwrap();
        assert_eq!(buf, [0; 8]);
    }

    #[test]
    fn data_ranges_cover_the_written_data_and_skip_holes() {
        let (_tmp, dev) = device(64 << 20);
        dev.write_at(&[1u8; 4096], 8 << 20).unwrap();
        dev.write_at(&[2u8; 4096], 40 << 20).unwrap();
        let ranges = dev.data_ranges().unwrap().unwrap();
        let covers = |off: u64| ranges.iter().any(|r| r.contains(&off));
        assert!(covers(8 << 20) && covers((8 << 20) + 4095));
        assert!(covers(40 << 20) && covers((40 << 20) + 4095));
        // ext4, XFS and tmpfs track holes at block granularity; far from the writes, none.
        assert!(!covers(0) && !covers(24 << 20) && !covers((64 << 20) - 1));
        assert!(ranges.windows(2).all(|w| w[0].end <= w[1].start));
    }

    #[test]
    fn zero_fallback_clears_the_range() {
        let (_tmp, dev) = device(3 << 20);
        dev.write_at(&vec![7u8; 3 << 20], 0).unwrap();
        dev.write_zeroes(10, (2 << 20) + 5).unwrap();
        let mut buf = vec![0u8; 3 << 20];
        dev.read_at(&mut buf, 0).unwrap();
        assert!(buf[..10].iter().all(|&b| b == 7));
        assert!(buf[10..(2 << 20) + 15].iter().all(|&b| b == 0));
        assert!(buf[(2 << 20) + 15..].iter().all(|&b| b == 7));
    }
}
