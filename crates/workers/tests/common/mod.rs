//! The real thing below HTTP, for the lifecycle tests: domain services over a fresh SQLite
//! store, jobs run by the real runner on a real file backend in a temporary directory.

#![allow(dead_code)] // each test binary uses a different subset

use std::sync::Arc;

use basalt_db::Database;
use basalt_domain::ports::QuotaStore;
use basalt_domain::quota::QuotaService;
use basalt_domain::snapshot::SnapshotService;
use basalt_domain::volume::{NewVolume, VolumeService};
use basalt_domain::{BackendPlacement, Caller, DomainSettings};
use basalt_storage::{BlockBackend, FileBackend};
use basalt_workers::{
    assemble, Backends, BlockServices, JobRunner, Protocols, RunnerSettings, VolumeManager,
};

pub struct World {
    pub store: Arc<basalt_db::SqlBlockStore>,
    pub volumes: Arc<VolumeService>,
    pub snapshots: Arc<SnapshotService>,
    pub attach: Arc<basalt_domain::attach::AttachService>,
    pub quotas: Arc<QuotaService>,
    pub runner: Arc<JobRunner>,
    pub backend: Arc<FileBackend>,
    _dir: tempfile::TempDir,
}

pub async fn world_with(ratio: f64) -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&format!("sqlite://{}/t.db", dir.path().display()))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let store = db.block_store();
    let backend = Arc::new(FileBackend::new(dir.path().join("volumes"), ratio, 0).unwrap());
    let dynb: Arc<dyn BlockBackend> = backend.clone();
    let backends: Backends = [("file".to_string(), dynb)].into_iter().collect();
    let settings = DomainSettings {
        host: "h".into(),
        default_availability_zone: "nova".into(),
        backends: vec![BackendPlacement {
            name: "file".into(),
            availability_zone: "nova".into(),
        }],
        max_page_size: 1000,
    };
    let BlockServices {
        volumes,
        snapshots,
        attach,
        quotas,
        runner,
        heartbeat,
        ..
    } = assemble(
        store,
        Arc::new(VolumeManager::new(backends)),
        settings,
        RunnerSettings::default(),
        Protocols::new(),
    );
    volumes.ensure_default_type().await.unwrap();
    heartbeat.beat().await;
    World {
        store: db.block_store(),
        volumes,
        snapshots,
        attach,
        quotas,
        runner,
        backend,
        _dir: dir,
    }
}

impl World {
    /// The usage counters the triggers keep agree with a recount from the rows.
    pub async fn assert_usage_consistent(&self) {
        assert_eq!(
            self.store.recount_usage().await.unwrap(),
            0,
            "usage counters drifted"
        );
    }
}

pub async fn world() -> World {
    world_with(20.0).await
}

pub fn caller() -> Caller {
    Caller {
        user_id: "u1".into(),
        project_id: "p1".into(),
        is_admin: false,
    }
}

pub fn admin() -> Caller {
    Caller {
        user_id: "admin".into(),
        project_id: "adminp".into(),
        is_admin: true,
    }
}

pub fn sized(n: i64) -> NewVolume {
    NewVolume {
        size: Some(n),
        ..Default::default()
    }
}
