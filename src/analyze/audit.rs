//! Audits that hold whatever the platform tag: the Stable ABI an `abi3` or
//! `abi3t` tag promises, executable stacks, the link lint, and runtimes a
//! process must load once. They read the analysis only (and, for Mach-O and
//! PE extensions of a stable-ABI wheel, the symbols read by [`super::symbols`]).

use std::collections::BTreeMap;

use super::model::{Analysis, NodeKind};
use crate::binary::elf::ET_DYN;
use crate::binary::BinaryInfo;
use crate::policy::abi3::{self, Abi3Claim, Abi3Violation};
use crate::policy::blocker::Blocker;
use crate::policy::link::{self, LinkFinding};

/// `PF_X` of a program header.
const PF_X: u32 = 1;

/// What a Mach-O or PE extension imports, read from its bytes.
#[derive(Debug, Clone, Default)]
pub(super) struct Imports {
    /// Every imported symbol name (Mach-O: without the `_` prefix).
    pub symbols: Vec<String>,
    /// PE: the DLLs of one CPython version it imports from.
    pub versioned_dlls: Vec<String>,
}

/// The blockers of the Stable ABI claim: every extension with a
/// version-specific suffix, and every Python symbol an extension uses
/// outside what the claimed version offers. `imports` holds, by entry name,
/// what Mach-O and PE extensions import (ELF ones come from the parse).
pub(super) fn abi3_blockers(a: &Analysis, claim: &Abi3Claim, imports: &BTreeMap<String, Imports>) -> Vec<Blocker> {
    let claimed = format!("{}.{}", claim.version.0, claim.version.1);
    let mut out = Vec::new();
    for b in a.binaries.iter().filter(|b| b.is_extension) {
        if abi3::wrong_suffix(&b.path, &claim.abi) {
            out.push(Blocker::Abi3Suffix { file: b.path.clone(), abi: claim.abi.clone() });
        }
        let none = Imports::default();
        let own = imports.get(&b.path).unwrap_or(&none);
        for dll in &own.versioned_dlls {
            out.push(Blocker::Abi3Dll { file: b.path.clone(), dll: dll.clone() });
        }
        let used: Vec<&str> = match b.info.as_ref() {
            BinaryInfo::Elf(e) => e.imported_symbols.iter().map(String::as_str).collect(),
            _ => own.symbols.iter().map(String::as_str).collect(),
        };
        for v in abi3::audit(used, claim.version) {
            let (symbol, added) = match v {
                Abi3Violation::NotStable { symbol } => (symbol, None),
                Abi3Violation::TooNew { symbol, added } => (symbol, Some(format!("{}.{}", added.0, added.1))),
            };
            out.push(Blocker::Abi3 { file: b.path.clone(), symbol, added, claimed: claimed.clone() });
        }
    }
    out
}

/// Shared libraries of the wheel (and those a repair bundles) that ask for
/// an executable stack: no PT_GNU_STACK, or one with PF_X. Executables
/// (with PT_INTERP) are started, not loaded with `dlopen`, and are left alone.
pub(super) fn exec_stack_blockers(a: &Analysis) -> Vec<Blocker> {
    let mut files: Vec<usize> = (0..a.binaries.len()).collect();
    files.extend(a.to_bundle().into_iter().filter(|&n| n >= a.binaries.len()));
    let mut out = Vec::new();
    for n in files {
        let node = &a.graph.nodes[n];
        let Some(BinaryInfo::Elf(e)) = node.info.as_deref() else { continue };
        if e.elf_type != ET_DYN || e.interp.is_some() {
            continue;
        }
        let missing = e.stack_flags.is_none();
        if missing || e.stack_flags.is_some_and(|f| f & PF_X != 0) {
            let file = match &node.kind {
                NodeKind::Disk { realpath, .. } => realpath.display().to_string(),
                _ => node.name.clone(),
            };
            out.push(Blocker::ExecStack { file, missing });
        }
    }
    out
}

/// The link lint of every binary of the wheel, sorted.
pub(super) fn link_lint(a: &Analysis) -> Vec<LinkFinding> {
    let data = a.filename.data_dir();
    let mut out: Vec<LinkFinding> =
        a.binaries.iter().flat_map(|b| link::lint(&b.path, link::installed_path(&b.path, &data), &b.info)).collect();
    out.sort();
    out.dedup();
    out
}
