//! The identity service over the real SQLite store: authentication rules, token lifecycle and
//! revocation on changes. These are the rules every store adapter must keep.

use std::sync::Arc;
use std::time::Duration;

use basalt_db::Database;
use basalt_identity::{
    AuthRequest, CatalogSettings, Credentials, DomainSelector, EndpointUrls, Identity,
    IdentityError, IdentitySettings, PasswordHasher, ProjectSelector, ScopeRequest, UserPatch,
    UserSelector, DEFAULT_DOMAIN_ID,
};

struct Fixture {
    identity: Arc<Identity>,
    _dir: tempfile::TempDir,
}

async fn fixture_with(ttl: Duration, cache: Duration) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&format!("sqlite://{}/t.db", dir.path().display()))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let settings = IdentitySettings {
        token_ttl: ttl,
        token_cache_ttl: cache,
        catalog: CatalogSettings {
            region: "RegionOne".into(),
            identity: EndpointUrls::same("https://127.0.0.1:5000"),
            volume: EndpointUrls::same("https://127.0.0.1:8776"),
        },
    };
    let identity = Arc::new(Identity::new(
        db.identity_store(),
        PasswordHasher::new(2),
        settings,
    ));
    identity.bootstrap(Some("adminpw".into())).await.unwrap();
    Fixture {
        identity,
        _dir: dir,
    }
}

async fn fixture() -> Fixture {
    fixture_with(Duration::from_secs(3600), Duration::from_secs(30)).await
}

fn by_name(name: &str) -> UserSelector {
    UserSelector::Name {
        name: name.into(),
        domain: DomainSelector::Id(DEFAULT_DOMAIN_ID.into()),
    }
}

fn project(name: &str) -> ScopeRequest {
    ScopeRequest::Project(ProjectSelector::Name {
        name: name.into(),
        domain: DomainSelector::Name("Default".into()),
    })
}

fn password(user: &str, pw: &str, scope: ScopeRequest) -> AuthRequest {
    AuthRequest {
        credentials: Credentials::Password {
            user: by_name(user),
            password: pw.into(),
        },
        scope,
    }
}

#[tokio::test]
async fn bootstrap_is_idempotent_and_keeps_the_first_password() {
    let f = fixture().await;
    let again = f.identity.bootstrap(Some("other".into())).await.unwrap();
    assert!(!again.created_admin);
    assert!(f
        .identity
        .issue_token(password("admin", "adminpw", project("admin")))
        .await
        .is_ok());
    assert!(matches!(
        f.identity
            .issue_token(password("admin", "other", project("admin")))
            .await,
        Err(IdentityError::Unauthorized)
    ));
}

#[tokio::test]
async fn a_scoped_token_carries_project_and_roles_and_validates() {
    let f = fixture().await;
    let t = f
        .identity
        .issue_token(password("admin", "adminpw", project("admin")))
        .await
        .unwrap();
    assert_eq!(t.info.project.as_ref().unwrap().name, "admin");
    assert!(t.info.is_admin());
    let v = f.identity.validate(&t.id).await.unwrap();
    assert_eq!(v.user.name, "admin");
    assert_eq!(v.user.domain.name, "Default");
}

#[tokio::test]
async fn every_authentication_failure_is_the_same_unauthorized() {
    let f = fixture().await;
    let id = &f.identity;
    let p = id
        .create_project("demo", DEFAULT_DOMAIN_ID, "", true)
        .await
        .unwrap();
    let u = id
        .create_user("bob", DEFAULT_DOMAIN_ID, Some("pw"), true, None)
        .await
        .unwrap();
    let cases = [
        password("admin", "wrong", project("admin")),
        password("nobody", "pw", project("admin")),
        // bob has no role on demo
        password("bob", "pw", project("demo")),
        password("admin", "adminpw", project("no-such-project")),
    ];
    for c in cases {
        assert!(matches!(
            id.issue_token(c).await,
            Err(IdentityError::Unauthorized)
        ));
    }
    let member = id.find_role_by_name("member").await.unwrap().unwrap();
    id.grant_role(&p.id, &u.id, &member.id).await.unwrap();
    assert!(id
        .issue_token(password("bob", "pw", project("demo")))
        .await
        .is_ok());
    id.update_user(
        &u.id,
        UserPatch {
            enabled: Some(false),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(matches!(
        id.issue_token(password("bob", "pw", project("demo"))).await,
        Err(IdentityError::Unauthorized)
    ));
}

#[tokio::test]
async fn unscoped_then_rescoped_token_keeps_expiry_and_audit_chain() {
    let f = fixture().await;
    let unscoped = f
        .identity
        .issue_token(password("admin", "adminpw", ScopeRequest::Unscoped))
        .await
        .unwrap();
    assert!(unscoped.info.project.is_none());
    assert!(unscoped.info.roles.is_empty());
    let scoped = f
        .identity
        .issue_token(AuthRequest {
            credentials: Credentials::Token {
                id: unscoped.id.clone(),
            },
            scope: project("admin"),
        })
        .await
        .unwrap();
    assert_eq!(scoped.info.expires_at, unscoped.info.expires_at);
    assert_eq!(scoped.info.audit_ids[1], unscoped.info.audit_ids[0]);
    assert_eq!(scoped.info.methods, ["token"]);
}

#[tokio::test]
async fn v3_without_scope_uses_the_default_project() {
    let f = fixture().await;
    let t = f
        .identity
        .issue_token(password("admin", "adminpw", ScopeRequest::Default))
        .await
        .unwrap();
    assert_eq!(t.info.project.as_ref().unwrap().name, "admin");
}

#[tokio::test]
async fn revoked_and_expired_tokens_are_refused() {
    let f = fixture_with(Duration::from_millis(300), Duration::from_secs(30)).await;
    let t = f
        .identity
        .issue_token(password("admin", "adminpw", project("admin")))
        .await
        .unwrap();
    f.identity.validate(&t.id).await.unwrap();
    assert!(f.identity.revoke(&t.id).await.unwrap());
    assert!(f.identity.validate(&t.id).await.is_err());
    assert!(!f.identity.revoke(&t.id).await.unwrap());

    let t = f
        .identity
        .issue_token(password("admin", "adminpw", project("admin")))
        .await
        .unwrap();
    f.identity.validate(&t.id).await.unwrap(); // now cached
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        f.identity.validate(&t.id).await.is_err(),
        "expired, even from cache"
    );
    assert_eq!(f.identity.purge_expired_tokens().await.unwrap(), 1);
}

#[tokio::test]
async fn removing_a_role_or_changing_the_password_revokes_tokens() {
    let f = fixture().await;
    let id = &f.identity;
    let p = id
        .create_project("demo", DEFAULT_DOMAIN_ID, "", true)
        .await
        .unwrap();
    let u = id
        .create_user("carol", DEFAULT_DOMAIN_ID, Some("pw"), true, None)
        .await
        .unwrap();
    let member = id.find_role_by_name("member").await.unwrap().unwrap();
    id.grant_role(&p.id, &u.id, &member.id).await.unwrap();
    let t = id
        .issue_token(password("carol", "pw", project("demo")))
        .await
        .unwrap();
    id.validate(&t.id).await.unwrap();
    id.revoke_role(&p.id, &u.id, &member.id).await.unwrap();
    assert!(id.validate(&t.id).await.is_err());

    id.grant_role(&p.id, &u.id, &member.id).await.unwrap();
    let t = id
        .issue_token(password("carol", "pw", project("demo")))
        .await
        .unwrap();
    id.change_password(&u.id, "pw", "pw2").await.unwrap();
    assert!(id.validate(&t.id).await.is_err());
    assert!(id
        .issue_token(password("carol", "pw2", project("demo")))
        .await
        .is_ok());
}

#[tokio::test]
async fn api_keys_authenticate_and_are_stored_hashed() {
    let f = fixture().await;
    let admin = f
        .identity
        .find_user_by_name(DEFAULT_DOMAIN_ID, "admin")
        .await
        .unwrap()
        .unwrap();
    let k = f.identity.create_api_key(&admin.id, "ci").await.unwrap();
    assert!(k.key.key_hash.starts_with("$argon2id$"));
    assert!(!k.key.key_hash.contains(&k.secret));
    let with_key = |key: &str| AuthRequest {
        credentials: Credentials::ApiKey {
            user: by_name("admin"),
            key: key.into(),
        },
        scope: project("admin"),
    };
    let t = f.identity.issue_token(with_key(&k.secret)).await.unwrap();
    assert_eq!(t.info.methods, ["apikey"]);
    assert!(f.identity.issue_token(with_key("wrong")).await.is_err());
    f.identity
        .delete_api_key(&admin.id, &k.key.id)
        .await
        .unwrap();
    assert!(f.identity.issue_token(with_key(&k.secret)).await.is_err());
}

#[tokio::test]
async fn duplicate_names_conflict_and_unknown_ids_are_not_found() {
    let f = fixture().await;
    let id = &f.identity;
    id.create_project("dup", DEFAULT_DOMAIN_ID, "", true)
        .await
        .unwrap();
    assert!(matches!(
        id.create_project("dup", DEFAULT_DOMAIN_ID, "", true).await,
        Err(IdentityError::Conflict(_))
    ));
    assert!(matches!(
        id.create_user("x", "no-such-domain", None, true, None)
            .await,
        Err(IdentityError::NotFound(_))
    ));
    assert!(matches!(
        id.delete_user("nope").await,
        Err(IdentityError::NotFound(_))
    ));
    assert!(matches!(
        id.create_role("").await,
        Err(IdentityError::BadRequest(_))
    ));
}

#[tokio::test]
async fn deleting_a_project_removes_its_tokens() {
    let f = fixture().await;
    let id = &f.identity;
    let p = id
        .create_project("gone", DEFAULT_DOMAIN_ID, "", true)
        .await
        .unwrap();
    let admin = id
        .find_user_by_name(DEFAULT_DOMAIN_ID, "admin")
        .await
        .unwrap()
        .unwrap();
    let role = id.find_role_by_name("admin").await.unwrap().unwrap();
    id.grant_role(&p.id, &admin.id, &role.id).await.unwrap();
    let t = id
        .issue_token(password("admin", "adminpw", project("gone")))
        .await
        .unwrap();
    id.validate(&t.id).await.unwrap();
    id.delete_project(&p.id).await.unwrap();
    assert!(id.validate(&t.id).await.is_err());
}
