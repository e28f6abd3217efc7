//! Readings from `/proc`: a process's CPU time (user + system, in clock ticks) and memory.

use std::path::Path;

use anyhow::Context;

/// `utime + stime` of `pid`, all threads included, in clock ticks.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    // The command name (field 2) may contain spaces: count fields after its closing paren.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let field = |n: usize| -> anyhow::Result<u64> {
        Ok(fields
            .get(n - 3)
            .context("short stat line")?
            .parse::<u64>()?)
    };
    Ok(field(14)? + field(15)?)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every common Linux when that fails).
pub fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// Resident memory of a process, in KiB.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// Peak resident set size (`VmHWM`).
    pub peak_kib: u64,
    /// Current resident set size (`VmRSS`).
    pub rss_kib: u64,
}

pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let kib = |key: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .with_context(|| format!("{key} missing from {path}"))?;
        Ok(line.trim().trim_end_matches("kB").trim().parse()?)
    };
    Ok(Memory {
        peak_kib: kib("VmHWM:")?,
        rss_kib: kib("VmRSS:")?,
    })
}

/// What the report says about the machine.
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
}

pub fn machine() -> Machine {
    let read = |p: &str| std::fs::read_to_string(Path::new(p)).unwrap_or_default();
    let cpu_model = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown".into());
    Machine {
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model,
        kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
    }
}

/// The 1-minute load average: how busy the (shared) machine was.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}
