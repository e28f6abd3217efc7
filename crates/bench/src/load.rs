//! Throughput and latency of authenticated `GET`s at a fixed concurrency (one path, or several
//! taken in turn): a warm-up, then a fixed-length measured window during which the server's
//! and the client's CPU time are read from `/proc`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::StatusCode;
use tokio_rustls::TlsConnector;

use crate::http::Conn;
use crate::procfs;
use crate::stats::percentile;

const WARMING: u8 = 0;
const MEASURING: u8 = 1;
const DONE: u8 = 2;

pub struct LoadSpec {
    pub api: SocketAddr,
    /// Each worker cycles through these, starting at its own offset.
    pub paths: Vec<String>,
    pub token: String,
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// One measured window.
#[derive(Debug, Clone)]
pub struct LoadRun {
    /// Requests completed inside the window (any status).
    pub requests: u64,
    /// Of those, the ones that did not answer 200 or failed outright.
    pub errors: u64,
    pub window: Duration,
    /// Latencies of the requests completed inside the window, sorted.
    pub latencies: Vec<Duration>,
    pub server_cpu_ticks: u64,
    pub client_cpu_ticks: u64,
}

/// What the report shows of one window.
#[derive(Debug, Clone, Copy)]
pub struct LoadSummary {
    pub requests: u64,
    pub errors: u64,
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// Server CPU time per request, µs.
    pub server_us: f64,
    /// Client (this process) CPU time per request, µs.
    pub client_us: f64,
}

impl LoadRun {
    pub fn summary(&self, ticks_per_second: u64) -> LoadSummary {
        let n = self.requests.max(1) as f64;
        let us = |ticks: u64| ticks as f64 * 1e6 / ticks_per_second as f64 / n;
        LoadSummary {
            requests: self.requests,
            errors: self.errors,
            per_second: self.requests as f64 / self.window.as_secs_f64(),
            p50: percentile(&self.latencies, 50.0),
            p99: percentile(&self.latencies, 99.0),
            server_us: us(self.server_cpu_ticks),
            client_us: us(self.client_cpu_ticks),
        }
    }
}

pub async fn run(spec: &LoadSpec, tls: &TlsConnector, server_pid: u32) -> anyhow::Result<LoadRun> {
    let phase = Arc::new(AtomicU8::new(WARMING));
    anyhow::ensure!(!spec.paths.is_empty(), "no path to load");
    let paths: Arc<[String]> = spec.paths.clone().into();
    let token: Arc<str> = spec.token.as_str().into();
    let mut workers = Vec::with_capacity(spec.concurrency);
    for i in 0..spec.concurrency {
        let conn = Conn::open(spec.api, tls).await?;
        let (phase, paths, token, tls) = (phase.clone(), paths.clone(), token.clone(), tls.clone());
        let api = spec.api;
        let first = i * paths.len() / spec.concurrency;
        workers.push(tokio::spawn(async move {
            let target = Target {
                paths: &paths,
                first,
                token: &token,
            };
            worker(conn, api, &tls, target, &phase).await
        }));
    }
    let me = std::process::id();
    tokio::time::sleep(spec.warmup).await;
    let (server0, client0) = (procfs::cpu_ticks(server_pid)?, procfs::cpu_ticks(me)?);
    let start = Instant::now();
    phase.store(MEASURING, Ordering::SeqCst);
    tokio::time::sleep(spec.duration).await;
    phase.store(DONE, Ordering::SeqCst);
    let window = start.elapsed();
    let (server1, client1) = (procfs::cpu_ticks(server_pid)?, procfs::cpu_ticks(me)?);
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for w in workers {
        let (l, e) = w.await??;
        latencies.extend(l);
        errors += e;
    }
    latencies.sort_unstable();
    Ok(LoadRun {
        requests: latencies.len() as u64,
        errors,
        window,
        latencies,
        server_cpu_ticks: server1 - server0,
        client_cpu_ticks: client1 - client0,
    })
}

/// What one worker requests: `paths` in turn from index `first`, with `token`.
struct Target<'a> {
    paths: &'a [String],
    first: usize,
    token: &'a str,
}

/// Sends requests back to back on one connection (reopened after a failure) until `DONE`;
/// records those that complete while `MEASURING`. Returns (latencies, errors).
async fn worker(
    mut conn: Conn,
    api: SocketAddr,
    tls: &TlsConnector,
    target: Target<'_>,
    phase: &AtomicU8,
) -> anyhow::Result<(Vec<Duration>, u64)> {
    let (mut latencies, mut errors) = (Vec::with_capacity(1 << 16), 0);
    let mut next = target.first;
    loop {
        let path = &target.paths[next % target.paths.len()];
        next += 1;
        let t = Instant::now();
        let outcome = conn.get(path, Some(target.token)).await;
        let latency = t.elapsed();
        match phase.load(Ordering::Relaxed) {
            DONE => return Ok((latencies, errors)),
            MEASURING => {
                latencies.push(latency);
                if !matches!(&outcome, Ok(r) if r.status == StatusCode::OK) {
                    errors += 1;
                }
            }
            _ => {}
        }
        if outcome.is_err() {
            conn = Conn::open(api, tls).await?;
        }
    }
}
