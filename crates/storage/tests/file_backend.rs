//! The file backend against the conformance suite, plus what is particular to files: naming,
//! sparseness, crash leftovers, configuration and the capacity lock.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use basalt_storage::{conformance, BlockBackend, FileBackend, StorageError, GIB};
use tempfile::TempDir;

const MIB: u64 = 1 << 20;

/// Cinder's defaults: over-subscribe up to 20 times, reserve nothing.
fn backend(dir: &Path) -> FileBackend {
    FileBackend::new(dir.to_path_buf(), 20.0, 0).expect("file backend")
}

fn fresh() -> (TempDir, FileBackend) {
    let dir = TempDir::new().unwrap();
    let backend = backend(dir.path());
    (dir, backend)
}

/// One test per conformance check, so a failure names the behaviour.
macro_rules! conformance_tests {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            let (_dir, backend) = fresh();
            conformance::$check(&backend).await;
        }
    )*};
}

conformance_tests!(
    create_makes_a_zeroed_volume_of_exactly_the_size,
    create_is_idempotent_for_the_same_size,
    zero_size_is_refused,
    unsafe_names_are_refused,
    delete_removes_the_volume_and_is_idempotent,
    missing_volumes_are_not_found,
    data_round_trips_at_boundaries,
    io_outside_the_device_is_refused,
    extend_keeps_data_and_zeroes_the_new_region,
    discard_reads_back_zeros,
    capacity_beyond_the_stats_is_refused,
    thin_volumes_allocate_only_what_is_written,
    stats_are_consistent,
    a_snapshot_keeps_the_data_of_its_moment,
    a_volume_from_a_snapshot_reads_it_and_leaves_it_intact,
    deleting_a_snapshot_keeps_the_volumes_made_from_it,
    revert_brings_back_the_snapshot,
    a_clone_is_independent_of_its_source,
    copies_count_as_provisioned,
    copies_of_a_thin_volume_stay_thin,
    unsuitable_copies_are_refused,
    unsafe_names_are_refused_by_copies,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_a_restart() {
    let dir = TempDir::new().unwrap();
    conformance::data_survives_a_restart(&|| backend(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_survive_a_restart() {
    let dir = TempDir::new().unwrap();
    conformance::snapshots_survive_a_restart(&|| backend(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_suite_passes_over_one_directory() {
    let dir = TempDir::new().unwrap();
    conformance::run_all(|| backend(dir.path())).await;
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "the suite left files behind: {left:?}");
}

#[tokio::test]
async fn a_volume_is_a_sparse_file_named_after_it() {
    let (dir, backend) = fresh();
    let name = "6f1c0d2e-8a53-4c7e-9d5b-1e0f2a3b4c5d";
    backend.create(name, 10).await.unwrap();

    let path = dir.path().join(format!("volume-{name}"));
    assert_eq!(backend.volume_path(name).unwrap(), path);
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), 10 * GIB);
    assert!(
        meta.blocks() * 512 < MIB,
        "new volume allocates {} blocks",
        meta.blocks()
    );

    let device = backend.open(name).await.unwrap();
    device.write_at(&vec![0xab; MIB as usize], 5 * GIB).unwrap();
    device.flush().unwrap();
    let allocated = std::fs::metadata(&path).unwrap().blocks() * 512;
    assert!(
        (MIB..2 * MIB).contains(&allocated),
        "1 MiB written allocates {allocated} bytes"
    );
}

#[tokio::test]
async fn a_leftover_from_a_crashed_create_is_no_volume_and_is_cleaned_up() {
    let (dir, backend) = fresh();
    let name = "crashed";
    let temp = dir.path().join(".volume-crashed.tmp");
    std::fs::write(&temp, b"half made").unwrap();
    std::fs::write(dir.path().join("unrelated"), b"not a volume").unwrap();

    assert!(!backend.exists(name).await.unwrap());
    assert_eq!(backend.stats().await.unwrap().volume_count, 0);

    backend.create(name, 1).await.expect("retried create");
    assert!(!temp.exists(), "create replaced the leftover");
    assert_eq!(backend.size_bytes(name).await.unwrap(), GIB);

    std::fs::write(&temp, b"again").unwrap();
    backend.delete(name).await.unwrap();
    assert!(!temp.exists(), "delete removes a leftover too");
}

#[tokio::test]
async fn a_snapshot_is_a_sparse_file_beside_its_volume() {
    let (dir, backend) = fresh();
    let (volume, snapshot) = (
        "6f1c0d2e-8a53-4c7e-9d5b-1e0f2a3b4c5d",
        "0b9e2c1a-1111-4c7e-9d5b-1e0f2a3b4c5d",
    );
    backend.create(volume, 10).await.unwrap();
    let device = backend.open(volume).await.unwrap();
    device.write_at(&vec![0xab; MIB as usize], 5 * GIB).unwrap();
    device.flush().unwrap();

    backend.create_snapshot(volume, snapshot).await.unwrap();

    let path = dir.path().join(format!("snapshot-{snapshot}"));
    assert_eq!(backend.snapshot_path(snapshot).unwrap(), path);
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), 10 * GIB);
    assert!(
        meta.blocks() * 512 < 2 * MIB,
        "a snapshot of 1 MiB of data allocates {} bytes",
        meta.blocks() * 512
    );
    assert_eq!(backend.stats().await.unwrap().volume_count, 1);
}

#[tokio::test]
async fn leftovers_from_crashed_copies_are_no_snapshots_and_are_replaced() {
    let (dir, backend) = fresh();
    backend.create("v", 1).await.unwrap();
    let device = backend.open("v").await.unwrap();
    device.write_at(b"volume data", 0).unwrap();
    let snapshot_temp = dir.path().join(".snapshot-s.tmp");
    let clone_temp = dir.path().join(".volume-c.tmp");
    for temp in [&snapshot_temp, &clone_temp] {
        std::fs::write(temp, vec![0xee; MIB as usize]).unwrap();
    }
    assert!(!backend.snapshot_exists("s").await.unwrap());
    assert_eq!(backend.stats().await.unwrap().provisioned_bytes, GIB);

    backend
        .create_snapshot("v", "s")
        .await
        .expect("retried snapshot");
    backend
        .clone_volume("v", "c", 1)
        .await
        .expect("retried clone");
    for (what, copy) in [
        ("snapshot", backend.open_snapshot("s").await.unwrap()),
        ("clone", backend.open("c").await.unwrap()),
    ] {
        let mut buf = [0u8; 16];
        copy.read_at(&mut buf, 0).unwrap();
        assert_eq!(
            &buf, b"volume data\0\0\0\0\0",
            "the {what} holds the volume's data"
        );
    }
    assert!(!snapshot_temp.exists() && !clone_temp.exists());

    std::fs::write(&snapshot_temp, b"again").unwrap();
    backend.delete_snapshot("s").await.unwrap();
    assert!(
        !snapshot_temp.exists(),
        "delete_snapshot removes a leftover"
    );
}

#[tokio::test]
async fn starting_leaves_no_probe_files_and_reports_the_file_driver() {
    let (dir, backend) = fresh();
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "probe files left: {left:?}");
    let capabilities = backend.capabilities();
    assert_eq!(capabilities.driver, "file");
    assert!(capabilities.thin_provisioning);
    assert_eq!(backend.name(), "file");
    assert_eq!(backend.with_name("local-ssd").name(), "local-ssd");
}

#[tokio::test]
async fn a_missing_directory_is_created() {
    let dir = TempDir::new().unwrap();
    let nested = dir.path().join("basalt-data/volumes");
    let backend = backend(&nested);
    backend.create("v", 1).await.unwrap();
    assert!(nested.join("volume-v").is_file());
}

#[test]
fn unusable_settings_are_refused() {
    let dir = TempDir::new().unwrap();
    for (ratio, reserved) in [(0.5, 0), (f64::NAN, 0), (f64::INFINITY, 0), (1.0, 101)] {
        let result = FileBackend::new(dir.path().to_path_buf(), ratio, reserved);
        assert!(
            matches!(result, Err(StorageError::InvalidConfig(_))),
            "ratio {ratio}, reserved {reserved} accepted"
        );
    }
}

#[tokio::test]
async fn reserving_everything_refuses_every_create() {
    let dir = TempDir::new().unwrap();
    let backend = FileBackend::new(dir.path().to_path_buf(), 20.0, 100).unwrap();
    let result = backend.create("v", 1).await;
    assert!(
        matches!(
            result,
            Err(StorageError::InsufficientCapacity {
                requested_gib: 1,
                available_gib: 0
            })
        ),
        "got {result:?}"
    );
}

#[tokio::test]
async fn without_over_subscription_nothing_larger_than_the_filesystem_fits() {
    let dir = TempDir::new().unwrap();
    let backend = FileBackend::new(dir.path().to_path_buf(), 1.0, 0).unwrap();
    let total_gib = backend.stats().await.unwrap().total_bytes / GIB;
    let result = backend.create("v", total_gib + 1).await;
    assert!(
        matches!(result, Err(StorageError::InsufficientCapacity { .. })),
        "got {result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_cannot_both_take_the_last_space() {
    let dir = TempDir::new().unwrap();
    let backend = FileBackend::new(dir.path().to_path_buf(), 1.0, 0).unwrap();
    // Sparse volumes use no free space, so only the provisioned limit (total - provisioned at
    // ratio 1) can bind: provision fillers until that room is under half the free space.
    let room = || async {
        let stats = backend.stats().await.unwrap();
        let room = (stats.total_bytes - stats.provisioned_bytes) / GIB;
        (room, stats.free_bytes / GIB)
    };
    let mut filler = 0;
    let (mut left, mut free) = room().await;
    while left > free / 2 {
        let size = (free * 9 / 10).min(left - free / 2).max(1);
        backend
            .create(&format!("filler{filler}"), size)
            .await
            .unwrap();
        filler += 1;
        (left, free) = room().await;
    }
    // Each fits alone, the two together exceed the room by 2 GiB.
    let size = left / 2 + 1;
    let creates: Vec<_> = (0..2)
        .map(|i| {
            let backend = backend.clone();
            tokio::spawn(async move { backend.create(&format!("v{i}"), size).await })
        })
        .collect();
    let mut created = 0;
    for create in creates {
        match create.await.unwrap() {
            Ok(()) => created += 1,
            Err(StorageError::InsufficientCapacity { .. }) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(
        created, 1,
        "exactly one of two over-committing creates succeeds"
    );
}

#[tokio::test]
async fn a_volume_beyond_the_largest_file_is_a_capacity_refusal() {
    let dir = TempDir::new().unwrap();
    // A ratio so generous that only the filesystem's file size limit (16 TiB on ext4 with
    // 4 KiB blocks) can refuse 20,000 GiB.
    let backend = FileBackend::new(dir.path().to_path_buf(), 1000.0, 0).unwrap();
    let huge = 20_000;
    let result = backend.create("huge", huge).await;
    match result {
        Err(StorageError::InsufficientCapacity { requested_gib, .. }) => {
            assert_eq!(requested_gib, huge);
            assert!(!backend.exists("huge").await.unwrap());
        }
        // Filesystems with larger files (XFS, btrfs) hold it; it is sparse, so nothing is used.
        Ok(()) => backend.delete("huge").await.unwrap(),
        Err(e) => panic!("expected a capacity refusal, got {e:?}"),
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "a refused create left {left:?}");
}
