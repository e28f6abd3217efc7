//! The snapshot store over a real SQLite database: creation guarded by the volume's status and
//! the quota, listings, compare-and-swap transitions, metadata, and the rules snapshots impose
//! on deleting their volume and on creating volumes from them. After every scenario the usage
//! counters the triggers keep must agree with a recount from the rows.

use std::sync::Arc;

use basalt_db::{Database, SqlBlockStore};
use basalt_domain::jobs::{Job, JobKind};
use basalt_domain::metadata::Metadata;
use basalt_domain::ports::{
    JobStore, QuotaClaim, QuotaStore, SnapshotRule, SnapshotStore, SnapshotTransition, SourceGuard,
    StoreError, Transition, VolumeStore, VolumeTypeStore,
};
use basalt_domain::quota::Usage;
use basalt_domain::snapshot::{
    Snapshot, SnapshotQuery, SnapshotSortKey, SnapshotStatus, SnapshotUpdate,
};
use basalt_domain::volume::{AttachStatus, SortDir, Volume, VolumeStatus};
use basalt_domain::volume_type::VolumeType;
use chrono::{DateTime, TimeZone, Utc};

struct Env {
    store: Arc<SqlBlockStore>,
    type_id: String,
    _dir: tempfile::TempDir,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&format!("sqlite://{}/t.db", dir.path().display()))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let store = db.block_store();
    let ty = VolumeType::default_type();
    store.create_type(&ty).await.unwrap();
    Env {
        store,
        type_id: ty.id,
        _dir: dir,
    }
}

/// A fixed instant plus `n` seconds: rows get distinct, ordered creation times.
fn at(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(n)
}

fn md(pairs: &[(&str, &str)]) -> Metadata {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A claim of `project` with one limit for every resource (-1: unlimited).
fn claim(e: &Env, project: &str, volumes: i64, snapshots: i64, gib: i64, limit: i64) -> QuotaClaim {
    let r = |name: &str, delta: i64| (name.to_string(), delta, limit);
    QuotaClaim {
        project_id: project.into(),
        volume_type_id: e.type_id.clone(),
        volumes: r("volumes", volumes),
        snapshots: r("snapshots", snapshots),
        gigabytes: r("gigabytes", gib),
        type_volumes: r("volumes___DEFAULT__", volumes),
        type_snapshots: r("snapshots___DEFAULT__", snapshots),
        type_gigabytes: r("gigabytes___DEFAULT__", gib),
        pool: None,
    }
}

impl Env {
    fn volume(&self, id: &str, project: &str, size: i64, status: VolumeStatus) -> Volume {
        Volume {
            id: id.into(),
            project_id: project.into(),
            user_id: "u".into(),
            name: None,
            description: None,
            size,
            new_size: None,
            status,
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
        }
    }

    /// Inserts `v` as it is (the store writes the status it is given) with its create job.
    async fn insert_volume(&self, v: &Volume, source: Option<&SourceGuard>) -> bool {
        let job = Job::new(
            &v.id,
            JobKind::CreateVolume {
                backend: "file".into(),
                size_gib: v.size,
                source: None,
            },
        );
        self.store
            .create_volume(
                v,
                source,
                &claim(self, &v.project_id, 1, 0, v.size, -1),
                &job,
            )
            .await
            .unwrap()
    }

    /// A volume already in `status`; past `creating`, its create job is done.
    async fn add_volume(&self, id: &str, project: &str, size: i64, status: VolumeStatus) -> Volume {
        let v = self.volume(id, project, size, status);
        assert!(self.insert_volume(&v, None).await);
        if status != VolumeStatus::Creating {
            let job = self.store.job_for(id).await.unwrap().unwrap();
            self.store.finish(&job.id).await.unwrap();
        }
        v
    }

    fn snapshot(&self, id: &str, v: &Volume, created: i64) -> Snapshot {
        Snapshot {
            id: id.into(),
            project_id: v.project_id.clone(),
            user_id: "u".into(),
            volume_id: v.id.clone(),
            name: None,
            description: None,
            size: v.size,
            status: SnapshotStatus::Creating,
            progress: "0%".into(),
            volume_type_id: v.volume_type_id.clone(),
            host: v.host.clone(),
            use_quota: true,
            status_reason: None,
            metadata: Metadata::new(),
            created_at: at(created),
            updated_at: None,
        }
    }

    async fn try_snapshot(
        &self,
        s: &Snapshot,
        volume_from: &[VolumeStatus],
        limit: i64,
    ) -> Result<bool, StoreError> {
        let job = Job::new(
            &s.id,
            JobKind::CreateSnapshot {
                backend: "file".into(),
                volume_id: s.volume_id.clone(),
            },
        );
        let c = claim(self, &s.project_id, 0, 1, s.size, limit);
        self.store.create_snapshot(s, volume_from, &c, &job).await
    }

    /// Creates the snapshot and moves it to `status`.
    async fn add_snapshot(&self, s: &Snapshot, status: SnapshotStatus) {
        assert!(self
            .try_snapshot(s, &[VolumeStatus::Available], -1)
            .await
            .unwrap());
        if status != SnapshotStatus::Creating {
            self.set_snapshot_status(&s.id, status).await;
        }
    }

    async fn set_snapshot_status(&self, id: &str, status: SnapshotStatus) {
        let t = SnapshotTransition::new(id, &[], status);
        assert!(self.store.snapshot_transition(&t).await.unwrap());
    }

    async fn set_volume_status(&self, id: &str, status: VolumeStatus) {
        let t = Transition::new(id, VolumeStatus::ALL, status);
        assert!(self.store.transition(&t).await.unwrap());
    }

    async fn status_of(&self, id: &str) -> Option<SnapshotStatus> {
        self.store.get_snapshot(id).await.unwrap().map(|s| s.status)
    }

    async fn usage(&self, project: &str) -> Usage {
        self.store.usage(project).await.unwrap()
    }

    async fn assert_consistent(&self) {
        assert_eq!(
            self.store.recount_usage().await.unwrap(),
            0,
            "usage counters drifted"
        );
    }

    /// Deletes a volume as the workers would: `deleting`, then removed.
    async fn delete_volume(&self, id: &str, rule: SnapshotRule) -> bool {
        let mut t = Transition::new(id, VolumeStatus::DELETABLE, VolumeStatus::Deleting);
        t.snapshots = rule;
        let job = Job::new(
            id,
            JobKind::DeleteVolume {
                backend: "file".into(),
                snapshots: vec![],
            },
        );
        t.enqueue = Some(job.clone());
        if !self.store.transition(&t).await.unwrap() {
            return false;
        }
        assert!(self.store.remove_volume(id, &job.id).await.unwrap());
        true
    }
}

fn query(project: Option<&str>) -> SnapshotQuery {
    SnapshotQuery {
        project_id: project.map(str::to_owned),
        filters: vec![],
        match_nothing: false,
        sort: vec![(SnapshotSortKey::CreatedAt, SortDir::Desc)],
        limit: 1000,
        offset: 0,
        marker: None,
    }
}

async fn ids(e: &Env, q: &SnapshotQuery) -> Vec<String> {
    e.store
        .list_snapshots(q)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect()
}

#[tokio::test]
async fn a_snapshot_is_taken_only_of_a_volume_in_an_allowed_status_and_not_migrating() {
    let e = env().await;
    let creating = e
        .add_volume("creating", "p", 1, VolumeStatus::Creating)
        .await;
    let in_use = e.add_volume("in-use", "p", 1, VolumeStatus::InUse).await;
    let mut migrating = e.volume("migrating", "p", 1, VolumeStatus::Available);
    migrating.migration_status = Some("migrating".into());
    assert!(e.insert_volume(&migrating, None).await);
    let mut migrated = e.volume("migrated", "p", 1, VolumeStatus::Available);
    migrated.migration_status = Some("success".into());
    assert!(e.insert_volume(&migrated, None).await);
    let gone = e.volume("gone", "p", 1, VolumeStatus::Available);

    let available = [VolumeStatus::Available];
    for (v, id) in [
        (&creating, "s1"),
        (&in_use, "s2"),
        (&migrating, "s3"),
        (&gone, "s4"),
    ] {
        let s = e.snapshot(id, v, 0);
        assert!(!e.try_snapshot(&s, &available, -1).await.unwrap(), "{id}");
        // Nothing was written: no row, no job, no usage.
        assert_eq!(e.store.get_snapshot(id).await.unwrap(), None);
        assert!(e.store.job_for(id).await.unwrap().is_none());
    }
    assert_eq!(e.usage("p").await.snapshots, 0);
    // No status at all is allowed: refused too.
    assert!(!e
        .try_snapshot(&e.snapshot("s5", &in_use, 0), &[], -1)
        .await
        .unwrap());

    // `force`: in-use is allowed; a finished migration does not count as migrating.
    let forced = [VolumeStatus::Available, VolumeStatus::InUse];
    let mut s = e.snapshot("s6", &in_use, 0);
    s.name = Some("forced".into());
    s.metadata = md(&[("k", "v")]);
    assert!(e.try_snapshot(&s, &forced, -1).await.unwrap());
    assert!(e
        .try_snapshot(&e.snapshot("s7", &migrated, 1), &available, -1)
        .await
        .unwrap());

    assert_eq!(e.store.get_snapshot("s6").await.unwrap(), Some(s));
    let job = e.store.job_for("s6").await.unwrap().unwrap();
    assert!(matches!(job.kind, JobKind::CreateSnapshot { volume_id, .. } if volume_id == "in-use"));
    assert_eq!(e.usage("p").await.snapshots, 2);
    e.assert_consistent().await;
}

#[tokio::test]
async fn snapshot_claims_count_snapshots_and_gigabytes_with_the_volumes() {
    let e = env().await;
    let v = e.add_volume("v", "p", 10, VolumeStatus::Available).await;
    let other = e.add_volume("w", "q", 10, VolumeStatus::Available).await;
    let any = [VolumeStatus::Available];

    // Gigabytes: 10 (volume) + 10 (first snapshot) in use, a second 10 does not fit in 25.
    assert!(e
        .try_snapshot(&e.snapshot("a", &v, 0), &any, 25)
        .await
        .unwrap());
    match e.try_snapshot(&e.snapshot("b", &v, 1), &any, 25).await {
        Err(StoreError::QuotaExceeded(q)) => {
            assert_eq!(
                (q.resource.as_str(), q.in_use, q.requested, q.limit),
                ("gigabytes", 20, 10, 25)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.store.get_snapshot("b").await.unwrap(), None);

    // Count: two snapshots fit a limit of two, a third does not.
    assert!(e
        .try_snapshot(&e.snapshot("b", &v, 1), &any, 1000)
        .await
        .unwrap());
    let mut two = claim(&e, "p", 0, 1, 10, -1);
    two.snapshots.2 = 2;
    let job = |id: &str| {
        Job::new(
            id,
            JobKind::CreateSnapshot {
                backend: "file".into(),
                volume_id: "v".into(),
            },
        )
    };
    match e
        .store
        .create_snapshot(&e.snapshot("c", &v, 2), &any, &two, &job("c"))
        .await
    {
        Err(StoreError::QuotaExceeded(q)) => {
            assert_eq!((q.resource.as_str(), q.in_use), ("snapshots", 2))
        }
        other => panic!("{other:?}"),
    }
    // The per-type count is enforced the same way.
    let mut per_type = claim(&e, "p", 0, 1, 10, -1);
    per_type.type_snapshots.2 = 2;
    match e
        .store
        .create_snapshot(&e.snapshot("c", &v, 2), &any, &per_type, &job("c"))
        .await
    {
        Err(StoreError::QuotaExceeded(q)) => {
            assert_eq!(
                (q.resource.as_str(), q.in_use),
                ("snapshots___DEFAULT__", 2)
            )
        }
        other => panic!("{other:?}"),
    }
    // Another project's usage is its own.
    assert!(e
        .try_snapshot(&e.snapshot("x", &other, 0), &any, 20)
        .await
        .unwrap());

    let u = e.usage("p").await;
    assert_eq!((u.volumes, u.snapshots, u.gigabytes), (1, 2, 30));
    assert_eq!(u.per_type["__DEFAULT__"], (1, 30, 2));
    // A creation that failed stops counting.
    let mut failed =
        SnapshotTransition::new("b", &[SnapshotStatus::Creating], SnapshotStatus::Error);
    failed.use_quota = Some(false);
    assert!(e.store.snapshot_transition(&failed).await.unwrap());
    let u = e.usage("p").await;
    assert_eq!((u.snapshots, u.gigabytes), (1, 20));
    assert_eq!(u.per_type["__DEFAULT__"], (1, 20, 1));
    assert_eq!(e.usage("q").await.gigabytes, 20);
    e.assert_consistent().await;
}

#[tokio::test]
async fn listings_filter_sort_and_page_by_keyset() {
    let e = env().await;
    let v = e.add_volume("v", "p", 1, VolumeStatus::Available).await;
    let w = e.add_volume("w", "p", 2, VolumeStatus::Available).await;
    let theirs = e.add_volume("t", "q", 1, VolumeStatus::Available).await;
    // s1..s5 in creation order; names b, a, None, a, c.
    let specs = [
        ("s1", &v, Some("b"), SnapshotStatus::Available),
        ("s2", &w, Some("a"), SnapshotStatus::Available),
        ("s3", &v, None, SnapshotStatus::Error),
        ("s4", &v, Some("a"), SnapshotStatus::Creating),
        ("s5", &w, Some("c"), SnapshotStatus::Available),
    ];
    for (n, (id, vol, name, status)) in specs.iter().enumerate() {
        let mut s = e.snapshot(id, vol, n as i64);
        s.name = name.map(str::to_owned);
        e.add_snapshot(&s, *status).await;
    }
    e.add_snapshot(&e.snapshot("q1", &theirs, 9), SnapshotStatus::Available)
        .await;

    // Default: newest first, only the project's.
    let mut q = query(Some("p"));
    assert_eq!(ids(&e, &q).await, ["s5", "s4", "s3", "s2", "s1"]);
    // Everyone's.
    assert_eq!(
        ids(&e, &query(None)).await,
        ["q1", "s5", "s4", "s3", "s2", "s1"]
    );

    // Exact filters.
    let filtered = |filters: &[(SnapshotSortKey, &str)]| {
        let mut q = query(Some("p"));
        q.filters = filters.iter().map(|(k, v)| (*k, v.to_string())).collect();
        q
    };
    assert_eq!(
        ids(&e, &filtered(&[(SnapshotSortKey::Name, "a")])).await,
        ["s4", "s2"]
    );
    assert_eq!(
        ids(&e, &filtered(&[(SnapshotSortKey::Status, "available")])).await,
        ["s5", "s2", "s1"]
    );
    assert_eq!(
        ids(
            &e,
            &filtered(&[
                (SnapshotSortKey::VolumeId, "v"),
                (SnapshotSortKey::Name, "a")
            ])
        )
        .await,
        ["s4"]
    );
    assert_eq!(
        ids(&e, &filtered(&[(SnapshotSortKey::Size, "2")])).await,
        ["s5", "s2"]
    );
    assert!(ids(&e, &filtered(&[(SnapshotSortKey::Size, "two")]))
        .await
        .is_empty());
    assert_eq!(
        ids(
            &e,
            &filtered(&[(SnapshotSortKey::CreatedAt, "2024-01-01T00:00:02")])
        )
        .await,
        ["s3"]
    );
    assert!(ids(&e, &filtered(&[(SnapshotSortKey::ProjectId, "q")]))
        .await
        .is_empty());
    let mut nothing = query(None);
    nothing.match_nothing = true;
    assert!(ids(&e, &nothing).await.is_empty());

    // Sort by name (no name first), ties broken by id in the same direction.
    q.sort = vec![(SnapshotSortKey::Name, SortDir::Asc)];
    assert_eq!(ids(&e, &q).await, ["s3", "s2", "s4", "s1", "s5"]);
    q.sort = vec![
        (SnapshotSortKey::Size, SortDir::Desc),
        (SnapshotSortKey::CreatedAt, SortDir::Asc),
    ];
    let all = ids(&e, &q).await;
    assert_eq!(all, ["s2", "s5", "s1", "s3", "s4"]);

    // Pages of two by marker, in that mixed-direction order, then in the default order.
    q.limit = 2;
    let mut pages = vec![];
    loop {
        let page = ids(&e, &q).await;
        if page.is_empty() {
            break;
        }
        q.marker = page.last().cloned();
        pages.push(page);
    }
    assert_eq!(pages, [vec!["s2", "s5"], vec!["s1", "s3"], vec!["s4"]]);
    let mut q = query(Some("p"));
    q.limit = 2;
    q.marker = Some("s4".into());
    assert_eq!(ids(&e, &q).await, ["s3", "s2"]);
    q.offset = 1;
    assert_eq!(ids(&e, &q).await, ["s2", "s1"]);

    // An unknown marker, or another project's, is not found.
    for marker in ["nope", "q1"] {
        q.marker = Some(marker.into());
        match e.store.list_snapshots(&q).await {
            Err(StoreError::NotFound(m)) => {
                assert_eq!(m, format!("Snapshot {marker} could not be found."))
            }
            other => panic!("{other:?}"),
        }
    }
    let mut everyone = query(None);
    everyone.marker = Some("q1".into());
    assert_eq!(ids(&e, &everyone).await, ["s5", "s4", "s3", "s2", "s1"]);

    // A volume's snapshots, oldest first; snapshots by status.
    let of_v: Vec<String> = e
        .store
        .snapshots_of_volume("v")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(of_v, ["s1", "s3", "s4"]);
    let transitional: Vec<String> = e
        .store
        .snapshots_with_status(SnapshotStatus::TRANSITIONAL)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(transitional, ["s4"]);
    assert!(e.store.snapshots_with_status(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn transitions_are_compare_and_swap_and_carry_their_jobs() {
    let e = env().await;
    let v = e.add_volume("v", "p", 3, VolumeStatus::Available).await;
    e.add_snapshot(&e.snapshot("s", &v, 0), SnapshotStatus::Creating)
        .await;
    let create_job = e.store.job_for("s").await.unwrap().unwrap();

    // Wrong `from`: nothing changes.
    let wrong =
        SnapshotTransition::new("s", &[SnapshotStatus::Available], SnapshotStatus::Deleting);
    assert!(!e.store.snapshot_transition(&wrong).await.unwrap());
    assert_eq!(e.status_of("s").await, Some(SnapshotStatus::Creating));

    // The create completes: status, progress and reason change, the job goes.
    let mut done =
        SnapshotTransition::new("s", &[SnapshotStatus::Creating], SnapshotStatus::Available);
    done.progress = Some("100%".into());
    done.status_reason = Some(Some("why not".into()));
    done.complete_job = Some(create_job.id.clone());
    assert!(e.store.snapshot_transition(&done).await.unwrap());
    let s = e.store.get_snapshot("s").await.unwrap().unwrap();
    assert_eq!(
        (s.status, s.progress.as_str(), s.status_reason.as_deref()),
        (SnapshotStatus::Available, "100%", Some("why not"))
    );
    assert!(s.updated_at.is_some());
    assert!(e.store.job_for("s").await.unwrap().is_none());
    // The same transition again no longer holds.
    assert!(!e.store.snapshot_transition(&done).await.unwrap());

    // A volume being created from the snapshot blocks a guarded transition.
    let mut clone = e.volume("clone", "p", 3, VolumeStatus::Creating);
    clone.snapshot_id = Some("s".into());
    assert!(
        e.insert_volume(&clone, Some(&SourceGuard::Snapshot("s".into())))
            .await
    );
    let mut delete =
        SnapshotTransition::new("s", SnapshotStatus::DELETABLE, SnapshotStatus::Deleting);
    delete.require_no_creating_volumes = true;
    delete.status_reason = Some(None);
    let delete_job = Job::new(
        "s",
        JobKind::DeleteSnapshot {
            backend: "file".into(),
        },
    );
    delete.enqueue = Some(delete_job.clone());
    assert!(!e.store.snapshot_transition(&delete).await.unwrap());
    assert!(e.store.job_for("s").await.unwrap().is_none());
    // Unguarded, the same change would go through: the guard is what refused it.
    let mut unguarded = delete.clone();
    unguarded.require_no_creating_volumes = false;
    unguarded.enqueue = None;
    unguarded.to = SnapshotStatus::Available;
    assert!(e.store.snapshot_transition(&unguarded).await.unwrap());
    // Once the clone is available, the snapshot may go; its delete job is written with it.
    e.set_volume_status("clone", VolumeStatus::Available).await;
    assert!(e.store.snapshot_transition(&delete).await.unwrap());
    let s = e.store.get_snapshot("s").await.unwrap().unwrap();
    assert_eq!(
        (s.status, s.status_reason),
        (SnapshotStatus::Deleting, None)
    );
    assert_eq!(
        e.store.job_for("s").await.unwrap().map(|j| j.id),
        Some(delete_job.id.clone())
    );

    // An empty `from` accepts any status (reset-status); an unknown snapshot is false.
    e.set_snapshot_status("s", SnapshotStatus::ErrorDeleting)
        .await;
    assert!(!e
        .store
        .snapshot_transition(&SnapshotTransition::new("nope", &[], SnapshotStatus::Error))
        .await
        .unwrap());

    // Removal happens only from `deleting`, and takes the row, its metadata and its job.
    assert!(e
        .store
        .set_snapshot_metadata("s", &md(&[("k", "v")]), false)
        .await
        .unwrap()
        .is_some());
    assert!(!e.store.remove_snapshot("s", "no-such-job").await.unwrap());
    assert!(e.store.get_snapshot("s").await.unwrap().is_some());
    e.set_snapshot_status("s", SnapshotStatus::Deleting).await;
    assert_eq!(e.usage("p").await.snapshots, 1);
    assert!(e.store.remove_snapshot("s", &delete_job.id).await.unwrap());
    assert_eq!(e.store.get_snapshot("s").await.unwrap(), None);
    assert!(e.store.job_for("s").await.unwrap().is_none());
    let u = e.usage("p").await;
    assert_eq!((u.snapshots, u.gigabytes), (0, 6));
    // A snapshot with the same id starts with no metadata: it went with the row.
    e.add_snapshot(&e.snapshot("s", &v, 1), SnapshotStatus::Available)
        .await;
    assert!(e
        .store
        .get_snapshot("s")
        .await
        .unwrap()
        .unwrap()
        .metadata
        .is_empty());
    e.assert_consistent().await;
}

#[tokio::test]
async fn names_descriptions_and_metadata_change_in_place() {
    let e = env().await;
    let v = e.add_volume("v", "p", 1, VolumeStatus::Available).await;
    let mut s = e.snapshot("s", &v, 0);
    s.metadata = md(&[("a", "1"), ("b", "2")]);
    e.add_snapshot(&s, SnapshotStatus::Available).await;

    // Merge, then replace; each returns the full set.
    assert_eq!(
        e.store
            .set_snapshot_metadata("s", &md(&[("b", "3"), ("c", "4")]), false)
            .await
            .unwrap(),
        Some(md(&[("a", "1"), ("b", "3"), ("c", "4")]))
    );
    assert_eq!(
        e.store
            .set_snapshot_metadata("s", &md(&[("z", "9")]), true)
            .await
            .unwrap(),
        Some(md(&[("z", "9")]))
    );
    assert_eq!(
        e.store
            .delete_snapshot_metadata_key("s", "z")
            .await
            .unwrap(),
        Some(true)
    );
    assert_eq!(
        e.store
            .delete_snapshot_metadata_key("s", "z")
            .await
            .unwrap(),
        Some(false)
    );
    assert!(e
        .store
        .get_snapshot("s")
        .await
        .unwrap()
        .unwrap()
        .metadata
        .is_empty());
    // No such snapshot.
    assert_eq!(
        e.store
            .set_snapshot_metadata("nope", &md(&[("a", "1")]), false)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        e.store
            .delete_snapshot_metadata_key("nope", "a")
            .await
            .unwrap(),
        None
    );

    // Name and description: `None` leaves a field alone, `Some(None)` clears it.
    let u = SnapshotUpdate {
        name: Some(Some("n".into())),
        description: Some(Some("d".into())),
    };
    assert!(e.store.update_snapshot("s", &u).await.unwrap());
    let u = SnapshotUpdate {
        name: None,
        description: Some(None),
    };
    assert!(e.store.update_snapshot("s", &u).await.unwrap());
    let s = e.store.get_snapshot("s").await.unwrap().unwrap();
    assert_eq!((s.name.as_deref(), s.description), (Some("n"), None));
    assert!(s.updated_at.is_some());
    assert!(!e.store.update_snapshot("nope", &u).await.unwrap());
}

#[tokio::test]
async fn a_volume_with_snapshots_or_clones_in_progress_is_not_deleted_without_cascade() {
    let e = env().await;
    let v = e.add_volume("v", "p", 2, VolumeStatus::Available).await;
    e.add_snapshot(&e.snapshot("s", &v, 0), SnapshotStatus::Available)
        .await;
    assert!(!e.delete_volume("v", SnapshotRule::Refuse).await);
    assert_eq!(
        e.store.get_volume("v").await.unwrap().unwrap().status,
        VolumeStatus::Available
    );

    // The snapshot gone, a clone being created still holds the volume.
    e.set_snapshot_status("s", SnapshotStatus::Deleting).await;
    assert!(e.store.remove_snapshot("s", "-").await.unwrap());
    let mut clone = e.volume("clone", "p", 2, VolumeStatus::Creating);
    clone.source_volid = Some("v".into());
    assert!(
        e.insert_volume(&clone, Some(&SourceGuard::Volume("v".into())))
            .await
    );
    assert!(!e.delete_volume("v", SnapshotRule::Refuse).await);
    e.set_volume_status("clone", VolumeStatus::Available).await;
    assert!(e.delete_volume("v", SnapshotRule::Refuse).await);
    assert!(e.delete_volume("clone", SnapshotRule::Refuse).await);
    assert_eq!(e.usage("p").await, Usage::default());
    e.assert_consistent().await;
}

#[tokio::test]
async fn a_cascade_takes_exactly_the_snapshots_it_read_and_removes_them_with_the_volume() {
    let e = env().await;
    let v = e.add_volume("v", "p", 2, VolumeStatus::Available).await;
    e.add_snapshot(&e.snapshot("s1", &v, 0), SnapshotStatus::Available)
        .await;
    e.add_snapshot(&e.snapshot("s2", &v, 1), SnapshotStatus::Error)
        .await;
    let cascade = |ids: &[&str]| SnapshotRule::Cascade(ids.iter().map(|s| s.to_string()).collect());
    let try_cascade = |ids: &'static [&'static str]| {
        let mut t = Transition::new("v", VolumeStatus::DELETABLE, VolumeStatus::Deleting);
        t.snapshots = cascade(ids);
        t
    };

    // A stale list (a snapshot taken since) refuses; so does a snapshot still being created.
    assert!(!e.store.transition(&try_cascade(&["s1"])).await.unwrap());
    e.add_snapshot(&e.snapshot("s3", &v, 2), SnapshotStatus::Creating)
        .await;
    assert!(!e
        .store
        .transition(&try_cascade(&["s1", "s2", "s3"]))
        .await
        .unwrap());
    e.set_snapshot_status("s3", SnapshotStatus::Available).await;

    // A volume being created from one of the snapshots, or from the volume, refuses too.
    let mut from_snapshot = e.volume("from-s1", "p", 2, VolumeStatus::Creating);
    from_snapshot.snapshot_id = Some("s1".into());
    assert!(
        e.insert_volume(&from_snapshot, Some(&SourceGuard::Snapshot("s1".into())))
            .await
    );
    assert!(!e
        .store
        .transition(&try_cascade(&["s1", "s2", "s3"]))
        .await
        .unwrap());
    e.set_volume_status("from-s1", VolumeStatus::Available)
        .await;
    let mut clone = e.volume("clone", "p", 2, VolumeStatus::Creating);
    clone.source_volid = Some("v".into());
    assert!(
        e.insert_volume(&clone, Some(&SourceGuard::Volume("v".into())))
            .await
    );
    assert!(!e
        .store
        .transition(&try_cascade(&["s1", "s2", "s3"]))
        .await
        .unwrap());
    e.set_volume_status("clone", VolumeStatus::Available).await;
    for id in ["s1", "s2", "s3"] {
        assert_ne!(
            e.status_of(id).await,
            Some(SnapshotStatus::Deleting),
            "{id}"
        );
    }

    // s1 is already being deleted on its own (deleting may be cascaded).
    let mut own =
        SnapshotTransition::new("s1", SnapshotStatus::DELETABLE, SnapshotStatus::Deleting);
    own.enqueue = Some(Job::new(
        "s1",
        JobKind::DeleteSnapshot {
            backend: "file".into(),
        },
    ));
    assert!(e.store.snapshot_transition(&own).await.unwrap());

    // Applied: the volume and all its snapshots go `deleting` at once.
    let job = Job::new(
        "v",
        JobKind::DeleteVolume {
            backend: "file".into(),
            snapshots: vec!["s1".into(), "s2".into(), "s3".into()],
        },
    );
    let mut t = try_cascade(&["s1", "s2", "s3"]);
    t.enqueue = Some(job.clone());
    assert!(e.store.transition(&t).await.unwrap());
    for id in ["s1", "s2", "s3"] {
        assert_eq!(
            e.status_of(id).await,
            Some(SnapshotStatus::Deleting),
            "{id}"
        );
    }
    assert_eq!(e.usage("p").await.snapshots, 3);

    // Removing the volume removes its cascaded snapshots, and s1's own job with it.
    assert!(e.store.remove_volume("v", &job.id).await.unwrap());
    assert!(e.store.get_volume("v").await.unwrap().is_none());
    assert!(e.store.snapshots_of_volume("v").await.unwrap().is_empty());
    assert!(e.store.job_for("s1").await.unwrap().is_none());
    assert!(e.store.job_for("v").await.unwrap().is_none());
    e.assert_consistent().await;
    for id in ["from-s1", "clone"] {
        assert!(e.delete_volume(id, SnapshotRule::Refuse).await, "{id}");
    }
    assert_eq!(e.usage("p").await, Usage::default());
    e.assert_consistent().await;
}

#[tokio::test]
async fn removing_a_volume_not_deleting_leaves_its_deleting_snapshots_alone() {
    let e = env().await;
    let v = e.add_volume("v", "p", 1, VolumeStatus::Available).await;
    e.add_snapshot(&e.snapshot("s", &v, 0), SnapshotStatus::Deleting)
        .await;
    assert!(!e.store.remove_volume("v", "-").await.unwrap());
    assert_eq!(e.status_of("s").await, Some(SnapshotStatus::Deleting));
    e.assert_consistent().await;
}

#[tokio::test]
async fn a_volume_is_created_from_a_source_only_while_the_source_may_be_copied() {
    let e = env().await;
    let v = e.add_volume("v", "p", 1, VolumeStatus::Available).await;
    e.add_snapshot(&e.snapshot("s", &v, 0), SnapshotStatus::Creating)
        .await;
    let before = e.usage("p").await;

    let mut from_s = e.volume("from-s", "p", 1, VolumeStatus::Creating);
    from_s.snapshot_id = Some("s".into());
    let guard = SourceGuard::Snapshot("s".into());
    assert!(!e.insert_volume(&from_s, Some(&guard)).await);
    assert!(
        !e.insert_volume(&from_s, Some(&SourceGuard::Snapshot("nope".into())))
            .await
    );
    assert!(e.store.get_volume("from-s").await.unwrap().is_none());
    assert!(e.store.job_for("from-s").await.unwrap().is_none());
    assert_eq!(e.usage("p").await, before);
    e.set_snapshot_status("s", SnapshotStatus::Available).await;
    assert!(e.insert_volume(&from_s, Some(&guard)).await);

    // A volume: available or in-use only.
    let clone = e.volume("clone", "p", 1, VolumeStatus::Creating);
    let guard = SourceGuard::Volume("v".into());
    e.set_volume_status("v", VolumeStatus::Error).await;
    assert!(!e.insert_volume(&clone, Some(&guard)).await);
    e.set_volume_status("v", VolumeStatus::InUse).await;
    assert!(e.insert_volume(&clone, Some(&guard)).await);
    assert_eq!(e.usage("p").await.volumes, 3);
    e.assert_consistent().await;
}
