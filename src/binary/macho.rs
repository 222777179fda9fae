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
/// Section types whose data occupies no file bytes.
const S_ZEROFILL: u32 = 0x1;
const S_GB_ZEROFILL: u32 = 0xc;
const S_THREAD_LOCAL_ZEROFILL: u32 = 0x12;

/// Size of `struct dylib_command` (where the name starts when written by the linker).
pub const DYLIB_COMMAND_SIZE: usize = 24;
/// Size of `struct rpath_command`.
pub const RPATH_COMMAND_SIZE: usize = 12;
/// Size of `struct linkedit_data_command` (LC_CODE_SIGNATURE).
pub const LINKEDIT_DATA_COMMAND_SIZE: usize = 16;

/// At most this many slices in a fat file (real files have 1 to 4).
const MAX_FAT_ARCHES: u32 = 64;

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
    let b = off.checked_add(4).and_then(|end| data.get(off..end)).ok_or_else(|| err("truncated Mach-O data"))?;
    let a = [b[0], b[1], b[2], b[3]];
    Ok(if big { u32::from_be_bytes(a) } else { u32::from_le_bytes(a) })
}

/// Reads a `u64` at `off` in the given byte order.
pub(crate) fn read_u64(data: &[u8], off: usize, big: bool) -> Result<u64, ParseError> {
    let b = off.checked_add(8).and_then(|end| data.get(off..end)).ok_or_else(|| err("truncated Mach-O data"))?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok(if big { u64::from_be_bytes(a) } else { u64::from_le_bytes(a) })
}

fn to_usize(v: u64, what: &str) -> Result<usize, ParseError> {
    usize::try_from(v).map_err(|_| err(format!("{what} {v} does not fit in memory")))
}

// ---------------------------------------------------------------- fat files

/// One entry of a fat header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FatArch {
    /// `cputype`.
    pub cputype: u32,
    /// `cpusubtype`.
    pub cpusubtype: u32,
    /// File offset of the slice.
    pub offset: u64,
    /// Size of the slice in bytes.
    pub size: u64,
    /// Slice alignment as a power of two.
    pub align: u32,
}

/// The fat header of `data`: `Ok(None)` for a thin file, otherwise the
/// slices in header order, checked to lie inside the file without
/// overlapping each other or the header. The second value is true for
/// `FAT_MAGIC_64`.
pub fn fat_arches(data: &[u8]) -> Result<Option<(Vec<FatArch>, bool)>, ParseError> {
    let magic = read_u32(data, 0, true)?;
    let is64 = match magic {
        FAT_MAGIC => false,
        FAT_MAGIC_64 => true,
        _ => return Ok(None),
    };
    let n = read_u32(data, 4, true)?;
    if n == 0 {
        return Err(err("fat file has no slices"));
    }
    if n > MAX_FAT_ARCHES {
        return Err(err(format!("fat file claims {n} slices (at most {MAX_FAT_ARCHES} are accepted)")));
    }
    let entry = if is64 { 32 } else { 20 };
    let header_end = 8 + entry * n as usize;
    if header_end > data.len() {
        return Err(err(format!("fat header with {n} slices is longer than the file")));
    }
    let mut arches = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        let at = 8 + i * entry;
        let (offset, size, align) = if is64 {
            (read_u64(data, at + 8, true)?, read_u64(data, at + 16, true)?, read_u32(data, at + 24, true)?)
        } else {
            (u64::from(read_u32(data, at + 8, true)?), u64::from(read_u32(data, at + 12, true)?), read_u32(data, at + 16, true)?)
        };
        let arch = FatArch {
            cputype: read_u32(data, at, true)?,
            cpusubtype: read_u32(data, at + 4, true)?,
            offset,
            size,
            align,
        };
        let end = offset.checked_add(size).ok_or_else(|| err(format!("fat slice {i} overflows")))?;
        if offset < header_end as u64 || end > data.len() as u64 || size == 0 {
            return Err(err(format!("fat slice {i} (offset {offset}, size {size}) is outside the file")));
        }
        if align > 15 {
            return Err(err(format!("fat slice {i} has alignment 2^{align} (at most 2^15 is valid)")));
        }
        arches.push(arch);
    }
    let mut sorted: Vec<&FatArch> = arches.iter().collect();
    sorted.sort_by_key(|a| a.offset);
    for w in sorted.windows(2) {
        if w[0].offset + w[0].size > w[1].offset {
            return Err(err(format!("fat slices at offsets {} and {} overlap", w[0].offset, w[1].offset)));
        }
    }
    Ok(Some((arches, is64)))
}

// ---------------------------------------------------------------- thin slices

/// One load command: where it is, in bytes from the start of the slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadCommand {
    /// `cmd`.
    pub cmd: u32,
    /// Offset of the command in the slice.
    pub offset: usize,
    /// `cmdsize`.
    pub size: usize,
}

/// One LC_SEGMENT / LC_SEGMENT_64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// `segname`, without trailing NULs.
    pub name: Vec<u8>,
    /// Offset of the load command in the slice.
    pub cmd_offset: usize,
    /// `vmaddr`.
    pub vmaddr: u64,
    /// `vmsize`.
    pub vmsize: u64,
    /// `fileoff`.
    pub fileoff: u64,
    /// `filesize`.
    pub filesize: u64,
}

/// LC_CODE_SIGNATURE of a slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeSignatureCommand {
    /// Offset of the load command in the slice.
    pub cmd_offset: usize,
    /// `dataoff`: where the signature blob starts (also the end of the hashed code).
    pub dataoff: u32,
    /// `datasize`.
    pub datasize: u32,
}

/// The structure of one thin Mach-O slice, as needed to rewrite it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceLayout {
    /// Multi-byte fields are big-endian.
    pub big_endian: bool,
    /// 64-bit header (`mach_header_64`).
    pub is64: bool,
    /// `cputype`.
    pub cputype: u32,
    /// `cpusubtype`.
    pub cpusubtype: u32,
    /// `filetype`.
    pub filetype: u32,
    /// Size of the header (28 or 32): the load commands start here.
    pub header_size: usize,
    /// `sizeofcmds`.
    pub sizeofcmds: usize,
    /// Every load command, in order.
    pub commands: Vec<LoadCommand>,
    /// Every segment, in order.
    pub segments: Vec<Segment>,
    /// Lowest file offset of any non-empty, non-zerofill section (or of a
    /// sectionless segment with file data); the slice length if none.
    pub low_fileoff: u64,
    /// LC_CODE_SIGNATURE, if present.
    pub code_signature: Option<CodeSignatureCommand>,
}

impl SliceLayout {
    /// Parses the header and load commands of a thin slice.
    pub fn parse(data: &[u8]) -> Result<SliceLayout, ParseError> {
        let raw = read_u32(data, 0, false)?;
        let (big, is64) = match raw {
            MH_MAGIC => (false, false),
            MH_MAGIC_64 => (false, true),
            _ => match raw.swap_bytes() {
                MH_MAGIC => (true, false),
                MH_MAGIC_64 => (true, true),
                _ => return Err(err(format!("not a thin Mach-O (magic {raw:#010x})"))),
            },
        };
        let header_size = if is64 { 32 } else { 28 };
        if data.len() < header_size {
            return Err(err("Mach-O header is truncated"));
        }
        let cputype = read_u32(data, 4, big)?;
        let cpusubtype = read_u32(data, 8, big)?;
        let filetype = read_u32(data, 12, big)?;
        let ncmds = read_u32(data, 16, big)? as usize;
        let sizeofcmds = read_u32(data, 20, big)? as usize;
        let cmds_end = header_size
            .checked_add(sizeofcmds)
            .filter(|&e| e <= data.len())
            .ok_or_else(|| err(format!("load commands ({sizeofcmds} bytes) run past the end of the file")))?;
        if ncmds > sizeofcmds / 8 {
            return Err(err(format!("{ncmds} load commands cannot fit in {sizeofcmds} bytes")));
        }
        let align = if is64 { 8 } else { 4 };
        let mut layout = SliceLayout {
            big_endian: big,
            is64,
            cputype,
            cpusubtype,
            filetype,
            header_size,
            sizeofcmds,
            commands: Vec::with_capacity(ncmds),
            segments: Vec::new(),
            low_fileoff: data.len() as u64,
            code_signature: None,
        };
        let mut off = header_size;
        for i in 0..ncmds {
            let cmd = read_u32(data, off, big)?;
            let size = read_u32(data, off + 4, big)? as usize;
            if size < 8 {
                return Err(err(format!("load command {i} has cmdsize {size} (at least 8)")));
            }
            if size % align != 0 {
                return Err(err(format!("load command {i} has cmdsize {size}, not a multiple of {align}")));
            }
            let end = off.checked_add(size).filter(|&e| e <= cmds_end).ok_or_else(|| {
                err(format!("load command {i} (cmd {cmd:#x}) runs past sizeofcmds"))
            })?;
            let body = &data[off..end];
            match cmd {
                LC_SEGMENT | LC_SEGMENT_64 => layout.parse_segment(body, cmd == LC_SEGMENT_64, off, i)?,
                LC_CODE_SIGNATURE => {
                    if size < LINKEDIT_DATA_COMMAND_SIZE {
                        return Err(err("LC_CODE_SIGNATURE is too short"));
                    }
                    if layout.code_signature.is_some() {
                        return Err(err("more than one LC_CODE_SIGNATURE"));
                    }
                    layout.code_signature = Some(CodeSignatureCommand {
                        cmd_offset: off,
                        dataoff: read_u32(body, 8, big)?,
                        datasize: read_u32(body, 12, big)?,
                    });
                }
                _ => {}
            }
            layout.commands.push(LoadCommand { cmd, offset: off, size });
            off = end;
        }
        Ok(layout)
    }

    fn parse_segment(&mut self, body: &[u8], seg64: bool, cmd_offset: usize, index: usize) -> Result<(), ParseError> {
        let big = self.big_endian;
        let (fixed, sect_size) = if seg64 { (72usize, 80usize) } else { (56, 68) };
        if body.len() < fixed {
            return Err(err(format!("segment command {index} is too short")));
        }
        let name = body[8..24].iter().copied().take_while(|&b| b != 0).collect::<Vec<u8>>();
        let (vmaddr, vmsize, fileoff, filesize, nsects) = if seg64 {
            (read_u64(body, 24, big)?, read_u64(body, 32, big)?, read_u64(body, 40, big)?, read_u64(body, 48, big)?, read_u32(body, 64, big)?)
        } else {
            (
                u64::from(read_u32(body, 24, big)?),
                u64::from(read_u32(body, 28, big)?),
                u64::from(read_u32(body, 32, big)?),
                u64::from(read_u32(body, 36, big)?),
                read_u32(body, 48, big)?,
            )
        };
        let need = (nsects as usize).checked_mul(sect_size).and_then(|n| n.checked_add(fixed));
        if need.is_none_or(|n| n > body.len()) {
            return Err(err(format!("segment command {index} claims {nsects} sections, more than its cmdsize holds")));
        }
        if nsects == 0 {
            if filesize != 0 {
                self.low_fileoff = self.low_fileoff.min(fileoff);
            }
        } else {
            for s in 0..nsects as usize {
                let at = fixed + s * sect_size;
                let (size, offset, flags) = if seg64 {
                    (read_u64(body, at + 40, big)?, read_u32(body, at + 48, big)?, read_u32(body, at + 64, big)?)
                } else {
                    (u64::from(read_u32(body, at + 36, big)?), read_u32(body, at + 40, big)?, read_u32(body, at + 56, big)?)
                };
                let kind = flags & 0xff;
                if size != 0 && !matches!(kind, S_ZEROFILL | S_GB_ZEROFILL | S_THREAD_LOCAL_ZEROFILL) {
                    self.low_fileoff = self.low_fileoff.min(u64::from(offset));
                }
            }
        }
        self.segments.push(Segment { name, cmd_offset, vmaddr, vmsize, fileoff, filesize });
        Ok(())
    }

    /// End of the load-command area (`header_size + sizeofcmds`).
    pub fn commands_end(&self) -> usize {
        self.header_size + self.sizeofcmds
    }

    /// Bytes free between the load commands and the first section data.
    pub fn header_pad(&self) -> u64 {
        self.low_fileoff.saturating_sub(self.commands_end() as u64)
    }

    /// Alignment of load command sizes: 8 for 64-bit slices, 4 for 32-bit.
    pub fn command_align(&self) -> usize {
        if self.is64 {
            8
        } else {
            4
        }
    }

    /// The segment called `name` (`__TEXT`, `__LINKEDIT`, …).
    pub fn segment(&self, name: &[u8]) -> Option<&Segment> {
        self.segments.iter().find(|s| s.name == name)
    }

    /// The arch of this slice.
    pub fn arch(&self) -> MachOArch {
        MachOArch::from_cpu(self.cputype, self.cpusubtype)
    }
}

/// Reads the `lc_str` whose offset field sits at `field` in the command
/// `body`; the string must start after the command's fixed part
/// (`min_offset`) and inside the command, and ends at the first NUL (or at
/// the end of the command).
pub(crate) fn command_string(
    body: &[u8],
    field: usize,
    min_offset: usize,
    big: bool,
    what: &str,
) -> Result<String, ParseError> {
    let at = read_u32(body, field, big)? as usize;
    if at < min_offset || at >= body.len() {
        return Err(err(format!("{what} string offset {at} is outside its load command ({} bytes)", body.len())));
    }
    let bytes = &body[at..];
    let end = memchr::memchr(0, bytes).unwrap_or(bytes.len());
    String::from_utf8(bytes[..end].to_vec()).map_err(|_| err(format!("{what} is not valid UTF-8")))
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
                let s = parse_slice(bytes).map_err(|e| err(format!("slice {i} ({}): {e}", MachOArch::from_cpu(a.cputype, a.cpusubtype).name())))?;
                slices.push(s);
            }
            Ok(MachOInfo { fat: true, slices })
        }
    }
}
