//! The markdown tables of the volume scenario, and its goals checked against the figures.

use std::fmt::Write;
use std::time::Duration;

use crate::lifecycle::LifecycleRun;
use crate::load::LoadSummary;
use crate::report::{count, mib, ms};
use crate::stats::{median, millis, percentile};
use crate::volume_suite::{Level, VolumeParams, VolumeResults};

/// Goals of the volume issue.
const AVAILABLE_GOAL_MS: f64 = 20.0;
const DETAIL_P99_GOAL_MS: f64 = 5.0;

pub fn volumes(r: &VolumeResults, p: &VolumeParams) -> String {
    let ticks = p.load.ticks_per_second;
    let mut s = String::new();
    s += &seeding(&r.levels, ticks);
    s += &memory(r);
    s += &gets(&r.levels, p);
    s += &lifecycles(&r.levels, p, ticks);
    s += &goals(&r.levels);
    s
}

fn seeding(levels: &[Level], ticks: u64) -> String {
    let mut s = String::from(
        "\n## Seeding through the API (1 GiB sparse volumes, `POST /volumes` until all \
         `available`)\n\n\
         | volumes | workers | time to all available | creates/s | POST rate, first → last \
         tenth | server CPU / create | retried creates |\n|---|---|---|---|---|---|---|\n",
    );
    for seeded in levels.iter().filter_map(|l| l.seeded.as_ref()) {
        let n = (seeded.want - seeded.have) as f64;
        let rate = |i: usize| -> f64 {
            let (prev_n, prev_t) = match i {
                0 => (seeded.have, Duration::ZERO),
                i => seeded.marks[i - 1],
            };
            let (n, t) = seeded.marks[i];
            (n - prev_n) as f64 / (t - prev_t).as_secs_f64().max(1e-9)
        };
        let tenths = match seeded.marks.len() {
            0 => "–".to_owned(),
            k => format!("{} → {}/s", count(rate(0)), count(rate(k - 1))),
        };
        let retried = match &seeded.first_error {
            Some(e) => format!("{} (first: {e})", seeded.retries),
            None => "0".to_owned(),
        };
        let _ = writeln!(
            s,
            "| {} → {} | {} | {:.1} s | {} | {tenths} | {} | {retried} |",
            count(seeded.have as f64),
            count(seeded.want as f64),
            seeded.workers,
            seeded.elapsed.as_secs_f64(),
            count(n / seeded.elapsed.as_secs_f64()),
            ms(seeded.server_cpu_ticks as f64 * 1e3 / ticks as f64 / n),
        );
    }
    s
}

fn memory(r: &VolumeResults) -> String {
    let mut s = String::from(
        "\n## Server memory and database size\n\n\
         | when | VmRSS | VmHWM | basalt.db + WAL |\n|---|---|---|---|\n",
    );
    let _ = writeln!(
        s,
        "| idle after start | {} | {} | |",
        mib(r.idle.rss_kib),
        mib(r.idle.peak_kib)
    );
    for l in &r.levels {
        let _ = writeln!(
            s,
            "| holding {} volumes (after seeding) | {} | {} | {} |",
            count(l.count as f64),
            mib(l.memory.rss_kib),
            mib(l.memory.peak_kib),
            mib(l.db_bytes / 1024)
        );
    }
    let _ = writeln!(
        s,
        "| end (after all loads) | {} | {} | |",
        mib(r.memory_end.rss_kib),
        mib(r.memory_end.peak_kib)
    );
    s
}

fn gets(levels: &[Level], p: &VolumeParams) -> String {
    let mut s = format!(
        "\n## Volume GETs over HTTPS (keep-alive; {} s warm-up, {} s measured; median of {} \
         runs)\n\n\
         | volumes | request | concurrency | req/s | p50 | p99 | server CPU / request | client \
         CPU / request | errors |\n|---|---|---|---|---|---|---|---|---|\n",
        p.load.warmup.as_secs_f64(),
        p.load.duration.as_secs_f64(),
        p.load.repeats
    );
    for l in levels {
        for e in &l.endpoints {
            for (concurrency, runs) in &e.runs {
                let med = |f: fn(&LoadSummary) -> f64| median(runs.iter().map(f));
                let _ = writeln!(
                    s,
                    "| {} | {} | {concurrency} | {} | {} | {} | {:.1} µs | {:.1} µs | {} |",
                    count(l.count as f64),
                    e.name,
                    count(med(|r| r.per_second)),
                    ms(med(|r| millis(r.p50))),
                    ms(med(|r| millis(r.p99))),
                    med(|r| r.server_us),
                    med(|r| r.client_us),
                    runs.iter().map(|r| r.errors).sum::<u64>()
                );
            }
        }
    }
    s
}

fn lifecycles(levels: &[Level], p: &VolumeParams, ticks: u64) -> String {
    let mut s = format!(
        "\n## {} fresh 1 GiB volumes: `POST` → `available`, then `DELETE` → 404 (polled every \
         {} ms; median of {} runs)\n\n\
         | volumes held | workers | POST p50 | available p50 | available p99 | server's \
         `updated_at − created_at` p50 | creates/s | server CPU / create (polls included) | \
         DELETE p50 | gone p50 | gone p99 | deletes/s | server CPU / delete | GETs / volume | failed (all runs) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        p.lifecycle_count,
        millis(p.poll),
        p.load.repeats
    );
    for l in levels {
        for (workers, runs) in &l.lifecycles {
            let med = |f: &dyn Fn(&LifecycleRun) -> f64| median(runs.iter().map(f));
            let pct = |v: &[Duration], q: f64| millis(percentile(v, q));
            let n = p.lifecycle_count as f64;
            let _ = writeln!(
                s,
                "| {} | {workers} | {} | **{}** | {} | {} | {:.0} | {} | {} | {} | {} | {:.0} | {} \
                 | {:.1} | {} |",
                count(l.count as f64),
                ms(med(&|r| pct(&r.post, 50.0))),
                ms(med(&|r| pct(&r.to_available, 50.0))),
                ms(med(&|r| pct(&r.to_available, 99.0))),
                ms(med(&|r| pct(&r.server_span, 50.0))),
                med(&|r| n / r.create_wall.as_secs_f64()),
                ms(med(&|r| r.create_cpu_ticks as f64 * 1e3 / ticks as f64 / n)),
                ms(med(&|r| pct(&r.delete_call, 50.0))),
                ms(med(&|r| pct(&r.to_gone, 50.0))),
                ms(med(&|r| pct(&r.to_gone, 99.0))),
                med(&|r| n / r.delete_wall.as_secs_f64()),
                ms(med(&|r| r.delete_cpu_ticks as f64 * 1e3 / ticks as f64 / n)),
                med(&|r| r.polls as f64 / n / 2.0),
                runs.iter().map(|r| r.failures).sum::<usize>(),
            );
        }
    }
    let failures = levels
        .iter()
        .flat_map(|l| l.lifecycles.iter().flat_map(|(_, runs)| runs))
        .filter_map(|r| r.first_failure.as_deref());
    for (i, f) in failures.enumerate().take(5) {
        let _ = write!(s, "{}{f}", if i == 0 { "\nFirst failures: " } else { "; " });
    }
    s.push('\n');
    s
}

/// The goals, each with the figure that decides it.
fn goals(levels: &[Level]) -> String {
    let mut s = String::from("\n## Goals\n\n");
    let verdict = |ok: bool| if ok { "met" } else { "**missed**" };
    for l in levels {
        for (workers, runs) in l.lifecycles.iter().filter(|(w, _)| *w == 1) {
            let p50 = median(
                runs.iter()
                    .map(|r| millis(percentile(&r.to_available, 50.0))),
            );
            let _ = writeln!(
                s,
                "- Create → available under {AVAILABLE_GOAL_MS} ms median ({} volumes held, \
                 {workers} worker): {} — {}",
                count(l.count as f64),
                ms(p50),
                verdict(p50 < AVAILABLE_GOAL_MS)
            );
        }
    }
    let first_page = |l: &Level| -> Option<(f64, f64)> {
        let e = l.endpoints.first()?;
        let (_, runs) = e.runs.iter().find(|(c, _)| *c == 1)?;
        Some((
            median(runs.iter().map(|r| millis(r.p99))),
            median(runs.iter().map(|r| r.server_us)),
        ))
    };
    for l in levels.iter().filter(|l| l.count > 0) {
        if let Some((p99, _)) = first_page(l) {
            let _ = writeln!(
                s,
                "- Detail listing of 100 under {DETAIL_P99_GOAL_MS} ms p99 at concurrency 1 \
                 ({} volumes): {} — {}",
                count(l.count as f64),
                ms(p99),
                verdict(p99 < DETAIL_P99_GOAL_MS)
            );
        }
    }
    let full: Vec<(usize, f64)> = levels
        .iter()
        .filter(|l| l.count >= 1000)
        .filter_map(|l| Some((l.count, first_page(l)?.1)))
        .collect();
    if let (Some(lo), Some(hi)) = (full.first(), full.last()) {
        if hi.0 > lo.0 {
            let ratio = hi.1 / lo.1;
            let _ = writeln!(
                s,
                "- Per-page cost independent of N: server CPU per first page {:.0} µs at {} \
                 volumes, {:.0} µs at {} ({ratio:.2}×) — {}",
                lo.1,
                count(lo.0 as f64),
                hi.1,
                count(hi.0 as f64),
                verdict(ratio < 1.5)
            );
        }
    }
    s
}
