//! Crashes and concurrency: interrupted backups and deletes leave existing backups intact,
//! their leftovers do not disturb later operations, and the sweep removes them.

mod common;

use std::fs;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

use basalt_backup::{BackupError, Base};
use basalt_storage::BlockDevice;
use common::*;

/// A device whose reads start failing after `ok` of them: a backup dying half-way.
struct Failing<'a> {
    inner: &'a dyn BlockDevice,
    ok: AtomicU32,
}

impl BlockDevice for Failing<'_> {
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let left = self
            .ok
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        match left {
            Ok(_) => self.inner.read_at(buf, offset),
            Err(_) => Err(io::Error::other("the disk went away")),
        }
    }
    fn write_at(&self, _: &[u8], _: u64) -> io::Result<()> {
        unreachable!("backups never write")
    }
    fn flush(&self) -> io::Result<()> {
        Ok(())
    }
    fn discard(&self, _: u64, _: u64) -> io::Result<()> {
        unreachable!("backups never discard")
    }
}

#[test]
fn a_backup_that_dies_half_way_leaves_no_manifest_and_a_retry_completes() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    // A backup reads 8 MiB (128 chunks) at a time: 2 reads for this volume.
    let v = volume(dir.path(), "vol", 16 << 20);
    v.fill(0, 16 << 20, 1);
    let snap = v.snapshot();
    let failing = Failing {
        inner: &snap,
        ok: AtomicU32::new(1),
    };
    let err = repo.backup("b", &failing, Base::Full).unwrap_err();
    assert!(matches!(err, BackupError::Io { .. }), "{err}");
    assert!(!repo.exists("b").unwrap());
    // Every chunk read before the failure was stored (distinct random data): 128 of 256.
    let orphans = chunk_files(&repo).len();
    assert_eq!(orphans, 128);

    // The retry finds the chunks already stored and completes.
    let s = repo.backup("b", &snap, Base::Full).unwrap().stats;
    assert_eq!(s.chunks_reused, orphans as u64, "{s:?}");
    assert_eq!(s.chunks_new + s.chunks_reused, 256);
    let t = volume(dir.path(), "t", 16 << 20);
    repo.restore("b", &t.dev).unwrap();
    assert_eq!(t.bytes(), v.bytes());
}

#[test]
fn leftover_temporary_files_and_unreferenced_chunks_are_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let v = volume(dir.path(), "vol", 1 << 20);
    v.fill(0, 4 * CHUNK, 1);
    repo.backup("kept", &v.snapshot(), Base::Full).unwrap();
    let kept_state = v.bytes();

    // A backup that crashed before its manifest: its chunks are stored, nothing names them.
    v.fill(8 * CHUNK, 3 * CHUNK, 2);
    repo.backup("crashed", &v.snapshot(), Base::Full).unwrap();
    fs::remove_file(repo.root().join("manifests/crashed.json")).unwrap();
    // Writes interrupted before their rename: a torn chunk and a torn manifest.
    fs::write(repo.root().join("tmp/chunk-torn"), b"\x28\xb5\x2f\xfd half").unwrap();
    fs::write(repo.root().join("tmp/manifest-torn"), b"{\"manifest\":").unwrap();
    assert_eq!(chunk_files(&repo).len(), 7);

    // Later operations do not trip over any of it.
    assert_eq!(repo.list().unwrap(), ["kept"]);
    let again = repo
        .backup("again", &v.snapshot(), Base::Full)
        .unwrap()
        .stats;
    assert_eq!((again.chunks_new, again.chunks_reused), (0, 7), "{again:?}");
    repo.delete("again").unwrap();

    // That delete's sweep removed the orphans and the temporary files; "kept" is intact.
    assert_eq!(chunk_files(&repo).len(), 4);
    assert_eq!(fs::read_dir(repo.root().join("tmp")).unwrap().count(), 0);
    let t = volume(dir.path(), "t", 1 << 20);
    repo.restore("kept", &t.dev).unwrap();
    assert_eq!(t.bytes(), kept_state);
}

#[test]
fn concurrent_backups_and_deletes_never_lose_a_referenced_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let shared = random(6 * CHUNK as usize, 7);
    let volumes: Vec<Volume> = (0..4u64)
        .map(|n| {
            let v = volume(dir.path(), &format!("v{n}"), 1 << 20);
            v.dev.write_at(&shared, n * CHUNK).unwrap();
            v.fill(10 * CHUNK, CHUNK, n);
            v
        })
        .collect();
    std::thread::scope(|s| {
        for (n, v) in volumes.iter().enumerate() {
            let repo = repo.clone();
            s.spawn(move || {
                for round in 0..6 {
                    let id = format!("v{n}-{round}");
                    repo.backup(&id, &v.snapshot(), Base::Full).unwrap();
                    if round % 2 == 0 {
                        repo.delete(&id).unwrap();
                    }
                }
            });
        }
        let repo = repo.clone();
        s.spawn(move || {
            for _ in 0..20 {
                repo.sweep().unwrap();
            }
        });
    });
    let ids = repo.list().unwrap();
    assert_eq!(ids.len(), 12);
    for id in ids {
        let v = &volumes[id[1..2].parse::<usize>().unwrap()];
        let t = volume(dir.path(), &format!("t-{id}"), 1 << 20);
        repo.restore(&id, &t.dev).unwrap();
        assert_eq!(t.bytes(), v.bytes(), "{id}");
    }
    // Once quiet, the store holds exactly the chunks the remaining manifests name: 6 shared
    // and one per volume.
    repo.sweep().unwrap();
    assert_eq!(chunk_files(&repo).len(), 6 + 4);
}
