//! Plan → new wheel: the bytes of every planned binary are got (kept from
//! the analysis, inflated, or read from disk), patched in parallel (each
//! rewritten binary re-parsed and checked by the patcher, then linted by
//! `lint`), compressed on a schedule that keeps every core busy, and
//! written atomically by a writer thread that writes the entries before
//! them meanwhile. The input is never modified.

mod compress;
pub mod licenses;
mod lint;
mod output;
mod partial;
mod patch;
pub mod sbom;
mod schedule;
pub mod shared;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::analyze::Kept;
use crate::error::Result;
use crate::plan::{Plan, PlanSource};
use crate::wheel::WheelArchive;

pub use shared::SharedLibraries;

/// Options of [`apply`].
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Where the repaired wheel is written.
    pub wheel_dir: PathBuf,
    /// Deflate level for new entries (0–9; default 6).
    pub compression_level: Option<u32>,
    /// Copy the licence files of the packages that own bundled libraries
    /// into `<dist-info>/licenses/` (default; see [`licenses`]).
    pub licenses: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions { wheel_dir: PathBuf::from("wheelhouse"), compression_level: None, licenses: true }
    }
}

/// What carrying out a plan did.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The wheel written.
    pub output: PathBuf,
    /// The platform tags of the output.
    pub platform_tags: Vec<String>,
    /// Libraries copied in: (where they came from, entry name in the wheel).
    pub bundled: Vec<(PathBuf, String)>,
    /// Binaries of the wheel that were rewritten.
    pub patched: Vec<String>,
    /// Nothing needed changing (the output is the input's content).
    pub unchanged: bool,
    /// Things the user should know.
    pub messages: Vec<String>,
    /// How patched entries were re-compressed (shown with `-v`).
    pub details: Vec<String>,
}

/// What a repair adds to carrying out its plan.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras<'a> {
    /// Where the package database is, for the SBOM and licence files of a
    /// repair (made while the binaries are patched); `None`: neither.
    pub sbom_root: Option<&'a Path>,
    /// Whose package databases are asked: the wheel's platform.
    pub system: sbom::System,
    /// The libraries shared with the other repairs of a batch.
    pub shared: Option<&'a SharedLibraries>,
}

/// Carries out `plan` on the wheel `archive`, taking the bytes in `kept`
/// instead of reading them again.
pub fn apply(
    archive: &WheelArchive,
    mut plan: Plan,
    mut kept: Kept,
    options: &ApplyOptions,
    extras: Extras<'_>,
) -> Result<Applied> {
    let level = options.compression_level.unwrap_or(6).min(9);
    // what the plan does not patch is freed before patching starts
    let planned: HashSet<usize> = plan
        .binaries
        .iter()
        .filter_map(|b| match b.source {
            PlanSource::Entry(i) => Some(i),
            PlanSource::File(_) => None,
        })
        .collect();
    if crate::timing::enabled() {
        let (n, bytes) = kept.size();
        crate::timing::mark(format_args!("{n} binaries ({bytes} bytes) kept from the analysis"));
    }
    kept.retain_entries(|i| planned.contains(&i));
    // the kept bytes, per planned binary
    let inputs: Vec<Option<patch::Kept>> = plan
        .binaries
        .iter()
        .map(|b| match &b.source {
            PlanSource::Entry(i) => {
                kept.take_entry(*i).map(patch::Kept::Entry).or_else(|| kept.take_part(*i).map(patch::Kept::Part))
            }
            PlanSource::File(p) => kept.take_file(p).map(patch::Kept::File),
        })
        .collect();
    drop(kept);
    let sizes: Vec<u64> = plan
        .binaries
        .iter()
        .map(|b| match &b.source {
            PlanSource::Entry(i) => archive.entries().get(*i).map_or(0, |e| e.size),
            PlanSource::File(p) => std::fs::metadata(p).map_or(0, |m| m.len()),
        })
        .collect();
    // The bundled libraries already in memory are patched (in place) in
    // the first stage of a large repair too; the others follow in the
    // order the writer takes them (new files go by name).
    let first_stage = |k: usize| match &plan.binaries[k].source {
        PlanSource::Entry(_) => true,
        PlanSource::File(_) => inputs[k].is_some(),
    };
    let stages = schedule::stages(&sizes, first_stage, |k| plan.binaries[k].name.as_str());
    let writes = output::Writes::take(&mut plan);
    output::write(archive, &plan, writes, inputs, &stages, level, options, extras)
}
