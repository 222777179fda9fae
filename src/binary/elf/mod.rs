//! ELF analysis: everything the resolver and the manylinux/musllinux policy
//! need, from one parse of the file (32/64-bit, little/big endian).
//!
//! The dynamic information is read from the program headers (PT_DYNAMIC,
//! PT_INTERP, PT_NOTE), never from section headers alone, so stripped files
//! work. Every read is bounds-checked, every input-derived count is capped by
//! the file size and every walk of a linked list is bounded: hostile input is
//! a [`ParseError`], never a panic or an endless loop.
//!
//! The low-level reader ([`ElfFile`]) is shared with the rewriter in
//! `patch::elf`.

mod dump;
mod dynamic;
mod file;
mod notes;
mod partial;
#[cfg(test)]
mod tests;

use super::ParseError;
use crate::bytes::lossy;

pub use dump::{dump, dump_dynamic};
pub use dynamic::{dynstr_range, verneed_records, Dynamic, VerneedRecord};
pub use file::{cstr_at, ElfFile, Partial, Phdr, Shdr};
pub use notes::notes;
#[cfg(test)]
pub(crate) use partial::late_layout;
pub use partial::{parse_partial, partial_wanted};

/// ELF file class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ElfClass {
    /// ELFCLASS32.
    Elf32,
    /// ELFCLASS64.
    Elf64,
}

/// Byte order of an ELF file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Endian {
    /// ELFDATA2LSB.
    Little,
    /// ELFDATA2MSB.
    Big,
}

/// One `.gnu.version_r` (Verneed) entry: the versions this file needs from
/// the library named `file`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionNeed {
    /// `vn_file`: the soname the versions are needed from.
    pub file: String,
    /// `vna_name` of every Vernaux, in file order (e.g. `GLIBC_2.17`).
    pub versions: Vec<String>,
}

/// What wheelfix knows of an ELF file after one parse.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ElfInfo {
    /// File class (32 or 64 bit).
    pub class: Option<ElfClass>,
    /// Byte order.
    pub endian: Option<Endian>,
    /// `e_machine`.
    pub machine: u16,
    /// `e_ident[EI_OSABI]`.
    pub osabi: u8,
    /// `e_flags` (ARM EABI version and float ABI live here).
    pub flags: u32,
    /// `e_type` (ET_EXEC = 2, ET_DYN = 3).
    pub elf_type: u16,
    /// PT_INTERP, if any (e.g. `/lib/ld-musl-x86_64.so.1`).
    pub interp: Option<String>,
    /// DT_SONAME.
    pub soname: Option<String>,
    /// DT_NEEDED entries, in order.
    pub needed: Vec<String>,
    /// DT_RPATH, split at `:` (empty when absent).
    pub rpath: Vec<String>,
    /// DT_RUNPATH, split at `:` (empty when absent).
    pub runpath: Vec<String>,
    /// `.gnu.version_r` entries.
    pub version_needs: Vec<VersionNeed>,
    /// Undefined, non-weak dynamic symbols (what the file imports), sorted
    /// and deduplicated.
    pub imported_symbols: Vec<String>,
    /// Defined, exported dynamic function symbols that make this a Python
    /// extension: `PyInit_<mod>` or `_cffi_pypyinit_<mod>`, sorted.
    pub py_init: Vec<String>,
    /// GNU_PROPERTY_X86_ISA_1_NEEDED bits from the GNU property note (x86
    /// only): 0x1 baseline, 0x2 v2, 0x4 v3, 0x8 v4.
    pub x86_isa_needed: Option<u32>,
    /// `p_flags` of PT_GNU_STACK (`None`: the file has no such header, and
    /// the loader gives it an executable stack).
    pub stack_flags: Option<u32>,
}

impl ElfInfo {
    /// The manylinux architecture name for this file (`x86_64`, `i686`,
    /// `aarch64`, `ppc64le`, `ppc64`, `s390x`, `armv7l`, `riscv64`,
    /// `loongarch64`), or `None` for a machine no policy knows.
    ///
    /// armv7l is only returned for EABI5 hard-float files, as auditwheel
    /// requires.
    pub fn arch(&self) -> Option<&'static str> {
        const EM_386: u16 = 3;
        const EM_PPC64: u16 = 21;
        const EM_S390: u16 = 22;
        const EM_ARM: u16 = 40;
        const EM_X86_64: u16 = 62;
        const EM_AARCH64: u16 = 183;
        const EM_RISCV: u16 = 243;
        const EM_LOONGARCH: u16 = 258;
        const EF_ARM_EABIMASK: u32 = 0xff00_0000;
        const EF_ARM_EABI_VER5: u32 = 0x0500_0000;
        const EF_ARM_ABI_FLOAT_HARD: u32 = 0x400;
        match (self.machine, self.class, self.endian) {
            (EM_X86_64, Some(ElfClass::Elf64), _) => Some("x86_64"),
            (EM_386, Some(ElfClass::Elf32), _) => Some("i686"),
            (EM_AARCH64, Some(ElfClass::Elf64), Some(Endian::Little)) => Some("aarch64"),
            (EM_PPC64, Some(ElfClass::Elf64), Some(Endian::Little)) => Some("ppc64le"),
            (EM_PPC64, Some(ElfClass::Elf64), Some(Endian::Big)) => Some("ppc64"),
            (EM_S390, Some(ElfClass::Elf64), _) => Some("s390x"),
            (EM_ARM, Some(ElfClass::Elf32), Some(Endian::Little)) => {
                let eabi5 = self.flags & EF_ARM_EABIMASK == EF_ARM_EABI_VER5;
                let hard_float = self.flags & EF_ARM_ABI_FLOAT_HARD != 0;
                (eabi5 && hard_float).then_some("armv7l")
            }
            (EM_RISCV, Some(ElfClass::Elf64), _) => Some("riscv64"),
            (EM_LOONGARCH, Some(ElfClass::Elf64), _) => Some("loongarch64"),
            _ => None,
        }
    }

    /// True when PT_INTERP names the musl loader or a DT_NEEDED names musl's libc.
    pub fn is_musl(&self) -> bool {
        self.interp.as_deref().is_some_and(|i| i.contains("ld-musl-"))
            || self.needed.iter().any(|n| n.starts_with("libc.musl-"))
    }

    /// True when this file looks linked against glibc.
    pub fn is_glibc(&self) -> bool {
        !self.is_musl()
            && (self.interp.as_deref().is_some_and(|i| i.contains("ld-linux") || i.contains("ld64.so"))
                || self
                    .needed
                    .iter()
                    .any(|n| n == "libc.so.6" || n.starts_with("ld-linux") || n.starts_with("ld64.so.")))
    }

    /// True when the file defines a Python module init function.
    pub fn is_python_extension(&self) -> bool {
        !self.py_init.is_empty()
    }
}

// ---------------------------------------------------------------------------
// Constants (ELF gABI and GNU extensions).

/// PT_NULL.
pub const PT_NULL: u32 = 0;
/// PT_LOAD.
pub const PT_LOAD: u32 = 1;
/// PT_DYNAMIC.
pub const PT_DYNAMIC: u32 = 2;
/// PT_INTERP.
pub const PT_INTERP: u32 = 3;
/// PT_NOTE.
pub const PT_NOTE: u32 = 4;
/// PT_PHDR.
pub const PT_PHDR: u32 = 6;
/// PT_GNU_PROPERTY.
pub const PT_GNU_PROPERTY: u32 = 0x6474_e553;
/// PT_GNU_STACK.
pub const PT_GNU_STACK: u32 = 0x6474_e551;

/// DT_NULL.
pub const DT_NULL: i64 = 0;
/// DT_NEEDED.
pub const DT_NEEDED: i64 = 1;
/// DT_HASH.
pub const DT_HASH: i64 = 4;
/// DT_STRTAB.
pub const DT_STRTAB: i64 = 5;
/// DT_SYMTAB.
pub const DT_SYMTAB: i64 = 6;
/// DT_STRSZ.
pub const DT_STRSZ: i64 = 10;
/// DT_SYMENT.
pub const DT_SYMENT: i64 = 11;
/// DT_SONAME.
pub const DT_SONAME: i64 = 14;
/// DT_RPATH.
pub const DT_RPATH: i64 = 15;
/// DT_RUNPATH.
pub const DT_RUNPATH: i64 = 29;
/// DT_GNU_HASH.
pub const DT_GNU_HASH: i64 = 0x6fff_fef5;
/// DT_VERNEED.
pub const DT_VERNEED: i64 = 0x6fff_fffe;
/// DT_VERNEEDNUM.
pub const DT_VERNEEDNUM: i64 = 0x6fff_ffff;

/// SHT_NOBITS.
pub const SHT_NOBITS: u32 = 8;
/// SHT_DYNSYM.
pub const SHT_DYNSYM: u32 = 11;

/// ET_DYN.
pub const ET_DYN: u16 = 3;
/// EM_MIPS.
pub const EM_MIPS: u16 = 8;

/// Upper bound on entries read from any one table (symbols, dynamic
/// entries, verneed records): far above any real file, low enough to keep
/// hostile input cheap.
const MAX_ENTRIES: u64 = 1 << 24;

fn err(msg: impl Into<String>) -> ParseError {
    ParseError::new(msg)
}

/// Parses an ELF file. Bounds-checked: never panics on hostile input.
pub fn parse(data: &[u8]) -> Result<ElfInfo, ParseError> {
    parse_file(ElfFile::parse(data)?)
}

/// The [`ElfInfo`] of a file opened for reading.
fn parse_file(f: ElfFile<'_>) -> Result<ElfInfo, ParseError> {
    let data = f.data;
    let mut info = ElfInfo {
        class: Some(if f.is64 { ElfClass::Elf64 } else { ElfClass::Elf32 }),
        endian: Some(if f.big { Endian::Big } else { Endian::Little }),
        machine: f.e_machine,
        osabi: data[7],
        flags: f.e_flags,
        elf_type: f.e_type,
        ..ElfInfo::default()
    };
    if let Some(p) = f.phdrs.iter().find(|p| p.p_type == PT_INTERP) {
        let bytes = f.range(p.p_offset, p.p_filesz).map_err(|_| err("PT_INTERP is past the end of the file"))?;
        let s = bytes.split(|b| *b == 0).next().unwrap_or(b"");
        info.interp = Some(lossy(s));
    }
    info.stack_flags = f.phdrs.iter().find(|p| p.p_type == PT_GNU_STACK).map(|p| p.p_flags);
    notes::read_property_notes(&f, &mut info);
    let Some(dynamic) = f.dynamic()? else {
        return Ok(info);
    };
    let (stroff, strsz) = dynstr_range(&f, &dynamic)?;
    let strtab = f.range(stroff, strsz)?;
    let string = |v: u64| -> Result<String, ParseError> {
        cstr_at(strtab, v).map(lossy).ok_or_else(|| err(format!("string offset {v:#x} is outside DT_STRTAB")))
    };
    for &(tag, val) in &dynamic.entries {
        match tag {
            DT_NEEDED => info.needed.push(string(val)?),
            DT_SONAME => info.soname = Some(string(val)?),
            DT_RPATH => info.rpath.extend(string(val)?.split(':').map(str::to_owned)),
            DT_RUNPATH => info.runpath.extend(string(val)?.split(':').map(str::to_owned)),
            _ => {}
        }
    }
    for rec in verneed_records(&f, &dynamic)? {
        let file = string(u64::from(rec.vn_file))?;
        let versions = rec.names.iter().map(|n| string(u64::from(*n))).collect::<Result<_, _>>()?;
        info.version_needs.push(VersionNeed { file, versions });
    }
    dynamic::read_dynsyms(&f, &dynamic, strtab, &mut info)?;
    Ok(info)
}
