//! PE/COFF analysis: machine, imported DLLs and delay-loaded DLLs.

use super::ParseError;

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
    let _ = data;
    Err(ParseError::new("PE parsing is not implemented yet"))
}
