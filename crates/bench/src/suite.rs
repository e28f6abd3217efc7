//! The three measurements, each against its own `basalt serve` process, with progress on
//! stderr.

use std::path::Path;
use std::time::Duration;

use crate::fresh::{self, Fresh};
use crate::http::{connector, Conn};
use crate::load::{self, LoadSpec, LoadSummary};
use crate::procfs::{self, Memory};
use crate::server::Server;
use crate::startup::{self, StartupRun};
use crate::tokens::{self, Issued};

pub async fn startup(bin: &Path, runs: usize, poll: Duration) -> anyhow::Result<Vec<StartupRun>> {
    let mut out = Vec::with_capacity(runs);
    for i in 1..=runs {
        let run = startup::run_once(bin, poll).await?;
        eprintln!(
            "start-up {i}/{runs}: first {:.1} ms (self-reported {} ms), restart {:.1} ms \
             (self-reported {} ms)",
            crate::stats::millis(run.first),
            run.first_self_ms,
            crate::stats::millis(run.restart),
            run.restart_self_ms
        );
        out.push(run);
    }
    Ok(out)
}

pub struct ThroughputParams {
    pub concurrency: Vec<usize>,
    pub repeats: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub ticks_per_second: u64,
}

/// New connections measured before the throughput runs.
const FRESH_CONNECTIONS: usize = 20;

pub struct Throughput {
    /// The first and second request on each of a few new connections.
    pub fresh: Vec<Fresh>,
    /// Per concurrency level, one summary per repetition.
    pub runs: Vec<(usize, Vec<LoadSummary>)>,
    pub memory_after: Memory,
}

/// All concurrency levels against one server; repetitions interleaved so that a burst of
/// co-tenant load does not hit a single level only.
pub async fn throughput(bin: &Path, p: &ThroughputParams) -> anyhow::Result<Throughput> {
    let root = tempfile::tempdir()?;
    let mut server = Server::spawn(bin, &root.path().join("data"), &root.path().join("log"))?;
    server.wait_ready().await?;
    let tls = connector(&server.ca_pem())?;
    let (token, project) = tokens::issue_one(&mut Conn::open(server.identity, &tls).await?).await?;
    let fresh = fresh::measure(server.api, &tls, FRESH_CONNECTIONS).await?;
    let mut runs: Vec<(usize, Vec<LoadSummary>)> =
        p.concurrency.iter().map(|&c| (c, Vec::new())).collect();
    for rep in 1..=p.repeats {
        for (concurrency, summaries) in runs.iter_mut() {
            let spec = LoadSpec {
                api: server.api,
                paths: vec![format!("/v2/{project}/extensions")],
                token: token.clone(),
                concurrency: *concurrency,
                warmup: p.warmup,
                duration: p.duration,
            };
            let s = load::run(&spec, &tls, server.pid)
                .await?
                .summary(p.ticks_per_second);
            eprintln!(
                "GET extensions, concurrency {concurrency}, run {rep}/{}: {:.0} req/s, \
                 p50 {:.3} ms, p99 {:.3} ms, server {:.1} µs/req, client {:.1} µs/req, \
                 {} errors",
                p.repeats,
                s.per_second,
                crate::stats::millis(s.p50),
                crate::stats::millis(s.p99),
                s.server_us,
                s.client_us,
                s.errors
            );
            summaries.push(s);
        }
    }
    let memory_after = procfs::memory(server.pid)?;
    server.stop().await?;
    Ok(Throughput {
        fresh,
        runs,
        memory_after,
    })
}

pub struct TokenRun {
    pub concurrency: usize,
    pub idle: Memory,
    pub issued: Issued,
    pub after: Memory,
}

pub async fn tokens(bin: &Path, count: usize, concurrency: usize) -> anyhow::Result<TokenRun> {
    let root = tempfile::tempdir()?;
    let mut server = Server::spawn(bin, &root.path().join("data"), &root.path().join("log"))?;
    server.wait_ready().await?;
    // Let the start-up settle (and any lazily spawned threads appear) before reading "idle".
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = procfs::memory(server.pid)?;
    let tls = connector(&server.ca_pem())?;
    eprintln!("issuing {count} tokens at concurrency {concurrency} (Argon2id: CPU-bound)...");
    let issued = tokens::issue_many(server.identity, &tls, server.pid, count, concurrency).await?;
    let after = procfs::memory(server.pid)?;
    eprintln!(
        "issued {} tokens in {:.1} s; VmHWM {} KiB, VmRSS {} KiB",
        issued.count,
        issued.elapsed.as_secs_f64(),
        after.peak_kib,
        after.rss_kib
    );
    server.stop().await?;
    Ok(TokenRun {
        concurrency,
        idle,
        issued,
        after,
    })
}
