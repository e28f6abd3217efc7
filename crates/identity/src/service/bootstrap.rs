//! First-start provisioning: the default domain, the built-in roles, and the `admin` user with
//! role `admin` on project `admin`. Idempotent: a later start changes nothing.

use super::Identity;
use crate::error::IdentityError;
use crate::model::{Domain, RoleAssignment, DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME};
use crate::ports::NameFilter;
use crate::secret::random_password;

pub const BUILTIN_ROLES: [&str; 3] = ["admin", "member", "reader"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapOutcome {
    /// True when the admin user was created by this call.
    pub created_admin: bool,
    /// The generated admin password, when one had to be generated (print it once).
    pub generated_password: Option<String>,
    /// The admin password when the admin was created (given or generated), for openrc.
    pub admin_password: Option<String>,
}

impl Identity {
    pub async fn bootstrap(
        &self,
        admin_password: Option<String>,
    ) -> Result<BootstrapOutcome, IdentityError> {
        if self.store.get_domain(DEFAULT_DOMAIN_ID).await?.is_none() {
            self.store
                .create_domain(&Domain {
                    id: DEFAULT_DOMAIN_ID.into(),
                    name: DEFAULT_DOMAIN_NAME.into(),
                    description: "The default domain".into(),
                    enabled: true,
                })
                .await?;
        }
        for name in BUILTIN_ROLES {
            if self.store.find_role_by_name(name).await?.is_none() {
                self.create_role(name).await?;
            }
        }
        let project = match self
            .store
            .find_project_by_name(DEFAULT_DOMAIN_ID, "admin")
            .await?
        {
            Some(p) => p,
            None => {
                self.create_project("admin", DEFAULT_DOMAIN_ID, "Bootstrap project", true)
                    .await?
            }
        };
        if self
            .store
            .find_user_by_name(DEFAULT_DOMAIN_ID, "admin")
            .await?
            .is_some()
        {
            return Ok(BootstrapOutcome {
                created_admin: false,
                generated_password: None,
                admin_password: None,
            });
        }
        let (password, generated) = match admin_password.filter(|p| !p.is_empty()) {
            Some(p) => (p, false),
            None => (random_password(), true),
        };
        let user = self
            .create_user(
                "admin",
                DEFAULT_DOMAIN_ID,
                Some(&password),
                true,
                Some(&project.id),
            )
            .await?;
        let admin_role = self
            .store
            .list_roles(&NameFilter {
                name: Some("admin".into()),
                ..Default::default()
            })
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| IdentityError::Internal("role admin vanished".into()))?;
        self.store
            .add_assignment(&RoleAssignment {
                user_id: user.id,
                project_id: project.id,
                role_id: admin_role.id,
            })
            .await?;
        Ok(BootstrapOutcome {
            created_admin: true,
            generated_password: generated.then(|| password.clone()),
            admin_password: Some(password),
        })
    }
}
