//! Repair: wheel → [`Analysis`](crate::Analysis) → [`Plan`] → new wheel.
//!
//! [`repair`] analyses the wheel (keeping the bytes it will patch), asks the
//! platform's planner what it must read, reads it, plans, and carries the
//! plan out ([`crate::apply`]). The input is never modified.

use std::path::{Path, PathBuf};

use crate::analyze::{AnalyzeOptions, Contents, Kept, Listing};
use crate::apply::{ApplyOptions, Extras};
use crate::error::Result;
use crate::plan::{Plan, PlanOptions};
use crate::wheel::WheelArchive;

pub use crate::apply::{Applied as RepairOutcome, SharedLibraries};

/// Options of [`repair`]: one group per step.
#[derive(Debug, Clone, Default)]
pub struct RepairOptions {
    /// How libraries are found (and which are excluded).
    pub analyze: AnalyzeOptions,
    /// What the repair does, per platform.
    pub plan: PlanOptions,
    /// Where and how the repaired wheel is written.
    pub apply: ApplyOptions,
}

/// Repairs the wheel at `path` into `options.apply.wheel_dir`.
pub fn repair(path: &Path, options: &RepairOptions) -> Result<RepairOutcome> {
    repair_with(path, options, None)
}

/// [`repair`] as one of a batch: a library that another repair sharing
/// `shared` bundles with the same bytes is deflated once, by whichever
/// comes first (see [`SharedLibraries`]). The output is the same bytes as
/// [`repair`]'s.
pub fn repair_sharing(path: &Path, options: &RepairOptions, shared: &SharedLibraries) -> Result<RepairOutcome> {
    repair_with(path, options, Some(shared))
}

fn repair_with(path: &Path, options: &RepairOptions, shared: Option<&SharedLibraries>) -> Result<RepairOutcome> {
    let archive = WheelArchive::open(path)?;
    crate::timing::mark("opened");
    // the one long stream is checked beside the rest of the work; the
    // output is put in place only once it passed
    std::thread::scope(|scope| {
        let aside =
            crate::analyze::aside_entry(&archive, &options.analyze).is_some_and(|i| archive.verify_aside(i, scope));
        let repaired = repair_opened(&archive, options, shared, aside);
        if repaired.is_err() {
            // the scope would otherwise wait for a check whose answer is moot
            archive.stop_aside();
        }
        repaired
    })
}

/// [`repair`] of the opened wheel `archive`, one of whose entries is being
/// checked on a thread of its own when `aside`.
fn repair_opened(
    archive: &WheelArchive,
    options: &RepairOptions,
    shared: Option<&SharedLibraries>,
    aside: bool,
) -> Result<RepairOutcome> {
    // a Linux repair's SBOM looks in the package database: read while the
    // wheel is analysed (macOS and Windows repairs look at the libraries' paths)
    let root = options.analyze.sysroot.clone().unwrap_or_else(|| PathBuf::from("/"));
    let linux = crate::policy::linux::libc_of_wheel_tags(&archive.filename().platform).is_some();
    let analyse = || {
        rayon::join(
            || crate::analyze::analyze_for_repair(archive, &options.analyze),
            || {
                if linux {
                    crate::apply::sbom::preload(&root);
                }
            },
        )
        .0
    };
    // the check aside takes one of the threads the analysis would have
    // had: the longest stream is then never waiting for a core
    let fewer = || rayon::ThreadPoolBuilder::new().num_threads(rayon::current_num_threads().saturating_sub(1).max(1));
    let (analysis, kept) = match aside.then(|| fewer().build().ok()).flatten() {
        Some(pool) => pool.install(analyse),
        None => analyse(),
    }?;
    // what the analysis read of the input is read again only when written
    archive.release_all();
    crate::timing::mark("analysed");
    let wanted = crate::plan::wanted(&analysis, &Listing::of(archive), &options.plan);
    let contents = Contents::gather(archive, kept, &wanted);
    let plan = crate::plan::plan(&analysis, &contents, &options.plan)?;
    // the SBOM and licence files are made while the binaries are patched
    crate::timing::mark("planned");
    let system = match &analysis.verdict {
        crate::analyze::Verdict::Macos(_) => crate::apply::sbom::System::Macos,
        crate::analyze::Verdict::Windows(_) => crate::apply::sbom::System::Windows,
        _ => crate::apply::sbom::System::Linux,
    };
    let extras = Extras { sbom_root: Some(root.as_path()), system, shared };
    crate::apply::apply(archive, plan, contents.into_kept(), &options.apply, extras)
}

/// The plan of a repair of the opened wheel `archive`, step by step: what
/// the planner reads is read keeping no bytes for later, so [`apply`] reads
/// them again (a file on disk must still be what the plan hashed).
pub fn plan(archive: &WheelArchive, analysis: &crate::Analysis, options: &RepairOptions) -> Result<Plan> {
    let wanted = crate::plan::wanted(analysis, &Listing::of(archive), &options.plan);
    crate::plan::plan(analysis, &Contents::gather(archive, Kept::none(), &wanted), &options.plan)
}

/// Carries out `plan` on the opened wheel `archive`, reading every byte it
/// needs (step by step; [`repair`] hands on what the analysis kept).
pub fn apply(archive: &WheelArchive, plan: Plan, options: &RepairOptions) -> Result<RepairOutcome> {
    crate::apply::apply(archive, plan, Kept::none(), &options.apply, Extras::default())
}

#[cfg(test)]
mod tests;
