//! Growing a file: the new PT_LOAD at its end that holds the extended
//! string table and, when it must move, `.dynamic`; and the slot for that
//! segment's program header.

use super::shift::{plan_shift, Shift};
use super::strings::Strings;
use super::{page_size, unsupported, PatchError, Writer};
use crate::binary::elf::{
    notes, Dynamic, ElfFile, Phdr, DT_STRSZ, DT_STRTAB, ET_DYN, PT_INTERP, PT_LOAD, PT_NOTE, PT_NULL, PT_PHDR,
};
use crate::bytes::align_up;

const SHT_STRTAB: u32 = 3;
const SHT_DYNAMIC: u32 = 6;
const NT_GNU_ABI_TAG: u32 = 1;
const NT_GNU_BUILD_ID: u32 = 3;

/// Where the program header of the new PT_LOAD goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    /// Reuse the PT_NULL entry at this index.
    Null(usize),
    /// Grow the table into free bytes right after it.
    AfterTable,
    /// Grow the table in place, moving the sections right after it into
    /// the new segment.
    Shift(Shift),
    /// Reuse the build-id/ABI-tag PT_NOTE at this index.
    Note(usize),
    /// Move the table to the start of the new segment.
    Relocate,
}

/// The slot for the new program header: a PT_NULL entry, free bytes after
/// the table, or (shared libraries) room made by moving the sections after
/// it. Only when none is possible (an executable, whose `.interp` follows
/// its table; a library without section headers), a PT_NOTE that holds
/// nothing but a build-id or ABI tag gives way, and last a library's table
/// moves to the new segment.
fn find_slot(f: &ElfFile<'_>, dynamic: &Dynamic) -> Option<Slot> {
    if let Some(i) = f.phdrs.iter().position(|p| p.p_type == PT_NULL) {
        return Some(Slot::Null(i));
    }
    if free_after_table(f) {
        return Some(Slot::AfterTable);
    }
    if let Some(shift) = plan_shift(f, dynamic) {
        return Some(Slot::Shift(shift));
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

/// The new segment: where it goes and what it holds,
/// `[program headers][.dynstr][.dynamic]`, each part only when it moves.
#[derive(Debug)]
struct NewSegment {
    /// Where its program header goes.
    slot: Slot,
    /// File offset.
    off: u64,
    /// Address.
    vaddr: u64,
    /// `p_align`.
    align: u64,
    /// Size, in the file and in memory.
    len: u64,
    /// Offset in the segment of the sections moved from after the program
    /// headers ([`Slot::Shift`]).
    moved_at: u64,
    /// Offset of the string table in the segment.
    str_at: u64,
    /// Size of the whole string table, old and new strings.
    str_len: u64,
    /// Offset of `.dynamic` in the segment.
    dyn_at: u64,
    /// Size of `.dynamic` with its entries and a DT_NULL.
    dyn_len: u64,
    /// Entries of the program header table once written.
    phnum: u64,
}

/// The new dynamic entries and the `vn_file` writes of `.gnu.version_r`
/// (record offset, new value).
pub(super) type DynamicEdits<'e> = (&'e mut [(i64, u64)], &'e mut [(u64, u32)]);

/// Adds the new PT_LOAD with the extended string table and, when it does
/// not fit in place, `.dynamic`. The `vn_file` writes are made here, since
/// the records may move with the sections after the program headers.
pub(super) fn grow(
    f: &ElfFile<'_>,
    dynamic: &Dynamic,
    w: &mut Writer<'_>,
    (entries, vn_files): DynamicEdits<'_>,
    strings: &Strings<'_>,
    fits: bool,
    old_stroff: u64,
) -> Result<(), PatchError> {
    let seg = lay_out(f, dynamic, w.len(), (entries.len(), strings), fits)?;
    let NewSegment { off, vaddr, str_at, str_len, dyn_at, dyn_len, .. } = seg;
    w.grow_to(off + seg.len)?;
    let grew = !strings.tail.is_empty();
    if grew {
        // the old string table is no longer used: its bytes are cleared
        // (before anything else is written, so that whatever moves there
        // stays), as patchelf does, so that a wheel does not compress every
        // name twice
        w.put(old_stroff, &vec![0; strings.old.len()])?;
    }
    if let Slot::Shift(shift) = &seg.slot {
        shift.apply(f, w, (off + seg.moved_at, vaddr + seg.moved_at), entries, vn_files)?;
    }
    for &(at, name) in vn_files.iter() {
        w.u32(at + 4, name)?;
    }

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
        w.dynamic(pt_dyn.p_offset, entries, dynamic.slots)?;
    } else {
        w.dynamic(off + dyn_at, entries, entries.len() as u64 + 1)?;
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
    write_program_headers(f, dynamic, w, &seg, fits)
}

/// Places the new segment after the file's `file_len` bytes and every
/// PT_LOAD's memory, for `entries` dynamic entries (written there unless
/// they `fit` in place) and the string table `strings`.
fn lay_out(
    f: &ElfFile<'_>,
    dynamic: &Dynamic,
    file_len: u64,
    (entries, strings): (usize, &Strings<'_>),
    fits: bool,
) -> Result<NewSegment, PatchError> {
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
    let slot = find_slot(f, dynamic).ok_or_else(|| PatchError::NoRoom {
        what: "program header for the new segment".into(),
        need: f.phdr_size(),
        have: 0,
        hint: "the file has no PT_NULL entry, no free space after its program headers and no build-id note to reuse"
            .into(),
    })?;
    let word = if f.is64 { 8 } else { 4 };

    // Lay out the new segment: [program headers][moved sections][.dynstr][.dynamic].
    let mut len = 0u64;
    let grows = matches!(slot, Slot::AfterTable | Slot::Relocate | Slot::Shift(_));
    let phnum = f.phdrs.len() as u64 + u64::from(grows);
    if slot == Slot::Relocate {
        len = phnum * f.phdr_size();
    }
    // the moved block keeps its offset modulo its alignment (the segment
    // starts aligned to it), so every section in it stays aligned
    let (moved_at, block_align) = match &slot {
        Slot::Shift(s) if s.end > s.start => (s.start % s.align.max(16), s.align.max(16)),
        _ => (0, 16),
    };
    if let Slot::Shift(s) = &slot {
        len = moved_at + (s.end - s.start);
    }
    let str_at = len;
    let str_len = (strings.old.len() + strings.tail.len()) as u64;
    if !strings.tail.is_empty() {
        len += str_len;
    }
    let dyn_at = align_up(len, word).unwrap_or(len);
    let dyn_len = (entries as u64 + 1) * f.dyn_size();
    if !fits {
        len = dyn_at + dyn_len;
    }
    let file_align = if slot == Slot::Relocate { page } else { block_align };
    let off = align_up(file_len, file_align).ok_or_else(|| unsupported("file too large"))?;
    let vaddr = align_up(mem_end, align)
        .and_then(|v| v.checked_add(off % align))
        .ok_or_else(|| unsupported("address space overflows"))?;
    if !f.is64 && vaddr.checked_add(len).is_none_or(|e| e > u64::from(u32::MAX)) {
        return Err(unsupported("no room in the 32-bit address space"));
    }
    Ok(NewSegment { slot, off, vaddr, align, len, moved_at, str_at, str_len, dyn_at, dyn_len, phnum })
}

/// Writes the program header table with the new PT_LOAD after the last
/// one, PT_DYNAMIC moved when `.dynamic` did not fit in place and PT_PHDR
/// following a grown or moved table.
fn write_program_headers(
    f: &ElfFile<'_>,
    dynamic: &Dynamic,
    w: &mut Writer<'_>,
    seg: &NewSegment,
    fits: bool,
) -> Result<(), PatchError> {
    let NewSegment { off, vaddr, dyn_at, dyn_len, .. } = *seg;
    let slot = &seg.slot;
    let phsize = f.phdr_size();
    let mut phdrs = f.phdrs.clone();
    if let Slot::Shift(shift) = slot {
        shift.move_segments(&mut phdrs, (off + seg.moved_at, vaddr + seg.moved_at));
    }
    if !fits {
        if let Some(p) = phdrs.get_mut(dynamic.phdr_index) {
            p.p_offset = off + dyn_at;
            p.p_vaddr = vaddr + dyn_at;
            p.p_paddr = vaddr + dyn_at;
            p.p_filesz = dyn_len;
            p.p_memsz = dyn_len;
        }
    }
    let phoff = if *slot == Slot::Relocate { off } else { f.e_phoff };
    if let Some(p) = phdrs.iter_mut().find(|p| p.p_type == PT_PHDR) {
        match slot {
            Slot::Relocate => {
                p.p_offset = off;
                p.p_vaddr = vaddr;
                p.p_paddr = vaddr;
                p.p_filesz = seg.phnum * phsize;
                p.p_memsz = seg.phnum * phsize;
            }
            Slot::AfterTable | Slot::Shift(_) => {
                p.p_filesz = seg.phnum * phsize;
                p.p_memsz = seg.phnum * phsize;
            }
            _ => {}
        }
    }
    if let Slot::Null(i) | Slot::Note(i) = *slot {
        phdrs.remove(i);
    }
    let writable = !fits;
    let new_load = Phdr {
        p_type: PT_LOAD,
        p_flags: if writable { 4 | 2 } else { 4 },
        p_offset: off,
        p_vaddr: vaddr,
        p_paddr: vaddr,
        p_filesz: seg.len,
        p_memsz: seg.len,
        p_align: seg.align,
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
