//! The transfer service: offer, list, show, cancel and accept, with Cinder's checks and
//! messages. The volume's status changes with the transfer row in one compare-and-swap, and an
//! acceptance moves the volume, its snapshots and their quota usage in one transaction.

use std::sync::Arc;

use chrono::Utc;

use super::{auth_key, Transfer, TransferQuery};
use crate::error::DomainError;
use crate::ports::{
    AcceptOutcome, Acceptance, SnapshotStore, StoreError, TransferStore, VolumeStore,
    VolumeTypeStore,
};
use crate::quota::QuotaService;
use crate::snapshot::SnapshotStatus;
use crate::volume::{Volume, VolumeStatus};
use crate::Caller;

/// An acceptance that lost a race with a snapshot's removal is tried again this many times.
const ACCEPT_ATTEMPTS: usize = 3;

/// `POST /os-volume-transfer`, validated for shape.
#[derive(Debug, Clone, Default)]
pub struct NewTransfer {
    pub volume_id: String,
    pub name: Option<String>,
}

pub struct TransferService {
    store: Arc<dyn TransferStore>,
    volumes: Arc<dyn VolumeStore>,
    snapshots: Arc<dyn SnapshotStore>,
    types: Arc<dyn VolumeTypeStore>,
    quotas: Arc<QuotaService>,
}

impl TransferService {
    pub fn new(
        store: Arc<dyn TransferStore>,
        volumes: Arc<dyn VolumeStore>,
        snapshots: Arc<dyn SnapshotStore>,
        types: Arc<dyn VolumeTypeStore>,
        quotas: Arc<QuotaService>,
    ) -> Self {
        TransferService {
            store,
            volumes,
            snapshots,
            types,
            quotas,
        }
    }

    /// The transfer if the caller may see it: an admin, or the donor project.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<Transfer, DomainError> {
        match self.store.get_transfer(id).await? {
            Some(t) if caller.is_admin || t.project_id == caller.project_id => Ok(t),
            _ => Err(DomainError::transfer_not_found(id)),
        }
    }

    pub async fn list(&self, q: &TransferQuery) -> Result<Vec<Transfer>, DomainError> {
        self.store.list_transfers(q).await.map_err(|e| match e {
            StoreError::NotFound(m) => DomainError::NotFound(m),
            other => other.into(),
        })
    }

    /// Why the volume cannot be offered now (Cinder's checks, in its order).
    async fn refusal(&self, v: &Volume) -> Result<Option<DomainError>, DomainError> {
        if v.status != VolumeStatus::Available {
            return Ok(Some(DomainError::InvalidVolume(
                "status must be available".into(),
            )));
        }
        if v.encrypted {
            return Ok(Some(DomainError::InvalidVolume(
                "transferring encrypted volume is not supported".into(),
            )));
        }
        for s in self.snapshots.snapshots_of_volume(&v.id).await? {
            if s.status != SnapshotStatus::Available {
                return Ok(Some(DomainError::InvalidSnapshot(format!(
                    "snapshot: {} status must be available",
                    s.id
                ))));
            }
        }
        Ok(None)
    }

    /// Offers the caller's volume: returns the transfer and its auth key, which is shown
    /// this once and never stored.
    pub async fn create(
        &self,
        caller: &Caller,
        req: NewTransfer,
    ) -> Result<(Transfer, String), DomainError> {
        let v =
            crate::volume::service::visible_volume(self.volumes.as_ref(), caller, &req.volume_id)
                .await?;
        if let Some(e) = self.refusal(&v).await? {
            return Err(e);
        }
        let key = auth_key::generate();
        let salt = auth_key::salt();
        let t = Transfer {
            id: uuid::Uuid::new_v4().to_string(),
            volume_id: v.id.clone(),
            project_id: v.project_id.clone(),
            name: req.name,
            crypt_hash: auth_key::digest(&salt, &key),
            salt,
            created_at: Utc::now(),
        };
        if self.store.create_transfer(&t).await? {
            return Ok((t, key));
        }
        // The volume or a snapshot changed between the checks and the write.
        let now =
            crate::volume::service::visible_volume(self.volumes.as_ref(), caller, &v.id).await?;
        Err(self.refusal(&now).await?.unwrap_or_else(|| {
            DomainError::InvalidVolume(format!(
                "Transfer {}: Volume id {} expected in available state.",
                t.id, v.id
            ))
        }))
    }

    /// Cancels the offer: the transfer goes and the volume is `available` again.
    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<(), DomainError> {
        self.get(caller, id).await?;
        if !self.store.delete_transfer(id).await? {
            return Err(DomainError::transfer_not_found(id));
        }
        Ok(())
    }

    /// Takes the volume and its snapshots into the caller's project. Anyone who has the key
    /// may accept, whatever their project; the acceptor's quota must hold them all.
    pub async fn accept(
        &self,
        caller: &Caller,
        id: &str,
        key: &str,
    ) -> Result<Transfer, DomainError> {
        let t = self
            .store
            .get_transfer(id)
            .await?
            .ok_or_else(|| DomainError::transfer_not_found(id))?;
        if !auth_key::matches(&t.salt, &t.crypt_hash, key) {
            return Err(DomainError::InvalidAuthKey(format!(
                "Attempt to transfer {id} with invalid auth key."
            )));
        }
        for _ in 0..ACCEPT_ATTEMPTS {
            let a = self.acceptance(caller, &t).await?;
            match self
                .store
                .accept_transfer(&a)
                .await
                .map_err(DomainError::from_claim)?
            {
                AcceptOutcome::Accepted => return Ok(t),
                AcceptOutcome::NoSuchTransfer => return Err(DomainError::transfer_not_found(id)),
                AcceptOutcome::VolumeNotAwaiting => {
                    return Err(DomainError::InvalidVolume(format!(
                        "Transfer {id}: Volume id {} expected in awaiting-transfer state.",
                        t.volume_id
                    )))
                }
                AcceptOutcome::SnapshotNotAvailable(s) => {
                    return Err(DomainError::InvalidSnapshot(format!(
                        "Transfer {id}: Snapshot {s} is not in the expected available state."
                    )))
                }
                AcceptOutcome::SnapshotsChanged => continue,
            }
        }
        Err(DomainError::InvalidVolume(format!(
            "Transfer {id}: the snapshots of volume {} kept changing; try again.",
            t.volume_id
        )))
    }

    /// What accepting `t` moves and claims now: the volume (`volumes` 1, its GiB), then its
    /// snapshots (their number and GiB), as two claims because Cinder reserves them apart
    /// and names the one that did not fit.
    async fn acceptance(&self, caller: &Caller, t: &Transfer) -> Result<Acceptance, DomainError> {
        let v = self
            .volumes
            .get_volume(&t.volume_id)
            .await?
            .ok_or_else(|| DomainError::volume_not_found(&t.volume_id))?;
        let ty = self
            .types
            .get_type(&v.volume_type_id)
            .await?
            .ok_or_else(|| DomainError::type_not_found(&v.volume_type_id))?;
        let snapshots = self.snapshots.snapshots_of_volume(&v.id).await?;
        let counted: Vec<_> = snapshots.iter().filter(|s| s.use_quota).collect();
        let snapshot_gib = counted.iter().map(|s| s.size).sum();
        let project = &caller.project_id;
        let volume_claim = self
            .quotas
            .claim(project, &ty, 1, 0, v.size, Some(v.size))
            .await?;
        let snapshot_claim = self
            .quotas
            .claim(project, &ty, 0, counted.len() as i64, snapshot_gib, None)
            .await?;
        Ok(Acceptance {
            transfer_id: t.id.clone(),
            volume_id: v.id.clone(),
            project_id: project.clone(),
            user_id: caller.user_id.clone(),
            snapshot_ids: snapshots.into_iter().map(|s| s.id).collect(),
            volume_claim,
            snapshot_claim,
        })
    }
}
