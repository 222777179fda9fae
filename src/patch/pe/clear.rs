//! What a rename invalidates or what would defeat `os.add_dll_directory`,
//! cleared: the Authenticode signature, bound imports and the load config's
//! `DependentLoadFlags`.

use super::{align_up, write_u16, write_u32, PatchError};
use crate::binary::pe::{read_u16, read_u32, Layout, DIR_BOUND_IMPORT, DIR_LOAD_CONFIG, DIR_SECURITY};

/// Offset of `DependentLoadFlags` in `IMAGE_LOAD_CONFIG_DIRECTORY32`.
const LOAD_CONFIG_DEPENDENT_FLAGS_32: u32 = 0x36;
/// Offset of `DependentLoadFlags` in `IMAGE_LOAD_CONFIG_DIRECTORY64`.
const LOAD_CONFIG_DEPENDENT_FLAGS_64: u32 = 0x4e;

/// Zeroes the certificate directory; truncates the certificate table when
/// it is the whole tail of the file.
pub(super) fn remove_signature(layout: &Layout, out: &mut Vec<u8>) -> Result<(), PatchError> {
    let (cert_off, cert_size) = layout.dir(DIR_SECURITY);
    let Some(dir) = layout.dir_offset(DIR_SECURITY) else { return Ok(()) };
    if cert_off == 0 && cert_size == 0 {
        return Ok(());
    }
    let start = u64::from(cert_off);
    let end = align_up(start + u64::from(cert_size), 8);
    if cert_size != 0 && start >= layout.mapped_end() && end >= out.len() as u64 && start < out.len() as u64 {
        out.truncate(cert_off as usize);
    }
    write_u32(out, dir, 0)?;
    write_u32(out, dir + 4, 0)
}

/// Zeroes the bound import directory (and its bytes when they sit in the
/// headers), and the time stamps that mark descriptors as bound.
pub(super) fn clear_bound_imports(
    layout: &Layout,
    data: &[u8],
    out: &mut [u8],
    descriptors: &[usize],
) -> Result<(), PatchError> {
    let (rva, size) = layout.dir(DIR_BOUND_IMPORT);
    let Some(dir) = layout.dir_offset(DIR_BOUND_IMPORT) else { return Ok(()) };
    if rva == 0 && size == 0 {
        return Ok(());
    }
    write_u32(out, dir, 0)?;
    write_u32(out, dir + 4, 0)?;
    let end = u64::from(rva) + u64::from(size);
    if end <= u64::from(layout.size_of_headers) && rva as usize >= layout.section_table_end() {
        if let Some(bytes) = out.get_mut(rva as usize..end as usize) {
            bytes.fill(0);
        }
    }
    // A bound descriptor (TimeDateStamp != 0) with an import name table is
    // re-resolved by the loader once its stamp is 0.
    for &d in descriptors {
        let original_first_thunk = read_u32(data, d)?;
        let stamp = read_u32(data, d + 4)?;
        if stamp != 0 && original_first_thunk != 0 {
            write_u32(out, d + 4, 0)?;
        }
    }
    Ok(())
}

/// Sets `IMAGE_LOAD_CONFIG_DIRECTORY.DependentLoadFlags` to 0 when the
/// structure is long enough to have it.
pub(super) fn clear_dependent_load_flags(layout: &Layout, data: &[u8], out: &mut [u8]) -> Result<(), PatchError> {
    let (rva, _) = layout.dir(DIR_LOAD_CONFIG);
    if rva == 0 {
        return Ok(());
    }
    let Some(off) = layout.rva_to_offset(rva, 4) else { return Ok(()) };
    let size = read_u32(data, off)?;
    let field = if layout.is_64 { LOAD_CONFIG_DEPENDENT_FLAGS_64 } else { LOAD_CONFIG_DEPENDENT_FLAGS_32 };
    if size < field + 2 {
        return Ok(());
    }
    if let Some(at) = rva.checked_add(field).and_then(|r| layout.rva_to_offset(r, 2)) {
        if read_u16(data, at)? != 0 {
            write_u16(out, at, 0)?;
        }
    }
    Ok(())
}
