//! The volume state machine end to end below HTTP: domain services over the real SQLite store,
//! jobs run by the real runner on the real file backend. Races are raced for real.

mod common;

use std::collections::BTreeMap;

use basalt_domain::ports::JobStore;
use basalt_domain::volume::VolumeStatus;
use basalt_domain::{Caller, DomainError};
use basalt_storage::{BlockBackend, GIB};
use common::{admin, caller, sized, world, world_with};

#[tokio::test]
async fn a_created_volume_becomes_a_sparse_file_of_its_size_and_goes_away_on_delete() {
    let w = world().await;
    let v = w.volumes.create(&caller(), sized(2)).await.unwrap();
    assert_eq!(v.status, VolumeStatus::Creating);
    assert_eq!(v.volume_type_name.as_deref(), Some("__DEFAULT__"));
    assert_eq!(v.host.as_deref(), Some("h@file#file"));
    assert_eq!(w.runner.run_pending().await, 1);
    let v = w.volumes.get(&caller(), &v.id).await.unwrap();
    assert_eq!(v.status, VolumeStatus::Available);
    assert_eq!(w.backend.size_bytes(&v.id).await.unwrap(), 2 * GIB);

    w.volumes.extend(&caller(), &v.id, 3).await.unwrap();
    assert_eq!(
        w.volumes.get(&caller(), &v.id).await.unwrap().status,
        VolumeStatus::Extending
    );
    w.runner.run_pending().await;
    let v = w.volumes.get(&caller(), &v.id).await.unwrap();
    assert_eq!(
        (v.status, v.size, v.new_size),
        (VolumeStatus::Available, 3, None)
    );
    assert_eq!(w.backend.size_bytes(&v.id).await.unwrap(), 3 * GIB);

    w.volumes.delete(&caller(), &v.id, false).await.unwrap();
    w.volumes.delete(&caller(), &v.id, false).await.unwrap(); // deleting again is accepted
    w.runner.run_pending().await;
    assert!(matches!(
        w.volumes.get(&caller(), &v.id).await,
        Err(DomainError::NotFound(_))
    ));
    assert!(!w.backend.exists(&v.id).await.unwrap());
}

#[tokio::test]
async fn another_projects_volume_does_not_exist_for_the_caller() {
    let w = world().await;
    let v = w.volumes.create(&caller(), sized(1)).await.unwrap();
    let other = Caller {
        project_id: "p2".into(),
        ..caller()
    };
    assert!(matches!(
        w.volumes.get(&other, &v.id).await,
        Err(DomainError::NotFound(_))
    ));
    assert!(matches!(
        w.volumes.delete(&other, &v.id, false).await,
        Err(DomainError::NotFound(_))
    ));
    assert!(w.volumes.get(&admin(), &v.id).await.is_ok());
}

#[tokio::test]
async fn fifty_concurrent_creates_against_a_quota_of_ten_make_exactly_ten() {
    let w = world().await;
    let mut handles = Vec::new();
    for _ in 0..50 {
        let volumes = w.volumes.clone();
        handles.push(tokio::spawn(async move {
            volumes.create(&caller(), sized(1)).await
        }));
    }
    let mut ok = 0;
    let mut over = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => ok += 1,
            Err(DomainError::QuotaExceeded(q)) => {
                assert_eq!(q.resource, "volumes");
                assert_eq!(q.limit, 10);
                over += 1;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!((ok, over), (10, 40));
    let usage = w.quotas.show(&caller(), "p1").await.unwrap();
    let volumes = usage.iter().find(|e| e.resource == "volumes").unwrap();
    assert_eq!(volumes.in_use, 10);
    let err = w.volumes.create(&caller(), sized(1)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "VolumeLimitExceeded: Maximum number of volumes allowed (10) exceeded for quota 'volumes'."
    );
    w.assert_usage_consistent().await;
}

#[tokio::test]
async fn gigabytes_and_per_volume_limits_are_enforced_and_extend_claims_the_delta() {
    let w = world().await;
    let changes: BTreeMap<String, serde_json::Value> = [
        ("gigabytes".to_string(), serde_json::json!(5)),
        ("per_volume_gigabytes".to_string(), serde_json::json!(4)),
    ]
    .into();
    w.quotas.update(&admin(), "p1", &changes).await.unwrap();
    let err = w.volumes.create(&caller(), sized(5)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "VolumeSizeExceedsLimit: Requested volume size 5G is larger than maximum allowed limit 4G."
    );
    let v = w.volumes.create(&caller(), sized(3)).await.unwrap();
    w.runner.run_pending().await;
    let err = w.volumes.extend(&caller(), &v.id, 4).await;
    assert!(err.is_ok(), "{err:?}");
    w.runner.run_pending().await;
    let err = w.volumes.create(&caller(), sized(2)).await.unwrap_err();
    assert!(err.to_string().starts_with(
        "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. Requested 2G, quota is 5G and 4G has been consumed."
    ), "{err}");
    w.assert_usage_consistent().await;
}

#[tokio::test]
async fn two_racing_deletes_both_succeed_and_one_job_removes_the_volume() {
    let w = world().await;
    let v = w.volumes.create(&caller(), sized(1)).await.unwrap();
    w.runner.run_pending().await;
    let c = caller();
    let (a, b) = tokio::join!(
        w.volumes.delete(&c, &v.id, false),
        w.volumes.delete(&c, &v.id, false)
    );
    assert!(a.is_ok() && b.is_ok());
    assert_eq!(w.runner.run_pending().await, 1);
    assert!(!w.backend.exists(&v.id).await.unwrap());
    w.assert_usage_consistent().await;
}

#[tokio::test]
async fn delete_racing_extend_lets_exactly_one_win() {
    let w = world().await;
    for _ in 0..5 {
        let v = w.volumes.create(&caller(), sized(1)).await.unwrap();
        w.runner.run_pending().await;
        let c = caller();
        let (d, e) = tokio::join!(
            w.volumes.delete(&c, &v.id, false),
            w.volumes.extend(&c, &v.id, 2)
        );
        assert!(d.is_ok() != e.is_ok(), "delete {d:?} extend {e:?}");
        let loser = d.err().or(e.err()).unwrap();
        assert!(matches!(loser, DomainError::InvalidVolume(_)), "{loser}");
        w.runner.run_pending().await;
    }
    w.assert_usage_consistent().await;
}

#[tokio::test]
async fn a_create_the_backend_cannot_hold_ends_in_error_with_a_reason_and_frees_the_quota() {
    let w = world_with(1.0).await;
    let changes: BTreeMap<String, serde_json::Value> =
        [("gigabytes".to_string(), serde_json::json!(-1))].into();
    w.quotas.update(&admin(), "p1", &changes).await.unwrap();
    // Larger than the backend could ever hold: refused at once, nothing written.
    let never = w
        .volumes
        .create(&caller(), sized(1 << 30))
        .await
        .unwrap_err();
    assert!(never.to_string().contains("can ever hold"), "{never}");
    // Fits an empty backend but not the free space left now: the scheduler finds no pool
    // with room, and the volume is in error with its reason.
    let largest = w.backend.largest_volume_gib().await.unwrap() as i64;
    let free_gib = (w.backend.stats().await.unwrap().free_bytes / GIB) as i64;
    assert!(free_gib < largest, "the test disk must be partly used");
    let huge = w
        .volumes
        .create(&caller(), sized(free_gib + 1))
        .await
        .unwrap();
    w.runner.run_pending().await;
    let v = w.volumes.get(&caller(), &huge.id).await.unwrap();
    assert_eq!(v.status, VolumeStatus::Error);
    let reason = v.status_reason.as_deref().unwrap();
    assert!(
        reason.starts_with("No valid backend was found.") && reason.contains("has room for"),
        "{reason}"
    );
    assert!(!v.use_quota);
    let entries = w.quotas.show(&caller(), "p1").await.unwrap();
    let used = |r: &str| entries.iter().find(|e| e.resource == r).unwrap().in_use;
    assert_eq!((used("volumes"), used("gigabytes")), (0, 0));
    // An errored volume can be deleted.
    w.volumes.delete(&caller(), &v.id, false).await.unwrap();
    w.runner.run_pending().await;
    assert!(w.volumes.get(&caller(), &v.id).await.is_err());
    w.assert_usage_consistent().await;
}

#[tokio::test]
async fn extending_to_a_smaller_or_equal_size_is_refused() {
    let w = world().await;
    let v = w.volumes.create(&caller(), sized(2)).await.unwrap();
    w.runner.run_pending().await;
    for n in [1, 2] {
        assert!(matches!(
            w.volumes.extend(&caller(), &v.id, n).await,
            Err(DomainError::InvalidInput(_))
        ));
    }
}

#[tokio::test]
async fn after_a_restart_leased_jobs_run_again_and_nothing_stays_transitional() {
    let w = world().await;
    let v = w.volumes.create(&caller(), sized(1)).await.unwrap();
    // A worker of the previous process leased the job and died before doing it.
    let now = chrono::Utc::now();
    let leased = w
        .store
        .lease("dead-runner", now, now + chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(leased.unwrap().subject_id, v.id);
    assert_eq!(w.runner.run_pending().await, 0, "the lease still holds");
    w.volumes.reconcile(true).await.unwrap();
    assert_eq!(w.runner.run_pending().await, 1);
    let v = w.volumes.get(&caller(), &v.id).await.unwrap();
    assert_eq!(v.status, VolumeStatus::Available);
    assert!(w.backend.exists(&v.id).await.unwrap());
    w.assert_usage_consistent().await;
}
