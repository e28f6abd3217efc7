//! Backup listings: which backups (project or all), filters, sort and page, by Cinder's v2
//! rules (non-admins may filter on `name`, `status` and `volume_id` only; other filters are
//! dropped; an admin's filter on a column backups do not have matches nothing). Unlike the
//! other listings, a non-boolean `all_tenants` is a 400 (Cinder's backup API checks it).

use crate::error::DomainError;
use crate::volume::query::{parse_page, parse_sort_with, strict_bool, CONTROL};
use crate::volume::SortDir;
use crate::Caller;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupSortKey {
    Id,
    Name,
    Description,
    Status,
    Size,
    ObjectCount,
    VolumeId,
    SnapshotId,
    ProjectId,
    UserId,
    Container,
    AvailabilityZone,
    DataTimestamp,
    CreatedAt,
    UpdatedAt,
}

impl BackupSortKey {
    /// Column names of Cinder's backup table (`sort=name` came with v3.37: a 400 in v2).
    pub fn parse(s: &str) -> Option<BackupSortKey> {
        use BackupSortKey::*;
        Some(match s {
            "id" => Id,
            "display_name" => Name,
            "display_description" => Description,
            "status" => Status,
            "size" => Size,
            "object_count" => ObjectCount,
            "volume_id" => VolumeId,
            "snapshot_id" => SnapshotId,
            "project_id" => ProjectId,
            "user_id" => UserId,
            "container" => Container,
            "availability_zone" => AvailabilityZone,
            "data_timestamp" => DataTimestamp,
            "created_at" => CreatedAt,
            "updated_at" => UpdatedAt,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupQuery {
    /// `None`: every project (admin with `all_tenants`).
    pub project_id: Option<String>,
    /// Exact-match filters: `(column, value)`; `name` filters `display_name`.
    pub filters: Vec<(BackupSortKey, String)>,
    /// An admin filtered on a column that does not exist: the list is empty.
    pub match_nothing: bool,
    pub sort: Vec<(BackupSortKey, SortDir)>,
    pub limit: u32,
    pub offset: u64,
    pub marker: Option<String>,
}

const USER_FILTERS: &[&str] = &["name", "status", "volume_id"];

impl BackupQuery {
    pub fn from_params(
        params: &[(String, String)],
        caller: &Caller,
        max_page: u32,
    ) -> Result<BackupQuery, DomainError> {
        let get = |k: &str| {
            params
                .iter()
                .find(|(pk, _)| pk == k)
                .map(|(_, v)| v.as_str())
        };
        let all_tenants = match get("all_tenants") {
            None => false,
            Some(v) => strict_bool(v).ok_or_else(|| {
                DomainError::BadRequest(format!("all_tenants must be a boolean, got '{v}'."))
            })?,
        };
        let (limit, offset) = parse_page(params, max_page)?;
        let mut q = BackupQuery {
            project_id: (!(all_tenants && caller.is_admin)).then(|| caller.project_id.clone()),
            filters: vec![],
            match_nothing: false,
            sort: parse_sort_with(params, BackupSortKey::parse, BackupSortKey::CreatedAt)?,
            limit,
            offset,
            marker: get("marker").map(str::to_owned),
        };
        for (k, v) in params {
            if CONTROL.contains(&k.as_str()) {
                continue;
            }
            if !caller.is_admin && !USER_FILTERS.contains(&k.as_str()) {
                continue;
            }
            let column = match k.as_str() {
                "name" => Some(BackupSortKey::Name),
                other => BackupSortKey::parse(other),
            };
            match column {
                Some(c) => q.filters.push((c, v.clone())),
                None => q.match_nothing = true,
            }
        }
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(admin: bool) -> Caller {
        Caller {
            user_id: "u".into(),
            project_id: "p".into(),
            is_admin: admin,
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn users_keep_only_the_backup_filters_and_their_project() {
        let q = BackupQuery::from_params(
            &params(&[("name", "a"), ("project_id", "x"), ("all_tenants", "1")]),
            &caller(false),
            1000,
        )
        .unwrap();
        assert_eq!(q.project_id.as_deref(), Some("p"));
        assert_eq!(q.filters, [(BackupSortKey::Name, "a".to_string())]);
    }

    #[test]
    fn all_tenants_must_be_a_boolean() {
        let e = BackupQuery::from_params(&params(&[("all_tenants", "x")]), &caller(true), 10)
            .unwrap_err();
        assert_eq!(e.to_string(), "all_tenants must be a boolean, got 'x'.");
        let q = BackupQuery::from_params(&params(&[("all_tenants", "true")]), &caller(true), 10)
            .unwrap();
        assert_eq!(q.project_id, None);
    }
}
