//! The dependency graph: one walk per format, each resolving a binary's
//! references the way the target's loader would (ELF: DT_NEEDED with
//! DT_RPATH/DT_RUNPATH; Mach-O: install names with `@rpath`; PE: DLL names),
//! deduplicating nodes by what they resolved to.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use super::model::{DepGraph, Edge, Node, NodeKind, WheelBinary};
use crate::binary::BinaryInfo;
use crate::resolve::elf::{ElfResolver, Rejected};
use crate::resolve::macho::{MachOLookup, MachOResolver};
use crate::resolve::pe::PeResolver;
use crate::resolve::providers::Providers;
use crate::resolve::{Dir, Location, WheelBinaries};
use crate::wheel::WheelFilename;

/// The `--exclude` patterns, and which of them matched something.
pub(super) struct Exclude {
    globs: Vec<glob::Pattern>,
    hit: RefCell<Vec<bool>>,
}

impl Exclude {
    /// The compiled patterns.
    pub(super) fn new(globs: Vec<glob::Pattern>) -> Self {
        let hit = RefCell::new(vec![false; globs.len()]);
        Exclude { globs, hit }
    }

    /// Whether `name` (or its last component, or `path`) matches a pattern
    /// (auditwheel's fnmatch: `libcudnn*` matches `libcudnn.so.9`, `libcudnn.so` does not).
    fn matches(&self, name: &str, path: Option<&Path>) -> bool {
        let base = name.rsplit('/').next().unwrap_or(name);
        self.first(|g| {
            g.matches(name)
                || g.matches(base)
                || path.is_some_and(|p| g.matches_path(p) || g.matches(&p.to_string_lossy()))
        })
    }

    /// delocate's `--exclude` matches a substring of the path; globs are accepted too.
    fn matches_substring(&self, name: &str) -> bool {
        self.first(|g| name.contains(g.as_str())) || self.matches(name, None)
    }

    fn first(&self, test: impl Fn(&glob::Pattern) -> bool) -> bool {
        match self.globs.iter().position(test) {
            Some(i) => {
                self.hit.borrow_mut()[i] = true;
                true
            }
            None => false,
        }
    }

    /// The patterns that matched nothing, as given.
    pub(super) fn unused(&self) -> Vec<String> {
        let hit = self.hit.borrow();
        self.globs.iter().zip(hit.iter()).filter(|(_, h)| !**h).map(|(g, _)| g.as_str().to_string()).collect()
    }
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
    rejected: BTreeMap<usize, Vec<Rejected>>,
}

impl GraphBuilder {
    fn new(binaries: &[WheelBinary]) -> Self {
        let mut g = GraphBuilder { nodes: Vec::new(), index: HashMap::new(), rejected: BTreeMap::new() };
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

    /// The node of a library another distribution provides (`providers` has `name`).
    fn linked(&mut self, name: &str, providers: &Providers) -> usize {
        let Some(p) = providers.find(name) else {
            return self.add(format!("m:{name}"), name.to_string(), NodeKind::Missing, None).0;
        };
        self.add(format!("l:{}", p.rel), name.to_string(), NodeKind::Linked(p.clone()), None).0
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
        DepGraph { nodes: self.nodes, rejected: self.rejected }
    }
}

/// A node to visit, with its tree's top-level DT_RPATH and DT_RUNPATH.
type ElfWork = (usize, Arc<Vec<Dir>>, Arc<Vec<Dir>>);

pub(super) fn build_elf_graph(
    binaries: &[WheelBinary],
    wheel: &WheelBinaries,
    resolver: &ElfResolver,
    exclude: &Exclude,
    providers: &Providers,
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
            } else if exclude.matches(name, None) {
                (g.add(format!("x:{name}"), name.clone(), NodeKind::Excluded, None).0, false)
            } else {
                match resolver.find(name, elf, &loc, &rpath, &runpath, wheel) {
                    Ok(r) if matches!(r.location, Location::Wheel(_)) => (g.found(name, r).0, true),
                    _ if providers.find(name).is_some() => (g.linked(name, providers), false),
                    Ok(r) => {
                        let real = r.realpath.clone();
                        if matches!(r.location, Location::Disk(_)) && exclude.matches(name, real.as_deref()) {
                            (g.add(format!("x:{name}"), name.clone(), NodeKind::Excluded, None).0, false)
                        } else {
                            (g.found(name, r).0, true)
                        }
                    }
                    Err(rejected) => {
                        let (m, _) = g.add(format!("m:{name}"), name.clone(), NodeKind::Missing, None);
                        if !rejected.is_empty() {
                            g.rejected.entry(m).or_insert(rejected);
                        }
                        (m, false)
                    }
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

pub(super) fn build_macho_graph(
    binaries: &[WheelBinary],
    wheel: &WheelBinaries,
    resolver: &MachOResolver,
    exclude: &Exclude,
    providers: &Providers,
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
            let (child, walk) = if exclude.matches_substring(name) {
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
                    MachOLookup::Found(r) if matches!(r.location, Location::Wheel(_)) => (g.found(name, r).0, true),
                    _ if providers.find(name).is_some() => (g.linked(name, providers), false),
                    MachOLookup::Missing => {
                        (g.add(format!("m:{name}"), name.to_string(), NodeKind::Missing, None).0, false)
                    }
                    MachOLookup::Found(r) => {
                        if exclude.matches_substring(&r.location.to_string()) {
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

/// Which PE files of the wheel are walked from: extensions and EXEs always,
/// every DLL too with `dlls` (delvewheel's `--analyze-existing`).
#[derive(Debug, Clone, Copy)]
pub(super) struct PeRoots {
    /// Every `*.dll` of the wheel is a root.
    pub dlls: bool,
}

pub(super) fn build_pe_graph(
    binaries: &[WheelBinary],
    filename: &WheelFilename,
    wheel: &WheelBinaries,
    resolver: &PeResolver,
    exclude: &Exclude,
    providers: &Providers,
    roots: PeRoots,
) -> DepGraph {
    let mut g = GraphBuilder::new(binaries);
    let mut queue: VecDeque<usize> = binaries
        .iter()
        .enumerate()
        .filter(|(_, b)| {
            let lower = b.path.to_ascii_lowercase();
            b.is_extension || lower.ends_with(".exe") || (roots.dlls && lower.ends_with(".dll"))
        })
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
            } else if exclude.matches(&key, None) || exclude.matches(name, None) {
                (g.add(format!("x:{key}"), name.to_string(), NodeKind::Excluded, None).0, false)
            } else {
                match resolver.find(name, pe.machine, &loc, wheel) {
                    Some(r) if matches!(r.location, Location::Wheel(_)) => (g.found(name, r).0, true),
                    _ if providers.find(name).is_some() => (g.linked(name, providers), false),
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

/// An RPATH entry of a wheel ELF that a repair keeps as a link into a
/// sibling package of site-packages (another distribution's directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiblingRpath {
    /// The entry as written (`$ORIGIN/../../nvidia/cuda_runtime/lib`).
    pub entry: String,
    /// The directory it points to, relative to site-packages, when it stays
    /// inside site-packages (`nvidia/cuda_runtime/lib`).
    pub dir: Option<String>,
}

/// The `$ORIGIN`-relative RPATH/RUNPATH entries of the wheel's ELFs that
/// point outside every top-level directory holding the wheel's binaries:
/// into a sibling package, whose libraries the wheel expects to find there.
/// Only the binaries (by index) that have such entries.
pub fn sibling_rpaths(a: &super::Analysis) -> Vec<(usize, Vec<SiblingRpath>)> {
    let origin_relative = |e: &String| e.starts_with("$ORIGIN") || e.starts_with("${ORIGIN}");
    let elfs: Vec<(usize, &crate::binary::ElfInfo)> = (a.binaries.iter().enumerate())
        .filter_map(|(i, b)| match b.info.as_ref() {
            BinaryInfo::Elf(e) if e.rpath.iter().chain(&e.runpath).any(origin_relative) => Some((i, e)),
            _ => None,
        })
        .collect();
    if elfs.is_empty() {
        return Vec::new();
    }
    let top = |p: &str| p.split('/').next().unwrap_or("").to_string();
    let own: std::collections::BTreeSet<String> = (a.binaries.iter())
        .map(|b| a.install_path(&b.path))
        .filter(|p| p.contains('/'))
        .map(top)
        .chain([format!("{}.libs", a.filename.name)])
        .collect();
    let mut out = Vec::new();
    for (i, elf) in elfs {
        let origin = crate::resolve::wheel_parent(a.install_path(&a.binaries[i].path));
        let entries = if elf.runpath.is_empty() { &elf.rpath } else { &elf.runpath };
        let mut found = Vec::new();
        for entry in entries {
            let rest = ["${ORIGIN}", "$ORIGIN"].iter().find_map(|t| entry.strip_prefix(t));
            let Some(rest) = rest.filter(|r| r.is_empty() || r.starts_with('/')) else { continue };
            let dir = crate::resolve::wheel_join(origin, rest.trim_start_matches('/'));
            if dir.as_deref().is_some_and(|d| own.contains(&top(d)) || d.is_empty()) {
                continue;
            }
            found.push(SiblingRpath { entry: entry.clone(), dir });
        }
        if !found.is_empty() {
            out.push((i, found));
        }
    }
    out
}

/// The libraries not found that wheel ELFs with [`sibling_rpaths`] need:
/// expected from a sibling package (node, with the binaries that need it).
pub fn expected_in_siblings(a: &super::Analysis) -> Vec<(usize, Vec<usize>)> {
    let with_links: Vec<usize> = sibling_rpaths(a).into_iter().map(|(i, _)| i).collect();
    let mut out: Vec<(usize, Vec<usize>)> = Vec::new();
    for &i in &with_links {
        for e in &a.graph.nodes[i].deps {
            if a.graph.nodes[e.node].kind != NodeKind::Missing {
                continue;
            }
            match out.iter_mut().find(|(n, _)| *n == e.node) {
                Some((_, users)) if !users.contains(&i) => users.push(i),
                Some(_) => {}
                None => out.push((e.node, vec![i])),
            }
        }
    }
    out
}
