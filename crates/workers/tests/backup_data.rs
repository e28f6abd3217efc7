//! Backups carry the data: random data with holes written through the volume's device,
//! a full backup, ~1 % of the chunks changed, an incremental, and restores of each to new
//! volumes compared byte for byte with what the volume held at that time; a corrupt chunk
//! fails the restore (volume `error_restoring`); a record exported from one data directory
//! is imported into another and restores there.

use std::collections::HashMap;
use std::sync::Arc;

use basalt_backup::Repository;
use basalt_db::Database;
use basalt_domain::backup::{BackupService, BackupStatus, NewBackup, RestoreRequest};
use basalt_domain::volume::{NewVolume, VolumeService, VolumeStatus};
use basalt_domain::{BackendPlacement, Caller, DomainSettings};
use basalt_storage::{BlockBackend, FileBackend};
use basalt_workers::{assemble_with_backups, Backends, BlockServices, JobRunner, RunnerSettings};
use rand::{Rng, SeedableRng};

#[path = "../../storage/tests/support/loop_mount.rs"]
mod loop_mount;

const MIB: usize = 1 << 20;
const VOLUME_MIB: usize = 1024;

struct World {
    volumes: Arc<VolumeService>,
    backups: Arc<BackupService>,
    runner: Arc<JobRunner>,
    backend: Arc<FileBackend>,
    store: Arc<basalt_db::SqlBlockStore>,
    repo_dir: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    world_on(None).await
}

/// A world whose volumes live in `volumes` (default: beside its database).
async fn world_on(volumes: Option<std::path::PathBuf>) -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&format!("sqlite://{}/t.db", dir.path().display()))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let volumes = volumes.unwrap_or_else(|| dir.path().join("volumes"));
    let backend = Arc::new(FileBackend::new(volumes, 20.0, 0).unwrap());
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
    let repo_dir = dir.path().join("backups");
    let repo = Repository::open_or_create(&repo_dir, 1 << 20).unwrap();
    let store = db.block_store();
    let BlockServices {
        volumes,
        backups,
        runner,
        heartbeat,
        ..
    } = assemble_with_backups(
        store.clone(),
        Arc::new(basalt_workers::VolumeManager::new(backends)),
        settings,
        RunnerSettings::default(),
        basalt_workers::Protocols::new(),
        Some(repo),
    );
    volumes.ensure_default_type().await.unwrap();
    heartbeat.beat().await;
    World {
        volumes,
        backups,
        runner,
        backend,
        store,
        repo_dir,
        _dir: dir,
    }
}

fn admin() -> Caller {
    Caller {
        user_id: "admin".into(),
        project_id: "adminp".into(),
        is_admin: true,
    }
}

/// What the volume holds: the chunks with data, by index (the rest is zeros).
type Model = HashMap<usize, Vec<u8>>;

impl World {
    async fn volume(&self, gib: i64) -> String {
        let v = self
            .volumes
            .create(
                &admin(),
                NewVolume {
                    size: Some(gib),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        self.runner.run_pending().await;
        v.id
    }

    async fn write(&self, id: &str, model: &mut Model, offset: usize, data: &[u8]) {
        let dev = self.backend.open(id).await.unwrap();
        dev.write_at(data, offset as u64).unwrap();
        dev.flush().unwrap();
        let mut done = 0;
        while done < data.len() {
            let pos = offset + done;
            let at = pos % MIB;
            let n = (MIB - at).min(data.len() - done);
            let chunk = model.entry(pos / MIB).or_insert_with(|| vec![0; MIB]);
            chunk[at..at + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
    }

    /// A 1 GiB volume with random data in 2..10 MiB and 500..504 MiB, holes elsewhere.
    async fn volume_with_two_extents(&self, rng: &mut rand::rngs::StdRng) -> (String, Model) {
        let vol = self.volume(1).await;
        let mut model = Model::new();
        self.write(&vol, &mut model, 2 * MIB, &random_bytes(rng, 8 * MIB))
            .await;
        self.write(&vol, &mut model, 500 * MIB, &random_bytes(rng, 4 * MIB))
            .await;
        (vol, model)
    }

    async fn backup(&self, volume_id: &str, incremental: bool) -> String {
        let b = self
            .backups
            .create(
                &admin(),
                NewBackup {
                    volume_id: volume_id.into(),
                    incremental,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        self.runner.run_pending().await;
        let b = self.backups.get(&admin(), &b.id).await.unwrap();
        assert_eq!(b.status, BackupStatus::Available, "{:?}", b.fail_reason);
        b.id
    }

    async fn restore_new(&self, backup_id: &str) -> String {
        let r = self
            .backups
            .restore(&admin(), backup_id, RestoreRequest::default())
            .await
            .unwrap();
        self.runner.run_pending().await;
        r.volume_id
    }

    async fn status(&self, id: &str) -> VolumeStatus {
        self.volumes.get(&admin(), id).await.unwrap().status
    }

    async fn assert_holds(&self, id: &str, model: &Model) {
        assert_eq!(self.status(id).await, VolumeStatus::Available);
        let dev = self.backend.open(id).await.unwrap();
        let zeros = vec![0u8; MIB];
        let mut buf = vec![0u8; MIB];
        for i in 0..VOLUME_MIB {
            dev.read_at(&mut buf, (i * MIB) as u64).unwrap();
            let want = model.get(&i).map_or(&zeros[..], |c| &c[..]);
            assert!(buf == want, "chunk {i} of {id} differs");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_restore_what_the_volume_held_and_travel_between_repositories() {
    let w = world().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let vol = w.volume(1).await;
    let mut model = Model::new();
    // 24 MiB of random data in runs of 1 to 3 MiB with holes between, and a partial chunk.
    let mut at = 3 * MIB;
    while model.len() < 24 {
        let len = rng.gen_range(1..=3) * MIB - rng.gen_range(0..2) * 4096;
        let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        w.write(&vol, &mut model, at, &data).await;
        at += len + rng.gen_range(5..40) * MIB;
    }
    let full = w.backup(&vol, false).await;
    let at_full = model.clone();

    // ~1 % of the chunks change: 10 writes of 4 KiB, in data and in holes.
    for _ in 0..10 {
        let off = rng.gen_range(0..VOLUME_MIB * MIB / 4096) * 4096;
        let data: Vec<u8> = (0..4096).map(|_| rng.gen()).collect();
        w.write(&vol, &mut model, off, &data).await;
    }
    let inc = w.backup(&vol, true).await;
    let b = w.backups.get(&admin(), &inc).await.unwrap();
    assert_eq!(b.parent_id.as_deref(), Some(full.as_str()));
    assert!(b.object_count > 24, "{}", b.object_count);

    let from_full = w.restore_new(&full).await;
    w.assert_holds(&from_full, &at_full).await;
    let from_inc = w.restore_new(&inc).await;
    w.assert_holds(&from_inc, &model).await;

    // The record travels: another data directory whose repository shares the chunks.
    let (service, url) = w.backups.export_record(&admin(), &inc).await.unwrap();
    let other = world().await;
    let err = other
        .backups
        .import_record(&admin(), &service, &url)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("chunks"), "{err}");
    copy_dir(&w.repo_dir.join("chunks"), &other.repo_dir.join("chunks"));
    let imported = other
        .backups
        .import_record(&admin(), &service, &url)
        .await
        .unwrap();
    assert_eq!(imported.id, inc);
    let there = other.restore_new(&inc).await;
    other.assert_holds(&there, &model).await;

    // A corrupt chunk fails the restore and says so; the volume is error_restoring.
    let victim = first_chunk_file(&w.repo_dir.join("chunks"));
    let mut bytes = std::fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&victim, bytes).unwrap();
    let broken = w.restore_new(&full).await;
    let v = w.volumes.get(&admin(), &broken).await.unwrap();
    assert_eq!(v.status, VolumeStatus::ErrorRestoring);
    assert!(
        v.status_reason
            .as_deref()
            .unwrap_or_default()
            .contains("corrupt"),
        "{:?}",
        v.status_reason
    );
    let b = w.backups.get(&admin(), &full).await.unwrap();
    assert_eq!(b.status, BackupStatus::Available);
}

/// Cinder reads an available volume in place: where a snapshot would copy the data first
/// (no shared blocks), a backup reads the volume itself while it shows `backing-up`, unless
/// an export made before the backup could still write it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_available_volume_is_read_in_place_unless_an_export_could_write_it() {
    let w = world().await;
    if w.backend.capabilities().reflink {
        return; // snapshots cost nothing there, and are kept as the next base
    }
    let vol = w.volume(1).await;
    let mut model = Model::new();
    w.write(&vol, &mut model, 5 * MIB + 17, &[7u8; 3 * MIB])
        .await;
    // Only a backup read in place becomes the base that tracked writes count from.
    let counts_from = |backup: String| {
        let (backend, vol) = (w.backend.clone(), vol.clone());
        async move {
            let b = backend.changes_since(&vol, Some(&backup)).await.unwrap();
            b.changed.is_some()
        }
    };
    let full = w.backup(&vol, false).await;
    assert!(
        counts_from(full.clone()).await,
        "the volume was read in place"
    );
    assert_eq!(w.status(&vol).await, VolumeStatus::Available);
    let at_full = model.clone();

    w.write(&vol, &mut model, 600 * MIB, &[9u8; MIB]).await;
    use basalt_domain::ports::{Export, ExportStore};
    w.store
        .add_export(&Export {
            id: "e1".into(),
            volume_id: vol.clone(),
            connector_key: "compute-1".into(),
            protocol: "nbd".into(),
            read_only: false,
            handle: serde_json::json!({}),
            data: serde_json::json!({}),
            created_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    let inc = w.backup(&vol, true).await;
    assert!(
        !counts_from(inc.clone()).await,
        "an exported volume is read through a snapshot"
    );
    let from_full = w.restore_new(&full).await;
    w.assert_holds(&from_full, &at_full).await;
    let from_inc = w.restore_new(&inc).await;
    w.assert_holds(&from_inc, &model).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_in_place_an_incremental_reads_only_the_writes_tracked_since_its_parent() {
    let w = world().await;
    if w.backend.capabilities().reflink {
        return; // block maps of the kept snapshots say what changed there
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let (vol, mut model) = w.volume_with_two_extents(&mut rng).await;
    let mut random = |len: usize| random_bytes(&mut rng, len);
    let full = w.backup(&vol, false).await;
    let at_full = model.clone();

    // 4 KiB inside the data and 64 KiB in a hole, through the volume's devices.
    w.write(&vol, &mut model, 3 * MIB + 8192, &random(4096))
        .await;
    w.write(&vol, &mut model, 700 * MIB, &random(64 << 10))
        .await;
    let tracked = w.backend.changes_since(&vol, Some(&full)).await.unwrap();
    assert_eq!(
        tracked.changed,
        Some(vec![
            (3 * MIB) as u64..(4 * MIB) as u64,
            (700 * MIB) as u64..(701 * MIB) as u64
        ]),
        "the incremental will read only the two granules written"
    );
    let inc = w.backup(&vol, true).await;
    let at_inc = model.clone();

    // A writer that bypasses the devices (a local attach, an operator) is noticed.
    let path = w.backend.volume_path(&vol).unwrap();
    let data = random(MIB);
    std::os::unix::fs::FileExt::write_all_at(
        &std::fs::OpenOptions::new().write(true).open(&path).unwrap(),
        &data,
        (900 * MIB) as u64,
    )
    .unwrap();
    model.insert(900, data);
    let untrusted = w.backend.changes_since(&vol, Some(&inc)).await.unwrap();
    assert_eq!(untrusted.changed, None, "the whole volume is read");
    let inc2 = w.backup(&vol, true).await;

    for (backup, want) in [(full, at_full), (inc, at_inc), (inc2, model)] {
        let restored = w.restore_new(&backup).await;
        w.assert_holds(&restored, &want).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_reflink_backend_an_incremental_reads_only_what_changed_since_its_parent() {
    let Some(mount) = loop_mount::mount_or_skip() else {
        return;
    };
    let w = world_on(Some(mount.mountpoint.join("volumes"))).await;
    let base_of = |backup: &str| format!("backup-{backup}");
    let kept = |backup: String| {
        let backend = w.backend.clone();
        async move { backend.snapshot_exists(&base_of(&backup)).await.unwrap() }
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let (vol, mut model) = w.volume_with_two_extents(&mut rng).await;
    let mut random = |len: usize| random_bytes(&mut rng, len);
    let full = w.backup(&vol, false).await;
    assert!(
        kept(full.clone()).await,
        "the snapshot read is kept as the next base"
    );
    let at_full = model.clone();

    // 4 KiB inside the data and 64 KiB in a hole.
    w.write(&vol, &mut model, 3 * MIB + 8192, &random(4096))
        .await;
    w.write(&vol, &mut model, 700 * MIB, &random(64 << 10))
        .await;
    // What the incremental will be told changed: those two writes and nothing else.
    w.backend.create_snapshot(&vol, "probe").await.unwrap();
    let changed = w
        .backend
        .changed_ranges(&base_of(&full), "probe")
        .await
        .unwrap()
        .expect("a reflink backend knows what changed");
    w.backend.delete_snapshot("probe").await.unwrap();
    let covers = |at: usize| changed.iter().any(|r| r.contains(&(at as u64)));
    let total: u64 = changed.iter().map(|r| r.end - r.start).sum();
    assert!(covers(3 * MIB + 8192) && covers(700 * MIB), "{changed:?}");
    assert!(!covers(2 * MIB) && !covers(501 * MIB), "{changed:?}");
    assert!(total <= 2 * MIB as u64, "{total} bytes: {changed:?}");

    let inc = w.backup(&vol, true).await;
    assert!(
        !kept(full.clone()).await && kept(inc.clone()).await,
        "the base moves on"
    );
    let from_full = w.restore_new(&full).await;
    w.assert_holds(&from_full, &at_full).await;
    let from_inc = w.restore_new(&inc).await;
    w.assert_holds(&from_inc, &model).await;

    // A full backup supersedes the base too; deleting a backup or the volume drops it.
    let again = w.backup(&vol, false).await;
    assert!(!kept(inc.clone()).await && kept(again.clone()).await);
    w.backups.delete(&admin(), &again).await.unwrap();
    w.runner.run_pending().await;
    assert!(
        !kept(again.clone()).await,
        "a deleted backup leaves no snapshot"
    );
    let last = w.backup(&vol, false).await;
    assert!(kept(last.clone()).await);
    w.volumes.delete(&admin(), &vol, false).await.unwrap();
    w.runner.run_pending().await;
    assert!(
        !kept(last).await,
        "a deleted volume leaves no snapshot of its backups"
    );
}

fn random_bytes(rng: &mut rand::rngs::StdRng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.gen()).collect()
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn first_chunk_file(dir: &std::path::Path) -> std::path::PathBuf {
    let mut shards: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    shards.sort();
    for s in shards {
        let mut files: Vec<_> = std::fs::read_dir(&s)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        if let Some(f) = files.into_iter().next() {
            return f;
        }
    }
    panic!("no chunk in {}", dir.display());
}
