//! Volume statuses (Cinder's `VolumeStatus` field) and the groups the transitions use.

use crate::wire::wire_enum;

wire_enum!(VolumeStatus {
    Creating = "creating",
    Available = "available",
    Deleting = "deleting",
    Error = "error",
    ErrorDeleting = "error_deleting",
    ErrorManaging = "error_managing",
    Managing = "managing",
    Attaching = "attaching",
    InUse = "in-use",
    Detaching = "detaching",
    Maintenance = "maintenance",
    RestoringBackup = "restoring-backup",
    ErrorRestoring = "error_restoring",
    Reserved = "reserved",
    AwaitingTransfer = "awaiting-transfer",
    BackingUp = "backing-up",
    ErrorBackingUp = "error_backing-up",
    ErrorExtending = "error_extending",
    Downloading = "downloading",
    Uploading = "uploading",
    Retyping = "retyping",
    Extending = "extending",
    Reverting = "reverting",
});

wire_enum!(AttachStatus {
    Detached = "detached",
    Attaching = "attaching",
    Attached = "attached",
    Reserved = "reserved",
    ErrorAttaching = "error_attaching",
    ErrorDetaching = "error_detaching",
});

impl VolumeStatus {
    /// Statuses from which a volume may be deleted (Cinder's `volume.delete` preconditions).
    pub const DELETABLE: &'static [VolumeStatus] = &[
        VolumeStatus::Available,
        VolumeStatus::Error,
        VolumeStatus::ErrorRestoring,
        VolumeStatus::ErrorExtending,
        VolumeStatus::ErrorManaging,
    ];

    /// Statuses that only asynchronous work leaves; after a restart none may remain without
    /// a job to finish it.
    pub const TRANSITIONAL: &'static [VolumeStatus] = &[
        VolumeStatus::Creating,
        VolumeStatus::Deleting,
        VolumeStatus::Extending,
        VolumeStatus::Reverting,
        VolumeStatus::Managing,
    ];

    /// How the status is shown: internal states map to the public ones, as Cinder's view does.
    pub fn shown(self) -> &'static str {
        match self {
            VolumeStatus::Managing => "creating",
            VolumeStatus::ErrorManaging => "error",
            other => other.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for s in VolumeStatus::ALL {
            assert_eq!(VolumeStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(VolumeStatus::InUse.as_str(), "in-use");
        assert_eq!(VolumeStatus::parse("bogus"), None);
    }
}
