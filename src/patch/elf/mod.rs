//! Native ELF rewriter (replaces patchelf): DT_NEEDED, DT_SONAME, DT_RPATH,
//! `.gnu.version_r` file names.
//!
//! Strategy: strings are only ever added. The old `.dynstr` bytes are kept
//! and new strings appended to a copy placed, with `.dynamic` when it must
//! grow, in one new PT_LOAD at the end of the file; existing offsets stay
//! valid, nothing else moves.
//!
//! The slot for the new program header is, in order of preference: a PT_NULL
//! entry, free zero bytes right after the program header table, a PT_NOTE
//! that carries only a build-id or ABI tag (never one with a GNU property
//! note), and, for shared libraries without PT_INTERP, a relocated program
//! header table at the start of the new segment. When no string is added and
//! `.dynamic` has room, the file is edited in place and keeps its size.
//!
//! Every output is re-parsed and checked before it is returned: the dynamic
//! information must say what was asked, every `vn_file` must name a
//! DT_NEEDED and the PT_LOAD layout must follow the rules of glibc before
//! 2.35 (sorted, page-multiple `p_align`, `p_vaddr ≡ p_offset (mod p_align)`,
//! no shared memory page).

mod strip;

use std::collections::BTreeSet;

use super::PatchError;
use crate::binary::elf::{
    cstr_at, dynstr_range, notes, parse, verneed_records, Dynamic, ElfFile, ElfInfo, Phdr, DT_NEEDED, DT_NULL,
    DT_RPATH, DT_RUNPATH, DT_SONAME, DT_STRSZ, DT_STRTAB, EM_MIPS, ET_DYN, PT_INTERP, PT_LOAD, PT_NOTE, PT_NULL,
    PT_PHDR,
};
pub use strip::strip;

/// What to do with the search path of an ELF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpathEdit {
    /// Remove DT_RPATH and DT_RUNPATH.
    Remove,
    /// Set DT_RPATH to this `:`-separated value, removing any DT_RUNPATH.
    SetRpath(String),
    /// Set DT_RUNPATH to this value, removing any DT_RPATH.
    SetRunpath(String),
}

/// All edits to one ELF file, applied together, in field order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ElfEdits {
    /// DT_SONAME to set (added when absent).
    pub set_soname: Option<String>,
    /// DT_NEEDED entries to remove (e.g. libpython).
    pub remove_needed: Vec<String>,
    /// DT_NEEDED `(old, new)` renames; the matching `vn_file` of
    /// `.gnu.version_r` is renamed too.
    pub replace_needed: Vec<(String, String)>,
    /// The search path edit.
    pub rpath: Option<RpathEdit>,
}

impl ElfEdits {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.set_soname.is_none()
            && self.remove_needed.is_empty()
            && self.replace_needed.is_empty()
            && self.rpath.is_none()
    }
}

const SHT_STRTAB: u32 = 3;
const SHT_DYNAMIC: u32 = 6;
const NT_GNU_ABI_TAG: u32 = 1;
const NT_GNU_BUILD_ID: u32 = 3;

/// The page size the loader may use for `machine`: the largest page size of
/// the architecture (64 KiB on aarch64, ppc, ppc64, mips, loongarch, ia64
/// and alpha; 8 KiB on sparc; 4 KiB elsewhere).
pub fn page_size(machine: u16) -> u64 {
    match machine {
        // EM_MIPS, EM_PPC, EM_PPC64, EM_IA_64, EM_AARCH64, EM_LOONGARCH, EM_ALPHA
        8 | 20 | 21 | 50 | 183 | 258 | 0x9026 => 0x10000,
        // EM_SPARC, EM_SPARCV9
        2 | 43 => 0x2000,
        _ => 0x1000,
    }
}

fn unsupported(msg: impl Into<String>) -> PatchError {
    PatchError::Unsupported(msg.into())
}

fn invalid(msg: impl Into<String>) -> PatchError {
    PatchError::InvalidEdit(msg.into())
}

fn round_up(x: u64, align: u64) -> Option<u64> {
    if align <= 1 {
        return Some(x);
    }
    x.checked_add(align - 1).map(|v| v / align * align)
}

/// Endian- and class-aware writer into a [`Log`] of writes, made later in
/// one go ([`Log::write_into`]).
pub(crate) struct Writer<'b> {
    log: &'b mut Log,
    pub(crate) is64: bool,
    pub(crate) big: bool,
}

/// Writes worked out against a file, made later in one go: the new length
/// and, in order, each write's offset and bytes.
#[derive(Debug)]
pub(crate) struct Log {
    len: u64,
    writes: Vec<(u64, Vec<u8>)>,
}

impl Log {
    /// An empty log for a file of `len` bytes.
    pub(crate) fn new(len: u64) -> Self {
        Log { len, writes: Vec::new() }
    }

    /// Grows `buf` to the new length and makes the writes.
    pub(crate) fn write_into(&self, buf: &mut Vec<u8>) -> Result<(), PatchError> {
        let new_len = usize::try_from(self.len).map_err(|_| unsupported("file too large"))?;
        buf.resize(new_len.max(buf.len()), 0);
        for (off, bytes) in &self.writes {
            let s = *off as usize; // within the length, checked when logged
            buf[s..s + bytes.len()].copy_from_slice(bytes);
        }
        Ok(())
    }
}

impl<'b> Writer<'b> {
    /// A writer into `log`.
    pub(crate) fn new(log: &'b mut Log, is64: bool, big: bool) -> Self {
        Writer { log, is64, big }
    }

    /// The length of the file being written.
    fn len(&self) -> u64 {
        self.log.len
    }

    /// Grows the file to `len` bytes, the new ones zero.
    fn grow_to(&mut self, len: u64) -> Result<(), PatchError> {
        usize::try_from(len).map_err(|_| unsupported("file too large"))?;
        self.log.len = self.log.len.max(len);
        Ok(())
    }

    fn put(&mut self, off: u64, bytes: &[u8]) -> Result<(), PatchError> {
        let end = off.checked_add(bytes.len() as u64).ok_or_else(|| unsupported("offset too large"))?;
        if end > self.log.len {
            return Err(unsupported(format!("write at {off:#x} is past the end")));
        }
        self.log.writes.push((off, bytes.to_vec()));
        Ok(())
    }

    pub(crate) fn u16(&mut self, off: u64, v: u16) -> Result<(), PatchError> {
        let b = if self.big { v.to_be_bytes() } else { v.to_le_bytes() };
        self.put(off, &b)
    }

    pub(crate) fn u32(&mut self, off: u64, v: u32) -> Result<(), PatchError> {
        let b = if self.big { v.to_be_bytes() } else { v.to_le_bytes() };
        self.put(off, &b)
    }

    pub(crate) fn u64(&mut self, off: u64, v: u64) -> Result<(), PatchError> {
        let b = if self.big { v.to_be_bytes() } else { v.to_le_bytes() };
        self.put(off, &b)
    }

    /// Writes an address-sized word; fails when a 32-bit file gets a value
    /// that does not fit.
    pub(crate) fn word(&mut self, off: u64, v: u64) -> Result<(), PatchError> {
        if self.is64 {
            self.u64(off, v)
        } else {
            let v = u32::try_from(v).map_err(|_| unsupported(format!("value {v:#x} does not fit a 32-bit ELF")))?;
            self.u32(off, v)
        }
    }

    pub(crate) fn phdr(&mut self, off: u64, p: &Phdr) -> Result<(), PatchError> {
        if self.is64 {
            self.u32(off, p.p_type)?;
            self.u32(off + 4, p.p_flags)?;
            self.u64(off + 8, p.p_offset)?;
            self.u64(off + 16, p.p_vaddr)?;
            self.u64(off + 24, p.p_paddr)?;
            self.u64(off + 32, p.p_filesz)?;
            self.u64(off + 40, p.p_memsz)?;
            self.u64(off + 48, p.p_align)
        } else {
            self.u32(off, p.p_type)?;
            self.word(off + 4, p.p_offset)?;
            self.word(off + 8, p.p_vaddr)?;
            self.word(off + 12, p.p_paddr)?;
            self.word(off + 16, p.p_filesz)?;
            self.word(off + 20, p.p_memsz)?;
            self.u32(off + 24, p.p_flags)?;
            self.word(off + 28, p.p_align)
        }
    }

    pub(crate) fn shdr(&mut self, off: u64, s: &crate::binary::elf::Shdr) -> Result<(), PatchError> {
        self.u32(off, s.sh_name)?;
        self.u32(off + 4, s.sh_type)?;
        if self.is64 {
            self.u64(off + 8, s.sh_flags)?;
            self.u64(off + 16, s.sh_addr)?;
            self.u64(off + 24, s.sh_offset)?;
            self.u64(off + 32, s.sh_size)?;
            self.u32(off + 40, s.sh_link)?;
            self.u32(off + 44, s.sh_info)?;
            self.u64(off + 48, s.sh_addralign)?;
            self.u64(off + 56, s.sh_entsize)
        } else {
            self.word(off + 8, s.sh_flags)?;
            self.word(off + 12, s.sh_addr)?;
            self.word(off + 16, s.sh_offset)?;
            self.word(off + 20, s.sh_size)?;
            self.u32(off + 24, s.sh_link)?;
            self.u32(off + 28, s.sh_info)?;
            self.word(off + 32, s.sh_addralign)?;
            self.word(off + 36, s.sh_entsize)
        }
    }

    /// Rewrites `sh_addr`, `sh_offset` and `sh_size` of the section header at `off`.
    pub(crate) fn shdr_place(&mut self, off: u64, addr: u64, offset: u64, size: u64) -> Result<(), PatchError> {
        if self.is64 {
            self.u64(off + 16, addr)?;
            self.u64(off + 24, offset)?;
            self.u64(off + 32, size)
        } else {
            self.word(off + 12, addr)?;
            self.word(off + 16, offset)?;
            self.word(off + 20, size)
        }
    }

    fn dyn_entry(&mut self, off: u64, tag: i64, val: u64) -> Result<(), PatchError> {
        if self.is64 {
            self.u64(off, tag as u64)?;
            self.u64(off + 8, val)
        } else {
            let t = i32::try_from(tag).map_err(|_| unsupported(format!("dynamic tag {tag:#x} in a 32-bit ELF")))?;
            self.u32(off, t as u32)?;
            self.word(off + 4, val)
        }
    }

    fn set_phnum(&mut self, phoff: u64, phnum: u16) -> Result<(), PatchError> {
        if self.is64 {
            self.u64(32, phoff)?;
            self.u16(56, phnum)
        } else {
            self.word(28, phoff)?;
            self.u16(44, phnum)
        }
    }
}

/// The dynamic string table being extended: old bytes are never changed.
struct Strings<'a> {
    old: &'a [u8],
    tail: Vec<u8>,
}

impl Strings<'_> {
    /// The offset of `s`: an existing NUL-terminated occurrence (a suffix
    /// of a longer string counts) or a newly appended copy.
    fn intern(&mut self, s: &str) -> Result<u64, PatchError> {
        if s.as_bytes().contains(&0) {
            return Err(invalid(format!("`{}` contains a NUL byte", s.escape_debug())));
        }
        let mut needle = Vec::with_capacity(s.len() + 1);
        needle.extend_from_slice(s.as_bytes());
        needle.push(0);
        if let Some(i) = memchr::memmem::find(self.old, &needle) {
            return Ok(i as u64);
        }
        if let Some(i) = memchr::memmem::find(&self.tail, &needle) {
            return Ok((self.old.len() + i) as u64);
        }
        let at = (self.old.len() + self.tail.len()) as u64;
        self.tail.extend_from_slice(&needle);
        Ok(at)
    }
}

/// Where the program header of the new PT_LOAD goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Reuse the PT_NULL entry at this index.
    Null(usize),
    /// Grow the table into free bytes right after it.
    AfterTable,
    /// Reuse the build-id/ABI-tag PT_NOTE at this index.
    Note(usize),
    /// Move the table to the start of the new segment.
    Relocate,
}

fn find_slot(f: &ElfFile<'_>) -> Option<Slot> {
    if let Some(i) = f.phdrs.iter().position(|p| p.p_type == PT_NULL) {
        return Some(Slot::Null(i));
    }
    if free_after_table(f) {
        return Some(Slot::AfterTable);
    }
    for (i, p) in f.phdrs.iter().enumerate() {
        if p.p_type != PT_NOTE {
            continue;
        }
        let Ok(bytes) = f.range(p.p_offset, p.p_filesz) else { continue };
        let align = if p.p_align == 8 { 8 } else { 4 };
        let list = notes(f, bytes, align);
        let harmless = !list.is_empty()
            && list.iter().all(|(n, t, _)| *n == b"GNU" && (*t == NT_GNU_BUILD_ID || *t == NT_GNU_ABI_TAG));
        if harmless {
            return Some(Slot::Note(i));
        }
    }
    let has_interp = f.phdrs.iter().any(|p| p.p_type == PT_INTERP);
    (f.e_type == ET_DYN && !has_interp).then_some(Slot::Relocate)
}

/// True when one more program header fits right after the table: the bytes
/// are zero, inside the PT_LOAD that maps the table, and no section or
/// other segment claims them.
fn free_after_table(f: &ElfFile<'_>) -> bool {
    if f.shdrs.is_empty() || f.phdrs.len() >= 0xfff0 {
        return false;
    }
    let size = f.phdr_size();
    let Some(start) = (f.phdrs.len() as u64).checked_mul(size).and_then(|n| n.checked_add(f.e_phoff)) else {
        return false;
    };
    let end = start + size;
    match f.range(start, size) {
        Ok(b) if b.iter().all(|x| *x == 0) => {}
        _ => return false,
    }
    let overlaps = |off: u64, len: u64| len > 0 && off < end && start < off.saturating_add(len);
    let in_load = f
        .phdrs
        .iter()
        .any(|p| p.p_type == PT_LOAD && p.p_offset <= f.e_phoff && end <= p.p_offset.saturating_add(p.p_filesz));
    let section_clash = f.shdrs.iter().skip(1).any(|s| s.sh_type != 8 && overlaps(s.sh_offset, s.sh_size));
    let segment_clash =
        f.phdrs.iter().any(|p| p.p_type != PT_LOAD && p.p_type != PT_PHDR && overlaps(p.p_offset, p.p_filesz));
    in_load && !section_clash && !segment_clash
}

/// What the dynamic information must look like after the edits.
#[derive(Debug)]
struct Intent {
    needed: Vec<String>,
    soname: Option<String>,
    rpath: Vec<String>,
    runpath: Vec<String>,
}

fn check_edits(before: &ElfInfo, edits: &ElfEdits) -> Result<Intent, PatchError> {
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

/// Applies `edits` to the ELF file `data` and returns the new file, after
/// re-parsing it and checking that the edits took effect and the PT_LOAD
/// rules hold (sorted, `p_vaddr ≡ p_offset (mod p_align)`, page-aligned `p_align`).
pub fn apply(data: &[u8], edits: &ElfEdits) -> Result<Vec<u8>, PatchError> {
    let patch = ElfPatch::new(data, edits)?;
    let mut out = Vec::with_capacity(usize::try_from(patch.new_len()).unwrap_or(0).max(data.len()));
    out.extend_from_slice(data);
    patch.write_into(&mut out)?;
    Ok(out)
}

/// The edits to one ELF file, worked out against its bytes and ready to be
/// written into them in place ([`ElfPatch::write_into`]), so that a large file
/// is not copied: what [`apply`] does on a copy.
#[derive(Debug)]
pub struct ElfPatch {
    old_len: u64,
    log: Log,
    check: Option<(ElfInfo, Intent, BTreeSet<String>)>,
}

impl ElfPatch {
    /// Works out the writes `edits` need in `data`, checking the edits.
    pub fn new(data: &[u8], edits: &ElfEdits) -> Result<ElfPatch, PatchError> {
        let old_len = data.len() as u64;
        let f = ElfFile::parse(data)?;
        if f.e_machine == EM_MIPS {
            return Err(unsupported("MIPS files are not rewritten (MIPS-specific dynamic tags)"));
        }
        let dynamic = f.dynamic()?.ok_or_else(|| unsupported("no PT_DYNAMIC (static executable or object file)"))?;
        let before = parse(data)?;
        let intent = check_edits(&before, edits)?;
        let mut log = Log::new(old_len);
        if edits.is_empty() {
            return Ok(ElfPatch { old_len, log, check: None });
        }
        plan_writes(&f, &dynamic, edits, &mut log)?;
        let violations = violations_of(&f, old_len);
        Ok(ElfPatch { old_len, log, check: Some((before, intent, violations)) })
    }

    /// The length of the file once written.
    pub fn new_len(&self) -> u64 {
        self.log.len
    }

    /// The byte ranges `[start, end)` the patch writes to, in the order it
    /// writes them; bytes past the old length are new as well.
    pub fn written(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.log.writes.iter().map(|(off, b)| (*off, off + b.len() as u64))
    }

    /// Writes the patch into `buf`, which must hold the bytes it was worked
    /// out against, then re-parses the result and checks that the edits took
    /// effect and the PT_LOAD rules hold. On an error `buf` may be half
    /// written: its bytes are not to be used.
    pub fn write_into(self, buf: &mut Vec<u8>) -> Result<(), PatchError> {
        if buf.len() as u64 != self.old_len {
            return Err(invalid("the patch was worked out for a file of another length"));
        }
        let Some((before, intent, old_violations)) = self.check else {
            return Ok(());
        };
        self.log.write_into(buf)?;
        verify(&old_violations, buf, &before, &intent)
    }
}

/// Logs the writes of `edits` into `log`.
fn plan_writes(f: &ElfFile<'_>, dynamic: &Dynamic, edits: &ElfEdits, log: &mut Log) -> Result<(), PatchError> {
    let (stroff, strsz) = dynstr_range(f, dynamic)?;
    let strtab_vaddr = dynamic.get(DT_STRTAB).unwrap_or(0);
    if f.vaddr_to_offset(strtab_vaddr.saturating_add(strsz.saturating_sub(1))).is_none() {
        return Err(unsupported("DT_STRTAB is not inside one PT_LOAD"));
    }
    let mut strings = Strings { old: f.range(stroff, strsz)?, tail: Vec::new() };
    let name_of = |v: u64| cstr_at(strings.old, v).map(|b| String::from_utf8_lossy(b).into_owned());

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
    for &(off, name) in &vn_files {
        w.u32(off + 4, name)?;
    }
    let pt_dyn = f.phdrs.get(dynamic.phdr_index).copied().unwrap_or_default();
    if !grew && fits {
        write_dynamic(&mut w, pt_dyn.p_offset, &entries, dynamic.slots)?;
    } else {
        grow(f, dynamic, &mut w, &mut entries, &strings, fits, stroff)?;
    }
    Ok(())
}

fn write_dynamic(w: &mut Writer<'_>, off: u64, entries: &[(i64, u64)], slots: u64) -> Result<(), PatchError> {
    let size = if w.is64 { 16 } else { 8 };
    for (i, &(tag, val)) in entries.iter().enumerate() {
        w.dyn_entry(off + i as u64 * size, tag, val)?;
    }
    for i in entries.len() as u64..slots {
        w.dyn_entry(off + i * size, DT_NULL, 0)?;
    }
    Ok(())
}

/// Adds the new PT_LOAD with the extended string table and, when it does
/// not fit in place, `.dynamic`.
fn grow(
    f: &ElfFile<'_>,
    dynamic: &Dynamic,
    w: &mut Writer<'_>,
    entries: &mut [(i64, u64)],
    strings: &Strings<'_>,
    fits: bool,
    old_stroff: u64,
) -> Result<(), PatchError> {
    let page = page_size(f.e_machine);
    let loads: Vec<&Phdr> = f.phdrs.iter().filter(|p| p.p_type == PT_LOAD).collect();
    if loads.is_empty() {
        return Err(unsupported("no PT_LOAD"));
    }
    let max_align = loads.iter().map(|p| p.p_align).max().unwrap_or(0);
    if max_align > 1 << 30 || (max_align > 1 && !max_align.is_power_of_two()) {
        return Err(unsupported(format!("PT_LOAD alignment {max_align:#x} is not a sane power of two")));
    }
    let align = max_align.max(page);
    let mem_end = loads
        .iter()
        .map(|p| p.p_vaddr.checked_add(p.p_memsz))
        .try_fold(0u64, |m, e| e.map(|e| m.max(e)))
        .ok_or_else(|| unsupported("PT_LOAD end overflows"))?;
    let slot = find_slot(f).ok_or_else(|| PatchError::NoRoom {
        what: "program header for the new segment".into(),
        need: f.phdr_size(),
        have: 0,
        hint: "the file has no PT_NULL entry, no free space after its program headers and no build-id note to reuse"
            .into(),
    })?;
    let phsize = f.phdr_size();
    let dsize = f.dyn_size();
    let word = if f.is64 { 8 } else { 4 };

    // Lay out the new segment: [program headers][.dynstr][.dynamic].
    let mut seg_len = 0u64;
    let pht_new_count = f.phdrs.len() as u64 + if matches!(slot, Slot::AfterTable | Slot::Relocate) { 1 } else { 0 };
    if slot == Slot::Relocate {
        seg_len = pht_new_count * phsize;
    }
    let grew = !strings.tail.is_empty();
    let str_at = seg_len;
    let str_len = (strings.old.len() + strings.tail.len()) as u64;
    if grew {
        seg_len += str_len;
    }
    let dyn_at = round_up(seg_len, word).unwrap_or(seg_len);
    let dyn_len = (entries.len() as u64 + 1) * dsize;
    if !fits {
        seg_len = dyn_at + dyn_len;
    }
    let file_align = if slot == Slot::Relocate { page } else { 16 };
    let off = round_up(w.len(), file_align).ok_or_else(|| unsupported("file too large"))?;
    let vaddr = round_up(mem_end, align)
        .and_then(|v| v.checked_add(off % align))
        .ok_or_else(|| unsupported("address space overflows"))?;
    if !f.is64 && vaddr.checked_add(seg_len).is_none_or(|e| e > u64::from(u32::MAX)) {
        return Err(unsupported("no room in the 32-bit address space"));
    }
    w.grow_to(off + seg_len)?;

    // Contents.
    if grew {
        w.put(off + str_at, strings.old)?;
        w.put(off + str_at + strings.old.len() as u64, &strings.tail)?;
        for e in entries.iter_mut() {
            match e.0 {
                DT_STRTAB => e.1 = vaddr + str_at,
                DT_STRSZ => e.1 = str_len,
                _ => {}
            }
        }
    }
    let pt_dyn = f.phdrs.get(dynamic.phdr_index).copied().unwrap_or_default();
    if fits {
        write_dynamic(w, pt_dyn.p_offset, entries, dynamic.slots)?;
    } else {
        write_dynamic(w, off + dyn_at, entries, entries.len() as u64 + 1)?;
    }

    // Section headers of `.dynstr` and `.dynamic` follow their contents.
    let strtab_vaddr = dynamic.get(DT_STRTAB).unwrap_or(0);
    for (i, sh) in f.shdrs.iter().enumerate() {
        let at = f.e_shoff + i as u64 * f.shdr_size();
        if grew && sh.sh_type == SHT_STRTAB && sh.sh_addr == strtab_vaddr && sh.sh_offset == old_stroff {
            w.shdr_place(at, vaddr + str_at, off + str_at, str_len)?;
        }
        if !fits && sh.sh_type == SHT_DYNAMIC && sh.sh_offset == pt_dyn.p_offset {
            w.shdr_place(at, vaddr + dyn_at, off + dyn_at, dyn_len)?;
        }
    }

    // Program headers.
    let mut phdrs = f.phdrs.clone();
    if !fits {
        if let Some(p) = phdrs.get_mut(dynamic.phdr_index) {
            p.p_offset = off + dyn_at;
            p.p_vaddr = vaddr + dyn_at;
            p.p_paddr = vaddr + dyn_at;
            p.p_filesz = dyn_len;
            p.p_memsz = dyn_len;
        }
    }
    let phoff = if slot == Slot::Relocate { off } else { f.e_phoff };
    if let Some(p) = phdrs.iter_mut().find(|p| p.p_type == PT_PHDR) {
        match slot {
            Slot::Relocate => {
                p.p_offset = off;
                p.p_vaddr = vaddr;
                p.p_paddr = vaddr;
                p.p_filesz = pht_new_count * phsize;
                p.p_memsz = pht_new_count * phsize;
            }
            Slot::AfterTable => {
                p.p_filesz = pht_new_count * phsize;
                p.p_memsz = pht_new_count * phsize;
            }
            _ => {}
        }
    }
    if let Slot::Null(i) | Slot::Note(i) = slot {
        phdrs.remove(i);
    }
    let writable = !fits;
    let new_load = Phdr {
        p_type: PT_LOAD,
        p_flags: if writable { 4 | 2 } else { 4 },
        p_offset: off,
        p_vaddr: vaddr,
        p_paddr: vaddr,
        p_filesz: seg_len,
        p_memsz: seg_len,
        p_align: align,
    };
    let last_load = phdrs.iter().rposition(|p| p.p_type == PT_LOAD).unwrap_or(0);
    phdrs.insert(last_load + 1, new_load);
    let phnum = u16::try_from(phdrs.len()).map_err(|_| unsupported("too many program headers"))?;
    for (i, p) in phdrs.iter().enumerate() {
        w.phdr(phoff + i as u64 * phsize, p)?;
    }
    w.set_phnum(phoff, phnum)?;
    Ok(())
}

/// PT_LOAD layout problems, described by address so that an input and its
/// rewrite can be compared.
pub fn layout_violations(data: &[u8]) -> Result<BTreeSet<String>, PatchError> {
    Ok(violations_of(&ElfFile::parse(data)?, data.len() as u64))
}

/// [`layout_violations`] of a file already parsed, `len` bytes long.
fn violations_of(f: &ElfFile<'_>, len: u64) -> BTreeSet<String> {
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

fn verify(
    old_violations: &BTreeSet<String>,
    output: &[u8],
    before: &ElfInfo,
    intent: &Intent,
) -> Result<(), PatchError> {
    let fail = |m: String| PatchError::Verify(m);
    let after = parse(output).map_err(|e| fail(format!("output does not parse: {e}")))?;
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
    let new = layout_violations(output).map_err(|e| fail(e.to_string()))?;
    if let Some(v) = new.difference(old_violations).next() {
        return Err(fail(v.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: [&[u8]; 4] = [
        include_bytes!("../../../fixtures/elf/prebuilt/libsmall-s390x.so"),
        include_bytes!("../../../fixtures/elf/prebuilt/libsmall-i686.so"),
        include_bytes!("../../../fixtures/elf/prebuilt/libsmall-lld.so"),
        include_bytes!("../../../fixtures/elf/prebuilt/libsmall-patchelf.so"),
    ];

    fn all_edits() -> ElfEdits {
        ElfEdits {
            set_soname: Some("libsmall-0123abcd.so".into()),
            remove_needed: Vec::new(),
            replace_needed: vec![("libm.so.6".into(), "libm-0123abcd.so.6".into())],
            rpath: Some(RpathEdit::SetRpath("$ORIGIN/../x.libs".into())),
        }
    }

    #[test]
    fn fixtures_rewrite_and_verify() {
        for data in FIXTURES {
            let out = apply(data, &all_edits()).unwrap();
            assert!(layout_violations(&out).unwrap().is_empty());
            let info = parse(&out).unwrap();
            assert_eq!(info.needed[0], "libm-0123abcd.so.6");
            assert_eq!(info.rpath, ["$ORIGIN/../x.libs"]);
            // A second rewrite of a rewritten file works too.
            let again =
                apply(&out, &ElfEdits { rpath: Some(RpathEdit::SetRunpath("/opt/x".into())), ..Default::default() })
                    .unwrap();
            assert_eq!(parse(&again).unwrap().runpath, ["/opt/x"]);
            assert!(parse(&again).unwrap().rpath.is_empty());
            strip(&again).unwrap();
        }
    }

    #[test]
    fn a_patch_lists_every_byte_it_changes() {
        for data in FIXTURES {
            // one edit that grows the file, one made in place
            // (a suffix of an existing string needs no new string)
            let first = parse(data).unwrap().needed[0].clone();
            let suffix = first[3..].to_string();
            let in_place = ElfEdits { replace_needed: vec![(first, suffix)], ..Default::default() };
            for edits in [all_edits(), in_place] {
                let patch = ElfPatch::new(data, &edits).unwrap();
                let written: Vec<(u64, u64)> = patch.written().collect();
                let new_len = patch.new_len();
                let mut out = data.to_vec();
                patch.write_into(&mut out).unwrap();
                assert_eq!(out.len() as u64, new_len);
                assert_eq!(out, apply(data, &edits).unwrap());
                assert_eq!(new_len > data.len() as u64, edits.set_soname.is_some());
                let listed = |i: u64| written.iter().any(|&(s, e)| s <= i && i < e);
                let changed: Vec<u64> =
                    (0..data.len() as u64).filter(|&i| data[i as usize] != out[i as usize]).collect();
                assert!(!changed.is_empty());
                if let Some(i) = changed.iter().find(|&&i| !listed(i)) {
                    panic!("byte {i:#x} changed but no write covers it");
                }
            }
            // worked out for one file, it is not written into another
            let patch = ElfPatch::new(data, &all_edits()).unwrap();
            let mut other = data[..data.len() - 1].to_vec();
            assert!(matches!(patch.write_into(&mut other), Err(PatchError::InvalidEdit(_))));
        }
    }

    #[test]
    fn strings_are_appended_or_reused_never_overwritten() {
        let mut s = Strings { old: b"\0libm.so.6\0libc.so.6\0", tail: Vec::new() };
        assert_eq!(s.intern("libm.so.6").unwrap(), 1);
        assert_eq!(s.intern("c.so.6").unwrap(), 14); // a suffix of an existing string
        assert_eq!(s.intern("libz.so.1").unwrap(), 21);
        assert_eq!(s.intern("libz.so.1").unwrap(), 21);
        assert_eq!(s.tail, b"libz.so.1\0");
        assert!(s.intern("a\0b").is_err());
    }

    #[test]
    fn corrupted_inputs_never_panic() {
        let mut x = 11u64;
        let mut rnd = || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            x >> 33
        };
        for data in FIXTURES {
            for _ in 0..1500 {
                let mut d = data.to_vec();
                for _ in 0..1 + rnd() % 6 {
                    let at = (rnd() as usize) % d.len();
                    d[at] = rnd() as u8;
                }
                let _ = apply(&d, &all_edits());
                let _ = strip(&d);
            }
            for len in (0..data.len()).step_by(7) {
                let _ = apply(&data[..len], &all_edits());
                let _ = strip(&data[..len]);
            }
        }
    }
}
