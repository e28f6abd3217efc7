//! The admin's volume actions: `os-reset_status`, `os-force_delete` and `os-unmanage`. Each
//! looks the volume up first (another project's volume is 404 even to the question of
//! policy, as in Cinder), then checks the role, then changes the row by compare-and-swap.

use super::service::VolumeService;
use super::status::{AttachStatus, VolumeStatus};
use crate::error::DomainError;
use crate::jobs::{Job, JobKind};
use crate::ports::{SnapshotRule, Transition};
use crate::Caller;

/// `os-reset_status`: the fields to force; `None` leaves one alone, and
/// `migration_status: Some(None)` clears it (Cinder's `none`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResetStatus {
    pub status: Option<VolumeStatus>,
    pub attach_status: Option<AttachStatus>,
    pub migration_status: Option<Option<String>>,
}

/// Cinder's refusal of a forced delete (its format leaves the status part empty).
const FORCE_DELETE_REFUSED: &str = "Volume  must not be migrating, attached, belong to a group, \
     have snapshots, awaiting a transfer, or be disassociated from snapshots after volume \
     transfer.";

const UNMANAGE_REFUSED: &str = "Volume status must be available or error or error_restoring or \
     error_extending or error_managing and must not be migrating, attached, exported, belong \
     to a group, have snapshots, or have a job under way.";

/// How often a reset that keeps the status retries after the status moved meanwhile.
const RESET_TRIES: usize = 3;

impl VolumeService {
    fn require_admin(caller: &Caller, rule: &'static str) -> Result<(), DomainError> {
        if caller.is_admin {
            Ok(())
        } else {
            Err(DomainError::Forbidden(rule))
        }
    }

    /// `os-reset_status` (admin): any status, `attached`/`detached`, any migration status,
    /// without questions (Cinder's). Resetting to `detached` removes the attachment records
    /// and `attached_mode`; a new status clears the reason and any extension target.
    pub async fn reset_status(
        &self,
        caller: &Caller,
        id: &str,
        r: &ResetStatus,
    ) -> Result<(), DomainError> {
        self.get(caller, id).await?;
        Self::require_admin(caller, "volume_extension:volume_admin_actions:reset_status")?;
        for _ in 0..RESET_TRIES {
            let v = self.get(caller, id).await?;
            let mut t = match r.status {
                Some(to) => {
                    let mut t = Transition::new(id, VolumeStatus::ALL, to);
                    t.changes.status_reason = Some(None);
                    t.changes.new_size = Some(None);
                    t
                }
                // The status stays: the swap is on the one just read.
                None => Transition::new(id, &[v.status], v.status),
            };
            if let Some(a) = r.attach_status {
                t.changes.attach_status = Some(a);
                if a == AttachStatus::Detached {
                    t.changes.remove_all_attachments = true;
                    t.changes.admin_metadata = vec![("attached_mode".into(), None)];
                }
            }
            t.changes.migration_status = r.migration_status.clone();
            if self.store.transition(&t).await? {
                tracing::info!(volume = %id, reset = ?r, "volume status reset by an admin");
                return Ok(());
            }
        }
        Err(DomainError::InvalidVolume(format!(
            "Volume {id} kept changing while its status was reset; try again."
        )))
    }

    /// `os-force_delete` (admin): deletes whatever the status, except while attached,
    /// migrating, awaiting a transfer, with snapshots, or with a job under way (whose work
    /// would race the delete: a create finishing after it would leave a file behind).
    pub async fn force_delete(&self, caller: &Caller, id: &str) -> Result<(), DomainError> {
        let v = self.get(caller, id).await?;
        Self::require_admin(caller, "volume_extension:volume_admin_actions:force_delete")?;
        if v.status == VolumeStatus::Deleting {
            return Ok(());
        }
        let from: Vec<VolumeStatus> = VolumeStatus::ALL
            .iter()
            .copied()
            .filter(|s| !matches!(s, VolumeStatus::Deleting | VolumeStatus::AwaitingTransfer))
            .collect();
        let mut t = Transition::new(id, &from, VolumeStatus::Deleting);
        t.require_not_attached = true;
        t.require_not_migrating = true;
        t.require_no_job = true;
        t.snapshots = SnapshotRule::Refuse;
        t.changes.status_reason = Some(None);
        t.changes.new_size = Some(None);
        t.enqueue = Some(Job::new(
            id,
            JobKind::DeleteVolume {
                backend: v.backend().unwrap_or_default().to_owned(),
                snapshots: vec![],
            },
        ));
        if self.store.transition(&t).await? {
            self.job_signal.notify_waiters();
            return Ok(());
        }
        match self.store.get_volume(id).await? {
            None => Err(DomainError::volume_not_found(id)),
            Some(now) if now.status == VolumeStatus::Deleting => Ok(()),
            Some(_) => match self.jobs.job_for(id).await? {
                Some(job) => Err(DomainError::InvalidVolume(format!(
                    "Volume {id} has a {} job under way; force-delete it once the job ends.",
                    job.kind.name()
                ))),
                None => Err(DomainError::InvalidVolume(FORCE_DELETE_REFUSED.into())),
            },
        }
    }

    /// `os-unmanage` (admin): Basalt forgets the volume, its storage stays on the backend
    /// (and is listed as manageable again). Same preconditions as a delete; the row goes at
    /// once, there being no storage work to wait for.
    pub async fn unmanage(&self, caller: &Caller, id: &str) -> Result<(), DomainError> {
        let v = self.get(caller, id).await?;
        Self::require_admin(caller, "volume_extension:volume_unmanage")?;
        if v.encrypted {
            return Err(DomainError::InvalidVolume(
                "Unmanaging encrypted volumes is not supported.".into(),
            ));
        }
        let store = self.manage_store()?;
        if store.unmanage_volume(id, VolumeStatus::DELETABLE).await? {
            tracing::info!(volume = %id, host = ?v.host, "volume unmanaged; its storage stays");
            return Ok(());
        }
        match self.store.get_volume(id).await? {
            None => Err(DomainError::volume_not_found(id)),
            Some(_) => Err(DomainError::InvalidVolume(UNMANAGE_REFUSED.into())),
        }
    }

    pub(super) fn manage_store(
        &self,
    ) -> Result<&std::sync::Arc<dyn crate::manage::ManageStore>, DomainError> {
        self.manage.as_ref().map(|(s, _)| s).ok_or_else(|| {
            DomainError::BadRequest("Manage and unmanage are not configured here.".into())
        })
    }
}
