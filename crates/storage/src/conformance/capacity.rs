//! Conformance: the backend refuses what its own stats say it cannot hold, and a thin backend
//! allocates only what is written.

use std::sync::Arc;

use super::{flush, fresh_name, pattern, write};
use crate::{BlockBackend, BlockDevice, StorageError, GIB};

const MIB: u64 = 1 << 20;

/// Room for filesystem metadata (extent trees, indirect blocks) on top of the data written.
const ALLOCATION_SLACK: u64 = 8 * MIB;

/// A size far beyond any backend, whose byte count does not even fit in a u64.
const ABSURD_GIB: u64 = 1 << 40;

/// The request just past what the stats allow. The margin of 1/64 keeps the check stable
/// while other processes change the filesystem's free space a little between the two calls.
fn beyond(available_gib: u64) -> u64 {
    available_gib + 1 + available_gib / 64
}

fn assert_refused(what: &str, requested: u64, result: Result<(), StorageError>) {
    match result {
        Err(StorageError::InsufficientCapacity {
            requested_gib,
            available_gib,
        }) => {
            assert_eq!(requested_gib, requested, "{what}: requested_gib");
            assert!(
                available_gib < requested,
                "{what}: available_gib {available_gib}"
            );
        }
        other => panic!("{what}: expected InsufficientCapacity, got {other:?}"),
    }
}

/// Create and extend beyond [`BackendStats::provisionable_bytes`](crate::BackendStats) are
/// refused with InsufficientCapacity and change nothing.
pub async fn capacity_beyond_the_stats_is_refused(backend: &dyn BlockBackend) {
    let name = fresh_name();
    let available = backend.stats().await.expect("stats").provisionable_bytes() / GIB;
    let too_much = beyond(available);
    assert_refused("create", too_much, backend.create(&name, too_much).await);
    assert_refused(
        "create",
        ABSURD_GIB,
        backend.create(&name, ABSURD_GIB).await,
    );
    assert!(
        !backend.exists(&name).await.unwrap(),
        "refused create left a volume"
    );

    backend
        .create(&name, 1)
        .await
        .expect("create 1 GiB (the suite needs some room)");
    let available = backend.stats().await.expect("stats").provisionable_bytes() / GIB;
    let too_much = 1 + beyond(available);
    assert_refused(
        "extend",
        too_much - 1,
        backend.extend(&name, too_much).await,
    );
    assert_refused(
        "extend",
        ABSURD_GIB - 1,
        backend.extend(&name, ABSURD_GIB).await,
    );
    assert_eq!(
        backend.size_bytes(&name).await.unwrap(),
        GIB,
        "refused extend changed size"
    );

    backend.delete(&name).await.expect("delete");
}

/// On a thin backend, a 10 GiB volume takes only what was written, and discard gives it
/// back where the backend says it can. Skipped for thick backends.
pub async fn thin_volumes_allocate_only_what_is_written(backend: &dyn BlockBackend) {
    let capabilities = backend.capabilities();
    if !capabilities.thin_provisioning {
        return;
    }
    let allocated = || async { backend.stats().await.expect("stats").allocated_bytes };
    let name = fresh_name();
    let before = allocated().await;
    backend.create(&name, 10).await.expect("create 10 GiB");
    let empty = allocated().await - before;
    assert!(
        empty <= ALLOCATION_SLACK,
        "an empty 10 GiB volume allocates {empty} bytes"
    );

    let device = backend.open(&name).await.expect("open");
    let offsets = [0, 5 * GIB, 10 * GIB - MIB];
    for offset in offsets {
        write(&device, offset, pattern(5, MIB as usize)).await;
    }
    flush(&device).await;
    let written = allocated().await - before;
    assert!(
        written <= 3 * MIB + ALLOCATION_SLACK,
        "3 MiB written to a 10 GiB volume allocate {written} bytes"
    );

    if capabilities.discard {
        discard_all(&device, &offsets).await;
        let discarded = allocated().await - before;
        assert!(
            discarded <= ALLOCATION_SLACK,
            "after discard {discarded} bytes stay allocated"
        );
    }

    drop(device);
    backend.delete(&name).await.expect("delete");
}

async fn discard_all(device: &Arc<dyn BlockDevice>, offsets: &[u64]) {
    let (device, offsets) = (Arc::clone(device), offsets.to_vec());
    tokio::task::spawn_blocking(move || {
        offsets
            .iter()
            .try_for_each(|&offset| device.discard(offset, MIB))?;
        device.flush()
    })
    .await
    .unwrap()
    .expect("discard");
}

/// The stats describe a usable backend: some capacity, free within total, sane settings.
pub async fn stats_are_consistent(backend: &dyn BlockBackend) {
    let stats = backend.stats().await.expect("stats");
    assert!(stats.total_bytes > 0, "total capacity is zero: {stats:?}");
    assert!(
        stats.free_bytes <= stats.total_bytes,
        "free exceeds total: {stats:?}"
    );
    let ratio = stats.max_over_subscription_ratio;
    assert!(ratio.is_finite() && ratio >= 1.0, "bad ratio: {stats:?}");
    assert!(stats.reserved_percentage <= 100, "bad reserved: {stats:?}");
    assert!(!backend.name().is_empty(), "backend has no name");
    assert!(
        !backend.capabilities().driver.is_empty(),
        "backend has no driver name"
    );
}
