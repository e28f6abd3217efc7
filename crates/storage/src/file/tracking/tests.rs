use std::os::unix::fs::FileExt;

use super::*;

const SIZE: u64 = 64 << 20;

/// What a baseline says when exactly `r` changed.
fn one(r: Range<u64>) -> Option<Vec<Range<u64>>> {
    Some(std::iter::once(r).collect())
}

struct Volume {
    _dir: tempfile::TempDir,
    path: PathBuf,
    tracking: Tracking,
}

fn volume() -> Volume {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("volume-v");
    File::create(&path).unwrap().set_len(SIZE).unwrap();
    Volume {
        _dir: dir,
        path,
        tracking: Tracking {
            idle_wait: Duration::from_millis(50),
            ..Tracking::new()
        },
    }
}

impl Volume {
    fn open(&self) -> TrackedDevice {
        let file = File::options()
            .read(true)
            .write(true)
            .open(&self.path)
            .unwrap();
        self.tracking
            .track(&self.path, FileDevice::new(file).unwrap())
            .unwrap()
    }

    /// As a backup in place does: baseline, then restart from `backup`.
    fn back_up(&self, backup: &str, parent: Option<&str>) -> Option<Vec<Range<u64>>> {
        let b = self.tracking.baseline(&self.path, parent).unwrap();
        self.tracking
            .restart(&self.path, backup, b.stamp.unwrap())
            .unwrap();
        b.changed
    }

    fn record(&self) -> PathBuf {
        self.path.with_file_name(".volume-v.changes")
    }
}

#[test]
fn writes_through_devices_are_what_the_next_incremental_reads() {
    let v = volume();
    assert_eq!(
        v.back_up("b1", None),
        None,
        "nothing is known before a backup"
    );
    {
        let (a, b) = (v.open(), v.open());
        a.write_at(&[1; 4096], 3 << 20).unwrap();
        b.write_at(&[2; 10], (5 << 20) - 5).unwrap();
        b.discard(40 << 20, 2 << 20).unwrap();
        assert!(!v.record().exists(), "no record while a session writes");
    }
    assert_eq!(
        v.back_up("b2", Some("b1")),
        Some(vec![3 << 20..6 << 20, 40 << 20..42 << 20])
    );
    assert_eq!(v.back_up("b3", Some("b2")), Some(vec![]), "counted from b2");
}

#[test]
fn reads_leave_the_record_alone() {
    let v = volume();
    v.back_up("b1", None);
    {
        let d = v.open();
        let mut buf = [0; 512];
        d.read_at(&mut buf, 0).unwrap();
    }
    assert_eq!(v.back_up("b2", Some("b1")), Some(vec![]));
}

#[test]
fn a_write_that_bypasses_the_devices_makes_the_record_stale() {
    let v = volume();
    v.back_up("b1", None);
    File::options()
        .write(true)
        .open(&v.path)
        .unwrap()
        .write_all_at(&[9; 512], 7 << 20)
        .unwrap();
    assert_eq!(v.back_up("b2", Some("b1")), None);
    // Tracking starts again from b2.
    v.open().write_at(&[1; 512], 0).unwrap();
    assert_eq!(v.back_up("b3", Some("b2")), one(0..1 << 20));
}

#[test]
fn a_bypassing_write_during_a_session_is_not_lost() {
    let v = volume();
    v.back_up("b1", None);
    v.tracking.forget(&v.path).unwrap();
    v.open().write_at(&[1; 512], 0).unwrap();
    assert_eq!(v.back_up("b2", Some("b1")), None);
    {
        let d = v.open();
        d.write_at(&[1; 512], 0).unwrap();
        // A local attach is issued while the device is open.
        v.tracking.forget(&v.path).unwrap();
    }
    assert_eq!(v.back_up("b3", Some("b2")), None);
}

#[test]
fn only_the_named_parent_counts() {
    let v = volume();
    v.back_up("b1", None);
    assert_eq!(v.back_up("b2", Some("other")), None);
    // b2 read everything, so counting from b2 is sound.
    assert_eq!(v.back_up("b3", Some("b2")), Some(vec![]));
}

#[test]
fn a_crash_mid_session_leaves_no_record() {
    let v = volume();
    v.back_up("b1", None);
    let d = v.open();
    d.write_at(&[1; 512], 0).unwrap();
    std::mem::forget(d);
    // A new process: nothing in memory, no record on disk.
    let fresh = Tracking::new();
    assert!(!v.record().exists());
    let b = fresh.baseline(&v.path, Some("b1")).unwrap();
    assert_eq!(b.changed, None);
}

#[test]
fn an_open_session_promises_nothing() {
    let v = volume();
    v.back_up("b1", None);
    let d = v.open();
    let b = v.tracking.baseline(&v.path, Some("b1")).unwrap();
    assert_eq!((b.changed, b.stamp), (None, None));
    drop(d);
}

#[test]
fn a_record_survives_a_restart_and_damage_is_noticed() {
    let v = volume();
    v.back_up("b1", None);
    v.open().write_at(&[1; 512], 9 << 20).unwrap();
    let fresh = Tracking::new();
    let b = fresh.baseline(&v.path, Some("b1")).unwrap();
    assert_eq!(b.changed, one(9 << 20..10 << 20));
    fresh.restart(&v.path, "b2", b.stamp.unwrap()).unwrap();
    let mut bytes = fs::read(v.record()).unwrap();
    let last = bytes.len() - 9;
    bytes[last] ^= 1;
    fs::write(v.record(), &bytes).unwrap();
    assert_eq!(fresh.baseline(&v.path, Some("b2")).unwrap().changed, None);
}

#[test]
fn records_round_trip_and_truncation_is_refused() {
    let r = Record {
        base: "b".into(),
        stamp: Stamp {
            dev: 1,
            ino: 2,
            size: 130 << 20,
            mtime_sec: -3,
            mtime_nsec: 4,
        },
        bits: vec![u64::MAX, 0b101, 0],
    };
    let bytes = r.encode();
    assert_eq!(Record::decode(&bytes), Some(r));
    for len in 0..bytes.len() {
        assert_eq!(Record::decode(&bytes[..len]), None, "truncated to {len}");
    }
}

#[test]
fn ranges_merge_and_stop_at_the_end() {
    let r = Record {
        base: "b".into(),
        stamp: Stamp {
            dev: 0,
            ino: 0,
            size: (65 << 20) + 512,
            mtime_sec: 0,
            mtime_nsec: 0,
        },
        bits: vec![1 << 63 | 1 << 62 | 1, 1 << 1],
    };
    assert_eq!(
        r.ranges(),
        vec![0..1 << 20, 62 << 20..64 << 20, 65 << 20..(65 << 20) + 512]
    );
}
