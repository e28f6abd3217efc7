//! The block I/O tools of the exports scenario: the workloads, the targets they run against,
//! the exact `qemu-img bench` and `fio` command lines for each pair, their output read back as
//! one figure, and a `qemu-nbd` child process serving a file.

use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::disk::{GIB, MIB};

/// The range every workload stays in, filled with data before the first run.
pub const RANGE: u64 = 2 * GIB;
/// Sequential requests per `qemu-img bench` run: the whole range once.
pub const SEQ_COUNT: u64 = RANGE / MIB;
/// The export name qemu-nbd serves the file under.
pub const QEMU_NBD_EXPORT: &str = "bench";

/// Where I/O goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The volume's file, through the page cache (the way Basalt's file backend reaches it).
    FileCached,
    /// The volume's file with O_DIRECT.
    FileDirect,
    /// Basalt's built-in NBD server, at the export initialize_connection named.
    Basalt,
    /// `qemu-nbd` serving the same file, buffered like Basalt's backend.
    QemuNbd,
    /// Basalt's iSCSI exporter (tgt), a volume of the same size and data on a second backend.
    BasaltIscsi,
}

impl Target {
    pub const ALL: [Target; 5] = [
        Target::FileCached,
        Target::Basalt,
        Target::BasaltIscsi,
        Target::QemuNbd,
        Target::FileDirect,
    ];

    /// Whether the tools here can run `w` against this target: fio has no iSCSI engine on
    /// Debian (built without libiscsi) and libiscsi's `iscsi-perf` only reads, so iSCSI gets
    /// no random writes.
    pub fn measures(self, w: Workload) -> bool {
        self != Target::BasaltIscsi || w.pattern == Pattern::Sequential || !w.write
    }

    pub fn label(self) -> &'static str {
        match self {
            Target::FileCached => "file, page cache",
            Target::FileDirect => "file, O_DIRECT",
            Target::Basalt => "**Basalt NBD**",
            Target::QemuNbd => "qemu-nbd (`--cache=writeback`)",
            Target::BasaltIscsi => "Basalt iSCSI (tgt)",
        }
    }

    pub fn is_file(self) -> bool {
        matches!(self, Target::FileCached | Target::FileDirect)
    }
}

/// Sequential 1 MiB requests (qemu-img bench) or random 4 KiB requests (fio).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    Sequential,
    Random,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    pub pattern: Pattern,
    pub write: bool,
    pub depth: u32,
}

impl Workload {
    const fn new(pattern: Pattern, write: bool, depth: u32) -> Workload {
        Workload {
            pattern,
            write,
            depth,
        }
    }

    pub const ALL: [Workload; 8] = [
        Workload::new(Pattern::Sequential, false, 1),
        Workload::new(Pattern::Sequential, true, 1),
        Workload::new(Pattern::Sequential, false, 16),
        Workload::new(Pattern::Sequential, true, 16),
        Workload::new(Pattern::Random, false, 1),
        Workload::new(Pattern::Random, true, 1),
        Workload::new(Pattern::Random, false, 32),
        Workload::new(Pattern::Random, true, 32),
    ];

    pub fn name(self) -> String {
        let (size, kind) = match self.pattern {
            Pattern::Sequential => ("1 MiB", "sequential"),
            Pattern::Random => ("4 KiB", "random"),
        };
        let op = if self.write { "write" } else { "read" };
        format!("{size} {kind} {op}, queue depth {}", self.depth)
    }

    /// The unit of the figure: MB/s (10⁶ bytes) for sequential, IOPS for random.
    pub fn unit(self) -> &'static str {
        match self.pattern {
            Pattern::Sequential => "MB/s",
            Pattern::Random => "IOPS",
        }
    }
}

/// What the tool is pointed at.
#[derive(Debug, Clone)]
pub enum Endpoint {
    File(String),
    Nbd(String),
    /// The LUN: qemu's `--image-opts` and libiscsi's URL, CHAP credentials included in
    /// both, and the initiator name its ACL lets in.
    Iscsi {
        opts: String,
        url: String,
        initiator: String,
    },
}

/// The program and arguments of one run of `w` against `t` at `at`; `runtime` is fio's
/// measured time (after one second of ramp).
pub fn command(t: Target, w: Workload, at: &Endpoint, runtime: Duration) -> (String, Vec<String>) {
    let mut a: Vec<String> = Vec::new();
    let push = |a: &mut Vec<String>, s: &str| a.extend(s.split(' ').map(str::to_owned));
    match w.pattern {
        Pattern::Sequential => {
            match at {
                Endpoint::Iscsi { .. } => push(&mut a, "bench --image-opts"),
                _ => push(&mut a, "bench -f raw"),
            }
            push(
                &mut a,
                match t {
                    Target::FileDirect => "-t none -i native",
                    Target::FileCached => "-t writeback -i threads",
                    // The cache mode only decides FUA and flushes over the network: none are
                    // sent.
                    Target::Basalt | Target::QemuNbd | Target::BasaltIscsi => "-t writeback",
                },
            );
            a.extend([
                "-c".into(),
                SEQ_COUNT.to_string(),
                "-s".into(),
                "1M".into(),
                "-S".into(),
                "1M".into(),
                "-d".into(),
                w.depth.to_string(),
            ]);
            if w.write {
                a.push("-w".into());
            }
            a.push(match at {
                Endpoint::File(f) | Endpoint::Nbd(f) => f.clone(),
                Endpoint::Iscsi { opts, .. } => opts.clone(),
            });
            ("qemu-img".into(), a)
        }
        // libiscsi's own random-read load generator: fio here has no iSCSI engine.
        Pattern::Random if matches!(at, Endpoint::Iscsi { .. }) => {
            let Endpoint::Iscsi { url, initiator, .. } = at else {
                unreachable!("matched above")
            };
            a.extend(["-i".into(), initiator.clone()]);
            a.extend(["-m".into(), w.depth.to_string()]);
            // 8 blocks of tgt's 512 bytes: 4 KiB.
            push(&mut a, "-b 8 -r -t");
            a.push((runtime.as_secs().max(1) + 1).to_string());
            a.push(url.clone());
            ("iscsi-perf".into(), a)
        }
        Pattern::Random => {
            a.push("--name=exports".into());
            match at {
                Endpoint::File(f) => {
                    a.push(format!("--filename={f}"));
                    a.push("--ioengine=io_uring".into());
                    a.push(format!("--direct={}", u8::from(t == Target::FileDirect)));
                }
                Endpoint::Nbd(uri) => {
                    a.push("--ioengine=nbd".into());
                    a.push(format!("--uri={uri}"));
                }
                Endpoint::Iscsi { .. } => unreachable!("iscsi-perf runs the iSCSI LUN"),
            }
            a.push(format!(
                "--rw={}",
                if w.write { "randwrite" } else { "randread" }
            ));
            a.push(format!("--iodepth={}", w.depth));
            a.push(format!("--size={}m", RANGE / MIB));
            a.push(format!("--runtime={}", runtime.as_secs().max(1)));
            push(
                &mut a,
                "--bs=4k --ramp_time=1 --time_based --norandommap --randrepeat=0 \
                 --invalidate=0 --output-format=json",
            );
            ("fio".into(), a)
        }
    }
}

/// The command as the report shows it.
pub fn shown(program: &str, args: &[String]) -> String {
    std::iter::once(program)
        .chain(args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs one measurement: MB/s for sequential workloads, IOPS for random ones.
pub async fn measure(
    t: Target,
    w: Workload,
    at: &Endpoint,
    runtime: Duration,
) -> anyhow::Result<f64> {
    let (program, args) = command(t, w, at, runtime);
    let out = Command::new(&program)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("cannot run {program}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}{}",
            shown(&program, &args),
            out.status,
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let figure = match (w.pattern, at) {
        (Pattern::Sequential, _) => parse_qemu_img_bench(&stdout)
            .map(|secs| (SEQ_COUNT * MIB) as f64 / secs / 1e6)
            .context("no \"Run completed in N seconds\""),
        (Pattern::Random, Endpoint::Iscsi { .. }) => {
            parse_iscsi_perf(&stdout).context("no \"iops average N\"")
        }
        (Pattern::Random, _) => parse_fio_iops(&stdout, w.write),
    };
    figure.with_context(|| format!("`{}` printed: {stdout}", shown(&program, &args)))
}

/// `Run completed in 0.473 seconds.` → 0.473.
fn parse_qemu_img_bench(out: &str) -> Option<f64> {
    out.lines()
        .find_map(|l| l.trim().strip_prefix("Run completed in "))?
        .strip_suffix(" seconds.")?
        .trim()
        .parse()
        .ok()
        .filter(|s: &f64| *s > 0.0)
}

/// `iops average 10051 (39 MB/s)`, the last one (the whole run's) → 10051.
fn parse_iscsi_perf(out: &str) -> Option<f64> {
    out.rsplit("iops average ")
        .next()
        .filter(|_| out.contains("iops average "))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
        .filter(|v: &f64| *v > 0.0)
}

/// The job's read or write IOPS from fio's JSON (which the nbd engine prefixes with a line).
fn parse_fio_iops(out: &str, write: bool) -> anyhow::Result<f64> {
    let start = out.find("\n{").map_or(0, |i| i + 1);
    let doc: Value = serde_json::from_str(&out[start..]).context("fio's JSON")?;
    let job = &doc["jobs"][0];
    if job["error"].as_i64().unwrap_or(0) != 0 {
        bail!("fio job error {}", job["error"]);
    }
    let side = if write { "write" } else { "read" };
    job[side]["iops"]
        .as_f64()
        .filter(|v| *v > 0.0)
        .with_context(|| format!("no jobs[0].{side}.iops"))
}

/// The first line of `program --version`, or why it cannot run.
pub fn version(program: &str) -> anyhow::Result<String> {
    let out = std::process::Command::new(program)
        .arg("--version")
        .output()
        .with_context(|| {
            format!("cannot run {program} (Debian: apt-get install qemu-utils fio)")
        })?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_owned())
}

/// `qemu-nbd` serving one file on a loopback port, killed if dropped.
pub struct QemuNbd {
    child: Child,
    pub port: u16,
}

/// The arguments qemu-nbd is started with, `PORT` and `FILE` given.
pub fn qemu_nbd_args(port: &str, file: &str) -> Vec<String> {
    let mut a: Vec<String> = format!(
        "-f raw -x {QEMU_NBD_EXPORT} -b 127.0.0.1 -p {port} -t -e 2 --cache=writeback \
         --aio=threads"
    )
    .split(' ')
    .map(str::to_owned)
    .collect();
    a.push(file.to_owned());
    a
}

impl QemuNbd {
    pub async fn start(file: &Path, log: &Path) -> anyhow::Result<QemuNbd> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let stderr = std::fs::File::create(log)?;
        let mut child = Command::new("qemu-nbd")
            .args(qemu_nbd_args(&port.to_string(), &file.to_string_lossy()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .context("cannot run qemu-nbd (Debian: apt-get install qemu-utils)")?;
        let t = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "qemu-nbd exited with {status}: {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            // A bare connect: qemu-nbd drops the client that never negotiates and goes on.
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(QemuNbd { child, port });
            }
            if t.elapsed() > Duration::from_secs(10) {
                bail!("qemu-nbd did not listen on port {port} within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn uri(&self) -> String {
        format!("nbd://127.0.0.1:{}/{QEMU_NBD_EXPORT}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGTERM to this child (by its pid), then waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()?;
        }
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(status) => {
                status?;
                Ok(())
            }
            Err(_) => {
                self.child.kill().await?;
                bail!("qemu-nbd did not stop within 10 s of SIGTERM")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_tools_output() {
        let q = "Sending 512 read requests, 1048576 bytes each, 1 in parallel\n\
                 Run completed in 0.473 seconds.\n";
        assert_eq!(parse_qemu_img_bench(q), Some(0.473));
        assert_eq!(parse_qemu_img_bench("nothing"), None);
        let fio = "fio: connected to NBD server\n{\"jobs\": [{\"error\": 0, \
                   \"read\": {\"iops\": 1234.5}, \"write\": {\"iops\": 0.0}}]}\n";
        assert_eq!(parse_fio_iops(fio, false).unwrap(), 1234.5);
        assert!(parse_fio_iops(fio, true).is_err());
        let perf = "00:00:01 - lba 6, iops current 9 (0 MB/s), iops average 10 (0 MB/s), \
                    in_flight 1, busy 0   iops average 10051 (39 MB/s)   \n\nfinished.\n";
        assert_eq!(parse_iscsi_perf(perf), Some(10051.0));
        assert_eq!(parse_iscsi_perf("finished."), None);
    }

    #[test]
    fn commands_of_each_target() {
        let rt = Duration::from_secs(5);
        let file = Endpoint::File("F".into());
        let seq = Workload::ALL[1];
        let (p, a) = command(Target::FileDirect, seq, &file, rt);
        assert_eq!(
            shown(&p, &a),
            "qemu-img bench -f raw -t none -i native -c 2048 -s 1M -S 1M -d 1 -w F"
        );
        let nbd = Endpoint::Nbd("nbd://h:1/x".into());
        let (p, a) = command(Target::Basalt, Workload::ALL[6], &nbd, rt);
        assert_eq!(
            shown(&p, &a),
            "fio --name=exports --ioengine=nbd --uri=nbd://h:1/x --rw=randread --iodepth=32 \
             --size=2048m --runtime=5 --bs=4k --ramp_time=1 --time_based --norandommap \
             --randrepeat=0 --invalidate=0 --output-format=json"
        );
        let iscsi = Endpoint::Iscsi {
            opts: "driver=raw,file.driver=iscsi".into(),
            url: "iscsi://u%p@h:1/iqn/1".into(),
            initiator: "iqn.i".into(),
        };
        let (p, a) = command(Target::BasaltIscsi, Workload::ALL[2], &iscsi, rt);
        assert_eq!(
            shown(&p, &a),
            "qemu-img bench --image-opts -t writeback -c 2048 -s 1M -S 1M -d 16 \
             driver=raw,file.driver=iscsi"
        );
        let (p, a) = command(Target::BasaltIscsi, Workload::ALL[6], &iscsi, rt);
        assert_eq!(
            shown(&p, &a),
            "iscsi-perf -i iqn.i -m 32 -b 8 -r -t 6 iscsi://u%p@h:1/iqn/1"
        );
        assert!(Target::BasaltIscsi.measures(Workload::ALL[4]));
        assert!(!Target::BasaltIscsi.measures(Workload::ALL[5]));
    }
}
