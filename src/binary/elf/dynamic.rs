//! The dynamic information read through PT_DYNAMIC: the dynamic entries,
//! the dynamic string table, `.gnu.version_r` and the dynamic symbols.

use super::{
    cstr_at, err, ElfFile, ElfInfo, ParseError, DT_GNU_HASH, DT_HASH, DT_NULL, DT_STRSZ, DT_STRTAB, DT_SYMTAB,
    DT_VERNEED, DT_VERNEEDNUM, MAX_ENTRIES, PT_DYNAMIC, SHT_DYNSYM,
};
use crate::bytes::lossy;

const STB_GLOBAL: u8 = 1;
const STB_LOCAL: u8 = 0;
const STT_FUNC: u8 = 2;

/// The dynamic section as read through PT_DYNAMIC.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dynamic {
    /// Entries up to (not including) the first DT_NULL, in order.
    pub entries: Vec<(i64, u64)>,
    /// How many entries PT_DYNAMIC has room for (`p_filesz / entry size`).
    pub slots: u64,
    /// Index of PT_DYNAMIC in the program header table.
    pub phdr_index: usize,
}

impl Dynamic {
    /// The value of the first entry with `tag`.
    pub fn get(&self, tag: i64) -> Option<u64> {
        self.entries.iter().find(|(t, _)| *t == tag).map(|(_, v)| *v)
    }
}

impl ElfFile<'_> {
    /// The entries of PT_DYNAMIC, or `None` when the file has no PT_DYNAMIC.
    pub fn dynamic(&self) -> Result<Option<Dynamic>, ParseError> {
        let Some((idx, ph)) = self.phdrs.iter().enumerate().find(|(_, p)| p.p_type == PT_DYNAMIC) else {
            return Ok(None);
        };
        let size = self.dyn_size();
        let bytes = self.range(ph.p_offset, ph.p_filesz).map_err(|_| err("PT_DYNAMIC is past the end of the file"))?;
        // the loader finds the dynamic section in memory, at p_vaddr: outside
        // the bytes a PT_LOAD maps from the file, `dlopen` reads garbage
        if !self.maps_from_file(ph) {
            return Err(err(format!("PT_DYNAMIC at {:#x} is outside every PT_LOAD", ph.p_vaddr)));
        }
        let slots = bytes.len() as u64 / size;
        let mut entries = Vec::new();
        for i in 0..slots {
            let off = ph.p_offset + i * size;
            let tag = if self.is64 { self.u64(off)? as i64 } else { i64::from(self.u32(off)? as i32) };
            let val = self.word(off + size / 2)?;
            if tag == DT_NULL {
                break;
            }
            entries.push((tag, val));
        }
        Ok(Some(Dynamic { entries, slots, phdr_index: idx }))
    }
}

/// The dynamic string table (`DT_STRTAB`, `DT_STRSZ`) as a file range.
pub fn dynstr_range(f: &ElfFile<'_>, dynamic: &Dynamic) -> Result<(u64, u64), ParseError> {
    let addr = dynamic.get(DT_STRTAB).ok_or_else(|| err("PT_DYNAMIC has no DT_STRTAB"))?;
    let size = dynamic.get(DT_STRSZ).ok_or_else(|| err("PT_DYNAMIC has no DT_STRSZ"))?;
    let off = f.vaddr_to_offset(addr).ok_or_else(|| err(format!("DT_STRTAB {addr:#x} is not in a PT_LOAD")))?;
    f.range(off, size).map_err(|_| err("DT_STRTAB/DT_STRSZ reach past the end of the file"))?;
    Ok((off, size))
}

/// One Verneed record with its file offset (for the rewriter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerneedRecord {
    /// File offset of the Verneed structure.
    pub offset: u64,
    /// `vn_file` (an offset into the dynamic string table).
    pub vn_file: u32,
    /// `vna_name` of every Vernaux.
    pub names: Vec<u32>,
}

/// Walks `.gnu.version_r` through DT_VERNEED/DT_VERNEEDNUM. Bounded by
/// DT_VERNEEDNUM and `vn_cnt` (and the file size), so cyclic lists end.
pub fn verneed_records(f: &ElfFile<'_>, dynamic: &Dynamic) -> Result<Vec<VerneedRecord>, ParseError> {
    let Some(addr) = dynamic.get(DT_VERNEED) else {
        return Ok(Vec::new());
    };
    let num = dynamic.get(DT_VERNEEDNUM).unwrap_or(0);
    let cap = (f.data.len() as u64 / 16).min(MAX_ENTRIES);
    if num > cap {
        return Err(err(format!("DT_VERNEEDNUM {num} is larger than the file allows")));
    }
    let mut off = f.vaddr_to_offset(addr).ok_or_else(|| err(format!("DT_VERNEED {addr:#x} is not in a PT_LOAD")))?;
    let mut out = Vec::new();
    let mut total_aux = 0u64;
    for i in 0..num {
        let cnt = f.u16(off + 2)?;
        let vn_file = f.u32(off + 4)?;
        let vn_aux = f.u32(off + 8)?;
        let vn_next = f.u32(off + 12)?;
        let mut names = Vec::new();
        let mut aoff = off.checked_add(u64::from(vn_aux)).ok_or_else(|| err("vn_aux overflows"))?;
        for j in 0..cnt {
            total_aux += 1;
            if total_aux > cap {
                return Err(err("too many Vernaux entries"));
            }
            names.push(f.u32(aoff + 8)?);
            let next = f.u32(aoff + 12)?;
            if next == 0 {
                if j + 1 != cnt {
                    return Err(err("Vernaux list ends before vn_cnt entries"));
                }
                break;
            }
            aoff = aoff.checked_add(u64::from(next)).ok_or_else(|| err("vna_next overflows"))?;
        }
        out.push(VerneedRecord { offset: off, vn_file, names });
        if vn_next == 0 {
            if i + 1 != num {
                return Err(err("Verneed list ends before DT_VERNEEDNUM entries"));
            }
            break;
        }
        off = off.checked_add(u64::from(vn_next)).ok_or_else(|| err("vn_next overflows"))?;
    }
    Ok(out)
}

/// The number of dynamic symbols: from the SHT_DYNSYM section when it
/// matches DT_SYMTAB, else DT_HASH's `nchain`, else a DT_GNU_HASH walk.
fn dynsym_count(f: &ElfFile<'_>, dynamic: &Dynamic, symtab: u64) -> Result<u64, ParseError> {
    let cap = (f.data.len() as u64 / f.sym_size()).min(MAX_ENTRIES);
    if let Some(sh) = f.shdrs.iter().find(|s| s.sh_type == SHT_DYNSYM && s.sh_addr == symtab) {
        if sh.sh_entsize == f.sym_size() {
            return Ok((sh.sh_size / f.sym_size()).min(cap));
        }
    }
    if let Some(hash) = dynamic.get(DT_HASH) {
        let off = f.vaddr_to_offset(hash).ok_or_else(|| err("DT_HASH is not in a PT_LOAD"))?;
        return Ok(u64::from(f.u32(off + 4)?).min(cap));
    }
    if let Some(gnu) = dynamic.get(DT_GNU_HASH) {
        let off = f.vaddr_to_offset(gnu).ok_or_else(|| err("DT_GNU_HASH is not in a PT_LOAD"))?;
        let nbuckets = u64::from(f.u32(off)?);
        let symoffset = u64::from(f.u32(off + 4)?);
        let bloom_size = u64::from(f.u32(off + 8)?);
        let word = if f.is64 { 8 } else { 4 };
        let buckets = bloom_size
            .checked_mul(word)
            .and_then(|b| b.checked_add(off + 16))
            .ok_or_else(|| err("DT_GNU_HASH bloom size overflows"))?;
        f.range(buckets, nbuckets.checked_mul(4).ok_or_else(|| err("DT_GNU_HASH bucket count overflows"))?)?;
        let mut max = 0u64;
        for i in 0..nbuckets {
            max = max.max(u64::from(f.u32(buckets + 4 * i)?));
        }
        if max < symoffset {
            return Ok(symoffset.min(cap));
        }
        let chains = buckets + 4 * nbuckets;
        let mut idx = max;
        loop {
            if idx >= cap {
                return Err(err("DT_GNU_HASH chain runs past the end of the file"));
            }
            let h = f.u32(chains + 4 * (idx - symoffset))?;
            idx += 1;
            if h & 1 != 0 {
                return Ok(idx);
            }
        }
    }
    Ok(0)
}

/// Reads the dynamic symbols (DT_SYMTAB) into `info`: the undefined global
/// ones it imports and the Python init functions it exports, each sorted and
/// deduplicated. Nothing when the file has no DT_SYMTAB.
pub(super) fn read_dynsyms(
    f: &ElfFile<'_>,
    dynamic: &Dynamic,
    strtab: &[u8],
    info: &mut ElfInfo,
) -> Result<(), ParseError> {
    let Some(symtab) = dynamic.get(DT_SYMTAB) else {
        return Ok(());
    };
    let count = dynsym_count(f, dynamic, symtab)?;
    let off = f.vaddr_to_offset(symtab).ok_or_else(|| err(format!("DT_SYMTAB {symtab:#x} is not in a PT_LOAD")))?;
    let size = f.sym_size();
    let table = f.range(off, count.checked_mul(size).ok_or_else(|| err("symbol count overflows"))?)?;
    let mut imported = Vec::new();
    for i in 1..count {
        let o = off + i * size;
        let (name, st_info, shndx) = if f.is64 {
            (f.u32(o)?, table[(i * size + 4) as usize], f.u16(o + 6)?)
        } else {
            (f.u32(o)?, table[(i * size + 12) as usize], f.u16(o + 14)?)
        };
        if name == 0 {
            continue;
        }
        let bind = st_info >> 4;
        let typ = st_info & 0xf;
        let Some(n) = cstr_at(strtab, u64::from(name)) else { continue };
        if shndx == 0 {
            if bind == STB_GLOBAL && !n.is_empty() {
                imported.push(lossy(n));
            }
        } else if typ == STT_FUNC
            && bind != STB_LOCAL
            && (n.starts_with(b"PyInit_") || n.starts_with(b"_cffi_pypyinit_"))
        {
            info.py_init.push(lossy(n));
        }
    }
    imported.sort_unstable();
    imported.dedup();
    info.imported_symbols = imported;
    info.py_init.sort_unstable();
    info.py_init.dedup();
    Ok(())
}
