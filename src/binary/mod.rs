//! Parsing of the three binary formats into plain data.
//!
//! The format is detected once from the magic bytes ([`Format::sniff`]);
//! each format has its own module with an `…Info` type of the same shape:
//! what the file is (machine, class), what it is called (`id`: SONAME or
//! install id), what it needs (DT_NEEDED, LC_LOAD_DYLIB, imported DLLs) and
//! where it looks for it (RPATH/RUNPATH, LC_RPATH). Types that belong to one
//! format are prefixed with its name (`ElfInfo`, `MachOInfo`, `PeInfo`).
//!
//! Parsers never panic and never read out of bounds: every malformed input is
//! a [`ParseError`] with a reason.

pub mod elf;
pub mod macho;
pub mod pe;

pub use elf::ElfInfo;
pub use macho::MachOInfo;
pub use pe::PeInfo;

use crate::bytes::{le32, u32_at, Order};

/// A binary could not be parsed: the reason, in a few words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    /// Builds a parse error from any message.
    pub fn new(msg: impl Into<String>) -> Self {
        ParseError(msg.into())
    }
}

/// The binary formats wheelfix knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// ELF (Linux).
    Elf,
    /// Mach-O, thin or fat (macOS).
    MachO,
    /// PE/COFF (Windows).
    Pe,
}

impl Format {
    /// Detects the format from the first bytes of a file. `None` for
    /// anything that is not an ELF, Mach-O (thin or fat) or PE image.
    pub fn sniff(data: &[u8]) -> Option<Format> {
        if data.len() < 4 {
            return None;
        }
        let magic = [data[0], data[1], data[2], data[3]];
        match magic {
            [0x7f, b'E', b'L', b'F'] => Some(Format::Elf),
            // MH_MAGIC, MH_CIGAM, MH_MAGIC_64, MH_CIGAM_64
            [0xfe, 0xed, 0xfa, 0xce]
            | [0xce, 0xfa, 0xed, 0xfe]
            | [0xfe, 0xed, 0xfa, 0xcf]
            | [0xcf, 0xfa, 0xed, 0xfe] => Some(Format::MachO),
            // FAT_MAGIC / FAT_MAGIC_64 (big-endian). 0xcafebabe is also the
            // Java class magic: a fat header has a small arch count.
            [0xca, 0xfe, 0xba, 0xbe] | [0xca, 0xfe, 0xba, 0xbf] => {
                let n = u32_at(data, 4, Order::Big)?;
                (n > 0 && n < 20).then_some(Format::MachO)
            }
            [b'M', b'Z', _, _] => {
                let off = le32(data, 0x3c)? as usize;
                (data.get(off..off + 4) == Some(b"PE\0\0")).then_some(Format::Pe)
            }
            _ => None,
        }
    }
}

/// True when the first 4 bytes are those of an ELF, Mach-O (thin or fat) or
/// PE (`MZ`) file: only such entries need to be read whole and parsed.
pub fn may_be_binary(prefix: &[u8]) -> bool {
    match prefix {
        [0x7f, b'E', b'L', b'F', ..] | [b'M', b'Z', ..] => true,
        [a, b, c, d, ..] => matches!(
            [*a, *b, *c, *d],
            [0xfe, 0xed, 0xfa, 0xce | 0xcf] | [0xce | 0xcf, 0xfa, 0xed, 0xfe] | [0xca, 0xfe, 0xba, 0xbe | 0xbf]
        ),
        _ => false,
    }
}

/// A parsed binary of any format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinaryInfo {
    /// An ELF file.
    Elf(ElfInfo),
    /// A Mach-O file (thin or fat).
    MachO(MachOInfo),
    /// A PE image.
    Pe(PeInfo),
}

impl BinaryInfo {
    /// The format of this binary.
    pub fn format(&self) -> Format {
        match self {
            BinaryInfo::Elf(_) => Format::Elf,
            BinaryInfo::MachO(_) => Format::MachO,
            BinaryInfo::Pe(_) => Format::Pe,
        }
    }
}

/// Parses any supported binary. `Ok(None)` when the data is not a binary
/// of a known format (a text file, a Java class, …).
pub fn parse(data: &[u8]) -> Result<Option<BinaryInfo>, ParseError> {
    Ok(match Format::sniff(data) {
        None => None,
        Some(Format::Elf) => Some(BinaryInfo::Elf(elf::parse(data)?)),
        Some(Format::MachO) => Some(BinaryInfo::MachO(macho::parse(data)?)),
        Some(Format::Pe) => Some(BinaryInfo::Pe(pe::parse(data)?)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_magic() {
        assert_eq!(Format::sniff(b"\x7fELF\x02\x01"), Some(Format::Elf));
        assert_eq!(Format::sniff(&[0xcf, 0xfa, 0xed, 0xfe, 0, 0]), Some(Format::MachO));
        assert_eq!(Format::sniff(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2]), Some(Format::MachO));
        // a Java class file: same magic, version numbers where the count is
        assert_eq!(Format::sniff(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52]), None);
        assert_eq!(Format::sniff(b"#!/usr/bin/env python"), None);
        assert_eq!(Format::sniff(b"MZ"), None);
    }

    #[test]
    fn binary_prefixes() {
        assert!(may_be_binary(b"\x7fELF"));
        assert!(may_be_binary(b"MZ\x90\0"));
        assert!(may_be_binary(&[0xcf, 0xfa, 0xed, 0xfe]));
        assert!(may_be_binary(&[0xca, 0xfe, 0xba, 0xbe]));
        assert!(!may_be_binary(b"#!/u"));
        assert!(!may_be_binary(b"\x7fEL"));
        assert!(!may_be_binary(b""));
    }
}
