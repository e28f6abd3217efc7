//! Fingerprints: an incremental backup without changed ranges recognises unchanged chunks by
//! their BLAKE3 fingerprint, yet any change, even of one byte in place, is stored anew; a
//! parent written before fingerprints existed (format 1) still serves, compared by SHA-256.

mod common;

use std::collections::BTreeSet;
use std::ops::Range;

use basalt_backup::{Base, ChunkId, Fingerprint, Manifest, Repository};
use basalt_storage::BlockDevice;
use common::*;

const SIZE: u64 = 4 << 20; // 64 chunks of 64 KiB

/// A volume with data in chunks 0..8 and 20..28 (the rest holes).
fn populated(dir: &std::path::Path) -> Volume {
    let v = volume(dir, "vol", SIZE);
    v.fill(0, 8 * CHUNK, 1);
    v.fill(20 * CHUNK, 8 * CHUNK, 2);
    v
}

fn restored(repo: &Repository, dir: &std::path::Path, id: &str) -> Vec<u8> {
    let t = dirty_target(dir, &format!("restore-{id}"), SIZE);
    repo.restore(id, &t.dev).unwrap();
    t.bytes()
}

/// The incremental without changed ranges on `parent`.
fn scan(repo: &Repository, id: &str, parent: &str, v: &Volume) -> basalt_backup::Backup {
    let base = Base::Incremental {
        parent,
        changed: None,
    };
    repo.backup(id, &v.snapshot(), base).unwrap()
}

/// Every data chunk's id and fingerprint are those of its bytes; holes have neither.
fn assert_describes(m: &Manifest, bytes: &[u8]) {
    for (i, (id, fp)) in m.chunks.iter().zip(&m.fingerprints).enumerate() {
        let range = m.chunk_range(i as u64);
        let data = &bytes[range.start as usize..range.end as usize];
        if data.iter().all(|&b| b == 0) {
            assert_eq!((id, fp), (&None, &None), "chunk {i}");
        } else {
            assert_eq!(id, &Some(ChunkId::of(data)), "chunk {i}");
            assert_eq!(fp, &Some(Fingerprint::of(data)), "chunk {i}");
        }
    }
}

#[test]
fn a_chunk_changed_in_place_with_the_same_length_is_stored_anew() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let v = populated(dir.path());
    let full = repo.backup("full", &v.snapshot(), Base::Full).unwrap();
    assert_describes(&full.manifest, &v.bytes());

    // One byte of chunk 3 flipped, the last byte of chunk 21 changed, chunk 6's bytes
    // copied over chunk 25 (moved data: a new fingerprint at that index, a known id).
    let mut byte = [0u8];
    v.dev.read_at(&mut byte, 3 * CHUNK + 777).unwrap();
    v.dev.write_at(&[byte[0] ^ 1], 3 * CHUNK + 777).unwrap();
    v.dev
        .write_at(&[byte[0].wrapping_add(1)], 22 * CHUNK - 1)
        .unwrap();
    let mut moved = vec![0u8; CHUNK as usize];
    v.dev.read_at(&mut moved, 6 * CHUNK).unwrap();
    v.dev.write_at(&moved, 25 * CHUNK).unwrap();
    let state = v.bytes();

    let incr = scan(&repo, "incr", "full", &v);
    let s = incr.stats;
    assert_eq!((s.chunks_new, s.chunks_reused), (2, 14), "{s:?}");
    assert_describes(&incr.manifest, &state);
    let differ: BTreeSet<usize> = (0..incr.manifest.chunks.len())
        .filter(|&i| incr.manifest.chunks[i] != full.manifest.chunks[i])
        .collect();
    assert_eq!(differ, BTreeSet::from([3, 21, 25]));
    assert_eq!(incr.manifest.chunks[25], full.manifest.chunks[6]);
    assert_eq!(restored(&repo, dir.path(), "incr"), state);
}

#[test]
fn a_parent_in_the_format_without_fingerprints_still_serves() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let v = populated(dir.path());
    let old_state = v.bytes();
    let full = repo.backup("full", &v.snapshot(), Base::Full).unwrap();
    // The same backup as an older Basalt recorded it: no fingerprints, format 1.
    let old = Manifest {
        id: "old".into(),
        fingerprints: vec![None; full.manifest.chunks.len()],
        ..full.manifest.clone()
    };
    let record = old.to_bytes();
    let text = String::from_utf8(record.clone()).unwrap();
    assert!(
        text.contains(r#""format":1"#) && !text.contains("blake3"),
        "{text}"
    );
    assert_eq!(repo.import_record(&record).unwrap(), old);
    assert_eq!(repo.export_record("old").unwrap(), record);
    assert_eq!(restored(&repo, dir.path(), "old"), old_state);

    // Without ranges: compared by SHA-256, and the child gains fingerprints.
    v.fill(2 * CHUNK + 100, 10, 3);
    let a = scan(&repo, "a", "old", &v);
    assert_eq!((a.stats.chunks_new, a.stats.chunks_reused), (1, 15));
    assert_describes(&a.manifest, &v.bytes());
    assert_eq!(restored(&repo, dir.path(), "a"), v.bytes());

    // With ranges: the chunks taken unread keep the old parent's lack of fingerprints, and
    // the next incremental falls back to SHA-256 for those alone.
    let changed: Vec<Range<u64>> = vec![v.fill(21 * CHUNK, 10, 4)];
    let base = Base::Incremental {
        parent: "old",
        changed: Some(&changed),
    };
    let b = repo.backup("b", &v.snapshot(), base).unwrap();
    let known = b.manifest.fingerprints.iter().flatten().count();
    assert_eq!(known, 1, "only the chunk read has a fingerprint");
    v.fill(27 * CHUNK, 10, 5);
    let c = scan(&repo, "c", "b", &v);
    assert_eq!((c.stats.chunks_new, c.stats.chunks_reused), (1, 15));
    assert_describes(&c.manifest, &v.bytes());
    assert_eq!(restored(&repo, dir.path(), "c"), v.bytes());
}
