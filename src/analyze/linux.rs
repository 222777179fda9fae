//! The Linux verdict (auditwheel's rules): the wheel's arch and libc, the
//! policies that apply, and for each what would be bundled and what no
//! repair can fix.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::model::{Analysis, DepGraph, LinuxVerdict, NodeKind, WheelBinary};
use super::AnalyzeOptions;
use crate::binary::{BinaryInfo, ElfInfo};
use crate::error::Reason;
use crate::error::{Error, Result};
use crate::policy::blocker::Blocker;
use crate::policy::linux::{Libc, LinuxPolicies, LinuxPolicy};
use crate::resolve::elf::ElfResolver;
use crate::resolve::WheelBinaries;

/// Resolves the dependencies of a Linux wheel's ELF files into `a.graph`
/// (adding a warning per ELF of another architecture) and applies the
/// manylinux/musllinux policies.
pub(super) fn analyze(
    a: &mut Analysis,
    wheel_map: &WheelBinaries,
    sysroot: &Path,
    (exclude, providers): (&super::graph::Exclude, &crate::resolve::providers::Providers),
    options: &AnalyzeOptions,
) -> Result<LinuxVerdict> {
    let (arch, libc, ignored) = linux_target(a);
    let Some(arch) = arch else {
        return Err(Error::cannot_repair(a.wheel.display().to_string(), Reason::NoKnownArch));
    };
    let musl_arch = (libc == Libc::Musl).then_some(arch.as_str());
    let resolver = ElfResolver::new(sysroot, options.lib_path.clone(), options.ld_paths.clone(), musl_arch);
    a.graph = super::graph::build_elf_graph(&a.binaries, wheel_map, &resolver, exclude, providers, &arch);
    crate::timing::mark("dependencies resolved");
    let policies = policies(a, libc, &arch, options)?;
    for (f, arch) in &ignored {
        a.warnings.push(format!("ignoring `{f}` with {arch} architecture"));
    }
    Ok(verdict(a, policies, libc, arch, ignored, options))
}

/// The policies for `libc` and `arch` (built-in or `--policy`); of the
/// musllinux ones, only the one the wheel is tagged for.
fn policies(a: &Analysis, libc: Libc, arch: &str, options: &AnalyzeOptions) -> Result<LinuxPolicies> {
    let mut policies = match &options.policy_file {
        Some(f) => {
            let text = std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?;
            LinuxPolicies::from_json(&text, &f.display().to_string(), libc, arch)?
        }
        None => LinuxPolicies::builtin(libc, arch)?,
    };
    crate::timing::mark("policies loaded");
    if libc == Libc::Musl {
        // musl versions add no symbol versions: the wheel's own
        // musllinux tag says which musl it was built for; without one,
        // the newest (what auditwheel falls back to)
        let tagged = a
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
    Ok(policies)
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

fn verdict(
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
        let check = Check { graph, roots: &roots, arch: &arch, isa: !options.disable_isa_check };
        let blockers = check.blockers(p, &ext);
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

/// What makes a policy impossible even with repair.
struct Check<'a> {
    graph: &'a DepGraph,
    /// The wheel's ELFs of the wheel's architecture.
    roots: &'a [usize],
    arch: &'a str,
    /// Check the x86-64 ISA level.
    isa: bool,
}

impl Check<'_> {
    fn elf_of(&self, n: usize) -> Option<&ElfInfo> {
        match self.graph.nodes[n].info.as_deref() {
            Some(BinaryInfo::Elf(e)) => Some(e),
            _ => None,
        }
    }

    fn label(&self, n: usize) -> String {
        match &self.graph.nodes[n].kind {
            NodeKind::Wheel(p) => p.clone(),
            NodeKind::Disk { realpath, .. } => realpath.display().to_string(),
            _ => self.graph.nodes[n].name.clone(),
        }
    }

    /// The blockers of policy `p`, with `ext` the libraries it would bundle:
    /// symbol versions and ISA levels of the wheel's ELFs and those
    /// libraries, blacklisted symbols and Python ABI symbols of the wheel's
    /// ELFs; sorted, without duplicates.
    fn blockers(&self, p: &LinuxPolicy, ext: &BTreeMap<String, usize>) -> Vec<Blocker> {
        let (roots, arch) = (self.roots, self.arch);
        let elf_of = |n| self.elf_of(n);
        let label = |n| self.label(n);
        let isa = self.isa;
        let mut blockers = Vec::new();
        // symbol versions: wheel ELFs + every library that would be bundled
        let mut files: Vec<usize> = roots.to_vec();
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
            if isa && arch == "x86_64" {
                let level = crate::policy::linux::isa_level_from_bits(e.x86_isa_needed.unwrap_or(0));
                if level > 1 {
                    blockers.push(Blocker::Isa { file: label(f), level });
                }
            }
        }
        for &r in roots {
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
        blockers
    }
}
