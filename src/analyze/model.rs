//! The analysis as data: the wheel's binaries, the dependency graph, what
//! each platform's rules decided ([`Verdict`]) and what a repair would do to
//! each dependency ([`Status`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use crate::binary::BinaryInfo;
use crate::error::Error;
use crate::policy::blocker::Blocker;
use crate::policy::link::LinkFinding;
use crate::policy::linux::{Libc, LinuxPolicies, LinuxPolicy};
pub use crate::resolve::providers::ProvidedLib;
use crate::wheel::WheelFilename;

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
    /// Shipped by a distribution installed in `--site-packages`: linked
    /// where it is installed, not bundled, not walked.
    Linked(Arc<ProvidedLib>),
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
    /// For missing nodes: the files of that name the search found but could
    /// not use (corrupt, or built for another machine), in search order.
    pub rejected: BTreeMap<usize, Vec<crate::resolve::elf::Rejected>>,
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
    /// Another distribution provides it: linked, not bundled.
    Linked(Arc<ProvidedLib>),
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
            Status::Linked(_) => "provided",
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
    /// What no repair fixes, whatever the platform tag: Python symbols
    /// outside the Stable ABI an `abi3`/`abi3t` tag promises, version-specific
    /// suffixes in such a wheel, executable stacks. Sorted.
    pub audit: Vec<Blocker>,
    /// Link information of the wheel's binaries that does not hold together
    /// or leads out of the wheel. Sorted.
    pub link_lint: Vec<LinkFinding>,
    /// What the package index refuses in an upload although every reader of
    /// the archive agrees on it (data descriptors, entry comments, control
    /// characters in names), one line each.
    pub index_findings: Vec<String>,
    /// `--exclude` patterns that matched no library.
    pub unused_excludes: Vec<String>,
    /// What would stop a repair although the wheel installs (a file named
    /// like the libraries' directory), one line each.
    pub repair_findings: Vec<String>,
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
            NodeKind::Linked(p) => Status::Linked(p.clone()),
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
        let wheel = self.wheel.display().to_string();
        let name = self.graph.nodes[n].name.clone();
        let rejected = self.graph.rejected.get(&n).map_or(&[][..], Vec::as_slice);
        if let Some(bad) = rejected.iter().find(|r| r.corrupt) {
            let path = bad.path.display().to_string();
            return Error::CorruptLibrary { wheel, name, needed_by, path, reason: bad.reason.clone() };
        }
        let skipped: String =
            rejected.iter().map(|r| format!("; skipped `{}`: {}", r.path.display(), r.reason)).collect();
        Error::MissingLibrary { wheel, name, needed_by, skipped }
    }

    /// Nodes referenced but not found (and not provided or excluded).
    pub fn missing(&self) -> Vec<usize> {
        self.graph.nodes.iter().enumerate().filter(|(_, n)| n.kind == NodeKind::Missing).map(|(i, _)| i).collect()
    }

    /// Nodes another distribution provides (`--site-packages`), with the
    /// wheel binaries or bundled libraries that need them, in graph order.
    pub fn linked(&self) -> Vec<(usize, Vec<usize>)> {
        let mut out: Vec<(usize, Vec<usize>)> = Vec::new();
        for (n, node) in self.graph.nodes.iter().enumerate() {
            if matches!(node.kind, NodeKind::Linked(_)) {
                let users = self.graph.nodes.iter().enumerate().filter(|(_, m)| m.deps.iter().any(|e| e.node == n));
                out.push((n, users.map(|(i, _)| i).collect()));
            }
        }
        out
    }

    /// Where a wheel entry is installed, relative to site-packages: entries
    /// of `<dist>-<ver>.data/purelib/` and `platlib/` go to site-packages itself.
    pub fn install_path<'a>(&self, entry: &'a str) -> &'a str {
        let data = self.filename.data_dir();
        for scheme in ["purelib", "platlib"] {
            if let Some(rest) = entry.strip_prefix(&format!("{data}/{scheme}/")) {
                return rest;
            }
        }
        entry
    }

    /// One warning per runtime a repair bundles that a process must load
    /// only once (OpenMP): why, and what to do instead.
    pub fn singleton_warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for n in self.to_bundle() {
            if self.status(n) != Status::Bundle {
                continue;
            }
            let name = &self.graph.nodes[n].name;
            if let Some(runtime) = crate::policy::runtimes::singleton_runtime(name) {
                let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
                out.push(crate::policy::runtimes::singleton_warning(base, runtime));
            }
        }
        out.sort();
        out.dedup();
        out
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
