//! Wheel → [`Analysis`]: every binary parsed once, dependencies resolved,
//! platform rules applied. Pure data; nothing is written.
//!
//! The wheel is memory-mapped and never extracted. Every entry is inflated
//! once, in parallel: checked against RECORD, sniffed, and parsed when it is
//! an ELF, Mach-O or PE file. Dependencies are then resolved into one
//! [`DepGraph`] per wheel, and the platform's rules decide the tag:
//! auditwheel's for Linux ([`LinuxVerdict`]), delocate's for macOS
//! ([`MacVerdict`]), delvewheel's for Windows ([`WindowsVerdict`]).

mod contents;
mod graph;
mod kept;
mod linux;
mod macos;
mod model;
mod read;
mod windows;

pub use crate::policy::blocker::Blocker;
pub use contents::{Contents, Listing, Wanted};
pub use kept::{Kept, KeptEntry, KEEP_BUDGET};
pub use model::{
    tag_with_aliases, Analysis, DepGraph, Edge, Family, LinuxVerdict, MacVerdict, Node, NodeKind, Status, Verdict,
    WheelBinary, WindowsVerdict,
};
pub(crate) use read::SPLICE_MIN;

use std::path::{Path, PathBuf};

use crate::binary::Format;
use crate::error::{Error, Result};
use crate::resolve::macho::MachOResolver;
use crate::resolve::pe::PeResolver;
use crate::resolve::WheelBinaries;
use crate::wheel::{WheelArchive, WheelFilename};

/// Options of [`analyze`] (and of repair, which starts with an analysis).
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    /// Directories searched for libraries before anything else (`--lib-path`,
    /// delvewheel's `--add-path`).
    pub lib_path: Vec<PathBuf>,
    /// Root of the target file system, for wheels of another arch or libc (`--sysroot`).
    pub sysroot: Option<PathBuf>,
    /// Replaces ld.so.conf and the trusted directories (auditwheel's `--ldpaths`).
    pub ld_paths: Option<Vec<PathBuf>>,
    /// A policy file in auditwheel's JSON format, used instead of the built-in one.
    pub policy_file: Option<PathBuf>,
    /// Libraries never bundled: globs matched against the referenced name and
    /// the resolved path. Their own dependencies are not walked.
    pub exclude: Vec<String>,
    /// Skip the x86-64 ISA level check.
    pub disable_isa_check: bool,
    /// What `@executable_path` means for Mach-O files.
    pub executable_path: Option<PathBuf>,
    /// The macOS deployment target (default: `MACOSX_DEPLOYMENT_TARGET`).
    pub macos_target: Option<String>,
    /// Check every entry against RECORD (on by default).
    pub verify_record: bool,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            lib_path: Vec::new(),
            sysroot: None,
            ld_paths: None,
            policy_file: None,
            exclude: Vec::new(),
            disable_isa_check: false,
            executable_path: None,
            macos_target: std::env::var("MACOSX_DEPLOYMENT_TARGET").ok().filter(|s| !s.is_empty()),
            verify_record: true,
        }
    }
}

/// Analyses the wheel at `path`.
pub fn analyze(path: &Path, options: &AnalyzeOptions) -> Result<Analysis> {
    let archive = WheelArchive::open(path)?;
    analyze_archive(&archive, options)
}

/// Analyses an opened wheel.
pub fn analyze_archive(archive: &WheelArchive, options: &AnalyzeOptions) -> Result<Analysis> {
    analyze_inner(archive, options, None)
}

/// The analysis a repair starts from, keeping (within a memory budget) the
/// inflated bytes of the binaries the repair is likely to patch.
pub fn analyze_for_repair(archive: &WheelArchive, options: &AnalyzeOptions) -> Result<(Analysis, Kept)> {
    let mut kept = Kept::default();
    let analysis = analyze_inner(archive, options, Some(&mut kept))?;
    Ok((analysis, kept))
}

fn analyze_inner(archive: &WheelArchive, options: &AnalyzeOptions, keep: Option<&mut Kept>) -> Result<Analysis> {
    // the built-in policies a Linux wheel's tag points to are parsed meanwhile
    let libc = crate::policy::linux::libc_of_wheel_tags(&archive.filename().platform);
    let (binaries, ()) = rayon::join(
        || read::read_binaries(archive, options.verify_record, keep),
        || match libc {
            Some(libc) if options.policy_file.is_none() => crate::policy::linux::preload_builtin(libc),
            _ => {}
        },
    );
    let binaries = binaries?;
    crate::timing::mark("binaries read");
    let filename = archive.filename().clone();
    let family = family_of(&filename, &binaries);
    let wheel_map: WheelBinaries = binaries.iter().map(|b| (b.path.clone(), b.info.clone())).collect();
    let sysroot = options.sysroot.clone().unwrap_or_else(|| PathBuf::from("/"));
    let exclude = compile_globs(&options.exclude)?;

    let mut analysis = Analysis {
        wheel: archive.path().to_path_buf(),
        filename,
        binaries,
        graph: DepGraph::default(),
        verdict: Verdict::Pure,
        warnings: Vec::new(),
        index_findings: archive.index_findings().to_vec(),
        repair_findings: archive.repair_findings(),
    };
    analysis.verdict = match family {
        Family::Pure => Verdict::Pure,
        Family::Linux => Verdict::Linux(linux::analyze(&mut analysis, &wheel_map, &sysroot, &exclude, options)?),
        Family::Macos => {
            let resolver = MachOResolver::new(&sysroot, options.lib_path.clone(), options.executable_path.clone());
            analysis.graph = graph::build_macho_graph(&analysis.binaries, &wheel_map, &resolver, &exclude);
            Verdict::Macos(macos::verdict(&analysis, options))
        }
        Family::Windows => {
            let dirs = windows::repaired_dll_dirs(archive);
            let resolver = PeResolver::new(options.lib_path.clone()).with_wheel_dirs(dirs);
            analysis.graph =
                graph::build_pe_graph(&analysis.binaries, &analysis.filename, &wheel_map, &resolver, &exclude);
            Verdict::Windows(windows::verdict(&analysis))
        }
    };
    Ok(analysis)
}

fn family_of(filename: &WheelFilename, binaries: &[WheelBinary]) -> Family {
    let by_tag = |p: &str| {
        if p.starts_with("macosx_") {
            Some(Family::Macos)
        } else if p.starts_with("win") {
            Some(Family::Windows)
        } else if p.starts_with("linux") || p.starts_with("manylinux") || p.starts_with("musllinux") {
            Some(Family::Linux)
        } else {
            None
        }
    };
    if let Some(f) = filename.platform.iter().find_map(|p| by_tag(p)) {
        return f;
    }
    // `any` (or an unknown tag): decide from the binaries, if there are any
    let count = |f: Format| binaries.iter().filter(|b| b.info.format() == f).count();
    let counts = [
        (count(Format::Elf), Family::Linux),
        (count(Format::MachO), Family::Macos),
        (count(Format::Pe), Family::Windows),
    ];
    counts.iter().filter(|(n, _)| *n > 0).max_by_key(|(n, _)| *n).map_or(Family::Pure, |(_, f)| *f)
}

fn compile_globs(patterns: &[String]) -> Result<Vec<glob::Pattern>> {
    patterns
        .iter()
        .map(|p| glob::Pattern::new(p).map_err(|e| Error::Usage(format!("invalid --exclude pattern `{p}`: {e}"))))
        .collect()
}
