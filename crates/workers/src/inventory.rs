//! What the backends hold, for the manage listings: the domain's [`Inventory`] over the
//! volume manager's backends.

use basalt_domain::manage::{BackendFile, Inventory};

use crate::manager::VolumeManager;

#[basalt_domain::async_trait]
impl Inventory for VolumeManager {
    async fn files(&self, backend: &str) -> Result<Option<Vec<BackendFile>>, String> {
        let Some(b) = self.backend(backend) else {
            return Ok(None);
        };
        let files = b
            .list_files()
            .await
            .map_err(|e| format!("Listing the files of backend '{backend}' failed: {e}."))?;
        Ok(Some(
            files
                .into_iter()
                .map(|(name, size_bytes)| BackendFile { name, size_bytes })
                .collect(),
        ))
    }
}
