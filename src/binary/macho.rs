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
            (
                u64::from(read_u32(data, at + 8, true)?),
                u64::from(read_u32(data, at + 12, true)?),
                read_u32(data, at + 16, true)?,
            )
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
            let end = off
                .checked_add(size)
                .filter(|&e| e <= cmds_end)
                .ok_or_else(|| err(format!("load command {i} (cmd {cmd:#x}) runs past sizeofcmds")))?;
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
            (
                read_u64(body, 24, big)?,
                read_u64(body, 32, big)?,
                read_u64(body, 40, big)?,
                read_u64(body, 48, big)?,
                read_u32(body, 64, big)?,
            )
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
                    (
                        u64::from(read_u32(body, at + 36, big)?),
                        read_u32(body, at + 40, big)?,
                        read_u32(body, at + 56, big)?,
                    )
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
                let s = parse_slice(bytes).map_err(|e| {
                    err(format!("slice {i} ({}): {e}", MachOArch::from_cpu(a.cputype, a.cpusubtype).name()))
                })?;
                slices.push(s);
            }
            Ok(MachOInfo { fat: true, slices })
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small hand-made dylib: __TEXT with one section at 0x400, LC_ID_DYLIB,
    /// LC_LOAD_DYLIB, LC_RPATH, LC_BUILD_VERSION.
    pub(crate) fn mini(is64: bool, big: bool) -> Vec<u8> {
        let w32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&if big { x.to_be_bytes() } else { x.to_le_bytes() });
        let w64 = |v: &mut Vec<u8>, x: u64| v.extend_from_slice(&if big { x.to_be_bytes() } else { x.to_le_bytes() });
        let align = if is64 { 8 } else { 4 };
        let mut cmds = Vec::new();
        // segment with one section
        let (seg_cmd, seg_size) = if is64 { (LC_SEGMENT_64, 72 + 80) } else { (LC_SEGMENT, 56 + 68) };
        w32(&mut cmds, seg_cmd);
        w32(&mut cmds, seg_size);
        cmds.extend_from_slice(b"__TEXT\0\0\0\0\0\0\0\0\0\0");
        if is64 {
            for v in [0u64, 0x1000, 0, 0x1000] {
                w64(&mut cmds, v);
            }
        } else {
            for v in [0u32, 0x1000, 0, 0x1000] {
                w32(&mut cmds, v);
            }
        }
        for v in [5u32, 5, 1, 0] {
            w32(&mut cmds, v);
        }
        cmds.extend_from_slice(b"__text\0\0\0\0\0\0\0\0\0\0__TEXT\0\0\0\0\0\0\0\0\0\0");
        if is64 {
            w64(&mut cmds, 0x400);
            w64(&mut cmds, 0x10);
        } else {
            w32(&mut cmds, 0x400);
            w32(&mut cmds, 0x10);
        }
        w32(&mut cmds, 0x400); // offset
        for _ in 0..if is64 { 7 } else { 6 } {
            w32(&mut cmds, 0);
        }
        let mut strcmd = |cmd: u32, fixed: usize, s: &str| {
            let size = (fixed + s.len() + 1).div_ceil(align) * align;
            let start = cmds.len();
            w32(&mut cmds, cmd);
            w32(&mut cmds, size as u32);
            w32(&mut cmds, fixed as u32);
            cmds.resize(start + fixed, 0);
            cmds.extend_from_slice(s.as_bytes());
            cmds.resize(start + size, 0);
        };
        strcmd(LC_ID_DYLIB, DYLIB_COMMAND_SIZE, "@rpath/libmini.dylib");
        strcmd(LC_LOAD_WEAK_DYLIB, DYLIB_COMMAND_SIZE, "/usr/lib/libSystem.B.dylib");
        strcmd(LC_RPATH, RPATH_COMMAND_SIZE, "@loader_path/../lib");
        for v in [LC_BUILD_VERSION, 24, PLATFORM_MACOS, 0x000d_0100, 0x000e_0000, 0] {
            w32(&mut cmds, v);
        }
        let mut out = Vec::new();
        w32(&mut out, if is64 { MH_MAGIC_64 } else { MH_MAGIC });
        w32(&mut out, if is64 { CPU_TYPE_ARM64 } else { CPU_TYPE_X86 });
        w32(&mut out, 0);
        w32(&mut out, MH_DYLIB);
        w32(&mut out, 5);
        w32(&mut out, cmds.len() as u32);
        w32(&mut out, 0);
        if is64 {
            w32(&mut out, 0);
        }
        out.extend_from_slice(&cmds);
        out.resize(0x1000, 0);
        out
    }

    fn header_size(d: &[u8]) -> usize {
        let m = [d[0], d[1], d[2], d[3]];
        if u32::from_le_bytes(m) == MH_MAGIC || u32::from_be_bytes(m) == MH_MAGIC {
            28
        } else {
            32
        }
    }

    /// Offset of the n-th load command of a little-endian `mini` file.
    fn cmd_at(d: &[u8], n: usize) -> usize {
        let mut off = header_size(d);
        for _ in 0..n {
            off += u32::from_le_bytes(d[off + 4..off + 8].try_into().unwrap()) as usize;
        }
        off
    }

    #[test]
    fn parses_every_width_and_byte_order() {
        for is64 in [true, false] {
            for big in [false, true] {
                let info = parse(&mini(is64, big)).unwrap_or_else(|e| panic!("is64={is64} big={big}: {e}"));
                assert!(!info.fat);
                let s = &info.slices[0];
                assert_eq!(s.arch, if is64 { MachOArch::Arm64 } else { MachOArch::I386 });
                assert_eq!(s.filetype, MH_DYLIB);
                assert_eq!(s.id.as_deref(), Some("@rpath/libmini.dylib"));
                assert_eq!(s.deps, vec![DylibRef { name: "/usr/lib/libSystem.B.dylib".into(), kind: DylibKind::Weak }]);
                assert_eq!(s.rpaths, vec!["@loader_path/../lib".to_string()]);
                assert_eq!(s.min_macos.map(|v| v.to_string()).as_deref(), Some("13.1"));
                assert!(!s.signed);
                let sizeofcmds = read_u32(&mini(is64, big), 20, big).unwrap() as u64;
                assert_eq!(s.header_pad, 0x400 - header_size(&mini(is64, big)) as u64 - sizeofcmds);
            }
        }
    }

    #[test]
    fn rejects_cmdsize_zero_and_unaligned() {
        let mut d = mini(true, false);
        let at = cmd_at(&d, 1);
        d[at + 4..at + 8].copy_from_slice(&0u32.to_le_bytes());
        assert!(parse(&d).unwrap_err().0.contains("cmdsize 0"));
        let mut d = mini(true, false);
        d[at + 4..at + 8].copy_from_slice(&44u32.to_le_bytes());
        assert!(parse(&d).unwrap_err().0.contains("not a multiple of 8"));
    }

    #[test]
    fn rejects_commands_past_sizeofcmds() {
        let mut d = mini(true, false);
        let sizeofcmds = u32::from_le_bytes(d[20..24].try_into().unwrap());
        d[20..24].copy_from_slice(&(sizeofcmds - 8).to_le_bytes());
        assert!(parse(&d).unwrap_err().0.contains("past sizeofcmds"));
        let mut d = mini(true, false);
        d[20..24].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
        assert!(parse(&d).unwrap_err().0.contains("past the end of the file"));
        let mut d = mini(true, false);
        d[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&d).unwrap_err().0.contains("cannot fit"));
    }

    #[test]
    fn rejects_string_offsets_outside_the_command() {
        let mut d = mini(true, false);
        let at = cmd_at(&d, 3); // LC_RPATH
        d[at + 8..at + 12].copy_from_slice(&4096u32.to_le_bytes());
        assert!(parse(&d).unwrap_err().0.contains("outside its load command"));
        let mut d = mini(true, false);
        let at = cmd_at(&d, 1); // LC_ID_DYLIB: offset inside the fixed part
        d[at + 8..at + 12].copy_from_slice(&4u32.to_le_bytes());
        assert!(parse(&d).unwrap_err().0.contains("outside its load command"));
    }

    #[test]
    fn rejects_too_many_sections() {
        let mut d = mini(true, false);
        let at = cmd_at(&d, 0);
        d[at + 64..at + 68].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&d).unwrap_err().0.contains("sections"));
    }

    fn fat(entries: &[(u32, u32, u32, u32)], len: usize) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend_from_slice(&FAT_MAGIC.to_be_bytes());
        d.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        for &(cpu, off, size, align) in entries {
            for v in [cpu, 0, off, size, align] {
                d.extend_from_slice(&v.to_be_bytes());
            }
        }
        d.resize(len, 0);
        d
    }

    #[test]
    fn parses_a_fat64_file() {
        let thin = mini(false, true);
        let mut d = Vec::new();
        for v in [FAT_MAGIC_64, 1, CPU_TYPE_X86, 3] {
            d.extend_from_slice(&v.to_be_bytes());
        }
        for v in [0x1000u64, thin.len() as u64] {
            d.extend_from_slice(&v.to_be_bytes());
        }
        d.extend_from_slice(&[0, 0, 0, 12, 0, 0, 0, 0]);
        d.resize(0x1000, 0);
        d.extend_from_slice(&thin);
        let (arches, is64) = fat_arches(&d).unwrap().unwrap();
        assert!(is64);
        assert_eq!(
            arches[0],
            FatArch { cputype: CPU_TYPE_X86, cpusubtype: 3, offset: 0x1000, size: 0x1000, align: 12 }
        );
        let info = parse(&d).unwrap();
        assert_eq!(info.slices[0].arch, MachOArch::I386);
        assert_eq!(info.slices[0].rpaths, ["@loader_path/../lib"]);
    }

    #[test]
    fn parses_a_fat_file_and_rejects_bad_fat_headers() {
        let thin = mini(true, false);
        let mut d = fat(&[(CPU_TYPE_ARM64, 0x1000, thin.len() as u32, 12)], 0x1000);
        d.extend_from_slice(&thin);
        let info = parse(&d).unwrap();
        assert!(info.fat);
        assert_eq!(info.slices.len(), 1);
        assert_eq!(info.slices[0].id.as_deref(), Some("@rpath/libmini.dylib"));

        let mut huge = d.clone();
        huge[4..8].copy_from_slice(&0x4000_0000u32.to_be_bytes());
        assert!(parse(&huge).unwrap_err().0.contains("slices"));
        let mut long = d[..200].to_vec();
        long[4..8].copy_from_slice(&40u32.to_be_bytes());
        assert!(parse(&long).unwrap_err().0.contains("longer than the file"));

        let two = fat(&[(CPU_TYPE_ARM64, 0x1000, 0x1000, 12), (CPU_TYPE_X86_64, 0x1800, 0x1000, 12)], 0x3000);
        assert!(parse(&two).unwrap_err().0.contains("overlap"));
        let outside = fat(&[(CPU_TYPE_ARM64, 0x1000, 0xffff_f000, 12)], 0x2000);
        assert!(parse(&outside).unwrap_err().0.contains("outside the file"));
        let in_header = fat(&[(CPU_TYPE_ARM64, 4, 0x100, 12)], 0x2000);
        assert!(parse(&in_header).unwrap_err().0.contains("outside the file"));
    }

    #[test]
    fn truncations_and_corruptions_of_a_real_file_never_panic() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/macho/universal2/ext.cpython-312-darwin.so");
        let data = std::fs::read(path).expect("fixture missing: run fixtures/macho/build.sh");
        assert!(parse(&data).is_ok());
        // Every truncation of the fat header and of the arm64 slice's commands.
        for len in (0..64).chain(32768..32768 + 1400) {
            let _ = parse(&data[..len]);
            let _ = parse(&data[32768..len.max(32768)]);
        }
        // Pseudo-random byte overwrites in the header areas (deterministic LCG).
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut errors = 0;
        for _ in 0..3000 {
            let mut d = data.clone();
            for _ in 0..4 {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let pos =
                    if seed >> 63 == 0 { (seed >> 20) as usize % 64 } else { 32768 + (seed >> 20) as usize % 1400 };
                d[pos] = (seed >> 40) as u8;
            }
            errors += usize::from(parse(&d).is_err());
        }
        assert!(errors > 0, "no corruption was detected at all");
    }
}
