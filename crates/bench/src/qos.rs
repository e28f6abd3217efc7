//! The QoS scenario: back-end QoS specs (IOPS and bytes per second, total, per direction and
//! per GiB) associated with volume types through the API, a volume of each type attached
//! over NBD, and `qemu-img bench` measuring what the exporter lets through against what was
//! configured. Each case runs about `seconds` at its limit.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use crate::http::{connector, Conn};
use crate::server::Server;
use crate::tokens;
use crate::volume_api::{expect, Volumes, CONFIG};

pub struct QosParams {
    /// Seconds each case should take at its configured limit.
    pub seconds: f64,
    pub poll: Duration,
}

/// One limit and the workload it is measured with.
struct Case {
    spec: &'static str,
    value: u64,
    size_gib: u32,
    /// The limit the spec works out to for this volume (`_per_gb` × size).
    effective: u64,
    block: u64,
    depth: u32,
    write: bool,
}

const MIB: u64 = 1 << 20;

const CASES: &[Case] = &[
    Case {
        spec: "total_iops_sec",
        value: 100,
        size_gib: 1,
        effective: 100,
        block: 4096,
        depth: 1,
        write: false,
    },
    Case {
        spec: "total_iops_sec",
        value: 100,
        size_gib: 1,
        effective: 100,
        block: 4096,
        depth: 16,
        write: false,
    },
    Case {
        spec: "total_iops_sec",
        value: 1000,
        size_gib: 1,
        effective: 1000,
        block: 4096,
        depth: 16,
        write: false,
    },
    Case {
        spec: "write_iops_sec",
        value: 200,
        size_gib: 1,
        effective: 200,
        block: 4096,
        depth: 4,
        write: true,
    },
    Case {
        spec: "total_iops_sec_per_gb",
        value: 50,
        size_gib: 4,
        effective: 200,
        block: 4096,
        depth: 8,
        write: false,
    },
    Case {
        spec: "total_bytes_sec",
        value: 10 * MIB,
        size_gib: 1,
        effective: 10 * MIB,
        block: MIB,
        depth: 4,
        write: false,
    },
    Case {
        spec: "read_bytes_sec",
        value: 50 * MIB,
        size_gib: 1,
        effective: 50 * MIB,
        block: MIB,
        depth: 1,
        write: false,
    },
    Case {
        spec: "write_bytes_sec",
        value: 20 * MIB,
        size_gib: 1,
        effective: 20 * MIB,
        block: MIB,
        depth: 2,
        write: true,
    },
];

pub struct Measured {
    pub label: String,
    pub configured: String,
    pub workload: String,
    pub measured: String,
    pub ratio: f64,
}

pub async fn run(bin: &Path, p: &QosParams) -> anyhow::Result<Vec<Measured>> {
    crate::blockio::version("qemu-img")?;
    let work = tempfile::Builder::new().prefix("basalt-qos-").tempdir()?;
    let root = work.path();
    let config = root.join("basalt.toml");
    std::fs::write(&config, CONFIG)?;
    let log = root.join("basalt.log");
    let mut server = Server::spawn_with(bin, &root.join("data"), &log, Some(&config))?;
    let outcome = match server.wait_ready().await {
        Ok(_) => measure(&server, p).await,
        Err(e) => Err(e),
    };
    let tail = server.log_tail();
    server.stop().await?;
    outcome.with_context(|| format!("server log ({}), last lines:\n{tail}", log.display()))
}

async fn measure(server: &Server, p: &QosParams) -> anyhow::Result<Vec<Measured>> {
    let tls = connector(&server.ca_pem())?;
    let (token, project) = tokens::issue_one(&mut Conn::open(server.identity, &tls).await?).await?;
    let vols = Volumes { project, token };
    let mut conn = Conn::open(server.api, &tls).await?;
    vols.unlimited_quota(&mut conn).await?;
    let mut out = Vec::new();
    for (i, c) in CASES.iter().enumerate() {
        let id = typed_volume(&vols, &mut conn, i, c).await?;
        crate::exports::settle(&vols, &mut conn, &id, p.poll).await?;
        let export = vols.initialize_connection(&mut conn, &id).await?;
        // Enough requests for `seconds` at the limit.
        let per_second = if c.spec.contains("bytes") {
            c.effective as f64 / c.block as f64
        } else {
            c.effective as f64
        };
        let count = (per_second * p.seconds).ceil().max(4.0) as u64;
        let took = bench(&export.uri(), count, c.block, c.depth, c.write)?;
        let (configured, measured, ratio) = if c.spec.contains("bytes") {
            let rate = (count * c.block) as f64 / took;
            (
                format!("{} MiB/s", c.effective / MIB),
                format!("{:.2} MiB/s", rate / MIB as f64),
                rate / c.effective as f64,
            )
        } else {
            let rate = count as f64 / took;
            (
                format!("{} IOPS", c.effective),
                format!("{rate:.1} IOPS"),
                rate / c.effective as f64,
            )
        };
        eprintln!("qos: {} = {} → {measured}", c.spec, c.value);
        out.push(Measured {
            label: if c.spec.ends_with("_per_gb") {
                format!("`{}={}` on {} GiB", c.spec, c.value, c.size_gib)
            } else {
                format!("`{}={}`", c.spec, c.value)
            },
            configured,
            workload: format!(
                "{} {} KiB, depth {}, {} requests",
                if c.write { "write" } else { "read" },
                c.block >> 10,
                c.depth,
                count
            ),
            measured,
            ratio,
        });
    }
    Ok(out)
}

/// A QoS spec with the case's limit, a type associated with it, and a volume of that type.
async fn typed_volume(
    vols: &Volumes,
    conn: &mut Conn,
    i: usize,
    c: &Case,
) -> anyhow::Result<String> {
    let name = format!("bench-qos-{i}");
    let body = json!({"qos_specs": {"name": name, "consumer": "back-end",
                                    c.spec: c.value.to_string()}});
    let qos = created(vols, conn, "/qos-specs", &body, "qos_specs").await?;
    let body = json!({"volume_type": {"name": name}});
    let ty = created(vols, conn, "/types", &body, "volume_type").await?;
    let rest = format!("/qos-specs/{qos}/associate?vol_type_id={ty}");
    let reply = vols.call(conn, Method::GET, &rest, None).await?;
    expect(&reply, StatusCode::ACCEPTED, "GET qos-specs associate")?;
    let body = json!({"volume": {"size": c.size_gib, "name": name, "volume_type": ty}});
    let reply = vols
        .call(conn, Method::POST, "/volumes", Some(&body))
        .await?;
    expect(&reply, StatusCode::ACCEPTED, "POST volumes")?;
    let doc: Value = serde_json::from_slice(&reply.body)?;
    Ok(doc["volume"]["id"]
        .as_str()
        .context("no volume.id")?
        .to_owned())
}

/// POSTs `body` to `rest` (200) and returns the new `key`'s id.
async fn created(
    vols: &Volumes,
    conn: &mut Conn,
    rest: &str,
    body: &Value,
    key: &str,
) -> anyhow::Result<String> {
    let reply = vols.call(conn, Method::POST, rest, Some(body)).await?;
    expect(&reply, StatusCode::OK, &format!("POST {rest}"))?;
    let doc: Value = serde_json::from_slice(&reply.body)?;
    Ok(doc[key]["id"]
        .as_str()
        .with_context(|| format!("no {key}.id in {doc}"))?
        .to_owned())
}

/// `qemu-img bench` over NBD: seconds taken.
fn bench(uri: &str, count: u64, block: u64, depth: u32, write: bool) -> anyhow::Result<f64> {
    let mut cmd = std::process::Command::new("qemu-img");
    cmd.args([
        "bench",
        "-f",
        "raw",
        "-c",
        &count.to_string(),
        "-d",
        &depth.to_string(),
    ])
    .args(["-s", &block.to_string(), "-S", &block.to_string()]);
    if write {
        cmd.arg("-w");
    }
    let out = cmd.arg(uri).output().context("cannot run qemu-img bench")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "qemu-img bench failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    text.split("Run completed in ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no run time in qemu-img bench's output: {text}"))
}

/// The section of the report.
pub fn report(rows: &[Measured], p: &QosParams) -> String {
    let mut s = format!(
        "\n## QoS: back-end limits enforced by the NBD exporter\n\n\
         Each limit set through the API (`/qos-specs`, associated with a type) on a volume of \
         that type, attached over NBD and measured with `qemu-img bench` for about {:.0} s at \
         the limit.\n\n\
         | spec | effective limit | workload | measured | measured ÷ limit |\n|---|---|---|---|---|\n",
        p.seconds
    );
    for r in rows {
        s += &format!(
            "| {} | {} | {} | {} | {:.3} |\n",
            r.label, r.configured, r.workload, r.measured, r.ratio
        );
    }
    s
}
