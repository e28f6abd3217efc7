//! The markdown of the copies scenario: per target directory, the copy mode it showed, dd's
//! bandwidth and a table of the three copies; then the goals checked against them.

use std::fmt::Write;
use std::time::Duration;

use crate::copies::{CopiesParams, Measured, Op, OpRun, Target, VOLUME_GIB, XFS_LABEL};
use crate::disk::{Dd, MIB, WRITTEN};
use crate::report::{count, ms, spread};
use crate::stats::{median, millis};

/// Goals of the copies issue.
const REFLINK_GOAL_MS: f64 = 50.0;
/// "At the disk's sequential bandwidth": the slowest copy's median throughput at least this
/// share of dd's write bandwidth (a copy must write all its data; its reads may come from the
/// page cache).
const BANDWIDTH_GOAL: f64 = 0.8;

pub fn copies(targets: &[Target], p: &CopiesParams) -> String {
    let mut s = format!(
        "\n## Copies of a {VOLUME_GIB} GiB volume holding 1 GiB, through the API (POST → \
         `available`, polled every {} ms on one keep-alive connection; median (min–max) of {} \
         runs)\n",
        millis(p.poll),
        p.repeats
    );
    for t in targets {
        match &t.outcome {
            Ok(m) => s += &measured(&t.label, m),
            Err(reason) => {
                let _ = write!(s, "\n### {} — skipped\n\n{reason}\n", t.label);
            }
        }
    }
    s += &goals(targets);
    s
}

/// Reflink when the snapshots took less than an eighth of the data from the filesystem.
pub fn reflinked(m: &Measured) -> bool {
    let delta = median(m.runs(Op::Snapshot).iter().map(|r| r.fs_delta as f64));
    delta < WRITTEN as f64 / 8.0
}

fn mode(m: &Measured) -> &'static str {
    if reflinked(m) {
        "reflink"
    } else {
        "copy"
    }
}

/// Median throughput of an operation's runs, MB/s (10⁶ bytes, as dd).
fn mb_s(runs: &[OpRun]) -> f64 {
    median(
        runs.iter()
            .map(|r| WRITTEN as f64 / r.wall.as_secs_f64() / 1e6),
    )
}

/// Median with the range, of byte counts in MiB: "1,024 MiB (1,024–1,030)".
fn mib_spread(values: impl Iterator<Item = f64>) -> String {
    let v: Vec<f64> = values.map(|b| b / MIB as f64).collect();
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(
        "{} MiB ({}–{})",
        signed(median(v.iter().copied())),
        signed(min),
        signed(max)
    )
}

/// A count that may be negative (a filesystem that freed a little): "−3", "0", "1,024".
fn signed(n: f64) -> String {
    match n.round() {
        r if r < 0.0 => format!("−{}", count(-r)),
        r => count(r.abs()),
    }
}

fn dd_line(dd: &Result<Dd, String>) -> String {
    match dd {
        Ok(d) => format!(
            "write **{} MB/s**, read **{} MB/s**",
            count(d.write_mb_s),
            count(d.read_mb_s)
        ),
        Err(e) => format!("failed ({e})"),
    }
}

fn measured(label: &str, m: &Measured) -> String {
    let reflink = reflinked(m);
    let mut s = format!(
        "\n### {} mode: {label}\n\n\
         - Directory `{}` ({}).\n\
         - `dd` there, 1 GiB in 64 MiB blocks with O_DIRECT: {}.\n\
         - The source volume's 1 GiB (16 runs of 64 MiB, one every 640 MiB) written into its \
           file and fsynced in {}.\n\n\
         | operation | POST → `available` | server's `updated_at − created_at` | new file's \
         `st_blocks` | filesystem used Δ | copy throughput (1 GiB / POST → `available`) | vs \
         dd write | vs dd read |\n|---|---|---|---|---|---|---|---|\n",
        mode(m),
        m.dir.display(),
        m.fs_type,
        dd_line(&m.dd),
        ms(millis(m.write))
    );
    if label == XFS_LABEL {
        s.insert_str(
            s.find("\n\n|").expect("the table follows the list"),
            "\n- The image is a file on the root filesystem behind a loop device: its I/O goes \
             through the host's page cache, so dd's figures there are not the disk's.",
        );
    }
    for &op in &Op::ALL {
        let runs = m.runs(op);
        let walls: Vec<Duration> = runs.iter().map(|r| r.wall).collect();
        let spans: Vec<Duration> = runs.iter().filter_map(|r| r.span).collect();
        let span = if spans.is_empty() {
            "–".to_owned()
        } else {
            spread(&spans)
        };
        let rate = mb_s(runs);
        let (through, vs_write, vs_read) = match (&m.dd, reflink) {
            (_, true) => ("– (blocks shared)".to_owned(), "–".into(), "–".into()),
            (Ok(d), false) => (
                format!("{} MB/s", count(rate)),
                format!("{:.2}×", rate / d.write_mb_s),
                format!("{:.2}×", rate / d.read_mb_s),
            ),
            (Err(_), false) => (format!("{} MB/s", count(rate)), "–".into(), "–".into()),
        };
        let _ = writeln!(
            s,
            "| {} | **{}** | {span} | {} | {} | {through} | {vs_write} | {vs_read} |",
            op.name(),
            spread(&walls),
            mib_spread(runs.iter().map(|r| r.allocated as f64)),
            mib_spread(runs.iter().map(|r| r.fs_delta as f64)),
        );
    }
    s
}

/// The goals, each with the figures that decide it.
fn goals(targets: &[Target]) -> String {
    let mut s = String::from("\n## Goals (copies)\n\n");
    let verdict = |ok: bool| if ok { "met" } else { "**missed**" };
    let measured: Vec<(&str, &Measured)> = targets
        .iter()
        .filter_map(|t| Some((t.label.as_str(), t.outcome.as_ref().ok()?)))
        .collect();
    let wall = |m: &Measured, op: Op| median(m.runs(op).iter().map(|r| millis(r.wall)));

    let reflink: Vec<_> = measured.iter().filter(|(_, m)| reflinked(m)).collect();
    for (label, m) in &reflink {
        let figures: Vec<String> = Op::ALL
            .iter()
            .map(|&op| format!("{} {}", op.name(), ms(wall(m, op))))
            .collect();
        let worst = Op::ALL.iter().map(|&op| wall(m, op)).fold(0.0, f64::max);
        let _ = writeln!(
            s,
            "- Reflink snapshot and clone under {REFLINK_GOAL_MS} ms median ({label}): {} — {}",
            figures.join(", "),
            verdict(worst < REFLINK_GOAL_MS)
        );
    }
    if reflink.is_empty() {
        let why: Vec<String> = targets
            .iter()
            .filter_map(|t| Some(format!("{}: {}", t.label, t.outcome.as_ref().err()?)))
            .collect();
        let _ = writeln!(
            s,
            "- Reflink snapshot and clone under {REFLINK_GOAL_MS} ms median: not measured (no \
             target directory shared blocks{})",
            if why.is_empty() {
                String::new()
            } else {
                format!("; skipped {}", why.join("; "))
            }
        );
    }

    for (label, m) in measured.iter().filter(|(_, m)| !reflinked(m)) {
        let Ok(dd) = &m.dd else {
            let _ = writeln!(
                s,
                "- Copy mode at the disk's sequential bandwidth ({label}): not comparable, dd failed"
            );
            continue;
        };
        let ratios: Vec<(Op, f64)> = Op::ALL
            .iter()
            .map(|&op| (op, mb_s(m.runs(op)) / dd.write_mb_s))
            .collect();
        let figures: Vec<String> = ratios
            .iter()
            .map(|(op, r)| format!("{} {} MB/s ({r:.2}×)", op.name(), count(r * dd.write_mb_s)))
            .collect();
        let worst = ratios.iter().map(|(_, r)| *r).fold(f64::INFINITY, f64::min);
        let _ = writeln!(
            s,
            "- Copy mode at the disk's sequential bandwidth ({label}; ratio to dd's write {} \
             MB/s, goal ≥ {BANDWIDTH_GOAL}×): {} — {}",
            count(dd.write_mb_s),
            figures.join(", "),
            verdict(worst >= BANDWIDTH_GOAL)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_counts() {
        assert_eq!(signed(-0.2), "0");
        assert_eq!(signed(-3.4), "−3");
        assert_eq!(signed(1024.0), "1,024");
        assert_eq!(signed(-1500.0), "−1,500");
    }
}
