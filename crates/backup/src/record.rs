//! Export and import of a backup record (Cinder's `export_record`/`import_record`): the
//! manifest in its checksummed form, which another Basalt sharing the repository's storage
//! imports to restore the backup. An import verifies the checksum (a changed or truncated
//! record is refused), that every chunk it names is present, and never replaces a
//! different manifest of the same id.

use std::collections::BTreeSet;

use crate::error::{BackupError, Result};
use crate::manifest::Manifest;
use crate::repo::Repository;

impl Repository {
    /// The record of backup `id`: opaque bytes (JSON) to hand to [`import_record`]. Cinder
    /// base64-encodes it as `backup_url`.
    ///
    /// [`import_record`]: Repository::import_record
    pub fn export_record(&self, id: &str) -> Result<Vec<u8>> {
        Ok(self.manifest(id)?.to_bytes())
    }

    /// Imports a record from [`export_record`](Repository::export_record). Importing the
    /// same record again is success. Errors: [`BackupError::InvalidManifest`] for a record
    /// that fails its checksum or does not parse, [`BackupError::ImportMissingChunks`],
    /// [`BackupError::ImportConflict`].
    pub fn import_record(&self, record: &[u8]) -> Result<Manifest> {
        let manifest = Manifest::from_bytes(record, "imported record")?;
        // Shared lock: a sweep must not free the chunks between the check and the manifest.
        let _lock = self.lock_shared()?;
        let distinct: BTreeSet<_> = manifest.chunks.iter().flatten().collect();
        let mut missing = Vec::new();
        for id in distinct {
            let present = self
                .chunks
                .contains(id)
                .map_err(|e| BackupError::io(format!("looking for chunk {id}"))(e))?;
            if !present {
                missing.push(id.to_hex());
            }
        }
        if let Some(first) = missing.first() {
            return Err(BackupError::ImportMissingChunks {
                backup: manifest.id.clone(),
                missing: missing.len(),
                first: first.clone(),
            });
        }
        match self.write_manifest(&manifest) {
            Ok(()) => Ok(manifest),
            Err(BackupError::AlreadyExists(id)) => {
                if self.manifest(&id)? == manifest {
                    Ok(manifest)
                } else {
                    Err(BackupError::ImportConflict(id))
                }
            }
            Err(e) => Err(e),
        }
    }
}
