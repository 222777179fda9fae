//! The macOS repair plan (delocate's rules, `delocate-wheel`): copy every
//! library the wheel's Mach-O files load from outside the wheel into
//! `<pkg>/.dylibs/`, point every reference at it through `@loader_path/…`,
//! give each copy the install id `/DLC/<libs dir>/<name>`, delete LC_RPATHs
//! that are not `@loader_path/…` or `@executable_path/…`, check the
//! architectures and retag from the binaries' minimum macOS versions.
//!
//! Differences from delocate (see `docs/macos.md`): two different libraries
//! with the same basename get clash-proof names
//! (`<stem>-<sha256[:8]>.dylib`) instead of an error, and new libraries may
//! join a libs directory that already exists in the wheel.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::naming::{hashed_name_with, retag_wheel_file};
use super::{BinaryEdits, Bundled, Plan, PlanOptions, PlanSource, PlannedBinary};
use crate::analyze::{Analysis, Contents, Listing, MacVerdict, NodeKind, Status, Wanted};
use crate::binary::BinaryInfo;
use crate::error::Reason;
use crate::error::{Error, Result};
use crate::patch::macho::MachOEdits;
use crate::resolve::providers::ProvidedLib;
use crate::resolve::{wheel_parent, wheel_relpath};

/// delocate's default libs sub-directory.
pub const DEFAULT_LIB_SDIR: &str = ".dylibs";

/// Prefix of the install id of copied libraries.
pub const DLC_PREFIX: &str = "/DLC/";

/// macOS options of a repair (delocate's).
#[derive(Debug, Clone)]
pub struct MacosOptions {
    /// Architectures every binary must have (`intel`, `universal2`,
    /// `x86_64`, `arm64`, or a comma-separated list), delocate's `--require-archs`.
    pub require_archs: Option<String>,
    /// Go on when a dependency cannot be found.
    pub ignore_missing: bool,
    /// Remove LC_RPATH entries that are not `@loader_path/…` or
    /// `@executable_path/…` (default, as delocate).
    pub sanitize_rpaths: bool,
}

impl Default for MacosOptions {
    fn default() -> Self {
        MacosOptions { require_archs: None, ignore_missing: false, sanitize_rpaths: true }
    }
}

/// The libraries a repair bundles, to hash.
pub(super) fn wanted(a: &Analysis) -> Wanted {
    let hashed = a
        .graph
        .reachable(0..a.binaries.len(), |_| false)
        .into_iter()
        .filter(|&n| a.status(n) == Status::Bundle)
        .filter_map(|n| match &a.graph.nodes[n].kind {
            NodeKind::Disk { realpath, .. } => Some(realpath.clone()),
            _ => None,
        })
        .collect();
    Wanted { hashed, ..Wanted::default() }
}

/// Builds the plan for a macOS wheel.
pub(super) fn plan(a: &Analysis, v: &MacVerdict, contents: &Contents, options: &PlanOptions) -> Result<Plan> {
    let cannot = |reason: Reason| Error::cannot_repair(a.wheel.display().to_string(), reason);
    let mut messages: Vec<String> = Vec::new();

    // 1. what to bundle; missing libraries
    let reach = a.graph.reachable(0..a.binaries.len(), |_| false);
    let mut bundle: Vec<usize> = Vec::new();
    for &n in &reach {
        match a.status(n) {
            Status::Bundle => bundle.push(n),
            Status::Missing => {
                let err = a.missing_library_error(n);
                if !options.macos.ignore_missing {
                    return Err(err);
                }
                messages.push(format!("{err}: left as it is"));
            }
            _ => {}
        }
    }

    // 2. where the libraries go, under which names
    let lib_sdir = options.lib_sdir.as_deref().unwrap_or(DEFAULT_LIB_SDIR);
    let libs_dir = libs_dir(&contents.listing, lib_sdir);
    crate::wheel::check_entry_name(&format!("{libs_dir}/x"))
        .map_err(|_| cannot(Reason::BadLibsDir { lib_sdir: lib_sdir.to_string() }))?;
    let placed = place(a, &bundle, &libs_dir, contents, &mut messages)?;

    // 3. architectures
    if let Some(req) = options.macos.require_archs.as_deref() {
        let bads = missing_archs(a, &reach, &placed.entry_of, &parse_archs(req));
        if !bads.is_empty() {
            return Err(cannot(Reason::MissingArchs { problems: bads.into_iter().collect() }));
        }
    }

    // 4. the tag
    let tags = v.best.clone().map_err(|reason| cannot(Reason::NoMacosTag { reason }))?;
    let (filename, wheel_file) = if options.update_tags && tags != a.filename.platform {
        let f = a.filename.with_platforms(&tags);
        (f.to_string(), Some(retag_wheel_file(&contents.listing.metadata, &f)))
    } else {
        (a.filename.to_string(), None)
    };
    let platform_tags = if options.update_tags { tags } else { a.filename.platform.clone() };
    let mut plan = Plan { filename, platform_tags, wheel_file, ..Plan::default() };

    // 5. edits: every file that loads a delocated library (copied, or in the wheel)
    let mut edits_of = edits(a, &reach, &placed.entry_of, options.macos.sanitize_rpaths);
    for (entry, (n, src)) in &placed.sources {
        let mut edits = edits_of.remove(n).unwrap_or_default();
        let name = entry.rsplit('/').next().unwrap_or(entry);
        edits.set_id = Some(format!("{DLC_PREFIX}{libs_dir}/{name}"));
        plan.binaries.push(PlannedBinary {
            name: entry.clone(),
            source: PlanSource::File(src.clone()),
            strip: false,
            edits: BinaryEdits::MachO(edits),
            unix_mode: Some(0o755),
        });
        plan.bundled.push(Bundled { source: src.clone(), entry: entry.clone() });
    }
    for (i, b) in a.binaries.iter().enumerate() {
        let Some(edits) = edits_of.remove(&i) else { continue };
        if edits.is_empty() {
            continue;
        }
        plan.binaries.push(PlannedBinary {
            name: b.path.clone(),
            source: PlanSource::Entry(b.index),
            strip: false,
            edits: BinaryEdits::MachO(edits),
            unix_mode: contents.listing.unix_mode(b.index),
        });
    }
    if placed.sources.is_empty() {
        messages.push("no external libraries to bundle".into());
    }
    plan.messages = messages;
    Ok(plan)
}

/// Where the bundled libraries go.
struct Placed {
    /// node → output entry name
    entry_of: BTreeMap<usize, String>,
    /// output entry → (first node, source path); libraries with identical
    /// content share one entry
    sources: BTreeMap<String, (usize, PathBuf)>,
}

/// Names the libraries of `bundle` in `libs_dir`: the basename kept;
/// different libraries with one basename (or one already taken) get hashed names.
fn place(
    a: &Analysis,
    bundle: &[usize],
    libs_dir: &str,
    contents: &Contents,
    messages: &mut Vec<String>,
) -> Result<Placed> {
    let cannot = |reason: Reason| Error::cannot_repair(a.wheel.display().to_string(), reason);
    let existing: BTreeSet<&str> = contents.listing.entries.iter().map(|e| e.name.as_str()).collect();
    let mut digests: BTreeMap<usize, (PathBuf, [u8; 32])> = BTreeMap::new();
    for &n in bundle {
        let NodeKind::Disk { realpath, .. } = &a.graph.nodes[n].kind else { continue };
        let digest = contents.digest(realpath)?;
        digests.insert(n, (realpath.clone(), digest));
    }
    let base_of = |p: &PathBuf| p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let mut by_base: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (&n, (p, _)) in &digests {
        by_base.entry(base_of(p)).or_default().push(n);
    }
    let mut placed = Placed { entry_of: BTreeMap::new(), sources: BTreeMap::new() };
    for (base, nodes) in &by_base {
        let distinct: BTreeSet<&[u8; 32]> = nodes.iter().map(|n| &digests[n].1).collect();
        for &n in nodes {
            let (path, digest) = &digests[&n];
            let taken = existing.contains(format!("{libs_dir}/{base}").as_str());
            let name = if distinct.len() > 1 || taken { hashed_name_with(base, digest) } else { base.clone() };
            let entry = format!("{libs_dir}/{name}");
            if existing.contains(entry.as_str()) {
                return Err(cannot(Reason::EntryTaken { entry, source: Some(path.clone()) }));
            }
            if let Some((other, _)) = placed.sources.get(&entry) {
                if digests[other].1 != *digest {
                    return Err(cannot(Reason::NameClash { name: entry }));
                }
            } else {
                placed.sources.insert(entry.clone(), (n, path.clone()));
            }
            placed.entry_of.insert(n, entry);
        }
        if distinct.len() > 1 {
            messages.push(format!(
                "{} different libraries are named `{base}`: bundled under clash-proof names",
                distinct.len()
            ));
        }
    }
    Ok(placed)
}

/// delocate's architecture checks: every Mach-O file has the `required`
/// archs, and a copied library has every arch of what loads it.
fn missing_archs(
    a: &Analysis,
    reach: &[usize],
    placed: &BTreeMap<usize, String>,
    required: &BTreeSet<String>,
) -> BTreeSet<String> {
    let archs_of = |n: usize| -> BTreeSet<String> {
        match a.graph.nodes[n].info.as_deref() {
            Some(BinaryInfo::MachO(m)) => m.slices.iter().map(|s| s.arch.name()).collect(),
            _ => BTreeSet::new(),
        }
    };
    let label = |n: usize| -> String {
        match &a.graph.nodes[n].kind {
            NodeKind::Disk { realpath, .. } => realpath.display().to_string(),
            _ => a.graph.nodes[n].name.clone(),
        }
    };
    let mut bads: BTreeSet<String> = BTreeSet::new();
    let macho_nodes = (0..a.binaries.len())
        .filter(|&i| matches!(a.binaries[i].info.as_ref(), BinaryInfo::MachO(_)))
        .chain(placed.keys().copied());
    for n in macho_nodes {
        let have = archs_of(n);
        let missing: Vec<&String> = required.difference(&have).collect();
        if !missing.is_empty() {
            bads.insert(format!("Required {} missing from {}", arch_list(&missing), label(n)));
        }
    }
    for &d in placed.keys() {
        let have = archs_of(d);
        for &r in reach {
            if !a.graph.nodes[r].deps.iter().any(|e| e.node == d) {
                continue;
            }
            let needs = archs_of(r);
            let missing: Vec<&String> = needs.difference(&have).collect();
            if !missing.is_empty() {
                bads.insert(format!("{} needs {} missing from {}", label(r), arch_list(&missing), label(d)));
            }
        }
    }
    bads
}

/// The edits of every reachable Mach-O file that loads a delocated library:
/// references through `@loader_path/…`, and (with `sanitize`) its
/// unsanitary LC_RPATHs deleted.
fn edits(
    a: &Analysis,
    reach: &[usize],
    placed: &BTreeMap<usize, String>,
    sanitize: bool,
) -> BTreeMap<usize, MachOEdits> {
    let out_path = |n: usize| -> Option<String> {
        match &a.graph.nodes[n].kind {
            NodeKind::Wheel(p) => Some(p.clone()),
            NodeKind::Disk { .. } => placed.get(&n).cloned(),
            _ => None,
        }
    };
    let mut edits_of: BTreeMap<usize, MachOEdits> = BTreeMap::new();
    for &r in reach {
        let Some(r_path) = out_path(r) else { continue };
        let Some(BinaryInfo::MachO(m)) = a.graph.nodes[r].info.as_deref() else { continue };
        let mut edits = MachOEdits::default();
        let mut requires_delocated = false;
        for e in &a.graph.nodes[r].deps {
            if let NodeKind::Linked(p) = &a.graph.nodes[e.node].kind {
                // another distribution's library: found through an rpath to where it is installed
                requires_delocated = true;
                link_provided(&mut edits, m, &e.name, p, a.install_path(&r_path));
                continue;
            }
            let Some(target) = out_path(e.node) else { continue };
            requires_delocated = true;
            let new = format!("@loader_path/{}", wheel_relpath(&target, wheel_parent(&r_path)));
            if e.name != new && !edits.change_dylibs.iter().any(|(o, _)| *o == e.name) {
                edits.change_dylibs.push((e.name.clone(), new));
            }
        }
        if requires_delocated && sanitize {
            for s in &m.slices {
                for rp in &s.rpaths {
                    if !is_sanitary(rp) && !edits.delete_rpaths.contains(rp) {
                        edits.delete_rpaths.push(rp.clone());
                    }
                }
            }
        }
        edits_of.insert(r, edits);
    }
    edits_of
}

/// The edits that make a file installed at `install` find `name`, a library
/// another distribution provides, where it is installed: the install name
/// `@rpath/<file>` and an `@loader_path/…` LC_RPATH to its directory.
fn link_provided(edits: &mut MachOEdits, m: &crate::binary::MachOInfo, name: &str, p: &ProvidedLib, install: &str) {
    let file = name.rsplit('/').next().unwrap_or(name);
    let new = format!("@rpath/{file}");
    if name != new && !edits.change_dylibs.iter().any(|(o, _)| o == name) {
        edits.change_dylibs.push((name.to_string(), new));
    }
    let rpath = format!("@loader_path/{}", wheel_relpath(p.rel_dir(), wheel_parent(install)));
    let present = m.slices.iter().all(|s| s.rpaths.contains(&rpath));
    if !present && !edits.add_rpaths.contains(&rpath) {
        edits.add_rpaths.push(rpath);
    }
}

/// The libs directory for `lib_sdir`, decided as delocate does: in the
/// top-level package named like the distribution (the file name up to the
/// first `-`), else in the first package (sorted), else `<dist><lib_sdir>` at
/// the root. A package is a top-level directory with an `__init__.py`.
pub fn libs_dir(listing: &Listing, lib_sdir: &str) -> String {
    let file_name = listing.file_name();
    let dist = file_name.split('-').next().unwrap_or_default().to_string();
    let packages: BTreeSet<&str> = listing
        .entries
        .iter()
        .filter_map(|e| e.name.strip_suffix("/__init__.py"))
        .filter(|d| !d.is_empty() && !d.contains('/'))
        .collect();
    if packages.contains(dist.as_str()) {
        format!("{dist}/{lib_sdir}")
    } else if let Some(first) = packages.first() {
        format!("{first}/{lib_sdir}")
    } else {
        format!("{dist}{lib_sdir}")
    }
}

/// delocate's sanitary rpaths: relative to the loading file or the executable.
pub fn is_sanitary(rpath: &str) -> bool {
    rpath.starts_with("@loader_path/") || rpath.starts_with("@executable_path/")
}

/// `intel`, `universal2`, an arch name, or a comma-separated list of those.
pub fn parse_archs(spec: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for part in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match part {
            "intel" => out.extend(["i386".to_string(), "x86_64".to_string()]),
            "universal2" => out.extend(["x86_64".to_string(), "arm64".to_string()]),
            other => {
                out.insert(other.to_string());
            }
        }
    }
    out
}

fn arch_list(archs: &[&String]) -> String {
    let word = if archs.len() > 1 { "archs" } else { "arch" };
    format!("{word} {}", archs.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitary_rpaths() {
        assert!(is_sanitary("@loader_path/deps"));
        assert!(is_sanitary("@executable_path/../lib"));
        assert!(!is_sanitary("@loader_path"), "a bare @loader_path is removed, as delocate does");
        assert!(!is_sanitary("/opt/fake/lib"));
        assert!(!is_sanitary("lib/@loader_path/x"));
        assert!(!is_sanitary("@rpath/x"));
    }

    #[test]
    fn arch_specs() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(parse_archs("intel"), s(&["i386", "x86_64"]));
        assert_eq!(parse_archs("universal2"), s(&["arm64", "x86_64"]));
        assert_eq!(parse_archs("x86_64, arm64"), s(&["arm64", "x86_64"]));
        assert_eq!(parse_archs("arm64"), s(&["arm64"]));
    }
}
