//! `basalt`: the OpenStack Block Storage API with a Keystone-compatible identity endpoint, in
//! one binary. This crate only parses the command line and wires the layers together.

mod admin_cli;
mod block_storage;
mod config;
mod exports;
mod serve;
mod setup;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "basalt", version, about = "OpenStack-compatible block storage")]
struct Cli {
    /// Where Basalt keeps its configuration, database, certificates and volumes.
    #[arg(
        long,
        global = true,
        env = "BASALT_DATA_DIR",
        default_value = "basalt-data"
    )]
    data_dir: PathBuf,
    /// The configuration file (default: basalt.toml in the data directory).
    #[arg(long, global = true, env = "BASALT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the identity endpoint and the block-storage API (creating the data directory on
    /// first start).
    Serve {
        /// Listen address of the identity endpoint (overrides the config).
        #[arg(long)]
        identity_addr: Option<SocketAddr>,
        /// Listen address of the block-storage API (overrides the config).
        #[arg(long)]
        api_addr: Option<SocketAddr>,
        /// Listen address of the built-in NBD server (overrides the config).
        #[arg(long)]
        nbd_addr: Option<SocketAddr>,
        /// Serve plain HTTP, for use behind a TLS-terminating proxy only.
        #[arg(long)]
        plain_http: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    #[command(flatten)]
    Admin(admin_cli::AdminCommand),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BASALT_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let env = setup::Env::open(&cli.data_dir, cli.config.as_deref())?;
        match cli.command {
            Command::Serve {
                identity_addr,
                api_addr,
                nbd_addr,
                plain_http,
            } => {
                let mut cfg = env.config.clone();
                if let Some(a) = identity_addr {
                    cfg.server.identity_addr = a;
                }
                if let Some(a) = api_addr {
                    cfg.server.api_addr = a;
                }
                if let Some(a) = nbd_addr {
                    cfg.nbd.listen_addr = a;
                }
                if plain_http {
                    cfg.tls.enabled = false;
                }
                serve::run(env, cfg).await
            }
            Command::Migrate => {
                env.database().await?;
                println!("migrations applied");
                Ok(())
            }
            Command::Admin(cmd) => admin_cli::run(&env, cmd).await,
        }
    })
}
