//! wheelfix: repair Python wheels for Linux, macOS and Windows in one native tool.
//!
//! A freshly built wheel links against shared libraries of the build machine.
//! wheelfix finds them, decides the best platform tag the wheel can carry, and
//! (with `repair`) bundles every non-system library into the wheel under a
//! clash-proof name, rewriting the binaries that reference it.
//!
//! The pipeline is pure data until the last step:
//!
//! 1. [`analyze()`] reads a wheel (memory-mapped, never extracted), parses
//!    every binary once, resolves its dependencies the way the target's
//!    loader would and applies the platform's rules. The result is an
//!    [`Analysis`]: the binaries, the dependency graph ([`DepGraph`]) and one
//!    [`Verdict`] (auditwheel's, delocate's or delvewheel's decision).
//! 2. [`repair()`] turns the analysis into a plan (libraries to graft under
//!    which names, edits per binary, the new tags), applies the edits in
//!    memory, re-parses every rewritten binary to check it, and writes a new
//!    wheel atomically. [`repair_sharing`] does the same as one of a batch.
//! 3. [`check()`] is a release gate over a directory of wheels; [`merge()`]
//!    fuses two thin macOS wheels into a `universal2` one; [`report`] prints
//!    an analysis as text or as the `show --json` document.
//!
//! Every failure is an [`Error`]; a wheel that cannot be repaired to what
//! was asked says why as data ([`Reason`]).
//!
//! ```
//! use std::path::Path;
//!
//! // the demo wheel: an extension that needs two libraries kept outside the wheel
//! let wheel = Path::new("fixtures/demo/demo-0.1-cp311-cp311-linux_x86_64.whl");
//! let options = wheelfix::AnalyzeOptions { lib_path: vec!["fixtures/demo/lib".into()], ..Default::default() };
//! let analysis = wheelfix::analyze(wheel, &options)?;
//! assert_eq!(analysis.family(), wheelfix::Family::Linux);
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
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

pub mod alloc;
#[doc(hidden)]
pub mod analyze;
#[doc(hidden)]
pub mod apply;
#[doc(hidden)]
pub mod binary;
#[doc(hidden)]
pub mod bytes;
#[doc(hidden)]
pub mod check;
#[doc(hidden)]
pub mod cli;
pub mod error;
#[doc(hidden)]
pub mod merge;
#[doc(hidden)]
pub mod patch;
#[doc(hidden)]
pub mod plan;
#[doc(hidden)]
pub mod policy;
#[doc(hidden)]
pub mod repair;
pub mod report;
#[doc(hidden)]
pub mod resolve;
#[doc(hidden)]
pub mod sigbus;
mod sync;
#[doc(hidden)]
pub mod timing;
#[doc(hidden)]
pub mod wheel;

pub use analyze::{
    analyze, Analysis, AnalyzeOptions, DepGraph, Edge, Family, LinuxVerdict, MacVerdict, Node, NodeKind, Reading,
    Status, Verdict, WheelBinary, WindowsVerdict,
};
pub use apply::{ApplyOptions, SharedLibraries};
pub use check::{check, CheckOptions, CheckReport, Problem};
pub use error::{Error, Reason, Result};
pub use merge::{merge, MergeOptions, MergeOutcome};
pub use plan::{LinuxOptions, MacosOptions, PlanOptions, WindowsOptions};
pub use policy::blocker::Blocker;
pub use policy::linux::Libc;
pub use repair::{repair, repair_sharing, RepairOptions, RepairOutcome};
pub use wheel::WheelFilename;
