//! Change tracking, so that an incremental backup of a volume on a filesystem that cannot
//! share blocks (ext4) reads only what was written since its parent, not the whole volume.
//!
//! Every device [`FileBackend::open`](super::FileBackend) hands out marks the 1 MiB
//! granules its writes and discards touch, in a bitmap shared by all open devices of the
//! volume. Between sessions the bitmap lives in a hidden record beside the volume
//! (`.volume-<name>.changes`), naming the backup it counts from and a stamp of the file
//! (device, inode, size, modification time). The record is trusted only when the stamp still
//! matches, so any writer that bypassed Basalt's devices (an iSCSI target, a local attach, an
//! operator's `dd`) leaves it stale: its write moved the file's modification time, which
//! Basalt had set to a value of its own choosing in the past, so no later write can
//! reproduce it. The record is removed (durably) before a session's first write and written
//! again after the session's data is synced, so a crash in between leaves no record, and the
//! next incremental backup reads everything. Reading everything is slower, never wrong.

use std::collections::HashMap;
use std::fs::{self, File, FileTimes};
use std::io;
use std::ops::Range;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use super::disk::sync_dir;
use crate::{BlockDevice, FileDevice};

/// What one bit of the map covers: small enough that 1 % of scattered 1 MiB writes marks
/// about 1 % of a volume, large enough that a 16 TiB volume's map is 2 MiB.
const GRANULE: u64 = 1 << 20;

const MAGIC: &[u8; 8] = b"BSLTCHG1";

/// How long a backup waits for the last device of a volume to close (an export removed
/// just before).
const IDLE_WAIT: Duration = Duration::from_secs(10);

/// Identifies the state of a volume file: any write through any path changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_sec: i64,
    mtime_nsec: i64,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_sec: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }

    fn read(path: &Path) -> io::Result<Stamp> {
        Ok(Stamp::of(&fs::metadata(path)?))
    }

    /// Sets the file's modification time to a value of Basalt's own, a second in the past
    /// with nanoseconds from the clock: a later write sets it to the present, which always
    /// differs (even with a filesystem's coarse timestamps), so the stamp returned goes stale
    /// at the next write by anyone.
    fn set(path: &Path) -> io::Result<Stamp> {
        let now = SystemTime::now();
        let past = now - Duration::from_secs(1);
        let file = File::options().write(true).open(path)?;
        file.set_times(FileTimes::new().set_modified(past))?;
        file.sync_all()?;
        Ok(Stamp::of(&file.metadata()?))
    }
}

/// What a backup learns before reading a volume in place.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    /// The ranges written since the named base, when the record is trustworthy.
    pub changed: Option<Vec<Range<u64>>>,
    /// The file's state when the backup began, or `None` when a session is open (nothing
    /// then can be promised, and tracking does not restart after this backup).
    pub stamp: Option<Stamp>,
}

/// The record kept between sessions.
#[derive(Debug, PartialEq)]
struct Record {
    base: String,
    stamp: Stamp,
    bits: Vec<u64>,
}

fn words_for(size: u64) -> usize {
    size.div_ceil(GRANULE).div_ceil(64) as usize
}

/// FNV-1a: enough to notice a damaged record (a damaged one is ignored, never trusted).
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Record {
    fn encode(&self) -> Vec<u8> {
        let s = &self.stamp;
        let mut out = Vec::with_capacity(64 + self.base.len() + self.bits.len() * 8);
        out.extend_from_slice(MAGIC);
        for v in [s.dev, s.ino, s.size] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&s.mtime_sec.to_le_bytes());
        out.extend_from_slice(&s.mtime_nsec.to_le_bytes());
        out.extend_from_slice(&(self.base.len() as u64).to_le_bytes());
        out.extend_from_slice(self.base.as_bytes());
        for w in &self.bits {
            out.extend_from_slice(&w.to_le_bytes());
        }
        let sum = checksum(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// `None` for anything but an intact record of this format.
    fn decode(bytes: &[u8]) -> Option<Record> {
        let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(8)?)?;
        if checksum(body) != u64::from_le_bytes(sum.try_into().ok()?) {
            return None;
        }
        let rest = body.strip_prefix(MAGIC)?;
        let mut words = rest
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("chunks of 8")));
        let mut next = || words.next();
        let (dev, ino, size) = (next()?, next()?, next()?);
        let (mtime_sec, mtime_nsec) = (next()? as i64, next()? as i64);
        let base_len = usize::try_from(next()?).ok()?;
        let rest = rest.get(6 * 8..)?;
        let base = std::str::from_utf8(rest.get(..base_len)?).ok()?.to_owned();
        let map = rest.get(base_len..)?;
        if map.len() % 8 != 0 || map.len() / 8 != words_for(size) {
            return None;
        }
        let bits = map
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("chunks of 8")))
            .collect();
        let stamp = Stamp {
            dev,
            ino,
            size,
            mtime_sec,
            mtime_nsec,
        };
        Some(Record { base, stamp, bits })
    }

    fn load(path: &Path) -> io::Result<Option<Record>> {
        match fs::read(path) {
            Ok(bytes) => Ok(Record::decode(&bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Temporary file, fsync, rename, fsync of the directory: whole or absent after a crash.
    fn store(&self, path: &Path) -> io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("record");
        let temp = dir.join(format!("{name}.tmp"));
        let file = File::create(&temp)?;
        io::Write::write_all(&mut &file, &self.encode())?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        sync_dir(dir).map_err(io::Error::other)
    }

    /// The changed ranges, merged, within `0..size`.
    fn ranges(&self) -> Vec<Range<u64>> {
        let mut out: Vec<Range<u64>> = Vec::new();
        for (w, &word) in self.bits.iter().enumerate() {
            for bit in 0..64 {
                if word & (1 << bit) == 0 {
                    continue;
                }
                let start = (w as u64 * 64 + bit) * GRANULE;
                let end = (start + GRANULE).min(self.stamp.size);
                match out.last_mut() {
                    Some(last) if last.end == start => last.end = end,
                    _ => out.push(start..end),
                }
            }
        }
        out
    }
}

/// The hidden record beside the volume file (hidden files are never listed or counted).
fn record_path(volume: &Path) -> PathBuf {
    volume.with_file_name(format!(".{}.changes", file_name(volume)))
}

/// The volume file's name, which keys its slot.
fn file_name(volume: &Path) -> &str {
    volume
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
}

fn remove_durably(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(path.parent().unwrap_or(Path::new("."))).map_err(io::Error::other),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// The change tracking of one backend directory.
pub(super) struct Tracking {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    /// How long a backup waits for the last device of a volume to close.
    idle_wait: Duration,
}

/// One volume's tracking: its files and, while devices are open, the session.
struct Slot {
    volume: PathBuf,
    record: PathBuf,
    state: Mutex<SlotState>,
    /// Signalled when the last device closes.
    idle: Condvar,
}

#[derive(Default)]
struct SlotState {
    handles: usize,
    session: Option<Arc<Session>>,
}

/// The writes of the devices open at the same time on one volume.
struct Session {
    /// The base of a trustworthy record found at open; `None`: nothing is tracked.
    base: Option<String>,
    size: u64,
    bits: Vec<AtomicU64>,
    /// Set once the record is gone, before the first write.
    wrote: AtomicBool,
    /// Set when tracking is given up while the session is open.
    forgotten: AtomicBool,
    first_write: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Tracking {
    pub(super) fn new() -> Tracking {
        Tracking {
            slots: Mutex::new(HashMap::new()),
            idle_wait: IDLE_WAIT,
        }
    }

    fn slot(&self, volume: &Path) -> Arc<Slot> {
        let name = file_name(volume).to_owned();
        Arc::clone(lock(&self.slots).entry(name).or_insert_with(|| {
            Arc::new(Slot {
                volume: volume.to_owned(),
                record: record_path(volume),
                state: Mutex::new(SlotState::default()),
                idle: Condvar::new(),
            })
        }))
    }

    /// Wraps a device just opened on the volume file at `volume`.
    pub(super) fn track(&self, volume: &Path, device: FileDevice) -> io::Result<TrackedDevice> {
        let slot = self.slot(volume);
        let session = slot.acquire()?;
        Ok(TrackedDevice {
            device,
            slot,
            session,
        })
    }

    /// Before an in-place backup whose parent is `parent`: what changed since, if known, and
    /// a fresh stamp of the file.
    pub(super) fn baseline(&self, volume: &Path, parent: Option<&str>) -> io::Result<Baseline> {
        let slot = self.slot(volume);
        // A device dropped just before (an export removed) may still be keeping its record.
        let (state, waited) = slot
            .idle
            .wait_timeout_while(lock(&slot.state), self.idle_wait, |s| s.handles > 0)
            .unwrap_or_else(PoisonError::into_inner);
        if waited.timed_out() && state.handles > 0 {
            return Ok(Baseline::default());
        }
        let record = Record::load(&slot.record)?;
        let now = Stamp::read(volume)?;
        let trusted = record.filter(|r| r.stamp == now && Some(r.base.as_str()) == parent);
        let stamp = Stamp::set(volume)?;
        let changed = match trusted {
            Some(mut r) => {
                r.stamp = stamp;
                r.store(&slot.record)?;
                Some(r.ranges())
            }
            None => {
                remove_durably(&slot.record)?;
                None
            }
        };
        Ok(Baseline {
            changed,
            stamp: Some(stamp),
        })
    }

    /// After backup `base` read the volume in place: counts changes from it, if the file is
    /// as it was at `stamp` (nothing wrote meanwhile); else tracks nothing.
    pub(super) fn restart(&self, volume: &Path, base: &str, stamp: Stamp) -> io::Result<()> {
        let slot = self.slot(volume);
        let state = lock(&slot.state);
        let unchanged = state.handles == 0 && Stamp::read(volume)? == stamp;
        if !unchanged {
            return remove_durably(&slot.record);
        }
        Record {
            base: base.to_owned(),
            stamp,
            bits: vec![0; words_for(stamp.size)],
        }
        .store(&slot.record)
    }

    /// Gives up tracking the volume (another writer is given its file); the next in-place
    /// backup restarts it.
    pub(super) fn forget(&self, volume: &Path) -> io::Result<()> {
        let slot = self.slot(volume);
        let state = lock(&slot.state);
        if let Some(session) = &state.session {
            session.forgotten.store(true, Ordering::SeqCst);
        }
        remove_durably(&slot.record)
    }

    /// The volume is gone: so are its record and its slot (slots are otherwise kept, so
    /// that two devices of one volume never count in two maps).
    pub(super) fn remove(&self, volume: &Path) -> io::Result<()> {
        lock(&self.slots).remove(file_name(volume));
        remove_durably(&record_path(volume))
    }
}

impl Slot {
    fn acquire(&self) -> io::Result<Arc<Session>> {
        let mut state = lock(&self.state);
        if let Some(session) = &state.session {
            let session = Arc::clone(session);
            state.handles += 1;
            return Ok(session);
        }
        let meta = fs::metadata(&self.volume)?;
        let now = Stamp::of(&meta);
        let record = Record::load(&self.record)?.filter(|r| r.stamp == now);
        let (base, bits) = match record {
            Some(r) => (Some(r.base), r.bits),
            None => (None, vec![0; words_for(meta.size())]),
        };
        let session = Arc::new(Session {
            base,
            size: meta.size(),
            bits: bits.into_iter().map(AtomicU64::new).collect(),
            wrote: AtomicBool::new(false),
            forgotten: AtomicBool::new(false),
            first_write: Mutex::new(()),
        });
        state.session = Some(Arc::clone(&session));
        state.handles = 1;
        Ok(session)
    }

    /// The last device closed: the session's map becomes the record, once its data is on
    /// disk (a record must never promise less than the disk holds).
    fn release(&self) {
        let mut state = lock(&self.state);
        state.handles = state.handles.saturating_sub(1);
        if state.handles > 0 {
            return;
        }
        if let Some(session) = state.session.take() {
            self.close(&session);
        }
        self.idle.notify_all();
    }

    fn close(&self, session: &Session) {
        if !session.wrote.load(Ordering::SeqCst) {
            return;
        }
        let kept = match (&session.base, session.forgotten.load(Ordering::SeqCst)) {
            (Some(base), false) => self.keep(base, session),
            _ => remove_durably(&self.record),
        };
        if let Err(e) = kept {
            tracing::warn!(volume = %self.volume.display(), error = %e, "change record not kept; the next incremental backup reads the whole volume");
            let _ = remove_durably(&self.record);
        }
    }

    fn keep(&self, base: &str, session: &Session) -> io::Result<()> {
        // Setting the stamp syncs the file: its data are on disk before the record is.
        let stamp = Stamp::set(&self.volume)?;
        if stamp.size != session.size {
            return remove_durably(&self.record);
        }
        Record {
            base: base.to_owned(),
            stamp,
            bits: session
                .bits
                .iter()
                .map(|w| w.load(Ordering::SeqCst))
                .collect(),
        }
        .store(&self.record)
    }
}

impl Session {
    /// Called before a write or discard of `len` bytes at `offset` reaches the file.
    fn mark(&self, record: &Path, offset: u64, len: u64) {
        if self.base.is_none() || len == 0 {
            return;
        }
        if !self.wrote.load(Ordering::Acquire) {
            let _first = lock(&self.first_write);
            if !self.wrote.load(Ordering::Acquire) {
                if let Err(e) = remove_durably(record) {
                    // The write's new modification time leaves the record stale anyway;
                    // the session just keeps nothing.
                    tracing::warn!(record = %record.display(), error = %e, "change record not removed");
                    self.forgotten.store(true, Ordering::SeqCst);
                }
                self.wrote.store(true, Ordering::Release);
            }
        }
        let end = offset.saturating_add(len).min(self.size);
        if offset >= end {
            return;
        }
        for granule in offset / GRANULE..=(end - 1) / GRANULE {
            if let Some(word) = self.bits.get((granule / 64) as usize) {
                word.fetch_or(1 << (granule % 64), Ordering::Relaxed);
            }
        }
    }
}

/// A volume's device whose writes are tracked.
pub(super) struct TrackedDevice {
    device: FileDevice,
    slot: Arc<Slot>,
    session: Arc<Session>,
}

impl TrackedDevice {
    fn mark(&self, offset: u64, len: u64) {
        self.session.mark(&self.slot.record, offset, len);
    }
}

impl BlockDevice for TrackedDevice {
    fn size(&self) -> u64 {
        self.device.size()
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.device.read_at(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.mark(offset, buf.len() as u64);
        self.device.write_at(buf, offset)
    }

    fn flush(&self) -> io::Result<()> {
        self.device.flush()
    }

    fn discard(&self, offset: u64, len: u64) -> io::Result<()> {
        self.mark(offset, len);
        self.device.discard(offset, len)
    }

    fn data_ranges(&self) -> io::Result<Option<Vec<Range<u64>>>> {
        self.device.data_ranges()
    }

    fn try_read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<bool> {
        self.device.try_read_at(buf, offset)
    }

    fn try_write_at(&self, buf: &[u8], offset: u64) -> io::Result<bool> {
        self.mark(offset, buf.len() as u64);
        self.device.try_write_at(buf, offset)
    }
}

impl Drop for TrackedDevice {
    /// Keeping the record of a session that wrote syncs the volume: on a blocking thread
    /// when a runtime is at hand (the drop may be in async code). Others release at once.
    fn drop(&mut self) {
        let slot = Arc::clone(&self.slot);
        let rt = tokio::runtime::Handle::try_current();
        match rt {
            Ok(rt) if self.session.wrote.load(Ordering::SeqCst) => {
                rt.spawn_blocking(move || slot.release());
            }
            _ => slot.release(),
        }
    }
}

#[cfg(test)]
mod tests;
