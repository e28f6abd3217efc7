//! `os-retype`: a volume changes type. When its pool still has what the new type asks for,
//! the type and the per-type quota usage change in one compare-and-swap (triggers move the
//! counters with the row); otherwise the volume must move, which `migration_policy` `never`
//! (the default) forbids and `on-demand` does through a migration.

use super::model::Volume;
use super::service::VolumeService;
use super::status::VolumeStatus;
use crate::backends::unmet;
use crate::error::DomainError;
use crate::ports::Transition;
use crate::volume_type::VolumeType;
use crate::Caller;

/// `migration_policy` of `os-retype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MigrationPolicy {
    #[default]
    Never,
    OnDemand,
}

/// Cinder's one answer to a retype its conditions refuse.
pub(super) const RETYPE_REFUSED: &str = "Retype needs volume to be in available or in-use \
     state, not be part of an active migration or a consistency group, requested type has to \
     be different that the one from the volume, and for in-use volumes front-end qos specs \
     cannot change.";

pub(super) const NEEDS_MIGRATION: &str = "Retype requires migration but is not allowed.";

impl VolumeService {
    /// The type a retype names (name or id), as Cinder resolves it: unknown is 400.
    async fn retype_target(&self, caller: &Caller, asked: &str) -> Result<VolumeType, DomainError> {
        let invalid = || DomainError::InvalidInput(format!("Invalid volume_type passed: {asked}."));
        let ty = match self.resolve_type(Some(asked)).await {
            Ok(t) => t,
            Err(DomainError::NotFound(_)) => return Err(invalid()),
            Err(e) => return Err(e),
        };
        if !ty.is_public && !caller.is_admin {
            let granted = self.types.type_projects(&ty.id).await?;
            if !granted.contains(&caller.project_id) {
                return Err(invalid());
            }
        }
        Ok(ty)
    }

    /// Whether the pool the volume is on has every capability the type asks for.
    pub(super) async fn pool_fits(&self, v: &Volume, ty: &VolumeType) -> Result<bool, DomainError> {
        let Some(scheduler) = &self.scheduler else {
            return Ok(true);
        };
        let candidates = scheduler.candidates().await?;
        let Some(here) = candidates.iter().find(|c| Some(&c.pool) == v.host.as_ref()) else {
            return Ok(false);
        };
        let caps = serde_json::to_value(&here.stats).unwrap_or_default();
        Ok(unmet(&ty.extra_specs, &caps).is_none())
    }

    /// The conditions of Cinder's retype that the volume as read does not meet.
    fn retype_refused(v: &Volume, old: &VolumeType, new: &VolumeType) -> bool {
        !matches!(v.status, VolumeStatus::Available | VolumeStatus::InUse)
            || v.is_migrating()
            || v.consistencygroup_id.is_some()
            || v.group_id.is_some()
            || new.id == v.volume_type_id
            || (v.status == VolumeStatus::InUse && old.qos_specs_id != new.qos_specs_id)
    }

    /// `os-retype` (owner).
    pub async fn retype(
        &self,
        caller: &Caller,
        id: &str,
        new_type: &str,
        policy: MigrationPolicy,
    ) -> Result<(), DomainError> {
        let v = self.get(caller, id).await?;
        let ty = self.retype_target(caller, new_type).await?;
        let old = self.resolve_type(Some(&v.volume_type_id)).await?;
        if Self::retype_refused(&v, &old, &ty) {
            return Err(DomainError::InvalidInput(RETYPE_REFUSED.into()));
        }
        if !self.pool_fits(&v, &ty).await? {
            return match policy {
                MigrationPolicy::Never => Err(DomainError::InvalidInput(NEEDS_MIGRATION.into())),
                MigrationPolicy::OnDemand => self.retype_by_migration(&v, &ty).await,
            };
        }
        // The new type's own quotas take the volume; the project's totals do not change.
        let mut claim = self
            .quotas
            .claim(&v.project_id, &ty, 1, 0, v.size, None)
            .await?;
        claim.volumes.1 = 0;
        claim.gigabytes.1 = 0;
        let mut t = Transition::new(id, &[v.status], v.status);
        t.require_not_migrating = true;
        t.claim = Some(claim);
        t.changes.volume_type_id = Some(ty.id.clone());
        if self
            .store
            .transition(&t)
            .await
            .map_err(DomainError::from_claim)?
        {
            tracing::info!(volume = %id, from = %old.name, to = %ty.name, "volume retyped in place");
            return Ok(());
        }
        Err(DomainError::InvalidInput(RETYPE_REFUSED.into()))
    }
}
