//! Mach-O analysis, per slice of thin and fat (universal) files.

use super::ParseError;

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

/// Parses a thin or fat Mach-O file. Bounds-checked: never panics.
pub fn parse(data: &[u8]) -> Result<MachOInfo, ParseError> {
    let _ = data;
    Err(ParseError::new("Mach-O parsing is not implemented yet"))
}
