//! End-to-end: the real `basalt` binary on free loopback ports in a temporary data directory,
//! driven over HTTPS as a client would.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::{json, Value};

fn openrc_value(data: &Path, key: &str) -> String {
    let text = std::fs::read_to_string(data.join("openrc")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("export {key}=")))
        .unwrap_or_else(|| panic!("{key} missing from openrc"));
    line.split_once('=')
        .unwrap()
        .1
        .trim_matches('\'')
        .to_owned()
}

#[tokio::test]
async fn first_start_creates_everything_and_restart_reuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let data: PathBuf = dir.path().join("data");
    let s = start(&data, &[], None);
    let printed = s.stdout.join("\n");
    assert!(printed.contains("with password: "), "{printed}");
    for f in [
        "basalt.toml",
        "basalt.db",
        "tls/ca.pem",
        "tls/server.pem",
        "openrc",
    ] {
        assert!(data.join(f).exists(), "{f}");
    }
    for key in [
        "OS_AUTH_URL",
        "OS_USERNAME",
        "OS_PASSWORD",
        "OS_PROJECT_NAME",
        "OS_USER_DOMAIN_NAME",
        "OS_PROJECT_DOMAIN_NAME",
        "OS_IDENTITY_API_VERSION",
        "OS_CACERT",
    ] {
        openrc_value(&data, key);
    }
    let password = openrc_value(&data, "OS_PASSWORD");
    assert!(printed.contains(&password));
    assert_eq!(
        openrc_value(&data, "OS_AUTH_URL"),
        format!("{}/v3", s.identity)
    );
    let ca = PathBuf::from(openrc_value(&data, "OS_CACERT"));
    let c = client(&ca);
    let (token, project) = login(&c, &s, &password).await.unwrap();
    let r = c
        .get(format!("{}/v2/{project}/extensions", s.volume))
        .header("x-auth-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ca_before = std::fs::read(&ca).unwrap();
    assert!(s.terminate().success(), "graceful exit on SIGTERM");

    let s = start(&data, &[], Some("ignored-on-restart"));
    assert!(!s.stdout.join("\n").contains("password"), "no new secrets");
    assert_eq!(std::fs::read(&ca).unwrap(), ca_before, "CA kept");
    assert_eq!(openrc_value(&data, "OS_PASSWORD"), password);
    assert!(login(&c, &s, &password).await.is_ok());
    assert_eq!(login(&c, &s, "ignored-on-restart").await, Err(401));
    // A token issued before the restart is still good.
    let r = c
        .get(format!("{}/v3/{project}/extensions", s.volume))
        .header("x-auth-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(s.terminate().success());
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_fails_and_the_server_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), &[], Some("pw"));
    let untrusting = reqwest::Client::new();
    let err = untrusting
        .get(format!("{}/", s.volume))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err:?}");
    let plain = reqwest::Client::new()
        .get(format!("{}/", s.volume.replace("https://", "http://")))
        .send()
        .await;
    assert!(
        plain.is_err() || plain.unwrap().status() != 300,
        "no plain HTTP by default"
    );
    let c = client(&dir.path().join("tls/ca.pem"));
    let r = c.get(format!("{}/", s.volume)).send().await.unwrap();
    assert_eq!(r.status(), 300);
    assert!(login(&c, &s, "pw").await.is_ok());
    assert!(s.terminate().success());
}

#[tokio::test]
async fn plain_http_is_served_only_when_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), &["--plain-http"], Some("pw"));
    assert!(s.identity.starts_with("http://"));
    let c = reqwest::Client::new();
    let r = c.get(format!("{}/", s.volume)).send().await.unwrap();
    assert_eq!(r.status(), 300);
    let body: Value = r.json().await.unwrap();
    assert!(body["versions"][1]["links"][1]["href"]
        .as_str()
        .unwrap()
        .starts_with("http://"));
    assert!(s.terminate().success());
}

#[tokio::test]
async fn operator_supplied_certificates_are_served() {
    // Issue a certificate in one data directory, then point another server's config at it.
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    start(&first, &[], Some("pw")).terminate();
    let second = dir.path().join("second");
    std::fs::create_dir_all(&second).unwrap();
    let config = second.join("custom.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            first.join("tls/server.pem").display(),
            first.join("tls/server-key.pem").display()
        ),
    )
    .unwrap();
    let s = start(&second, &["--config", config.to_str().unwrap()], Some("pw"));
    assert!(!second.join("tls").exists(), "nothing generated");
    let c = client(&first.join("tls/ca.pem"));
    assert!(login(&c, &s, "pw").await.is_ok());
    assert!(s.terminate().success());
}

#[tokio::test]
async fn operators_manage_identity_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let run = |args: &[&str]| {
        let out = basalt(data)
            .args(args)
            .env("BASALT_ADMIN_PASSWORD", "pw")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["migrate"]);
    run(&["project", "create", "demo"]);
    run(&[
        "user",
        "create",
        "zoe",
        "--password",
        "zpw",
        "--project",
        "demo",
    ]);
    run(&[
        "role",
        "add",
        "reader",
        "--user",
        "zoe",
        "--project",
        "demo",
    ]);
    let assignments = run(&["role", "assignments", "--user", "zoe"]);
    assert!(assignments.contains("zoe  demo  member"), "{assignments}");
    assert!(assignments.contains("zoe  demo  reader"), "{assignments}");
    let key = run(&["api-key", "create", "--user", "zoe"]);
    let key = key
        .lines()
        .find_map(|l| l.strip_prefix("key: "))
        .unwrap()
        .to_owned();

    let s = start(data, &[], None);
    let c = client(&data.join("tls/ca.pem"));
    let r = c
        .post(format!("{}/v2.0/tokens", s.identity))
        .json(
            &json!({"auth": {"RAX-KSKEY:apiKeyCredentials": {"username": "zoe", "apiKey": key},
                               "tenantName": "demo"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let roles: Vec<&str> = body["access"]["user"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["member", "reader"]);
    assert!(s.terminate().success());
    run(&["user", "set", "zoe", "--disable"]);
    assert!(run(&["user", "list"]).contains("zoe  disabled"));
}
