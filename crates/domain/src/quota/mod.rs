//! Quotas: per-project limits over the class `default` over built-in defaults, usage kept in
//! counters beside the rows, claims checked in the transaction that consumes them.

mod service;

use std::collections::BTreeMap;

pub use service::{Limits, QuotaEntry, QuotaService};

/// Global resources and their built-in defaults (Cinder's).
pub const GLOBAL_DEFAULTS: &[(&str, i64)] = &[
    ("volumes", 10),
    ("snapshots", 10),
    ("gigabytes", 1000),
    ("backups", 10),
    ("backup_gigabytes", 1000),
    ("groups", 10),
    ("per_volume_gigabytes", -1),
];

/// Per-type resources, suffixed `_<type name>`; unlimited by default.
pub const PER_TYPE: &[&str] = &["volumes", "snapshots", "gigabytes"];

pub const DEFAULT_CLASS: &str = "default";

/// What a project uses now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub volumes: i64,
    pub gigabytes: i64,
    pub snapshots: i64,
    pub backups: i64,
    pub backup_gigabytes: i64,
    /// Per type name: (volumes, gigabytes, snapshots).
    pub per_type: BTreeMap<String, (i64, i64, i64)>,
}

impl Usage {
    /// In-use count of any resource name, per-type ones included.
    pub fn of(&self, resource: &str) -> i64 {
        match resource {
            "volumes" => self.volumes,
            "gigabytes" => self.gigabytes,
            "snapshots" => self.snapshots,
            "backups" => self.backups,
            "backup_gigabytes" => self.backup_gigabytes,
            _ => {
                for (prefix, pick) in [("volumes_", 0), ("gigabytes_", 1), ("snapshots_", 2)] {
                    if let Some(ty) = resource.strip_prefix(prefix) {
                        return self.per_type.get(ty).map_or(0, |u| match pick {
                            0 => u.0,
                            1 => u.1,
                            _ => u.2,
                        });
                    }
                }
                0
            }
        }
    }
}
