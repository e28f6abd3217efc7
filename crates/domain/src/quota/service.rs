//! Showing, setting and enforcing quotas and the absolute limits.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Usage, DEFAULT_CLASS, GLOBAL_DEFAULTS, PER_TYPE};
use crate::error::DomainError;
use crate::ports::{QuotaClaim, QuotaStore, VolumeTypeStore};
use crate::volume_type::VolumeType;
use crate::Caller;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaEntry {
    pub resource: String,
    pub limit: i64,
    pub in_use: i64,
    /// Always 0: claims are applied in the transaction that consumes them.
    pub reserved: i64,
}

/// `GET /limits`: the caller's absolute limits and counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_total_volumes: i64,
    pub max_total_snapshots: i64,
    pub max_total_volume_gigabytes: i64,
    pub max_total_backups: i64,
    pub max_total_backup_gigabytes: i64,
    pub usage: Usage,
}

pub struct QuotaService {
    store: Arc<dyn QuotaStore>,
    types: Arc<dyn VolumeTypeStore>,
}

impl QuotaService {
    pub fn new(store: Arc<dyn QuotaStore>, types: Arc<dyn VolumeTypeStore>) -> Self {
        QuotaService { store, types }
    }

    /// Every resource name, per-type ones for the existing types, in Cinder's order.
    async fn resources(&self) -> Result<Vec<String>, DomainError> {
        let mut names: Vec<String> = GLOBAL_DEFAULTS.iter().map(|(n, _)| n.to_string()).collect();
        for t in self.types.list_types().await? {
            for r in PER_TYPE {
                names.push(format!("{r}_{}", t.name));
            }
        }
        Ok(names)
    }

    fn builtin(resource: &str) -> i64 {
        GLOBAL_DEFAULTS
            .iter()
            .find(|(n, _)| *n == resource)
            .map_or(-1, |(_, v)| *v)
    }

    /// The class `default` over built-in defaults.
    /// The start-up consistency check of the usage counters (see [`QuotaStore::recount_usage`]).
    pub async fn recount_usage(&self) -> Result<u64, DomainError> {
        let wrong = self.store.recount_usage().await?;
        if wrong > 0 {
            tracing::warn!(
                counters = wrong,
                "quota usage counters disagreed with the volumes; repaired"
            );
        }
        Ok(wrong)
    }

    pub async fn class_set(&self, class: &str) -> Result<BTreeMap<String, i64>, DomainError> {
        let overrides = self.store.class_limits(class).await?;
        Ok(self
            .resources()
            .await?
            .into_iter()
            .map(|r| {
                let v = overrides
                    .get(&r)
                    .copied()
                    .unwrap_or_else(|| Self::builtin(&r));
                (r, v)
            })
            .collect())
    }

    /// Effective limits of a project: its own settings over the default class.
    pub async fn effective(&self, project_id: &str) -> Result<BTreeMap<String, i64>, DomainError> {
        let mut set = self.class_set(DEFAULT_CLASS).await?;
        for (k, v) in self.store.project_limits(project_id).await? {
            if let Some(slot) = set.get_mut(&k) {
                *slot = v;
            }
        }
        Ok(set)
    }

    fn may_read(caller: &Caller, target: &str) -> Result<(), DomainError> {
        if caller.is_admin || caller.project_id == target {
            Ok(())
        } else {
            Err(DomainError::Forbidden("volume_extension:quotas:show"))
        }
    }

    pub async fn show(
        &self,
        caller: &Caller,
        target: &str,
    ) -> Result<Vec<QuotaEntry>, DomainError> {
        Self::may_read(caller, target)?;
        let usage = self.store.usage(target).await?;
        Ok(self
            .effective(target)
            .await?
            .into_iter()
            .map(|(resource, limit)| QuotaEntry {
                in_use: usage.of(&resource),
                reserved: 0,
                resource,
                limit,
            })
            .collect())
    }

    pub async fn defaults(
        &self,
        caller: &Caller,
        target: &str,
    ) -> Result<BTreeMap<String, i64>, DomainError> {
        Self::may_read(caller, target)?;
        self.class_set(DEFAULT_CLASS).await
    }

    /// Checks names and values (Cinder's messages), and that no limit falls below what is in
    /// use. `what` is "quota set" or "quota class set".
    async fn checked(
        &self,
        changes: &BTreeMap<String, serde_json::Value>,
        usage: Option<&Usage>,
        what: &str,
    ) -> Result<BTreeMap<String, i64>, DomainError> {
        let known = self.resources().await?;
        let ignored = |k: &str| ["id", "tenant_id", "class_name"].contains(&k);
        let bad: Vec<&str> = changes
            .keys()
            .filter(|k| !known.contains(k) && !ignored(k))
            .map(String::as_str)
            .collect();
        if !bad.is_empty() {
            return Err(DomainError::BadRequest(format!(
                "Bad key(s) in {what}: {}",
                bad.join(", ")
            )));
        }
        let mut out = BTreeMap::new();
        for (k, v) in changes.iter().filter(|(k, _)| !ignored(k)) {
            let n = match v {
                serde_json::Value::Number(n) => n.as_i64(),
                serde_json::Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }
            .ok_or_else(|| DomainError::BadRequest(format!("{k} must be an integer.")))?;
            if n < -1 {
                return Err(DomainError::BadRequest(format!("{k} must be >= -1")));
            }
            if n > i64::from(i32::MAX) {
                return Err(DomainError::BadRequest(format!(
                    "{k} must be <= {}",
                    i32::MAX
                )));
            }
            if let Some(usage) = usage {
                let used = usage.of(k);
                if n != -1 && k != "per_volume_gigabytes" && n < used {
                    return Err(DomainError::BadRequest(format!(
                        "Quota {k} limit must be equal or greater than existing resources. \
                         Current usage is {used} and the requested limit is {n}."
                    )));
                }
            }
            out.insert(k.clone(), n);
        }
        Ok(out)
    }

    pub async fn update(
        &self,
        caller: &Caller,
        target: &str,
        changes: &BTreeMap<String, serde_json::Value>,
    ) -> Result<BTreeMap<String, i64>, DomainError> {
        if !caller.is_admin {
            return Err(DomainError::Forbidden("volume_extension:quotas:update"));
        }
        let usage = self.store.usage(target).await?;
        let values = self.checked(changes, Some(&usage), "quota set").await?;
        let mut mine = self.store.project_limits(target).await?;
        mine.extend(values);
        self.store.set_project_limits(target, &mine).await?;
        self.effective(target).await
    }

    pub async fn reset(&self, caller: &Caller, target: &str) -> Result<(), DomainError> {
        if !caller.is_admin {
            return Err(DomainError::Forbidden("volume_extension:quotas:delete"));
        }
        Ok(self.store.delete_project_limits(target).await?)
    }

    pub async fn show_class(
        &self,
        caller: &Caller,
        class: &str,
    ) -> Result<BTreeMap<String, i64>, DomainError> {
        if !caller.is_admin {
            return Err(DomainError::Forbidden("volume_extension:quota_classes"));
        }
        self.class_set(class).await
    }

    pub async fn update_class(
        &self,
        caller: &Caller,
        class: &str,
        changes: &BTreeMap<String, serde_json::Value>,
    ) -> Result<BTreeMap<String, i64>, DomainError> {
        if !caller.is_admin {
            return Err(DomainError::Forbidden("volume_extension:quota_classes"));
        }
        let values = self.checked(changes, None, "quota class set").await?;
        let mut current = self.store.class_limits(class).await?;
        current.extend(values);
        self.store.set_class_limits(class, &current).await?;
        self.class_set(class).await
    }

    pub async fn limits(&self, caller: &Caller) -> Result<Limits, DomainError> {
        let set = self.effective(&caller.project_id).await?;
        let get = |k: &str| set.get(k).copied().unwrap_or(-1);
        Ok(Limits {
            max_total_volumes: get("volumes"),
            max_total_snapshots: get("snapshots"),
            max_total_volume_gigabytes: get("gigabytes"),
            max_total_backups: get("backups"),
            max_total_backup_gigabytes: get("backup_gigabytes"),
            usage: self.store.usage(&caller.project_id).await?,
        })
    }

    /// The claim for `backups` new backups of `gigabytes` GiB in all.
    pub async fn backup_claim(
        &self,
        project_id: &str,
        backups: i64,
        gigabytes: i64,
    ) -> Result<crate::backup::BackupClaim, DomainError> {
        let set = self.effective(project_id).await?;
        let entry = |name: &str, delta: i64| {
            let limit = set.get(name).copied().unwrap_or(-1);
            (name.to_owned(), delta, limit)
        };
        Ok(crate::backup::BackupClaim {
            project_id: project_id.to_owned(),
            backups: entry("backups", backups),
            backup_gigabytes: entry("backup_gigabytes", gigabytes),
        })
    }

    /// The claim for `volumes` new volumes and `snapshots` new snapshots totalling `gigabytes`
    /// GiB of type `ty`, checked first against `per_volume_gigabytes` (a request, not a usage,
    /// limit) when `per_volume_size` is given.
    pub async fn claim(
        &self,
        project_id: &str,
        ty: &VolumeType,
        volumes: i64,
        snapshots: i64,
        gigabytes: i64,
        per_volume_size: Option<i64>,
    ) -> Result<QuotaClaim, DomainError> {
        let set = self.effective(project_id).await?;
        let get = |k: &str| set.get(k).copied().unwrap_or(-1);
        if let Some(size) = per_volume_size {
            let limit = get("per_volume_gigabytes");
            if limit >= 0 && size > limit {
                return Err(DomainError::SizeExceedsLimit {
                    requested: size,
                    limit,
                });
            }
        }
        let entry = |name: String, delta: i64| {
            let limit = get(&name);
            (name, delta, limit)
        };
        Ok(QuotaClaim {
            project_id: project_id.to_owned(),
            volume_type_id: ty.id.clone(),
            volumes: entry("volumes".into(), volumes),
            snapshots: entry("snapshots".into(), snapshots),
            gigabytes: entry("gigabytes".into(), gigabytes),
            type_volumes: entry(format!("volumes_{}", ty.name), volumes),
            type_snapshots: entry(format!("snapshots_{}", ty.name), snapshots),
            type_gigabytes: entry(format!("gigabytes_{}", ty.name), gigabytes),
            pool: None,
        })
    }
}
