//! Snapshots and copies below HTTP, on the real store, runner and file backend: the data each
//! one holds, cascades, quotas, races and restarts.

mod common;

use basalt_domain::ports::{JobStore, SnapshotStore, Transition, VolumeStore};
use basalt_domain::snapshot::{NewSnapshot, SnapshotStatus};
use basalt_domain::volume::{NewVolume, VolumeStatus};
use basalt_domain::DomainError;
use basalt_storage::{BlockBackend, GIB};
use common::{admin, caller, sized, world, World};

const MIB: u64 = 1 << 20;

fn snap_of(volume_id: &str) -> NewSnapshot {
    NewSnapshot {
        volume_id: volume_id.into(),
        ..Default::default()
    }
}

fn from_snapshot(id: &str) -> NewVolume {
    NewVolume {
        snapshot_id: Some(id.into()),
        ..Default::default()
    }
}

/// Writes `byte` over 1 MiB at each offset, through the backend's block interface.
async fn write(w: &World, volume: &str, byte: u8, offsets: &[u64]) {
    let dev = w.backend.open(volume).await.unwrap();
    for &o in offsets {
        dev.write_at(&vec![byte; MIB as usize], o).unwrap();
    }
    dev.flush().unwrap();
}

/// The byte every position of the 1 MiB at `offset` holds, if they all agree.
fn uniform(dev: &dyn basalt_storage::BlockDevice, offset: u64) -> Option<u8> {
    let mut buf = vec![0u8; MIB as usize];
    dev.read_at(&mut buf, offset).unwrap();
    buf.iter().all(|b| *b == buf[0]).then_some(buf[0])
}

async fn volume_byte(w: &World, volume: &str, offset: u64) -> Option<u8> {
    uniform(&*w.backend.open(volume).await.unwrap(), offset)
}

async fn snapshot_byte(w: &World, snapshot: &str, offset: u64) -> Option<u8> {
    uniform(&*w.backend.open_snapshot(snapshot).await.unwrap(), offset)
}

async fn available_volume(w: &World, gib: i64) -> String {
    let v = w.volumes.create(&caller(), sized(gib)).await.unwrap();
    w.runner.run_pending().await;
    v.id
}

#[tokio::test]
async fn snapshots_keep_their_data_and_copies_are_independent() {
    let w = world().await;
    let vol = available_volume(&w, 1).await;
    let spots = [0, 300 * MIB, GIB - MIB];
    write(&w, &vol, 0xAA, &spots).await;

    let snap = w.snapshots.create(&caller(), snap_of(&vol)).await.unwrap();
    assert_eq!((snap.status, snap.size), (SnapshotStatus::Creating, 1));
    w.runner.run_pending().await;
    let snap = w.snapshots.get(&caller(), &snap.id).await.unwrap();
    assert_eq!(
        (snap.status, snap.progress.as_str()),
        (SnapshotStatus::Available, "100%")
    );

    // The volume moves on; the snapshot does not.
    write(&w, &vol, 0xBB, &spots).await;
    for &o in &spots {
        assert_eq!(snapshot_byte(&w, &snap.id, o).await, Some(0xAA));
        assert_eq!(volume_byte(&w, &vol, o).await, Some(0xBB));
    }

    // A volume from the snapshot holds A, and writing it leaves the snapshot alone.
    let copy = w
        .volumes
        .create(&caller(), from_snapshot(&snap.id))
        .await
        .unwrap();
    assert_eq!(
        (copy.size, copy.snapshot_id.as_deref()),
        (1, Some(snap.id.as_str()))
    );
    w.runner.run_pending().await;
    assert_eq!(
        w.volumes.get(&caller(), &copy.id).await.unwrap().status,
        VolumeStatus::Available
    );
    assert_eq!(volume_byte(&w, &copy.id, 300 * MIB).await, Some(0xAA));
    write(&w, &copy.id, 0xCC, &[0]).await;
    assert_eq!(snapshot_byte(&w, &snap.id, 0).await, Some(0xAA));

    // Deleting the snapshot does not touch the volume made from it.
    w.snapshots.delete(&caller(), &snap.id).await.unwrap();
    w.runner.run_pending().await;
    assert!(!w.backend.snapshot_exists(&snap.id).await.unwrap());
    assert_eq!(volume_byte(&w, &copy.id, 0).await, Some(0xCC));
    assert_eq!(volume_byte(&w, &copy.id, GIB - MIB).await, Some(0xAA));

    // A larger clone of the volume holds B, then zeros; the source moves on alone.
    let clone = w
        .volumes
        .create(
            &caller(),
            NewVolume {
                source_volid: Some(vol.clone()),
                size: Some(2),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    w.runner.run_pending().await;
    assert_eq!(w.backend.size_bytes(&clone.id).await.unwrap(), 2 * GIB);
    assert_eq!(volume_byte(&w, &clone.id, GIB - MIB).await, Some(0xBB));
    assert_eq!(volume_byte(&w, &clone.id, GIB).await, Some(0));
    write(&w, &vol, 0xDD, &[0]).await;
    assert_eq!(volume_byte(&w, &clone.id, 0).await, Some(0xBB));
    w.assert_usage_consistent().await;
}

#[tokio::test]
async fn copies_smaller_than_their_source_or_from_unready_sources_are_refused() {
    let w = world().await;
    let vol = available_volume(&w, 2).await;
    let snap = w.snapshots.create(&caller(), snap_of(&vol)).await.unwrap();
    // Still creating.
    let e = w
        .volumes
        .create(&caller(), from_snapshot(&snap.id))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Invalid snapshot: Originating snapshot status must be one of 'available' values"
    );
    w.runner.run_pending().await;
    let small = NewVolume {
        size: Some(1),
        ..from_snapshot(&snap.id)
    };
    let e = w.volumes.create(&caller(), small).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot be smaller than the snapshot size 2GB"),
        "{e}"
    );
    let e = w
        .volumes
        .create(&caller(), from_snapshot("no-such-snapshot"))
        .await
        .unwrap_err();
    assert!(matches!(e, DomainError::NotFound(_)), "{e}");
    // Snapshots of volumes that are not ready.
    let fresh = w.volumes.create(&caller(), sized(1)).await.unwrap();
    let e = w
        .snapshots
        .create(&caller(), snap_of(&fresh.id))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("status must be available, but current status is: creating"),
        "{e}"
    );
    w.assert_usage_consistent().await;
}

#[tokio::test]
async fn a_volume_with_snapshots_is_deleted_only_with_cascade() {
    let w = world().await;
    let vol = available_volume(&w, 1).await;
    let a = w.snapshots.create(&caller(), snap_of(&vol)).await.unwrap();
    let b = w.snapshots.create(&caller(), snap_of(&vol)).await.unwrap();
    w.runner.run_pending().await;
    let e = w.volumes.delete(&caller(), &vol, false).await.unwrap_err();
    assert!(matches!(e, DomainError::InvalidVolume(_)), "{e}");
    let usage = w.quotas.limits(&caller()).await.unwrap().usage;
    assert_eq!((usage.volumes, usage.snapshots, usage.gigabytes), (1, 2, 3));

    w.volumes.delete(&caller(), &vol, true).await.unwrap();
    assert_eq!(
        w.snapshots.get(&caller(), &a.id).await.unwrap().status,
        SnapshotStatus::Deleting
    );
    w.runner.run_pending().await;
    for s in [&a.id, &b.id] {
        assert!(w.snapshots.get(&caller(), s).await.is_err());
        assert!(!w.backend.snapshot_exists(s).await.unwrap());
    }
    assert!(w.volumes.get(&caller(), &vol).await.is_err());
    assert!(!w.backend.exists(&vol).await.unwrap());
    let usage = w.quotas.limits(&caller()).await.unwrap().usage;
    assert_eq!((usage.volumes, usage.snapshots, usage.gigabytes), (0, 0, 0));
    w.assert_usage_consistent().await;
}

#[tokio::test]
async fn a_snapshot_that_volumes_are_being_made_from_waits_to_be_deleted() {
    let w = world().await;
    let vol = available_volume(&w, 1).await;
    let snap = w.snapshots.create(&caller(), snap_of(&vol)).await.unwrap();
    w.runner.run_pending().await;
    let copy = w
        .volumes
        .create(&caller(), from_snapshot(&snap.id))
        .await
        .unwrap();
    let e = w.snapshots.delete(&caller(), &snap.id).await.unwrap_err();
    assert!(matches!(e, DomainError::InvalidSnapshot(_)), "{e}");
    w.runner.run_pending().await;
    assert_eq!(
        w.volumes.get(&caller(), &copy.id).await.unwrap().status,
        VolumeStatus::Available
    );
    w.snapshots.delete(&caller(), &snap.id).await.unwrap();
    w.snapshots.delete(&caller(), &snap.id).await.unwrap(); // again while deleting: accepted
    w.runner.run_pending().await;
    assert!(w.snapshots.get(&caller(), &snap.id).await.is_err());
}

#[tokio::test]
async fn snapshot_quotas_hold_under_concurrency_and_failures_give_them_back() {
    let w = world().await;
    let vol = available_volume(&w, 1).await;
    // The default snapshots quota is 10.
    let mut tasks = Vec::new();
    for _ in 0..25 {
        let s = w.snapshots.clone();
        let vol = vol.clone();
        tasks.push(tokio::spawn(async move {
            s.create(&caller(), snap_of(&vol)).await
        }));
    }
    let (mut ok, mut over) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(DomainError::QuotaExceeded(q)) => {
                assert_eq!(q.resource, "snapshots");
                over += 1;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!((ok, over), (10, 15));
    let e = w
        .snapshots
        .create(&caller(), snap_of(&vol))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "SnapshotLimitExceeded: Maximum number of snapshots allowed (10) exceeded for quota \
         'snapshots'."
    );
    // The volume's storage vanishes under the backend: the snapshots fail with a reason and
    // stop counting.
    w.backend.delete(&vol).await.unwrap();
    w.runner.run_pending().await;
    let failed = w.store.snapshots_of_volume(&vol).await.unwrap();
    assert_eq!(failed.len(), 10);
    for s in &failed {
        assert_eq!(s.status, SnapshotStatus::Error);
        assert!(s.status_reason.is_some());
        assert!(!s.use_quota);
    }
    let usage = w.quotas.limits(&caller()).await.unwrap().usage;
    assert_eq!((usage.snapshots, usage.gigabytes), (0, 1));
    w.assert_usage_consistent().await;
}

#[tokio::test]
async fn a_snapshot_stranded_by_a_crash_is_failed_and_frees_its_quota() {
    let w = world().await;
    let vol = available_volume(&w, 1).await;
    let snap = w.snapshots.create(&caller(), snap_of(&vol)).await.unwrap();
    // Its job is lost (a store restored without it, say).
    let job = w.store.job_for(&snap.id).await.unwrap().unwrap();
    w.store.finish(&job.id).await.unwrap();
    assert_eq!(w.snapshots.reconcile().await.unwrap(), 1);
    let s = w.snapshots.get(&caller(), &snap.id).await.unwrap();
    assert_eq!(s.status, SnapshotStatus::Error);
    assert!(s.status_reason.unwrap().contains("interrupted"));
    let usage = w.quotas.limits(&caller()).await.unwrap().usage;
    assert_eq!(usage.snapshots, 0);
    w.assert_usage_consistent().await;
}

#[tokio::test]
async fn a_snapshot_racing_the_volumes_delete_lets_exactly_one_win() {
    let w = world().await;
    for _ in 0..5 {
        let vol = available_volume(&w, 1).await;
        let c = caller();
        let (d, s) = tokio::join!(
            w.volumes.delete(&c, &vol, false),
            w.snapshots.create(&c, snap_of(&vol))
        );
        assert!(d.is_ok() != s.is_ok(), "delete {d:?} snapshot {s:?}");
        w.runner.run_pending().await;
        if let Ok(s) = s {
            w.volumes.delete(&c, &vol, true).await.unwrap();
            w.runner.run_pending().await;
            assert!(w.snapshots.get(&c, &s.id).await.is_err());
        }
        assert!(w.volumes.get(&c, &vol).await.is_err());
    }
    w.assert_usage_consistent().await;
}

#[tokio::test]
async fn an_in_use_volume_is_snapshotted_only_with_force() {
    let w = world().await;
    let vol = available_volume(&w, 1).await;
    // Attaching is another issue's; the status is what matters here.
    let attach = Transition::new(&vol, &[VolumeStatus::Available], VolumeStatus::InUse);
    assert!(w.store.transition(&attach).await.unwrap());
    let e = w
        .snapshots
        .create(&caller(), snap_of(&vol))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "Invalid volume: Volume {vol} status must be available, but current status is: \
             in-use."
        )
    );
    let forced = NewSnapshot {
        force: true,
        ..snap_of(&vol)
    };
    let s = w.snapshots.create(&caller(), forced).await.unwrap();
    w.runner.run_pending().await;
    assert_eq!(
        w.snapshots.get(&caller(), &s.id).await.unwrap().status,
        SnapshotStatus::Available
    );
}

#[tokio::test]
async fn a_copy_larger_than_the_per_volume_quota_is_refused_and_changes_nothing() {
    let w = world().await;
    let vol = available_volume(&w, 1).await;
    let limit: std::collections::BTreeMap<String, serde_json::Value> =
        [("per_volume_gigabytes".to_string(), serde_json::json!(1))].into();
    w.quotas.update(&admin(), "p1", &limit).await.unwrap();
    let big_clone = NewVolume {
        source_volid: Some(vol.clone()),
        size: Some(2),
        ..Default::default()
    };
    let e = w.volumes.create(&caller(), big_clone).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "VolumeSizeExceedsLimit: Requested volume size 2G is larger than maximum allowed limit 1G."
    );
    let usage = w.quotas.limits(&caller()).await.unwrap().usage;
    assert_eq!((usage.volumes, usage.gigabytes), (1, 1));
    w.assert_usage_consistent().await;
}

#[tokio::test]
async fn a_volume_reverts_to_its_latest_snapshot_only() {
    let w = world().await;
    let vol = available_volume(&w, 1).await;
    write(&w, &vol, 0x01, &[0]).await;
    let first = w.snapshots.create(&caller(), snap_of(&vol)).await.unwrap();
    w.runner.run_pending().await;
    write(&w, &vol, 0x02, &[0]).await;
    let second = w.snapshots.create(&caller(), snap_of(&vol)).await.unwrap();
    w.runner.run_pending().await;
    write(&w, &vol, 0x03, &[0]).await;

    let e = w
        .volumes
        .revert(&caller(), &vol, &first.id)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, DomainError::InvalidSnapshot(m) if m.contains("not the latest")),
        "{e}"
    );
    w.volumes.revert(&caller(), &vol, &second.id).await.unwrap();
    assert_eq!(
        w.volumes.get(&caller(), &vol).await.unwrap().status,
        VolumeStatus::Reverting
    );
    assert_eq!(
        w.snapshots.get(&caller(), &second.id).await.unwrap().status,
        SnapshotStatus::Restoring
    );
    // Neither may be deleted meanwhile.
    assert!(w.volumes.delete(&caller(), &vol, true).await.is_err());
    assert!(w.snapshots.delete(&caller(), &second.id).await.is_err());
    w.runner.run_pending().await;
    assert_eq!(
        w.volumes.get(&caller(), &vol).await.unwrap().status,
        VolumeStatus::Available
    );
    assert_eq!(
        w.snapshots.get(&caller(), &second.id).await.unwrap().status,
        SnapshotStatus::Available
    );
    assert_eq!(volume_byte(&w, &vol, 0).await, Some(0x02));
    assert_eq!(snapshot_byte(&w, &second.id, 0).await, Some(0x02));
    // Another volume's snapshot is not this volume's to revert to.
    let other = available_volume(&w, 1).await;
    let e = w
        .volumes
        .revert(&caller(), &other, &second.id)
        .await
        .unwrap_err();
    assert!(matches!(e, DomainError::InvalidInput(_)), "{e}");
}

#[tokio::test]
async fn a_revert_stranded_by_a_crash_leaves_the_volume_in_error_and_frees_the_snapshot() {
    let w = world().await;
    let vol = available_volume(&w, 1).await;
    let snap = w.snapshots.create(&caller(), snap_of(&vol)).await.unwrap();
    w.runner.run_pending().await;
    w.volumes.revert(&caller(), &vol, &snap.id).await.unwrap();
    let job = w.store.job_for(&vol).await.unwrap().unwrap();
    w.store.finish(&job.id).await.unwrap();
    assert_eq!(w.volumes.reconcile(true).await.unwrap(), 1);
    let v = w.volumes.get(&caller(), &vol).await.unwrap();
    assert_eq!(v.status, VolumeStatus::Error);
    assert!(v.status_reason.unwrap().contains("interrupted"));
    assert_eq!(
        w.snapshots.get(&caller(), &snap.id).await.unwrap().status,
        SnapshotStatus::Available
    );
}
