//! The file backend's conformance suite again, on a filesystem that shares blocks: an XFS
//! image made with `-m reflink=1` (or btrfs), loop-mounted for the run, unmounted and removed
//! afterwards. It needs root and `mkfs.xfs` (xfsprogs) or `mkfs.btrfs`; where they are missing
//! or the mount is refused, the test prints why and skips, unless `BASALT_REQUIRE_REFLINK=1`
//! makes that a failure.

use std::path::Path;

use basalt_storage::{conformance, BlockBackend, FileBackend, GIB};

const MIB: u64 = 1 << 20;

#[path = "support/loop_mount.rs"]
mod loop_mount;
use loop_mount::{mount_or_skip, say};

fn backend(dir: &Path) -> FileBackend {
    FileBackend::new(dir.to_path_buf(), 20.0, 0).expect("file backend")
}

fn free_bytes(dir: &Path) -> u64 {
    let fs = rustix::fs::statvfs(dir).unwrap();
    fs.f_bavail * fs.f_frsize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_passes_on_a_reflink_filesystem() {
    let Some(mount) = mount_or_skip() else {
        return;
    };
    let dir = mount.mountpoint.join("volumes");
    let make = || backend(&dir);
    assert!(
        make().capabilities().reflink,
        "the backend must detect the reflink filesystem"
    );

    conformance::run_all(make).await;
    copies_share_blocks_instead_of_using_space(&make()).await;
    changed_ranges_are_the_writes_between_two_snapshots(&make()).await;

    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "the suite left files behind: {left:?}");
    say(&format!("passed on {}", mount.mountpoint.display()));
}

/// Snapshot, clone and volume from snapshot of a volume holding 64 MiB take next to no free
/// space: their blocks are the source's.
async fn copies_share_blocks_instead_of_using_space(backend: &FileBackend) {
    backend.create("v", 10).await.unwrap();
    let device = backend.open("v").await.unwrap();
    let data = vec![0x3c; 64 * MIB as usize];
    tokio::task::spawn_blocking(move || {
        device.write_at(&data, GIB)?;
        device.flush()
    })
    .await
    .unwrap()
    .unwrap();

    let before = free_bytes(backend.dir());
    backend.create_snapshot("v", "s").await.unwrap();
    backend.clone_volume("v", "c", 10).await.unwrap();
    backend.create_from_snapshot("s", "f", 12).await.unwrap();
    let used = before.saturating_sub(free_bytes(backend.dir()));
    assert!(
        used < 8 * MIB,
        "three reflink copies of 64 MiB used {used} bytes"
    );

    for volume in ["v", "c", "f"] {
        backend.delete(volume).await.unwrap();
    }
    backend.delete_snapshot("s").await.unwrap();
}

/// Between two snapshots of a volume, the block maps show exactly the regions written in
/// between (to filesystem-block granularity), and nothing when nothing was written.
async fn changed_ranges_are_the_writes_between_two_snapshots(backend: &FileBackend) {
    backend.create("w", 1).await.unwrap();
    let device = backend.open("w").await.unwrap();
    let write = |data: Vec<u8>, at: u64| {
        let device = device.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                device.write_at(&data, at)?;
                device.flush()
            })
            .await
            .unwrap()
            .unwrap()
        }
    };
    write(vec![1; 32 * MIB as usize], 0).await;
    backend.create_snapshot("w", "first").await.unwrap();
    backend.create_snapshot("w", "again").await.unwrap();
    assert_eq!(
        backend.changed_ranges("first", "again").await.unwrap(),
        Some(vec![]),
        "nothing was written between the two"
    );
    write(vec![2; 4096], 5 * MIB).await;
    write(vec![3; 2 * MIB as usize], 100 * MIB).await;
    backend.create_snapshot("w", "second").await.unwrap();
    let changed = backend
        .changed_ranges("first", "second")
        .await
        .unwrap()
        .unwrap();
    let total: u64 = changed.iter().map(|r| r.end - r.start).sum();
    let covers = |at: u64| changed.iter().any(|r| r.contains(&at));
    assert!(
        covers(5 * MIB) && covers(100 * MIB) && covers(102 * MIB - 1),
        "{changed:?}"
    );
    assert!(
        !covers(0) && !covers(20 * MIB) && !covers(200 * MIB),
        "{changed:?}"
    );
    assert!(
        total < 3 * MIB,
        "{total} bytes reported changed: {changed:?}"
    );
    assert!(matches!(
        backend.changed_ranges("first", "missing").await,
        Err(basalt_storage::StorageError::SnapshotNotFound(_))
    ));
    drop(device);
    backend.delete("w").await.unwrap();
    for s in ["first", "again", "second"] {
        backend.delete_snapshot(s).await.unwrap();
    }
}
