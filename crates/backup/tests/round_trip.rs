//! Full backups: byte-exact round trips through real files, holes, dedupe across volumes.

mod common;

use basalt_backup::{BackupError, Base};
use basalt_storage::BlockDevice;
use common::*;

#[test]
fn random_data_with_holes_round_trips_onto_a_target_full_of_other_data() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    // 4 MiB + 1000 bytes: the last chunk is short.
    let size = (4 << 20) + 1000;
    let v = volume(dir.path(), "vol", size);
    v.fill(0, 100_000, 1); // spans chunks 0 and 1, partly
    v.fill(1 << 20, 3 * CHUNK, 2); // three whole chunks
    v.fill(size - 500, 500, 3); // inside the short last chunk
                                // A written region of zeros: data to the filesystem, a hole to the backup.
    v.dev.write_at(&vec![0; CHUNK as usize], 2 << 20).unwrap();
    let original = v.bytes();

    let backup = repo.backup("b1", &v.snapshot(), Base::Full).unwrap();
    let s = backup.stats;
    assert_eq!(s.chunks_new, 6, "{s:?}");
    assert_eq!(s.object_count, 6);
    assert_eq!(s.holes, backup.manifest.chunks.len() as u64 - 6);
    // Reported holes are not even read: only the written chunks (and the zero one) are.
    assert_eq!(s.bytes_read, 6 * CHUNK + 1000, "{s:?}");
    assert_eq!(chunk_files(&repo).len(), 6, "holes are not stored");
    assert_eq!(repo.manifest("b1").unwrap(), backup.manifest);

    let target = dirty_target(dir.path(), "target", size);
    let r = repo.restore("b1", &target.dev).unwrap();
    assert_eq!(r.chunks_read, 6);
    assert_eq!(target.bytes(), original);
}

#[test]
fn a_larger_target_keeps_its_tail_and_a_smaller_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let v = volume(dir.path(), "vol", 1 << 20);
    v.fill(CHUNK, CHUNK, 7);
    repo.backup("b", &v.snapshot(), Base::Full).unwrap();

    let small = volume(dir.path(), "small", (1 << 20) - 1);
    let err = repo.restore("b", &small.dev).unwrap_err();
    assert!(
        matches!(err, BackupError::TargetTooSmall { needed, .. } if needed == 1 << 20),
        "{err}"
    );

    let big = dirty_target(dir.path(), "big", 2 << 20);
    repo.restore("b", &big.dev).unwrap();
    let restored = big.bytes();
    assert_eq!(restored[..1 << 20], v.bytes()[..]);
    assert!(restored[1 << 20..].iter().all(|&b| b == 0xEE));
}

#[test]
fn identical_chunks_are_stored_once_across_volumes() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let a = volume(dir.path(), "a", 2 << 20);
    let b = volume(dir.path(), "b", 2 << 20);
    // Same 8 chunks of data at different chunk-aligned offsets, and 2 chunks of b's own.
    let shared = random(8 * CHUNK as usize, 11);
    a.dev.write_at(&shared, 0).unwrap();
    b.dev.write_at(&shared, 16 * CHUNK).unwrap();
    b.fill(0, 2 * CHUNK, 12);
    // A chunk repeated inside one volume is stored once too.
    a.dev
        .write_at(&shared[..CHUNK as usize], 24 * CHUNK)
        .unwrap();

    let first = repo.backup("a1", &a.snapshot(), Base::Full).unwrap().stats;
    assert_eq!((first.chunks_new, first.chunks_reused), (8, 1), "{first:?}");
    let second = repo.backup("b1", &b.snapshot(), Base::Full).unwrap().stats;
    assert_eq!(
        (second.chunks_new, second.chunks_reused),
        (2, 8),
        "{second:?}"
    );
    assert_eq!(second.object_count, 10);
    assert_eq!(chunk_files(&repo).len(), 10);

    for (id, v) in [("a1", &a), ("b1", &b)] {
        let t = dirty_target(dir.path(), &format!("t-{id}"), 2 << 20);
        repo.restore(id, &t.dev).unwrap();
        assert_eq!(t.bytes(), v.bytes(), "{id}");
    }
}

#[test]
fn an_existing_id_is_refused_and_the_first_backup_stands() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let v = volume(dir.path(), "vol", 1 << 20);
    v.fill(0, 1000, 1);
    let first = repo.backup("b", &v.snapshot(), Base::Full).unwrap();
    v.fill(0, 1000, 2);
    let err = repo.backup("b", &v.snapshot(), Base::Full).unwrap_err();
    assert!(matches!(err, BackupError::AlreadyExists(_)), "{err}");
    assert_eq!(repo.manifest("b").unwrap(), first.manifest);
    assert!(matches!(
        repo.backup("../b", &v.snapshot(), Base::Full),
        Err(BackupError::InvalidId(_))
    ));
}

#[test]
fn an_empty_volume_is_all_holes_and_restores_as_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let v = volume(dir.path(), "vol", 1 << 20);
    let b = repo.backup("empty", &v.snapshot(), Base::Full).unwrap();
    assert_eq!((b.stats.bytes_read, b.stats.object_count), (0, 0));
    assert!(chunk_files(&repo).is_empty());
    let t = dirty_target(dir.path(), "t", 1 << 20);
    let r = repo.restore("empty", &t.dev).unwrap();
    assert_eq!(r.bytes_discarded, 1 << 20);
    assert!(t.bytes().iter().all(|&b| b == 0));
}
