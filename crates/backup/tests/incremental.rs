//! Incremental backups: only changed chunks are stored; with the changed ranges given, the
//! unchanged ones are not even read; every state restores byte for byte.

mod common;

use std::ops::Range;

use basalt_backup::{BackupError, Base};
use basalt_storage::BlockDevice;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SIZE: u64 = 16 << 20; // 256 chunks of 64 KiB

/// A volume with 25 % data; returns it with its content.
fn populated(dir: &std::path::Path) -> (Volume, Vec<u8>) {
    let v = volume(dir, "vol", SIZE);
    for i in 0..8 {
        v.fill(i * (2 << 20), 512 << 10, 100 + i);
    }
    let bytes = v.bytes();
    (v, bytes)
}

/// Rewrites ~1 % of the volume's 4 KiB blocks at random; returns the ranges written.
fn change_one_percent(v: &Volume, seed: u64) -> Vec<Range<u64>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let blocks = SIZE / 4096;
    (0..blocks / 100)
        .map(|_| {
            let block = rng.gen_range(0..blocks);
            v.fill(block * 4096, 4096, rng.gen())
        })
        .collect()
}

fn restored(repo: &basalt_backup::Repository, dir: &std::path::Path, id: &str) -> Vec<u8> {
    let t = dirty_target(dir, &format!("restore-{id}"), SIZE);
    repo.restore(id, &t.dev).unwrap();
    t.bytes()
}

#[test]
fn both_states_restore_after_an_incremental_given_the_changed_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let (v, full_state) = populated(dir.path());
    let full = repo.backup("full", &v.snapshot(), Base::Full).unwrap();

    let changed = change_one_percent(&v, 5);
    let incr_state = v.bytes();
    let base = Base::Incremental {
        parent: "full",
        changed: Some(&changed),
    };
    let incr = repo.backup("incr", &v.snapshot(), base).unwrap();
    let touched: std::collections::BTreeSet<u64> =
        changed.iter().map(|r| r.start / CHUNK).collect();
    let s = incr.stats;
    // Only the touched chunks were read, and each of them holds new data now.
    assert_eq!(s.bytes_read, touched.len() as u64 * CHUNK, "{s:?}");
    assert_eq!(s.chunks_new, touched.len() as u64, "{s:?}");
    // Every data chunk of the parent that no change touched was taken unread.
    let untouched_data = (full.manifest.chunks.iter().enumerate())
        .filter(|(i, c)| c.is_some() && !touched.contains(&(*i as u64)))
        .count();
    assert_eq!(s.chunks_unread, untouched_data as u64, "{s:?}");
    assert_eq!(incr.manifest.parent.as_deref(), Some("full"));

    assert_eq!(restored(&repo, dir.path(), "full"), full_state);
    assert_eq!(restored(&repo, dir.path(), "incr"), incr_state);
}

#[test]
fn without_the_changed_ranges_every_data_chunk_is_read_and_only_changes_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let (v, full_state) = populated(dir.path());
    repo.backup("full", &v.snapshot(), Base::Full).unwrap();
    let changed = change_one_percent(&v, 6);
    let incr_state = v.bytes();
    let base = Base::Incremental {
        parent: "full",
        changed: None,
    };
    let s = repo.backup("incr", &v.snapshot(), base).unwrap().stats;
    let touched: std::collections::BTreeSet<u64> =
        changed.iter().map(|r| r.start / CHUNK).collect();
    assert_eq!(s.chunks_new, touched.len() as u64, "{s:?}");
    assert_eq!(s.chunks_unread, 0);
    assert!(s.bytes_read >= 8 * (512 << 10), "{s:?}");
    assert_eq!(restored(&repo, dir.path(), "full"), full_state);
    assert_eq!(restored(&repo, dir.path(), "incr"), incr_state);
}

#[test]
fn a_chain_of_incrementals_and_a_grown_volume_restore() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let (v, _) = populated(dir.path());
    repo.backup("b0", &v.snapshot(), Base::Full).unwrap();
    let mut states = vec![v.bytes()];
    for n in 1..4u64 {
        let changed = change_one_percent(&v, 50 + n);
        let parent = format!("b{}", n - 1);
        let base = Base::Incremental {
            parent: &parent,
            changed: Some(&changed),
        };
        repo.backup(&format!("b{n}"), &v.snapshot(), base).unwrap();
        states.push(v.bytes());
    }
    for (n, state) in states.iter().enumerate() {
        assert_eq!(
            &restored(&repo, dir.path(), &format!("b{n}")),
            state,
            "b{n}"
        );
    }
    assert_eq!(repo.children("b1").unwrap(), ["b2"]);

    // Extend the volume by 1 MiB and write at the new end: no changed range needed there.
    let grown = volume(dir.path(), "grown", SIZE + (1 << 20));
    grown.dev.write_at(&states[3], 0).unwrap();
    grown.fill(SIZE + 1000, 5000, 9);
    let none: &[Range<u64>] = &[];
    let base = Base::Incremental {
        parent: "b3",
        changed: Some(none),
    };
    let s = repo.backup("b4", &grown.snapshot(), base).unwrap().stats;
    assert_eq!(s.chunks_new, 1, "{s:?}");
    let t = dirty_target(dir.path(), "t-grown", SIZE + (1 << 20));
    repo.restore("b4", &t.dev).unwrap();
    assert_eq!(t.bytes(), grown.bytes());
}

#[test]
fn a_changed_range_outside_the_volume_and_a_missing_parent_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let (v, _) = populated(dir.path());
    repo.backup("full", &v.snapshot(), Base::Full).unwrap();
    let outside = SIZE - 10..SIZE + 1;
    let base = Base::Incremental {
        parent: "full",
        changed: Some(std::slice::from_ref(&outside)),
    };
    let err = repo.backup("i", &v.snapshot(), base).unwrap_err();
    assert!(
        matches!(err, BackupError::ChangedRangeOutOfBounds { .. }),
        "{err}"
    );
    let base = Base::Incremental {
        parent: "nope",
        changed: None,
    };
    let err = repo.backup("i", &v.snapshot(), base).unwrap_err();
    assert!(
        matches!(err, BackupError::NotFound(ref p) if p == "nope"),
        "{err}"
    );
    assert!(!repo.exists("i").unwrap());
}
