//! `basalt-bench`: start-up time, throughput, latency, server CPU per request and memory of
//! the `basalt` binary, measured on loopback and printed as a markdown report.

mod http;
mod load;
mod locate;
mod procfs;
mod report;
mod server;
mod startup;
mod stats;
mod suite;
mod tokens;

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
    /// Which measurements to run.
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
    /// Throughput: concurrency levels (one keep-alive connection per worker).
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    concurrency: Vec<usize>,
    /// Throughput: repetitions of each level, for the median.
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
    /// Client runtime threads (1: single-threaded, leaving the other core to the server).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Section {
    Startup,
    Throughput,
    Tokens,
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
    if args.only.contains(&Section::Startup) {
        let poll = Duration::from_micros(args.poll_us);
        let runs = suite::startup(&bin, args.startup_runs, poll).await?;
        body += &report::startup(&runs);
    }
    if args.only.contains(&Section::Throughput) {
        let params = suite::ThroughputParams {
            concurrency: args.concurrency.clone(),
            repeats: args.repeats,
            warmup: Duration::from_secs_f64(args.warmup),
            duration: Duration::from_secs_f64(args.duration),
            ticks_per_second: ticks,
        };
        let t = suite::throughput(&bin, &params).await?;
        body += &report::throughput(&t, &params);
    }
    if args.only.contains(&Section::Tokens) {
        let t = suite::tokens(&bin, args.tokens, args.token_concurrency).await?;
        body += &report::tokens(&t, ticks);
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
