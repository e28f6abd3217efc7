//! The transfer store over a real SQLite database: an offer is a compare-and-swap of its
//! volume, the key never reaches the table, and an acceptance moves the volume, its snapshots
//! and both projects' usage at once or not at all. After every scenario the usage counters
//! must agree with a recount from the rows.

use std::sync::Arc;

use basalt_db::{Database, SqlBlockStore};
use basalt_domain::jobs::{Job, JobKind};
use basalt_domain::metadata::Metadata;
use basalt_domain::ports::{
    AcceptOutcome, Acceptance, JobStore, QuotaClaim, QuotaStore, SnapshotStore, SnapshotTransition,
    StoreError, TransferStore, Transition, VolumeStore, VolumeTypeStore,
};
use basalt_domain::snapshot::{Snapshot, SnapshotStatus};
use basalt_domain::transfer::{auth_key, Transfer, TransferQuery};
use basalt_domain::volume::{AttachStatus, Volume, VolumeStatus};
use basalt_domain::volume_type::VolumeType;
use chrono::{DateTime, TimeZone, Utc};

struct Env {
    store: Arc<SqlBlockStore>,
    type_id: String,
    url: String,
    _dir: tempfile::TempDir,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let db = Database::open(&url).await.unwrap();
    db.migrate().await.unwrap();
    let store = db.block_store();
    let ty = VolumeType::default_type();
    store.create_type(&ty).await.unwrap();
    Env {
        store,
        type_id: ty.id,
        url,
        _dir: dir,
    }
}

fn at(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(n)
}

impl Env {
    /// A claim of `project` with one limit for every resource (-1: unlimited).
    fn claim(
        &self,
        project: &str,
        volumes: i64,
        snapshots: i64,
        gib: i64,
        limit: i64,
    ) -> QuotaClaim {
        let r = |name: &str, delta: i64| (name.to_string(), delta, limit);
        QuotaClaim {
            project_id: project.into(),
            volume_type_id: self.type_id.clone(),
            volumes: r("volumes", volumes),
            snapshots: r("snapshots", snapshots),
            gigabytes: r("gigabytes", gib),
            type_volumes: r("volumes___DEFAULT__", volumes),
            type_snapshots: r("snapshots___DEFAULT__", snapshots),
            type_gigabytes: r("gigabytes___DEFAULT__", gib),
            pool: None,
        }
    }

    /// An `available` volume of `project` (its create job done).
    async fn volume(&self, id: &str, project: &str, size: i64) {
        let v = Volume {
            id: id.into(),
            project_id: project.into(),
            user_id: "donor-user".into(),
            name: None,
            description: None,
            size,
            new_size: None,
            status: VolumeStatus::Available,
            attach_status: AttachStatus::Detached,
            migration_status: None,
            availability_zone: "nova".into(),
            volume_type_id: self.type_id.clone(),
            volume_type_name: None,
            snapshot_id: None,
            source_volid: None,
            bootable: false,
            multiattach: false,
            encrypted: false,
            replication_status: "disabled".into(),
            consistencygroup_id: None,
            group_id: None,
            host: Some("h@file#file".into()),
            use_quota: true,
            status_reason: None,
            metadata: Metadata::new(),
            admin_metadata: Metadata::new(),
            attachments: vec![],
            created_at: at(0),
            updated_at: None,
        };
        let job = Job::new(
            id,
            JobKind::CreateVolume {
                backend: "file".into(),
                size_gib: size,
                source: None,
            },
        );
        let c = self.claim(project, 1, 0, size, -1);
        assert!(self.store.create_volume(&v, None, &c, &job).await.unwrap());
        let job = self.store.job_for(id).await.unwrap().unwrap();
        self.store.finish(&job.id).await.unwrap();
    }

    /// A snapshot of the volume, in `status`.
    async fn snapshot(
        &self,
        id: &str,
        volume: &str,
        project: &str,
        size: i64,
        status: SnapshotStatus,
    ) {
        let s = Snapshot {
            id: id.into(),
            project_id: project.into(),
            user_id: "donor-user".into(),
            volume_id: volume.into(),
            name: None,
            description: None,
            size,
            status: SnapshotStatus::Creating,
            progress: "0%".into(),
            volume_type_id: self.type_id.clone(),
            host: Some("h@file#file".into()),
            use_quota: true,
            status_reason: None,
            metadata: Metadata::new(),
            created_at: at(1),
            updated_at: None,
        };
        let job = Job::new(
            id,
            JobKind::CreateSnapshot {
                backend: "file".into(),
                volume_id: volume.into(),
            },
        );
        let c = self.claim(project, 0, 1, size, -1);
        let from = [VolumeStatus::Available];
        assert!(self
            .store
            .create_snapshot(&s, &from, &c, &job)
            .await
            .unwrap());
        let t = SnapshotTransition::new(id, &[], status);
        assert!(self.store.snapshot_transition(&t).await.unwrap());
    }

    fn offer(&self, id: &str, volume: &str, project: &str, key: &str, created: i64) -> Transfer {
        let salt = auth_key::salt();
        Transfer {
            id: id.into(),
            volume_id: volume.into(),
            project_id: project.into(),
            name: Some(format!("offer {id}")),
            crypt_hash: auth_key::digest(&salt, key),
            salt,
            created_at: at(created),
        }
    }

    async fn status(&self, id: &str) -> VolumeStatus {
        self.store.get_volume(id).await.unwrap().unwrap().status
    }

    async fn assert_consistent(&self) {
        assert_eq!(
            self.store.recount_usage().await.unwrap(),
            0,
            "usage drifted"
        );
    }

    fn acceptance(&self, transfer: &str, volume: &str, snaps: &[&str], limit: i64) -> Acceptance {
        Acceptance {
            transfer_id: transfer.into(),
            volume_id: volume.into(),
            project_id: "q".into(),
            user_id: "acceptor".into(),
            snapshot_ids: snaps.iter().map(|s| s.to_string()).collect(),
            volume_claim: self.claim("q", 1, 0, 3, limit),
            snapshot_claim: self.claim("q", 0, snaps.len() as i64, 3 * snaps.len() as i64, limit),
        }
    }
}

#[tokio::test]
async fn an_offer_stores_a_salted_digest_and_never_the_key() {
    let e = env().await;
    e.volume("v", "p", 3).await;
    let key = auth_key::generate();
    let t = e.offer("t", "v", "p", &key, 0);
    assert!(e.store.create_transfer(&t).await.unwrap());
    assert_eq!(e.status("v").await, VolumeStatus::AwaitingTransfer);
    // Every column of the row, read raw: none holds the key.
    let pool = sqlx::SqlitePool::connect(&e.url).await.unwrap();
    let row: (String, String, String, Option<String>, String, String) = sqlx::query_as(
        "SELECT id, volume_id, project_id, display_name, salt, crypt_hash FROM transfers",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let columns = [&row.0, &row.1, &row.2, &row.4, &row.5];
    assert!(columns.iter().all(|c| !c.contains(&key)), "{row:?}");
    assert_ne!(row.5, auth_key::digest("", &key));
    assert!(auth_key::matches(&row.4, &row.5, &key));
    // A second offer of the same volume loses the compare-and-swap.
    let again = e.offer("t2", "v", "p", &key, 1);
    assert!(!e.store.create_transfer(&again).await.unwrap());
    assert!(e.store.get_transfer("t2").await.unwrap().is_none());
}

#[tokio::test]
async fn an_offer_needs_an_available_volume_and_available_snapshots() {
    let e = env().await;
    e.volume("v", "p", 3).await;
    e.snapshot("s", "v", "p", 3, SnapshotStatus::Creating).await;
    assert!(!e
        .store
        .create_transfer(&e.offer("t", "v", "p", "k", 0))
        .await
        .unwrap());
    assert_eq!(e.status("v").await, VolumeStatus::Available);
    let t = SnapshotTransition::new("s", &[], SnapshotStatus::Available);
    assert!(e.store.snapshot_transition(&t).await.unwrap());
    let in_use = Transition::new("v", &[VolumeStatus::Available], VolumeStatus::InUse);
    assert!(e.store.transition(&in_use).await.unwrap());
    assert!(!e
        .store
        .create_transfer(&e.offer("t", "v", "p", "k", 0))
        .await
        .unwrap());
    assert!(e.store.get_transfer("t").await.unwrap().is_none());
}

#[tokio::test]
async fn acceptance_moves_the_volume_its_snapshots_and_both_usages() {
    let e = env().await;
    e.volume("v", "p", 3).await;
    e.snapshot("s", "v", "p", 3, SnapshotStatus::Available)
        .await;
    assert!(e
        .store
        .create_transfer(&e.offer("t", "v", "p", "k", 0))
        .await
        .unwrap());
    let a = e.acceptance("t", "v", &["s"], -1);
    assert_eq!(
        e.store.accept_transfer(&a).await.unwrap(),
        AcceptOutcome::Accepted
    );
    let v = e.store.get_volume("v").await.unwrap().unwrap();
    assert_eq!(
        (v.status, v.project_id.as_str(), v.user_id.as_str()),
        (VolumeStatus::Available, "q", "acceptor")
    );
    let s = e.store.get_snapshot("s").await.unwrap().unwrap();
    assert_eq!(
        (s.project_id.as_str(), s.user_id.as_str()),
        ("q", "acceptor")
    );
    let (p, q) = (
        e.store.usage("p").await.unwrap(),
        e.store.usage("q").await.unwrap(),
    );
    assert_eq!((p.volumes, p.snapshots, p.gigabytes), (0, 0, 0));
    assert_eq!((q.volumes, q.snapshots, q.gigabytes), (1, 1, 6));
    assert!(e.store.get_transfer("t").await.unwrap().is_none());
    // The second acceptance finds nothing.
    assert_eq!(
        e.store.accept_transfer(&a).await.unwrap(),
        AcceptOutcome::NoSuchTransfer
    );
    e.assert_consistent().await;
}

#[tokio::test]
async fn an_acceptance_over_quota_changes_nothing() {
    let e = env().await;
    e.volume("v", "p", 3).await;
    e.snapshot("s", "v", "p", 3, SnapshotStatus::Available)
        .await;
    assert!(e
        .store
        .create_transfer(&e.offer("t", "v", "p", "k", 0))
        .await
        .unwrap());
    // The volume fits in 5 GiB, the volume and its snapshot do not.
    let a = e.acceptance("t", "v", &["s"], 5);
    match e.store.accept_transfer(&a).await {
        Err(StoreError::QuotaExceeded(q)) => {
            assert_eq!(
                (q.resource.as_str(), q.in_use, q.requested),
                ("gigabytes", 3, 3)
            )
        }
        other => panic!("{other:?}"),
    }
    let v = e.store.get_volume("v").await.unwrap().unwrap();
    assert_eq!(
        (v.status, v.project_id.as_str()),
        (VolumeStatus::AwaitingTransfer, "p")
    );
    assert_eq!(
        e.store.get_snapshot("s").await.unwrap().unwrap().project_id,
        "p"
    );
    assert!(e.store.get_transfer("t").await.unwrap().is_some());
    assert_eq!(e.store.usage("q").await.unwrap().gigabytes, 0);
    e.assert_consistent().await;
}

#[tokio::test]
async fn an_acceptance_refuses_changed_or_busy_snapshots() {
    let e = env().await;
    e.volume("v", "p", 3).await;
    e.snapshot("s", "v", "p", 3, SnapshotStatus::Available)
        .await;
    assert!(e
        .store
        .create_transfer(&e.offer("t", "v", "p", "k", 0))
        .await
        .unwrap());
    let stale = e.acceptance("t", "v", &[], -1);
    assert_eq!(
        e.store.accept_transfer(&stale).await.unwrap(),
        AcceptOutcome::SnapshotsChanged
    );
    let t = SnapshotTransition::new("s", &[], SnapshotStatus::Deleting);
    assert!(e.store.snapshot_transition(&t).await.unwrap());
    assert_eq!(
        e.store
            .accept_transfer(&e.acceptance("t", "v", &["s"], -1))
            .await
            .unwrap(),
        AcceptOutcome::SnapshotNotAvailable("s".into())
    );
    assert_eq!(
        e.store.get_volume("v").await.unwrap().unwrap().project_id,
        "p"
    );
    e.assert_consistent().await;
}

#[tokio::test]
async fn cancelling_puts_the_volume_back_and_listings_page_in_creation_order() {
    let e = env().await;
    for (i, v) in ["a", "b", "c"].iter().enumerate() {
        e.volume(v, "p", 1).await;
        let t = e.offer(&format!("t{v}"), v, "p", "k", 10 - i as i64);
        assert!(e.store.create_transfer(&t).await.unwrap());
    }
    e.volume("x", "other", 1).await;
    assert!(e
        .store
        .create_transfer(&e.offer("tx", "x", "other", "k", 0))
        .await
        .unwrap());
    let q = |project: Option<&str>, limit, marker: Option<&str>| TransferQuery {
        project_id: project.map(str::to_owned),
        name: None,
        volume_id: None,
        id: None,
        match_nothing: false,
        limit,
        offset: 0,
        marker: marker.map(str::to_owned),
    };
    let ids = |ts: Vec<Transfer>| ts.into_iter().map(|t| t.id).collect::<Vec<_>>();
    let all = e
        .store
        .list_transfers(&q(Some("p"), 10, None))
        .await
        .unwrap();
    assert_eq!(ids(all), ["tc", "tb", "ta"]);
    let page = e
        .store
        .list_transfers(&q(Some("p"), 1, Some("tc")))
        .await
        .unwrap();
    assert_eq!(ids(page), ["tb"]);
    assert_eq!(
        e.store
            .list_transfers(&q(None, 10, None))
            .await
            .unwrap()
            .len(),
        4
    );
    match e.store.list_transfers(&q(Some("p"), 1, Some("tx"))).await {
        Err(StoreError::NotFound(m)) => assert_eq!(m, "Transfer tx could not be found."),
        other => panic!("{other:?}"),
    }
    let mut named = q(Some("p"), 10, None);
    named.name = Some("offer tb".into());
    assert_eq!(ids(e.store.list_transfers(&named).await.unwrap()), ["tb"]);

    assert!(e.store.delete_transfer("tb").await.unwrap());
    assert!(!e.store.delete_transfer("tb").await.unwrap());
    assert_eq!(e.status("b").await, VolumeStatus::Available);
    assert_eq!(e.status("a").await, VolumeStatus::AwaitingTransfer);
    e.assert_consistent().await;
}
