//! The ports of volume migration: the volumes a migration left mid-way (for the reconciler)
//! and the phase reports a worker sends while it copies.

use async_trait::async_trait;

use crate::error::DomainError;
use crate::ports::StoreError;
use crate::volume::Volume;

/// The migration statuses of a migration under way.
pub const RUNNING: [&str; 3] = ["starting", "migrating", "completing"];

#[async_trait]
pub trait MigrationStore: Send + Sync + 'static {
    /// Every volume whose migration status is one of [`RUNNING`].
    async fn migrating_volumes(&self) -> Result<Vec<Volume>, StoreError>;
}

/// What a worker reports while it migrates a volume.
#[async_trait]
pub trait MigrationPhases: Send + Sync + 'static {
    /// Moves the volume's migration status `from` → `to` (a compare-and-swap); false when it
    /// was not `from`.
    async fn migration_phase(
        &self,
        volume_id: &str,
        from: &str,
        to: &str,
    ) -> Result<bool, DomainError>;
    /// Whether the volume's migration is still under way (a job run again after its
    /// migration ended must not touch storage).
    async fn still_migrating(&self, volume_id: &str) -> Result<bool, DomainError>;
}
