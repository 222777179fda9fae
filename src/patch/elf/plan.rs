//! What an edit list asks of a file ([`Intent`]), and the writes that do it:
//! new dynamic entries, new strings and renamed `.gnu.version_r` files.

use super::grow::grow;
use super::strings::Strings;
use super::{invalid, unsupported, ElfEdits, Log, PatchError, RpathEdit, Writer};
use crate::binary::elf::{
    cstr_at, dynstr_range, verneed_records, Dynamic, ElfFile, ElfInfo, DT_NEEDED, DT_RPATH, DT_RUNPATH, DT_SONAME,
    DT_STRTAB,
};
use crate::bytes::lossy;

/// What the dynamic information must look like after the edits.
#[derive(Debug)]
pub(super) struct Intent {
    /// DT_NEEDED, in order.
    pub(super) needed: Vec<String>,
    /// DT_SONAME.
    pub(super) soname: Option<String>,
    /// DT_RPATH, split at `:`.
    pub(super) rpath: Vec<String>,
    /// DT_RUNPATH, split at `:`.
    pub(super) runpath: Vec<String>,
}

pub(super) fn check_edits(before: &ElfInfo, edits: &ElfEdits) -> Result<Intent, PatchError> {
    let bad_name = |s: &str| s.is_empty() || s.contains('\0');
    for r in &edits.remove_needed {
        if !before.needed.contains(r) {
            return Err(invalid(format!("cannot remove DT_NEEDED `{r}`: the file does not need it")));
        }
        if before.version_needs.iter().any(|v| &v.file == r) {
            return Err(invalid(format!("cannot remove DT_NEEDED `{r}`: symbol versions are still needed from it")));
        }
    }
    for (old, new) in &edits.replace_needed {
        if !before.needed.contains(old) {
            return Err(invalid(format!("cannot replace DT_NEEDED `{old}`: the file does not need it")));
        }
        if edits.remove_needed.contains(old) {
            return Err(invalid(format!("DT_NEEDED `{old}` is both removed and replaced")));
        }
        if bad_name(new) {
            return Err(invalid(format!("bad replacement name `{}` for `{old}`", new.escape_debug())));
        }
        if edits.replace_needed.iter().filter(|(o, _)| o == old).count() > 1 {
            return Err(invalid(format!("DT_NEEDED `{old}` is replaced twice")));
        }
    }
    if let Some(s) = &edits.set_soname {
        if bad_name(s) {
            return Err(invalid(format!("bad SONAME `{}`", s.escape_debug())));
        }
    }
    let renamed = |n: &String| edits.replace_needed.iter().find(|(o, _)| o == n).map_or(n.clone(), |(_, m)| m.clone());
    let needed = before.needed.iter().filter(|n| !edits.remove_needed.contains(n)).map(renamed).collect();
    let split = |v: &str| v.split(':').map(str::to_owned).collect::<Vec<_>>();
    let (rpath, runpath) = match &edits.rpath {
        None => (before.rpath.clone(), before.runpath.clone()),
        Some(RpathEdit::Remove) => (Vec::new(), Vec::new()),
        Some(RpathEdit::SetRpath(v)) => (split(v), Vec::new()),
        Some(RpathEdit::SetRunpath(v)) => (Vec::new(), split(v)),
    };
    if let Some(RpathEdit::SetRpath(v) | RpathEdit::SetRunpath(v)) = &edits.rpath {
        if v.contains('\0') {
            return Err(invalid("search path contains a NUL byte"));
        }
    }
    Ok(Intent { needed, soname: edits.set_soname.clone().or_else(|| before.soname.clone()), rpath, runpath })
}

/// Logs the writes of `edits` into `log`.
pub(super) fn plan_writes(
    f: &ElfFile<'_>,
    dynamic: &Dynamic,
    edits: &ElfEdits,
    log: &mut Log,
) -> Result<(), PatchError> {
    let (stroff, strsz) = dynstr_range(f, dynamic)?;
    let strtab_vaddr = dynamic.get(DT_STRTAB).unwrap_or(0);
    if f.vaddr_to_offset(strtab_vaddr.saturating_add(strsz.saturating_sub(1))).is_none() {
        return Err(unsupported("DT_STRTAB is not inside one PT_LOAD"));
    }
    let mut strings = Strings { old: f.range(stroff, strsz)?, tail: Vec::new() };
    let name_of = |v: u64| cstr_at(strings.old, v).map(lossy);

    // The new dynamic entries, in the old order.
    let mut entries: Vec<(i64, u64)> = Vec::with_capacity(dynamic.entries.len() + 2);
    let (mut soname_done, mut path_done) = (false, false);
    for &(tag, val) in &dynamic.entries {
        match tag {
            DT_NEEDED => {
                let name = name_of(val).unwrap_or_default();
                if edits.remove_needed.contains(&name) {
                    continue;
                }
                match edits.replace_needed.iter().find(|(o, _)| *o == name) {
                    Some((_, new)) => entries.push((tag, strings.intern(new)?)),
                    None => entries.push((tag, val)),
                }
            }
            DT_SONAME => match &edits.set_soname {
                Some(s) if !soname_done => {
                    entries.push((tag, strings.intern(s)?));
                    soname_done = true;
                }
                Some(_) => {}
                None => entries.push((tag, val)),
            },
            DT_RPATH | DT_RUNPATH => match &edits.rpath {
                None => entries.push((tag, val)),
                Some(RpathEdit::Remove) => {}
                Some(RpathEdit::SetRpath(v)) | Some(RpathEdit::SetRunpath(v)) => {
                    if !path_done {
                        let t = if matches!(edits.rpath, Some(RpathEdit::SetRpath(_))) { DT_RPATH } else { DT_RUNPATH };
                        entries.push((t, strings.intern(v)?));
                        path_done = true;
                    }
                }
            },
            _ => entries.push((tag, val)),
        }
    }
    if let (Some(s), false) = (&edits.set_soname, soname_done) {
        entries.push((DT_SONAME, strings.intern(s)?));
    }
    if let (Some(RpathEdit::SetRpath(v) | RpathEdit::SetRunpath(v)), false) = (&edits.rpath, path_done) {
        let t = if matches!(edits.rpath, Some(RpathEdit::SetRpath(_))) { DT_RPATH } else { DT_RUNPATH };
        entries.push((t, strings.intern(v)?));
    }

    // `.gnu.version_r` file names follow the renamed DT_NEEDED entries.
    let mut vn_files = Vec::new();
    for rec in verneed_records(f, dynamic)? {
        let name = name_of(u64::from(rec.vn_file)).unwrap_or_default();
        if let Some((_, new)) = edits.replace_needed.iter().find(|(o, _)| *o == name) {
            let off = u32::try_from(strings.intern(new)?).map_err(|_| unsupported("string table larger than 4 GiB"))?;
            vn_files.push((rec.offset, off));
        }
    }

    let grew = !strings.tail.is_empty();
    let fits = (entries.len() as u64) < dynamic.slots; // room for the entries and a DT_NULL
    let mut w = Writer::new(log, f.is64, f.big);
    let pt_dyn = f.phdrs.get(dynamic.phdr_index).copied().unwrap_or_default();
    if !grew && fits {
        for &(off, name) in &vn_files {
            w.u32(off + 4, name)?;
        }
        w.dynamic(pt_dyn.p_offset, &entries, dynamic.slots)?;
    } else {
        // `.gnu.version_r` may move with the sections after the program headers
        grow(f, dynamic, &mut w, (&mut entries, &mut vn_files), &strings, fits, stroff)?;
    }
    Ok(())
}
