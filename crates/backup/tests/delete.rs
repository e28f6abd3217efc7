//! Deleting backups frees exactly the chunks no remaining backup references.

mod common;

use basalt_backup::{BackupError, Base};
use common::*;

#[test]
fn delete_frees_only_unreferenced_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let v = volume(dir.path(), "vol", 1 << 20);
    v.fill(0, 4 * CHUNK, 1);
    repo.backup("a", &v.snapshot(), Base::Full).unwrap();
    // b shares chunks 0..2 with a, replaces 2..4 and adds one.
    v.fill(2 * CHUNK, 3 * CHUNK, 2);
    let b_state = v.bytes();
    repo.backup("b", &v.snapshot(), Base::Full).unwrap();
    assert_eq!(chunk_files(&repo).len(), 7);

    let s = repo.delete("a").unwrap();
    assert_eq!((s.chunks_removed, s.chunks_kept), (2, 5), "{s:?}");
    assert!(s.bytes_freed > 0);
    assert_eq!(chunk_files(&repo).len(), 5);
    assert!(!repo.exists("a").unwrap());
    let t = volume(dir.path(), "t", 1 << 20);
    repo.restore("b", &t.dev).unwrap();
    assert_eq!(t.bytes(), b_state);

    let s = repo.delete("b").unwrap();
    assert_eq!((s.chunks_removed, s.chunks_kept), (5, 0), "{s:?}");
    assert!(chunk_files(&repo).is_empty());
    assert!(repo.list().unwrap().is_empty());
}

#[test]
fn a_parent_with_incremental_children_is_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let v = volume(dir.path(), "vol", 1 << 20);
    v.fill(0, 4 * CHUNK, 1);
    repo.backup("full", &v.snapshot(), Base::Full).unwrap();
    let changed = [v.fill(0, 100, 2)];
    let base = Base::Incremental {
        parent: "full",
        changed: Some(&changed),
    };
    repo.backup("incr", &v.snapshot(), base).unwrap();

    let err = repo.delete("full").unwrap_err();
    assert!(
        matches!(err, BackupError::HasChildren { ref children, .. } if children == &["incr"]),
        "{err}"
    );
    assert!(repo.exists("full").unwrap());
    repo.delete("incr").unwrap();
    repo.delete("full").unwrap();
    assert!(chunk_files(&repo).is_empty());
}

#[test]
fn deleting_a_missing_backup_succeeds_and_still_sweeps() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let v = volume(dir.path(), "vol", 1 << 20);
    v.fill(0, 2 * CHUNK, 1);
    repo.backup("a", &v.snapshot(), Base::Full).unwrap();
    // A crash right after the manifest's removal: the retried delete finds no manifest.
    std::fs::remove_file(repo.root().join("manifests/a.json")).unwrap();
    let s = repo.delete("a").unwrap();
    assert_eq!(s.chunks_removed, 2);
    assert!(chunk_files(&repo).is_empty());
}
