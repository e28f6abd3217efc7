//! Backups: the record, its status machine, listing queries, the store and repository ports,
//! and the service (create, restore, delete, records, admin actions, job completions).

mod complete;
mod model;
mod query;
mod records;
mod restore;
mod service;
mod status;
mod store;

pub use model::{Backup, BackupDone, NewBackup, RestoreAccepted, RestoreRequest};
pub use query::{BackupQuery, BackupSortKey};
pub use service::BackupService;
pub use status::BackupStatus;
pub use store::{
    BackupClaim, BackupRecords, BackupStore, BackupTransition, NewBackupGuards, RecordError,
    StatusChange, BACKUP_SERVICE,
};
