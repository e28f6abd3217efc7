//! The server against QEMU's NBD client, through `qemu-io`.

mod common;

use std::sync::Arc;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_io_is_installed() {
    let out = qemu_io(&["--version"]).await;
    assert!(
        out.ok && out.output.contains("qemu-io version"),
        "{}",
        out.output
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_written_by_one_client_is_read_by_another_and_lands_in_the_file() {
    let mut fx = Fixture::start().await;
    let (name, path) = fx.export("vol-a", false).await;

    let out = qemu_io_uri(&fx.uri(&name), &[], &["write -P 0xab 0 1M"]).await;
    assert!(out.succeeded(), "{}", out.output);
    let out = qemu_io_uri(
        &fx.uri(&name),
        &[],
        &["read -P 0xab 0 1M", "read -P 0 1M 1M"],
    )
    .await;
    assert!(out.succeeded(), "{}", out.output);
    assert!(
        out.output.contains("read 1048576/1048576 bytes"),
        "{}",
        out.output
    );
    // A wrong pattern is detected, so the checks above mean something.
    let out = qemu_io_uri(&fx.uri(&name), &[], &["read -P 0xcd 0 4k"]).await;
    assert!(
        out.output.contains("Pattern verification failed"),
        "{}",
        out.output
    );

    assert!(file_range(&path, 0, 1 << 20).iter().all(|&b| b == 0xab));
    assert!(file_range(&path, 1 << 20, 4096).iter().all(|&b| b == 0));
    // Unaligned and near the end of the 1 GiB volume.
    let out = qemu_io_uri(
        &fx.uri(&name),
        &[],
        &[
            "write -P 0x5a 1073741311 513",
            "read -P 0x5a 1073741311 513",
        ],
    )
    .await;
    assert!(out.succeeded(), "{}", out.output);
    assert!(file_range(&path, GIB - 513, 513).iter().all(|&b| b == 0x5a));
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_export_is_readable_and_refuses_writes() {
    let mut fx = Fixture::start().await;
    let (name, path) = fx.export("vol-ro", true).await;
    std::fs::write(&path, vec![0x42u8; 4096]).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(GIB)
        .unwrap();

    let out = qemu_io_uri(&fx.uri(&name), &["-r"], &["read -P 0x42 0 4k"]).await;
    assert!(out.succeeded(), "{}", out.output);
    // Opened read-write, QEMU either refuses to open or fails the write: an error either way.
    let out = qemu_io_uri(&fx.uri(&name), &[], &["write -P 0x11 0 4k"]).await;
    assert!(!out.succeeded(), "{}", out.output);
    assert!(file_range(&path, 0, 4096).iter().all(|&b| b == 0x42));
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_or_revoked_export_name_is_refused() {
    let mut fx = Fixture::start().await;
    let (name, _) = fx.export("vol-b", false).await;
    let out = qemu_io_uri(&fx.uri(&"0".repeat(64)), &[], &["read 0 4k"]).await;
    assert!(!out.succeeded(), "{}", out.output);
    assert!(fx.table.revoke(&name).await);
    let out = qemu_io_uri(&fx.uri(&name), &[], &["read 0 4k"]).await;
    assert!(!out.succeeded(), "{}", out.output);
    fx.stop().await;
}

/// QEMU's FUA writes and flushes are accepted and reach the device's flush. (QEMU also
/// flushes when it closes a writable image, so the exact FUA semantics are checked with the
/// raw client in `protocol.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_fua_writes_and_flushes_reach_the_device_flush() {
    let mut fx = Fixture::start().await;
    let (device, path) = fx.volume("vol-fua").await;
    let counting = Arc::new(CountingFlushes::new(device));
    let name = fx.table.issue("vol-fua", counting.clone(), false);

    let out = qemu_io_uri(&fx.uri(&name), &["-r"], &["read 0 4k"]).await;
    assert!(out.succeeded(), "{}", out.output);
    assert_eq!(counting.flushes(), 0, "a read-only session never flushes");

    let out = qemu_io_uri(&fx.uri(&name), &[], &["write -f -P 0x77 0 64k", "flush"]).await;
    assert!(out.succeeded(), "{}", out.output);
    assert!(counting.flushes() >= 2, "FUA write and flush");
    assert!(file_range(&path, 0, 64 << 10).iter().all(|&b| b == 0x77));
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discard_and_write_zeroes_read_back_as_zeros() {
    let mut fx = Fixture::start().await;
    let (name, path) = fx.export("vol-z", false).await;
    let uri = fx.uri(&name);
    let out = qemu_io_uri(&uri, &[], &["write -P 0xee 0 4M"]).await;
    assert!(out.succeeded(), "{}", out.output);

    let commands = [
        "discard 0 1M",      // NBD_CMD_TRIM
        "write -z 1M 1M",    // NBD_CMD_WRITE_ZEROES with NO_HOLE
        "write -z -u 2M 1M", // NBD_CMD_WRITE_ZEROES, holes allowed
        "read -P 0 0 3M",
        "read -P 0xee 3M 1M",
    ];
    let out = qemu_io_uri(&uri, &["-d", "unmap"], &commands).await;
    assert!(out.succeeded(), "{}", out.output);
    assert!(
        out.output.contains("discard 1048576/1048576 bytes"),
        "{}",
        out.output
    );
    assert!(file_range(&path, 0, 3 << 20).iter().all(|&b| b == 0));
    assert!(file_range(&path, 3 << 20, 1 << 20)
        .iter()
        .all(|&b| b == 0xee));
    fx.stop().await;
}
