//! Type listings by Cinder's rules: a non-admin sees public types and the private types its
//! project was granted, and may filter on nothing else; an admin chooses with `is_public`
//! (`true` by default, `false` for private only, `none` for all) and may filter on the type's
//! columns. Types are few, so the page is cut in memory.

use std::cmp::Ordering;

use super::{ExtraSpecs, VolumeType};
use crate::error::DomainError;
use crate::volume::query::{parse_page, parse_sort_with, strict_bool, CONTROL};
use crate::volume::SortDir;
use crate::Caller;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeSortKey {
    Id,
    Name,
    Description,
    IsPublic,
    CreatedAt,
    UpdatedAt,
}

impl TypeSortKey {
    fn parse(s: &str) -> Option<TypeSortKey> {
        use TypeSortKey::*;
        Some(match s {
            "id" => Id,
            "name" => Name,
            "description" => Description,
            "is_public" => IsPublic,
            "created_at" => CreatedAt,
            "updated_at" => UpdatedAt,
            _ => return None,
        })
    }

    fn compare(self, a: &VolumeType, b: &VolumeType) -> Ordering {
        use TypeSortKey::*;
        match self {
            Id => a.id.cmp(&b.id),
            Name => a.name.cmp(&b.name),
            Description => a.description.cmp(&b.description),
            IsPublic => a.is_public.cmp(&b.is_public),
            CreatedAt => a.created_at.cmp(&b.created_at),
            UpdatedAt => a.updated_at.cmp(&b.updated_at),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeQuery {
    /// `Some(true)`: public types and those granted to `project_id`; `Some(false)`: private
    /// types only; `None`: every type.
    pub is_public: Option<bool>,
    pub project_id: String,
    /// Exact matches on `name`, `id` or `description` (admins only).
    pub filters: Vec<(TypeSortKey, String)>,
    /// Every pair must be among the type's extra specs (admins only).
    pub extra_specs: ExtraSpecs,
    /// An admin filtered on something types do not have: the list is empty.
    pub match_nothing: bool,
    pub sort: Vec<(TypeSortKey, SortDir)>,
    pub limit: u32,
    pub offset: u64,
    pub marker: Option<String>,
}

impl TypeQuery {
    pub fn from_params(
        params: &[(String, String)],
        caller: &Caller,
        max_page: u32,
    ) -> Result<TypeQuery, DomainError> {
        let (limit, offset) = parse_page(params, max_page)?;
        let mut q = TypeQuery {
            is_public: Some(true),
            project_id: caller.project_id.clone(),
            filters: vec![],
            extra_specs: ExtraSpecs::new(),
            match_nothing: false,
            sort: parse_sort_with(params, TypeSortKey::parse, TypeSortKey::CreatedAt)?,
            limit,
            offset,
            marker: params
                .iter()
                .find(|(k, _)| k == "marker")
                .map(|(_, v)| v.clone()),
        };
        if !caller.is_admin {
            return Ok(q);
        }
        for (k, v) in params {
            match k.as_str() {
                "is_public" => q.is_public = parse_is_public(v)?,
                "name" => q.filters.push((TypeSortKey::Name, v.clone())),
                "id" => q.filters.push((TypeSortKey::Id, v.clone())),
                "description" => q.filters.push((TypeSortKey::Description, v.clone())),
                "extra_specs" => q.extra_specs = parse_specs_filter(v)?,
                k if CONTROL.contains(&k) => {}
                _ => q.match_nothing = true,
            }
        }
        Ok(q)
    }

    fn admits(&self, t: &VolumeType, granted: &[String]) -> bool {
        let visible = match self.is_public {
            None => true,
            Some(false) => !t.is_public,
            Some(true) => t.is_public || granted.contains(&t.id),
        };
        visible
            && self.filters.iter().all(|(k, v)| match k {
                TypeSortKey::Name => &t.name == v,
                TypeSortKey::Id => &t.id == v,
                TypeSortKey::Description => t.description.as_deref() == Some(v.as_str()),
                _ => true,
            })
            && self
                .extra_specs
                .iter()
                .all(|(k, v)| t.extra_specs.get(k) == Some(v))
    }

    /// The page of `types` this query asks for; `granted` are the ids of the private types
    /// the caller's project may use. An unknown marker is a 404.
    pub fn apply(
        &self,
        mut types: Vec<VolumeType>,
        granted: &[String],
    ) -> Result<Vec<VolumeType>, DomainError> {
        if self.match_nothing {
            return Ok(vec![]);
        }
        types.retain(|t| self.admits(t, granted));
        types.sort_by(|a, b| {
            self.sort
                .iter()
                .map(|(k, dir)| match dir {
                    SortDir::Asc => k.compare(a, b),
                    SortDir::Desc => k.compare(b, a),
                })
                .chain(std::iter::once(b.id.cmp(&a.id)))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        });
        let start = match &self.marker {
            None => 0,
            Some(m) => {
                types.iter().position(|t| &t.id == m).ok_or_else(|| {
                    DomainError::NotFound(format!("Volume type {m} could not be found."))
                })? + 1
            }
        };
        Ok(types
            .into_iter()
            .skip(start)
            .skip(self.offset as usize)
            .take(self.limit as usize)
            .collect())
    }
}

/// Cinder's `_parse_is_public`: a boolean, or `none` for every type.
fn parse_is_public(v: &str) -> Result<Option<bool>, DomainError> {
    if v.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    strict_bool(v)
        .map(Some)
        .ok_or_else(|| DomainError::BadRequest(format!("Invalid is_public filter [{v}]")))
}

/// The `extra_specs` filter: a Python dict literal or JSON of strings.
fn parse_specs_filter(raw: &str) -> Result<ExtraSpecs, DomainError> {
    let value: serde_json::Value = serde_json::from_str(&raw.replace('\'', "\""))
        .map_err(|_| DomainError::InvalidInput(format!("Invalid extra_specs filter: {raw}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| DomainError::InvalidInput(format!("Invalid extra_specs filter: {raw}")))?;
    Ok(obj
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned)))
        .collect())
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

    fn types() -> Vec<VolumeType> {
        let mut private = VolumeType::new("private", None);
        private.is_public = false;
        let mut other = VolumeType::new("other-private", None);
        other.is_public = false;
        vec![VolumeType::new("public", None), private, other]
    }

    fn names(q: &TypeQuery, granted: &[String]) -> Vec<String> {
        let mut n: Vec<String> = q
            .apply(types(), granted)
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        n.sort();
        n
    }

    #[test]
    fn non_admins_see_public_and_granted_types_whatever_they_ask() {
        let all = types();
        let granted = vec![all[1].id.clone()];
        let q = TypeQuery::from_params(&params(&[("is_public", "false")]), &caller(false), 1000)
            .unwrap();
        // Granted ids come from the real list, so rebuild the query over it.
        let visible: Vec<String> = q
            .apply(all.clone(), &granted)
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(visible.len(), 2);
        assert!(visible.contains(&"public".to_string()));
        assert!(visible.contains(&"private".to_string()));
    }

    #[test]
    fn admins_choose_with_is_public() {
        let q = |v: &str| {
            TypeQuery::from_params(&params(&[("is_public", v)]), &caller(true), 1000).unwrap()
        };
        assert_eq!(names(&q("true"), &[]), vec!["public"]);
        assert_eq!(names(&q("false"), &[]), vec!["other-private", "private"]);
        assert_eq!(names(&q("None"), &[]).len(), 3);
        let bad = TypeQuery::from_params(&params(&[("is_public", "maybe")]), &caller(true), 10);
        assert_eq!(
            bad.unwrap_err().to_string(),
            "Invalid is_public filter [maybe]"
        );
    }

    #[test]
    fn admin_filters_on_unknown_columns_match_nothing() {
        let q = TypeQuery::from_params(&params(&[("colour", "red")]), &caller(true), 10).unwrap();
        assert!(names(&q, &[]).is_empty());
        let q = TypeQuery::from_params(&params(&[("name", "public")]), &caller(true), 10).unwrap();
        assert_eq!(names(&q, &[]), vec!["public"]);
    }

    #[test]
    fn pages_follow_the_marker() {
        let all = types();
        let mut q = TypeQuery::from_params(
            &params(&[("is_public", "none"), ("sort", "name:asc"), ("limit", "1")]),
            &caller(true),
            10,
        )
        .unwrap();
        let first = q.apply(all.clone(), &[]).unwrap();
        assert_eq!(first[0].name, "other-private");
        q.marker = Some(first[0].id.clone());
        assert_eq!(q.apply(all.clone(), &[]).unwrap()[0].name, "private");
        q.marker = Some("no-such-type".into());
        assert!(matches!(q.apply(all, &[]), Err(DomainError::NotFound(_))));
    }
}
