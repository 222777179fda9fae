//! Mach-O analysis, per slice of thin and fat (universal) files.
//!
//! [`parse`] reads the fat header (if any) and, for every slice, the
//! load commands that matter for wheel repair: the install id, the dylib
//! references, the rpaths, the minimum macOS version, whether the slice is
//! code-signed and how much header padding is free for longer names.
//!
//! All reads are bounds-checked and every count read from the file is
//! checked against the bytes that actually exist, so hostile input gives a
//! [`ParseError`] in time proportional to the file size, never a panic. The
//! lower-level [`SliceLayout`] and [`fat_arches`] are shared with the
//! rewriter and the code signer in [`crate::patch`].

mod fat;
mod layout;
#[cfg(test)]
pub(crate) mod tests;

use super::ParseError;
use crate::bytes::{u32_at, u64_at, Order};

pub use fat::{fat_arches, FatArch};
pub(crate) use layout::command_string;
pub use layout::{CodeSignatureCommand, LoadCommand, Segment, SliceLayout};

/// The CPU of one Mach-O slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MachOArch {
    /// CPU_TYPE_X86_64.
    X86_64,
    /// CPU_TYPE_ARM64 (any subtype, including arm64e).
    Arm64,
    /// CPU_TYPE_X86 (i386).
    I386,
    /// CPU_TYPE_POWERPC / POWERPC64 and anything else: `(cputype, cpusubtype)`.
    Other(u32, u32),
}

impl MachOArch {
    /// The name used in wheel tags and by lipo (`x86_64`, `arm64`, `i386`).
    pub fn name(&self) -> String {
        match self {
            MachOArch::X86_64 => "x86_64".into(),
            MachOArch::Arm64 => "arm64".into(),
            MachOArch::I386 => "i386".into(),
            MachOArch::Other(t, s) => format!("cpu{t:#x}/{s:#x}"),
        }
    }
}

/// How a dylib is referenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DylibKind {
    /// LC_LOAD_DYLIB.
    Load,
    /// LC_LOAD_WEAK_DYLIB.
    Weak,
    /// LC_REEXPORT_DYLIB.
    Reexport,
    /// LC_LAZY_LOAD_DYLIB.
    Lazy,
    /// LC_LOAD_UPWARD_DYLIB.
    Upward,
}

/// One dylib reference of a slice.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DylibRef {
    /// The install name as written (`@rpath/libfoo.dylib`, `/usr/lib/libSystem.B.dylib`, …).
    pub name: String,
    /// The load command it comes from.
    pub kind: DylibKind,
}

/// A macOS version `major.minor.patch` (as encoded `xxxx.yy.zz` in load commands).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacVersion {
    /// Major version (10, 11, 13, …).
    pub major: u16,
    /// Minor version.
    pub minor: u8,
    /// Patch version.
    pub patch: u8,
}

impl MacVersion {
    /// Decodes the packed `xxxx.yy.zz` nibble format of LC_BUILD_VERSION and
    /// LC_VERSION_MIN_MACOSX.
    pub fn from_packed(v: u32) -> Self {
        MacVersion { major: (v >> 16) as u16, minor: ((v >> 8) & 0xff) as u8, patch: (v & 0xff) as u8 }
    }
}

impl std::fmt::Display for MacVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if self.patch != 0 {
            write!(f, ".{}", self.patch)?;
        }
        Ok(())
    }
}

/// One architecture slice of a Mach-O file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachOSlice {
    /// The slice's CPU.
    pub arch: MachOArch,
    /// `filetype` (MH_EXECUTE = 2, MH_DYLIB = 6, MH_BUNDLE = 8, …).
    pub filetype: u32,
    /// LC_ID_DYLIB, if any.
    pub id: Option<String>,
    /// LC_LOAD_DYLIB / WEAK / REEXPORT / LAZY / UPWARD, in file order.
    pub deps: Vec<DylibRef>,
    /// LC_RPATH entries, in file order.
    pub rpaths: Vec<String>,
    /// Minimum macOS from LC_BUILD_VERSION (platform macOS) or LC_VERSION_MIN_MACOSX.
    pub min_macos: Option<MacVersion>,
    /// The slice has LC_CODE_SIGNATURE.
    pub signed: bool,
    /// Free bytes between the end of the load commands and the first
    /// section's data (the header padding available for longer names).
    pub header_pad: u64,
}

/// What wheelfix knows of a Mach-O file after one parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachOInfo {
    /// The file is a fat (universal) container.
    pub fat: bool,
    /// Every slice, in file order (one for thin files).
    pub slices: Vec<MachOSlice>,
}

impl MachOInfo {
    /// Every dependency name of every slice, deduplicated, in first-seen order.
    pub fn all_deps(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in &self.slices {
            for d in &s.deps {
                if !out.contains(&d.name.as_str()) {
                    out.push(&d.name);
                }
            }
        }
        out
    }
}

// ---------------------------------------------------------------- constants

/// `MH_MAGIC` (32-bit thin header, in the file's own byte order).
pub const MH_MAGIC: u32 = 0xfeed_face;
/// `MH_MAGIC_64` (64-bit thin header, in the file's own byte order).
pub const MH_MAGIC_64: u32 = 0xfeed_facf;
/// `FAT_MAGIC` (big-endian fat header with 20-byte `fat_arch` entries).
pub const FAT_MAGIC: u32 = 0xcafe_babe;
/// `FAT_MAGIC_64` (big-endian fat header with 32-byte `fat_arch_64` entries).
pub const FAT_MAGIC_64: u32 = 0xcafe_babf;

/// `MH_EXECUTE` file type.
pub const MH_EXECUTE: u32 = 2;
/// `MH_DYLIB` file type.
pub const MH_DYLIB: u32 = 6;
/// `MH_BUNDLE` file type.
pub const MH_BUNDLE: u32 = 8;

/// `CPU_TYPE_X86`.
pub const CPU_TYPE_X86: u32 = 7;
/// `CPU_TYPE_X86_64`.
pub const CPU_TYPE_X86_64: u32 = 0x0100_0007;
/// `CPU_TYPE_ARM64`.
pub const CPU_TYPE_ARM64: u32 = 0x0100_000c;

/// `LC_SEGMENT`.
pub const LC_SEGMENT: u32 = 0x1;
/// `LC_ID_DYLIB`.
pub const LC_ID_DYLIB: u32 = 0xd;
/// `LC_LOAD_DYLIB`.
pub const LC_LOAD_DYLIB: u32 = 0xc;
/// `LC_SEGMENT_64`.
pub const LC_SEGMENT_64: u32 = 0x19;
/// `LC_CODE_SIGNATURE`.
pub const LC_CODE_SIGNATURE: u32 = 0x1d;
/// `LC_LAZY_LOAD_DYLIB`.
pub const LC_LAZY_LOAD_DYLIB: u32 = 0x20;
/// `LC_VERSION_MIN_MACOSX`.
pub const LC_VERSION_MIN_MACOSX: u32 = 0x24;
/// `LC_BUILD_VERSION`.
pub const LC_BUILD_VERSION: u32 = 0x32;
/// `LC_LOAD_WEAK_DYLIB`.
pub const LC_LOAD_WEAK_DYLIB: u32 = 0x8000_0018;
/// `LC_RPATH`.
pub const LC_RPATH: u32 = 0x8000_001c;
/// `LC_REEXPORT_DYLIB`.
pub const LC_REEXPORT_DYLIB: u32 = 0x8000_001f;
/// `LC_LOAD_UPWARD_DYLIB`.
pub const LC_LOAD_UPWARD_DYLIB: u32 = 0x8000_0023;

/// `PLATFORM_MACOS` in LC_BUILD_VERSION.
const PLATFORM_MACOS: u32 = 1;

/// Size of `struct dylib_command` (where the name starts when written by the linker).
pub const DYLIB_COMMAND_SIZE: usize = 24;
/// Size of `struct rpath_command`.
pub const RPATH_COMMAND_SIZE: usize = 12;
/// Size of `struct linkedit_data_command` (LC_CODE_SIGNATURE).
pub const LINKEDIT_DATA_COMMAND_SIZE: usize = 16;

impl DylibKind {
    /// The kind for a load command, if it is a dylib reference.
    pub fn from_cmd(cmd: u32) -> Option<DylibKind> {
        Some(match cmd {
            LC_LOAD_DYLIB => DylibKind::Load,
            LC_LOAD_WEAK_DYLIB => DylibKind::Weak,
            LC_REEXPORT_DYLIB => DylibKind::Reexport,
            LC_LAZY_LOAD_DYLIB => DylibKind::Lazy,
            LC_LOAD_UPWARD_DYLIB => DylibKind::Upward,
            _ => return None,
        })
    }
}

impl MachOArch {
    /// The arch for a `(cputype, cpusubtype)` pair.
    pub fn from_cpu(cputype: u32, cpusubtype: u32) -> MachOArch {
        match cputype {
            CPU_TYPE_X86_64 => MachOArch::X86_64,
            CPU_TYPE_ARM64 => MachOArch::Arm64,
            CPU_TYPE_X86 => MachOArch::I386,
            _ => MachOArch::Other(cputype, cpusubtype),
        }
    }
}

// ---------------------------------------------------------------- bounded reads

fn err(msg: impl Into<String>) -> ParseError {
    ParseError::new(msg)
}

/// Reads a `u32` at `off` in the given byte order.
pub(crate) fn read_u32(data: &[u8], off: usize, big: bool) -> Result<u32, ParseError> {
    u32_at(data, off, Order::big_if(big)).ok_or_else(truncated)
}

/// Reads a `u64` at `off` in the given byte order.
pub(crate) fn read_u64(data: &[u8], off: usize, big: bool) -> Result<u64, ParseError> {
    u64_at(data, off, Order::big_if(big)).ok_or_else(truncated)
}

fn truncated() -> ParseError {
    err("truncated Mach-O data")
}

fn to_usize(v: u64, what: &str) -> Result<usize, ParseError> {
    usize::try_from(v).map_err(|_| err(format!("{what} {v} does not fit in memory")))
}

/// Parses one thin slice.
pub fn parse_slice(data: &[u8]) -> Result<MachOSlice, ParseError> {
    let layout = SliceLayout::parse(data)?;
    let big = layout.big_endian;
    let mut slice = MachOSlice {
        arch: layout.arch(),
        filetype: layout.filetype,
        id: None,
        deps: Vec::new(),
        rpaths: Vec::new(),
        min_macos: None,
        signed: layout.code_signature.is_some(),
        header_pad: layout.header_pad(),
    };
    for lc in &layout.commands {
        let body = &data[lc.offset..lc.offset + lc.size];
        if lc.cmd == LC_ID_DYLIB {
            slice.id = Some(command_string(body, 8, DYLIB_COMMAND_SIZE, big, "LC_ID_DYLIB name")?);
        } else if let Some(kind) = DylibKind::from_cmd(lc.cmd) {
            let name = command_string(body, 8, DYLIB_COMMAND_SIZE, big, "dylib name")?;
            slice.deps.push(DylibRef { name, kind });
        } else if lc.cmd == LC_RPATH {
            slice.rpaths.push(command_string(body, 8, RPATH_COMMAND_SIZE, big, "LC_RPATH path")?);
        } else if lc.cmd == LC_BUILD_VERSION {
            if read_u32(body, 8, big)? == PLATFORM_MACOS {
                slice.min_macos = Some(MacVersion::from_packed(read_u32(body, 12, big)?));
            }
        } else if lc.cmd == LC_VERSION_MIN_MACOSX && slice.min_macos.is_none() {
            slice.min_macos = Some(MacVersion::from_packed(read_u32(body, 8, big)?));
        }
    }
    Ok(slice)
}

/// Parses a thin or fat Mach-O file. Bounds-checked: never panics.
pub fn parse(data: &[u8]) -> Result<MachOInfo, ParseError> {
    match fat_arches(data)? {
        None => Ok(MachOInfo { fat: false, slices: vec![parse_slice(data)?] }),
        Some((arches, _)) => {
            let mut slices = Vec::with_capacity(arches.len());
            for (i, a) in arches.iter().enumerate() {
                let start = to_usize(a.offset, "slice offset")?;
                let end = to_usize(a.offset + a.size, "slice end")?;
                let bytes = &data[start..end];
                if fat_arches(bytes).ok().flatten().is_some() {
                    return Err(err(format!("fat slice {i} is itself a fat file")));
                }
                let s = parse_slice(bytes).map_err(|e| {
                    err(format!("slice {i} ({}): {e}", MachOArch::from_cpu(a.cputype, a.cpusubtype).name()))
                })?;
                slices.push(s);
            }
            Ok(MachOInfo { fat: true, slices })
        }
    }
}
