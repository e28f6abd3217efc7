//! Back-end QoS: a device that paces its I/O to a volume's limits (IOPS and bytes per second,
//! total and per direction). Each limit keeps the time at which its next unit is free; a
//! request starts when every limit it falls under is free, and pushes each of them forward
//! by its cost (one operation, or its bytes) divided by the rate. At most [`CREDIT`] of idle
//! time is saved up: enough that a client at queue depth 1, whose next request comes a
//! little after its slot, still gets the full rate, too little for a burst worth noticing.
//! Requests wait on the blocking thread that runs them, so a paced volume never holds up
//! another one.

use std::io;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use basalt_domain::qos::IoLimits;
use basalt_storage::BlockDevice;

/// The idle time a limit may bank: a slot missed by less than this is not lost.
const CREDIT: Duration = Duration::from_millis(50);

/// Which of the six limits a request is counted against.
#[derive(Clone, Copy)]
enum Dir {
    Read,
    Write,
}

/// The next free instant of each limit, in the order total, read, write, for operations
/// then for bytes.
struct Pacer {
    limits: IoLimits,
    free_at: [Instant; 6],
}

impl Pacer {
    fn new(limits: IoLimits) -> Self {
        let now = Instant::now();
        Pacer {
            limits,
            free_at: [now; 6],
        }
    }

    /// Reserves the request's share of every limit it falls under; returns when it may start.
    fn admit(&mut self, dir: Dir, bytes: u64, now: Instant) -> Instant {
        let l = &self.limits;
        let (ops, byte_limit) = match dir {
            Dir::Read => ((1, l.read_iops), (4, l.read_bytes)),
            Dir::Write => ((2, l.write_iops), (5, l.write_bytes)),
        };
        let applicable = [
            (0, l.total_iops, 1),
            (ops.0, ops.1, 1),
            (3, l.total_bytes, bytes),
            (byte_limit.0, byte_limit.1, bytes),
        ];
        let floor = now.checked_sub(CREDIT).unwrap_or(now);
        let mut start = now;
        for (i, rate, cost) in applicable {
            if let Some(rate) = rate.filter(|_| cost > 0) {
                let from = self.free_at[i].max(floor);
                start = start.max(from);
                self.free_at[i] = from + Duration::from_secs_f64(cost as f64 / rate as f64);
            }
        }
        start
    }
}

/// A device whose reads, writes and discards keep to `limits`; flushes are not counted.
pub struct Throttled {
    inner: Arc<dyn BlockDevice>,
    pacer: Mutex<Pacer>,
}

impl Throttled {
    /// `device` itself when there is nothing to enforce.
    pub fn wrap(device: Arc<dyn BlockDevice>, limits: IoLimits) -> Arc<dyn BlockDevice> {
        if limits.is_unlimited() {
            return device;
        }
        Arc::new(Throttled {
            inner: device,
            pacer: Mutex::new(Pacer::new(limits)),
        })
    }

    fn pace(&self, dir: Dir, bytes: u64) {
        let now = Instant::now();
        let start = self
            .pacer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit(dir, bytes, now);
        if start > now {
            std::thread::sleep(start - now);
        }
    }
}

impl BlockDevice for Throttled {
    fn size(&self) -> u64 {
        self.inner.size()
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.pace(Dir::Read, buf.len() as u64);
        self.inner.read_at(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.pace(Dir::Write, buf.len() as u64);
        self.inner.write_at(buf, offset)
    }

    fn flush(&self) -> io::Result<()> {
        self.inner.flush()
    }

    fn discard(&self, offset: u64, len: u64) -> io::Result<()> {
        // An operation that moves no data: it counts against the IOPS limits only.
        self.pace(Dir::Write, 0);
        self.inner.discard(offset, len)
    }

    fn data_ranges(&self) -> io::Result<Option<Vec<Range<u64>>>> {
        self.inner.data_ranges()
    }
    // `try_read_at`/`try_write_at` keep their default (never inline): a paced request may
    // have to wait, which only a blocking thread may do.
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacer(l: IoLimits) -> (Pacer, Instant) {
        let p = Pacer::new(l);
        let t0 = p.free_at[0];
        (p, t0)
    }

    #[test]
    fn operations_are_spaced_by_the_iops_limit() {
        let (mut p, t0) = pacer(IoLimits {
            total_iops: Some(100),
            ..Default::default()
        });
        let starts: Vec<Duration> = (0..5).map(|_| p.admit(Dir::Read, 4096, t0) - t0).collect();
        let ms: Vec<u128> = starts.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![0, 10, 20, 30, 40]);
    }

    #[test]
    fn bytes_limits_weigh_by_size_and_directions_are_separate() {
        let (mut p, t0) = pacer(IoLimits {
            write_bytes: Some(1 << 20),
            read_iops: Some(10),
            ..Default::default()
        });
        assert_eq!(p.admit(Dir::Write, 512 << 10, t0), t0);
        // The next write waits for the first half MiB's half second.
        assert_eq!(
            p.admit(Dir::Write, 4096, t0) - t0,
            Duration::from_millis(500)
        );
        // Reads are not held up by writes, only by their own limit.
        assert_eq!(p.admit(Dir::Read, 1 << 20, t0), t0);
        assert_eq!(p.admit(Dir::Read, 1, t0) - t0, Duration::from_millis(100));
    }

    #[test]
    fn idle_time_saves_at_most_the_credit() {
        let (mut p, t0) = pacer(IoLimits {
            total_iops: Some(100),
            ..Default::default()
        });
        // After 5 s idle: 50 ms of credit, i.e. 5 operations at once, then 10 ms apart.
        let later = t0 + Duration::from_secs(5);
        let starts: Vec<u128> = (0..7)
            .map(|_| (p.admit(Dir::Write, 1, later) - later).as_millis())
            .collect();
        assert_eq!(starts, vec![0, 0, 0, 0, 0, 0, 10]);
    }

    #[test]
    fn a_request_a_little_late_for_its_slot_does_not_push_the_later_ones_back() {
        let (mut p, t0) = pacer(IoLimits {
            total_iops: Some(100),
            ..Default::default()
        });
        let ms = |d: Duration| d.as_millis();
        assert_eq!(ms(p.admit(Dir::Read, 1, t0) - t0), 0);
        // The second comes 3 ms after its slot (10 ms): it starts at once...
        let late = t0 + Duration::from_millis(13);
        assert_eq!(p.admit(Dir::Read, 1, late), late);
        // ...and the third, queued behind it, still gets the 20 ms slot.
        assert_eq!(ms(p.admit(Dir::Read, 1, late) - t0), 20);
    }

    #[test]
    fn a_paced_device_measures_at_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("v"))
            .unwrap();
        f.set_len(1 << 20).unwrap();
        let dev: Arc<dyn BlockDevice> = Arc::new(basalt_storage::FileDevice::new(f).unwrap());
        assert!(Arc::ptr_eq(
            &Throttled::wrap(dev.clone(), IoLimits::default()),
            &dev
        ));
        let paced = Throttled::wrap(
            dev,
            IoLimits {
                total_iops: Some(200),
                ..Default::default()
            },
        );
        let start = Instant::now();
        let mut buf = vec![0u8; 4096];
        for i in 0..41u64 {
            paced.read_at(&mut buf, (i % 256) * 4096).unwrap();
        }
        // 41 operations at 200/s: the 41st starts 200 ms after the first.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(195), "{took:?}");
        assert!(took < Duration::from_millis(600), "{took:?}");
    }
}
