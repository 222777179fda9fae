//! ELF analysis: everything the resolver and the manylinux/musllinux policy
//! need, from one parse of the file (32/64-bit, little/big endian).

use super::ParseError;

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
    /// Defined dynamic function symbols that make this a Python extension:
    /// `PyInit_<mod>`, `init<mod>` (Python 2) or `_cffi_pypyinit_<mod>`.
    pub py_init: Vec<String>,
    /// GNU_PROPERTY_X86_ISA_1_NEEDED bits from the GNU property note (x86
    /// only): 0x1 baseline, 0x2 v2, 0x4 v3, 0x8 v4.
    pub x86_isa_needed: Option<u32>,
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

/// Parses an ELF file. Bounds-checked: never panics on hostile input.
pub fn parse(data: &[u8]) -> Result<ElfInfo, ParseError> {
    let _ = data;
    Err(ParseError::new("ELF parsing is not implemented yet"))
}
