//! The headers of a PE image: the COFF and optional headers, the data
//! directories and the section table, with the file offsets of the fields
//! the rewriter changes, and the mapping of RVAs to file offsets.

use super::{read_u16, read_u32, read_u64, ParseError, DIR_SECURITY, SECTION_HEADER_SIZE};
use crate::bytes::lossy;

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
        lossy(self.name.get(..end).unwrap_or(&[]))
    }
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
}
