//! The structure of one thin slice: its header, load commands, segments
//! and code signature command, as the rewriter and the code signer need it.

use super::{
    err, read_u32, read_u64, MachOArch, ParseError, LC_CODE_SIGNATURE, LC_SEGMENT, LC_SEGMENT_64,
    LINKEDIT_DATA_COMMAND_SIZE, MH_MAGIC, MH_MAGIC_64,
};

/// Section types whose data occupies no file bytes.
const S_ZEROFILL: u32 = 0x1;
const S_GB_ZEROFILL: u32 = 0xc;
const S_THREAD_LOCAL_ZEROFILL: u32 = 0x12;

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
