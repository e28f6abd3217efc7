//! Attachments, admin metadata and exports over a real SQLite database: the changes a volume
//! transition carries (applied with it, or not at all), attachments read back with every volume
//! read, exports kept with their JSON, and both going with their volume's row.

use std::sync::Arc;

use basalt_db::{Database, SqlBlockStore};
use basalt_domain::jobs::{Job, JobKind};
use basalt_domain::metadata::Metadata;
use basalt_domain::ports::{
    Export, ExportStore, JobStore, QuotaClaim, StoreError, Transition, VolumeStore, VolumeTypeStore,
};
use basalt_domain::volume::{
    AttachStatus, Attachment, SortDir, SortKey, Volume, VolumeQuery, VolumeStatus,
};
use basalt_domain::volume_type::VolumeType;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

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

/// A fixed instant plus `n` seconds (and a few microseconds, to see they survive).
fn at(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
        + chrono::Duration::seconds(n)
        + chrono::Duration::microseconds(123)
}

fn md(pairs: &[(&str, &str)]) -> Metadata {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn attachment(id: &str, instance: &str, mode: &str, n: i64) -> Attachment {
    Attachment {
        id: id.into(),
        instance_uuid: Some(instance.into()),
        attached_host: Some("compute-1".into()),
        mountpoint: Some("/dev/vdb".into()),
        mode: mode.into(),
        attached_at: Some(at(n)),
    }
}

impl Env {
    /// A volume already `available` (its create job done).
    async fn add_volume(&self, id: &str, created: i64) {
        let v = Volume {
            id: id.into(),
            project_id: "p".into(),
            user_id: "u".into(),
            name: None,
            description: None,
            size: 1,
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
            multiattach: true,
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
            created_at: at(created),
            updated_at: None,
        };
        let r = |name: &str, delta: i64| (name.to_string(), delta, -1);
        let claim = QuotaClaim {
            project_id: "p".into(),
            volume_type_id: self.type_id.clone(),
            volumes: r("volumes", 1),
            snapshots: r("snapshots", 0),
            gigabytes: r("gigabytes", 1),
            type_volumes: r("volumes___DEFAULT__", 1),
            type_snapshots: r("snapshots___DEFAULT__", 0),
            type_gigabytes: r("gigabytes___DEFAULT__", 1),
            pool: None,
        };
        let job = Job::new(
            id,
            JobKind::CreateVolume {
                backend: "file".into(),
                size_gib: 1,
                source: None,
            },
        );
        assert!(self
            .store
            .create_volume(&v, None, &claim, &job)
            .await
            .unwrap());
        self.store.finish(&job.id).await.unwrap();
    }

    /// `os-attach`'s transition: the volume goes `in-use`, `attached`, with the attachment.
    async fn attach(&self, id: &str, a: Attachment) -> bool {
        let mut t = Transition::new(
            id,
            &[VolumeStatus::Available, VolumeStatus::InUse],
            VolumeStatus::InUse,
        );
        t.changes.attach_status = Some(AttachStatus::Attached);
        t.changes.admin_metadata = vec![
            ("attached_mode".into(), Some(a.mode.clone())),
            ("readonly".into(), Some("False".into())),
        ];
        t.changes.add_attachment = Some(a);
        self.store.transition(&t).await.unwrap()
    }

    async fn get(&self, id: &str) -> Volume {
        self.store.get_volume(id).await.unwrap().unwrap()
    }

    fn export(&self, id: &str, volume_id: &str, key: &str, n: i64) -> Export {
        Export {
            id: id.into(),
            volume_id: volume_id.into(),
            connector_key: key.into(),
            protocol: "nbd".into(),
            read_only: n % 2 == 1,
            handle: json!({"export_name": format!("basalt-{id}"), "socket": null}),
            data: json!({
                "host": "127.0.0.1",
                "port": 10809,
                "name": format!("basalt-{id}"),
                "nested": {"list": [1, 2.5, "x", true]},
            }),
            created_at: at(n),
        }
    }

    /// Marks the volume `deleting` and removes its row, as a finished delete job does.
    async fn remove(&self, id: &str) {
        let t = Transition::new(id, VolumeStatus::ALL, VolumeStatus::Deleting);
        assert!(self.store.transition(&t).await.unwrap());
        assert!(self.store.remove_volume(id, "no-such-job").await.unwrap());
        assert!(self.store.get_volume(id).await.unwrap().is_none());
    }
}

fn all_volumes() -> VolumeQuery {
    VolumeQuery {
        project_id: None,
        filters: vec![],
        metadata: Metadata::new(),
        match_nothing: false,
        hide_migration_targets: false,
        sort: vec![(SortKey::CreatedAt, SortDir::Asc)],
        limit: 1000,
        offset: 0,
        marker: None,
    }
}

#[tokio::test]
async fn an_attach_records_the_attachment_status_and_admin_metadata() {
    let e = env().await;
    e.add_volume("v", 0).await;
    let a = attachment("a1", "inst-1", "ro", 5);
    assert!(e.attach("v", a.clone()).await);

    let v = e.get("v").await;
    assert_eq!(v.status, VolumeStatus::InUse);
    assert_eq!(v.attach_status, AttachStatus::Attached);
    assert_eq!(v.attachments, vec![a]);
    assert_eq!(v.attachments[0].mode, "ro");
    assert_eq!(v.attachments[0].attached_at, Some(at(5)));
    assert_eq!(
        v.admin_metadata,
        md(&[("attached_mode", "ro"), ("readonly", "False")])
    );
    // Admin metadata is not user metadata.
    assert!(v.metadata.is_empty());

    // An upsert replaces a value in place.
    let mut t = Transition::new("v", &[VolumeStatus::InUse], VolumeStatus::InUse);
    t.changes.admin_metadata = vec![("readonly".into(), Some("True".into()))];
    assert!(e.store.transition(&t).await.unwrap());
    assert_eq!(
        e.get("v").await.admin_metadata,
        md(&[("attached_mode", "ro"), ("readonly", "True")])
    );
}

#[tokio::test]
async fn changes_are_not_applied_when_the_status_does_not_match() {
    let e = env().await;
    e.add_volume("v", 0).await;
    let mut t = Transition::new("v", &[VolumeStatus::Attaching], VolumeStatus::InUse);
    t.changes.attach_status = Some(AttachStatus::Attached);
    t.changes.bootable = Some(true);
    t.changes.admin_metadata = vec![("attached_mode".into(), Some("rw".into()))];
    t.changes.add_attachment = Some(attachment("a1", "i", "rw", 1));
    assert!(!e.store.transition(&t).await.unwrap());

    let v = e.get("v").await;
    assert_eq!(v.status, VolumeStatus::Available);
    assert_eq!(v.attach_status, AttachStatus::Detached);
    assert!(!v.bootable);
    assert!(v.admin_metadata.is_empty());
    assert!(v.attachments.is_empty());
}

#[tokio::test]
async fn removing_an_unknown_attachment_fails_and_changes_nothing() {
    let e = env().await;
    e.add_volume("v", 0).await;
    e.add_volume("w", 1).await;
    assert!(e.attach("v", attachment("a1", "i1", "rw", 1)).await);
    assert!(e.attach("w", attachment("b1", "i2", "rw", 2)).await);
    let before = e.get("v").await;

    for unknown in ["nope", "b1"] {
        // "b1" exists, but belongs to another volume.
        let mut t = Transition::new("v", &[VolumeStatus::InUse], VolumeStatus::Available);
        t.changes.remove_attachment = Some(unknown.into());
        t.changes.attach_status = Some(AttachStatus::Detached);
        t.changes.admin_metadata = vec![("attached_mode".into(), None)];
        t.changes.bootable = Some(true);
        assert!(!e.store.transition(&t).await.unwrap(), "{unknown}");

        let v = e.get("v").await;
        assert_eq!(v.status, VolumeStatus::InUse);
        assert_eq!(v.attach_status, AttachStatus::Attached);
        assert_eq!(v.attachments, before.attachments);
        assert_eq!(v.admin_metadata, before.admin_metadata);
        assert!(!v.bootable);
        assert_eq!(v.updated_at, before.updated_at);
    }
    assert_eq!(e.get("w").await.attachments.len(), 1);
}

#[tokio::test]
async fn removing_the_last_attachment_detaches_the_volume() {
    let e = env().await;
    e.add_volume("v", 0).await;
    assert!(e.attach("v", attachment("a1", "i1", "rw", 1)).await);
    assert!(e.attach("v", attachment("a2", "i2", "ro", 2)).await);
    assert_eq!(
        e.get("v")
            .await
            .attachments
            .iter()
            .map(|a| a.id.as_str())
            .collect::<Vec<_>>(),
        ["a1", "a2"]
    );

    // Not the last: the volume stays in-use and attached.
    let mut t = Transition::new("v", &[VolumeStatus::InUse], VolumeStatus::InUse);
    t.changes.remove_attachment = Some("a1".into());
    assert!(e.store.transition(&t).await.unwrap());
    let v = e.get("v").await;
    assert_eq!(v.attachments, vec![attachment("a2", "i2", "ro", 2)]);
    assert_eq!(v.attach_status, AttachStatus::Attached);

    // The last one.
    let mut t = Transition::new("v", &[VolumeStatus::InUse], VolumeStatus::Available);
    t.changes.remove_attachment = Some("a2".into());
    t.changes.attach_status = Some(AttachStatus::Detached);
    t.changes.admin_metadata = vec![
        ("attached_mode".into(), None),
        // Removing a key that is not there is no error.
        ("never_set".into(), None),
    ];
    assert!(e.store.transition(&t).await.unwrap());
    let v = e.get("v").await;
    assert_eq!(v.status, VolumeStatus::Available);
    assert_eq!(v.attach_status, AttachStatus::Detached);
    assert!(v.attachments.is_empty());
    assert_eq!(v.admin_metadata, md(&[("readonly", "False")]));

    // Gone means gone: removing it again fails.
    let mut t = Transition::new("v", &[VolumeStatus::Available], VolumeStatus::Available);
    t.changes.remove_attachment = Some("a2".into());
    assert!(!e.store.transition(&t).await.unwrap());
}

#[tokio::test]
async fn bootable_changes_with_a_transition() {
    let e = env().await;
    e.add_volume("v", 0).await;
    for flag in [true, false, true] {
        let mut t = Transition::new("v", &[VolumeStatus::Available], VolumeStatus::Available);
        t.changes.bootable = Some(flag);
        assert!(e.store.transition(&t).await.unwrap());
        assert_eq!(e.get("v").await.bootable, flag);
    }
    // Left alone when not asked.
    let t = Transition::new("v", &[VolumeStatus::Available], VolumeStatus::Available);
    assert!(e.store.transition(&t).await.unwrap());
    assert!(e.get("v").await.bootable);
}

#[tokio::test]
async fn every_listed_volume_carries_its_own_attachments() {
    let e = env().await;
    for (i, id) in ["v1", "v2", "v3", "v4"].iter().enumerate() {
        e.add_volume(id, i as i64).await;
    }
    // Attached out of order, so that only the ordering by attached_at puts them right.
    assert!(e.attach("v1", attachment("v1-b", "i", "rw", 20)).await);
    assert!(e.attach("v1", attachment("v1-a", "i", "rw", 10)).await);
    assert!(e.attach("v2", attachment("v2-a", "j", "ro", 15)).await);
    assert!(e.attach("v3", attachment("v3-c", "k", "rw", 30)).await);
    assert!(e.attach("v3", attachment("v3-a", "k", "rw", 11)).await);
    assert!(e.attach("v3", attachment("v3-b", "k", "rw", 12)).await);

    let expected = |id: &str| -> Vec<&str> {
        match id {
            "v1" => vec!["v1-a", "v1-b"],
            "v2" => vec!["v2-a"],
            "v3" => vec!["v3-a", "v3-b", "v3-c"],
            _ => vec![],
        }
    };
    let check = |vs: Vec<Volume>, n: usize| {
        assert_eq!(vs.len(), n);
        for v in vs {
            let got: Vec<&str> = v.attachments.iter().map(|a| a.id.as_str()).collect();
            assert_eq!(got, expected(&v.id), "{}", v.id);
            if !got.is_empty() {
                assert_eq!(v.admin_metadata.get("readonly").unwrap(), "False");
            }
        }
    };
    check(e.store.list_volumes(&all_volumes()).await.unwrap(), 4);
    check(
        e.store
            .volumes_with_status(&[VolumeStatus::InUse])
            .await
            .unwrap(),
        3,
    );
    check(
        e.store
            .volumes_with_status(&[VolumeStatus::Available])
            .await
            .unwrap(),
        1,
    );
    let v2 = e.get("v2").await;
    assert_eq!(v2.attachments, vec![attachment("v2-a", "j", "ro", 15)]);
}

#[tokio::test]
async fn an_attachment_without_optional_fields_round_trips() {
    let e = env().await;
    e.add_volume("v", 0).await;
    let a = Attachment {
        id: "a".into(),
        instance_uuid: None,
        attached_host: None,
        mountpoint: None,
        mode: "rw".into(),
        attached_at: None,
    };
    assert!(e.attach("v", a.clone()).await);
    assert_eq!(e.get("v").await.attachments, vec![a]);
}

#[tokio::test]
async fn exports_round_trip() {
    let e = env().await;
    e.add_volume("v", 0).await;
    e.add_volume("w", 1).await;
    assert!(e.store.all_exports().await.unwrap().is_empty());
    assert!(e.store.exports_of_volume("v").await.unwrap().is_empty());

    let x2 = e.export("x2", "v", "compute-2", 2);
    let x1 = e.export("x1", "v", "compute-1", 1);
    let y = e.export("y", "w", "compute-1", 3);
    for x in [&x2, &x1, &y] {
        e.store.add_export(x).await.unwrap();
    }
    // Oldest first, JSON as it was given.
    assert_eq!(
        e.store.exports_of_volume("v").await.unwrap(),
        vec![x1.clone(), x2.clone()]
    );
    assert_eq!(
        e.store.exports_of_volume("w").await.unwrap(),
        vec![y.clone()]
    );
    assert_eq!(
        e.store.all_exports().await.unwrap(),
        vec![x1.clone(), x2.clone(), y.clone()]
    );
    assert!(x1.read_only && !x2.read_only);

    // The same id twice is a conflict; a volume that does not exist has nothing to export.
    assert!(matches!(
        e.store.add_export(&x1).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        e.store.add_export(&e.export("z", "gone", "c", 4)).await,
        Err(StoreError::NotFound(_))
    ));

    assert!(e.store.remove_export("x1").await.unwrap());
    assert!(!e.store.remove_export("x1").await.unwrap());
    assert_eq!(e.store.exports_of_volume("v").await.unwrap(), vec![x2]);
    assert_eq!(e.store.all_exports().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_removed_volume_takes_its_attachments_and_exports_with_it() {
    let e = env().await;
    e.add_volume("v", 0).await;
    e.add_volume("w", 1).await;
    assert!(e.attach("v", attachment("a1", "i", "rw", 1)).await);
    assert!(e.attach("w", attachment("b1", "i", "rw", 2)).await);
    e.store
        .add_export(&e.export("x", "v", "compute-1", 1))
        .await
        .unwrap();
    e.store
        .add_export(&e.export("y", "w", "compute-1", 2))
        .await
        .unwrap();

    e.remove("v").await;
    assert!(e.store.exports_of_volume("v").await.unwrap().is_empty());
    let left: Vec<String> = e
        .store
        .all_exports()
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(left, ["y"]);
    assert_eq!(e.get("w").await.attachments.len(), 1);

    // The attachment row went too: its id can be used again (on another volume).
    assert!(e.attach("w", attachment("a1", "i", "rw", 3)).await);
    assert_eq!(e.get("w").await.attachments.len(), 2);
}
