//! PE/COFF analysis: machine, imported DLLs, delay-loaded DLLs, exported
//! `PyInit_*` functions, overlay and signature.
//!
//! The headers are read by a small bounds-checked reader (`Layout`) that the
//! import rewriter in `patch::pe` shares, so both agree on every offset. All
//! numbers taken from the file go through checked arithmetic, every loop is
//! bounded by the file size, and every failure is a [`ParseError`] that names
//! the broken field.

mod imports;
mod layout;
#[cfg(test)]
mod tests;

use super::ParseError;
use crate::bytes::{le16, le32, le64, lossy};

pub(crate) use imports::ImportEntry;
pub(crate) use layout::{opt, Layout, Section};

/// What wheelfix knows of a PE image after one parse.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeInfo {
    /// `FileHeader.Machine` (0x14c i386, 0x8664 x64, 0xaa64 arm64).
    pub machine: u16,
    /// PE32+ (64-bit optional header).
    pub is_64: bool,
    /// DLL names of the import directory, in order, as written.
    pub imports: Vec<String>,
    /// DLL names of the delay-load import directory, in order, as written.
    pub delay_imports: Vec<String>,
    /// `MajorLinkerVersion`, `MinorLinkerVersion`.
    pub linker_version: (u8, u8),
    /// Bytes after the last section's raw data that are not the
    /// Authenticode certificate table (e.g. MinGW debug info).
    pub overlay_len: u64,
    /// The certificate (Authenticode) directory is non-empty.
    pub signed: bool,
    /// Exported `PyInit_*` functions.
    pub py_init: Vec<String>,
}

impl PeInfo {
    /// The wheel platform tag for this machine (`win32`, `win_amd64`,
    /// `win_arm64`), if any.
    pub fn platform_tag(&self) -> Option<&'static str> {
        match self.machine {
            0x14c => Some("win32"),
            0x8664 => Some("win_amd64"),
            0xaa64 => Some("win_arm64"),
            _ => None,
        }
    }

    /// All needed DLL names: imports then delay imports, deduplicated
    /// case-insensitively, in first-seen order.
    pub fn needed(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for n in self.imports.iter().chain(&self.delay_imports) {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(n)) {
                out.push(n);
            }
        }
        out
    }
}

/// Parses a PE image. Bounds-checked: never panics.
pub fn parse(data: &[u8]) -> Result<PeInfo, ParseError> {
    let layout = Layout::parse(data)?;
    let imports = layout.imports(data)?.into_iter().map(|d| lossy(d.name)).collect();
    let delay_imports = layout.delay_imports(data)?.into_iter().map(|d| lossy(d.name)).collect();
    let py_init = layout.export_names(data)?.into_iter().filter(|n| n.starts_with(b"PyInit_")).map(lossy).collect();
    let (cert_off, cert_size) = layout.dir(DIR_SECURITY);
    Ok(PeInfo {
        machine: layout.machine,
        is_64: layout.is_64,
        imports,
        delay_imports,
        linker_version: layout.linker_version,
        overlay_len: layout.overlay_len(data.len()),
        signed: cert_off != 0 && cert_size != 0,
        py_init,
    })
}

/// Data directory index of the export table.
pub(crate) const DIR_EXPORT: usize = 0;
/// Data directory index of the import table.
pub(crate) const DIR_IMPORT: usize = 1;
/// Data directory index of the certificate table (its address is a file offset).
pub(crate) const DIR_SECURITY: usize = 4;
/// Data directory index of the debug directory.
pub(crate) const DIR_DEBUG: usize = 6;
/// Data directory index of the load configuration.
pub(crate) const DIR_LOAD_CONFIG: usize = 10;
/// Data directory index of the bound import table.
pub(crate) const DIR_BOUND_IMPORT: usize = 11;
/// Data directory index of the delay-load import table.
pub(crate) const DIR_DELAY_IMPORT: usize = 13;

/// Size of one section header.
pub(crate) const SECTION_HEADER_SIZE: usize = 40;
/// Size of one import descriptor.
pub(crate) const IMPORT_DESCRIPTOR_SIZE: usize = 20;
/// Size of one delay-load descriptor.
pub(crate) const DELAY_DESCRIPTOR_SIZE: usize = 32;
/// Longest DLL or export name read (longer is treated as corrupt).
pub(crate) const MAX_NAME_LEN: usize = 4096;

/// Reads a little-endian `u16` at `off`.
pub(crate) fn read_u16(data: &[u8], off: usize) -> Result<u16, ParseError> {
    le16(data, off).ok_or_else(|| short_read(off, 2))
}

/// Reads a little-endian `u32` at `off`.
pub(crate) fn read_u32(data: &[u8], off: usize) -> Result<u32, ParseError> {
    le32(data, off).ok_or_else(|| short_read(off, 4))
}

/// Reads a little-endian `u64` at `off`.
pub(crate) fn read_u64(data: &[u8], off: usize) -> Result<u64, ParseError> {
    // a short read names the first missing 4-byte half
    le64(data, off).ok_or_else(|| if le32(data, off).is_none() { short_read(off, 4) } else { short_read(off + 4, 4) })
}

/// Why `len` bytes at `off` cannot be read.
fn short_read(off: usize, len: usize) -> ParseError {
    if off.checked_add(len).is_none() {
        ParseError::new("offset overflow")
    } else {
        ParseError::new(format!("truncated file: {len} bytes at offset {off:#x} are past the end"))
    }
}

/// The PE checksum: the 16-bit one's-complement sum of the file read as
/// little-endian words (an odd last byte padded with 0), skipping the 4-byte
/// `CheckSum` field at `checksum_offset`, plus the file length.
pub(crate) fn checksum(data: &[u8], checksum_offset: usize) -> u32 {
    let mut sum: u64 = 0;
    let mut chunks = data.chunks(2).enumerate();
    for (i, chunk) in &mut chunks {
        let at = i * 2;
        if at >= checksum_offset && at < checksum_offset + 4 {
            continue;
        }
        let word = match *chunk {
            [a, b] => u16::from_le_bytes([a, b]),
            [a] => u16::from(a),
            _ => 0,
        };
        sum += u64::from(word);
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let sum = (sum & 0xffff) + (sum >> 16);
    (sum as u32 & 0xffff).wrapping_add(data.len() as u32)
}
