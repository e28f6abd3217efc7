//! Restores: into an existing `available` volume at least the backup's size, or into a new
//! volume of the backup's size (quota-checked like a volume create). The backup goes
//! `restoring`, the volume `restoring-backup`, and the job is written in the same
//! transaction (with the new volume's row and its claim).

use chrono::Utc;

use super::model::{Backup, RestoreAccepted, RestoreRequest};
use super::service::BackupService;
use super::status::BackupStatus;
use super::store::{BackupTransition, StatusChange};
use crate::error::DomainError;
use crate::jobs::{Job, JobKind};
use crate::metadata::Metadata;
use crate::volume::{AttachStatus, Volume, VolumeStatus};
use crate::volume_type::DEFAULT_TYPE_NAME;
use crate::Caller;

impl BackupService {
    pub async fn restore(
        &self,
        caller: &Caller,
        id: &str,
        req: RestoreRequest,
    ) -> Result<RestoreAccepted, DomainError> {
        let b = self.get(caller, id).await?;
        if b.status != BackupStatus::Available {
            return Err(DomainError::InvalidBackup(
                "Backup status must be available".into(),
            ));
        }
        if b.size <= 0 {
            return Err(DomainError::InvalidBackup(
                "Backup to be restored has invalid size".into(),
            ));
        }
        self.records()?;
        let mut t = BackupTransition::new(id, &[BackupStatus::Available], BackupStatus::Restoring);
        let (volume_id, volume_name, backend, new_volume_gib) = match &req.volume_id {
            Some(vid) => {
                let v = crate::volume::service::visible_volume(self.volumes.as_ref(), caller, vid)
                    .await?;
                Self::check_target(&v, &b)?;
                let backend = v.backend().unwrap_or_default().to_owned();
                t.volume = Some(StatusChange::required(
                    &v.id,
                    &[VolumeStatus::Available],
                    VolumeStatus::RestoringBackup,
                ));
                (v.id.clone(), v.name.clone(), backend, None)
            }
            None => {
                let v = self.new_volume(caller, &b, req.name.clone()).await?;
                let ty = self
                    .types
                    .get_type(&v.volume_type_id)
                    .await?
                    .ok_or_else(|| DomainError::type_not_found(&v.volume_type_id))?;
                let claim = self
                    .quotas
                    .claim(&caller.project_id, &ty, 1, 0, v.size, Some(v.size))
                    .await?;
                let backend = v.backend().unwrap_or_default().to_owned();
                let out = (v.id.clone(), v.name.clone(), backend, Some(v.size));
                t.new_volume = Some((v, claim));
                out
            }
        };
        t.restore_volume_id = Some(Some(volume_id.clone()));
        t.enqueue = Some(Job::new(
            id,
            JobKind::RestoreBackup {
                backend,
                volume_id: volume_id.clone(),
                new_volume_gib,
            },
        ));
        if !self
            .store
            .backup_transition(&t)
            .await
            .map_err(DomainError::from_claim)?
        {
            // Answer for whichever of the two moved.
            let now = self.get(caller, id).await?;
            if now.status != BackupStatus::Available {
                return Err(DomainError::InvalidBackup(
                    "Backup status must be available".into(),
                ));
            }
            return Err(DomainError::InvalidVolume(
                "Volume to be restored to must be available".into(),
            ));
        }
        self.job_signal.notify_waiters();
        Ok(RestoreAccepted {
            backup_id: id.to_owned(),
            volume_id,
            volume_name,
        })
    }

    /// Cinder's checks of an existing target, in its order.
    fn check_target(v: &Volume, b: &Backup) -> Result<(), DomainError> {
        if v.status != VolumeStatus::Available {
            return Err(DomainError::InvalidVolume(
                "Volume to be restored to must be available".into(),
            ));
        }
        if b.size > v.size {
            return Err(DomainError::InvalidVolume(format!(
                "volume size {} is too small to restore backup of size {}.",
                v.size, b.size
            )));
        }
        if v.backend().is_none() {
            return Err(DomainError::InvalidVolume(format!(
                "Volume {} has not been scheduled to any host.",
                v.id
            )));
        }
        Ok(())
    }

    /// The row of a new volume for a restore: the backup's size, the default type, on the
    /// backend the backup's volume lived on when this host still has it.
    async fn new_volume(
        &self,
        caller: &Caller,
        b: &Backup,
        name: Option<String>,
    ) -> Result<Volume, DomainError> {
        let ty = self
            .types
            .find_type_by_name(DEFAULT_TYPE_NAME)
            .await?
            .ok_or_else(|| DomainError::type_not_found(DEFAULT_TYPE_NAME))?;
        let placement = self
            .settings
            .backends
            .iter()
            .find(|p| Some(p.name.as_str()) == b.backend())
            .or_else(|| {
                self.settings
                    .backends
                    .iter()
                    .find(|p| p.availability_zone == self.settings.default_availability_zone)
            })
            .or(self.settings.backends.first())
            .ok_or_else(|| DomainError::Storage("No backend is configured.".into()))?;
        let backend = &placement.name;
        Ok(Volume {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: caller.project_id.clone(),
            user_id: caller.user_id.clone(),
            name: Some(name.unwrap_or_else(|| format!("restore_backup_{}", b.id))),
            description: None,
            size: b.size,
            new_size: None,
            status: VolumeStatus::RestoringBackup,
            attach_status: AttachStatus::Detached,
            migration_status: None,
            availability_zone: placement.availability_zone.clone(),
            volume_type_id: ty.id.clone(),
            volume_type_name: Some(ty.name.clone()),
            snapshot_id: None,
            source_volid: None,
            bootable: false,
            multiattach: ty.is_multiattach(),
            encrypted: false,
            replication_status: "disabled".into(),
            consistencygroup_id: None,
            group_id: None,
            host: Some(format!("{}@{backend}#{backend}", self.settings.host)),
            use_quota: true,
            status_reason: None,
            metadata: Metadata::new(),
            admin_metadata: Metadata::new(),
            attachments: vec![],
            created_at: Utc::now(),
            updated_at: None,
        })
    }
}
