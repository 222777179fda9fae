//! The check every rewrite passes before it is returned.

use super::{align_up, verify_err, PatchError};
use crate::binary::pe::{self as pe_read, opt, Layout};

/// Re-parses the output and checks the imports, the layout and the checksum.
pub(super) fn verify(
    out: &[u8],
    imports: &[String],
    delays: &[String],
    overlay: u64,
    has_checksum: bool,
) -> Result<(), PatchError> {
    let info = pe_read::parse(out).map_err(|e| verify_err(format!("cannot re-parse: {e}")))?;
    if info.imports != imports {
        return Err(verify_err(format!("imports are {:?}, expected {imports:?}", info.imports)));
    }
    if info.delay_imports != delays {
        return Err(verify_err(format!("delay imports are {:?}, expected {delays:?}", info.delay_imports)));
    }
    if info.signed {
        return Err(verify_err("the certificate directory is still set"));
    }
    if info.overlay_len != overlay {
        return Err(verify_err(format!("overlay changed from {overlay} to {} bytes", info.overlay_len)));
    }
    let layout = Layout::parse(out).map_err(|e| verify_err(format!("cannot re-parse: {e}")))?;
    let soh = u64::from(layout.size_of_headers);
    if layout.section_table_end() as u64 > soh {
        return Err(verify_err("the section table runs past SizeOfHeaders"));
    }
    let mut virt: Vec<(u64, u64)> = Vec::new();
    let mut raw: Vec<(u64, u64)> = Vec::new();
    for s in &layout.sections {
        let va = u64::from(s.virtual_address);
        virt.push((va, va + u64::from(s.virtual_extent())));
        if s.size_of_raw_data != 0 {
            let p = u64::from(s.pointer_to_raw_data);
            if p < soh {
                return Err(verify_err(format!("section `{}` data overlaps the headers", s.name_str())));
            }
            raw.push((p, p + u64::from(s.size_of_raw_data)));
        }
    }
    for (what, ranges) in [("in memory", &mut virt), ("in the file", &mut raw)] {
        ranges.sort_unstable();
        if ranges.windows(2).any(|w| matches!(w, [a, b] if a.1 > b.0)) {
            return Err(verify_err(format!("sections overlap {what}")));
        }
    }
    let sa = u64::from(layout.section_alignment);
    let virtual_end = virt.iter().map(|r| r.1).fold(soh, u64::max);
    if u64::from(layout.size_of_image) < align_up(virtual_end, sa) {
        return Err(verify_err(format!(
            "SizeOfImage {:#x} is smaller than the sections' end {virtual_end:#x}",
            layout.size_of_image
        )));
    }
    if has_checksum {
        let want = pe_read::checksum(out, layout.opt_offset + opt::CHECKSUM);
        if want != layout.checksum {
            return Err(verify_err(format!("checksum {:#x}, expected {want:#x}", layout.checksum)));
        }
    }
    Ok(())
}
