//! wheelfix: repair Python wheels for Linux, macOS and Windows in one native tool.
//!
//! A freshly built wheel links against shared libraries of the build machine.
//! wheelfix finds them, decides the best platform tag the wheel can carry, and
//! (with `repair`) bundles every non-system library into the wheel under a
//! clash-proof name, rewriting the binaries that reference it.
//!
//! The pipeline is pure data until the last step:
//!
//! 1. [`analyze`] reads a wheel (memory-mapped, never extracted), parses every
//!    binary once ([`binary`]), resolves its dependencies the way the target's
//!    loader would ([`resolve`]) and applies the platform rules ([`policy`]).
//!    The result is an [`Analysis`].
//! 2. [`repair`] turns an `Analysis` into a plan (libraries to graft, edits per
//!    file), applies the edits in memory ([`patch`]), re-parses every rewritten
//!    binary to check it, and writes a new wheel atomically ([`wheel`]).
//!
//! ```
//! use std::path::Path;
//!
//! // the demo wheel: an extension that needs two libraries kept outside the wheel
//! let wheel = Path::new("fixtures/demo/demo-0.1-cp311-cp311-linux_x86_64.whl");
//! let options = wheelfix::AnalyzeOptions { lib_path: vec!["fixtures/demo/lib".into()], ..Default::default() };
//! let analysis = wheelfix::analyze(wheel, &options)?;
//! assert_eq!(analysis.family(), wheelfix::analyze::Family::Linux);
//! // as it is, only `linux_x86_64`; with the two libraries bundled, manylinux
//! let linux = analysis.linux().unwrap();
//! assert_eq!(linux.current, None);
//! assert!(analysis.best_platform_tags()[0].starts_with("manylinux_2_"));
//! let bundle: Vec<&str> = analysis.to_bundle().iter().map(|&n| analysis.graph.nodes[n].name.as_str()).collect();
//! assert_eq!(bundle, ["libdemocore.so.1", "libdemoutil.so.1"]);
//!
//! // repair writes a new wheel; the input is never modified
//! let out = std::env::temp_dir().join(format!("wheelfix-doc-{}", std::process::id()));
//! let repaired = wheelfix::repair(wheel, &wheelfix::RepairOptions {
//!     analyze: options,
//!     apply: wheelfix::ApplyOptions { wheel_dir: out.clone(), ..Default::default() },
//!     ..Default::default()
//! })?;
//! assert_eq!(repaired.bundled.len(), 2);
//! assert!(repaired.output.starts_with(&out));
//! # std::fs::remove_dir_all(out).ok();
//! # Ok::<(), wheelfix::Error>(())
//! ```
#![warn(missing_docs)]
#![warn(missing_debug_implementations)]

pub mod analyze;
pub mod apply;
pub mod binary;
pub mod bytes;
pub mod check;
pub mod cli;
pub mod error;
pub mod merge;
pub mod patch;
pub mod plan;
pub mod policy;
pub mod repair;
pub mod report;
pub mod resolve;
pub mod sigbus;
pub mod timing;
pub mod wheel;

pub use analyze::{analyze, Analysis, AnalyzeOptions};

/// Locks `m`; a mutex poisoned by a panic elsewhere still gives its data (the
/// panic itself is what gets reported).
pub(crate) fn locked<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
pub use apply::ApplyOptions;
pub use error::{Error, Result};
pub use repair::{repair, repair_sharing, RepairOptions, RepairOutcome, SharedLibraries};
