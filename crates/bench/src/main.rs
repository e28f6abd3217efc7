//! `basalt-bench`: start-up time, throughput, latency, server CPU per request and memory of
//! the `basalt` binary, and the cost of volumes, measured on loopback and printed as a
//! markdown report.

mod attach_api;
mod backups_api;
mod blockio;
mod copies;
mod copies_report;
mod copy_api;
mod disk;
mod exports;
mod exports_report;
mod fresh;
mod http;
mod lifecycle;
mod load;
mod locate;
mod procfs;
mod qos;
mod report;
mod scheduler;
mod seed;
mod server;
mod startup;
mod stats;
mod suite;
mod tokens;
mod volume_api;
mod volume_report;
mod volume_suite;
mod xfs_image;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

#[derive(Parser)]
#[command(
    name = "basalt-bench",
    about = "Benchmark the basalt binary on loopback"
)]
struct Args {
    /// The basalt binary to measure (default: `cargo build --release -p basalt` first, then
    /// target/release/basalt).
    #[arg(long)]
    basalt: Option<PathBuf>,
    /// Which measurements to run (`volumes`, `copies` and `exports` are left out by default:
    /// seeding 100,000 volumes takes minutes, copies write gigabytes and mount an XFS image,
    /// and exports need qemu-utils and fio and take minutes).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "startup,throughput,tokens"
    )]
    only: Vec<Section>,
    /// Start-up: fresh starts (each followed by a restart) to take the median of.
    #[arg(long, default_value_t = 5)]
    startup_runs: usize,
    /// Start-up: interval between connection attempts, in µs.
    #[arg(long, default_value_t = 250)]
    poll_us: u64,
    /// Throughput and volume GETs: concurrency levels (one keep-alive connection per worker).
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    concurrency: Vec<usize>,
    /// Throughput, volume GETs and lifecycles: repetitions of each level, for the median.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Throughput: warm-up before each measured window, in seconds.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Throughput: length of each measured window, in seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Tokens: how many to issue.
    #[arg(long, default_value_t = 10_000)]
    tokens: usize,
    /// Tokens: concurrent authentications.
    #[arg(long, default_value_t = 8)]
    token_concurrency: usize,
    /// Volumes: the volume counts the project is grown to in turn, ascending.
    #[arg(long, value_delimiter = ',', default_value = "0,1000,100000")]
    volume_counts: Vec<usize>,
    /// Volumes: concurrent creates while seeding.
    #[arg(long, default_value_t = 16)]
    seed_workers: usize,
    /// Volumes: fresh volumes created and deleted per lifecycle run.
    #[arg(long, default_value_t = 100)]
    lifecycle_count: usize,
    /// Volumes: worker counts of the lifecycle runs (1: one volume at a time).
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    lifecycle_workers: Vec<usize>,
    /// Volumes, copies and exports: interval between the GETs that wait for a volume, in ms.
    #[arg(long, default_value_t = 1.0)]
    poll_ms: f64,
    /// Volumes: keep the server's data directory, configuration and log here (and start from
    /// the volumes a previous run left there) instead of a temporary directory.
    #[arg(long)]
    volumes_dir: Option<PathBuf>,
    /// Copies: directories to measure snapshots and clones in (default: the root filesystem's
    /// temporary directory, then a loop-mounted XFS image with reflink, made as root).
    #[arg(long, value_delimiter = ',')]
    copies_dirs: Option<Vec<PathBuf>>,
    /// Copies: repetitions of snapshot, volume from snapshot and clone in each directory.
    #[arg(long, default_value_t = 5)]
    copies_repeats: usize,
    /// Exports: repetitions of every workload against every target, for the median.
    #[arg(long, default_value_t = 3)]
    exports_repeats: usize,
    /// Exports: fio's measured seconds per random-I/O run (after one second of ramp).
    #[arg(long, default_value_t = 5)]
    exports_runtime: u64,
    /// Exports: fresh volumes the attach sequence is timed on.
    #[arg(long, default_value_t = 50)]
    attach_count: usize,
    /// Scheduling: the backend counts to compare (each a fresh server).
    #[arg(long, value_delimiter = ',', default_value = "1,100")]
    scheduler_backends: Vec<usize>,
    /// Scheduling: fresh volumes created one at a time per run.
    #[arg(long, default_value_t = 100)]
    scheduler_count: usize,
    /// QoS: seconds each limit is measured for.
    #[arg(long, default_value_t = 3.0)]
    qos_seconds: f64,
    /// Backups: directories to measure in (default: the temporary directory and an XFS image).
    #[arg(long, value_delimiter = ',')]
    backups_dirs: Option<Vec<PathBuf>>,
    /// Client runtime threads (1: single-threaded, leaving the other core to the server).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Section {
    Startup,
    Throughput,
    Tokens,
    Volumes,
    Copies,
    Exports,
    Scheduler,
    Qos,
    Backups,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin = locate::basalt_binary(args.basalt.as_deref())?;
    let runtime = match args.client_threads {
        0 | 1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build()?,
    };
    let markdown = runtime.block_on(run(&args, bin))?;
    print!("{markdown}");
    Ok(())
}

async fn run(args: &Args, bin: PathBuf) -> anyhow::Result<String> {
    let ticks = procfs::clock_ticks_per_second();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let load_before = procfs::load_average();
    let mut body = String::new();
    let load = || suite::ThroughputParams {
        concurrency: args.concurrency.clone(),
        repeats: args.repeats,
        warmup: Duration::from_secs_f64(args.warmup),
        duration: Duration::from_secs_f64(args.duration),
        ticks_per_second: ticks,
    };
    if args.only.contains(&Section::Startup) {
        let poll = Duration::from_micros(args.poll_us);
        let runs = suite::startup(&bin, args.startup_runs, poll).await?;
        body += &report::startup(&runs);
    }
    if args.only.contains(&Section::Throughput) {
        let params = load();
        let t = suite::throughput(&bin, &params).await?;
        body += &report::throughput(&t, &params);
    }
    if args.only.contains(&Section::Tokens) {
        let t = suite::tokens(&bin, args.tokens, args.token_concurrency).await?;
        body += &report::tokens(&t, ticks);
    }
    if args.only.contains(&Section::Volumes) {
        let params = volume_suite::VolumeParams {
            counts: args.volume_counts.clone(),
            seed_workers: args.seed_workers,
            lifecycle_count: args.lifecycle_count,
            lifecycle_workers: args.lifecycle_workers.clone(),
            poll: Duration::from_secs_f64(args.poll_ms / 1e3),
            load: load(),
            keep_dir: args.volumes_dir.clone(),
        };
        let v = volume_suite::run(&bin, &params).await?;
        body += &volume_report::volumes(&v, &params);
    }
    if args.only.contains(&Section::Copies) {
        let params = copies::CopiesParams {
            dirs: args.copies_dirs.clone(),
            repeats: args.copies_repeats.max(1),
            poll: Duration::from_secs_f64(args.poll_ms / 1e3),
        };
        let targets = copies::run(&bin, &params).await?;
        body += &copies_report::copies(&targets, &params);
    }
    if args.only.contains(&Section::Exports) {
        let params = exports::ExportsParams {
            repeats: args.exports_repeats.max(1),
            runtime: Duration::from_secs(args.exports_runtime.max(1)),
            attaches: args.attach_count.max(1),
            poll: Duration::from_secs_f64(args.poll_ms / 1e3),
        };
        let e = exports::run(&bin, &params).await?;
        body += &exports_report::exports(&e, &params);
    }
    if args.only.contains(&Section::Scheduler) {
        let params = scheduler::SchedulerParams {
            backend_counts: args.scheduler_backends.clone(),
            count: args.scheduler_count.max(1),
            repeats: args.repeats,
            poll: Duration::from_secs_f64(args.poll_ms / 1e3),
        };
        let r = scheduler::run(&bin, &params).await?;
        body += &scheduler::report(&r, &params);
    }
    if args.only.contains(&Section::Qos) {
        let params = qos::QosParams {
            seconds: args.qos_seconds.max(0.5),
            poll: Duration::from_secs_f64(args.poll_ms / 1e3),
        };
        let rows = qos::run(&bin, &params).await?;
        body += &qos::report(&rows, &params);
    }
    if args.only.contains(&Section::Backups) {
        let params = backups_api::BackupsParams {
            poll: Duration::from_millis(5),
            dirs: args.backups_dirs.clone(),
        };
        let targets = backups_api::run(&bin, &params).await?;
        body += &backups_api::report(&targets);
    }
    let context = report::Context {
        date,
        machine: procfs::machine(),
        load_before,
        load_after: procfs::load_average(),
        binary: bin.display().to_string(),
        version: locate::version(&bin),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        client_threads: args.client_threads.max(1),
    };
    Ok(report::header(&context) + &body)
}
