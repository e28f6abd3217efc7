//! The markdown report printed on stdout.

use std::fmt::Write;
use std::time::Duration;

use crate::fresh::Fresh;
use crate::procfs::{Machine, Memory};
use crate::startup::StartupRun;
use crate::stats::{median, millis};
use crate::suite::{Throughput, ThroughputParams, TokenRun};

pub struct Context {
    pub date: String,
    pub machine: Machine,
    pub load_before: f64,
    pub load_after: f64,
    pub binary: String,
    pub version: String,
    pub command: String,
    pub client_threads: usize,
}

/// "0.183 ms", "12.4 ms", "731 ms".
pub fn ms(value: f64) -> String {
    match value {
        v if v < 1.0 => format!("{v:.3} ms"),
        v if v < 10.0 => format!("{v:.2} ms"),
        v if v < 100.0 => format!("{v:.1} ms"),
        v => format!("{v:.0} ms"),
    }
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Median with the range: "41.2 ms (38.0–47.9)".
pub fn spread(values: &[Duration]) -> String {
    let v: Vec<f64> = values.iter().copied().map(millis).collect();
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(0.0, f64::max);
    let digits = match max {
        m if m < 1.0 => 3,
        m if m < 10.0 => 2,
        _ => 1,
    };
    format!(
        "{} ({min:.digits$}–{max:.digits$})",
        ms(median(v.iter().copied()))
    )
}

/// Thousands separators for counts and rates.
pub fn count(n: f64) -> String {
    let digits = format!("{:.0}", n.round());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn header(c: &Context) -> String {
    let m = &c.machine;
    format!(
        "# basalt-bench\n\n\
         - Date: {}\n\
         - Machine: {} CPUs, {}, Linux {}; 1-minute load average {:.2} before, {:.2} after\n\
         - Server: {} (`{}`)\n\
         - Client: this process, {} runtime thread(s); hyper HTTP/1.1 over rustls, one \
           keep-alive connection per worker\n\
         - Command: `{}`\n",
        c.date,
        m.cpus,
        m.cpu_model,
        m.kernel,
        c.load_before,
        c.load_after,
        c.version,
        c.binary,
        c.client_threads,
        c.command
    )
}

pub fn startup(runs: &[StartupRun]) -> String {
    let col = |f: fn(&StartupRun) -> Duration| -> Vec<Duration> { runs.iter().map(f).collect() };
    let own = |f: fn(&StartupRun) -> u64| median(runs.iter().map(|r| f(r) as f64));
    let mut s = format!(
        "\n## Start-up: spawn to first answered `GET /` (median of {} runs, min–max)\n\n\
         | start | first answered request | server's own \"ready in\" |\n|---|---|---|\n",
        runs.len()
    );
    let _ = writeln!(
        s,
        "| first start (fresh data dir: certificates, admin bootstrap) | {} | {} |",
        spread(&col(|r| r.first)),
        ms(own(|r| r.first_self_ms))
    );
    let _ = writeln!(
        s,
        "| restart (existing data dir) | {} | {} |",
        spread(&col(|r| r.restart)),
        ms(own(|r| r.restart_self_ms))
    );
    s
}

pub fn throughput(t: &Throughput, p: &ThroughputParams) -> String {
    let mut s = format!(
        "\n## Authenticated `GET /v2/{{project}}/extensions` over HTTPS (keep-alive; {} s \
         warm-up, {} s measured; median of {} runs)\n\n\
         | concurrency | req/s | p50 | p99 | server CPU / request | client CPU / request | \
         requests (errors) |\n|---|---|---|---|---|---|---|\n",
        p.warmup.as_secs_f64(),
        p.duration.as_secs_f64(),
        p.repeats
    );
    for (concurrency, runs) in &t.runs {
        let med = |f: fn(&crate::load::LoadSummary) -> f64| median(runs.iter().map(f));
        let _ = writeln!(
            s,
            "| {concurrency} | {} | {} | {} | {:.1} µs | {:.1} µs | {} ({}) |",
            count(med(|r| r.per_second)),
            ms(med(|r| millis(r.p50))),
            ms(med(|r| millis(r.p99))),
            med(|r| r.server_us),
            med(|r| r.client_us),
            count(med(|r| r.requests as f64)),
            runs.iter().map(|r| r.errors).sum::<u64>()
        );
    }
    s += &fresh(&t.fresh);
    let _ = writeln!(
        s,
        "\nServer memory after these runs: VmRSS {}, VmHWM {}.",
        mib(t.memory_after.rss_kib),
        mib(t.memory_after.peak_kib)
    );
    s
}

/// A request slower than this on a new connection, but not on the second, is a Nagle stall.
const STALL: Duration = Duration::from_millis(20);

fn fresh(f: &[Fresh]) -> String {
    let col = |g: fn(&Fresh) -> Duration| -> Vec<Duration> { f.iter().map(g).collect() };
    let stalls = f.iter().filter(|c| c.first >= STALL).count();
    format!(
        "\nNew connections ({}, one after the other): TLS handshake {}, first `GET /` {}, \
         second {} (median, min–max); {stalls} first requests took {} ms or more.\n",
        f.len(),
        spread(&col(|c| c.handshake)),
        spread(&col(|c| c.first)),
        spread(&col(|c| c.second)),
        STALL.as_millis()
    )
}

pub fn tokens(t: &TokenRun, ticks_per_second: u64) -> String {
    let i = &t.issued;
    let cpu_ms = i.server_cpu_ticks as f64 * 1e3 / ticks_per_second as f64 / i.count.max(1) as f64;
    let mem = |m: &Memory| format!("{} (peak {})", mib(m.rss_kib), mib(m.peak_kib));
    format!(
        "\n## {} tokens by v3 password authentication (concurrency {}; Argon2id)\n\n\
         | tokens/s | p50 | p99 | server CPU / token | RSS idle after start | RSS after \
         (VmRSS) | peak RSS (VmHWM) |\n|---|---|---|---|---|---|---|\n\
         | {:.1} | {} | {} | {} | {} | {} | {} |\n",
        count(i.count as f64),
        t.concurrency,
        i.count as f64 / i.elapsed.as_secs_f64(),
        ms(millis(i.p50)),
        ms(millis(i.p99)),
        ms(cpu_ms),
        mem(&t.idle),
        mib(t.after.rss_kib),
        mib(t.after.peak_kib)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_counts_and_times() {
        assert_eq!(count(1234567.4), "1,234,567");
        assert_eq!(count(999.0), "999");
        assert_eq!(ms(0.1834), "0.183 ms");
        assert_eq!(ms(12.44), "12.4 ms");
        assert_eq!(ms(731.2), "731 ms");
    }
}
