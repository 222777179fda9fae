//! Stage timestamps for profiling: with `WHEELFIX_TIMINGS=1` in the
//! environment, every [`mark`] prints `timing: <ms since start> <resident
//! MiB> <stage>` on standard error (the resident size read from
//! `/proc/self/status` where there is one). Without it, a mark costs one
//! relaxed load.

use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Option<Instant>> = OnceLock::new();

fn start() -> Option<Instant> {
    *START.get_or_init(|| {
        std::env::var_os("WHEELFIX_TIMINGS").filter(|v| !v.is_empty() && v != "0").map(|_| Instant::now())
    })
}

/// Starts the clock (the command line calls this first); later marks count from here.
pub fn init() {
    start();
}

/// Whether timings are on (for a mark whose text costs work to compute).
pub fn enabled() -> bool {
    start().is_some()
}

/// Prints the time since [`init`] and `stage`, when timings are on (pass
/// `format_args!(…)` for a computed stage: it is only formatted then).
pub fn mark(stage: impl std::fmt::Display) {
    if let Some(t0) = start() {
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        match (resident_mib(), cpu_ms()) {
            (Some(mib), Some(cpu)) => eprintln!("timing: {ms:8.2} ms {mib:5} MiB {cpu:8.2} cpu-ms {stage}"),
            (Some(mib), None) => eprintln!("timing: {ms:8.2} ms {mib:5} MiB {stage}"),
            _ => eprintln!("timing: {ms:8.2} ms {stage}"),
        }
    }
}

/// The CPU time the process's live threads have run so far, in ms (Linux
/// only: the first field of each `/proc/self/task/*/schedstat`, in ns).
/// Threads that have ended are not counted.
fn cpu_ms() -> Option<f64> {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(ns as f64 / 1e6)
}

/// The resident set size now, in MiB (Linux only: the `VmRSS` line of
/// `/proc/self/status`, in kB whatever the page size).
fn resident_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib >> 10)
}
