//! PE/COFF analysis: machine, imported DLLs, delay-loaded DLLs, exported
//! `PyInit_*` functions, overlay and signature.
//!
//! The headers are read by a small bounds-checked reader ([`Layout`]) that the
//! import rewriter in `patch::pe` shares, so both agree on every offset. All
//! numbers taken from the file go through checked arithmetic, every loop is
//! bounded by the file size, and every failure is a [`ParseError`] that names
//! the broken field.

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

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
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
    let end = off.checked_add(2).ok_or_else(|| ParseError::new("offset overflow"))?;
    match data.get(off..end) {
        Some(&[a, b]) => Ok(u16::from_le_bytes([a, b])),
        _ => Err(ParseError::new(format!("truncated file: 2 bytes at offset {off:#x} are past the end"))),
    }
}

/// Reads a little-endian `u32` at `off`.
pub(crate) fn read_u32(data: &[u8], off: usize) -> Result<u32, ParseError> {
    let end = off.checked_add(4).ok_or_else(|| ParseError::new("offset overflow"))?;
    match data.get(off..end) {
        Some(&[a, b, c, d]) => Ok(u32::from_le_bytes([a, b, c, d])),
        _ => Err(ParseError::new(format!("truncated file: 4 bytes at offset {off:#x} are past the end"))),
    }
}

/// Reads a little-endian `u64` at `off`.
pub(crate) fn read_u64(data: &[u8], off: usize) -> Result<u64, ParseError> {
    let lo = read_u32(data, off)?;
    let hi = read_u32(data, off.checked_add(4).ok_or_else(|| ParseError::new("offset overflow"))?)?;
    Ok(u64::from(lo) | (u64::from(hi) << 32))
}

/// One section header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Section {
    /// The 8 name bytes.
    pub name: [u8; 8],
    /// `VirtualSize`.
    pub virtual_size: u32,
    /// `VirtualAddress` (an RVA).
    pub virtual_address: u32,
    /// `SizeOfRawData`.
    pub size_of_raw_data: u32,
    /// `PointerToRawData`.
    pub pointer_to_raw_data: u32,
    /// `Characteristics`.
    pub characteristics: u32,
    /// File offset of this header.
    pub header_offset: usize,
}

impl Section {
    /// The size the section occupies in memory (`VirtualSize`, or the raw
    /// size when `VirtualSize` is 0, as the loader does).
    pub fn virtual_extent(&self) -> u32 {
        if self.virtual_size == 0 {
            self.size_of_raw_data
        } else {
            self.virtual_size
        }
    }

    /// The section's name up to the first NUL.
    pub fn name_str(&self) -> String {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(self.name.len());
        String::from_utf8_lossy(self.name.get(..end).unwrap_or(&[])).into_owned()
    }
}

/// One entry of the import or delay-import directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImportEntry<'a> {
    /// File offset of the descriptor.
    pub descriptor_offset: usize,
    /// File offset of the descriptor's name field.
    pub name_field_offset: usize,
    /// The name field holds a VA (delay descriptor without the RVA attribute).
    pub name_is_va: bool,
    /// The DLL name, without the NUL.
    pub name: &'a [u8],
}

/// The header fields of a PE image that analysis and rewriting need, with
/// the file offsets of the fields the rewriter changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    /// `FileHeader.Machine`.
    pub machine: u16,
    /// PE32+.
    pub is_64: bool,
    /// `MajorLinkerVersion`, `MinorLinkerVersion`.
    pub linker_version: (u8, u8),
    /// File offset of the COFF file header (after `PE\0\0`).
    pub coff_offset: usize,
    /// File offset of the optional header.
    pub opt_offset: usize,
    /// `ImageBase`.
    pub image_base: u64,
    /// `SectionAlignment`.
    pub section_alignment: u32,
    /// `FileAlignment`.
    pub file_alignment: u32,
    /// `SizeOfImage`.
    pub size_of_image: u32,
    /// `SizeOfHeaders`.
    pub size_of_headers: u32,
    /// `CheckSum`.
    pub checksum: u32,
    /// `PointerToSymbolTable` (COFF symbols, MinGW without `-s`).
    pub pointer_to_symbol_table: u32,
    /// `NumberOfSymbols`.
    pub number_of_symbols: u32,
    /// File offset of the data directory array.
    pub dirs_offset: usize,
    /// Data directories `(VirtualAddress, Size)`, at most 16.
    pub dirs: Vec<(u32, u32)>,
    /// File offset of the section table.
    pub section_table_offset: usize,
    /// The section headers, in table order.
    pub sections: Vec<Section>,
}

/// Optional header offsets shared by PE32 and PE32+.
pub(crate) mod opt {
    /// `SizeOfInitializedData`.
    pub const SIZE_OF_INITIALIZED_DATA: usize = 8;
    /// `SizeOfImage`.
    pub const SIZE_OF_IMAGE: usize = 56;
    /// `SizeOfHeaders`.
    pub const SIZE_OF_HEADERS: usize = 60;
    /// `CheckSum`.
    pub const CHECKSUM: usize = 64;
}

impl Layout {
    /// Reads the DOS, COFF and optional headers and the section table.
    pub fn parse(data: &[u8]) -> Result<Layout, ParseError> {
        if data.get(..2) != Some(b"MZ") {
            return Err(ParseError::new("not a PE image: no MZ signature"));
        }
        let pe_offset = read_u32(data, 0x3c)? as usize;
        let sig_end = pe_offset.checked_add(4).ok_or_else(|| ParseError::new("e_lfanew out of range"))?;
        if data.get(pe_offset..sig_end) != Some(b"PE\0\0") {
            return Err(ParseError::new(format!("not a PE image: no PE signature at e_lfanew {pe_offset:#x}")));
        }
        let coff_offset = sig_end;
        let machine = read_u16(data, coff_offset)?;
        let number_of_sections = usize::from(read_u16(data, coff_offset + 2)?);
        let pointer_to_symbol_table = read_u32(data, coff_offset + 8)?;
        let number_of_symbols = read_u32(data, coff_offset + 12)?;
        let opt_size = usize::from(read_u16(data, coff_offset + 16)?);
        let opt_offset = coff_offset + 20;
        let magic = read_u16(data, opt_offset)?;
        let is_64 = match magic {
            0x10b => false,
            0x20b => true,
            _ => return Err(ParseError::new(format!("unknown optional header magic {magic:#x}"))),
        };
        let opt_end = opt_offset.checked_add(opt_size).ok_or_else(|| ParseError::new("optional header overflow"))?;
        let (fixed_len, dirs_rel) = if is_64 { (112usize, 112usize) } else { (96, 96) };
        if opt_size < fixed_len {
            return Err(ParseError::new(format!("optional header too small: {opt_size} bytes")));
        }
        if opt_end > data.len() {
            return Err(ParseError::new("optional header runs past the end of the file"));
        }
        let image_base =
            if is_64 { read_u64(data, opt_offset + 24)? } else { u64::from(read_u32(data, opt_offset + 28)?) };
        let number_of_dirs = read_u32(data, opt_offset + dirs_rel - 4)?;
        let room = (opt_size - fixed_len) / 8;
        let number_of_dirs = (number_of_dirs as usize).min(16).min(room);
        let dirs_offset = opt_offset + dirs_rel;
        let mut dirs = Vec::with_capacity(number_of_dirs);
        for i in 0..number_of_dirs {
            dirs.push((read_u32(data, dirs_offset + i * 8)?, read_u32(data, dirs_offset + i * 8 + 4)?));
        }
        let section_table_offset = opt_end;
        let table_len = number_of_sections * SECTION_HEADER_SIZE;
        if section_table_offset.checked_add(table_len).is_none_or(|end| end > data.len()) {
            return Err(ParseError::new(format!("section table ({number_of_sections} sections) runs past the end")));
        }
        let mut sections = Vec::with_capacity(number_of_sections);
        for i in 0..number_of_sections {
            let h = section_table_offset + i * SECTION_HEADER_SIZE;
            let mut name = [0u8; 8];
            if let Some(src) = data.get(h..h + 8) {
                name.copy_from_slice(src);
            }
            let s = Section {
                name,
                virtual_size: read_u32(data, h + 8)?,
                virtual_address: read_u32(data, h + 12)?,
                size_of_raw_data: read_u32(data, h + 16)?,
                pointer_to_raw_data: read_u32(data, h + 20)?,
                characteristics: read_u32(data, h + 36)?,
                header_offset: h,
            };
            if s.size_of_raw_data != 0 {
                let end = u64::from(s.pointer_to_raw_data) + u64::from(s.size_of_raw_data);
                if end > data.len() as u64 {
                    return Err(ParseError::new(format!(
                        "section `{}` raw data ({:#x}..{end:#x}) runs past the end of the file ({:#x})",
                        s.name_str(),
                        s.pointer_to_raw_data,
                        data.len()
                    )));
                }
            }
            sections.push(s);
        }
        Ok(Layout {
            machine,
            is_64,
            linker_version: (
                data.get(opt_offset + 2).copied().unwrap_or(0),
                data.get(opt_offset + 3).copied().unwrap_or(0),
            ),
            coff_offset,
            opt_offset,
            image_base,
            section_alignment: read_u32(data, opt_offset + 32)?,
            file_alignment: read_u32(data, opt_offset + 36)?,
            size_of_image: read_u32(data, opt_offset + opt::SIZE_OF_IMAGE)?,
            size_of_headers: read_u32(data, opt_offset + opt::SIZE_OF_HEADERS)?,
            checksum: read_u32(data, opt_offset + opt::CHECKSUM)?,
            pointer_to_symbol_table,
            number_of_symbols,
            dirs_offset,
            dirs,
            section_table_offset,
            sections,
        })
    }

    /// Data directory `index` as `(VirtualAddress, Size)`; `(0, 0)` when absent.
    pub fn dir(&self, index: usize) -> (u32, u32) {
        self.dirs.get(index).copied().unwrap_or((0, 0))
    }

    /// File offset of data directory `index`, if the header has it.
    pub fn dir_offset(&self, index: usize) -> Option<usize> {
        (index < self.dirs.len()).then(|| self.dirs_offset + index * 8)
    }

    /// File offset of the end of the section table.
    pub fn section_table_end(&self) -> usize {
        self.section_table_offset + self.sections.len() * SECTION_HEADER_SIZE
    }

    /// End of the file data the image maps: the end of the headers or of the
    /// last section's raw data, whichever is further.
    pub fn mapped_end(&self) -> u64 {
        self.sections
            .iter()
            .filter(|s| s.size_of_raw_data != 0)
            .map(|s| u64::from(s.pointer_to_raw_data) + u64::from(s.size_of_raw_data))
            .fold(u64::from(self.size_of_headers), u64::max)
    }

    /// Bytes past [`Layout::mapped_end`] that are not the certificate table.
    pub fn overlay_len(&self, file_len: usize) -> u64 {
        let end = self.mapped_end();
        let len = file_len as u64;
        if len <= end {
            return 0;
        }
        let (cert_off, cert_size) = self.dir(DIR_SECURITY);
        let cert_start = u64::from(cert_off).max(end);
        let cert_end = (u64::from(cert_off) + u64::from(cert_size)).min(len);
        let cert = if cert_off != 0 && cert_size != 0 && cert_end > cert_start { cert_end - cert_start } else { 0 };
        len - end - cert
    }

    /// Maps `len` bytes at `rva` to a file offset; `None` when they are not
    /// all backed by file data of one section (or of the headers).
    pub fn rva_to_offset(&self, rva: u32, len: u32) -> Option<usize> {
        let end = u64::from(rva) + u64::from(len);
        if end <= u64::from(self.size_of_headers) {
            return Some(rva as usize);
        }
        for s in &self.sections {
            let start = u64::from(s.virtual_address);
            let backed = u64::from(s.virtual_extent().min(s.size_of_raw_data));
            if u64::from(rva) >= start && end <= start + backed {
                return usize::try_from(u64::from(s.pointer_to_raw_data) + u64::from(rva) - start).ok();
            }
        }
        None
    }

    /// The bytes that back `rva` up to the end of its section's file data.
    fn bytes_from<'a>(&self, data: &'a [u8], rva: u32) -> Option<&'a [u8]> {
        if rva < self.size_of_headers {
            let end = (self.size_of_headers as usize).min(data.len());
            return data.get(rva as usize..end);
        }
        for s in &self.sections {
            let start = s.virtual_address;
            let backed = s.virtual_extent().min(s.size_of_raw_data);
            if rva >= start && u64::from(rva) < u64::from(start) + u64::from(backed) {
                let off = s.pointer_to_raw_data as usize + (rva - start) as usize;
                let end = s.pointer_to_raw_data as usize + backed as usize;
                return data.get(off..end.min(data.len()));
            }
        }
        None
    }

    /// The NUL-terminated string at `rva` (without the NUL).
    pub fn c_string<'a>(&self, data: &'a [u8], rva: u32, what: &str) -> Result<&'a [u8], ParseError> {
        let bytes = self
            .bytes_from(data, rva)
            .ok_or_else(|| ParseError::new(format!("{what} RVA {rva:#x} is outside the image data")))?;
        let window = bytes.get(..bytes.len().min(MAX_NAME_LEN + 1)).unwrap_or(bytes);
        match memchr::memchr(0, window) {
            Some(n) => Ok(window.get(..n).unwrap_or(&[])),
            None => Err(ParseError::new(format!("{what} at RVA {rva:#x} is not NUL-terminated"))),
        }
    }

    /// File offset of a table of `count` entries of `size` bytes at `rva`.
    fn table_offset(&self, rva: u32, size: usize, what: &str) -> Result<usize, ParseError> {
        u32::try_from(size)
            .ok()
            .and_then(|len| self.rva_to_offset(rva, len))
            .ok_or_else(|| ParseError::new(format!("{what} at RVA {rva:#x} is outside the image data")))
    }

    /// The import directory's descriptors, up to the terminating one.
    pub fn imports<'a>(&self, data: &'a [u8]) -> Result<Vec<ImportEntry<'a>>, ParseError> {
        let (rva, _) = self.dir(DIR_IMPORT);
        let mut out = Vec::new();
        if rva == 0 {
            return Ok(out);
        }
        // Each descriptor takes 20 bytes of the file: this bounds the loop.
        for i in 0..=data.len() / IMPORT_DESCRIPTOR_SIZE {
            let at = u32::try_from(i * IMPORT_DESCRIPTOR_SIZE)
                .ok()
                .and_then(|d| rva.checked_add(d))
                .ok_or_else(|| ParseError::new("import directory overflows the address space"))?;
            let off = self.table_offset(at, IMPORT_DESCRIPTOR_SIZE, "import descriptor")?;
            let name_rva = read_u32(data, off + 12)?;
            let first_thunk = read_u32(data, off + 16)?;
            if name_rva == 0 && first_thunk == 0 {
                return Ok(out);
            }
            if name_rva == 0 {
                return Err(ParseError::new(format!("import descriptor {i} has no name")));
            }
            let name = self.c_string(data, name_rva, "imported DLL name")?;
            out.push(ImportEntry { descriptor_offset: off, name_field_offset: off + 12, name_is_va: false, name });
        }
        Err(ParseError::new("import directory has no terminating descriptor"))
    }

    /// The delay-load directory's descriptors, up to the terminating one.
    /// Descriptors without the RVA attribute (bit 0) hold VAs.
    pub fn delay_imports<'a>(&self, data: &'a [u8]) -> Result<Vec<ImportEntry<'a>>, ParseError> {
        let (rva, _) = self.dir(DIR_DELAY_IMPORT);
        let mut out = Vec::new();
        if rva == 0 {
            return Ok(out);
        }
        for i in 0..=data.len() / DELAY_DESCRIPTOR_SIZE {
            let at = u32::try_from(i * DELAY_DESCRIPTOR_SIZE)
                .ok()
                .and_then(|d| rva.checked_add(d))
                .ok_or_else(|| ParseError::new("delay-load directory overflows the address space"))?;
            let off = self.table_offset(at, DELAY_DESCRIPTOR_SIZE, "delay-load descriptor")?;
            let attributes = read_u32(data, off)?;
            let field = read_u32(data, off + 4)?;
            if field == 0 {
                return Ok(out);
            }
            let name_is_va = attributes & 1 == 0;
            let name_rva = if name_is_va {
                u64::from(field).checked_sub(self.image_base).and_then(|r| u32::try_from(r).ok()).ok_or_else(|| {
                    ParseError::new(format!("delay-load descriptor {i}: name VA {field:#x} is below the image base"))
                })?
            } else {
                field
            };
            let name = self.c_string(data, name_rva, "delay-loaded DLL name")?;
            out.push(ImportEntry { descriptor_offset: off, name_field_offset: off + 4, name_is_va, name });
        }
        Err(ParseError::new("delay-load directory has no terminating descriptor"))
    }

    /// Names exported by name, in table order.
    pub fn export_names<'a>(&self, data: &'a [u8]) -> Result<Vec<&'a [u8]>, ParseError> {
        let (rva, _) = self.dir(DIR_EXPORT);
        let mut out = Vec::new();
        if rva == 0 {
            return Ok(out);
        }
        let off = self.table_offset(rva, 40, "export directory")?;
        let count = read_u32(data, off + 24)? as usize;
        let names_rva = read_u32(data, off + 32)?;
        if count == 0 {
            return Ok(out);
        }
        let table_len = count.checked_mul(4).filter(|&n| n <= data.len()).ok_or_else(|| {
            ParseError::new(format!("export directory claims {count} names, more than the file can hold"))
        })?;
        let table = self.table_offset(names_rva, table_len, "export name table")?;
        for i in 0..count {
            let name_rva = read_u32(data, table + i * 4)?;
            out.push(self.c_string(data, name_rva, "export name")?);
        }
        Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal, valid PE32+ image built by hand: one `.rdata` section that
    /// holds one import descriptor naming `foo.dll`.
    fn tiny() -> Vec<u8> {
        let mut d = vec![0u8; 0x400];
        d[0] = b'M';
        d[1] = b'Z';
        d[0x3c] = 0x40;
        d[0x40..0x44].copy_from_slice(b"PE\0\0");
        let coff = 0x44;
        d[coff..coff + 2].copy_from_slice(&0x8664u16.to_le_bytes());
        d[coff + 2..coff + 4].copy_from_slice(&1u16.to_le_bytes());
        d[coff + 16..coff + 18].copy_from_slice(&240u16.to_le_bytes());
        let o = coff + 20;
        d[o..o + 2].copy_from_slice(&0x20bu16.to_le_bytes());
        d[o + 24..o + 32].copy_from_slice(&0x1_8000_0000u64.to_le_bytes());
        d[o + 32..o + 36].copy_from_slice(&0x1000u32.to_le_bytes());
        d[o + 36..o + 40].copy_from_slice(&0x200u32.to_le_bytes());
        d[o + 56..o + 60].copy_from_slice(&0x2000u32.to_le_bytes());
        d[o + 60..o + 64].copy_from_slice(&0x200u32.to_le_bytes());
        d[o + 108..o + 112].copy_from_slice(&16u32.to_le_bytes());
        // import directory at RVA 0x1000
        d[o + 112 + 8..o + 112 + 12].copy_from_slice(&0x1000u32.to_le_bytes());
        d[o + 112 + 12..o + 112 + 16].copy_from_slice(&40u32.to_le_bytes());
        let sh = o + 240;
        d[sh..sh + 6].copy_from_slice(b".rdata");
        d[sh + 8..sh + 12].copy_from_slice(&0x40u32.to_le_bytes());
        d[sh + 12..sh + 16].copy_from_slice(&0x1000u32.to_le_bytes());
        d[sh + 16..sh + 20].copy_from_slice(&0x200u32.to_le_bytes());
        d[sh + 20..sh + 24].copy_from_slice(&0x200u32.to_le_bytes());
        d[sh + 36..sh + 40].copy_from_slice(&0x4000_0040u32.to_le_bytes());
        // descriptor: name at RVA 0x1028, first thunk 0x1030
        d[0x200 + 12..0x200 + 16].copy_from_slice(&0x1028u32.to_le_bytes());
        d[0x200 + 16..0x200 + 20].copy_from_slice(&0x1030u32.to_le_bytes());
        d[0x228..0x22f].copy_from_slice(b"foo.dll");
        d
    }

    #[test]
    fn tiny_image_parses() {
        let info = parse(&tiny()).unwrap();
        assert_eq!(info.machine, 0x8664);
        assert!(info.is_64);
        assert_eq!(info.imports, vec!["foo.dll"]);
        assert!(info.delay_imports.is_empty());
        assert_eq!(info.overlay_len, 0);
        assert!(!info.signed);
    }

    fn expect_err(data: &[u8], needle: &str) {
        match parse(data) {
            Ok(info) => panic!("expected an error containing `{needle}`, got {info:?}"),
            Err(e) => assert!(e.0.contains(needle), "error `{e}` does not contain `{needle}`"),
        }
    }

    #[test]
    fn hostile_headers_are_errors() {
        expect_err(b"MZ", "truncated");
        let mut d = tiny();
        d[0x3c..0x40].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        expect_err(&d, "no PE signature");
        let mut d = tiny();
        d[0x58..0x5a].copy_from_slice(&0x999u16.to_le_bytes());
        expect_err(&d, "magic");
        // huge section count
        let mut d = tiny();
        d[0x46..0x48].copy_from_slice(&0xffffu16.to_le_bytes());
        expect_err(&d, "section table");
        // section raw data past the end of the file
        let mut d = tiny();
        let sh = 0x58 + 240;
        d[sh + 16..sh + 20].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
        expect_err(&d, "past the end");
        // optional header size larger than the file
        let mut d = tiny();
        d[0x54..0x56].copy_from_slice(&0xfff0u16.to_le_bytes());
        expect_err(&d, "optional header");
        // truncated anywhere: never a panic
        let d = tiny();
        for len in 0..d.len() {
            let _ = parse(&d[..len]);
        }
    }

    #[test]
    fn hostile_imports_are_errors() {
        // import directory RVA outside every section
        let mut d = tiny();
        let dir = 0x58 + 112 + 8;
        d[dir..dir + 4].copy_from_slice(&0x9999_0000u32.to_le_bytes());
        expect_err(&d, "outside the image data");
        // name RVA bogus
        let mut d = tiny();
        d[0x20c..0x210].copy_from_slice(&0xdead_beefu32.to_le_bytes());
        expect_err(&d, "outside the image data");
        // name without NUL: fill the rest of the section
        let mut d = tiny();
        for b in &mut d[0x228..0x240] {
            *b = b'a';
        }
        let sh = 0x58 + 240;
        d[sh + 8..sh + 12].copy_from_slice(&0x40u32.to_le_bytes());
        expect_err(&d, "not NUL-terminated");
        // no terminating descriptor: descriptors filling the whole section
        let mut d = tiny();
        for k in 0..(0x200 / 20) {
            let at = 0x200 + k * 20;
            d[at + 12..at + 16].copy_from_slice(&0x1028u32.to_le_bytes());
            d[at + 16..at + 20].copy_from_slice(&0x1030u32.to_le_bytes());
        }
        d[sh + 8..sh + 12].copy_from_slice(&0x200u32.to_le_bytes());
        assert!(parse(&d).is_err());
    }

    #[test]
    fn hostile_exports_and_delay_imports_are_errors() {
        // export directory with a huge name count
        let mut d = tiny();
        let dir = 0x58 + 112;
        d[dir..dir + 4].copy_from_slice(&0x1100u32.to_le_bytes());
        d[0x300 + 24..0x300 + 28].copy_from_slice(&0xffff_ffffu32.to_le_bytes());
        d[0x300 + 32..0x300 + 36].copy_from_slice(&0x1140u32.to_le_bytes());
        let sh = 0x58 + 240;
        d[sh + 8..sh + 12].copy_from_slice(&0x200u32.to_le_bytes());
        expect_err(&d, "more than the file can hold");
        // VA-style delay descriptor whose VA is below the image base
        let mut d = tiny();
        let dir = 0x58 + 112 + 13 * 8;
        d[dir..dir + 4].copy_from_slice(&0x1100u32.to_le_bytes());
        d[0x304..0x308].copy_from_slice(&0x1028u32.to_le_bytes());
        d[sh + 8..sh + 12].copy_from_slice(&0x200u32.to_le_bytes());
        expect_err(&d, "below the image base");
        // the same descriptor with the RVA attribute reads fine
        d[0x300] = 1;
        assert_eq!(parse(&d).unwrap().delay_imports, vec!["foo.dll"]);
    }

    #[test]
    fn checksum_of_known_bytes() {
        // words 0x0201 + 0x0403 (checksum field at 4..8 skipped) + 0x0009, plus length 9
        let data = [1u8, 2, 3, 4, 0xff, 0xff, 0xff, 0xff, 9];
        assert_eq!(checksum(&data, 4), 0x0201 + 0x0403 + 0x0009 + 9);
        // carries fold back into 16 bits
        let data = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert_eq!(checksum(&data, 4), 0xffff + 8);
    }
}
