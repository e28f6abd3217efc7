//! Administration of domains, projects, users, roles, role assignments and API keys. Policy
//! (who may call these) is the caller's business; these enforce the data's own rules.

use chrono::Utc;

use super::Identity;
use crate::error::IdentityError;
use crate::model::{ApiKey, Domain, NewApiKey, Project, Role, RoleAssignment, User};
use crate::ports::{AssignmentFilter, NameFilter, StoreError, TokenRevocation};
use crate::secret::{new_id, random_token};

/// Fields of a user that may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub password: Option<String>,
    pub enabled: Option<bool>,
    pub default_project_id: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub description: Option<Option<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct ProjectPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

const MAX_NAME: usize = 255;

fn check_name(kind: &str, name: &str) -> Result<(), IdentityError> {
    if name.trim().is_empty() || name.len() > MAX_NAME {
        return Err(IdentityError::BadRequest(format!(
            "Invalid input for field 'name': a {kind} name must be 1 to {MAX_NAME} characters."
        )));
    }
    Ok(())
}

fn conflict(kind: &'static str, name: &str) -> impl FnOnce(StoreError) -> IdentityError {
    let name = name.to_owned();
    move |e| {
        match e {
        StoreError::Conflict(_) => {
            IdentityError::Conflict(format!("Conflict occurred attempting to store {kind} - Duplicate entry found with name {name}."))
        }
        other => other.into(),
    }
    }
}

impl Identity {
    pub async fn get_domain(&self, id: &str) -> Result<Domain, IdentityError> {
        self.store
            .get_domain(id)
            .await?
            .ok_or_else(|| IdentityError::not_found("domain", id))
    }

    pub async fn list_domains(&self, filter: &NameFilter) -> Result<Vec<Domain>, IdentityError> {
        Ok(self.store.list_domains(filter).await?)
    }

    pub async fn create_project(
        &self,
        name: &str,
        domain_id: &str,
        description: &str,
        enabled: bool,
    ) -> Result<Project, IdentityError> {
        check_name("project", name)?;
        self.get_domain(domain_id).await?;
        let project = Project {
            id: new_id(),
            name: name.to_owned(),
            domain_id: domain_id.to_owned(),
            description: description.to_owned(),
            enabled,
        };
        self.store
            .create_project(&project)
            .await
            .map_err(conflict("project", name))?;
        Ok(project)
    }

    pub async fn get_project(&self, id: &str) -> Result<Project, IdentityError> {
        self.store
            .get_project(id)
            .await?
            .ok_or_else(|| IdentityError::not_found("project", id))
    }

    pub async fn list_projects(&self, filter: &NameFilter) -> Result<Vec<Project>, IdentityError> {
        Ok(self.store.list_projects(filter).await?)
    }

    pub async fn update_project(
        &self,
        id: &str,
        patch: ProjectPatch,
    ) -> Result<Project, IdentityError> {
        let mut p = self.get_project(id).await?;
        if let Some(name) = patch.name {
            check_name("project", &name)?;
            p.name = name;
        }
        if let Some(d) = patch.description {
            p.description = d;
        }
        let disabling = patch.enabled == Some(false) && p.enabled;
        if let Some(e) = patch.enabled {
            p.enabled = e;
        }
        let name = p.name.clone();
        self.store
            .update_project(&p)
            .await
            .map_err(conflict("project", &name))?;
        if disabling {
            self.revoke_matching(TokenRevocation {
                project_id: Some(p.id.clone()),
                ..Default::default()
            })
            .await?;
        }
        Ok(p)
    }

    pub async fn delete_project(&self, id: &str) -> Result<(), IdentityError> {
        if !self.store.delete_project(id).await? {
            return Err(IdentityError::not_found("project", id));
        }
        self.cache.clear();
        Ok(())
    }

    pub async fn create_user(
        &self,
        name: &str,
        domain_id: &str,
        password: Option<&str>,
        enabled: bool,
        default_project_id: Option<&str>,
    ) -> Result<User, IdentityError> {
        check_name("user", name)?;
        self.get_domain(domain_id).await?;
        if let Some(p) = default_project_id {
            self.get_project(p).await?;
        }
        let password_hash = match password {
            Some(p) => Some(self.hasher.hash(p).await?),
            None => None,
        };
        let user = User {
            id: new_id(),
            name: name.to_owned(),
            domain_id: domain_id.to_owned(),
            enabled,
            default_project_id: default_project_id.map(str::to_owned),
            email: None,
            description: None,
            password_hash,
        };
        self.store
            .create_user(&user)
            .await
            .map_err(conflict("user", name))?;
        Ok(user)
    }

    pub async fn get_user(&self, id: &str) -> Result<User, IdentityError> {
        self.store
            .get_user(id)
            .await?
            .ok_or_else(|| IdentityError::not_found("user", id))
    }

    pub async fn find_user_by_name(
        &self,
        domain_id: &str,
        name: &str,
    ) -> Result<Option<User>, IdentityError> {
        Ok(self.store.find_user_by_name(domain_id, name).await?)
    }

    pub async fn list_users(&self, filter: &NameFilter) -> Result<Vec<User>, IdentityError> {
        Ok(self.store.list_users(filter).await?)
    }

    /// Disabling a user or changing their password revokes their tokens, as Keystone does.
    pub async fn update_user(&self, id: &str, patch: UserPatch) -> Result<User, IdentityError> {
        let mut u = self.get_user(id).await?;
        let mut revoke = false;
        if let Some(name) = patch.name {
            check_name("user", &name)?;
            u.name = name;
        }
        if let Some(pw) = patch.password {
            u.password_hash = Some(self.hasher.hash(&pw).await?);
            revoke = true;
        }
        if let Some(e) = patch.enabled {
            revoke |= u.enabled && !e;
            u.enabled = e;
        }
        if let Some(p) = patch.default_project_id {
            if let Some(p) = &p {
                self.get_project(p).await?;
            }
            u.default_project_id = p;
        }
        if let Some(e) = patch.email {
            u.email = e;
        }
        if let Some(d) = patch.description {
            u.description = d;
        }
        let name = u.name.clone();
        self.store
            .update_user(&u)
            .await
            .map_err(conflict("user", &name))?;
        if revoke {
            self.revoke_matching(TokenRevocation {
                user_id: Some(u.id.clone()),
                ..Default::default()
            })
            .await?;
        }
        Ok(u)
    }

    /// Self-service: the original password is checked like a login would check it.
    pub async fn change_password(
        &self,
        user_id: &str,
        original: &str,
        new: &str,
    ) -> Result<(), IdentityError> {
        let u = self.get_user(user_id).await?;
        if !self
            .hasher
            .verify(original, u.password_hash.as_deref())
            .await?
        {
            return Err(IdentityError::Unauthorized);
        }
        let patch = UserPatch {
            password: Some(new.to_owned()),
            ..Default::default()
        };
        self.update_user(user_id, patch).await.map(|_| ())
    }

    pub async fn delete_user(&self, id: &str) -> Result<(), IdentityError> {
        if !self.store.delete_user(id).await? {
            return Err(IdentityError::not_found("user", id));
        }
        self.cache.clear();
        Ok(())
    }

    pub async fn create_role(&self, name: &str) -> Result<Role, IdentityError> {
        check_name("role", name)?;
        let role = Role {
            id: new_id(),
            name: name.to_owned(),
        };
        self.store
            .create_role(&role)
            .await
            .map_err(conflict("role", name))?;
        Ok(role)
    }

    pub async fn get_role(&self, id: &str) -> Result<Role, IdentityError> {
        self.store
            .get_role(id)
            .await?
            .ok_or_else(|| IdentityError::not_found("role", id))
    }

    pub async fn find_role_by_name(&self, name: &str) -> Result<Option<Role>, IdentityError> {
        Ok(self.store.find_role_by_name(name).await?)
    }

    pub async fn list_roles(&self, filter: &NameFilter) -> Result<Vec<Role>, IdentityError> {
        Ok(self.store.list_roles(filter).await?)
    }

    /// Tokens carry a snapshot of their roles, so the tokens of every user who held the role
    /// on a project are revoked for that project, and no others.
    pub async fn delete_role(&self, id: &str) -> Result<(), IdentityError> {
        let holders = self
            .store
            .list_assignments(&AssignmentFilter {
                role_id: Some(id.to_owned()),
                ..Default::default()
            })
            .await?;
        if !self.store.delete_role(id).await? {
            return Err(IdentityError::not_found("role", id));
        }
        for a in holders {
            self.store
                .revoke_tokens(&TokenRevocation {
                    user_id: Some(a.user_id),
                    project_id: Some(a.project_id),
                })
                .await?;
        }
        self.cache.clear();
        Ok(())
    }

    pub async fn grant_role(
        &self,
        project_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<(), IdentityError> {
        let a = self
            .checked_assignment(project_id, user_id, role_id)
            .await?;
        self.store.add_assignment(&a).await?;
        Ok(())
    }

    pub async fn check_grant(
        &self,
        project_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<(), IdentityError> {
        let a = self
            .checked_assignment(project_id, user_id, role_id)
            .await?;
        let found = self
            .store
            .list_assignments(&AssignmentFilter {
                user_id: Some(a.user_id),
                project_id: Some(a.project_id),
                role_id: Some(a.role_id),
            })
            .await?;
        if found.is_empty() {
            return Err(IdentityError::NotFound(format!(
                "Could not find role assignment with role: {role_id}, user or group: {user_id}, project, domain, or system: {project_id}."
            )));
        }
        Ok(())
    }

    /// Revokes the user's tokens on that project, since they carry the role.
    pub async fn revoke_role(
        &self,
        project_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<(), IdentityError> {
        let a = self
            .checked_assignment(project_id, user_id, role_id)
            .await?;
        if !self.store.remove_assignment(&a).await? {
            return Err(IdentityError::NotFound(format!(
                "Could not find role assignment with role: {role_id}, user or group: {user_id}, project, domain, or system: {project_id}."
            )));
        }
        self.revoke_matching(TokenRevocation {
            user_id: Some(a.user_id),
            project_id: Some(a.project_id),
        })
        .await
    }

    pub async fn list_assignments(
        &self,
        filter: &AssignmentFilter,
    ) -> Result<Vec<RoleAssignment>, IdentityError> {
        Ok(self.store.list_assignments(filter).await?)
    }

    async fn checked_assignment(
        &self,
        project_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<RoleAssignment, IdentityError> {
        self.get_project(project_id).await?;
        self.get_user(user_id).await?;
        self.get_role(role_id).await?;
        Ok(RoleAssignment {
            user_id: user_id.to_owned(),
            project_id: project_id.to_owned(),
            role_id: role_id.to_owned(),
        })
    }

    /// A new API key for the user; its secret is returned once and stored only hashed.
    pub async fn create_api_key(
        &self,
        user_id: &str,
        description: &str,
    ) -> Result<NewApiKey, IdentityError> {
        self.get_user(user_id).await?;
        let secret = random_token();
        let key = ApiKey {
            id: new_id(),
            user_id: user_id.to_owned(),
            description: description.to_owned(),
            key_hash: self.hasher.hash(&secret).await?,
            created_at: Utc::now(),
        };
        self.store.create_api_key(&key).await?;
        Ok(NewApiKey { key, secret })
    }

    pub async fn list_api_keys(&self, user_id: &str) -> Result<Vec<ApiKey>, IdentityError> {
        self.get_user(user_id).await?;
        Ok(self.store.list_api_keys(user_id).await?)
    }

    pub async fn delete_api_key(&self, user_id: &str, id: &str) -> Result<(), IdentityError> {
        if !self.store.delete_api_key(user_id, id).await? {
            return Err(IdentityError::not_found("API key", id));
        }
        Ok(())
    }
}
