//! [`IdentityStore`] over sqlx. Listing filters are optional exact matches, bound as
//! parameters (`? IS NULL OR col = ?`) so that every query is a static string.

use async_trait::async_trait;
use basalt_identity::{
    ApiKey, AssignmentFilter, Domain, IdentityStore, NameFilter, Project, Role, RoleAssignment,
    StoreError, StoredToken, TokenInfo, TokenRevocation, User,
};
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use crate::error::store_err;

pub struct SqlIdentityStore {
    pool: SqlitePool,
}

impl SqlIdentityStore {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        SqlIdentityStore { pool }
    }
}

type Result<T> = std::result::Result<T, StoreError>;

type DomainRow = (String, String, String, bool);
type ProjectRow = (String, String, String, String, bool);
type UserRow = (
    String,
    String,
    String,
    bool,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn domain(r: DomainRow) -> Domain {
    Domain {
        id: r.0,
        name: r.1,
        description: r.2,
        enabled: r.3,
    }
}

fn project(r: ProjectRow) -> Project {
    Project {
        id: r.0,
        name: r.1,
        domain_id: r.2,
        description: r.3,
        enabled: r.4,
    }
}

fn user(r: UserRow) -> User {
    User {
        id: r.0,
        name: r.1,
        domain_id: r.2,
        enabled: r.3,
        default_project_id: r.4,
        email: r.5,
        description: r.6,
        password_hash: r.7,
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(v).unwrap_or_default()
}

const DOMAIN_COLS: &str = "SELECT id, name, description, enabled FROM domains";
const PROJECT_COLS: &str = "SELECT id, name, domain_id, description, enabled FROM projects";
const USER_COLS: &str = "SELECT id, name, domain_id, enabled, default_project_id, email, \
                         description, password_hash FROM users";

#[async_trait]
impl IdentityStore for SqlIdentityStore {
    async fn get_domain(&self, id: &str) -> Result<Option<Domain>> {
        let sql = format!("{DOMAIN_COLS} WHERE id = ?");
        let row: Option<DomainRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(row.map(domain))
    }

    async fn find_domain_by_name(&self, name: &str) -> Result<Option<Domain>> {
        let sql = format!("{DOMAIN_COLS} WHERE name = ?");
        let row: Option<DomainRow> = sqlx::query_as(&sql)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(row.map(domain))
    }

    async fn list_domains(&self, f: &NameFilter) -> Result<Vec<Domain>> {
        let sql = format!(
            "{DOMAIN_COLS} WHERE (?1 IS NULL OR name = ?1) AND (?2 IS NULL OR enabled = ?2) \
             ORDER BY name"
        );
        let rows: Vec<DomainRow> = sqlx::query_as(&sql)
            .bind(&f.name)
            .bind(f.enabled)
            .fetch_all(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(rows.into_iter().map(domain).collect())
    }

    async fn create_domain(&self, d: &Domain) -> Result<()> {
        sqlx::query("INSERT INTO domains (id, name, description, enabled) VALUES (?, ?, ?, ?)")
            .bind(&d.id)
            .bind(&d.name)
            .bind(&d.description)
            .bind(d.enabled)
            .execute(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn get_project(&self, id: &str) -> Result<Option<Project>> {
        let sql = format!("{PROJECT_COLS} WHERE id = ?");
        let row: Option<ProjectRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(row.map(project))
    }

    async fn find_project_by_name(&self, domain_id: &str, name: &str) -> Result<Option<Project>> {
        let sql = format!("{PROJECT_COLS} WHERE domain_id = ? AND name = ?");
        let row: Option<ProjectRow> = sqlx::query_as(&sql)
            .bind(domain_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(row.map(project))
    }

    async fn list_projects(&self, f: &NameFilter) -> Result<Vec<Project>> {
        let sql = format!(
            "{PROJECT_COLS} WHERE (?1 IS NULL OR name = ?1) AND (?2 IS NULL OR domain_id = ?2) \
             AND (?3 IS NULL OR enabled = ?3) ORDER BY name"
        );
        let rows: Vec<ProjectRow> = sqlx::query_as(&sql)
            .bind(&f.name)
            .bind(&f.domain_id)
            .bind(f.enabled)
            .fetch_all(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(rows.into_iter().map(project).collect())
    }

    async fn create_project(&self, p: &Project) -> Result<()> {
        sqlx::query(
            "INSERT INTO projects (id, name, domain_id, description, enabled) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(&p.domain_id)
        .bind(&p.description)
        .bind(p.enabled)
        .execute(&self.pool)
        .await
        .map_err(store_err)?;
        Ok(())
    }

    async fn update_project(&self, p: &Project) -> Result<bool> {
        let r =
            sqlx::query("UPDATE projects SET name = ?, description = ?, enabled = ? WHERE id = ?")
                .bind(&p.name)
                .bind(&p.description)
                .bind(p.enabled)
                .bind(&p.id)
                .execute(&self.pool)
                .await
                .map_err(store_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_project(&self, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM projects WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>> {
        let sql = format!("{USER_COLS} WHERE id = ?");
        let row: Option<UserRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(row.map(user))
    }

    async fn find_user_by_name(&self, domain_id: &str, name: &str) -> Result<Option<User>> {
        let sql = format!("{USER_COLS} WHERE domain_id = ? AND name = ?");
        let row: Option<UserRow> = sqlx::query_as(&sql)
            .bind(domain_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(row.map(user))
    }

    async fn list_users(&self, f: &NameFilter) -> Result<Vec<User>> {
        let sql = format!(
            "{USER_COLS} WHERE (?1 IS NULL OR name = ?1) AND (?2 IS NULL OR domain_id = ?2) \
             AND (?3 IS NULL OR enabled = ?3) ORDER BY name"
        );
        let rows: Vec<UserRow> = sqlx::query_as(&sql)
            .bind(&f.name)
            .bind(&f.domain_id)
            .bind(f.enabled)
            .fetch_all(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(rows.into_iter().map(user).collect())
    }

    async fn create_user(&self, u: &User) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (id, name, domain_id, enabled, default_project_id, email, \
             description, password_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&u.id)
        .bind(&u.name)
        .bind(&u.domain_id)
        .bind(u.enabled)
        .bind(&u.default_project_id)
        .bind(&u.email)
        .bind(&u.description)
        .bind(&u.password_hash)
        .execute(&self.pool)
        .await
        .map_err(store_err)?;
        Ok(())
    }

    async fn update_user(&self, u: &User) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE users SET name = ?, enabled = ?, default_project_id = ?, email = ?, \
             description = ?, password_hash = ? WHERE id = ?",
        )
        .bind(&u.name)
        .bind(u.enabled)
        .bind(&u.default_project_id)
        .bind(&u.email)
        .bind(&u.description)
        .bind(&u.password_hash)
        .bind(&u.id)
        .execute(&self.pool)
        .await
        .map_err(store_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_user(&self, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM users WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn get_role(&self, id: &str) -> Result<Option<Role>> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT id, name FROM roles WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(store_err)?;
        Ok(row.map(|(id, name)| Role { id, name }))
    }

    async fn find_role_by_name(&self, name: &str) -> Result<Option<Role>> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT id, name FROM roles WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(store_err)?;
        Ok(row.map(|(id, name)| Role { id, name }))
    }

    async fn list_roles(&self, f: &NameFilter) -> Result<Vec<Role>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, name FROM roles WHERE (?1 IS NULL OR name = ?1) ORDER BY name",
        )
        .bind(&f.name)
        .fetch_all(&self.pool)
        .await
        .map_err(store_err)?;
        Ok(rows
            .into_iter()
            .map(|(id, name)| Role { id, name })
            .collect())
    }

    async fn create_role(&self, r: &Role) -> Result<()> {
        sqlx::query("INSERT INTO roles (id, name) VALUES (?, ?)")
            .bind(&r.id)
            .bind(&r.name)
            .execute(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn delete_role(&self, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM roles WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn add_assignment(&self, a: &RoleAssignment) -> Result<()> {
        sqlx::query(
            "INSERT INTO role_assignments (user_id, project_id, role_id) VALUES (?, ?, ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&a.user_id)
        .bind(&a.project_id)
        .bind(&a.role_id)
        .execute(&self.pool)
        .await
        .map_err(store_err)?;
        Ok(())
    }

    async fn remove_assignment(&self, a: &RoleAssignment) -> Result<bool> {
        let r = sqlx::query(
            "DELETE FROM role_assignments WHERE user_id = ? AND project_id = ? AND role_id = ?",
        )
        .bind(&a.user_id)
        .bind(&a.project_id)
        .bind(&a.role_id)
        .execute(&self.pool)
        .await
        .map_err(store_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn list_assignments(&self, f: &AssignmentFilter) -> Result<Vec<RoleAssignment>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT user_id, project_id, role_id FROM role_assignments \
             WHERE (?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR project_id = ?2) \
             AND (?3 IS NULL OR role_id = ?3) ORDER BY user_id, project_id, role_id",
        )
        .bind(&f.user_id)
        .bind(&f.project_id)
        .bind(&f.role_id)
        .fetch_all(&self.pool)
        .await
        .map_err(store_err)?;
        Ok(rows
            .into_iter()
            .map(|(user_id, project_id, role_id)| RoleAssignment {
                user_id,
                project_id,
                role_id,
            })
            .collect())
    }

    async fn create_api_key(&self, k: &ApiKey) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, description, key_hash, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&k.id)
        .bind(&k.user_id)
        .bind(&k.description)
        .bind(&k.key_hash)
        .bind(micros(k.created_at))
        .execute(&self.pool)
        .await
        .map_err(store_err)?;
        Ok(())
    }

    async fn list_api_keys(&self, user_id: &str) -> Result<Vec<ApiKey>> {
        let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT id, user_id, description, key_hash, created_at FROM api_keys \
             WHERE user_id = ? ORDER BY created_at",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(store_err)?;
        Ok(rows
            .into_iter()
            .map(|r| ApiKey {
                id: r.0,
                user_id: r.1,
                description: r.2,
                key_hash: r.3,
                created_at: from_micros(r.4),
            })
            .collect())
    }

    async fn delete_api_key(&self, user_id: &str, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM api_keys WHERE user_id = ? AND id = ?")
            .bind(user_id)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn insert_token(&self, t: &StoredToken) -> Result<()> {
        let body =
            serde_json::to_string(&t.info).map_err(|e| StoreError::Backend(e.to_string()))?;
        sqlx::query(
            "INSERT INTO tokens (digest, user_id, project_id, expires_at, body) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&t.digest)
        .bind(&t.user_id)
        .bind(&t.project_id)
        .bind(micros(t.expires_at))
        .bind(body)
        .execute(&self.pool)
        .await
        .map_err(store_err)?;
        Ok(())
    }

    async fn get_token(&self, digest: &str) -> Result<Option<StoredToken>> {
        let row: Option<(String, String, Option<String>, i64, String)> = sqlx::query_as(
            "SELECT digest, user_id, project_id, expires_at, body FROM tokens WHERE digest = ?",
        )
        .bind(digest)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err)?;
        row.map(|r| {
            let info: TokenInfo =
                serde_json::from_str(&r.4).map_err(|e| StoreError::Backend(e.to_string()))?;
            Ok(StoredToken {
                digest: r.0,
                user_id: r.1,
                project_id: r.2,
                expires_at: from_micros(r.3),
                info,
            })
        })
        .transpose()
    }

    async fn delete_token(&self, digest: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM tokens WHERE digest = ?")
            .bind(digest)
            .execute(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn revoke_tokens(&self, w: &TokenRevocation) -> Result<u64> {
        let r = sqlx::query(
            "DELETE FROM tokens WHERE (?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR project_id = ?2)",
        )
        .bind(&w.user_id)
        .bind(&w.project_id)
        .execute(&self.pool)
        .await
        .map_err(store_err)?;
        Ok(r.rows_affected())
    }

    async fn purge_expired_tokens(&self, now: DateTime<Utc>) -> Result<u64> {
        let r = sqlx::query("DELETE FROM tokens WHERE expires_at <= ?")
            .bind(micros(now))
            .execute(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(r.rows_affected())
    }
}
