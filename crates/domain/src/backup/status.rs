//! Backup statuses (Cinder's `BackupStatus` field) and the groups the transitions use.

use crate::wire::wire_enum;

wire_enum!(BackupStatus {
    Creating = "creating",
    Available = "available",
    Deleting = "deleting",
    Deleted = "deleted",
    Error = "error",
    ErrorDeleting = "error_deleting",
    Restoring = "restoring",
});

impl BackupStatus {
    /// Statuses from which a backup may be deleted without `os-force_delete`.
    pub const DELETABLE: &'static [BackupStatus] = &[BackupStatus::Available, BackupStatus::Error];

    /// Statuses only asynchronous work leaves; after a restart none may remain without a job.
    pub const TRANSITIONAL: &'static [BackupStatus] = &[
        BackupStatus::Creating,
        BackupStatus::Deleting,
        BackupStatus::Restoring,
    ];

    /// The statuses `os-reset_status` may set (Cinder's backup API allows only these two).
    pub const RESETTABLE: &'static [BackupStatus] = &[BackupStatus::Available, BackupStatus::Error];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for s in BackupStatus::ALL {
            assert_eq!(BackupStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(BackupStatus::ErrorDeleting.as_str(), "error_deleting");
    }
}
