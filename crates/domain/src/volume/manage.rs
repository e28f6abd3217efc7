//! `os-volume-manage` and `os-snapshot-manage` listings, and adopting a backend file as a new
//! volume: the request is checked against what the backend holds now (missing: 404, already
//! a volume's or snapshot's: 400), then the volume row (`managing`, its quota claimed) and the
//! job that renames the file into place are written in one transaction.

use super::model::{NewVolume, Volume};
use super::service::VolumeService;
use super::status::VolumeStatus;
use crate::error::DomainError;
use crate::jobs::{Job, JobKind};
use crate::manage::{self, BackendFile, Manageable, ManageableQuery, ALREADY_MANAGED};
use crate::metadata::Metadata;
use crate::ports::StoreError;
use crate::snapshot::{Snapshot, SnapshotStatus};
use crate::Caller;

/// File prefixes of the file backend (Cinder's name templates).
const VOLUME_PREFIX: &str = "volume-";
const SNAPSHOT_PREFIX: &str = "snapshot-";

/// `POST /os-volume-manage`, checked for shape.
#[derive(Debug, Clone, Default)]
pub struct ManageVolume {
    /// `host@backend#pool` or `host@backend`.
    pub host: String,
    /// The file's name (`ref: {"source-name": ...}`).
    pub source_name: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Name or id.
    pub volume_type: Option<String>,
    pub availability_zone: Option<String>,
    pub bootable: bool,
    pub metadata: Metadata,
}

/// `POST /os-snapshot-manage`, checked for shape.
#[derive(Debug, Clone, Default)]
pub struct ManageSnapshot {
    pub volume_id: String,
    /// The file's name (`ref: {"source-name": ...}`).
    pub source_name: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub metadata: Metadata,
}

impl VolumeService {
    /// The configured backend a `host` parameter names, else Cinder's 400.
    fn backend_named_by(&self, host: &str) -> Result<String, DomainError> {
        let not_found = || DomainError::BadRequest(format!("Host '{host}' not found"));
        let service = host.split('#').next().unwrap_or_default();
        let (node, backend) = service.split_once('@').ok_or_else(not_found)?;
        if node != self.settings.host || !self.settings.backends.iter().any(|b| b.name == backend) {
            return Err(not_found());
        }
        Ok(backend.to_owned())
    }

    /// Every file of the backend `host` names.
    async fn backend_files(&self, host: &str) -> Result<(String, Vec<BackendFile>), DomainError> {
        let backend = self.backend_named_by(host)?;
        let Some((_, inventory)) = &self.manage else {
            return Err(DomainError::BadRequest(format!("Host '{host}' not found")));
        };
        match inventory.files(&backend).await {
            Ok(Some(files)) => Ok((backend, files)),
            Ok(None) => Err(DomainError::BadRequest(format!("Host '{host}' not found"))),
            Err(reason) => Err(DomainError::Storage(reason)),
        }
    }

    /// The volume a backend file holds, if it is a live volume's: whatever backend the row
    /// names, since a migration's copy on another backend is the volume's until it ends.
    async fn volume_of_file(&self, file: &str) -> Result<Option<Volume>, DomainError> {
        let Some(id) = file.strip_prefix(VOLUME_PREFIX) else {
            return Ok(None);
        };
        Ok(self.store.get_volume(id).await?)
    }

    /// `GET /os-volume-manage` (admin): the backend's files but snapshots', each with whether
    /// it may be adopted.
    pub async fn manageable_volumes(
        &self,
        caller: &Caller,
        q: &ManageableQuery,
    ) -> Result<Vec<Manageable>, DomainError> {
        if !caller.is_admin {
            return Err(DomainError::Forbidden("volume_extension:list_manageable"));
        }
        let (_, files) = self.backend_files(&q.host).await?;
        let mut entries = Vec::new();
        for f in files
            .iter()
            .filter(|f| !f.name.starts_with(SNAPSHOT_PREFIX))
        {
            let owner = self.volume_of_file(&f.name).await?;
            entries.push(Manageable {
                reference: f.name.clone(),
                size: manage::gib_rounded_up(f.size_bytes),
                safe_to_manage: owner.is_none(),
                reason_not_safe: owner.as_ref().map(|_| ALREADY_MANAGED.to_owned()),
                cinder_id: owner.map(|v| v.id),
                source_reference: None,
            });
        }
        manage::page(entries, q)
    }

    /// `GET /os-snapshot-manage` (admin): the backend's snapshot files.
    pub async fn manageable_snapshots(
        &self,
        caller: &Caller,
        q: &ManageableQuery,
    ) -> Result<Vec<Manageable>, DomainError> {
        if !caller.is_admin {
            return Err(DomainError::Forbidden("snapshot_extension:list_manageable"));
        }
        let (backend, files) = self.backend_files(&q.host).await?;
        let mut entries = Vec::new();
        for f in &files {
            let Some(id) = f.name.strip_prefix(SNAPSHOT_PREFIX) else {
                continue;
            };
            let owner = self
                .snapshots
                .get_snapshot(id)
                .await?
                .filter(|s| s.backend() == Some(backend.as_str()));
            // What a backup reads from (and, on reflink, keeps as its next base).
            let backup_base = id.starts_with("backup-");
            entries.push(Manageable {
                reference: f.name.clone(),
                size: manage::gib_rounded_up(f.size_bytes),
                safe_to_manage: owner.is_none() && !backup_base,
                reason_not_safe: match (&owner, backup_base) {
                    (Some(_), _) => Some(ALREADY_MANAGED.to_owned()),
                    (None, true) => Some("in use by a backup".to_owned()),
                    (None, false) => None,
                },
                source_reference: owner
                    .as_ref()
                    .map(|s| format!("{VOLUME_PREFIX}{}", s.volume_id)),
                cinder_id: owner.map(|s| s.id),
            });
        }
        manage::page(entries, q)
    }

    /// `POST /os-volume-manage` (admin): adopts a file of the backend as a new volume of the
    /// caller's project, sized to whole GiB (the file grows to it), its quota claimed.
    pub async fn manage_volume(
        &self,
        caller: &Caller,
        req: ManageVolume,
    ) -> Result<Volume, DomainError> {
        if !caller.is_admin {
            return Err(DomainError::Forbidden("volume_extension:volume_manage"));
        }
        let (backend, files) = self.backend_files(&req.host).await?;
        let src = &req.source_name;
        let file = self.adoptable(&backend, &files, src, "volume").await?;
        let zone = self
            .settings
            .backends
            .iter()
            .find(|b| b.name == backend)
            .map(|b| b.availability_zone.clone())
            .unwrap_or_else(|| self.settings.default_availability_zone.clone());
        if req.availability_zone.as_ref().is_some_and(|z| *z != zone) {
            return Err(DomainError::InvalidInput(format!(
                "Availability zone '{}' is not the zone of host '{}' ({zone}).",
                req.availability_zone.unwrap_or_default(),
                req.host
            )));
        }
        let ty = self
            .resolve_type(req.volume_type.as_deref())
            .await
            .map_err(|e| match e {
                DomainError::NotFound(m) => DomainError::InvalidInput(m),
                other => other,
            })?;
        let size = manage::gib_rounded_up(file.size_bytes);
        let claim = self
            .quotas
            .claim(&caller.project_id, &ty, 1, 0, size, Some(size))
            .await?;
        let asked = NewVolume {
            name: req.name.clone(),
            description: req.description.clone(),
            metadata: req.metadata.clone(),
            ..NewVolume::default()
        };
        let mut volume = self.new_row(caller, &asked, &ty, size, zone);
        volume.status = VolumeStatus::Managing;
        volume.bootable = req.bootable;
        volume.host = Some(self.pool_of(&backend));
        let job = Job::new(
            &volume.id,
            JobKind::ManageVolume {
                backend,
                source_name: src.clone(),
                size_gib: size,
            },
        );
        self.store
            .create_volume(&volume, None, &claim, &job)
            .await
            .map_err(DomainError::from_claim)?;
        self.job_signal.notify_waiters();
        tracing::info!(volume = %volume.id, source = %src, "adopting a backend file");
        Ok(volume)
    }

    /// The file `src` of `backend` if it exists and is no live volume's or snapshot's.
    async fn adoptable<'a>(
        &self,
        backend: &str,
        files: &'a [BackendFile],
        src: &str,
        what: &str,
    ) -> Result<&'a BackendFile, DomainError> {
        let file = files.iter().find(|f| f.name == src).ok_or_else(|| {
            DomainError::NotFound(format!(
                "Manage existing {what} failed due to invalid backend reference \
                 {{'source-name': '{src}'}}: no such file on backend '{backend}'."
            ))
        })?;
        if src
            .strip_prefix(SNAPSHOT_PREFIX)
            .is_some_and(|id| id.starts_with("backup-"))
        {
            return Err(DomainError::BadRequest(format!(
                "Unable to manage existing {what}. {src} is in use by a backup."
            )));
        }
        let snapshot_owner = match src.strip_prefix(SNAPSHOT_PREFIX) {
            Some(id) => self
                .snapshots
                .get_snapshot(id)
                .await?
                .is_some_and(|s| s.backend() == Some(backend)),
            None => false,
        };
        if snapshot_owner || self.volume_of_file(src).await?.is_some() {
            return Err(DomainError::BadRequest(format!(
                "Unable to manage existing {what}. {} {src} already managed.",
                if !snapshot_owner {
                    "Volume"
                } else {
                    "Snapshot"
                }
            )));
        }
        Ok(file)
    }

    /// `POST /os-snapshot-manage` (admin): adopts a file of the volume's backend as a new
    /// snapshot of the volume, charged to the volume's project as any snapshot.
    pub async fn manage_snapshot(
        &self,
        caller: &Caller,
        req: ManageSnapshot,
    ) -> Result<Snapshot, DomainError> {
        if !caller.is_admin {
            return Err(DomainError::Forbidden("snapshot_extension:snapshot_manage"));
        }
        let v = self.get(caller, &req.volume_id).await?;
        let backend = v.backend().map(str::to_owned).ok_or_else(|| {
            DomainError::InvalidVolume(format!(
                "Volume {} has not been scheduled to any host.",
                v.id
            ))
        })?;
        let host = v.host.clone().unwrap_or_default();
        let (_, files) = self.backend_files(&host).await?;
        let file = self
            .adoptable(&backend, &files, &req.source_name, "snapshot")
            .await?;
        let size = manage::gib_rounded_up(file.size_bytes);
        let ty = self.resolve_type(Some(&v.volume_type_id)).await?;
        let claim = self
            .quotas
            .claim(&v.project_id, &ty, 0, 1, size, None)
            .await?;
        let snapshot = Snapshot {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: v.project_id.clone(),
            user_id: caller.user_id.clone(),
            volume_id: v.id.clone(),
            name: req.name,
            description: req.description,
            size,
            status: SnapshotStatus::Creating,
            progress: "0%".into(),
            volume_type_id: v.volume_type_id.clone(),
            host: v.host.clone(),
            use_quota: true,
            status_reason: None,
            metadata: req.metadata,
            created_at: chrono::Utc::now(),
            updated_at: None,
        };
        let job = Job::new(
            &snapshot.id,
            JobKind::ManageSnapshot {
                backend,
                source_name: req.source_name.clone(),
                size_gib: size,
            },
        );
        let from = [VolumeStatus::Available, VolumeStatus::InUse];
        let written = self
            .snapshots
            .create_snapshot(&snapshot, &from, &claim, &job)
            .await
            .map_err(|e| match e {
                StoreError::QuotaExceeded(q) => DomainError::QuotaExceeded(q),
                other => other.into(),
            })?;
        if !written {
            let now = self.get(caller, &v.id).await?;
            return Err(DomainError::InvalidVolume(format!(
                "Volume {} status must be available or in-use and not migrating, but current \
                 status is: {}.",
                v.id,
                now.status.shown()
            )));
        }
        self.job_signal.notify_waiters();
        tracing::info!(snapshot = %snapshot.id, source = %req.source_name, "adopting a backend file");
        Ok(snapshot)
    }
}
