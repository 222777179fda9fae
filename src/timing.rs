//! Stage timestamps for profiling: with `WHEELFIX_TIMINGS=1` in the
//! environment, every [`mark`] prints `timing: <ms since start> <stage>` on
//! standard error. Without it, a mark costs one relaxed load.

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
        eprintln!("timing: {:8.2} ms {stage}", t0.elapsed().as_secs_f64() * 1e3);
    }
}
