//! A `basalt serve` child process on free loopback ports, with its data directory under a
//! temporary directory; stopped with SIGTERM (and killed if dropped while still running).

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

pub const ADMIN_PASSWORD: &str = "bench-admin-secret";
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Server {
    child: Child,
    pub pid: u32,
    pub identity: SocketAddr,
    pub api: SocketAddr,
    pub data_dir: PathBuf,
    log: PathBuf,
    /// The instant just before the process was spawned.
    pub spawned_at: Instant,
    ready: Option<oneshot::Receiver<u64>>,
}

/// A loopback address with a port that was free a moment ago. Choosing the ports here rather
/// than with `:0` lets the start-up probe know where to knock before the server says anything.
fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

impl Server {
    /// Starts `basalt serve` on `data_dir` (created by the server when missing); its log goes
    /// to `log`.
    pub fn spawn(bin: &Path, data_dir: &Path, log: &Path) -> anyhow::Result<Server> {
        Server::spawn_with(bin, data_dir, log, None)
    }

    /// As [`Server::spawn`], with `--config FILE` when `config` is given (the file then holds
    /// every non-default setting; the listen addresses still come from the command line).
    pub fn spawn_with(
        bin: &Path,
        data_dir: &Path,
        log: &Path,
        config: Option<&Path>,
    ) -> anyhow::Result<Server> {
        let (identity, api) = (free_addr()?, free_addr()?);
        let stderr = std::fs::File::create(log)?;
        let mut cmd = Command::new(bin);
        cmd.arg("--data-dir").arg(data_dir);
        if let Some(config) = config {
            cmd.arg("--config").arg(config);
        }
        cmd.arg("serve")
            .arg("--identity-addr")
            .arg(identity.to_string())
            .arg("--api-addr")
            .arg(api.to_string())
            .arg("--nbd-addr")
            .arg("127.0.0.1:0")
            .env("BASALT_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env_remove("BASALT_LOG")
            .env_remove("BASALT_CONFIG")
            .env_remove("BASALT_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true);
        let spawned_at = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot run {}", bin.display()))?;
        let pid = child.id().context("no pid")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            let mut tx = Some(tx);
            // Keep draining after the serving line so that the server never blocks on a pipe.
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(ms) = self_reported_ready_ms(&line) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(ms);
                    }
                }
            }
        });
        Ok(Server {
            child,
            pid,
            identity,
            api,
            data_dir: data_dir.to_owned(),
            log: log.to_owned(),
            spawned_at,
            ready: Some(rx),
        })
    }

    /// Waits for the serving line; returns the server's own "ready in N ms".
    pub async fn wait_ready(&mut self) -> anyhow::Result<u64> {
        let rx = self.ready.take().context("already waited")?;
        match tokio::time::timeout(Duration::from_secs(60), rx).await {
            Ok(Ok(ms)) => Ok(ms),
            _ => bail!(
                "basalt did not report it was serving; its log:\n{}",
                self.log_tail()
            ),
        }
    }

    pub fn ca_pem(&self) -> PathBuf {
        self.data_dir.join("tls").join("ca.pem")
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, then waits for a clean exit.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -TERM {} failed", self.pid);
        }
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            // SIGTERM's default action: it arrived before the server installed its handler
            // (which `basalt serve` does after it starts serving). Not graceful, but stopped.
            Ok(Ok(status)) if status.signal() == Some(15) => {
                eprintln!(
                    "warning: basalt (pid {}) was killed by SIGTERM instead of shutting down \
                     gracefully: its handler was not installed yet",
                    self.pid
                );
                Ok(())
            }
            Ok(status) => bail!("basalt exited with {:?}:\n{}", status?, self.log_tail()),
            Err(_) => {
                self.child.kill().await?;
                bail!("basalt did not stop within {STOP_TIMEOUT:?} of SIGTERM")
            }
        }
    }
}

/// `... (ready in 12 ms)` → 12.
fn self_reported_ready_ms(line: &str) -> Option<u64> {
    if !line.contains(" is serving: ") {
        return None;
    }
    line.rsplit_once("(ready in ")?
        .1
        .strip_suffix(" ms)")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::self_reported_ready_ms;

    #[test]
    fn parses_the_serving_line() {
        let line = "Basalt 0.1.0 is serving: identity https://127.0.0.1:1 \
                    block-storage https://127.0.0.1:2 (ready in 37 ms)";
        assert_eq!(self_reported_ready_ms(line), Some(37));
        assert_eq!(self_reported_ready_ms("Created user admin"), None);
    }
}
