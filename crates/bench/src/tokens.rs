//! Keystone v3 password authentication: one token for the load test, and many issued at once
//! to measure the issuing rate and the memory they leave behind.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use hyper::StatusCode;
use serde_json::json;
use tokio_rustls::TlsConnector;

use crate::http::Conn;
use crate::procfs;
use crate::server::ADMIN_PASSWORD;

fn auth_body() -> serde_json::Value {
    let domain = json!({"id": "default"});
    json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": domain, "password": ADMIN_PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": domain}}
    }})
}

/// A project-scoped token for the admin: `(token, project_id)`.
pub async fn issue_one(conn: &mut Conn) -> anyhow::Result<(String, String)> {
    let reply = conn.post_json("/v3/auth/tokens", &auth_body()).await?;
    ensure!(
        reply.status == StatusCode::CREATED,
        "POST /v3/auth/tokens answered {}: {}",
        reply.status,
        String::from_utf8_lossy(&reply.body)
    );
    let token = reply
        .headers
        .get("x-subject-token")
        .context("no X-Subject-Token")?
        .to_str()?
        .to_owned();
    let body: serde_json::Value = serde_json::from_slice(&reply.body)?;
    let project = body["token"]["project"]["id"]
        .as_str()
        .context("no token.project.id")?
        .to_owned();
    Ok((token, project))
}

/// The outcome of issuing many tokens.
#[derive(Debug, Clone)]
pub struct Issued {
    pub count: usize,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub server_cpu_ticks: u64,
}

/// Issues `count` tokens from `concurrency` workers, one keep-alive connection each.
pub async fn issue_many(
    identity: SocketAddr,
    tls: &TlsConnector,
    server_pid: u32,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<Issued> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut conns = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        conns.push(Conn::open(identity, tls).await?);
    }
    let cpu_before = procfs::cpu_ticks(server_pid)?;
    let started = Instant::now();
    let workers: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            let next = next.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    let t = Instant::now();
                    issue_one(&mut conn).await?;
                    latencies.push(t.elapsed());
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(count);
    for w in workers {
        latencies.extend(w.await??);
    }
    let elapsed = started.elapsed();
    let server_cpu_ticks = procfs::cpu_ticks(server_pid)? - cpu_before;
    latencies.sort_unstable();
    Ok(Issued {
        count: latencies.len(),
        elapsed,
        p50: crate::stats::percentile(&latencies, 50.0),
        p99: crate::stats::percentile(&latencies, 99.0),
        server_cpu_ticks,
    })
}
