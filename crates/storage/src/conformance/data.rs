//! Conformance: what is written through a device reads back, survives extends and restarts,
//! and never spills outside the device.

use super::{assert_zeros, flush, fresh_name, pattern, read, write};
use crate::{BlockBackend, StorageError, GIB};

const MIB: u64 = 1 << 20;

/// Offsets that catch off-by-one and block-boundary bugs, with the data written at each:
/// the first bytes, an unaligned run across the 1 MiB boundary, and the device's last bytes.
fn probes(size: u64) -> [(u64, Vec<u8>); 3] {
    [
        (0, pattern(1, 4096)),
        (MIB - 1000, pattern(2, 3000)),
        (size - 777, pattern(3, 777)),
    ]
}

/// Patterns written at the start, across a MiB boundary and at the very end read back
/// exactly, and the bytes between them stay zero.
pub async fn data_round_trips_at_boundaries(backend: &dyn BlockBackend) {
    let name = fresh_name();
    backend.create(&name, 1).await.expect("create");
    let device = backend.open(&name).await.expect("open");

    for (offset, data) in probes(GIB) {
        write(&device, offset, data).await;
    }
    flush(&device).await;

    for (offset, data) in probes(GIB) {
        let got = read(&device, offset, data.len()).await;
        assert!(got == data, "data at offset {offset} differs after write");
    }
    assert_zeros(
        &read(&device, 4096, 4096).await,
        "gap after the first write",
    );
    assert_zeros(
        &read(&device, MIB + 2000, 4096).await,
        "gap after the boundary write",
    );

    drop(device);
    backend.delete(&name).await.expect("delete");
}

/// Reads and writes beyond the end are errors, and a refused write does not grow the volume.
pub async fn io_outside_the_device_is_refused(backend: &dyn BlockBackend) {
    let name = fresh_name();
    backend.create(&name, 1).await.expect("create");
    let device = backend.open(&name).await.expect("open");
    let dev = device.clone();

    let refused = tokio::task::spawn_blocking(move || {
        let mut buf = [0u8; 16];
        [
            dev.write_at(&[1; 16], GIB - 8).is_err(),
            dev.write_at(&[1; 16], GIB).is_err(),
            dev.write_at(&[1], u64::MAX).is_err(),
            dev.read_at(&mut buf, GIB - 8).is_err(),
            dev.discard(GIB - 8, 16).is_err(),
        ]
    })
    .await
    .unwrap();
    assert_eq!(refused, [true; 5], "out-of-range I/O must fail");
    assert_eq!(
        backend.size_bytes(&name).await.unwrap(),
        GIB,
        "size unchanged"
    );

    drop(device);
    backend.delete(&name).await.expect("delete");
}

/// Extending keeps the data, the new region reads zeros and a reopened device sees the new
/// size; the same size again succeeds, a smaller one is InvalidSize.
pub async fn extend_keeps_data_and_zeroes_the_new_region(backend: &dyn BlockBackend) {
    let name = fresh_name();
    backend.create(&name, 1).await.expect("create");
    let device = backend.open(&name).await.expect("open");
    for (offset, data) in probes(GIB) {
        write(&device, offset, data).await;
    }
    flush(&device).await;
    drop(device);

    backend.extend(&name, 2).await.expect("extend to 2 GiB");

    assert_eq!(backend.size_bytes(&name).await.unwrap(), 2 * GIB);
    let device = backend.open(&name).await.expect("reopen");
    assert_eq!(device.size(), 2 * GIB);
    for (offset, data) in probes(GIB) {
        let got = read(&device, offset, data.len()).await;
        assert!(got == data, "data at offset {offset} differs after extend");
    }
    assert_zeros(
        &read(&device, GIB, MIB as usize).await,
        "start of the new region",
    );
    assert_zeros(
        &read(&device, 2 * GIB - 4096, 4096).await,
        "end of the new region",
    );

    backend
        .extend(&name, 2)
        .await
        .expect("extend to the same size");
    let shrink = backend.extend(&name, 1).await;
    assert!(
        matches!(shrink, Err(StorageError::InvalidSize(_))),
        "shrink: expected InvalidSize, got {shrink:?}"
    );
    assert_eq!(backend.size_bytes(&name).await.unwrap(), 2 * GIB);

    drop(device);
    backend.delete(&name).await.expect("delete");
}

/// A discarded range reads zeros; the data around it stays.
pub async fn discard_reads_back_zeros(backend: &dyn BlockBackend) {
    let name = fresh_name();
    backend.create(&name, 1).await.expect("create");
    let device = backend.open(&name).await.expect("open");
    write(&device, 0, pattern(4, 3 * MIB as usize)).await;

    let dev = device.clone();
    tokio::task::spawn_blocking(move || dev.discard(MIB, MIB))
        .await
        .unwrap()
        .expect("discard");

    let all = read(&device, 0, 3 * MIB as usize).await;
    let (m, expected) = (MIB as usize, pattern(4, 3 * MIB as usize));
    assert!(all[..m] == expected[..m], "data before the discard kept");
    assert_zeros(&all[m..2 * m], "discarded range");
    assert!(
        all[2 * m..] == expected[2 * m..],
        "data after the discard kept"
    );

    drop(device);
    backend.delete(&name).await.expect("delete");
}

/// Flushed data is still there through a new backend over the same storage.
pub async fn data_survives_a_restart<B: BlockBackend>(make: &impl Fn() -> B) {
    let name = fresh_name();
    let backend = make();
    backend.create(&name, 1).await.expect("create");
    let device = backend.open(&name).await.expect("open");
    for (offset, data) in probes(GIB) {
        write(&device, offset, data).await;
    }
    flush(&device).await;
    drop(device);
    drop(backend);

    let backend = make();
    assert!(
        backend.exists(&name).await.unwrap(),
        "volume survives a restart"
    );
    assert_eq!(backend.size_bytes(&name).await.unwrap(), GIB);
    let device = backend.open(&name).await.expect("open after restart");
    for (offset, data) in probes(GIB) {
        let got = read(&device, offset, data.len()).await;
        assert!(got == data, "data at offset {offset} differs after restart");
    }

    drop(device);
    backend.delete(&name).await.expect("delete");
}
