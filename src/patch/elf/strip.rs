//! Native `strip -s`: drops the symbol table, debug information and every
//! other non-allocated section except `.shstrtab` and `.gnu_debuglink`.
//!
//! The file is copied up to the end of the last loaded byte, unchanged; the
//! kept non-allocated sections, a rebuilt `.shstrtab` and a rebuilt section
//! header table (with `sh_link`, `sh_info` and `e_shstrndx` renumbered)
//! follow. Nothing the loader reads moves.

use super::{unsupported, Log, PatchError, Writer};
use crate::binary::elf::{parse, ElfFile, Shdr, SHT_NOBITS};
use crate::bytes::align_up_usize;

const SHF_ALLOC: u64 = 0x2;
const SHF_INFO_LINK: u64 = 0x40;
const SHT_RELA: u32 = 4;
const SHT_REL: u32 = 9;
const ET_REL: u16 = 1;

/// Removes the symbol table and debug sections (what `strip -s` removes)
/// without touching anything that is loaded. The result is re-parsed and
/// must carry the same dynamic information as the input.
pub fn strip(data: &[u8]) -> Result<Vec<u8>, PatchError> {
    let f = ElfFile::parse(data)?;
    if f.e_type == ET_REL {
        return Err(unsupported("relocatable objects are not stripped (their relocations need the symbol table)"));
    }
    let shnum = if f.is64 { f.u16(60)? } else { f.u16(48)? };
    if shnum == 0 {
        if f.e_shoff != 0 {
            return Err(unsupported("extended section numbering"));
        }
        return Ok(data.to_vec());
    }
    if f.shdrs.len() != usize::from(shnum) {
        return Err(unsupported("the section header table is unreadable"));
    }
    let shstrndx = usize::from(f.e_shstrndx);
    if shstrndx >= f.shdrs.len() {
        return Err(unsupported("e_shstrndx is out of range"));
    }
    let keep: Vec<bool> = f
        .shdrs
        .iter()
        .enumerate()
        .map(|(i, s)| i == 0 || s.sh_flags & SHF_ALLOC != 0 || i == shstrndx || f.section_name(s) == b".gnu_debuglink")
        .collect();
    if keep.iter().all(|k| *k) {
        return Ok(data.to_vec());
    }

    // Everything up to the last loaded byte is copied unchanged.
    let loaded_end = usize::try_from(loaded_end(&f)).map_err(|_| unsupported("file too large"))?;
    let prefix = data.get(..loaded_end).ok_or_else(|| unsupported("a segment reaches past the end of the file"))?;
    let mut out = prefix.to_vec();

    let (index, names, mut new) = renumber(&f, &keep);

    // Kept non-allocated contents after the loaded bytes.
    for (i, t) in new.iter_mut().enumerate().skip(1) {
        if t.sh_flags & SHF_ALLOC != 0 || t.sh_type == SHT_NOBITS {
            continue;
        }
        let align = t.sh_addralign.clamp(1, 64) as usize;
        out.resize(align_up_usize(out.len(), align), 0);
        let is_shstrtab = index[shstrndx] as usize == i;
        let bytes: &[u8] = if is_shstrtab { &names } else { f.range(t.sh_offset, t.sh_size)? };
        t.sh_offset = out.len() as u64;
        t.sh_size = bytes.len() as u64;
        out.extend_from_slice(bytes);
    }
    let word = if f.is64 { 8 } else { 4 };
    out.resize(align_up_usize(out.len(), word), 0);
    let shoff = out.len() as u64;
    out.resize(out.len() + new.len() * f.shdr_size() as usize, 0);
    let mut log = Log::new(out.len() as u64);
    let mut w = Writer::new(&mut log, f.is64, f.big);
    for (i, s) in new.iter().enumerate() {
        w.shdr(shoff + i as u64 * f.shdr_size(), s)?;
    }
    let count = u16::try_from(new.len()).map_err(|_| unsupported("too many sections"))?;
    let shstrndx_new = u16::try_from(index[shstrndx]).map_err(|_| unsupported("too many sections"))?;
    if f.is64 {
        w.u64(40, shoff)?;
        w.u16(60, count)?;
        w.u16(62, shstrndx_new)?;
    } else {
        w.word(32, shoff)?;
        w.u16(48, count)?;
        w.u16(50, shstrndx_new)?;
    }
    log.write_into(&mut out)?;

    let before = parse(data)?;
    let after = parse(&out).map_err(|e| PatchError::Verify(format!("stripped file does not parse: {e}")))?;
    if before != after {
        return Err(PatchError::Verify("stripping changed the dynamic information".into()));
    }
    // Only the section fields of the ELF header may differ.
    let ehsize = if f.is64 { 64 } else { 52 };
    if out.get(ehsize..loaded_end) != prefix.get(ehsize..) {
        return Err(PatchError::Verify("stripping changed loaded bytes".into()));
    }
    Ok(out)
}

/// The end of the bytes the loader reads: the ELF header, the program
/// header table, every segment and every allocated section.
fn loaded_end(f: &ElfFile<'_>) -> u64 {
    let mut end = f.e_phoff.saturating_add(f.phdrs.len() as u64 * f.phdr_size()).max(if f.is64 { 64 } else { 52 });
    for p in &f.phdrs {
        end = end.max(p.p_offset.saturating_add(p.p_filesz));
    }
    for s in f.shdrs.iter().filter(|s| s.sh_flags & SHF_ALLOC != 0 && s.sh_type != SHT_NOBITS) {
        end = end.max(s.sh_offset.saturating_add(s.sh_size));
    }
    end
}

/// The sections `keep` selects, renumbered: the new index of every old
/// section (0 for a dropped one), the new `.shstrtab` and the new headers
/// (names, `sh_link` and `sh_info` updated; offsets still the old ones).
fn renumber(f: &ElfFile<'_>, keep: &[bool]) -> (Vec<u32>, Vec<u8>, Vec<Shdr>) {
    let mut index = vec![0u32; f.shdrs.len()];
    let mut n = 0u32;
    for (i, k) in keep.iter().enumerate() {
        if *k {
            index[i] = n;
            n += 1;
        }
    }
    let mut names = vec![0u8];
    let mut new: Vec<Shdr> = Vec::new();
    for (i, s) in f.shdrs.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        let mut t = *s;
        if i != 0 {
            t.sh_name = names.len() as u32;
            names.extend_from_slice(f.section_name(s));
            names.push(0);
        }
        let remap = |x: u32| -> u32 { usize::try_from(x).ok().and_then(|x| index.get(x).copied()).unwrap_or(0) };
        if t.sh_link != 0 {
            t.sh_link = remap(t.sh_link);
        }
        if t.sh_info != 0 && (t.sh_type == SHT_REL || t.sh_type == SHT_RELA || t.sh_flags & SHF_INFO_LINK != 0) {
            t.sh_info = remap(t.sh_info);
        }
        new.push(t);
    }
    (index, names, new)
}
