//! `GET /extensions` and `GET /extensions/{alias}`. The list names only what Basalt implements:
//! entries are added here as the features they describe land, so that a client probing for an
//! extension never finds one that would fail.

use axum::extract::Path;
use axum::Json;
use serde::Serialize;

use super::auth::Context;
use super::fault::{ApiError, ApiResult};

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Extension {
    pub alias: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub updated: &'static str,
    pub links: [(); 0],
}

const fn ext(
    alias: &'static str,
    name: &'static str,
    description: &'static str,
    updated: &'static str,
) -> Extension {
    Extension {
        alias,
        name,
        description,
        updated,
        links: [],
    }
}

/// The implemented extensions, with Cinder's names, descriptions and dates.
pub const EXTENSIONS: &[Extension] = &[
    ext(
        "capabilities",
        "Capabilities",
        "Capabilities support.",
        "2015-08-31T00:00:00+00:00",
    ),
    ext(
        "OS-SCH-HNT",
        "SchedulerHints",
        "Pass arbitrary key/value pairs to the scheduler.",
        "2013-04-18T00:00:00+00:00",
    ),
    ext(
        "os-availability-zone",
        "AvailabilityZones",
        "Describe Availability Zones.",
        "2013-06-27T00:00:00+00:00",
    ),
    ext(
        "os-extended-services",
        "ExtendedServices",
        "Extended services support.",
        "2014-01-10T00:00:00-00:00",
    ),
    ext(
        "os-hosts",
        "Hosts",
        "Admin-only host administration.",
        "2011-06-29T00:00:00+00:00",
    ),
    ext(
        "os-services",
        "Services",
        "Services support.",
        "2012-10-28T00:00:00-00:00",
    ),
    ext(
        "scheduler-stats",
        "Scheduler_stats",
        "Scheduler stats support.",
        "2014-09-07T00:00:00+00:00",
    ),
    ext(
        "backups",
        "Backups",
        "Backups support.",
        "2012-12-12T00:00:00+00:00",
    ),
    ext(
        "encryption",
        "VolumeTypeEncryption",
        "Encryption support for volume types.",
        "2013-07-01T00:00:00+00:00",
    ),
    ext(
        "os-extended-snapshot-attributes",
        "ExtendedSnapshotAttributes",
        "Extended SnapshotAttributes support.",
        "2012-06-19T00:00:00+00:00",
    ),
    ext(
        "os-quota-class-sets",
        "QuotaClasses",
        "Quota classes management support.",
        "2012-03-12T00:00:00+00:00",
    ),
    ext(
        "os-quota-sets",
        "Quotas",
        "Quota management support.",
        "2011-08-08T00:00:00+00:00",
    ),
    ext(
        "os-snapshot-actions",
        "SnapshotActions",
        "Enable snapshot manager actions.",
        "2013-07-16T00:00:00+00:00",
    ),
    ext(
        "os-types-extra-specs",
        "TypesExtraSpecs",
        "Type extra specs support.",
        "2011-08-24T00:00:00+00:00",
    ),
    ext(
        "os-types-manage",
        "TypesManage",
        "Types manage support.",
        "2011-08-24T00:00:00+00:00",
    ),
    ext(
        "os-used-limits",
        "UsedLimits",
        "Provide data on limited resources that are being used.",
        "2013-10-03T00:00:00+00:00",
    ),
    ext(
        "os-vol-host-attr",
        "VolumeHostAttribute",
        "Expose host as an attribute of a volume.",
        "2011-11-03T00:00:00+00:00",
    ),
    ext(
        "os-vol-mig-status-attr",
        "VolumeMigStatusAttribute",
        "Expose migration_status as an attribute of a volume.",
        "2013-08-08T00:00:00+00:00",
    ),
    ext(
        "os-vol-tenant-attr",
        "VolumeTenantAttribute",
        "Expose the internal project_id as an attribute of a volume.",
        "2011-11-03T00:00:00+00:00",
    ),
    ext(
        "os-admin-actions",
        "AdminActions",
        "Enable admin actions.",
        "2012-08-25T00:00:00+00:00",
    ),
    ext(
        "os-volume-manage",
        "VolumeManage",
        "Allows existing backend storage to be 'managed' by Cinder.",
        "2014-02-10T00:00:00+00:00",
    ),
    ext(
        "os-volume-unmanage",
        "VolumeUnmanage",
        "Enable volume unmanage operation.",
        "2012-05-31T00:00:00+00:00",
    ),
    ext(
        "os-snapshot-manage",
        "SnapshotManage",
        "Allows existing backend storage to be 'managed' by Cinder.",
        "2014-12-31T00:00:00+00:00",
    ),
    ext(
        "os-snapshot-unmanage",
        "SnapshotUnmanage",
        "Enable volume unmanage operation.",
        "2014-12-31T00:00:00+00:00",
    ),
    ext(
        "os-volume-actions",
        "VolumeActions",
        "Enable volume actions.",
        "2012-05-31T00:00:00+00:00",
    ),
    ext(
        "os-volume-encryption-metadata",
        "VolumeEncryptionMetadata",
        "Volume encryption metadata retrieval support.",
        "2013-07-10T00:00:00+00:00",
    ),
    ext(
        "os-volume-transfer",
        "VolumeTransfer",
        "Volume transfer management support.",
        "2013-05-29T00:00:00+00:00",
    ),
    ext(
        "os-volume-type-access",
        "VolumeTypeAccess",
        "Volume type access support.",
        "2014-06-26T00:00:00Z",
    ),
    ext(
        "qos-specs",
        "Qos_specs_manage",
        "QoS specs support.",
        "2013-08-02T00:00:00+00:00",
    ),
];

#[derive(Serialize)]
pub struct ExtensionList {
    extensions: &'static [Extension],
}

#[derive(Serialize)]
pub struct ExtensionDoc {
    extension: Extension,
}

pub async fn list(_ctx: Context) -> Json<ExtensionList> {
    Json(ExtensionList {
        extensions: EXTENSIONS,
    })
}

pub async fn show(
    _ctx: Context,
    Path((_, alias)): Path<(String, String)>,
) -> ApiResult<Json<ExtensionDoc>> {
    EXTENSIONS
        .iter()
        .find(|e| e.alias == alias)
        .map(|e| Json(ExtensionDoc { extension: *e }))
        .ok_or_else(|| ApiError::NotFound(format!("Extension {alias} could not be found.")))
}
