//! The import, delay-import and export directories of a PE image, and the
//! names they point at.

use super::{
    read_u32, Layout, ParseError, DELAY_DESCRIPTOR_SIZE, DIR_DELAY_IMPORT, DIR_EXPORT, DIR_IMPORT,
    IMPORT_DESCRIPTOR_SIZE, MAX_NAME_LEN,
};

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

impl Layout {
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
