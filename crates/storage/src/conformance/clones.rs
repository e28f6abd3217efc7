//! Conformance: clones are independent of their source; copies count as provisioned bytes,
//! stay thin, and are refused (creating nothing) for a missing source, a size too small or too
//! large, or an unsafe name.

use super::snapshots::{assert_pattern, volume_with, write_pattern, A, B, C};
use super::{assert_zeros, flush, fresh_name, pattern, read, write};
use crate::{BlockBackend, StorageError, GIB};

const MIB: u64 = 1 << 20;

/// Room for filesystem metadata on top of the data a copy holds.
const ALLOCATION_SLACK: u64 = 8 * MIB;

/// A clone reads its source's data (zeros beyond it); afterwards writes to either do not
/// reach the other, nor does deleting the source. A retry keeps the clone's own writes.
pub async fn a_clone_is_independent_of_its_source(backend: &dyn BlockBackend) {
    let (source, source_device) = volume_with(backend, A).await;
    let clone = fresh_name();
    backend
        .clone_volume(&source, &clone, 2)
        .await
        .expect("clone_volume");
    let clone_device = backend.open(&clone).await.expect("open the clone");
    assert_eq!(clone_device.size(), 2 * GIB);
    assert_pattern(&clone_device, A, "the clone").await;
    assert_zeros(
        &read(&clone_device, GIB, MIB as usize).await,
        "beyond the source",
    );

    write_pattern(&clone_device, B).await;
    assert_pattern(&source_device, A, "the source after writing the clone").await;
    write_pattern(&source_device, C).await;
    assert_pattern(&clone_device, B, "the clone after writing the source").await;

    backend
        .clone_volume(&source, &clone, 2)
        .await
        .expect("retried clone_volume");
    assert_pattern(&clone_device, B, "the clone after a retry").await;

    drop(source_device);
    backend.delete(&source).await.expect("delete the source");
    assert_pattern(&clone_device, B, "the clone of a deleted source").await;
    drop(clone_device);
    backend.delete(&clone).await.expect("delete");
}

/// Snapshots and clones add their size to the provisioned bytes and go when deleted; only
/// volumes are counted as volumes.
pub async fn copies_count_as_provisioned(backend: &dyn BlockBackend) {
    let stats = || async { backend.stats().await.expect("stats") };
    let before = stats().await;
    let volume = fresh_name();
    backend.create(&volume, 2).await.unwrap();
    let snapshot = fresh_name();
    backend.create_snapshot(&volume, &snapshot).await.unwrap();
    let after = stats().await;
    assert_eq!(after.provisioned_bytes, before.provisioned_bytes + 4 * GIB);
    assert_eq!(after.volume_count, before.volume_count + 1);

    let clone = fresh_name();
    backend.clone_volume(&volume, &clone, 3).await.unwrap();
    let after = stats().await;
    assert_eq!(after.provisioned_bytes, before.provisioned_bytes + 7 * GIB);
    assert_eq!(after.volume_count, before.volume_count + 2);

    backend.delete_snapshot(&snapshot).await.unwrap();
    assert_eq!(
        stats().await.provisioned_bytes,
        before.provisioned_bytes + 5 * GIB
    );
    backend.delete(&volume).await.unwrap();
    backend.delete(&clone).await.unwrap();
    assert_eq!(stats().await.provisioned_bytes, before.provisioned_bytes);
}

/// On a thin backend, copies of a 10 GiB volume holding 3 MiB take about 3 MiB each: the
/// holes stay holes. Skipped for thick backends.
pub async fn copies_of_a_thin_volume_stay_thin(backend: &dyn BlockBackend) {
    if !backend.capabilities().thin_provisioning {
        return;
    }
    let allocated = || async { backend.stats().await.expect("stats").allocated_bytes };
    let volume = fresh_name();
    backend.create(&volume, 10).await.unwrap();
    let device = backend.open(&volume).await.unwrap();
    for offset in [0, 5 * GIB, 10 * GIB - MIB] {
        write(&device, offset, pattern(7, MIB as usize)).await;
    }
    flush(&device).await;
    drop(device);

    let (snapshot, from_snapshot, clone) = (fresh_name(), fresh_name(), fresh_name());
    let mut last = allocated().await;
    let mut grew = |what: &'static str, now: u64| {
        let grown = now.saturating_sub(last);
        assert!(
            grown <= 3 * MIB + ALLOCATION_SLACK,
            "{what} of a 10 GiB volume holding 3 MiB allocates {grown} bytes"
        );
        last = now;
    };
    backend.create_snapshot(&volume, &snapshot).await.unwrap();
    grew("a snapshot", allocated().await);
    backend
        .create_from_snapshot(&snapshot, &from_snapshot, 12)
        .await
        .unwrap();
    grew("a volume from a snapshot", allocated().await);
    backend.clone_volume(&volume, &clone, 10).await.unwrap();
    grew("a clone", allocated().await);
    backend
        .revert_to_snapshot(&volume, &snapshot)
        .await
        .unwrap();
    grew("a revert", allocated().await);

    for name in [&volume, &from_snapshot, &clone] {
        backend.delete(name).await.unwrap();
    }
    backend.delete_snapshot(&snapshot).await.unwrap();
}

/// Copies from a missing source are NotFound or SnapshotNotFound; a size below the source's
/// or zero is InvalidSize; a size beyond the stats is InsufficientCapacity. None creates
/// anything.
pub async fn unsuitable_copies_are_refused(backend: &dyn BlockBackend) {
    let (missing, new) = (fresh_name(), fresh_name());
    let is_not_found =
        |r: &Result<(), StorageError>| matches!(r, Err(StorageError::NotFound(n)) if *n == missing);
    let is_no_snapshot = |r: &Result<(), StorageError>| matches!(r, Err(StorageError::SnapshotNotFound(n)) if *n == missing);
    let r = backend.create_snapshot(&missing, &new).await;
    assert!(is_not_found(&r), "snapshot of a missing volume: {r:?}");
    assert!(!backend.snapshot_exists(&new).await.unwrap());
    let r = backend.clone_volume(&missing, &new, 1).await;
    assert!(is_not_found(&r), "clone of a missing volume: {r:?}");
    let r = backend.create_from_snapshot(&missing, &new, 1).await;
    assert!(is_no_snapshot(&r), "volume from a missing snapshot: {r:?}");
    let r = backend.open_snapshot(&missing).await.map(drop);
    assert!(is_no_snapshot(&r), "open of a missing snapshot: {r:?}");
    let r = backend.revert_to_snapshot(&missing, &missing).await;
    assert!(is_not_found(&r), "revert of a missing volume: {r:?}");

    let volume = fresh_name();
    backend.create(&volume, 2).await.unwrap();
    let r = backend.revert_to_snapshot(&volume, &missing).await;
    assert!(is_no_snapshot(&r), "revert to a missing snapshot: {r:?}");
    let snapshot = fresh_name();
    backend.create_snapshot(&volume, &snapshot).await.unwrap();
    let available = backend.stats().await.unwrap().provisionable_bytes() / GIB;
    let too_much = available + 1 + available / 64;
    for size in [0, 1] {
        let r = backend.clone_volume(&volume, &new, size).await;
        assert!(
            matches!(r, Err(StorageError::InvalidSize(_))),
            "clone of {size} GiB: {r:?}"
        );
        let r = backend.create_from_snapshot(&snapshot, &new, size).await;
        assert!(
            matches!(r, Err(StorageError::InvalidSize(_))),
            "from snapshot, {size} GiB: {r:?}"
        );
    }
    for size in [too_much, 1 << 40] {
        let r = backend.clone_volume(&volume, &new, size).await;
        assert!(
            matches!(r, Err(StorageError::InsufficientCapacity { .. })),
            "clone of {size} GiB: {r:?}"
        );
        let r = backend.create_from_snapshot(&snapshot, &new, size).await;
        assert!(
            matches!(r, Err(StorageError::InsufficientCapacity { .. })),
            "from snapshot, {size} GiB: {r:?}"
        );
    }
    assert!(
        !backend.exists(&new).await.unwrap(),
        "a refused copy left a volume"
    );

    backend.delete(&volume).await.unwrap();
    backend.delete_snapshot(&snapshot).await.unwrap();
}

/// Every snapshot and copy method refuses names that could escape the backend's namespace,
/// in either position.
pub async fn unsafe_names_are_refused_by_copies(backend: &dyn BlockBackend) {
    let good = fresh_name();
    for bad in ["", "..", "../escape", "a/b", ".hidden"] {
        let refused = |what: &str, r: Result<(), StorageError>| {
            assert!(
                matches!(r, Err(StorageError::InvalidName(_))),
                "{what} with {bad:?}: expected InvalidName, got {r:?}"
            );
        };
        refused("create_snapshot", backend.create_snapshot(bad, &good).await);
        refused("create_snapshot", backend.create_snapshot(&good, bad).await);
        refused("delete_snapshot", backend.delete_snapshot(bad).await);
        refused(
            "snapshot_exists",
            backend.snapshot_exists(bad).await.map(drop),
        );
        refused("open_snapshot", backend.open_snapshot(bad).await.map(drop));
        refused("clone_volume", backend.clone_volume(bad, &good, 1).await);
        refused("clone_volume", backend.clone_volume(&good, bad, 1).await);
        refused(
            "create_from_snapshot",
            backend.create_from_snapshot(bad, &good, 1).await,
        );
        refused(
            "create_from_snapshot",
            backend.create_from_snapshot(&good, bad, 1).await,
        );
        refused(
            "revert_to_snapshot",
            backend.revert_to_snapshot(bad, &good).await,
        );
        refused(
            "revert_to_snapshot",
            backend.revert_to_snapshot(&good, bad).await,
        );
    }
}
