//! Wheel → [`Analysis`]: every binary parsed once, dependencies resolved,
//! platform rules applied. Pure data; nothing is written.
//!
//! The wheel is memory-mapped and never extracted. Every entry is inflated
//! once, in parallel: checked against RECORD, sniffed, and parsed when it is
//! an ELF, Mach-O or PE file. Dependencies are then resolved into one
//! [`DepGraph`] per wheel, and the platform's rules decide the tag:
//! auditwheel's for Linux ([`LinuxVerdict`]), delocate's for macOS
//! ([`MacVerdict`]), delvewheel's for Windows ([`WindowsVerdict`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::binary::{self, BinaryInfo, ElfInfo, Format};
pub use crate::policy::blocker::Blocker;
use crate::policy::linux::{Libc, LinuxPolicies, LinuxPolicy};
use crate::resolve::elf::ElfResolver;
use crate::resolve::macho::{MachOLookup, MachOResolver};
use crate::resolve::pe::PeResolver;
use crate::resolve::{Dir, Location, WheelBinaries};
use crate::wheel::{WheelArchive, WheelFilename};
use crate::{locked, Error, Result};

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

/// Which platform family a wheel is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// No binaries: a pure-Python wheel.
    Pure,
    /// Linux (ELF).
    Linux,
    /// macOS (Mach-O).
    Macos,
    /// Windows (PE).
    Windows,
}

/// A binary inside the wheel.
#[derive(Debug, Clone)]
pub struct WheelBinary {
    /// Entry name.
    pub path: String,
    /// Index in the archive.
    pub index: usize,
    /// The parsed file.
    pub info: Arc<BinaryInfo>,
    /// It is a Python extension module.
    pub is_extension: bool,
}

/// What a dependency node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// A binary inside the wheel.
    Wheel(String),
    /// A library found on disk.
    Disk {
        /// The path as found.
        path: PathBuf,
        /// The path with symlinks resolved (what gets copied).
        realpath: PathBuf,
    },
    /// Provided by the platform whatever the tag (the dynamic loader, macOS
    /// system libraries, Windows system DLLs); the reason says which rule.
    Provided(String),
    /// Matched `--exclude`: never bundled, not walked.
    Excluded,
    /// Not found.
    Missing,
}

/// One reference from a node to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The name as written in the referencing file.
    pub name: String,
    /// The node it resolved to.
    pub node: usize,
}

/// A node of the dependency graph.
#[derive(Debug, Clone)]
pub struct Node {
    /// The name it was first referenced by (soname, install name, DLL name),
    /// or the entry name for wheel binaries.
    pub name: String,
    /// What it is.
    pub kind: NodeKind,
    /// The parsed file, when found.
    pub info: Option<Arc<BinaryInfo>>,
    /// Its references, in file order.
    pub deps: Vec<Edge>,
}

/// Every binary of the wheel and everything they load, resolved.
#[derive(Debug, Clone, Default)]
pub struct DepGraph {
    /// Nodes; the wheel's binaries come first, in [`Analysis::binaries`] order.
    pub nodes: Vec<Node>,
}

impl DepGraph {
    /// Nodes reachable from `roots`, not entering nodes for which `stop`
    /// returns true (those are not included either), in BFS order.
    pub fn reachable(&self, roots: impl IntoIterator<Item = usize>, mut stop: impl FnMut(&Edge) -> bool) -> Vec<usize> {
        let mut seen = vec![false; self.nodes.len()];
        let mut queue: VecDeque<usize> = VecDeque::new();
        let mut out = Vec::new();
        for r in roots {
            if r < seen.len() && !seen[r] {
                seen[r] = true;
                queue.push_back(r);
            }
        }
        while let Some(n) = queue.pop_front() {
            out.push(n);
            for e in &self.nodes[n].deps {
                if !seen[e.node] && !stop(e) {
                    seen[e.node] = true;
                    queue.push_back(e.node);
                }
            }
        }
        out
    }
}

/// What happens to a dependency on repair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// It is inside the wheel already.
    InWheel,
    /// It is copied into the wheel.
    Bundle,
    /// The platform provides it (the reason says which rule).
    System(String),
    /// `--exclude` keeps it out.
    Excluded,
    /// It must be bundled but was not found.
    Missing,
}

impl Status {
    /// A short word for output.
    pub fn word(&self) -> &'static str {
        match self {
            Status::InWheel => "in-wheel",
            Status::Bundle => "bundle",
            Status::System(_) => "system",
            Status::Excluded => "excluded",
            Status::Missing => "missing",
        }
    }
}

/// The manylinux/musllinux decision for a Linux wheel.
#[derive(Debug, Clone)]
pub struct LinuxVerdict {
    /// The libc the wheel's binaries use.
    pub libc: Libc,
    /// The architecture.
    pub arch: String,
    /// The policies used (built-in or `--policy`), highest priority first.
    pub policies: LinuxPolicies,
    /// The best tag the wheel has as it is (nothing bundled); `None`: only `linux`.
    pub current: Option<String>,
    /// The best tag after repair; `None`: only `linux`.
    pub best: Option<String>,
    /// Versioned symbols needed by the wheel's binaries and by the libraries a repair
    /// to `best` bundles, by library: what the repaired wheel needs from the system
    /// (auditwheel's `versioned_symbols`).
    pub versioned_symbols: BTreeMap<String, BTreeSet<String>>,
    /// For every policy (by tag): the external libraries it would bundle
    /// (soname → node), highest priority first.
    pub external: Vec<(String, BTreeMap<String, usize>)>,
    /// For every policy (by tag): what makes it impossible even with repair
    /// (symbol versions, blacklisted symbols, ISA level), highest priority first.
    pub violations: Vec<(String, Vec<Blocker>)>,
    /// For every policy above `best` (and above `current` for libraries):
    /// why it cannot be had.
    pub blockers: Vec<(String, Vec<Blocker>)>,
    /// ELFs whose architecture differs from the wheel's, ignored.
    pub ignored: Vec<(String, String)>,
}

impl LinuxVerdict {
    /// The policy with this tag.
    pub fn policy(&self, tag: &str) -> Option<&LinuxPolicy> {
        self.policies.policies.iter().find(|p| p.tag() == tag)
    }

    /// What makes `tag` impossible even with repair (empty: it can be had).
    pub fn violations_for(&self, tag: &str) -> &[Blocker] {
        self.violations.iter().find(|(t, _)| t == tag).map_or(&[], |(_, v)| v.as_slice())
    }

    /// The libraries (soname → node) bundled when repairing to `tag`.
    pub fn external_for(&self, tag: &str) -> Option<&BTreeMap<String, usize>> {
        self.external.iter().find(|(t, _)| t == tag).map(|(_, m)| m)
    }
}

/// The macOS decision.
#[derive(Debug, Clone)]
pub struct MacVerdict {
    /// Architectures named by the wheel's tag.
    pub archs: Vec<String>,
    /// Per arch, the highest minimum macOS of any binary (wheel + bundled), with the file.
    pub min_versions: BTreeMap<String, (crate::binary::macho::MacVersion, String)>,
    /// The tag after repair (`Err`: why it cannot be computed).
    pub best: std::result::Result<Vec<String>, String>,
    /// Problems that make the wheel broken as it is (missing archs, …).
    pub blockers: Vec<Blocker>,
}

/// The Windows decision.
#[derive(Debug, Clone)]
pub struct WindowsVerdict {
    /// The machine of the tag.
    pub machine: Option<u16>,
    /// Binaries whose machine does not match.
    pub blockers: Vec<Blocker>,
}

/// The platform family of a wheel and what its rules decided.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// No binaries: a pure-Python wheel.
    Pure,
    /// Linux (ELF): the manylinux/musllinux decision.
    Linux(LinuxVerdict),
    /// macOS (Mach-O): the delocate decision.
    Macos(MacVerdict),
    /// Windows (PE): the delvewheel decision.
    Windows(WindowsVerdict),
}

impl Verdict {
    /// The platform family.
    pub fn family(&self) -> Family {
        match self {
            Verdict::Pure => Family::Pure,
            Verdict::Linux(_) => Family::Linux,
            Verdict::Macos(_) => Family::Macos,
            Verdict::Windows(_) => Family::Windows,
        }
    }
}

/// The result of analysing a wheel.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The wheel's path.
    pub wheel: PathBuf,
    /// Its parsed file name.
    pub filename: WheelFilename,
    /// Every binary inside the wheel.
    pub binaries: Vec<WheelBinary>,
    /// Dependencies of every binary, resolved. Node `i` for `i < binaries.len()`
    /// is `binaries[i]`.
    pub graph: DepGraph,
    /// The platform family and its rules' decision.
    pub verdict: Verdict,
    /// Warnings to show the user.
    pub warnings: Vec<String>,
}

impl Analysis {
    /// The platform family.
    pub fn family(&self) -> Family {
        self.verdict.family()
    }

    /// The Linux decision, for a Linux wheel.
    pub fn linux(&self) -> Option<&LinuxVerdict> {
        match &self.verdict {
            Verdict::Linux(v) => Some(v),
            _ => None,
        }
    }

    /// The macOS decision, for a macOS wheel.
    pub fn macos(&self) -> Option<&MacVerdict> {
        match &self.verdict {
            Verdict::Macos(v) => Some(v),
            _ => None,
        }
    }

    /// The Windows decision, for a Windows wheel.
    pub fn windows(&self) -> Option<&WindowsVerdict> {
        match &self.verdict {
            Verdict::Windows(v) => Some(v),
            _ => None,
        }
    }

    /// The best platform tags the wheel can carry after repair.
    pub fn best_platform_tags(&self) -> Vec<String> {
        match &self.verdict {
            Verdict::Pure => vec!["any".to_string()],
            Verdict::Linux(v) => match &v.best {
                Some(t) => v.policy(t).map(tag_with_aliases).unwrap_or_else(|| vec![t.clone()]),
                None => vec![format!("linux_{}", v.arch)],
            },
            Verdict::Macos(MacVerdict { best: Ok(t), .. }) => t.clone(),
            Verdict::Macos(_) | Verdict::Windows(_) => self.filename.platform.clone(),
        }
    }

    /// Nodes that repair must bundle (for Linux: under the best tag, or
    /// the lowest policy when only `linux` is possible, as auditwheel's `auto`).
    pub fn to_bundle(&self) -> Vec<usize> {
        match &self.verdict {
            Verdict::Linux(v) => Some(v)
                .and_then(|v| {
                    let tag = v
                        .best
                        .clone()
                        .or_else(|| v.policies.policies.iter().rfind(|p| p.priority > 0).map(|p| p.tag()))?;
                    v.external_for(&tag).map(|m| m.values().copied().collect())
                })
                .unwrap_or_default(),
            _ => self
                .graph
                .reachable(0..self.binaries.len(), |_| false)
                .into_iter()
                .filter(|&n| self.is_bundled(n))
                .collect(),
        }
    }

    /// The Linux tag repair targets by default: the best tag, or the lowest
    /// policy when only `linux` is possible (auditwheel's `auto`).
    pub fn linux_target(&self) -> Option<String> {
        let v = self.linux()?;
        v.best.clone().or_else(|| v.policies.policies.iter().rfind(|p| p.priority > 0).map(|p| p.tag()))
    }

    /// What happens to node `n` on repair.
    pub fn status(&self, n: usize) -> Status {
        let node = &self.graph.nodes[n];
        match &node.kind {
            NodeKind::Wheel(_) => Status::InWheel,
            NodeKind::Provided(r) => Status::System(r.clone()),
            NodeKind::Excluded => Status::Excluded,
            NodeKind::Disk { .. } | NodeKind::Missing => {
                let missing = node.kind == NodeKind::Missing;
                if let Verdict::Linux(v) = &self.verdict {
                    let Some(target) = self.linux_target() else {
                        return if missing { Status::Missing } else { Status::System("linux".into()) };
                    };
                    let bundled = v.external_for(&target).is_some_and(|m| m.values().any(|&x| x == n));
                    if bundled {
                        if missing {
                            Status::Missing
                        } else {
                            Status::Bundle
                        }
                    } else {
                        Status::System(format!("allowed by {target}"))
                    }
                } else if missing {
                    Status::Missing
                } else {
                    Status::Bundle
                }
            }
        }
    }

    fn is_bundled(&self, n: usize) -> bool {
        matches!(self.graph.nodes[n].kind, NodeKind::Disk { .. } | NodeKind::Missing)
    }

    /// The error for a library that must be bundled but was not found:
    /// names it and the first file that references it.
    pub fn missing_library_error(&self, n: usize) -> Error {
        let needed_by = self
            .graph
            .nodes
            .iter()
            .find(|m| m.deps.iter().any(|e| e.node == n))
            .map_or_else(String::new, |m| m.name.clone());
        Error::MissingLibrary {
            wheel: self.wheel.display().to_string(),
            name: self.graph.nodes[n].name.clone(),
            needed_by,
        }
    }

    /// Nodes referenced but not found (and not provided or excluded).
    pub fn missing(&self) -> Vec<usize> {
        self.graph.nodes.iter().enumerate().filter(|(_, n)| n.kind == NodeKind::Missing).map(|(i, _)| i).collect()
    }

    /// True when the wheel has no binaries.
    pub fn is_pure(&self) -> bool {
        matches!(self.verdict, Verdict::Pure)
    }
}

/// The tag of a policy followed by its alias tags.
pub fn tag_with_aliases(p: &LinuxPolicy) -> Vec<String> {
    let mut v = vec![p.tag()];
    v.extend(p.alias_tags());
    v
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

/// Inflated binaries kept from the analysis for the repair that follows, so
/// that a binary it patches is inflated once: entry index → (bytes, deflate
/// block index when the entry is large enough to be spliced). The repair's
/// plan adds the libraries it read from disk to hash them, so that they are
/// read once too. Both draw on one budget of [`KEEP_BUDGET`] bytes; what does
/// not fit is read again when needed.
#[derive(Debug)]
pub(crate) struct Kept {
    entries: std::sync::Mutex<HashMap<usize, KeptEntry>>,
    files: std::sync::Mutex<HashMap<PathBuf, Vec<u8>>>,
    left: std::sync::atomic::AtomicU64,
}

impl Default for Kept {
    fn default() -> Self {
        Kept { entries: Default::default(), files: Default::default(), left: KEEP_BUDGET.into() }
    }
}

/// One kept binary: its bytes and, for a large deflated entry, its block index.
pub(crate) type KeptEntry = (Vec<u8>, Option<crate::wheel::splice::BlockIndex>);

impl Kept {
    /// Takes the kept bytes of entry `index`, if there are any.
    pub(crate) fn take(&self, index: usize) -> Option<KeptEntry> {
        locked(&self.entries).remove(&index)
    }

    /// How many binaries are kept, and their bytes.
    pub(crate) fn size(&self) -> (usize, usize) {
        let kept = locked(&self.entries);
        (kept.len(), kept.values().map(|(d, _)| d.len()).sum())
    }

    /// Frees everything but the entries `wanted` says yes to.
    pub(crate) fn retain(&self, wanted: impl Fn(usize) -> bool) {
        locked(&self.entries).retain(|&i, _| wanted(i));
    }

    /// Takes `size` bytes of the budget; false when they do not fit.
    fn reserve(&self, size: u64) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        self.left.fetch_update(Relaxed, Relaxed, |left| left.checked_sub(size)).is_ok()
    }

    /// Keeps the bytes of entry `index` (and its block index), if they fit.
    fn keep(&self, index: usize, entry: KeptEntry) {
        if self.reserve(entry.0.len() as u64) {
            locked(&self.entries).insert(index, entry);
        }
    }

    /// Keeps the bytes of the file at `path`, if they fit.
    pub(crate) fn keep_file(&self, path: &Path, bytes: Vec<u8>) {
        if self.reserve(bytes.len() as u64) {
            locked(&self.files).insert(path.to_path_buf(), bytes);
        }
    }

    /// Whether the bytes of the file at `path` are kept.
    pub(crate) fn holds_file(&self, path: &Path) -> bool {
        locked(&self.files).contains_key(path)
    }

    /// Takes the kept bytes of the file at `path`, if there are any.
    pub(crate) fn take_file(&self, path: &Path) -> Option<Vec<u8>> {
        locked(&self.files).remove(path)
    }
}

/// The analysis a repair starts from, keeping (within a memory budget) the
/// inflated bytes of the binaries the repair is likely to patch.
pub(crate) fn analyze_for_repair(archive: &WheelArchive, options: &AnalyzeOptions) -> Result<(Analysis, Kept)> {
    let kept = Kept::default();
    let analysis = analyze_inner(archive, options, Some(&kept))?;
    Ok((analysis, kept))
}

fn analyze_inner(archive: &WheelArchive, options: &AnalyzeOptions, keep: Option<&Kept>) -> Result<Analysis> {
    let wheel_name = archive.path().display().to_string();
    // the built-in policies a Linux wheel's tag points to are parsed meanwhile
    let libc = crate::policy::linux::libc_of_wheel_tags(&archive.filename().platform);
    let (binaries, ()) = rayon::join(
        || read_binaries(archive, options.verify_record, keep),
        || match libc {
            Some(libc) if options.policy_file.is_none() => crate::policy::linux::preload_builtin(libc),
            _ => {}
        },
    );
    let binaries = binaries?;
    crate::timing::mark("binaries read");
    let filename = archive.filename().clone();
    let family = family_of(&filename, &binaries);
    let mut warnings = Vec::new();
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
    };
    match family {
        Family::Pure => {}
        Family::Linux => {
            let (arch, libc, ignored) = linux_target(&analysis);
            let Some(arch) = arch else {
                return Err(Error::CannotRepair {
                    wheel: wheel_name,
                    reason: "no ELF file of a known architecture in the wheel".into(),
                    hint: None,
                });
            };
            let musl_arch = (libc == Libc::Musl).then_some(arch.as_str());
            let resolver = ElfResolver::new(&sysroot, options.lib_path.clone(), options.ld_paths.clone(), musl_arch);
            analysis.graph = build_elf_graph(&analysis.binaries, &wheel_map, &resolver, &exclude, &arch);
            crate::timing::mark("dependencies resolved");
            let policies = match &options.policy_file {
                Some(f) => {
                    let text = std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?;
                    LinuxPolicies::from_json(&text, &f.display().to_string(), libc, &arch)?
                }
                None => LinuxPolicies::builtin(libc, &arch)?,
            };
            crate::timing::mark("policies loaded");
            let mut policies = policies;
            if libc == Libc::Musl {
                // musl versions add no symbol versions: the wheel's own
                // musllinux tag says which musl it was built for; without one,
                // the newest (what auditwheel falls back to)
                let tagged = analysis
                    .filename
                    .platform
                    .iter()
                    .filter_map(|t| policies.by_tag(t).ok())
                    .filter(|p| p.priority > 0)
                    .map(LinuxPolicy::tag)
                    .next();
                let keep = tagged.or_else(|| {
                    policies.policies.iter().filter(|p| p.priority > 0).min_by_key(|p| p.priority).map(LinuxPolicy::tag)
                });
                policies.policies.retain(|p| p.priority == 0 || Some(p.tag()) == keep);
            }
            for (f, a) in &ignored {
                warnings.push(format!("ignoring `{f}` with {a} architecture"));
            }
            analysis.verdict = Verdict::Linux(linux_verdict(&analysis, policies, libc, arch, ignored, options));
        }
        Family::Macos => {
            let resolver = MachOResolver::new(&sysroot, options.lib_path.clone(), options.executable_path.clone());
            analysis.graph = build_macho_graph(&analysis.binaries, &wheel_map, &resolver, &exclude);
            analysis.verdict = Verdict::Macos(macos_verdict(&analysis, options));
        }
        Family::Windows => {
            let resolver = PeResolver::new(options.lib_path.clone()).with_wheel_dirs(repaired_dll_dirs(archive));
            analysis.graph = build_pe_graph(&analysis.binaries, &analysis.filename, &wheel_map, &resolver, &exclude);
            analysis.verdict = Verdict::Windows(windows_verdict(&analysis));
        }
    }
    analysis.warnings = warnings;
    Ok(analysis)
}

/// For a Windows wheel that delvewheel or wheelfix already repaired (its
/// `<dist-info>/DELVEWHEEL` or `WHEELFIX` marker), the directories that hold its
/// DLLs: the runtime patch adds the libs directory to the DLL search path, so its
/// DLLs are found from every module (delvewheel's `--ignore-existing` view).
/// Empty for any other wheel.
fn repaired_dll_dirs(archive: &WheelArchive) -> Vec<String> {
    let dist_info = archive.dist_info_dir();
    let marked = ["DELVEWHEEL", crate::policy::windows::MARKER]
        .iter()
        .any(|m| archive.entry_by_name(&format!("{dist_info}/{m}")).is_some());
    if !marked {
        return Vec::new();
    }
    let dirs: BTreeSet<String> = archive
        .entries()
        .iter()
        .filter(|e| !e.is_dir && e.name.to_ascii_lowercase().ends_with(".dll"))
        .map(|e| crate::resolve::wheel_parent(&e.name).to_string())
        .collect();
    dirs.into_iter().collect()
}

/// Patched entries of at least this size (128 KiB) are re-compressed by
/// copying the input's deflate blocks the patch left alone
/// ([`crate::wheel::splice`]); so they are read with their block index, here
/// when kept for repair, or by repair itself. Smaller ones are deflated again.
pub(crate) const SPLICE_MIN: u64 = 128 << 10;

/// At most this many bytes (256 MiB) are kept for repair ([`Kept`]); past
/// it, repair inflates or reads what it patches again.
const KEEP_BUDGET: u64 = 256 << 20;

/// Whether a repair is likely to patch this binary: an ELF file with an
/// RPATH/RUNPATH or a needed library that is neither in the wheel nor allowed
/// by any policy, or any Mach-O or PE file. A guess: a wrong one only costs
/// time (one more inflate) or memory until the plan is made.
fn likely_patched(info: &BinaryInfo, wheel_files: &std::collections::HashSet<&str>) -> bool {
    match info {
        BinaryInfo::Elf(e) => {
            !e.rpath.is_empty()
                || !e.runpath.is_empty()
                || e.needed
                    .iter()
                    .any(|n| !wheel_files.contains(n.as_str()) && !crate::policy::linux::whitelisted_by_any_builtin(n))
        }
        _ => true,
    }
}

/// ELF files at least this large (4 MiB) that will not be patched are read
/// keeping only what their parse needs ([`WheelArchive::read_partial`]).
const PARTIAL_MIN: u64 = 4 << 20;

/// Inflates every entry once, in parallel, hashing for the RECORD check in
/// the same pass; sniffs and parses each. The largest entries go first, so
/// the one huge extension that most big wheels hold is inflating on one core
/// while the others share the rest, instead of starting last. With `keep`,
/// the bytes of the binaries a repair will likely patch stay in it.
fn read_binaries(archive: &WheelArchive, verify: bool, keep: Option<&Kept>) -> Result<Vec<WheelBinary>> {
    let wheel = archive.path().display().to_string();
    let mut files: Vec<usize> = (0..archive.entries().len()).filter(|&i| !archive.entries()[i].is_dir).collect();
    files.sort_by_key(|&i| (std::cmp::Reverse(archive.entries()[i].size), i));
    let wheel_files: std::collections::HashSet<&str> = match keep {
        Some(_) => archive.entries().iter().map(|e| e.name.rsplit('/').next().unwrap_or(&e.name)).collect(),
        None => Default::default(),
    };
    let read_one = |i: usize| -> Result<Option<WheelBinary>> {
        let entry = &archive.entries()[i];
        let wheel_err = |source| Error::Wheel { path: archive.path().to_path_buf(), source };
        // Only entries that start like a binary are kept in memory; the rest
        // (data files of any size) are checked while streaming.
        let prefix = archive.read_prefix(i, 4).map_err(wheel_err)?;
        if !binary::may_be_binary(&prefix) {
            if verify {
                archive.verify_streaming(i).map_err(wheel_err)?;
            }
            return Ok(None);
        }
        let binary_err = |source| Error::Binary { file: format!("{wheel}!{}", entry.name), source };
        // A large ELF file that will not be patched is read in one pass that
        // keeps only the parts its parse needs. In a repair, that is a library
        // some earlier repair bundled (in a `.libs` directory); the rest may
        // be patched, and are kept whole.
        let bundled = entry.name.split('/').rev().skip(1).any(|d| d.ends_with(".libs"));
        let in_part = entry.size >= PARTIAL_MIN && prefix.starts_with(b"\x7fELF") && (keep.is_none() || bundled);
        let parsed_in_part = match in_part {
            true => read_elf_in_part(archive, i, verify).map_err(wheel_err)?,
            false => None,
        };
        let parsed = match parsed_in_part {
            Some(parsed) => parsed.map(|info| Some(BinaryInfo::Elf(info))).map_err(binary_err)?,
            None => {
                let (data, blocks) = match (keep, verify) {
                    (Some(_), true) => archive.read_verified_indexed(i, SPLICE_MIN),
                    (_, true) => archive.read_verified(i).map(|d| (d, None)),
                    (_, false) => archive.read(i).map(|d| (d, None)),
                }
                .map_err(wheel_err)?;
                let parsed = binary::parse(&data).map_err(binary_err)?;
                if let (Some(kept), Some(info)) = (keep, &parsed) {
                    if likely_patched(info, &wheel_files) {
                        kept.keep(i, (data, blocks));
                    }
                }
                parsed
            }
        };
        Ok(parsed.map(|info| {
            let is_extension = is_extension(&entry.name, &info);
            WheelBinary { path: entry.name.clone(), index: i, info: Arc::new(info), is_extension }
        }))
    };
    let mut results: Vec<(usize, Result<Option<WheelBinary>>)> =
        files.par_iter().with_max_len(1).map(|&i| (i, read_one(i))).collect();
    // the first problem in archive order, whatever order the work ran in
    results.sort_unstable_by_key(|(i, _)| *i);
    let mut out = Vec::new();
    for (_, r) in results {
        if let Some(b) = r? {
            out.push(b);
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The parse of ELF entry `index`, read in part
/// ([`WheelArchive::read_partial`] with [`binary::elf::partial_wanted`]);
/// `None` when it must be read whole: it cannot be read in part, or its parse
/// needed more than was kept.
fn read_elf_in_part(
    archive: &WheelArchive,
    index: usize,
    verify: bool,
) -> std::result::Result<Option<std::result::Result<ElfInfo, binary::ParseError>>, crate::wheel::WheelError> {
    let Some((data, read)) = archive.read_partial(index, verify, &mut binary::elf::partial_wanted)? else {
        return Ok(None);
    };
    let parsed = binary::elf::parse_partial(&data, &read);
    if parsed.is_none() {
        let name = &archive.entries()[index].name;
        crate::timing::mark(format_args!("{name} read again whole: its parse needed more"));
    }
    Ok(parsed)
}

fn is_extension(name: &str, info: &BinaryInfo) -> bool {
    match info {
        BinaryInfo::Elf(e) => e.is_python_extension(),
        BinaryInfo::MachO(_) => name.ends_with(".so"),
        BinaryInfo::Pe(p) => name.to_ascii_lowercase().ends_with(".pyd") || !p.py_init.is_empty(),
    }
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

fn excluded(globs: &[glob::Pattern], name: &str, path: Option<&Path>) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    globs.iter().any(|g| {
        g.matches(name) || g.matches(base) || path.is_some_and(|p| g.matches_path(p) || g.matches(&p.to_string_lossy()))
    })
}

/// Arch and libc of a Linux wheel, from its ELF files (extensions first),
/// then its tag. Returns the ELFs of other architectures.
fn linux_target(a: &Analysis) -> (Option<String>, Libc, Vec<(String, String)>) {
    let elfs: Vec<(&WheelBinary, &ElfInfo)> = a
        .binaries
        .iter()
        .filter_map(|b| match b.info.as_ref() {
            BinaryInfo::Elf(e) => Some((b, e)),
            _ => None,
        })
        .collect();
    let tag_arch = a.filename.platform.iter().find_map(|p| crate::policy::linux::arch_of_tag(p));
    let arch = elfs
        .iter()
        .filter(|(b, _)| b.is_extension)
        .chain(elfs.iter())
        .find_map(|(_, e)| e.arch())
        .map(str::to_string)
        .or(tag_arch.map(str::to_string));
    let mut ignored = Vec::new();
    if let Some(arch) = &arch {
        for (b, e) in &elfs {
            let a2 = e.arch().unwrap_or("unknown");
            if a2 != arch {
                ignored.push((b.path.clone(), a2.to_string()));
            }
        }
    }
    let musl = elfs.iter().any(|(_, e)| e.is_musl());
    let glibc = elfs.iter().any(|(_, e)| e.is_glibc());
    let libc = if musl {
        Libc::Musl
    } else if glibc {
        Libc::Glibc
    } else if a.filename.platform.iter().any(|p| p.starts_with("musllinux")) {
        Libc::Musl
    } else {
        Libc::Glibc
    };
    (arch, libc, ignored)
}

/// Marks node `n` visited; false when it already was.
fn first_visit(done: &mut Vec<bool>, n: usize) -> bool {
    if done.len() <= n {
        done.resize(n + 1, false);
    }
    !std::mem::replace(&mut done[n], true)
}

/// A growing graph with node deduplication by key.
struct GraphBuilder {
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
}

impl GraphBuilder {
    fn new(binaries: &[WheelBinary]) -> Self {
        let mut g = GraphBuilder { nodes: Vec::new(), index: HashMap::new() };
        for b in binaries {
            g.add(format!("w:{}", b.path), b.path.clone(), NodeKind::Wheel(b.path.clone()), Some(b.info.clone()));
        }
        g
    }

    /// Returns the node for `key`, adding it when new (second value: it is new).
    fn add(&mut self, key: String, name: String, kind: NodeKind, info: Option<Arc<BinaryInfo>>) -> (usize, bool) {
        if let Some(&i) = self.index.get(&key) {
            return (i, false);
        }
        let i = self.nodes.len();
        self.nodes.push(Node { name, kind, info, deps: Vec::new() });
        self.index.insert(key, i);
        (i, true)
    }

    fn found(&mut self, name: &str, r: crate::resolve::Resolved) -> (usize, bool) {
        match r.location {
            Location::Wheel(p) => self.add(format!("w:{p}"), p.clone(), NodeKind::Wheel(p), Some(r.info)),
            Location::Disk(p) => {
                let real = r.realpath.unwrap_or_else(|| p.clone());
                self.add(
                    format!("d:{}", real.display()),
                    name.to_string(),
                    NodeKind::Disk { path: p, realpath: real },
                    Some(r.info),
                )
            }
        }
    }

    /// Where node `n` lives, for nodes that are files.
    fn location(&self, n: usize) -> Option<Location> {
        match &self.nodes[n].kind {
            NodeKind::Wheel(p) => Some(Location::Wheel(p.clone())),
            NodeKind::Disk { path, .. } => Some(Location::Disk(path.clone())),
            _ => None,
        }
    }

    fn finish(self) -> DepGraph {
        DepGraph { nodes: self.nodes }
    }
}

/// A node to visit, with its tree's top-level DT_RPATH and DT_RUNPATH.
type ElfWork = (usize, Arc<Vec<Dir>>, Arc<Vec<Dir>>);

fn build_elf_graph(
    binaries: &[WheelBinary],
    wheel: &WheelBinaries,
    resolver: &ElfResolver,
    exclude: &[glob::Pattern],
    arch: &str,
) -> DepGraph {
    let mut g = GraphBuilder::new(binaries);
    // (node, root rpath dirs, root runpath dirs)
    let mut queue: VecDeque<ElfWork> = VecDeque::new();
    let root_work = |i: usize| -> Option<ElfWork> {
        let BinaryInfo::Elf(e) = binaries[i].info.as_ref() else { return None };
        if e.arch() != Some(arch) {
            return None;
        }
        let origin = Dir::parent_of(&Location::Wheel(binaries[i].path.clone()));
        let rpath = if e.runpath.is_empty() { resolver.expand_all(&e.rpath, &origin, e) } else { Vec::new() };
        let runpath = resolver.expand_all(&e.runpath, &origin, e);
        Some((i, Arc::new(rpath), Arc::new(runpath)))
    };
    // Extensions first: a library of the wheel is resolved in the context of
    // the extension that loads it (its DT_RPATH applies to the whole tree).
    // ELFs no extension loads are roots of their own afterwards.
    queue.extend((0..binaries.len()).filter(|&i| binaries[i].is_extension).filter_map(root_work));
    let mut later: VecDeque<usize> = (0..binaries.len()).filter(|&i| !binaries[i].is_extension).collect();
    let mut done = vec![false; g.nodes.len()];
    let next_root = |later: &mut VecDeque<usize>, done: &[bool]| {
        while let Some(i) = later.pop_front() {
            if !done.get(i).copied().unwrap_or(false) {
                if let Some(w) = root_work(i) {
                    return Some(w);
                }
            }
        }
        None
    };
    while let Some((n, rpath, runpath)) = queue.pop_front().or_else(|| next_root(&mut later, &done)) {
        if !first_visit(&mut done, n) {
            continue;
        }
        let Some(info) = g.nodes[n].info.clone() else { continue };
        let BinaryInfo::Elf(elf) = info.as_ref() else { continue };
        let Some(loc) = g.location(n) else { continue };
        let mut edges = Vec::new();
        for name in &elf.needed {
            let (child, walk) = if crate::policy::linux::is_loader(name) {
                (g.add(format!("p:{name}"), name.clone(), NodeKind::Provided("dynamic loader".into()), None).0, false)
            } else if crate::policy::linux::is_libpython(name) {
                (g.add(format!("p:{name}"), name.clone(), NodeKind::Provided("libpython".into()), None).0, false)
            } else if excluded(exclude, name, None) {
                (g.add(format!("x:{name}"), name.clone(), NodeKind::Excluded, None).0, false)
            } else {
                match resolver.find(name, elf, &loc, &rpath, &runpath, wheel) {
                    Some(r) => {
                        let real = r.realpath.clone();
                        if matches!(r.location, Location::Disk(_)) && excluded(exclude, name, real.as_deref()) {
                            (g.add(format!("x:{name}"), name.clone(), NodeKind::Excluded, None).0, false)
                        } else {
                            (g.found(name, r).0, true)
                        }
                    }
                    None => (g.add(format!("m:{name}"), name.clone(), NodeKind::Missing, None).0, false),
                }
            };
            edges.push(Edge { name: name.clone(), node: child });
            if walk {
                queue.push_back((child, rpath.clone(), runpath.clone()));
            }
        }
        g.nodes[n].deps = edges;
    }
    g.finish()
}

fn build_macho_graph(
    binaries: &[WheelBinary],
    wheel: &WheelBinaries,
    resolver: &MachOResolver,
    exclude: &[glob::Pattern],
) -> DepGraph {
    let mut g = GraphBuilder::new(binaries);
    let mut queue: VecDeque<(usize, Arc<Vec<Dir>>)> = (0..binaries.len()).map(|i| (i, Arc::new(Vec::new()))).collect();
    let mut done: Vec<bool> = Vec::new();
    while let Some((n, inherited)) = queue.pop_front() {
        if !first_visit(&mut done, n) {
            continue;
        }
        let Some(info) = g.nodes[n].info.clone() else { continue };
        let BinaryInfo::MachO(m) = info.as_ref() else { continue };
        let Some(loc) = g.location(n) else { continue };
        let mut rpaths: Vec<String> = Vec::new();
        for s in &m.slices {
            for r in &s.rpaths {
                if !rpaths.contains(r) {
                    rpaths.push(r.clone());
                }
            }
        }
        let mut chain = resolver.expand_rpaths(&rpaths, &loc);
        chain.extend(inherited.iter().cloned());
        let chain = Arc::new(chain);
        let own_id: Vec<&str> = m.slices.iter().filter_map(|s| s.id.as_deref()).collect();
        let mut edges = Vec::new();
        for name in m.all_deps() {
            if own_id.contains(&name) {
                continue;
            }
            let (child, walk) = if excluded_substring(exclude, name) {
                (g.add(format!("x:{name}"), name.to_string(), NodeKind::Excluded, None).0, false)
            } else {
                match resolver.find(name, &loc, &chain, wheel) {
                    MachOLookup::System(_) => (
                        g.add(
                            format!("p:{name}"),
                            name.to_string(),
                            NodeKind::Provided("macOS system library".into()),
                            None,
                        )
                        .0,
                        false,
                    ),
                    MachOLookup::Missing => {
                        (g.add(format!("m:{name}"), name.to_string(), NodeKind::Missing, None).0, false)
                    }
                    MachOLookup::Found(r) => {
                        if excluded_substring(exclude, &r.location.to_string()) {
                            (g.add(format!("x:{name}"), name.to_string(), NodeKind::Excluded, None).0, false)
                        } else {
                            (g.found(name, r).0, true)
                        }
                    }
                }
            };
            edges.push(Edge { name: name.to_string(), node: child });
            if walk {
                queue.push_back((child, chain.clone()));
            }
        }
        g.nodes[n].deps = edges;
    }
    g.finish()
}

/// delocate's `--exclude` matches a substring of the path; globs are accepted too.
fn excluded_substring(globs: &[glob::Pattern], name: &str) -> bool {
    globs.iter().any(|g| name.contains(g.as_str())) || excluded(globs, name, None)
}

fn build_pe_graph(
    binaries: &[WheelBinary],
    filename: &WheelFilename,
    wheel: &WheelBinaries,
    resolver: &PeResolver,
    exclude: &[glob::Pattern],
) -> DepGraph {
    let mut g = GraphBuilder::new(binaries);
    let mut queue: VecDeque<usize> = binaries
        .iter()
        .enumerate()
        .filter(|(_, b)| b.is_extension || b.path.to_ascii_lowercase().ends_with(".exe"))
        .map(|(i, _)| i)
        .collect();
    let mut done: Vec<bool> = Vec::new();
    while let Some(n) = queue.pop_front() {
        if !first_visit(&mut done, n) {
            continue;
        }
        let Some(info) = g.nodes[n].info.clone() else { continue };
        let BinaryInfo::Pe(pe) = info.as_ref() else { continue };
        let Some(loc) = g.location(n) else { continue };
        let mut edges = Vec::new();
        for name in pe.needed() {
            let key = name.to_ascii_lowercase();
            let (child, walk) = if let Some(reason) =
                crate::policy::windows::is_provided(name, pe.machine, &filename.python, &filename.abi)
            {
                (g.add(format!("p:{key}"), name.to_string(), NodeKind::Provided(reason.to_string()), None).0, false)
            } else if excluded(exclude, &key, None) || excluded(exclude, name, None) {
                (g.add(format!("x:{key}"), name.to_string(), NodeKind::Excluded, None).0, false)
            } else {
                match resolver.find(name, pe.machine, &loc, wheel) {
                    Some(r) => (g.found(name, r).0, true),
                    None => (g.add(format!("m:{key}"), name.to_string(), NodeKind::Missing, None).0, false),
                }
            };
            edges.push(Edge { name: name.to_string(), node: child });
            if walk {
                queue.push_back(child);
            }
        }
        g.nodes[n].deps = edges;
    }
    g.finish()
}

fn linux_verdict(
    a: &Analysis,
    policies: LinuxPolicies,
    libc: Libc,
    arch: String,
    ignored: Vec<(String, String)>,
    options: &AnalyzeOptions,
) -> LinuxVerdict {
    let graph = &a.graph;
    let roots: Vec<usize> = a
        .binaries
        .iter()
        .enumerate()
        .filter(|(_, b)| matches!(b.info.as_ref(), BinaryInfo::Elf(e) if e.arch() == Some(arch.as_str())))
        .map(|(i, _)| i)
        .collect();
    let elf_of = |n: usize| match graph.nodes[n].info.as_deref() {
        Some(BinaryInfo::Elf(e)) => Some(e),
        _ => None,
    };
    let label = |n: usize| match &graph.nodes[n].kind {
        NodeKind::Wheel(p) => p.clone(),
        NodeKind::Disk { realpath, .. } => realpath.display().to_string(),
        _ => graph.nodes[n].name.clone(),
    };
    // versioned symbols of the wheel's own ELFs
    let mut versioned: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for &r in &roots {
        if let Some(e) = elf_of(r) {
            for vn in &e.version_needs {
                if !crate::policy::linux::is_loader(&vn.file) {
                    versioned.entry(vn.file.clone()).or_default().extend(vn.versions.iter().cloned());
                }
            }
        }
    }
    let mut external = Vec::new();
    let mut violations = Vec::new();
    let mut blockers_all = Vec::new();
    let mut best = None;
    let mut current = None;
    for p in policies.policies.iter().filter(|p| p.priority > 0) {
        // external libraries: walk DT_NEEDED, not entering whitelisted libs
        let reach = graph.reachable(roots.iter().copied(), |e| p.lib_whitelist.contains(&e.name));
        let mut ext: BTreeMap<String, usize> = BTreeMap::new();
        for n in reach {
            if matches!(graph.nodes[n].kind, NodeKind::Disk { .. } | NodeKind::Missing) {
                ext.entry(graph.nodes[n].name.clone()).or_insert(n);
            }
        }
        let mut blockers = Vec::new();
        // symbol versions: wheel ELFs + every library that would be bundled
        let mut files: Vec<usize> = roots.clone();
        files.extend(ext.values().copied());
        for &f in &files {
            let Some(e) = elf_of(f) else { continue };
            let mut needs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for vn in &e.version_needs {
                if !crate::policy::linux::is_loader(&vn.file) {
                    needs.entry(vn.file.clone()).or_default().extend(vn.versions.iter().cloned());
                }
            }
            for v in p.versioned_symbols_ok(&needs) {
                blockers.push(Blocker::SymbolVersion { file: label(f), lib: v.lib, version: v.version });
            }
            if !options.disable_isa_check && arch == "x86_64" {
                let level = crate::policy::linux::isa_level_from_bits(e.x86_isa_needed.unwrap_or(0));
                if level > 1 {
                    blockers.push(Blocker::Isa { file: label(f), level });
                }
            }
        }
        for &r in &roots {
            let Some(e) = elf_of(r) else { continue };
            for (lib, syms) in p.blacklisted(&e.needed, &e.imported_symbols) {
                for s in syms {
                    blockers.push(Blocker::Blacklisted { file: label(r), lib: lib.clone(), symbol: s });
                }
            }
            for s in &e.imported_symbols {
                if s.starts_with("PyFPE_") || s.starts_with("PyUnicodeUCS2_") {
                    blockers.push(Blocker::PythonAbi { file: label(r), symbol: s.clone() });
                }
            }
        }
        blockers.sort();
        blockers.dedup();
        if blockers.is_empty() {
            if best.is_none() {
                best = Some(p.tag());
            }
            if current.is_none() && ext.is_empty() {
                current = Some(p.tag());
            }
        }
        if current.is_none() {
            // what stands between the wheel as it is and this tag
            let mut without_repair = blockers.clone();
            without_repair.extend(ext.keys().map(|name| Blocker::Library { name: name.clone() }));
            blockers_all.push((p.tag(), without_repair));
        }
        violations.push((p.tag(), blockers));
        external.push((p.tag(), ext));
    }
    // what the repaired wheel needs from the system: the wheel's own ELFs plus the
    // libraries the repair target bundles (auditwheel reports the same union)
    let target = best.as_deref().or(external.first().map(|(t, _)| t.as_str()));
    if let Some((_, ext)) = external.iter().find(|(t, _)| Some(t.as_str()) == target) {
        for &n in ext.values() {
            for vn in elf_of(n).map_or(&[][..], |e| &e.version_needs[..]) {
                if !crate::policy::linux::is_loader(&vn.file) {
                    versioned.entry(vn.file.clone()).or_default().extend(vn.versions.iter().cloned());
                }
            }
        }
    }
    LinuxVerdict {
        libc,
        arch,
        policies,
        current,
        best,
        versioned_symbols: versioned,
        external,
        violations,
        blockers: blockers_all,
        ignored,
    }
}

fn macos_verdict(a: &Analysis, options: &AnalyzeOptions) -> MacVerdict {
    use crate::policy::macos;
    // every slice of the wheel's binaries and of the libraries to bundle
    let mut slices: Vec<(String, String, crate::binary::macho::MacVersion)> = Vec::new();
    let reach = a.graph.reachable(0..a.binaries.len(), |_| false);
    let mut files: Vec<usize> = (0..a.binaries.len()).collect();
    files.extend(
        reach.into_iter().filter(|&n| n >= a.binaries.len() && matches!(a.graph.nodes[n].kind, NodeKind::Disk { .. })),
    );
    let mut min_versions: BTreeMap<String, (crate::binary::macho::MacVersion, String)> = BTreeMap::new();
    for n in files {
        let Some(BinaryInfo::MachO(m)) = a.graph.nodes[n].info.as_deref() else { continue };
        let label = match &a.graph.nodes[n].kind {
            NodeKind::Disk { realpath, .. } => realpath.display().to_string(),
            _ => a.graph.nodes[n].name.clone(),
        };
        for s in &m.slices {
            let Some(v) = s.min_macos else { continue };
            let arch = s.arch.name();
            slices.push((label.clone(), arch.clone(), v));
            let slot = min_versions.entry(arch).or_insert((v, label.clone()));
            if v > slot.0 {
                *slot = (v, label.clone());
            }
        }
    }
    let mut archs: Vec<String> = Vec::new();
    for t in &a.filename.platform {
        if let Some((_, arch)) = macos::parse_macos_tag(t) {
            match arch {
                "universal2" => archs.extend(["x86_64".to_string(), "arm64".to_string()]),
                "intel" => archs.extend(["i386".to_string(), "x86_64".to_string()]),
                other => archs.push(other.to_string()),
            }
        }
    }
    archs.sort();
    archs.dedup();
    let target = match options.macos_target.as_deref().map(macos::parse_deployment_target) {
        Some(Err(e)) => {
            return MacVerdict { archs, min_versions, best: Err(e.to_string()), blockers: Vec::new() };
        }
        Some(Ok(t)) => Some(t),
        None => None,
    };
    let best =
        macos::macos_platform_tags(&slices, &a.filename.platform, target).map(|t| t.tags).map_err(|e| e.to_string());
    MacVerdict { archs, min_versions, best, blockers: Vec::new() }
}

fn windows_verdict(a: &Analysis) -> WindowsVerdict {
    let machine = a.filename.platform.iter().find_map(|p| match p.as_str() {
        "win32" => Some(0x14c),
        "win_amd64" => Some(0x8664),
        "win_arm64" => Some(0xaa64),
        _ => None,
    });
    let mut blockers = Vec::new();
    for b in &a.binaries {
        if let BinaryInfo::Pe(p) = b.info.as_ref() {
            if b.is_extension && Some(p.machine) != machine {
                blockers.push(Blocker::Machine {
                    file: b.path.clone(),
                    found: p.platform_tag().map_or_else(|| format!("machine {:#x}", p.machine), str::to_string),
                });
            }
        }
    }
    WindowsVerdict { machine, blockers }
}
