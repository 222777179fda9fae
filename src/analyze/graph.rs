//! The dependency graph: one walk per format, each resolving a binary's
//! references the way the target's loader would (ELF: DT_NEEDED with
//! DT_RPATH/DT_RUNPATH; Mach-O: install names with `@rpath`; PE: DLL names),
//! deduplicating nodes by what they resolved to.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use super::model::{DepGraph, Edge, Node, NodeKind, WheelBinary};
use crate::binary::BinaryInfo;
use crate::resolve::elf::ElfResolver;
use crate::resolve::macho::{MachOLookup, MachOResolver};
use crate::resolve::pe::PeResolver;
use crate::resolve::{Dir, Location, WheelBinaries};
use crate::wheel::WheelFilename;

fn excluded(globs: &[glob::Pattern], name: &str, path: Option<&Path>) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    globs.iter().any(|g| {
        g.matches(name) || g.matches(base) || path.is_some_and(|p| g.matches_path(p) || g.matches(&p.to_string_lossy()))
    })
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

pub(super) fn build_elf_graph(
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

pub(super) fn build_macho_graph(
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
    exclude: &[glob::Pattern],
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
