//! Snapshot statuses (Cinder's `SnapshotStatus` field) and the groups the transitions use.

use crate::wire::wire_enum;

wire_enum!(SnapshotStatus {
    Creating = "creating",
    Available = "available",
    Deleting = "deleting",
    Deleted = "deleted",
    Error = "error",
    ErrorDeleting = "error_deleting",
    Updating = "updating",
    Unmanaging = "unmanaging",
    BackingUp = "backing-up",
    Restoring = "restoring",
});

impl SnapshotStatus {
    /// Statuses from which a snapshot may be deleted.
    pub const DELETABLE: &'static [SnapshotStatus] =
        &[SnapshotStatus::Available, SnapshotStatus::Error];

    /// Statuses a volume's snapshots may have when the volume is deleted with `cascade`.
    pub const CASCADABLE: &'static [SnapshotStatus] = &[
        SnapshotStatus::Available,
        SnapshotStatus::Error,
        SnapshotStatus::Deleting,
    ];

    /// Statuses only asynchronous work leaves.
    pub const TRANSITIONAL: &'static [SnapshotStatus] =
        &[SnapshotStatus::Creating, SnapshotStatus::Deleting];

    /// `os-update_snapshot_status`: the statuses a snapshot may be moved to from its current
    /// one (Cinder's table; Nova's assisted snapshots report through it).
    pub fn reportable_from(self) -> &'static [SnapshotStatus] {
        match self {
            SnapshotStatus::Creating => &[
                SnapshotStatus::Creating,
                SnapshotStatus::Available,
                SnapshotStatus::Error,
            ],
            SnapshotStatus::Deleting => &[SnapshotStatus::Deleting, SnapshotStatus::ErrorDeleting],
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for s in SnapshotStatus::ALL {
            assert_eq!(SnapshotStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(SnapshotStatus::BackingUp.as_str(), "backing-up");
    }

    #[test]
    fn only_creating_and_deleting_snapshots_take_status_reports() {
        assert!(SnapshotStatus::Creating
            .reportable_from()
            .contains(&SnapshotStatus::Available));
        assert!(!SnapshotStatus::Deleting
            .reportable_from()
            .contains(&SnapshotStatus::Available));
        assert!(SnapshotStatus::Available.reportable_from().is_empty());
    }
}
