//! Issuing, validating and revoking tokens. Every failure to authenticate is the one
//! [`IdentityError::Unauthorized`], whatever its cause.

use std::sync::Arc;

use chrono::Utc;

use super::Identity;
use crate::error::IdentityError;
use crate::model::{
    DomainInfo, Project, ProjectInfo, RoleInfo, StoredToken, TokenInfo, User, UserInfo,
};
use crate::ports::{AssignmentFilter, TokenRevocation};
use crate::secret::{new_audit_id, random_token, token_digest};

#[derive(Debug, Clone)]
pub enum DomainSelector {
    Id(String),
    Name(String),
}

#[derive(Debug, Clone)]
pub enum UserSelector {
    Id(String),
    Name {
        name: String,
        domain: DomainSelector,
    },
}

#[derive(Debug, Clone)]
pub enum ProjectSelector {
    Id(String),
    Name {
        name: String,
        domain: DomainSelector,
    },
}

#[derive(Debug, Clone)]
pub enum Credentials {
    Password {
        user: UserSelector,
        password: String,
    },
    ApiKey {
        user: UserSelector,
        key: String,
    },
    /// Re-scoping an existing token.
    Token {
        id: String,
    },
}

#[derive(Debug, Clone)]
pub enum ScopeRequest {
    Unscoped,
    Project(ProjectSelector),
    /// Keystone v3 without a scope: the user's default project when it has a role there, else
    /// unscoped. For a re-scoped token, the original token's project.
    Default,
}

#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub credentials: Credentials,
    pub scope: ScopeRequest,
}

/// A token just issued: the only moment its id exists in Basalt's memory.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub id: String,
    pub info: Arc<TokenInfo>,
}

impl Identity {
    pub async fn issue_token(&self, req: AuthRequest) -> Result<IssuedToken, IdentityError> {
        let now = Utc::now();
        let (user, methods, expires_at, mut audit_ids, inherited_project) = match req.credentials {
            Credentials::Password { user, password } => {
                let user = self.find_user(&user).await?;
                let ok = self
                    .hasher
                    .verify(
                        &password,
                        user.as_ref().and_then(|u| u.password_hash.as_deref()),
                    )
                    .await?;
                let user = user.filter(|_| ok).ok_or(IdentityError::Unauthorized)?;
                (
                    user,
                    vec!["password".to_owned()],
                    now + self.ttl(),
                    vec![],
                    None,
                )
            }
            Credentials::ApiKey { user, key } => {
                let user = self
                    .find_user(&user)
                    .await?
                    .ok_or(IdentityError::Unauthorized)?;
                if !self.api_key_matches(&user.id, &key).await? {
                    return Err(IdentityError::Unauthorized);
                }
                (
                    user,
                    vec!["apikey".to_owned()],
                    now + self.ttl(),
                    vec![],
                    None,
                )
            }
            Credentials::Token { id } => {
                let original = self.validate(&id).await?;
                let user = self
                    .store
                    .get_user(&original.user.id)
                    .await?
                    .ok_or(IdentityError::Unauthorized)?;
                // A re-scoped token ends when the original does (Keystone keeps the expiry).
                let chain = original.audit_ids.first().cloned().into_iter().collect();
                let project = original.project.as_ref().map(|p| p.id.clone());
                (
                    user,
                    vec!["token".to_owned()],
                    original.expires_at,
                    chain,
                    project,
                )
            }
        };
        if !user.enabled || !self.domain_enabled(&user.domain_id).await? {
            return Err(IdentityError::Unauthorized);
        }
        let scope = match req.scope {
            ScopeRequest::Default => match inherited_project {
                Some(id) => ScopeRequest::Project(ProjectSelector::Id(id)),
                None => match &user.default_project_id {
                    Some(id) if self.has_any_role(&user.id, id).await? => {
                        ScopeRequest::Project(ProjectSelector::Id(id.clone()))
                    }
                    _ => ScopeRequest::Unscoped,
                },
            },
            other => other,
        };
        let (project, roles) = match scope {
            ScopeRequest::Project(sel) => {
                let project = self
                    .find_project(&sel)
                    .await?
                    .ok_or(IdentityError::Unauthorized)?;
                let roles = self.roles_on(&user.id, &project.id).await?;
                if !project.enabled || roles.is_empty() {
                    return Err(IdentityError::Unauthorized);
                }
                (Some(self.project_info(&project).await?), roles)
            }
            _ => (None, vec![]),
        };
        audit_ids.insert(0, new_audit_id());
        let info = TokenInfo {
            user: UserInfo {
                id: user.id.clone(),
                name: user.name.clone(),
                domain: self.domain_info(&user.domain_id).await?,
            },
            project,
            roles,
            methods,
            audit_ids,
            issued_at: now,
            expires_at,
        };
        let id = random_token();
        let stored = StoredToken {
            digest: token_digest(&id),
            user_id: user.id,
            project_id: info.project.as_ref().map(|p| p.id.clone()),
            expires_at,
            info,
        };
        self.store.insert_token(&stored).await?;
        Ok(IssuedToken {
            id,
            info: Arc::new(stored.info),
        })
    }

    /// The token's snapshot if it is known, unexpired and unrevoked. Costs a hash and a map
    /// lookup when cached; never a password hash.
    pub async fn validate(&self, token: &str) -> Result<Arc<TokenInfo>, IdentityError> {
        let digest = token_digest(token);
        if let Some(info) = self.cache.get(&digest) {
            return Ok(info);
        }
        let stored = self
            .store
            .get_token(&digest)
            .await?
            .filter(|t| t.expires_at > Utc::now())
            .ok_or(IdentityError::Unauthorized)?;
        let info = Arc::new(stored.info);
        self.cache.insert(digest, info.clone());
        Ok(info)
    }

    /// Revokes one token; false when it was not (or no longer) valid.
    pub async fn revoke(&self, token: &str) -> Result<bool, IdentityError> {
        let removed = self.store.delete_token(&token_digest(token)).await?;
        self.cache.clear();
        Ok(removed)
    }

    pub(crate) async fn revoke_matching(
        &self,
        which: TokenRevocation,
    ) -> Result<(), IdentityError> {
        self.store.revoke_tokens(&which).await?;
        self.cache.clear();
        Ok(())
    }

    /// Removes expired token rows; run periodically by the server.
    pub async fn purge_expired_tokens(&self) -> Result<u64, IdentityError> {
        Ok(self.store.purge_expired_tokens(Utc::now()).await?)
    }

    fn ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.token_ttl).unwrap_or(chrono::Duration::days(1))
    }

    pub(crate) async fn resolve_domain(
        &self,
        sel: &DomainSelector,
    ) -> Result<Option<crate::model::Domain>, IdentityError> {
        Ok(match sel {
            DomainSelector::Id(id) => self.store.get_domain(id).await?,
            DomainSelector::Name(name) => self.store.find_domain_by_name(name).await?,
        })
    }

    async fn find_user(&self, sel: &UserSelector) -> Result<Option<User>, IdentityError> {
        Ok(match sel {
            UserSelector::Id(id) => self.store.get_user(id).await?,
            UserSelector::Name { name, domain } => match self.resolve_domain(domain).await? {
                Some(d) => self.store.find_user_by_name(&d.id, name).await?,
                None => None,
            },
        })
    }

    async fn find_project(&self, sel: &ProjectSelector) -> Result<Option<Project>, IdentityError> {
        Ok(match sel {
            ProjectSelector::Id(id) => self.store.get_project(id).await?,
            ProjectSelector::Name { name, domain } => match self.resolve_domain(domain).await? {
                Some(d) => self.store.find_project_by_name(&d.id, name).await?,
                None => None,
            },
        })
    }

    async fn api_key_matches(&self, user_id: &str, key: &str) -> Result<bool, IdentityError> {
        let keys = self.store.list_api_keys(user_id).await?;
        if keys.is_empty() {
            // Spend the same time as a wrong key would.
            self.hasher.verify(key, None).await?;
        }
        for k in keys {
            if self.hasher.verify(key, Some(&k.key_hash)).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn domain_enabled(&self, domain_id: &str) -> Result<bool, IdentityError> {
        Ok(self
            .store
            .get_domain(domain_id)
            .await?
            .is_some_and(|d| d.enabled))
    }

    pub(crate) async fn domain_info(&self, domain_id: &str) -> Result<DomainInfo, IdentityError> {
        let d = self
            .store
            .get_domain(domain_id)
            .await?
            .ok_or_else(|| IdentityError::Internal(format!("dangling domain {domain_id}")))?;
        Ok(DomainInfo {
            id: d.id,
            name: d.name,
        })
    }

    async fn project_info(&self, p: &Project) -> Result<ProjectInfo, IdentityError> {
        Ok(ProjectInfo {
            id: p.id.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            enabled: p.enabled,
            domain: self.domain_info(&p.domain_id).await?,
        })
    }

    async fn has_any_role(&self, user_id: &str, project_id: &str) -> Result<bool, IdentityError> {
        Ok(!self.roles_on(user_id, project_id).await?.is_empty())
    }

    pub(crate) async fn roles_on(
        &self,
        user_id: &str,
        project_id: &str,
    ) -> Result<Vec<RoleInfo>, IdentityError> {
        let filter = AssignmentFilter {
            user_id: Some(user_id.to_owned()),
            project_id: Some(project_id.to_owned()),
            role_id: None,
        };
        let mut roles = Vec::new();
        for a in self.store.list_assignments(&filter).await? {
            if let Some(r) = self.store.get_role(&a.role_id).await? {
                roles.push(RoleInfo {
                    id: r.id,
                    name: r.name,
                });
            }
        }
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(roles)
    }

    /// Projects on which the user holds at least one role, enabled ones only.
    pub async fn projects_of_user(&self, user_id: &str) -> Result<Vec<Project>, IdentityError> {
        let filter = AssignmentFilter {
            user_id: Some(user_id.to_owned()),
            ..Default::default()
        };
        let mut ids: Vec<String> = self
            .store
            .list_assignments(&filter)
            .await?
            .into_iter()
            .map(|a| a.project_id)
            .collect();
        ids.sort();
        ids.dedup();
        let mut projects = Vec::new();
        for id in ids {
            if let Some(p) = self.store.get_project(&id).await? {
                if p.enabled {
                    projects.push(p);
                }
            }
        }
        Ok(projects)
    }
}
