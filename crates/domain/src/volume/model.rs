//! The volume record as the domain sees it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::status::{AttachStatus, VolumeStatus};

pub type Metadata = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: String,
    pub instance_uuid: Option<String>,
    pub attached_host: Option<String>,
    pub mountpoint: Option<String>,
    /// `rw` or `ro`.
    pub mode: String,
    pub attached_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// GiB.
    pub size: i64,
    /// The size an extension in progress is heading to (counted in the quota meanwhile).
    pub new_size: Option<i64>,
    pub status: VolumeStatus,
    pub attach_status: AttachStatus,
    pub migration_status: Option<String>,
    pub availability_zone: String,
    pub volume_type_id: String,
    /// Filled in by the store from the type row (the view shows the name).
    pub volume_type_name: Option<String>,
    pub snapshot_id: Option<String>,
    pub source_volid: Option<String>,
    pub bootable: bool,
    pub multiattach: bool,
    pub encrypted: bool,
    pub replication_status: String,
    pub consistencygroup_id: Option<String>,
    pub group_id: Option<String>,
    /// `host@backend#pool` once placed.
    pub host: Option<String>,
    /// Whether the volume counts against its project's quota (false after a failed create).
    pub use_quota: bool,
    /// Why the last asynchronous operation failed, for the user.
    pub status_reason: Option<String>,
    pub metadata: Metadata,
    /// Cinder's admin metadata (`readonly`, `attached_mode`).
    pub admin_metadata: Metadata,
    pub attachments: Vec<Attachment>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// The backend name, the middle of `host@backend#pool`.
pub(crate) fn backend_of(host: Option<&str>) -> Option<&str> {
    let after = host?.split_once('@')?.1;
    Some(after.split_once('#').map_or(after, |(b, _)| b))
}

impl Volume {
    /// The backend name, the middle of `host@backend#pool`.
    pub fn backend(&self) -> Option<&str> {
        backend_of(self.host.as_deref())
    }

    /// "Not migrating" in Cinder's sense.
    pub fn is_migrating(&self) -> bool {
        !matches!(
            self.migration_status.as_deref(),
            None | Some("deleting") | Some("error") | Some("success")
        )
    }
}

/// What a client asks for when creating a volume, already validated for shape.
#[derive(Debug, Clone, Default)]
pub struct NewVolume {
    pub size: Option<i64>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Name or id.
    pub volume_type: Option<String>,
    pub availability_zone: Option<String>,
    pub metadata: Metadata,
    pub snapshot_id: Option<String>,
    pub source_volid: Option<String>,
    pub image_ref: Option<String>,
    pub consistencygroup_id: Option<String>,
    pub multiattach: bool,
    /// Scheduler hints: place the volume with (or away from) these volumes' backends.
    pub same_host: Vec<String>,
    pub different_host: Vec<String>,
}

/// `PUT /volumes/{id}`: `None` leaves a field alone; `metadata` replaces all user metadata.
#[derive(Debug, Clone, Default)]
pub struct VolumeUpdate {
    pub name: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub metadata: Option<Metadata>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_is_the_middle_of_the_host_string() {
        let mut v = sample();
        v.host = Some("node1@file#file".into());
        assert_eq!(v.backend(), Some("file"));
        v.host = Some("node1@fast".into());
        assert_eq!(v.backend(), Some("fast"));
        v.host = None;
        assert_eq!(v.backend(), None);
    }

    pub fn sample() -> Volume {
        Volume {
            id: "v".into(),
            project_id: "p".into(),
            user_id: "u".into(),
            name: None,
            description: None,
            size: 1,
            new_size: None,
            status: VolumeStatus::Available,
            attach_status: AttachStatus::Detached,
            migration_status: None,
            availability_zone: "nova".into(),
            volume_type_id: "t".into(),
            volume_type_name: None,
            snapshot_id: None,
            source_volid: None,
            bootable: false,
            multiattach: false,
            encrypted: false,
            replication_status: "disabled".into(),
            consistencygroup_id: None,
            group_id: None,
            host: None,
            use_quota: true,
            status_reason: None,
            metadata: Metadata::new(),
            admin_metadata: Metadata::new(),
            attachments: vec![],
            created_at: Utc::now(),
            updated_at: None,
        }
    }
}
