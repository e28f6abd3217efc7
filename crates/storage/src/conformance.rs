//! The conformance suite: the behaviour every [`BlockBackend`] must show, written once and run
//! against each backend by its own tests (`tests/file_backend.rs` for [`FileBackend`], and
//! `tests/reflink.rs` for it again on a filesystem that shares blocks).
//!
//! Each check is a public async function that panics with a message on failure, so a
//! backend's tests can run them one by one (a failure names the behaviour) or all at once
//! with [`run_all`]. Checks use fresh UUID names and delete what they create, so they can
//! share one backend; they expect no other writer on it, since some compare stats before and
//! after. Device I/O goes through `spawn_blocking`, as in production.
//!
//! [`FileBackend`]: crate::FileBackend

mod capacity;
mod clones;
mod data;
mod lifecycle;
mod snapshots;

use std::sync::Arc;

pub use capacity::{
    capacity_beyond_the_stats_is_refused, stats_are_consistent,
    thin_volumes_allocate_only_what_is_written,
};
pub use clones::{
    a_clone_is_independent_of_its_source, copies_count_as_provisioned,
    copies_of_a_thin_volume_stay_thin, unsafe_names_are_refused_by_copies,
    unsuitable_copies_are_refused,
};
pub use data::{
    data_round_trips_at_boundaries, data_survives_a_restart, discard_reads_back_zeros,
    extend_keeps_data_and_zeroes_the_new_region, io_outside_the_device_is_refused,
};
pub use lifecycle::{
    create_is_idempotent_for_the_same_size, create_makes_a_zeroed_volume_of_exactly_the_size,
    delete_removes_the_volume_and_is_idempotent, missing_volumes_are_not_found,
    unsafe_names_are_refused, zero_size_is_refused,
};
pub use snapshots::{
    a_snapshot_keeps_the_data_of_its_moment,
    a_volume_from_a_snapshot_reads_it_and_leaves_it_intact,
    deleting_a_snapshot_keeps_the_volumes_made_from_it, revert_brings_back_the_snapshot,
    snapshots_survive_a_restart,
};

use crate::{BlockBackend, BlockDevice};

/// Runs every check. `make` must return a backend over the same storage each time it is
/// called: the restart check drops one backend and reads its data through the next.
pub async fn run_all<B: BlockBackend>(make: impl Fn() -> B) {
    let backend = make();
    create_makes_a_zeroed_volume_of_exactly_the_size(&backend).await;
    create_is_idempotent_for_the_same_size(&backend).await;
    zero_size_is_refused(&backend).await;
    unsafe_names_are_refused(&backend).await;
    delete_removes_the_volume_and_is_idempotent(&backend).await;
    missing_volumes_are_not_found(&backend).await;
    data_round_trips_at_boundaries(&backend).await;
    io_outside_the_device_is_refused(&backend).await;
    extend_keeps_data_and_zeroes_the_new_region(&backend).await;
    discard_reads_back_zeros(&backend).await;
    capacity_beyond_the_stats_is_refused(&backend).await;
    thin_volumes_allocate_only_what_is_written(&backend).await;
    stats_are_consistent(&backend).await;
    a_snapshot_keeps_the_data_of_its_moment(&backend).await;
    a_volume_from_a_snapshot_reads_it_and_leaves_it_intact(&backend).await;
    deleting_a_snapshot_keeps_the_volumes_made_from_it(&backend).await;
    revert_brings_back_the_snapshot(&backend).await;
    a_clone_is_independent_of_its_source(&backend).await;
    copies_count_as_provisioned(&backend).await;
    copies_of_a_thin_volume_stay_thin(&backend).await;
    unsuitable_copies_are_refused(&backend).await;
    unsafe_names_are_refused_by_copies(&backend).await;
    drop(backend);
    data_survives_a_restart(&make).await;
    snapshots_survive_a_restart(&make).await;
}

/// A name no other check uses, shaped like production names.
fn fresh_name() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Bytes that differ from their neighbours and between seeds, so a misplaced, shifted or
/// stale block cannot match by accident.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ ((i >> 8) as u8))
        .collect()
}

async fn write(device: &Arc<dyn BlockDevice>, offset: u64, data: Vec<u8>) {
    let device = Arc::clone(device);
    let len = data.len();
    tokio::task::spawn_blocking(move || device.write_at(&data, offset))
        .await
        .expect("write task panicked")
        .unwrap_or_else(|e| panic!("write of {len} bytes at {offset} failed: {e}"));
}

async fn read(device: &Arc<dyn BlockDevice>, offset: u64, len: usize) -> Vec<u8> {
    let device = Arc::clone(device);
    tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; len];
        device.read_at(&mut buf, offset).map(|()| buf)
    })
    .await
    .expect("read task panicked")
    .unwrap_or_else(|e| panic!("read of {len} bytes at {offset} failed: {e}"))
}

async fn flush(device: &Arc<dyn BlockDevice>) {
    let device = Arc::clone(device);
    tokio::task::spawn_blocking(move || device.flush())
        .await
        .expect("flush task panicked")
        .expect("flush failed");
}

fn assert_zeros(data: &[u8], what: &str) {
    if let Some(at) = data.iter().position(|&b| b != 0) {
        panic!(
            "{what}: expected zeros, found {:#04x} at byte {at}",
            data[at]
        );
    }
}
