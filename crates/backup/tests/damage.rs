//! Restores fail loudly, naming the chunk, when the repository has been damaged.

mod common;

use std::fs;

use basalt_backup::{BackupError, Base, Repository};
use common::*;

/// A repository with one backup of 8 data chunks; returns the hash of chunk 3.
fn backed_up(dir: &std::path::Path) -> (Repository, String) {
    let repo = repo(dir);
    let v = volume(dir, "vol", 1 << 20);
    v.fill(0, 8 * CHUNK, 1);
    let b = repo.backup("b", &v.snapshot(), Base::Full).unwrap();
    (repo, b.manifest.chunks[3].unwrap().to_hex())
}

#[test]
fn a_flipped_byte_in_a_stored_chunk_is_detected_at_restore() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, hash) = backed_up(dir.path());
    let path = chunk_path(&repo, &hash);
    let mut bytes = fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    fs::write(&path, bytes).unwrap();

    let t = volume(dir.path(), "t", 1 << 20);
    let err = repo.restore("b", &t.dev).unwrap_err();
    match &err {
        BackupError::CorruptChunk { index, hash: h, .. } => assert_eq!((*index, h), (3, &hash)),
        other => panic!("expected CorruptChunk, got {other}"),
    }
    assert!(err.to_string().contains(&hash), "{err}");
}

#[test]
fn a_well_formed_chunk_with_the_wrong_content_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, hash) = backed_up(dir.path());
    // A valid zstd frame of the right length, but of other data.
    let other = zstd::bulk::compress(&random(CHUNK as usize, 99), 3).unwrap();
    fs::write(chunk_path(&repo, &hash), other).unwrap();
    let t = volume(dir.path(), "t", 1 << 20);
    let err = repo.restore("b", &t.dev).unwrap_err();
    assert!(
        matches!(err, BackupError::CorruptChunk { index: 3, ref reason, .. } if reason.contains("hash")),
        "{err}"
    );
}

#[test]
fn a_missing_chunk_is_detected_at_restore() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, hash) = backed_up(dir.path());
    fs::remove_file(chunk_path(&repo, &hash)).unwrap();
    let t = volume(dir.path(), "t", 1 << 20);
    let err = repo.restore("b", &t.dev).unwrap_err();
    assert!(
        matches!(err, BackupError::MissingChunk { index: 3, hash: ref h, .. } if *h == hash),
        "{err}"
    );
}

#[test]
fn a_damaged_manifest_is_refused_and_stops_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, _) = backed_up(dir.path());
    let path = repo.root().join("manifests/b.json");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(
        &path,
        text.replacen("\"chunk_size\":65536", "\"chunk_size\":65537", 1),
    )
    .unwrap();
    let err = repo.manifest("b").unwrap_err();
    assert!(matches!(err, BackupError::InvalidManifest { .. }), "{err}");
    // The sweep cannot know what the damaged manifest references, so it frees nothing.
    assert!(repo.sweep().is_err());
    assert_eq!(chunk_files(&repo).len(), 8);
}
