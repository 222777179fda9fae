//! Wheel → [`Analysis`]: every binary parsed once, dependencies resolved,
//! platform rules applied. Pure data; nothing is written.
//!
//! The wheel is memory-mapped and never extracted. Every entry is inflated
//! once, in parallel: checked against RECORD, sniffed, and parsed when it is
//! an ELF, Mach-O or PE file. Dependencies are then resolved into one
//! [`DepGraph`] per wheel, and the platform's rules decide the tag:
//! auditwheel's for Linux ([`LinuxVerdict`]), delocate's for macOS
//! ([`MacVerdict`]), delvewheel's for Windows ([`WindowsVerdict`]).

mod audit;
mod contents;
mod graph;
mod kept;
mod linux;
mod macos;
mod model;
mod read;
mod symbols;
mod windows;

pub use crate::policy::blocker::Blocker;
pub use contents::{Contents, Listing, Wanted};
pub use graph::{expected_in_siblings, sibling_rpaths, SiblingRpath};
pub(crate) use kept::{partial_patch_above, KeptPart};
pub use kept::{Kept, KeptEntry, KEEP_BUDGET};
pub use model::{
    tag_with_aliases, Analysis, DepGraph, Edge, Family, LinuxVerdict, MacVerdict, Node, NodeKind, Status, Verdict,
    WheelBinary, WindowsVerdict,
};
pub(crate) use read::{aside_entry, SPLICE_MIN};

use std::path::{Path, PathBuf};

use crate::binary::Format;
use crate::error::{Error, Result};
use crate::resolve::macho::MachOResolver;
use crate::resolve::pe::PeResolver;
use crate::resolve::providers::Providers;
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
    /// How much of the largest binaries is read (whole by default).
    pub reading: Reading,
    /// site-packages directories whose installed distributions provide
    /// libraries: a library one of them ships is linked there, not bundled
    /// (`--site-packages`).
    pub site_packages: Vec<PathBuf>,
    /// Windows: a DLL anywhere in the wheel satisfies an import of its name,
    /// not only one beside the importing module (delvewheel's `--ignore-existing`).
    pub pe_find_in_wheel: bool,
    /// Windows: walk the imports of every DLL in the wheel, not only of
    /// extensions and EXEs (delvewheel's `--analyze-existing`).
    pub pe_analyze_dlls: bool,
    /// Windows: directories searched after `lib_path`; `None` takes them from
    /// `PATH` ([`crate::resolve::pe::path_dirs`]).
    pub pe_path: Option<Vec<PathBuf>>,
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
            reading: Reading::Whole,
            site_packages: Vec::new(),
            pe_find_in_wheel: false,
            pe_analyze_dlls: false,
            pe_path: None,
        }
    }
}

/// How much of the largest binaries an analysis reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Every entry is inflated whole and checked against its CRC-32 and
    /// RECORD.
    Whole,
    /// Deflated ELF files of 32 MiB or more are read only where their parse
    /// needs, their start and their end, and are not checked against their
    /// CRC-32 or RECORD; the rest as [`Reading::Whole`]. What `show` does.
    /// A repair checks every entry whatever this says: it skims only the
    /// largest one, which it checks on a thread of its own meanwhile.
    Skim,
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
    let exclude = compile_globs(&options.exclude)?;
    let (binaries, ()) = rayon::join(
        || read::read_binaries(archive, options, keep, &exclude),
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
    let exclude = graph::Exclude::new(exclude);
    let providers = Providers::scan(&options.site_packages, &filename.name).map_err(|e| {
        let dir = options.site_packages.iter().find(|d| !d.is_dir()).or(options.site_packages.first());
        Error::io(dir.map_or_else(PathBuf::new, PathBuf::clone), e)
    })?;

    let mut analysis = Analysis {
        wheel: archive.path().to_path_buf(),
        filename,
        binaries,
        graph: DepGraph::default(),
        verdict: Verdict::Pure,
        warnings: Vec::new(),
        index_findings: archive.index_findings().to_vec(),
        unused_excludes: Vec::new(),
        audit: Vec::new(),
        link_lint: Vec::new(),
        repair_findings: archive.repair_findings(),
    };
    analysis.verdict = match family {
        Family::Pure => Verdict::Pure,
        Family::Linux => {
            Verdict::Linux(linux::analyze(&mut analysis, &wheel_map, &sysroot, (&exclude, &providers), options)?)
        }
        Family::Macos => {
            let resolver = MachOResolver::new(&sysroot, options.lib_path.clone(), options.executable_path.clone());
            analysis.graph = graph::build_macho_graph(&analysis.binaries, &wheel_map, &resolver, &exclude, &providers);
            Verdict::Macos(macos::verdict(&analysis, options))
        }
        Family::Windows => {
            let dirs = windows::repaired_dll_dirs(archive, options.pe_find_in_wheel);
            let path = options.pe_path.clone().unwrap_or_else(crate::resolve::pe::path_dirs_from_env);
            let search = options.lib_path.iter().cloned().chain(path).collect();
            let resolver = PeResolver::new(search).with_wheel_dirs(dirs);
            let roots = graph::PeRoots { dlls: options.pe_analyze_dlls };
            analysis.graph = graph::build_pe_graph(
                &analysis.binaries,
                &analysis.filename,
                &wheel_map,
                &resolver,
                &exclude,
                &providers,
                roots,
            );
            Verdict::Windows(windows::verdict(&analysis))
        }
    };
    if family != Family::Pure {
        analysis.unused_excludes = exclude.unused();
        for p in &analysis.unused_excludes {
            analysis.warnings.push(unused_exclude_warning(p));
        }
    }
    run_audits(archive, &mut analysis)?;
    Ok(analysis)
}

/// The audits that hold whatever the tag ([`audit`]), into `a`. For a
/// stable-ABI wheel, Mach-O and PE extensions are read again for their
/// imported symbols (the ELF parse has them already).
fn run_audits(archive: &WheelArchive, a: &mut Analysis) -> Result<()> {
    use rayon::prelude::*;
    let mut blockers = Vec::new();
    if let Some(claim) = crate::policy::abi3::claim(&a.filename.python, &a.filename.abi) {
        let wheel = archive.path().display().to_string();
        let imports = a
            .binaries
            .par_iter()
            .filter(|b| b.is_extension && b.info.format() != Format::Elf)
            .map(|b| {
                let data =
                    archive.read(b.index).map_err(|source| Error::Wheel { path: archive.path().into(), source })?;
                let binary_err = |source| Error::Binary { file: format!("{wheel}!{}", b.path), source };
                let imports = match b.info.format() {
                    Format::MachO => audit::Imports {
                        symbols: symbols::macho_imports(&data).map_err(binary_err)?,
                        ..Default::default()
                    },
                    _ => {
                        let pairs = symbols::pe_imports(&data).map_err(binary_err)?;
                        let mut versioned: Vec<String> = pairs
                            .iter()
                            .filter(|(d, _)| symbols::is_versioned_python_dll(d))
                            .map(|(d, _)| d.clone())
                            .collect();
                        versioned.sort();
                        versioned.dedup();
                        audit::Imports {
                            symbols: pairs.into_iter().map(|(_, s)| s).collect(),
                            versioned_dlls: versioned,
                        }
                    }
                };
                Ok((b.path.clone(), imports))
            })
            .collect::<Result<std::collections::BTreeMap<_, _>>>()?;
        blockers.extend(audit::abi3_blockers(a, &claim, &imports));
    }
    if a.family() == Family::Linux {
        blockers.extend(audit::exec_stack_blockers(a));
    }
    blockers.sort();
    blockers.dedup();
    a.audit = blockers;
    a.link_lint = audit::link_lint(a);
    let singletons = a.singleton_warnings();
    a.warnings.extend(singletons);
    Ok(())
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

/// The warning for an `--exclude` pattern that matched no library; for one
/// that names an unversioned `.so` file (`libcudnn.so`), a reminder that it
/// does not match versioned names (as auditwheel's fnmatch does not).
pub fn unused_exclude_warning(pattern: &str) -> String {
    let hint = if pattern.ends_with(".so") && !pattern.contains(['*', '?', '[']) {
        format!(" (it does not match versioned names such as `{pattern}.9`: use `{pattern}*`)")
    } else {
        String::new()
    };
    format!("--exclude pattern `{pattern}` matches no library{hint}")
}

fn compile_globs(patterns: &[String]) -> Result<Vec<glob::Pattern>> {
    patterns
        .iter()
        .map(|p| glob::Pattern::new(p).map_err(|e| Error::Usage(format!("invalid --exclude pattern `{p}`: {e}"))))
        .collect()
}
