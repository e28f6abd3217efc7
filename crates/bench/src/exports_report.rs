//! The markdown of the exports scenario: the method, a table per workload (each target's
//! figure and its ratios to the file and to qemu-nbd), the attach sequence, the issue's goals
//! checked against them, and the exact commands.

use std::fmt::Write;
use std::time::Duration;

use crate::blockio::{self, Endpoint, Pattern, Target, Workload, RANGE};
use crate::disk::MIB;
use crate::exports::{AttachRun, Exports, ExportsParams, Run, VOLUME_GIB};
use crate::report::{count, ms};
use crate::stats::{median, millis, percentile};

/// Goals of the exports issue: Basalt's NBD against the file read directly, and the attach
/// sequence.
const SEQ_GOAL: f64 = 0.9;
const RANDOM_GOAL: f64 = 0.7;
const ATTACH_GOAL_MS: f64 = 20.0;

pub fn exports(e: &Exports, p: &ExportsParams) -> String {
    let mut s = format!(
        "\n## Exports: a {VOLUME_GIB} GiB volume through Basalt's NBD server, beside the same \
         file read directly and served by qemu-nbd (median of {} runs, min–max)\n\n",
        p.repeats
    );
    s += &method(e, p);
    for w in Workload::ALL {
        s += &table(e, w);
    }
    s += &attach(&e.attaches);
    s += &goals(e);
    s += &commands(p);
    s
}

fn method(e: &Exports, p: &ExportsParams) -> String {
    format!(
        "- Volume file `{}/data/volumes/volume-<id>` ({}): its first {} MiB written with \
           pseudo-random data and fsynced ({}) before any run; every workload stays within them.\n\
         - Basalt's export is the one `os-initialize_connection` returned after `os-reserve` \
           (`{}`, plain NBD: the client does not ask for STARTTLS), the volume then attached \
           with `os-attach`.\n\
         - Tools: {}. The same client for every target of a workload: **`qemu-img bench` for \
           sequential 1 MiB I/O** (its block layer with the `file` driver or the `nbd` driver), \
           **`fio` for random 4 KiB I/O** (`qemu-img bench` has no random pattern, only a \
           fixed step): its `io_uring` engine on the file, its `nbd` engine (libnbd) on both \
           NBD servers, {} s measured after 1 s of ramp.\n\
         - Cache modes: Basalt's file backend uses buffered `pread`/`pwrite` (and `fdatasync` on \
           flush), so the fair baseline is **the file through the page cache** (`qemu-img -t \
           writeback`, fio `--direct=0`) and qemu-nbd runs with `--cache=writeback \
           --aio=threads`; the file with O_DIRECT (`-t none -i native`, fio `--direct=1`) is \
           shown as well. Before each buffered target the range is read once so that it is \
           cached (O_DIRECT writes evict it); `sync` runs before every run. No run flushes: \
           writes are measured into the page cache for every buffered target.\n\
         - Order: each repetition runs every target in turn (file cached, Basalt NBD, Basalt \
           iSCSI, qemu-nbd, file O_DIRECT), each through all its workloads; qemu-nbd is started for its turn \
           and stopped after it.\n\
         - Server CPU / request: the NBD server process's user + system CPU over the run \
           divided by the requests (random runs: IOPS × (measured + ramp) seconds); the client \
           and the server share the machine's cores.\n\
         - iSCSI: {}\n",
        e.dir.display(),
        e.fs_type,
        RANGE / MIB,
        ms(millis(e.fill)),
        e.export.uri(),
        e.tools
            .iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", "),
        p.runtime.as_secs().max(1),
        match &e.iscsi {
            Ok(lun) => format!(
                "a twin volume (same size, same data, filled the same way) on a second file \
                 backend with `target_protocol = \"iscsi\"`, attached by the same sequence with \
                 an iSCSI connector ({lun}, CHAP, Basalt's own `tgtd`), read and written with \
                 `qemu-img bench` through qemu's libiscsi driver (`--image-opts`) for \
                 sequential I/O and read at random with libiscsi's `iscsi-perf` (4 KiB \
                 anywhere in the LUN, its unfilled half included), between Basalt NBD and \
                 qemu-nbd in each repetition; no random writes, because Debian's fio is built \
                 without its libiscsi engine and `iscsi-perf` only reads. No server CPU: tgtd \
                 is not Basalt's process."
            ),
            Err(why) if why.is_empty() => "not measured.".to_owned(),
            Err(why) => format!("not measured: {why}."),
        },
    )
}

fn figures(runs: &[Run]) -> Vec<f64> {
    runs.iter().map(|r| r.figure).collect()
}

fn med(e: &Exports, t: Target, w: Workload) -> f64 {
    median(figures(e.runs(t, w)))
}

/// "1,234 (1,200–1,300)".
fn spread(values: &[f64]) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(
        "{} ({}–{})",
        count(median(values.iter().copied())),
        count(min),
        count(max)
    )
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 {
        format!("{:.2}×", a / b)
    } else {
        "–".into()
    }
}

fn table(e: &Exports, w: Workload) -> String {
    let mut s = format!(
        "\n### {}\n\n| target | {} | vs file, page cache | vs file, O_DIRECT | vs qemu-nbd | \
         server CPU / request |\n|---|---|---|---|---|---|\n",
        w.name(),
        w.unit()
    );
    let cached = med(e, Target::FileCached, w);
    let direct = med(e, Target::FileDirect, w);
    let qemu = med(e, Target::QemuNbd, w);
    for t in Target::ALL {
        let runs = e.runs(t, w);
        if runs.is_empty() {
            if t == Target::BasaltIscsi && e.iscsi.is_ok() {
                let _ = writeln!(
                    s,
                    "| {} | not measured (no iSCSI writer here: fio has no iSCSI engine, \
                     iscsi-perf only reads) | – | – | – | – |",
                    t.label()
                );
            }
            continue;
        }
        let v = median(figures(runs));
        let cpu: Vec<f64> = runs.iter().filter_map(|r| r.server_cpu_us_per_op).collect();
        let cpu = if cpu.is_empty() {
            "–".to_owned()
        } else {
            format!("{:.1} µs", median(cpu))
        };
        let vs = |base: f64, is_base: bool| {
            if is_base {
                "1×".to_owned()
            } else {
                ratio(v, base)
            }
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {cpu} |",
            t.label(),
            if t == Target::Basalt {
                format!("**{}**", spread(&figures(runs)))
            } else {
                spread(&figures(runs))
            },
            vs(cached, t == Target::FileCached),
            vs(direct, t == Target::FileDirect),
            vs(qemu, t == Target::QemuNbd),
        );
    }
    s
}

/// One row of the attach table: the calls it times.
type Step = fn(&AttachRun) -> Duration;

fn attach(runs: &[AttachRun]) -> String {
    let mut s = format!(
        "\n### Attach sequence through the API ({} fresh 1 GiB volumes, one after the other, \
         on one keep-alive HTTPS connection)\n\n\
         | calls | median | p99 | min | max |\n|---|---|---|---|---|\n",
        runs.len()
    );
    let rows: [(&str, Step); 5] = [
        ("`os-reserve`", |r| r.reserve),
        ("`os-initialize_connection` (export issued)", |r| {
            r.initialize
        }),
        ("`os-attach`", |r| r.attach),
        (
            "**reserve → initialize_connection → attach**",
            AttachRun::sequence,
        ),
        (
            "detach: `os-begin_detaching` → `os-terminate_connection` → `os-detach` (timed \
             separately)",
            |r| r.detach,
        ),
    ];
    for (name, f) in rows {
        let mut v: Vec<Duration> = runs.iter().map(f).collect();
        v.sort();
        if v.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} |",
            ms(median(v.iter().copied().map(millis))),
            ms(millis(percentile(&v, 99.0))),
            ms(millis(v[0])),
            ms(millis(v[v.len() - 1]))
        );
    }
    s
}

fn goals(e: &Exports) -> String {
    let mut s = String::from("\n## Goals (exports)\n\n");
    let verdict = |ok: bool| if ok { "met" } else { "**missed**" };
    let basalt_vs = |pattern: Pattern, base: Target, goal: f64, what: &str| {
        let ratios: Vec<(Workload, f64)> = Workload::ALL
            .iter()
            .filter(|w| w.pattern == pattern)
            .map(|&w| (w, med(e, Target::Basalt, w) / med(e, base, w)))
            .collect();
        let figures: Vec<String> = ratios
            .iter()
            .map(|(w, r)| format!("{} {r:.2}×", short(*w)))
            .collect();
        let worst = ratios.iter().map(|(_, r)| *r).fold(f64::INFINITY, f64::min);
        format!(
            "- Basalt NBD ≥ {:.0} % of {what} ({}): {} — {}\n",
            goal * 100.0,
            base.label(),
            figures.join(", "),
            verdict(worst >= goal)
        )
    };
    for (pattern, goal, what) in [
        (
            Pattern::Sequential,
            SEQ_GOAL,
            "direct file access, sequential 1 MiB",
        ),
        (
            Pattern::Random,
            RANDOM_GOAL,
            "direct file access, random 4 KiB",
        ),
    ] {
        s += &basalt_vs(pattern, Target::FileCached, goal, what);
        s += &basalt_vs(pattern, Target::FileDirect, goal, what);
    }
    s += "- (The page-cache baseline moves data at memory speed with one system call per \
          request; any server behind a socket pays a round trip per request on top, so the \
          O_DIRECT line is the one that compares with the disk.)\n";
    let vs_qemu: Vec<(Workload, f64)> = Workload::ALL
        .iter()
        .map(|&w| (w, med(e, Target::Basalt, w) / med(e, Target::QemuNbd, w)))
        .collect();
    let worst = vs_qemu
        .iter()
        .map(|(_, r)| *r)
        .fold(f64::INFINITY, f64::min);
    let _ = writeln!(
        s,
        "- Basalt NBD at least as fast as qemu-nbd (median ratio ≥ 1.00× in every workload): {} \
         — {}",
        vs_qemu
            .iter()
            .map(|(w, r)| format!("{} {r:.2}×", short(*w)))
            .collect::<Vec<_>>()
            .join(", "),
        verdict(worst >= 1.0)
    );
    if e.iscsi.is_ok() {
        let iscsi: Vec<String> = Workload::ALL
            .iter()
            .filter(|&&w| Target::BasaltIscsi.measures(w))
            .map(|&w| {
                format!(
                    "{} {:.2}× of the file with O_DIRECT, {:.2}× of Basalt NBD",
                    short(w),
                    med(e, Target::BasaltIscsi, w) / med(e, Target::FileDirect, w),
                    med(e, Target::BasaltIscsi, w) / med(e, Target::Basalt, w)
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "- Basalt iSCSI (tgt), for comparison (no goal): {}",
            iscsi.join("; ")
        );
    }
    let mut seq: Vec<Duration> = e.attaches.iter().map(AttachRun::sequence).collect();
    seq.sort();
    let median_ms = median(seq.iter().copied().map(millis));
    let _ = writeln!(
        s,
        "- Attach sequence (reserve → initialize_connection → attach) under {ATTACH_GOAL_MS} ms \
         median: {} (p99 {}) — {}",
        ms(median_ms),
        ms(millis(percentile(&seq, 99.0))),
        verdict(median_ms < ATTACH_GOAL_MS)
    );
    s
}

/// "seq read qd1", "rand write qd32".
fn short(w: Workload) -> String {
    format!(
        "{} {} qd{}",
        match w.pattern {
            Pattern::Sequential => "seq",
            Pattern::Random => "rand",
        },
        if w.write { "write" } else { "read" },
        w.depth
    )
}

fn commands(p: &ExportsParams) -> String {
    let file = Endpoint::File("FILE".into());
    let nbd = Endpoint::Nbd("nbd://127.0.0.1:PORT/NAME".into());
    let mut s = String::from(
        "\n### Commands (FILE: the volume's file; `nbd://127.0.0.1:PORT/NAME`: Basalt's export, \
         or qemu-nbd's `…/bench`)\n\n```\n",
    );
    let _ = writeln!(
        s,
        "qemu-nbd {}",
        blockio::qemu_nbd_args("PORT", "FILE").join(" ")
    );
    let iscsi = Endpoint::Iscsi {
        opts: "driver=raw,file.driver=iscsi,file.transport=tcp,file.portal=127.0.0.1:PORT,\
               file.target=IQN,file.lun=1,file.initiator-name=INITIATOR,file.user=USER,\
               file.password=PASSWORD"
            .into(),
        url: "iscsi://USER%PASSWORD@127.0.0.1:PORT/IQN/1".into(),
        initiator: "INITIATOR".into(),
    };
    for w in Workload::ALL {
        for t in [
            Target::FileCached,
            Target::FileDirect,
            Target::Basalt,
            Target::BasaltIscsi,
        ] {
            if !t.measures(w) {
                continue;
            }
            let at = match t {
                Target::BasaltIscsi => &iscsi,
                t if t.is_file() => &file,
                _ => &nbd,
            };
            let (program, args) = blockio::command(t, w, at, p.runtime);
            let _ = writeln!(s, "{}", blockio::shown(&program, &args));
        }
    }
    s += "```\n";
    s
}
