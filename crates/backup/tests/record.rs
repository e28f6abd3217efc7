//! Export and import of backup records: another Basalt sharing the chunk storage restores
//! from an imported record; changed, truncated or dangling records are refused.

mod common;

use std::fs;

use basalt_backup::{BackupError, Base, Repository};
use common::*;

/// Copies every chunk file of `from` into `to`, as shared storage would show them.
fn share_chunks(from: &Repository, to: &Repository) {
    for path in chunk_files(from) {
        let hex = path.file_name().unwrap().to_str().unwrap();
        fs::copy(&path, chunk_path(to, hex)).unwrap();
    }
}

#[test]
fn an_exported_record_restores_in_another_repository() {
    let dir = tempfile::tempdir().unwrap();
    let here = repo(dir.path());
    let v = volume(dir.path(), "vol", 1 << 20);
    v.fill(5000, 3 * CHUNK, 1);
    let b = here.backup("b", &v.snapshot(), Base::Full).unwrap();
    let record = here.export_record("b").unwrap();

    let there = Repository::open_or_create(dir.path().join("there"), CHUNK).unwrap();
    share_chunks(&here, &there);
    let imported = there.import_record(&record).unwrap();
    assert_eq!(imported, b.manifest);
    assert_eq!(
        there.import_record(&record).unwrap(),
        b.manifest,
        "idempotent"
    );
    let t = dirty_target(dir.path(), "t", 1 << 20);
    there.restore("b", &t.dev).unwrap();
    assert_eq!(t.bytes(), v.bytes());
}

#[test]
fn tampered_truncated_or_dangling_records_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let here = repo(dir.path());
    let v = volume(dir.path(), "vol", 1 << 20);
    v.fill(0, 2 * CHUNK, 1);
    here.backup("b", &v.snapshot(), Base::Full).unwrap();
    let record = here.export_record("b").unwrap();
    let there = Repository::open_or_create(dir.path().join("there"), CHUNK).unwrap();

    // Point the backup at other (all-zero) data: the digest no longer matches.
    let text = String::from_utf8(record.clone()).unwrap();
    let first_hash = text.split("\"chunks\":[\"").nth(1).unwrap()[..64].to_owned();
    let tampered = text.replace(&first_hash, &"0".repeat(64));
    for bad in [
        tampered.as_bytes(),
        &record[..record.len() - 1],
        &record[..10],
        b"",
    ] {
        let err = there.import_record(bad).unwrap_err();
        assert!(matches!(err, BackupError::InvalidManifest { .. }), "{err}");
    }
    // Intact, but the chunks are not in this repository.
    let err = there.import_record(&record).unwrap_err();
    assert!(
        matches!(err, BackupError::ImportMissingChunks { missing: 2, .. }),
        "{err}"
    );
    assert!(there.list().unwrap().is_empty());
}

#[test]
fn a_record_never_replaces_another_backup_of_the_same_id() {
    let dir = tempfile::tempdir().unwrap();
    let here = repo(dir.path());
    let there = Repository::open_or_create(dir.path().join("there"), CHUNK).unwrap();
    let v = volume(dir.path(), "vol", 1 << 20);
    v.fill(0, CHUNK, 1);
    here.backup("b", &v.snapshot(), Base::Full).unwrap();
    v.fill(0, CHUNK, 2);
    there.backup("b", &v.snapshot(), Base::Full).unwrap();
    share_chunks(&here, &there);
    let err = there
        .import_record(&here.export_record("b").unwrap())
        .unwrap_err();
    assert!(matches!(err, BackupError::ImportConflict(_)), "{err}");
}
