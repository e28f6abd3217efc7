//! The scheduling scenario: one `basalt serve` with 1 backend, then one with 100 backends
//! (each its own directory, all in one zone, as 100 volume services reporting pools), and in
//! each the lifecycle of fresh volumes one at a time. A create is placed synchronously inside
//! `POST /volumes`, so the difference between the two servers' POST round trips is the cost
//! of choosing among 100 pools rather than 1.

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::http::{connector, Conn};
use crate::lifecycle::{self, LifecycleRun, LifecycleSpec};
use crate::report::ms;
use crate::server::Server;
use crate::stats::{median, millis, percentile};
use crate::tokens;
use crate::volume_api::Volumes;

pub struct SchedulerParams {
    pub backend_counts: Vec<usize>,
    pub count: usize,
    pub repeats: usize,
    pub poll: Duration,
}

pub struct SchedulerRun {
    pub backends: usize,
    pub runs: Vec<LifecycleRun>,
}

fn config(backends: usize) -> String {
    let mut s = String::new();
    for i in 0..backends {
        let _ = write!(
            s,
            "[[backends]]\nname = \"b{i:03}\"\ndriver = \"file\"\npath = \"volumes-{i:03}\"\n\
             availability_zone = \"nova\"\nover_subscription_ratio = 1000000.0\n\
             reserved_percentage = 0\n\n"
        );
    }
    s
}

pub async fn run(bin: &Path, p: &SchedulerParams) -> anyhow::Result<Vec<SchedulerRun>> {
    let mut out = Vec::new();
    for &n in &p.backend_counts {
        let temp = tempfile::tempdir()?;
        let cfg = temp.path().join("basalt.toml");
        std::fs::write(&cfg, config(n))?;
        let log = temp.path().join("basalt.log");
        let mut server = Server::spawn_with(bin, &temp.path().join("data"), &log, Some(&cfg))?;
        server.wait_ready().await?;
        let outcome = measure(&server, n, p).await;
        let tail = server.log_tail();
        server.stop().await?;
        out.push(outcome.with_context(|| format!("server log, last lines:\n{tail}"))?);
    }
    Ok(out)
}

async fn measure(server: &Server, n: usize, p: &SchedulerParams) -> anyhow::Result<SchedulerRun> {
    let tls = connector(&server.ca_pem())?;
    let (token, project) = tokens::issue_one(&mut Conn::open(server.identity, &tls).await?).await?;
    let vols = Volumes { project, token };
    vols.unlimited_quota(&mut Conn::open(server.api, &tls).await?)
        .await?;
    let mut runs = Vec::new();
    for _ in 0..p.repeats.max(1) {
        let spec = LifecycleSpec {
            api: server.api,
            count: p.count,
            workers: 1,
            size_gib: 1,
            poll: p.poll,
        };
        let run = lifecycle::run(&spec, &tls, &vols, server.pid).await?;
        anyhow::ensure!(
            run.failures == 0,
            "{} volumes failed with {n} backends: {:?}",
            run.failures,
            run.first_failure
        );
        runs.push(run);
    }
    Ok(SchedulerRun { backends: n, runs })
}

pub fn report(results: &[SchedulerRun], p: &SchedulerParams) -> String {
    let mut s = format!(
        "\n## Scheduling ({} fresh 1 GiB volumes one at a time, {} runs; the create is placed \
         inside `POST /volumes`)\n\n\
         | backends | POST median | POST p99 | create → available median | extra per POST vs 1 backend |\n\
         |---:|---:|---:|---:|---:|\n",
        p.count, p.repeats
    );
    let post = |r: &SchedulerRun| median(r.runs.iter().map(|x| millis(percentile(&x.post, 0.5))));
    let base = results.first().map(post).unwrap_or(0.0);
    for r in results {
        let p99 = median(r.runs.iter().map(|x| millis(percentile(&x.post, 0.99))));
        let avail = median(
            r.runs
                .iter()
                .map(|x| millis(percentile(&x.to_available, 0.5))),
        );
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            r.backends,
            ms(post(r)),
            ms(p99),
            ms(avail),
            ms(post(r) - base)
        );
    }
    s
}
