//! `export_record` and `import_record` (admin): a backup's repository record and row leave
//! as one checksummed `backup_url`; an import verifies all of it before anything is written,
//! then writes the manifest and the row (`available`, in the importer's project, as Cinder
//! does).

use chrono::Utc;

use super::model::Backup;
use super::service::BackupService;
use super::status::BackupStatus;
use super::store::{RecordError, BACKUP_SERVICE};
use crate::error::DomainError;
use crate::Caller;

/// A record failure as the user sees it.
pub(super) fn record_error(e: RecordError) -> DomainError {
    match e {
        RecordError::Invalid(why) => {
            DomainError::InvalidInput(format!("Can't parse backup record: {why}"))
        }
        RecordError::Refused(why) => DomainError::InvalidBackup(why),
        RecordError::Failed(why) => DomainError::Storage(why),
    }
}

impl BackupService {
    /// `(backup_service, backup_url)` of an `available` backup.
    pub async fn export_record(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(String, String), DomainError> {
        if !caller.is_admin {
            return Err(DomainError::Forbidden("backup:export-import"));
        }
        let b = self.get(caller, id).await?;
        if b.status != BackupStatus::Available {
            return Err(DomainError::InvalidBackup(format!(
                "Backup status must be available and not {}.",
                b.status
            )));
        }
        let url = self.records()?.export(&b).await.map_err(record_error)?;
        Ok((BACKUP_SERVICE.to_owned(), url))
    }

    /// Imports a record; the new backup is `available` at once (the manifest is written
    /// before the row, so a row never names a backup the repository lacks).
    pub async fn import_record(
        &self,
        caller: &Caller,
        backup_service: &str,
        backup_url: &str,
    ) -> Result<Backup, DomainError> {
        if !caller.is_admin {
            return Err(DomainError::Forbidden("backup:backup-import"));
        }
        let records = self.records()?;
        if backup_service != BACKUP_SERVICE {
            return Err(DomainError::ServiceUnavailable(format!(
                "Service {backup_service} could not be found."
            )));
        }
        let mut b = records.read(backup_url).await.map_err(record_error)?;
        if self.store.get_backup(&b.id).await?.is_some() {
            return Err(DomainError::InvalidBackup(
                "Backup already exists in database.".into(),
            ));
        }
        records.import(backup_url).await.map_err(record_error)?;
        b.project_id = caller.project_id.clone();
        b.user_id = caller.user_id.clone();
        b.status = BackupStatus::Available;
        b.fail_reason = None;
        b.restore_volume_id = None;
        b.has_dependent_backups = false;
        b.created_at = Utc::now();
        b.updated_at = None;
        if !self.store.insert_backup(&b).await? {
            return Err(DomainError::InvalidBackup(
                "Backup already exists in database.".into(),
            ));
        }
        self.get(caller, &b.id).await
    }
}
