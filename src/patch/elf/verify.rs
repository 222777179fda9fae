//! The checks every rewrite passes before it is returned: the dynamic
//! information says what was asked, and the PT_LOAD layout breaks no rule
//! the input did not already break.

use std::collections::BTreeSet;

use super::plan::Intent;
use super::{page_size, PatchError};
use crate::binary::elf::{parse, parse_partial, ElfFile, ElfInfo, Partial, Phdr, PT_LOAD};

/// PT_LOAD layout problems, described by address so that an input and its
/// rewrite can be compared.
pub fn layout_violations(data: &[u8]) -> Result<BTreeSet<String>, PatchError> {
    Ok(violations_of(&ElfFile::parse(data)?, data.len() as u64))
}

/// [`layout_violations`] of a file already parsed, `len` bytes long.
pub(super) fn violations_of(f: &ElfFile<'_>, len: u64) -> BTreeSet<String> {
    let page = page_size(f.e_machine);
    let mut v = BTreeSet::new();
    let loads: Vec<&Phdr> = f.phdrs.iter().filter(|p| p.p_type == PT_LOAD).collect();
    for p in &loads {
        if p.p_align % page != 0 {
            v.insert(format!(
                "PT_LOAD at {:#x}: p_align {:#x} is not a multiple of the page size",
                p.p_vaddr, p.p_align
            ));
        }
        let delta = p.p_vaddr.wrapping_sub(p.p_offset);
        if p.p_align > 1 && delta % p.p_align != 0 {
            v.insert(format!("PT_LOAD at {:#x}: p_vaddr and p_offset differ modulo p_align", p.p_vaddr));
        }
        if delta % page != 0 {
            v.insert(format!("PT_LOAD at {:#x}: p_vaddr and p_offset differ modulo the page size", p.p_vaddr));
        }
        if p.p_filesz > p.p_memsz {
            v.insert(format!("PT_LOAD at {:#x}: p_filesz larger than p_memsz", p.p_vaddr));
        }
        if p.p_offset.checked_add(p.p_filesz).is_none_or(|e| e > len) {
            v.insert(format!("PT_LOAD at {:#x}: file range past the end", p.p_vaddr));
        }
    }
    for pair in loads.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if b.p_vaddr < a.p_vaddr {
            v.insert(format!("PT_LOAD at {:#x} comes after PT_LOAD at {:#x}", b.p_vaddr, a.p_vaddr));
            continue;
        }
        let a_end_page = a.p_vaddr.saturating_add(a.p_memsz).saturating_add(page - 1) / page;
        if a_end_page > b.p_vaddr / page {
            v.insert(format!("PT_LOAD at {:#x} shares a memory page with PT_LOAD at {:#x}", b.p_vaddr, a.p_vaddr));
        }
        if a.p_offset.saturating_add(a.p_filesz) > b.p_offset && b.p_filesz > 0 {
            v.insert(format!("PT_LOAD at {:#x} overlaps PT_LOAD at {:#x} in the file", b.p_vaddr, a.p_vaddr));
        }
    }
    v
}

pub(super) fn verify(
    old_violations: &BTreeSet<String>,
    output: &[u8],
    before: &ElfInfo,
    intent: &Intent,
) -> Result<(), PatchError> {
    verify_partial(old_violations, output, None, before, intent).map(|_| ())
}

/// [`verify`] of an output of which only the ranges `read` hold its bytes
/// (all of it when `None`); `Ok(false)` when the checks needed anything else.
pub(super) fn verify_partial(
    old_violations: &BTreeSet<String>,
    output: &[u8],
    read: Option<&[(u64, u64)]>,
    before: &ElfInfo,
    intent: &Intent,
) -> Result<bool, PatchError> {
    let fail = |m: String| PatchError::Verify(m);
    let parsed = match read {
        None => Some(parse(output)),
        Some(read) => parse_partial(output, read),
    };
    let Some(parsed) = parsed else { return Ok(false) };
    let after = parsed.map_err(|e| fail(format!("output does not parse: {e}")))?;
    if after.needed != intent.needed {
        return Err(fail(format!("DT_NEEDED is {:?}, expected {:?}", after.needed, intent.needed)));
    }
    if after.soname != intent.soname {
        return Err(fail(format!("DT_SONAME is {:?}, expected {:?}", after.soname, intent.soname)));
    }
    if after.rpath != intent.rpath || after.runpath != intent.runpath {
        return Err(fail(format!(
            "RPATH/RUNPATH are {:?}/{:?}, expected {:?}/{:?}",
            after.rpath, after.runpath, intent.rpath, intent.runpath
        )));
    }
    if let Some(v) = after.version_needs.iter().find(|v| !after.needed.contains(&v.file)) {
        return Err(fail(format!("verneed file `{}` is not a DT_NEEDED", v.file)));
    }
    let versions = |i: &ElfInfo| i.version_needs.iter().map(|v| v.versions.clone()).collect::<Vec<_>>();
    if versions(&after) != versions(before)
        || after.imported_symbols != before.imported_symbols
        || after.py_init != before.py_init
        || after.interp != before.interp
        || after.x86_isa_needed != before.x86_isa_needed
    {
        return Err(fail("symbols, versions or notes changed".into()));
    }
    let missing = std::cell::Cell::new(false);
    let partial = read.map(|read| Partial { read, missing: &missing });
    let file = ElfFile::parse_with(output, partial);
    if missing.get() {
        return Ok(false);
    }
    let new = violations_of(&file.map_err(|e| fail(PatchError::from(e).to_string()))?, output.len() as u64);
    if let Some(v) = new.difference(old_violations).next() {
        return Err(fail(v.clone()));
    }
    Ok(true)
}
