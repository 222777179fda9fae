//! Analysis → [`Plan`]: everything a repair will do, as data.
//!
//! Each platform has a planner ([`linux`], [`macos`], [`windows`]): a pure
//! function from the [`Analysis`], its options and one source of contents
//! ([`Contents`]) to a plan or the reason there is none. A planner first
//! says what it will read ([`wanted`]); the analysis stage reads it
//! ([`Contents::gather`]); the planner never touches the archive or the disk.

pub mod linux;
pub mod macos;
pub mod naming;
pub mod provided;
pub mod pyinit;
pub mod windows;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::analyze::{Analysis, Blocker, Contents, Listing, Verdict, Wanted};
use crate::error::Reason;
use crate::error::{Error, Result};
use crate::patch::elf::ElfEdits;
use crate::patch::macho::MachOEdits;
use crate::patch::pe::PeEdits;

pub use linux::LinuxOptions;
pub use macos::MacosOptions;
pub use naming::{hashed_name, hashed_name_with};
pub use windows::WindowsOptions;

/// Options of the planners: what every platform reads, then each platform's own.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// The grafted-library directory: a suffix to the distribution name on
    /// Linux and Windows (`.libs`), a sub-directory of the package on macOS (`.dylibs`).
    pub lib_sdir: Option<String>,
    /// Remove symbol tables and debug info from every binary, before patching.
    pub strip: bool,
    /// Rewrite the file name and `WHEEL` tags (default).
    pub update_tags: bool,
    /// A pure-Python wheel is copied through instead of being an error.
    pub allow_pure: bool,
    /// Add `Requires-Dist` for each distribution that provides a linked
    /// library and is not required yet (default); otherwise that is an error.
    pub add_requires: bool,
    /// Write the wheel although an extension breaks the Stable ABI its
    /// `abi3`/`abi3t` tag claims (or has a version-specific suffix).
    pub allow_abi3_violations: bool,
    /// Write the wheel although a shared library needs an executable stack.
    pub allow_exec_stack: bool,
    /// Linux (auditwheel's options).
    pub linux: LinuxOptions,
    /// macOS (delocate's options).
    pub macos: MacosOptions,
    /// Windows (delvewheel's options).
    pub windows: WindowsOptions,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            lib_sdir: None,
            strip: false,
            update_tags: true,
            allow_pure: false,
            add_requires: true,
            allow_abi3_violations: false,
            allow_exec_stack: false,
            linux: LinuxOptions::default(),
            macos: MacosOptions::default(),
            windows: WindowsOptions::default(),
        }
    }
}

/// Where a new binary entry's bytes come from, before patching.
#[derive(Debug, Clone)]
pub enum PlanSource {
    /// An entry of the input wheel.
    Entry(usize),
    /// A file on disk (a library to bundle).
    File(PathBuf),
}

/// Edits to one binary.
#[derive(Debug, Clone)]
pub enum BinaryEdits {
    /// ELF edits.
    Elf(ElfEdits),
    /// Mach-O edits (every slice; re-signed by the patcher).
    MachO(MachOEdits),
    /// PE edits.
    Pe(PeEdits),
}

/// One binary of the output that differs from the input.
#[derive(Debug, Clone)]
pub struct PlannedBinary {
    /// The entry name in the output.
    pub name: String,
    /// Where its bytes come from.
    pub source: PlanSource,
    /// Strip before patching.
    pub strip: bool,
    /// What to change.
    pub edits: BinaryEdits,
    /// Unix mode of the output entry.
    pub unix_mode: Option<u32>,
}

/// A new or replacing non-binary file of a repaired wheel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedFile {
    /// The entry name.
    pub name: String,
    /// Its content.
    pub data: Vec<u8>,
    /// Its unix mode.
    pub unix_mode: Option<u32>,
}

impl AddedFile {
    /// A file `name` with `data` and `unix_mode`.
    pub fn new(name: impl Into<String>, data: Vec<u8>, unix_mode: Option<u32>) -> Self {
        AddedFile { name: name.into(), data, unix_mode }
    }
}

/// A library copied into the wheel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundled {
    /// Where it is copied from.
    pub source: PathBuf,
    /// Its entry name in the wheel.
    pub entry: String,
}

/// Everything a repair will do, as data.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Binaries written anew (patched wheel entries and bundled libraries).
    pub binaries: Vec<PlannedBinary>,
    /// Input entries replaced by other content (entry index → new file), e.g. script shims.
    pub replaced: BTreeMap<usize, AddedFile>,
    /// Input entries left out of the output (moved or replaced by `binaries`).
    pub dropped: Vec<usize>,
    /// New non-binary files.
    pub added: Vec<AddedFile>,
    /// The new `WHEEL` file.
    pub wheel_file: Option<Vec<u8>>,
    /// The output file name.
    pub filename: String,
    /// Output platform tags.
    pub platform_tags: Vec<String>,
    /// Bundled libraries.
    pub bundled: Vec<Bundled>,
    /// sha256 of bundled source files, where the plan computed it: a file
    /// read again when patched must still have it.
    pub digests: BTreeMap<PathBuf, [u8; 32]>,
    /// Messages for the user.
    pub messages: Vec<String>,
    /// Messages shown with `-v`: every search path a repair changes, file by file.
    pub details: Vec<String>,
}

/// What the planner for `analysis` will read (see [`Contents::gather`]).
pub fn wanted(analysis: &Analysis, listing: &Listing, options: &PlanOptions) -> Wanted {
    let mut wanted = platform_wanted(analysis, listing, options);
    provided::wanted(analysis, listing, &mut wanted);
    wanted
}

fn platform_wanted(analysis: &Analysis, listing: &Listing, options: &PlanOptions) -> Wanted {
    match &analysis.verdict {
        Verdict::Pure => Wanted::default(),
        Verdict::Linux(v) => linux::wanted(analysis, v, &options.linux),
        Verdict::Macos(_) => macos::wanted(analysis),
        Verdict::Windows(_) => windows::wanted(analysis, listing, &options.windows),
    }
}

/// The audit blockers ([`Analysis::audit`]) a repair refuses with these
/// options: all but those an `--allow-…` flag lets through.
pub fn refused(analysis: &Analysis, options: &PlanOptions) -> Vec<Blocker> {
    analysis
        .audit
        .iter()
        .filter(|b| match b {
            Blocker::Abi3 { .. } | Blocker::Abi3Suffix { .. } | Blocker::Abi3Dll { .. } => {
                !options.allow_abi3_violations
            }
            Blocker::ExecStack { .. } => !options.allow_exec_stack,
            _ => true,
        })
        .cloned()
        .collect()
}

/// Plans the repair of the wheel `analysis` describes, from `contents`.
pub fn plan(analysis: &Analysis, contents: &Contents, options: &PlanOptions) -> Result<Plan> {
    let blockers = refused(analysis, options);
    if !blockers.is_empty() {
        return Err(Error::cannot_repair(analysis.wheel.display().to_string(), Reason::Audit { blockers }));
    }
    let mut plan = plan_platform(analysis, contents, options)?;
    // what `show` warns of and a repair does: bundling a once-per-process runtime
    plan.messages.extend(analysis.singleton_warnings().into_iter().map(|w| format!("warning: {w}")));
    refuse_files_in_the_way(analysis, contents, &plan)?;
    Ok(plan)
}

fn plan_platform(analysis: &Analysis, contents: &Contents, options: &PlanOptions) -> Result<Plan> {
    match &analysis.verdict {
        Verdict::Pure => {
            if !options.allow_pure {
                return Err(Error::cannot_repair(analysis.wheel.display().to_string(), Reason::Pure));
            }
            Ok(Plan {
                filename: analysis.filename.to_string(),
                platform_tags: analysis.filename.platform.clone(),
                messages: vec!["pure Python wheel: copied unchanged".into()],
                ..Plan::default()
            })
        }
        Verdict::Linux(v) => linux::plan(analysis, v, contents, options),
        Verdict::Macos(v) => macos::plan(analysis, v, contents, options),
        Verdict::Windows(v) => windows::plan(analysis, v, contents, options),
    }
    .and_then(|mut plan| {
        provided::require(analysis, contents, options, &mut plan)?;
        plan.messages.extend(
            analysis.unused_excludes.iter().map(|p| format!("warning: {}", crate::analyze::unused_exclude_warning(p))),
        );
        Ok(plan)
    })
}

/// Refuses a plan that adds an entry under a file the output keeps (a file
/// named like the libraries' directory): the output could not be installed.
fn refuse_files_in_the_way(analysis: &Analysis, contents: &Contents, plan: &Plan) -> Result<()> {
    let listing = &contents.listing;
    let kept_file =
        |name: &str| listing.entry_by_name(name).is_some_and(|e| !e.is_dir && !plan.dropped.contains(&e.index));
    let new = plan.binaries.iter().map(|b| &b.name).chain(plan.added.iter().map(|a| &a.name));
    for entry in new {
        if let Some(file) = crate::wheel::archive::ancestors(entry).find(|a| kept_file(a)) {
            let reason = Reason::FileInTheWay { entry: entry.clone(), file: file.to_string() };
            return Err(Error::cannot_repair(analysis.wheel.display().to_string(), reason));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
