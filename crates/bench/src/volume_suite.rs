//! The volume scenario: one `basalt serve` with the benchmark configuration, one project with
//! unlimited quotas, grown to each volume count in turn. At each count: how long seeding took,
//! the server's memory and database size, listing and show throughput, and the lifecycle of
//! fresh volumes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::http::{connector, Conn};
use crate::lifecycle::{self, LifecycleRun, LifecycleSpec};
use crate::load::{self, LoadSpec, LoadSummary};
use crate::procfs::{self, Memory};
use crate::seed::{self, SeedSpec, Seeded};
use crate::server::Server;
use crate::stats::millis;
use crate::suite::ThroughputParams;
use crate::tokens;
use crate::volume_api::{Volumes, CONFIG};

/// Volumes per listing page.
pub const PAGE: usize = 100;
/// Distinct volumes the show load cycles through.
const SHOW_SAMPLE: usize = 1000;

pub struct VolumeParams {
    /// Volume counts to grow the project to, ascending (0: the empty project).
    pub counts: Vec<usize>,
    pub seed_workers: usize,
    pub lifecycle_count: usize,
    pub lifecycle_workers: Vec<usize>,
    pub poll: Duration,
    /// Concurrency levels, repetitions and windows of the GET loads and lifecycle repetitions.
    pub load: ThroughputParams,
    /// Where the server's data directory, configuration and log live, kept afterwards (so
    /// that a later run starts from the volumes seeded); a temporary directory when `None`.
    pub keep_dir: Option<PathBuf>,
}

/// A GET load at one volume count: its name, then per concurrency level one summary per run.
pub struct Endpoint {
    pub name: String,
    pub runs: Vec<(usize, Vec<LoadSummary>)>,
}

/// Everything measured with the project holding `count` volumes.
pub struct Level {
    pub count: usize,
    pub seeded: Option<Seeded>,
    /// Right after seeding.
    pub memory: Memory,
    pub db_bytes: u64,
    pub endpoints: Vec<Endpoint>,
    /// Per worker count, one run per repetition.
    pub lifecycles: Vec<(usize, Vec<LifecycleRun>)>,
}

pub struct VolumeResults {
    pub idle: Memory,
    pub levels: Vec<Level>,
    pub memory_end: Memory,
}

pub async fn run(bin: &Path, p: &VolumeParams) -> anyhow::Result<VolumeResults> {
    anyhow::ensure!(
        p.counts.windows(2).all(|w| w[0] < w[1]),
        "volume counts must be ascending"
    );
    let temp = tempfile::tempdir()?;
    let root = p.keep_dir.as_deref().unwrap_or(temp.path());
    std::fs::create_dir_all(root)?;
    let config = root.join("basalt.toml");
    std::fs::write(&config, CONFIG)?;
    let log = root.join("basalt.log");
    let mut server = Server::spawn_with(bin, &root.join("data"), &log, Some(&config))?;
    server.wait_ready().await?;
    let outcome = measure(&server, p).await;
    let tail = server.log_tail();
    server.stop().await?;
    outcome.with_context(|| format!("server log ({}), last lines:\n{tail}", log.display()))
}

async fn measure(server: &Server, p: &VolumeParams) -> anyhow::Result<VolumeResults> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = procfs::memory(server.pid)?;
    let tls = connector(&server.ca_pem())?;
    let (token, project) = tokens::issue_one(&mut Conn::open(server.identity, &tls).await?).await?;
    let vols = Volumes { project, token };
    let mut conn = Conn::open(server.api, &tls).await?;
    vols.unlimited_quota(&mut conn).await?;
    // A kept data directory may hold volumes from an earlier run.
    let mut ids = vols.all_ids(&mut conn).await?;
    if !ids.is_empty() {
        eprintln!("the project already holds {} volumes", ids.len());
    }

    let mut levels = Vec::with_capacity(p.counts.len());
    for &count in &p.counts {
        let have = ids.len();
        if count < have {
            eprintln!("skipping {count} volumes: the project holds {have}");
            continue;
        }
        let seeded = if count > have {
            eprintln!(
                "seeding {have} → {count} volumes with {} workers...",
                p.seed_workers
            );
            let spec = SeedSpec {
                api: server.api,
                have,
                want: count,
                workers: p.seed_workers,
            };
            let s = seed::seed(&spec, &tls, &vols, server.pid).await?;
            eprintln!(
                "seeded {count} volumes in {:.1} s (last POST answered at {:.1} s, {} retries)",
                s.elapsed.as_secs_f64(),
                s.posted.as_secs_f64(),
                s.retries
            );
            ids.extend(s.ids.iter().cloned());
            Some(s)
        } else {
            None
        };
        let memory = procfs::memory(server.pid)?;
        let endpoints = gets(server, &tls, &vols, &ids, p).await?;
        let lifecycles = lifecycles(server, &tls, &vols, count, p).await?;
        levels.push(Level {
            count,
            seeded,
            memory,
            db_bytes: db_bytes(&server.data_dir),
            endpoints,
            lifecycles,
        });
    }
    Ok(VolumeResults {
        idle,
        levels,
        memory_end: procfs::memory(server.pid)?,
    })
}

/// One GET load: paths after `/v2/{project}`, taken in turn, and the page length every
/// answer must have (checked once before the load), for listings.
struct GetLoad {
    name: String,
    rests: Vec<String>,
    page: Option<usize>,
}

/// The GET loads over `ids` (the project's volumes in creation order): the first detail page,
/// a detail page from the middle (keyset pagination after a marker) and show.
fn get_loads(ids: &[String]) -> Vec<GetLoad> {
    let mut loads = vec![GetLoad {
        name: format!("`GET /volumes/detail?limit={PAGE}` (first page)"),
        rests: vec![format!("/volumes/detail?limit={PAGE}")],
        page: Some(ids.len().min(PAGE)),
    }];
    // Listed newest first, the marker has about half the volumes after it.
    if ids.len() >= 4 * PAGE {
        let marker = &ids[ids.len() / 2];
        loads.push(GetLoad {
            name: format!("`GET /volumes/detail?limit={PAGE}&marker=…` (page from the middle)"),
            rests: vec![format!("/volumes/detail?limit={PAGE}&marker={marker}")],
            page: Some(PAGE),
        });
    }
    if !ids.is_empty() {
        let stride = (ids.len() / SHOW_SAMPLE).max(1);
        let sample = ids.iter().step_by(stride).take(SHOW_SAMPLE);
        loads.push(GetLoad {
            name: format!("`GET /volumes/{{id}}` ({} volumes in turn)", sample.len()),
            rests: sample.map(|id| format!("/volumes/{id}")).collect(),
            page: None,
        });
    }
    loads
}

async fn gets(
    server: &Server,
    tls: &tokio_rustls::TlsConnector,
    vols: &Volumes,
    ids: &[String],
    p: &VolumeParams,
) -> anyhow::Result<Vec<Endpoint>> {
    let mut conn = Conn::open(server.api, tls).await?;
    let mut out = Vec::new();
    for GetLoad { name, rests, page } in get_loads(ids) {
        if let Some(want) = page {
            let got = vols.page_len(&mut conn, &rests[0]).await?;
            anyhow::ensure!(got == want, "{name} listed {got} volumes, expected {want}");
        }
        let paths: Vec<String> = rests.iter().map(|r| vols.path(r)).collect();
        let mut runs: Vec<(usize, Vec<LoadSummary>)> = p
            .load
            .concurrency
            .iter()
            .map(|&c| (c, Vec::new()))
            .collect();
        for rep in 1..=p.load.repeats {
            for (concurrency, summaries) in runs.iter_mut() {
                let spec = LoadSpec {
                    api: server.api,
                    paths: paths.clone(),
                    token: vols.token.clone(),
                    concurrency: *concurrency,
                    warmup: p.load.warmup,
                    duration: p.load.duration,
                };
                let s = load::run(&spec, tls, server.pid)
                    .await?
                    .summary(p.load.ticks_per_second);
                eprintln!(
                    "{} volumes, {name}, concurrency {concurrency}, run {rep}/{}: {:.0} req/s, \
                     p50 {:.3} ms, p99 {:.3} ms, server {:.1} µs/req, {} errors",
                    ids.len(),
                    p.load.repeats,
                    s.per_second,
                    millis(s.p50),
                    millis(s.p99),
                    s.server_us,
                    s.errors
                );
                summaries.push(s);
            }
        }
        out.push(Endpoint { name, runs });
    }
    Ok(out)
}

/// Lifecycle runs at each worker count, repetitions interleaved.
async fn lifecycles(
    server: &Server,
    tls: &tokio_rustls::TlsConnector,
    vols: &Volumes,
    count: usize,
    p: &VolumeParams,
) -> anyhow::Result<Vec<(usize, Vec<LifecycleRun>)>> {
    let mut out: Vec<(usize, Vec<LifecycleRun>)> = p
        .lifecycle_workers
        .iter()
        .map(|&w| (w, Vec::new()))
        .collect();
    for rep in 1..=p.load.repeats {
        for (workers, runs) in out.iter_mut() {
            let spec = LifecycleSpec {
                api: server.api,
                count: p.lifecycle_count,
                workers: *workers,
                size_gib: 1,
                poll: p.poll,
            };
            let r = lifecycle::run(&spec, tls, vols, server.pid).await?;
            eprintln!(
                "{count} volumes, lifecycle of {} with {workers} worker(s), run {rep}/{}: \
                 available p50 {:.2} ms p99 {:.2} ms (server span p50 {:.2} ms), create {:.2} s; \
                 gone p50 {:.2} ms p99 {:.2} ms, delete {:.2} s; {} failed",
                p.lifecycle_count,
                p.load.repeats,
                millis(crate::stats::percentile(&r.to_available, 50.0)),
                millis(crate::stats::percentile(&r.to_available, 99.0)),
                millis(crate::stats::percentile(&r.server_span, 50.0)),
                r.create_wall.as_secs_f64(),
                millis(crate::stats::percentile(&r.to_gone, 50.0)),
                millis(crate::stats::percentile(&r.to_gone, 99.0)),
                r.delete_wall.as_secs_f64(),
                r.failures
            );
            runs.push(r);
        }
    }
    Ok(out)
}

/// Size of the SQLite database with its write-ahead log.
fn db_bytes(data_dir: &Path) -> u64 {
    ["basalt.db", "basalt.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(data_dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}
