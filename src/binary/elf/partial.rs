//! Parsing a file of which only parts are read: the read-ahead plan
//! ([`partial_wanted`]) and the parse that gives up when it needs more
//! ([`parse_partial`]).

use super::{
    parse_file, ElfFile, ElfInfo, ParseError, Partial, Phdr, DT_GNU_HASH, DT_HASH, DT_STRSZ, DT_STRTAB, DT_SYMTAB,
    DT_VERNEED, PT_DYNAMIC, PT_GNU_PROPERTY, PT_INTERP, PT_LOAD, PT_NOTE, SHT_DYNSYM,
};

/// [`parse`](super::parse) of a file of which only the ranges `read` (sorted, not
/// overlapping) are in `data`, which has the file's full length. `None` when
/// the parse needed anything else: the file must then be read whole. A result
/// is exactly what [`parse`](super::parse) gives on the whole file, since no byte outside
/// `read` was looked at.
pub fn parse_partial(data: &[u8], read: &[(u64, u64)]) -> Option<Result<ElfInfo, ParseError>> {
    let missing = std::cell::Cell::new(false);
    let partial = Partial { read, missing: &missing };
    let result = ElfFile::parse_with(data, Some(partial)).and_then(parse_file);
    (!missing.get()).then_some(result)
}

/// The byte ranges a partial parse of this file will need, as far as the
/// ranges `read` so far tell: the header tables, the segments and sections
/// that hold the dynamic section, its strings, symbols, version needs and
/// hash tables, and the notes. A guess to read ahead by, never trusted:
/// [`parse_partial`] checks every read.
pub fn partial_wanted(data: &[u8], read: &[(u64, u64)]) -> Vec<(u64, u64)> {
    /// Largest single range asked for (a huge table is read whole instead).
    const CAP: u64 = 32 << 20;
    const SHT_STRTAB: u32 = 3;
    const SHT_HASH: u32 = 5;
    const SHT_DYNAMIC: u32 = 6;
    const SHT_NOTE: u32 = 7;
    const SHT_GNU_HASH: u32 = 0x6fff_fff6;
    const SHT_GNU_VERNEED: u32 = 0x6fff_fffe;
    const SHF_ALLOC: u64 = 2;
    let missing = std::cell::Cell::new(false);
    let partial = Partial { read, missing: &missing };
    let len = data.len() as u64;
    // the headers, and what a reader streaming the file passes before it
    // has looked at them
    let mut want = vec![(0, len.min(1 << 20))];
    let mut add = |off: u64, size: u64| {
        if size <= CAP && off < len {
            want.push((off, off.saturating_add(size).min(len)));
        }
    };
    // the header alone, for the table offsets, even if the tables are not read
    let Ok((head, phnum, shnum)) = ElfFile::header(data, Some(partial)) else {
        return want;
    };
    add(head.e_phoff, u64::from(phnum) * head.phdr_size());
    add(head.e_shoff, u64::from(shnum) * head.shdr_size());
    let Ok(f) = ElfFile::parse_with(data, Some(partial)) else {
        return want;
    };
    let loads: Vec<&Phdr> = f.phdrs.iter().filter(|p| p.p_type == PT_LOAD).collect();
    // the dynamic symbols, their strings and versions usually come first
    // in the first segment, before the code: its head
    if let Some(first) = loads.iter().min_by_key(|p| p.p_offset) {
        add(first.p_offset, first.p_filesz.min(8 << 20));
    }
    if let Some(last) = loads.iter().max_by_key(|p| p.p_offset) {
        add(last.p_offset, last.p_filesz);
    }
    for p in &f.phdrs {
        if matches!(p.p_type, PT_INTERP | PT_NOTE | PT_DYNAMIC | PT_GNU_PROPERTY) {
            add(p.p_offset, p.p_filesz);
        }
    }
    for sh in &f.shdrs {
        if matches!(sh.sh_type, SHT_DYNSYM | SHT_DYNAMIC | SHT_NOTE | SHT_HASH | SHT_GNU_HASH | SHT_GNU_VERNEED)
            || (sh.sh_type == SHT_STRTAB && sh.sh_flags & SHF_ALLOC != 0)
        {
            add(sh.sh_offset, sh.sh_size);
        }
    }
    if let Ok(Some(dynamic)) = f.dynamic() {
        let at = |tag| dynamic.get(tag).and_then(|a| f.vaddr_to_offset(a));
        if let (Some(off), Some(size)) = (at(DT_STRTAB), dynamic.get(DT_STRSZ)) {
            add(off, size);
        }
        // tables whose size the dynamic section does not give: up to the
        // next table, or a fixed stretch
        let starts: Vec<u64> =
            [DT_STRTAB, DT_SYMTAB, DT_HASH, DT_GNU_HASH, DT_VERNEED].into_iter().filter_map(at).collect();
        for &off in &starts {
            let next = starts.iter().copied().filter(|&o| o > off).min();
            add(off, next.map_or(4 << 20, |n| n - off));
        }
    }
    want
}

/// An ELF file of more than 4 MiB whose dynamic strings sit at its end, past
/// 3 MiB of padding, and its symbols at its start: the demo library, padded,
/// given a long SONAME (the rewrite moves the strings to a new segment at the
/// end, as patchelf does). For tests of partial reads.
#[cfg(test)]
pub(crate) fn late_layout() -> Vec<u8> {
    let mut data = include_bytes!("../../../fixtures/demo/lib/libdemocore.so.1").to_vec();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    data.extend((0..(4 << 20)).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    }));
    let edits = crate::patch::elf::ElfEdits {
        set_soname: Some(format!("libdemocore-{}.so.1", "x".repeat(300))),
        ..Default::default()
    };
    crate::patch::elf::apply(&data, &edits).unwrap()
}
