//! Identity administration without a token, for the operator on the Basalt host: the same
//! operations as the v3 admin API, through the same identity service.

use basalt_identity::{AssignmentFilter, Identity, NameFilter, UserPatch, DEFAULT_DOMAIN_ID};
use clap::Subcommand;

use crate::setup::Env;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create, list, change and delete users.
    #[command(subcommand)]
    User(UserCommand),
    /// Create, list and delete projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// List and create roles; grant and revoke them on projects.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Create, list and delete a user's API keys (for apiKeyCredentials).
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
}

#[derive(Subcommand)]
pub enum UserCommand {
    Create {
        name: String,
        /// The password (omit for a user who signs in with API keys only).
        #[arg(long, env = "BASALT_USER_PASSWORD")]
        password: Option<String>,
        /// Grant a role on this project (name or id) and make it the default project.
        #[arg(long)]
        project: Option<String>,
        /// The role to grant on --project.
        #[arg(long, default_value = "member")]
        role: String,
        #[arg(long)]
        disabled: bool,
    },
    List,
    Show {
        user: String,
    },
    Set {
        user: String,
        #[arg(long)]
        password: Option<String>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
    },
    Delete {
        user: String,
    },
}

#[derive(Subcommand)]
pub enum ProjectCommand {
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    List,
    Delete {
        project: String,
    },
}

#[derive(Subcommand)]
pub enum RoleCommand {
    List,
    Create {
        name: String,
    },
    Delete {
        role: String,
    },
    /// Grant ROLE to --user on --project.
    Add {
        role: String,
        #[arg(long)]
        user: String,
        #[arg(long)]
        project: String,
    },
    /// Revoke ROLE from --user on --project.
    Remove {
        role: String,
        #[arg(long)]
        user: String,
        #[arg(long)]
        project: String,
    },
    /// List role assignments, optionally of one user or project.
    Assignments {
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        project: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum ApiKeyCommand {
    Create {
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    List {
        #[arg(long)]
        user: String,
    },
    Delete {
        id: String,
        #[arg(long)]
        user: String,
    },
}

async fn user_id(id: &Identity, user: &str) -> anyhow::Result<String> {
    if let Some(u) = id.find_user_by_name(DEFAULT_DOMAIN_ID, user).await? {
        return Ok(u.id);
    }
    Ok(id.get_user(user).await?.id)
}

async fn project_id(id: &Identity, project: &str) -> anyhow::Result<String> {
    let by_name = id
        .list_projects(&NameFilter {
            name: Some(project.to_owned()),
            domain_id: Some(DEFAULT_DOMAIN_ID.into()),
            enabled: None,
        })
        .await?;
    if let Some(p) = by_name.into_iter().next() {
        return Ok(p.id);
    }
    Ok(id.get_project(project).await?.id)
}

async fn role_id(id: &Identity, role: &str) -> anyhow::Result<String> {
    if let Some(r) = id.find_role_by_name(role).await? {
        return Ok(r.id);
    }
    Ok(id.get_role(role).await?.id)
}

pub async fn run(env: &Env, cmd: AdminCommand) -> anyhow::Result<()> {
    let id = env.offline_identity().await?;
    let id = id.as_ref();
    match cmd {
        AdminCommand::User(c) => user(id, c).await,
        AdminCommand::Project(c) => project(id, c).await,
        AdminCommand::Role(c) => role(id, c).await,
        AdminCommand::ApiKey(c) => api_key(id, c).await,
    }
}

async fn user(id: &Identity, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create {
            name,
            password,
            project,
            role,
            disabled,
        } => {
            let pid = match &project {
                Some(p) => Some(project_id(id, p).await?),
                None => None,
            };
            let u = id
                .create_user(
                    &name,
                    DEFAULT_DOMAIN_ID,
                    password.as_deref(),
                    !disabled,
                    pid.as_deref(),
                )
                .await?;
            if let Some(pid) = &pid {
                id.grant_role(pid, &u.id, &role_id(id, &role).await?)
                    .await?;
            }
            println!("{}", u.id);
        }
        UserCommand::List => {
            for u in id.list_users(&NameFilter::default()).await? {
                let state = if u.enabled { "enabled" } else { "disabled" };
                println!("{}  {}  {}", u.id, u.name, state);
            }
        }
        UserCommand::Show { user } => {
            let u = id.get_user(&user_id(id, &user).await?).await?;
            println!(
                "id: {}\nname: {}\ndomain: {}\nenabled: {}\ndefault_project_id: {}",
                u.id,
                u.name,
                u.domain_id,
                u.enabled,
                u.default_project_id.unwrap_or_default()
            );
        }
        UserCommand::Set {
            user,
            password,
            enable,
            disable,
        } => {
            let patch = UserPatch {
                password,
                enabled: if enable {
                    Some(true)
                } else if disable {
                    Some(false)
                } else {
                    None
                },
                ..Default::default()
            };
            id.update_user(&user_id(id, &user).await?, patch).await?;
        }
        UserCommand::Delete { user } => id.delete_user(&user_id(id, &user).await?).await?,
    }
    Ok(())
}

async fn project(id: &Identity, cmd: ProjectCommand) -> anyhow::Result<()> {
    match cmd {
        ProjectCommand::Create { name, description } => {
            let p = id
                .create_project(&name, DEFAULT_DOMAIN_ID, &description, true)
                .await?;
            println!("{}", p.id);
        }
        ProjectCommand::List => {
            for p in id.list_projects(&NameFilter::default()).await? {
                println!("{}  {}", p.id, p.name);
            }
        }
        ProjectCommand::Delete { project } => {
            id.delete_project(&project_id(id, &project).await?).await?
        }
    }
    Ok(())
}

async fn role(id: &Identity, cmd: RoleCommand) -> anyhow::Result<()> {
    match cmd {
        RoleCommand::List => {
            for r in id.list_roles(&NameFilter::default()).await? {
                println!("{}  {}", r.id, r.name);
            }
        }
        RoleCommand::Create { name } => println!("{}", id.create_role(&name).await?.id),
        RoleCommand::Delete { role } => id.delete_role(&role_id(id, &role).await?).await?,
        RoleCommand::Add {
            role,
            user,
            project,
        } => {
            let (p, u, r) = (
                project_id(id, &project).await?,
                user_id(id, &user).await?,
                role_id(id, &role).await?,
            );
            id.grant_role(&p, &u, &r).await?
        }
        RoleCommand::Remove {
            role,
            user,
            project,
        } => {
            let (p, u, r) = (
                project_id(id, &project).await?,
                user_id(id, &user).await?,
                role_id(id, &role).await?,
            );
            id.revoke_role(&p, &u, &r).await?
        }
        RoleCommand::Assignments { user, project } => {
            let filter = AssignmentFilter {
                user_id: match &user {
                    Some(u) => Some(user_id(id, u).await?),
                    None => None,
                },
                project_id: match &project {
                    Some(p) => Some(project_id(id, p).await?),
                    None => None,
                },
                role_id: None,
            };
            for a in id.list_assignments(&filter).await? {
                let u = id.get_user(&a.user_id).await?;
                let p = id.get_project(&a.project_id).await?;
                let r = id.get_role(&a.role_id).await?;
                println!("{}  {}  {}", u.name, p.name, r.name);
            }
        }
    }
    Ok(())
}

async fn api_key(id: &Identity, cmd: ApiKeyCommand) -> anyhow::Result<()> {
    match cmd {
        ApiKeyCommand::Create { user, description } => {
            let k = id
                .create_api_key(&user_id(id, &user).await?, &description)
                .await?;
            println!(
                "id: {}\nkey: {}\n(the key is shown only this once)",
                k.key.id, k.secret
            );
        }
        ApiKeyCommand::List { user } => {
            for k in id.list_api_keys(&user_id(id, &user).await?).await? {
                println!("{}  {}  {}", k.id, k.created_at.to_rfc3339(), k.description);
            }
        }
        ApiKeyCommand::Delete { id: key, user } => {
            id.delete_api_key(&user_id(id, &user).await?, &key).await?
        }
    }
    Ok(())
}
