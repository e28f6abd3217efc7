//! Conformance: the data semantics of snapshots, volumes made from them and reverts. Pattern
//! A is written, the snapshot taken, pattern B written; from then on the snapshot reads A
//! whatever happens to the volume, and so do the volumes made from it until they are written.

use std::sync::Arc;

use super::{assert_zeros, flush, fresh_name, pattern, read, write};
use crate::{BlockBackend, BlockDevice, StorageError, GIB};

const MIB: u64 = 1 << 20;

/// Patterns used by these checks: A before the snapshot, B and C after.
pub(super) const A: u8 = 10;
pub(super) const B: u8 = 20;
pub(super) const C: u8 = 30;

/// Where a pattern is written in a 1 GiB volume: the first bytes, an unaligned run across the
/// 1 MiB boundary, the last bytes.
fn probes(seed: u8) -> [(u64, Vec<u8>); 3] {
    [
        (0, pattern(seed, 4096)),
        (MIB - 1000, pattern(seed.wrapping_add(1), 3000)),
        (GIB - 777, pattern(seed.wrapping_add(2), 777)),
    ]
}

/// Writes pattern `seed` at the probes and flushes.
pub(super) async fn write_pattern(device: &Arc<dyn BlockDevice>, seed: u8) {
    for (offset, data) in probes(seed) {
        write(device, offset, data).await;
    }
    flush(device).await;
}

/// Panics unless the device reads pattern `seed` at every probe.
pub(super) async fn assert_pattern(device: &Arc<dyn BlockDevice>, seed: u8, what: &str) {
    for (offset, data) in probes(seed) {
        let got = read(device, offset, data.len()).await;
        assert!(
            got == data,
            "{what}: the data at offset {offset} is not pattern {seed}"
        );
    }
}

/// A new 1 GiB volume holding pattern `seed`, and its open device.
pub(super) async fn volume_with(
    backend: &dyn BlockBackend,
    seed: u8,
) -> (String, Arc<dyn BlockDevice>) {
    let name = fresh_name();
    backend.create(&name, 1).await.expect("create");
    let device = backend.open(&name).await.expect("open");
    write_pattern(&device, seed).await;
    (name, device)
}

async fn open_snapshot(backend: &dyn BlockBackend, snapshot: &str) -> Arc<dyn BlockDevice> {
    backend
        .open_snapshot(snapshot)
        .await
        .expect("open the snapshot")
}

/// The snapshot reads A after B is written to the volume, and after the volume is deleted; it
/// refuses writes; a retried create_snapshot does not copy B into it; deleting it twice
/// succeeds and it is gone.
pub async fn a_snapshot_keeps_the_data_of_its_moment(backend: &dyn BlockBackend) {
    let (volume, device) = volume_with(backend, A).await;
    let snapshot = fresh_name();
    assert!(!backend.snapshot_exists(&snapshot).await.unwrap());
    backend
        .create_snapshot(&volume, &snapshot)
        .await
        .expect("create_snapshot");
    assert!(backend.snapshot_exists(&snapshot).await.unwrap());
    assert!(
        !backend.exists(&snapshot).await.unwrap(),
        "a snapshot is no volume"
    );
    write_pattern(&device, B).await;

    assert_pattern(&device, B, "the volume after the snapshot").await;
    let snap = open_snapshot(backend, &snapshot).await;
    assert_eq!(snap.size(), GIB, "the snapshot has the volume's size");
    assert_pattern(&snap, A, "the snapshot").await;
    assert_zeros(&read(&snap, 4096, 4096).await, "a hole in the snapshot");
    let refused = tokio::task::spawn_blocking({
        let snap = Arc::clone(&snap);
        move || {
            [
                snap.write_at(&[1], 0).is_err(),
                snap.discard(0, 4096).is_err(),
            ]
        }
    })
    .await
    .unwrap();
    assert_eq!(
        refused, [true; 2],
        "a snapshot must refuse writes and discards"
    );

    backend
        .create_snapshot(&volume, &snapshot)
        .await
        .expect("retried create_snapshot");
    assert_pattern(&open_snapshot(backend, &snapshot).await, A, "after a retry").await;

    drop(device);
    backend.delete(&volume).await.expect("delete the volume");
    assert_pattern(&snap, A, "the snapshot of a deleted volume").await;
    drop(snap);

    backend.delete_snapshot(&snapshot).await.expect("delete");
    backend
        .delete_snapshot(&snapshot)
        .await
        .expect("delete again");
    assert!(!backend.snapshot_exists(&snapshot).await.unwrap());
    let gone = backend.open_snapshot(&snapshot).await.map(drop);
    assert!(
        matches!(&gone, Err(StorageError::SnapshotNotFound(n)) if *n == snapshot),
        "open of a deleted snapshot: expected SnapshotNotFound, got {gone:?}"
    );
}

/// A volume from the snapshot reads A (not B), can be written without changing the snapshot,
/// and a larger one reads zeros beyond; a retry keeps what was written, another size is
/// AlreadyExists.
pub async fn a_volume_from_a_snapshot_reads_it_and_leaves_it_intact(backend: &dyn BlockBackend) {
    let (volume, device) = volume_with(backend, A).await;
    let snapshot = fresh_name();
    backend.create_snapshot(&volume, &snapshot).await.unwrap();
    write_pattern(&device, B).await;

    let new = fresh_name();
    backend
        .create_from_snapshot(&snapshot, &new, 1)
        .await
        .expect("create_from_snapshot");
    assert_eq!(backend.size_bytes(&new).await.unwrap(), GIB);
    let new_device = backend.open(&new).await.expect("open the new volume");
    assert_pattern(&new_device, A, "the volume from the snapshot").await;
    write_pattern(&new_device, C).await;
    assert_pattern(&new_device, C, "the new volume after a write").await;
    assert_pattern(&open_snapshot(backend, &snapshot).await, A, "the snapshot").await;
    assert_pattern(&device, B, "the original volume").await;

    backend
        .create_from_snapshot(&snapshot, &new, 1)
        .await
        .expect("retried create_from_snapshot");
    assert_pattern(&new_device, C, "the new volume after a retry").await;
    match backend.create_from_snapshot(&snapshot, &new, 3).await {
        Err(StorageError::AlreadyExists { size_bytes, .. }) => assert_eq!(size_bytes, GIB),
        other => panic!("create_from_snapshot over another size: got {other:?}"),
    }

    let larger = fresh_name();
    backend
        .create_from_snapshot(&snapshot, &larger, 2)
        .await
        .expect("a larger volume from the snapshot");
    let larger_device = backend.open(&larger).await.unwrap();
    assert_eq!(larger_device.size(), 2 * GIB);
    assert_pattern(&larger_device, A, "the larger volume").await;
    assert_zeros(
        &read(&larger_device, GIB, MIB as usize).await,
        "beyond the snapshot",
    );
    assert_zeros(
        &read(&larger_device, 2 * GIB - 4096, 4096).await,
        "the end of the larger volume",
    );

    drop((device, new_device, larger_device));
    for name in [&volume, &new, &larger] {
        backend.delete(name).await.expect("delete");
    }
    backend.delete_snapshot(&snapshot).await.expect("delete");
}

/// Volumes made from a snapshot keep their data when it is deleted.
pub async fn deleting_a_snapshot_keeps_the_volumes_made_from_it(backend: &dyn BlockBackend) {
    let (volume, device) = volume_with(backend, A).await;
    let snapshot = fresh_name();
    backend.create_snapshot(&volume, &snapshot).await.unwrap();
    let new = fresh_name();
    backend
        .create_from_snapshot(&snapshot, &new, 1)
        .await
        .unwrap();

    backend.delete_snapshot(&snapshot).await.expect("delete");
    backend
        .delete_snapshot(&snapshot)
        .await
        .expect("delete again");

    let new_device = backend.open(&new).await.expect("open");
    assert_pattern(&new_device, A, "a volume whose snapshot was deleted").await;
    assert_pattern(&device, A, "the snapshot's volume").await;
    drop((device, new_device));
    backend.delete(&volume).await.unwrap();
    backend.delete(&new).await.unwrap();
}

/// Revert brings back A and the holes of the snapshot's moment, keeps the volume's size (an
/// extension reads zeros), leaves the snapshot and the provisioned bytes as they were, and can
/// run again.
pub async fn revert_brings_back_the_snapshot(backend: &dyn BlockBackend) {
    let (volume, device) = volume_with(backend, A).await;
    let snapshot = fresh_name();
    backend.create_snapshot(&volume, &snapshot).await.unwrap();
    write_pattern(&device, B).await;
    write(&device, GIB / 2, pattern(B, 4096)).await;
    flush(&device).await;
    drop(device);
    let before = backend.stats().await.unwrap().provisioned_bytes;

    backend
        .revert_to_snapshot(&volume, &snapshot)
        .await
        .expect("revert");

    assert_eq!(backend.stats().await.unwrap().provisioned_bytes, before);
    let device = backend.open(&volume).await.expect("reopen");
    assert_eq!(device.size(), GIB);
    assert_pattern(&device, A, "the reverted volume").await;
    assert_zeros(
        &read(&device, GIB / 2, 4096).await,
        "written after the snapshot",
    );
    write_pattern(&device, C).await;
    assert_pattern(&open_snapshot(backend, &snapshot).await, A, "the snapshot").await;
    drop(device);

    backend.extend(&volume, 2).await.expect("extend");
    backend
        .revert_to_snapshot(&volume, &snapshot)
        .await
        .expect("revert again");
    let device = backend.open(&volume).await.expect("reopen");
    assert_eq!(device.size(), 2 * GIB, "revert keeps the volume's size");
    assert_pattern(&device, A, "reverted again").await;
    assert_zeros(&read(&device, GIB, MIB as usize).await, "the extension");

    drop(device);
    backend.delete(&volume).await.unwrap();
    backend.delete_snapshot(&snapshot).await.unwrap();
}

/// Snapshots written before a restart are there after it, with their data.
pub async fn snapshots_survive_a_restart<B: BlockBackend>(make: &impl Fn() -> B) {
    let backend = make();
    let (volume, device) = volume_with(&backend, A).await;
    let snapshot = fresh_name();
    backend.create_snapshot(&volume, &snapshot).await.unwrap();
    drop(device);
    let provisioned = backend.stats().await.unwrap().provisioned_bytes;
    drop(backend);

    let backend = make();
    assert!(backend.snapshot_exists(&snapshot).await.unwrap());
    assert_pattern(
        &open_snapshot(&backend, &snapshot).await,
        A,
        "after a restart",
    )
    .await;
    assert_eq!(
        backend.stats().await.unwrap().provisioned_bytes,
        provisioned
    );
    backend.delete(&volume).await.unwrap();
    backend.delete_snapshot(&snapshot).await.unwrap();
}
