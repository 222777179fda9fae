//! Native `strip -s` for PE images: the COFF symbol table and the debug
//! sections at the end of the image.

use super::{
    align_up, check_alignment, to_u32, verify_err, write_u16, write_u32, PatchError, SCN_CNT_INITIALIZED_DATA,
    SCN_MEM_DISCARDABLE,
};
use crate::binary::pe::{self as pe_read, opt, read_u32, Layout, DIR_SECURITY, SECTION_HEADER_SIZE};

/// A section `strip -s` drops: discardable debug data, named `.debug*` or by
/// a `/N` string table reference (how GNU ld names `.debug_*` sections).
fn is_debug_section(s: &pe_read::Section) -> bool {
    let long_name =
        s.name.first() == Some(&b'/') && s.name.iter().skip(1).take_while(|&&b| b != 0).all(u8::is_ascii_digit);
    s.characteristics & SCN_MEM_DISCARDABLE != 0 && (s.name.starts_with(b".debug") || long_name)
}

/// Drops the COFF symbol table and the debug sections at the end of the
/// image (what `strip -s` does to a MinGW DLL), so that a new section fits
/// after the last one. The certificate directory is cleared (the signature
/// no longer matches) and the checksum recomputed when it was set.
pub fn strip(data: &[u8]) -> Result<Vec<u8>, PatchError> {
    let layout = Layout::parse(data)?;
    check_alignment(&layout)?;
    let before = pe_read::parse(data)?;
    let mut out = data.to_vec();
    write_u32(&mut out, layout.coff_offset + 8, 0)?;
    write_u32(&mut out, layout.coff_offset + 12, 0)?;

    // Drop debug sections from the end of the table while they are also the
    // last in memory and in the file, and no data directory points into them.
    let mut keep = layout.sections.len();
    while let Some(s) = keep.checked_sub(1).and_then(|i| layout.sections.get(i)) {
        let rest = layout.sections.get(..keep - 1).unwrap_or(&[]);
        let start = u64::from(s.virtual_address);
        let end = start + u64::from(s.virtual_extent());
        let last_in_memory = rest.iter().all(|o| u64::from(o.virtual_address) + u64::from(o.virtual_extent()) <= start);
        let last_in_file = s.size_of_raw_data == 0
            || rest.iter().filter(|o| o.size_of_raw_data != 0).all(|o| {
                u64::from(o.pointer_to_raw_data) + u64::from(o.size_of_raw_data) <= u64::from(s.pointer_to_raw_data)
            });
        let referenced = layout.dirs.iter().enumerate().any(|(i, &(rva, size))| {
            i != DIR_SECURITY && size != 0 && u64::from(rva) < end && u64::from(rva) + u64::from(size) > start
        });
        if !is_debug_section(s) || !last_in_memory || !last_in_file || referenced {
            break;
        }
        keep -= 1;
    }
    let removed = layout.sections.get(keep..).unwrap_or(&[]);
    let kept = layout.sections.get(..keep).unwrap_or(&[]);
    let mut init = read_u32(&out, layout.opt_offset + opt::SIZE_OF_INITIALIZED_DATA)?;
    for s in removed {
        if s.characteristics & SCN_CNT_INITIALIZED_DATA != 0 {
            init = init.saturating_sub(s.size_of_raw_data);
        }
        out.get_mut(s.header_offset..s.header_offset + SECTION_HEADER_SIZE)
            .ok_or_else(|| verify_err("section header past the end"))?
            .fill(0);
    }
    write_u32(&mut out, layout.opt_offset + opt::SIZE_OF_INITIALIZED_DATA, init)?;
    write_u16(&mut out, layout.coff_offset + 2, keep as u16)?;
    let virtual_end = kept
        .iter()
        .map(|s| u64::from(s.virtual_address) + u64::from(s.virtual_extent()))
        .fold(u64::from(layout.size_of_headers), u64::max);
    let size_of_image = align_up(virtual_end, layout.section_alignment.into());
    write_u32(&mut out, layout.opt_offset + opt::SIZE_OF_IMAGE, to_u32(size_of_image, "SizeOfImage")?)?;
    if let Some(dir) = layout.dir_offset(DIR_SECURITY) {
        write_u32(&mut out, dir, 0)?;
        write_u32(&mut out, dir + 4, 0)?;
    }
    let file_end = kept
        .iter()
        .filter(|s| s.size_of_raw_data != 0)
        .map(|s| u64::from(s.pointer_to_raw_data) + u64::from(s.size_of_raw_data))
        .fold(u64::from(layout.size_of_headers), u64::max);
    out.truncate(usize::try_from(file_end).map_err(|_| verify_err("file end out of range"))?);
    if layout.checksum != 0 {
        let at = layout.opt_offset + opt::CHECKSUM;
        let sum = pe_read::checksum(&out, at);
        write_u32(&mut out, at, sum)?;
    }
    let after = pe_read::parse(&out).map_err(|e| verify_err(format!("cannot re-parse: {e}")))?;
    if after.imports != before.imports || after.delay_imports != before.delay_imports || after.overlay_len != 0 {
        return Err(verify_err("stripping changed the imports or left an overlay"));
    }
    Ok(out)
}
