//! Shared harness of the end-to-end tests: the real binary on free loopback ports.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

pub struct Server {
    pub child: Child,
    pub identity: String,
    pub volume: String,
    pub stdout: Vec<String>,
}

pub fn basalt(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_basalt"));
    c.arg("--data-dir").arg(data).env("BASALT_LOG", "warn");
    c
}

#[expect(
    clippy::zombie_processes,
    reason = "the child is owned by Server, whose Drop kills and waits for it"
)]
pub fn start(data: &Path, extra: &[&str], password: Option<&str>) -> Server {
    let mut cmd = basalt(data);
    cmd.args([
        "serve",
        "--identity-addr",
        "127.0.0.1:0",
        "--api-addr",
        "127.0.0.1:0",
    ])
    .args(if extra.contains(&"--nbd-addr") {
        &[][..]
    } else {
        &["--nbd-addr", "127.0.0.1:0"][..]
    })
    .args(extra)
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    match password {
        Some(p) => cmd.env("BASALT_ADMIN_PASSWORD", p),
        None => cmd.env_remove("BASALT_ADMIN_PASSWORD"),
    };
    let mut child = cmd.spawn().expect("basalt starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stdout = Vec::new();
    loop {
        let line = lines
            .next()
            .expect("basalt printed its serving line")
            .unwrap();
        stdout.push(line.clone());
        if let Some(rest) = line.split("is serving: identity ").nth(1) {
            let mut words = rest.split_whitespace();
            let identity = words.next().unwrap().to_owned();
            let volume = words.nth(1).unwrap().to_owned();
            // Keep draining stdout so that the server never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return Server {
                child,
                identity,
                volume,
                stdout,
            };
        }
    }
}

impl Server {
    /// Kills the process without warning, as a power cut or the OOM killer would.
    pub fn kill_hard(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("basalt did not stop within 10 s of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client(ca: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap()
}

pub fn v3_auth(password: &str) -> Value {
    json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
}

/// (token, project id), or the status on failure.
pub async fn login(
    c: &reqwest::Client,
    s: &Server,
    password: &str,
) -> Result<(String, String), u16> {
    let r = c
        .post(format!("{}/v3/auth/tokens", s.identity))
        .json(&v3_auth(password))
        .send()
        .await
        .unwrap();
    if r.status() != 201 {
        return Err(r.status().as_u16());
    }
    let token = r.headers()["x-subject-token"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    Ok((
        token,
        body["token"]["project"]["id"].as_str().unwrap().to_owned(),
    ))
}
