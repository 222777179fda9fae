//! Room for one more program header in place, as patchelf makes it for
//! shared libraries: the allocated sections that sit right after the program
//! header table (`.note.gnu.property`, `.note.gnu.build-id`, `.gnu.hash`,
//! `.dynsym`, …, only as many as the new entry needs) move, as one block
//! that keeps its inner layout, into the new segment; the table grows into
//! the bytes they leave. Everything that points at them follows: their
//! section headers, the PT_NOTE and PT_GNU_PROPERTY segments that hold
//! them, and the dynamic entries that address them.
//!
//! The table itself never moves: GNU `strip` run on a library whose table
//! was moved to the end of the file writes one that crashes in `dlopen`.

use super::PatchError;
use super::Writer;
use crate::binary::elf::{
    Dynamic, ElfFile, Phdr, DT_GNU_HASH, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_VERNEED, ET_DYN, PT_INTERP, PT_LOAD,
    PT_PHDR, SHT_DYNSYM, SHT_NOBITS,
};

const SHF_ALLOC: u64 = 2;
const SHT_STRTAB: u32 = 3;
const SHT_HASH: u32 = 5;
const SHT_NOTE: u32 = 7;
const SHT_GNU_HASH: u32 = 0x6fff_fff6;
const SHT_GNU_VERDEF: u32 = 0x6fff_fffd;
const SHT_GNU_VERNEED: u32 = 0x6fff_fffe;
const SHT_GNU_VERSYM: u32 = 0x6fff_ffff;
const DT_VERSYM: i64 = 0x6fff_fff0;
const DT_VERDEF: i64 = 0x6fff_fffc;

/// The dynamic entries that address a section that may move.
const ADDRESS_TAGS: [i64; 7] = [DT_HASH, DT_GNU_HASH, DT_SYMTAB, DT_STRTAB, DT_VERSYM, DT_VERNEED, DT_VERDEF];

/// The sections that move to make room for one more program header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Shift {
    /// File range `[start, end)` of the block that moves.
    pub(super) start: u64,
    /// End of the block.
    pub(super) end: u64,
    /// Address of `start`.
    pub(super) vaddr: u64,
    /// The largest alignment of a section in the block (a power of two).
    pub(super) align: u64,
    /// Indices of the section headers that move.
    sections: Vec<usize>,
    /// Indices of the program headers (other than PT_LOAD and PT_PHDR) that
    /// lie in the block and move with it.
    segments: Vec<usize>,
}

/// The block to move so that one more program header fits right after the
/// table, in a shared library (ET_DYN without PT_INTERP) with section
/// headers; `None` when there is none that can move safely: every section
/// in it must be one that only the dynamic section and note segments point
/// at, and every segment that touches it must lie inside it. The block is
/// empty when no section sits where the table grows.
pub(super) fn plan_shift(f: &ElfFile<'_>, dynamic: &Dynamic) -> Option<Shift> {
    let dynstr_vaddr = dynamic.get(DT_STRTAB).unwrap_or(0);
    if f.e_type != ET_DYN || f.phdrs.iter().any(|p| p.p_type == PT_INTERP) || f.shdrs.is_empty() {
        return None;
    }
    let size = f.phdr_size();
    let table_end = f.e_phoff.checked_add((f.phdrs.len() as u64).checked_mul(size)?)?;
    let need_end = table_end.checked_add(size)?;
    let load = f.phdrs.iter().find(|p| {
        p.p_type == PT_LOAD && p.p_offset <= f.e_phoff && need_end <= p.p_offset.saturating_add(p.p_filesz)
    })?;
    let occupied = |i: usize| {
        let s = &f.shdrs[i];
        i > 0 && s.sh_type != SHT_NOBITS && s.sh_size > 0
    };
    // the sections in [table_end, want), then as many more as the segments
    // that touch them need
    let mut want = need_end;
    let mut sections: Vec<usize>;
    let bounds = |sections: &[usize]| {
        let start = sections.iter().map(|&i| f.shdrs[i].sh_offset).min().unwrap_or(table_end);
        let end = sections.iter().map(|&i| f.shdrs[i].sh_offset.saturating_add(f.shdrs[i].sh_size)).max();
        (start, end.unwrap_or(table_end))
    };
    loop {
        sections = (0..f.shdrs.len())
            .filter(|&i| occupied(i) && overlaps(f.shdrs[i].sh_offset, f.shdrs[i].sh_size, table_end, want))
            .collect();
        let (start, end) = bounds(&sections);
        let reach = f
            .phdrs
            .iter()
            .filter(|p| p.p_type != PT_LOAD && p.p_type != PT_PHDR && overlaps(p.p_offset, p.p_filesz, start, end))
            .map(|p| p.p_offset.saturating_add(p.p_filesz))
            .fold(end, u64::max);
        if reach <= want {
            break;
        }
        want = reach;
    }
    let (start, end) = bounds(&sections);
    if start < table_end || end > load.p_offset.saturating_add(load.p_filesz) {
        return None;
    }
    // bytes no section holds (left behind by an earlier rewrite) are free,
    // unless a segment or the dynamic section points into them
    let claimed = |lo: u64, hi: u64| {
        let seg = f
            .phdrs
            .iter()
            .any(|p| p.p_type != PT_LOAD && p.p_type != PT_PHDR && overlaps(p.p_offset, p.p_filesz, lo, hi));
        let (vlo, vhi) =
            (load.p_vaddr.saturating_add(lo - load.p_offset), load.p_vaddr.saturating_add(hi - load.p_offset));
        seg || dynamic.entries.iter().any(|(t, v)| ADDRESS_TAGS.contains(t) && (vlo..vhi).contains(v))
    };
    if sections.is_empty() && claimed(table_end, need_end) {
        return None;
    }
    let movable = |i: usize| {
        let s = &f.shdrs[i];
        let kind = match s.sh_type {
            SHT_NOTE | SHT_HASH | SHT_GNU_HASH | SHT_DYNSYM | SHT_GNU_VERSYM | SHT_GNU_VERNEED | SHT_GNU_VERDEF => true,
            SHT_STRTAB => s.sh_addr == dynstr_vaddr,
            _ => false,
        };
        kind && s.sh_flags & SHF_ALLOC != 0
            && s.sh_addr.checked_sub(load.p_vaddr) == s.sh_offset.checked_sub(load.p_offset)
    };
    if !sections.iter().all(|&i| movable(i)) {
        return None;
    }
    // segments inside the block move with it; one that reaches out of it,
    // or whose address does not follow its offset as the PT_LOAD maps it,
    // cannot
    let mut segments = Vec::new();
    for (i, p) in f.phdrs.iter().enumerate() {
        if p.p_type == PT_LOAD || p.p_type == PT_PHDR || !overlaps(p.p_offset, p.p_filesz, start, end) {
            continue;
        }
        let mapped = p.p_vaddr.checked_sub(load.p_vaddr) == p.p_offset.checked_sub(load.p_offset);
        if p.p_offset < start || p.p_offset.saturating_add(p.p_filesz) > end || p.p_filesz != p.p_memsz || !mapped {
            return None;
        }
        segments.push(i);
    }
    let align = sections.iter().map(|&i| f.shdrs[i].sh_addralign.max(1)).max().unwrap_or(1);
    if !align.is_power_of_two() || align > super::page_size(f.e_machine) {
        return None;
    }
    let vaddr = load.p_vaddr.checked_add(start - load.p_offset)?;
    Some(Shift { start, end, vaddr, align, sections, segments })
}

/// Whether `[off, off + len)` and `[start, end)` share a byte.
fn overlaps(off: u64, len: u64, start: u64, end: u64) -> bool {
    len > 0 && off < end && start < off.saturating_add(len)
}

impl Shift {
    /// Copies the block to file offset `to` (address `to_vaddr`), clears
    /// its old bytes, and points at the copy: section headers, the dynamic
    /// `entries` that addressed it and the `vn_files` writes (offset of the
    /// Verneed record, new `vn_file`) that fell in it.
    pub(super) fn apply(
        &self,
        f: &ElfFile<'_>,
        w: &mut Writer<'_>,
        (to, to_vaddr): (u64, u64),
        entries: &mut [(i64, u64)],
        vn_files: &mut [(u64, u32)],
    ) -> Result<(), PatchError> {
        let len = self.end - self.start;
        if len == 0 {
            return Ok(());
        }
        let moved_off = |off: u64| to + (off - self.start);
        let moved_addr = |addr: u64| to_vaddr + (addr - self.vaddr);
        w.put(to, f.range(self.start, len)?)?;
        w.put(self.start, &vec![0; usize::try_from(len).unwrap_or(0)])?;
        for &i in &self.sections {
            let s = &f.shdrs[i];
            w.shdr_place(
                f.e_shoff + i as u64 * f.shdr_size(),
                moved_addr(s.sh_addr),
                moved_off(s.sh_offset),
                s.sh_size,
            )?;
        }
        for e in entries.iter_mut() {
            if ADDRESS_TAGS.contains(&e.0) && (self.vaddr..self.vaddr.saturating_add(len)).contains(&e.1) {
                e.1 = moved_addr(e.1);
            }
        }
        for v in vn_files.iter_mut() {
            if (self.start..self.end).contains(&v.0) {
                v.0 = moved_off(v.0);
            }
        }
        Ok(())
    }

    /// Points the program headers of the segments in the block (in `phdrs`,
    /// the input's table) at its copy at file offset `to`, address `to_vaddr`.
    pub(super) fn move_segments(&self, phdrs: &mut [Phdr], (to, to_vaddr): (u64, u64)) {
        for &i in &self.segments {
            if let Some(p) = phdrs.get_mut(i) {
                let (old_vaddr, old_paddr) = (p.p_vaddr, p.p_paddr);
                p.p_offset = to + (p.p_offset - self.start);
                p.p_vaddr = to_vaddr + (old_vaddr - self.vaddr);
                p.p_paddr = if old_paddr == old_vaddr { p.p_vaddr } else { old_paddr };
            }
        }
    }
}
