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
//! ```no_run
//! let options = wheelfix::AnalyzeOptions::default();
//! let analysis = wheelfix::analyze("dist/demo-0.1-cp312-cp312-linux_x86_64.whl".as_ref(), &options)?;
//! println!("best tag: {}", analysis.best_platform_tags().join("."));
//! # Ok::<(), wheelfix::Error>(())
//! ```
#![warn(missing_docs)]
#![warn(missing_debug_implementations)]

pub mod analyze;
pub mod binary;
pub mod error;
pub mod patch;
pub mod policy;
pub mod repair;
pub mod report;
pub mod resolve;
pub mod wheel;

pub use analyze::{analyze, Analysis, AnalyzeOptions};
pub use error::{Error, Result};
pub use repair::{repair, RepairOptions, RepairOutcome};
