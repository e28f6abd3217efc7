//! Durable file operations. A file reaches its final name only complete and fsynced (written
//! under a unique temporary name in `tmp/`, `fdatasync`, `rename`), and a directory is fsynced
//! before anything that depends on its entries, so a crash leaves either the whole file or
//! none of it under the final name, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;

/// The alignment of memory, offsets and lengths for direct I/O (`O_DIRECT`): 4 KiB, the most
/// any Linux filesystem or block device asks for.
pub(crate) const DIRECT_ALIGN: usize = 4096;

/// A byte buffer whose first byte is aligned for direct I/O, made without unsafe code: a
/// vector with `DIRECT_ALIGN` bytes to spare, used from its first aligned byte. It is
/// allocated (zeroed) only when it must grow, so a worker reuses it for every chunk.
#[derive(Debug, Default)]
pub(crate) struct AlignedBuf {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    /// Makes room for at least `cap` bytes; the content is kept only when no growth was needed.
    pub(crate) fn reserve(&mut self, cap: usize) {
        if self.capacity() < cap {
            self.buf = vec![0; cap + DIRECT_ALIGN];
            // A byte pointer can always be aligned; the fallback only keeps this total.
            self.start = self
                .buf
                .as_ptr()
                .align_offset(DIRECT_ALIGN)
                .min(DIRECT_ALIGN);
            self.len = 0;
        }
    }

    /// How many bytes fit.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len().saturating_sub(DIRECT_ALIGN)
    }

    /// All of the room, for a writer that then calls [`set_len`](Self::set_len).
    pub(crate) fn room(&mut self) -> &mut [u8] {
        let cap = self.capacity();
        &mut self.buf[self.start..self.start + cap]
    }

    pub(crate) fn set_len(&mut self, len: usize) {
        assert!(
            len <= self.capacity(),
            "{len} bytes in a buffer of {}",
            self.capacity()
        );
        self.len = len;
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
}

fn is_einval(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error())
}

/// Opens `path` with `O_DIRECT` added to `options`, or without it where the filesystem
/// refuses direct I/O. Returns the file and whether it is in direct mode.
fn open_direct(options: &mut OpenOptions, path: &Path) -> io::Result<(File, bool)> {
    let direct = OFlags::DIRECT.bits() as i32;
    match options.custom_flags(direct).open(path) {
        Ok(file) => Ok((file, true)),
        Err(e) if is_einval(&e) => Ok((options.custom_flags(0).open(path)?, false)),
        Err(e) => Err(e),
    }
}

/// Takes a file out of direct mode, for I/O that is not aligned.
fn leave_direct(file: &File) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(file)?;
    rustix::fs::fcntl_setfl(file, flags - OFlags::DIRECT)?;
    Ok(())
}

/// Fsyncs a directory, making the creations, renames and removals in it durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A temporary path in `tmp_dir` that no other writer, in this process or another host
/// sharing the repository, will choose: a random UUID.
pub(crate) fn temp_path(tmp_dir: &Path, kind: &str) -> PathBuf {
    tmp_dir.join(format!("{kind}-{}", uuid::Uuid::new_v4().simple()))
}

/// Writes `bytes` to `dest` atomically: a temporary file in `tmp_dir` (same filesystem),
/// fdatasync, rename over `dest`. The caller fsyncs `dest`'s directory (once for many files
/// where it can), which makes the rename itself durable.
pub(crate) fn write_atomic(
    tmp_dir: &Path,
    kind: &str,
    dest: &Path,
    bytes: &[u8],
) -> io::Result<()> {
    let tmp = temp_path(tmp_dir, kind);
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_data()?;
        fs::rename(&tmp, dest)
    })();
    if result.is_err() {
        // Best effort: whatever is left is removed by the next sweep anyway.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// [`write_atomic`] without the page cache where it can: the 4 KiB-aligned head of `bytes`
/// (which must start at an aligned address, as an [`AlignedBuf`] does) is written with
/// direct I/O, only the tail and whatever the filesystem refuses to write directly go through
/// the page cache. Written once and never read back soon, a chunk gains nothing from the
/// cache, and on this VM filling fresh cache pages costs more CPU than compressing
/// (docs/performance.md). Same durability: fdatasync before the rename.
pub(crate) fn write_atomic_direct(
    tmp_dir: &Path,
    kind: &str,
    dest: &Path,
    bytes: &[u8],
) -> io::Result<()> {
    let head = bytes.len() / DIRECT_ALIGN * DIRECT_ALIGN;
    if head == 0 || bytes.as_ptr().align_offset(DIRECT_ALIGN) != 0 {
        return write_atomic(tmp_dir, kind, dest, bytes);
    }
    let tmp = temp_path(tmp_dir, kind);
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        let (file, direct) = open_direct(&mut options, &tmp)?;
        let mut from = 0;
        if direct {
            match file.write_all_at(&bytes[..head], 0) {
                Ok(()) => from = head,
                // Direct I/O refused after all (alignment): everything through the cache.
                Err(e) if is_einval(&e) => {}
                Err(e) => return Err(e),
            }
            if from < bytes.len() {
                leave_direct(&file)?;
            }
        }
        file.write_all_at(&bytes[from..], from as u64)?;
        file.sync_data()?;
        fs::rename(&tmp, dest)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Reads the whole file at `path` into `buf`, with direct I/O where the filesystem allows
/// (no page cache filled for a file read once), else through the cache.
pub(crate) fn read_direct(path: &Path, buf: &mut AlignedBuf) -> io::Result<()> {
    let (file, mut direct) = open_direct(OpenOptions::new().read(true), path)?;
    let size = file.metadata()?.len() as usize;
    // Aligned room for the whole file and one block more, so the read that finds the end
    // is aligned too.
    buf.reserve((size / DIRECT_ALIGN + 2) * DIRECT_ALIGN);
    let mut done = 0;
    loop {
        if done == buf.capacity() {
            // The file grew since it was measured (chunk files never do): keep what we have.
            let mut bigger = AlignedBuf::default();
            bigger.reserve(2 * buf.capacity());
            bigger.room()[..done].copy_from_slice(&buf.room()[..done]);
            *buf = bigger;
        }
        let cap = buf.capacity();
        match file.read_at(&mut buf.room()[done..cap], done as u64) {
            Ok(0) => break,
            Ok(n) => {
                done += n;
                if direct && done % DIRECT_ALIGN != 0 {
                    // A short read (the end): what follows is not aligned any more.
                    leave_direct(&file)?;
                    direct = false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if direct && is_einval(&e) => {
                leave_direct(&file)?;
                direct = false;
            }
            Err(e) => return Err(e),
        }
    }
    buf.set_len(done);
    Ok(())
}

/// Creates `dest` atomically with `bytes` unless it exists: a hard link from the fsynced
/// temporary file, which fails with `AlreadyExists` instead of replacing (rename would).
/// Returns false when `dest` was already there. The caller fsyncs `dest`'s directory.
pub(crate) fn create_atomic(
    tmp_dir: &Path,
    kind: &str,
    dest: &Path,
    bytes: &[u8],
) -> io::Result<bool> {
    let tmp = temp_path(tmp_dir, kind);
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_data()?;
        match fs::hard_link(&tmp, dest) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    })();
    let _ = fs::remove_file(&tmp);
    result
}

/// Reads a file, mapping "not found" to `None`.
pub(crate) fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("dest");
        write_atomic(dir.path(), "t", &dest, b"one").unwrap();
        write_atomic(dir.path(), "t", &dest, b"two").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn direct_writes_and_reads_round_trip_any_length() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("dest");
        let mut buf = AlignedBuf::default();
        let mut back = AlignedBuf::default();
        for len in [0, 1, 4095, 4096, 4097, 3 * 4096, 100_000] {
            buf.reserve(len);
            for (i, b) in buf.room()[..len].iter_mut().enumerate() {
                *b = (i % 251) as u8 ^ (len as u8);
            }
            buf.set_len(len);
            write_atomic_direct(dir.path(), "t", &dest, buf.as_slice()).unwrap();
            assert_eq!(fs::read(&dest).unwrap(), buf.as_slice(), "{len}");
            read_direct(&dest, &mut back).unwrap();
            assert_eq!(back.as_slice(), buf.as_slice(), "{len}");
        }
        // A buffer that is not aligned goes through the cache.
        write_atomic_direct(dir.path(), "t", &dest, &buf.as_slice()[1..]).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), &buf.as_slice()[1..]);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(read_direct(&dir.path().join("none"), &mut back).is_err());
    }

    #[test]
    fn create_atomic_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("dest");
        assert!(create_atomic(dir.path(), "t", &dest, b"one").unwrap());
        assert!(!create_atomic(dir.path(), "t", &dest, b"two").unwrap());
        assert_eq!(fs::read(&dest).unwrap(), b"one");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
