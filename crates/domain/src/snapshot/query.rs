//! Snapshot listings: which snapshots (project or all), filters, sort and page, by Cinder's
//! v2 rules (non-admins may filter on `status`, `volume_id` and `name` only; other filters are
//! dropped; an admin's filter on a column snapshots do not have matches nothing).

use crate::error::DomainError;
use crate::volume::query::{parse_page, parse_sort_with, strict_bool, CONTROL};
use crate::volume::SortDir;
use crate::Caller;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotSortKey {
    Id,
    Name,
    Description,
    Status,
    Size,
    Progress,
    VolumeId,
    ProjectId,
    UserId,
    CreatedAt,
    UpdatedAt,
}

impl SnapshotSortKey {
    /// Column names of the snapshot table. v2 knows them as `display_name` and
    /// `display_description` only: `sort=name` on snapshots came with v3.30, a 400 before.
    pub fn parse(s: &str) -> Option<SnapshotSortKey> {
        use SnapshotSortKey::*;
        Some(match s {
            "id" => Id,
            "display_name" => Name,
            "display_description" => Description,
            "status" => Status,
            "volume_size" | "size" => Size,
            "progress" => Progress,
            "volume_id" => VolumeId,
            "project_id" => ProjectId,
            "user_id" => UserId,
            "created_at" => CreatedAt,
            "updated_at" => UpdatedAt,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotQuery {
    /// `None`: every project (admin with `all_tenants`).
    pub project_id: Option<String>,
    /// Exact-match filters: `(column, value)`; `name` filters `display_name`.
    pub filters: Vec<(SnapshotSortKey, String)>,
    /// An admin filtered on a column that does not exist: the list is empty.
    pub match_nothing: bool,
    pub sort: Vec<(SnapshotSortKey, SortDir)>,
    pub limit: u32,
    pub offset: u64,
    pub marker: Option<String>,
}

const USER_FILTERS: &[&str] = &["status", "volume_id", "name"];

impl SnapshotQuery {
    pub fn from_params(
        params: &[(String, String)],
        caller: &Caller,
        max_page: u32,
    ) -> Result<SnapshotQuery, DomainError> {
        let get = |k: &str| {
            params
                .iter()
                .find(|(pk, _)| pk == k)
                .map(|(_, v)| v.as_str())
        };
        let all_tenants =
            caller.is_admin && get("all_tenants").is_some_and(|v| strict_bool(v) != Some(false));
        let (limit, offset) = parse_page(params, max_page)?;
        let mut q = SnapshotQuery {
            project_id: (!all_tenants).then(|| caller.project_id.clone()),
            filters: vec![],
            match_nothing: false,
            sort: parse_sort_with(params, SnapshotSortKey::parse, SnapshotSortKey::CreatedAt)?,
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
                "name" => Some(SnapshotSortKey::Name),
                "volume_size" | "size" => None,
                other => SnapshotSortKey::parse(other),
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
    fn users_keep_only_the_v2_snapshot_filters() {
        let q = SnapshotQuery::from_params(
            &params(&[("name", "a"), ("project_id", "x"), ("all_tenants", "1")]),
            &caller(false),
            1000,
        )
        .unwrap();
        assert_eq!(q.project_id.as_deref(), Some("p"));
        assert_eq!(q.filters, [(SnapshotSortKey::Name, "a".to_string())]);
        assert!(!q.match_nothing);
    }

    #[test]
    fn admins_filter_on_columns_and_unknown_columns_match_nothing() {
        let q = SnapshotQuery::from_params(
            &params(&[("all_tenants", "true"), ("project_id", "x"), ("bogus", "1")]),
            &caller(true),
            1000,
        )
        .unwrap();
        assert_eq!(q.project_id, None);
        assert_eq!(q.filters, [(SnapshotSortKey::ProjectId, "x".to_string())]);
        assert!(q.match_nothing);
    }

    #[test]
    fn sort_by_name_is_not_a_v2_snapshot_key() {
        let e = SnapshotQuery::from_params(&params(&[("sort", "name")]), &caller(false), 1000)
            .unwrap_err();
        assert_eq!(e.to_string(), "Invalid input received: Invalid sort key");
        let q = SnapshotQuery::from_params(
            &params(&[("sort_key", "display_name"), ("sort_dir", "asc")]),
            &caller(false),
            1000,
        )
        .unwrap();
        assert_eq!(q.sort, [(SnapshotSortKey::Name, SortDir::Asc)]);
    }
}
