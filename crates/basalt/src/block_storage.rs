//! Wiring of the block-storage side: backends from the config, the domain services over the
//! database, and the job runner that connects them.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use basalt_db::Database;
use basalt_domain::quota::QuotaService;
use basalt_domain::volume::VolumeService;
use basalt_domain::{BackendPlacement, DomainSettings};
use basalt_storage::{BlockBackend, FileBackend};
use basalt_workers::{
    assemble_with_backups, Backends, BlockServices, JobRunner, Protocols, RunnerSettings,
    VolumeManager,
};

use crate::config::{resolve, Config};

pub struct BlockStorage {
    pub volumes: Arc<VolumeService>,
    pub snapshots: Arc<basalt_domain::snapshot::SnapshotService>,
    pub attach: Arc<basalt_domain::attach::AttachService>,
    pub quotas: Arc<QuotaService>,
    pub types: Arc<basalt_domain::volume_type::TypeService>,
    pub qos: Arc<basalt_domain::qos::QosService>,
    pub operator: Arc<basalt_domain::backends::OperatorService>,
    pub heartbeat: Arc<basalt_workers::Heartbeat>,
    pub transfers: Arc<basalt_domain::transfer::TransferService>,
    pub backups: Arc<basalt_domain::backup::BackupService>,
    pub runner: Arc<JobRunner>,
}

/// Opens (or creates) the backup repository and sweeps what a crash left in it, on a
/// blocking thread; none when backups are disabled.
pub async fn backup_repository(
    cfg: &Config,
    data_dir: &std::path::Path,
) -> anyhow::Result<Option<basalt_backup::Repository>> {
    if !cfg.backup.enabled {
        return Ok(None);
    }
    let path = resolve(data_dir, &cfg.backup.path);
    let chunk = cfg.backup.chunk_kib.max(1) * 1024;
    let repo = tokio::task::spawn_blocking(move || {
        let repo = basalt_backup::Repository::open_or_create(&path, chunk)?;
        let swept = repo.sweep()?;
        if swept.chunks_removed + swept.temp_files_removed > 0 {
            tracing::info!(
                chunks = swept.chunks_removed,
                temp_files = swept.temp_files_removed,
                "backup repository swept"
            );
        }
        Ok::<_, basalt_backup::BackupError>(repo)
    })
    .await?
    .context("opening the backup repository")?;
    tracing::info!(path = %repo.root().display(), chunk_bytes = repo.chunk_size(), "backup repository ready");
    Ok(Some(repo))
}

/// The volume service's host name: configured, else the machine's.
fn host(cfg: &Config) -> String {
    if !cfg.volumes.host.is_empty() {
        return cfg.volumes.host.clone();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "basalt".into())
}

pub fn backends(cfg: &Config, data_dir: &std::path::Path) -> anyhow::Result<Backends> {
    let mut out = Backends::new();
    for b in &cfg.backends {
        anyhow::ensure!(!b.name.is_empty(), "a [[backends]] entry has an empty name");
        anyhow::ensure!(
            !out.contains_key(&b.name),
            "backend name {} is used twice",
            b.name
        );
        let backend: Arc<dyn BlockBackend> = match b.driver.as_str() {
            "file" => Arc::new(
                FileBackend::new(
                    resolve(data_dir, &b.path),
                    b.over_subscription_ratio,
                    b.reserved_percentage,
                )
                .with_context(|| format!("backend {}", b.name))?
                .with_name(b.name.clone()),
            ),
            other => anyhow::bail!("backend {}: unknown driver {other:?}", b.name),
        };
        tracing::info!(backend = %b.name, capabilities = ?backend.capabilities(), "backend ready");
        out.insert(b.name.clone(), backend);
    }
    Ok(out)
}

pub async fn build(
    cfg: &Config,
    db: &Database,
    manager: Arc<VolumeManager>,
    protocols: Protocols,
    backups: Option<basalt_backup::Repository>,
) -> anyhow::Result<BlockStorage> {
    let settings = DomainSettings {
        host: host(cfg),
        default_availability_zone: cfg.volumes.default_availability_zone.clone(),
        backends: cfg
            .backends
            .iter()
            .map(|b| BackendPlacement {
                name: b.name.clone(),
                availability_zone: b.availability_zone.clone(),
            })
            .collect(),
        max_page_size: cfg.volumes.max_page_size.max(1),
    };
    let runner = RunnerSettings {
        workers: cfg.volumes.workers,
        ..RunnerSettings::default()
    };
    let BlockServices {
        volumes,
        snapshots,
        attach,
        quotas,
        types,
        qos,
        operator,
        heartbeat,
        transfers,
        backups,
        runner,
    } = assemble_with_backups(
        db.block_store(),
        manager,
        settings,
        runner,
        protocols,
        backups,
    );
    volumes.ensure_default_type().await?;
    // The pools must be known before the first create is scheduled.
    heartbeat.beat().await;
    Ok(BlockStorage {
        volumes,
        snapshots,
        attach,
        quotas,
        types,
        qos,
        operator,
        heartbeat,
        transfers,
        backups,
        runner,
    })
}

pub fn reconcile_every(cfg: &Config) -> Duration {
    Duration::from_secs(cfg.volumes.reconcile_seconds.max(1))
}
