//! Room for the new DLL names: the slack at the end of data sections, or a
//! new section (growing the headers when the section table is full).

use super::{
    align_up, to_u32, unsupported, verify_err, write_u16, write_u32, PatchError, NEW_SECTION_NAME, SCN_CNT_CODE,
    SCN_CNT_INITIALIZED_DATA, SCN_CNT_UNINITIALIZED_DATA, SCN_MEM_DISCARDABLE, SCN_MEM_EXECUTE, SCN_MEM_READ,
};
use crate::binary::pe::{opt, read_u32, Layout, DIR_DEBUG, SECTION_HEADER_SIZE};
use crate::bytes::align_up_usize;

/// Slack of one section that may take new strings.
struct Slack {
    section: usize,
    start_rva: u32,
    start_off: usize,
    capacity: u32,
}

fn slack_candidates(layout: &Layout, out: &[u8]) -> Vec<Slack> {
    let mut found = Vec::new();
    for (i, s) in layout.sections.iter().enumerate() {
        let c = s.characteristics;
        let wanted = c & SCN_CNT_INITIALIZED_DATA != 0 && c & SCN_MEM_READ != 0;
        let refused = c & (SCN_CNT_CODE | SCN_MEM_EXECUTE | SCN_MEM_DISCARDABLE | SCN_CNT_UNINITIALIZED_DATA) != 0;
        if !wanted || refused || s.virtual_size == 0 || s.size_of_raw_data <= s.virtual_size {
            continue;
        }
        // Capped by the next section's start in memory.
        let next = layout
            .sections
            .iter()
            .map(|o| o.virtual_address)
            .filter(|&va| va > s.virtual_address)
            .min()
            .unwrap_or(u32::MAX);
        let limit = u64::from(s.size_of_raw_data).min(u64::from(next) - u64::from(s.virtual_address));
        let Some(capacity) = limit.checked_sub(u64::from(s.virtual_size)) else { continue };
        let start_off = u64::from(s.pointer_to_raw_data) + u64::from(s.virtual_size);
        let (Ok(start_off), Ok(capacity)) = (usize::try_from(start_off), u32::try_from(capacity)) else { continue };
        // Only bytes that hold nothing.
        let zero = out.get(start_off..start_off + capacity as usize).is_some_and(|b| b.iter().all(|&x| x == 0));
        if capacity == 0 || !zero {
            continue;
        }
        found.push(Slack { section: i, start_rva: s.virtual_address + s.virtual_size, start_off, capacity });
    }
    found
}

/// Next-fit packing of the strings into section slack. On success writes
/// them, bumps the sections' `VirtualSize` and `SizeOfImage`, fills `rva_of`
/// for each string start, and returns true. Returns false (nothing written)
/// when they do not fit.
pub(super) fn place_in_slack(
    layout: &Layout,
    out: &mut [u8],
    blob: &[u8],
    strings: &[(usize, usize)],
    rva_of: &mut [u32],
) -> Result<bool, PatchError> {
    let slacks = slack_candidates(layout, out);
    let mut used = vec![0u32; slacks.len()];
    let mut plan = Vec::with_capacity(strings.len());
    let mut cur = 0;
    for &(start, len) in strings {
        let len32 = u32::try_from(len).map_err(|_| unsupported("name too long"))?;
        loop {
            let (Some(slack), Some(u)) = (slacks.get(cur), used.get_mut(cur)) else { return Ok(false) };
            if slack.capacity - *u >= len32 {
                plan.push((start, len, cur, *u));
                *u += len32;
                break;
            }
            cur += 1;
        }
    }
    for (start, len, k, at) in plan {
        let (Some(slack), Some(src)) = (slacks.get(k), blob.get(start..start + len)) else {
            return Err(verify_err("slack plan out of range"));
        };
        let off = slack.start_off + at as usize;
        out.get_mut(off..off + len).ok_or_else(|| verify_err("slack past the end"))?.copy_from_slice(src);
        if let Some(r) = rva_of.get_mut(start) {
            *r = slack.start_rva + at;
        }
    }
    let mut image_end = u64::from(layout.size_of_image);
    for (slack, u) in slacks.iter().zip(&used) {
        if *u == 0 {
            continue;
        }
        let s = layout.sections.get(slack.section).ok_or_else(|| verify_err("slack section vanished"))?;
        let vsize = s.virtual_size + u;
        write_u32(out, s.header_offset + 8, vsize)?;
        image_end =
            image_end.max(align_up(u64::from(s.virtual_address) + u64::from(vsize), layout.section_alignment.into()));
    }
    write_u32(out, layout.opt_offset + opt::SIZE_OF_IMAGE, to_u32(image_end, "SizeOfImage")?)?;
    Ok(true)
}

/// Appends a section holding `blob`; returns its RVA. Grows the headers
/// when the section table has no room for one more header.
pub(super) fn add_section(
    layout: &mut Layout,
    out: &mut Vec<u8>,
    blob: &[u8],
    input_len: usize,
) -> Result<u32, PatchError> {
    let overlay = layout.overlay_len(out.len());
    let need = blob.len() as u64;
    if overlay != 0 {
        let have = slack_candidates(layout, out).iter().map(|s| u64::from(s.capacity)).sum();
        return Err(PatchError::NoRoom {
            what: format!(
                "new DLL names (no section slack fits them, and a {overlay}-byte overlay of {input_len} bytes blocks a new section)"
            ),
            need,
            have,
            hint: "drop the overlay (debug symbols) with `--strip`, or keep the DLL names as they are with `--no-mangle NAME`"
                .into(),
        });
    }
    if layout.sections.len() >= 96 {
        return Err(unsupported("the image already has 96 sections"));
    }
    ensure_header_room(layout, out)?;

    let fa = u64::from(layout.file_alignment);
    let sa = u64::from(layout.section_alignment);
    let virtual_end = layout
        .sections
        .iter()
        .map(|s| u64::from(s.virtual_address) + u64::from(s.virtual_extent()))
        .fold(u64::from(layout.size_of_headers), u64::max);
    let va = to_u32(align_up(virtual_end, sa), "new section address")?;
    let raw_ptr = align_up(out.len() as u64, fa);
    let raw_size = align_up(need, fa);
    let vsize = to_u32(need, "new section size")?;
    let raw_ptr32 = to_u32(raw_ptr, "new section offset")?;
    let raw_size32 = to_u32(raw_size, "new section size")?;
    let size_of_image = to_u32(align_up(u64::from(va) + need, sa), "SizeOfImage")?;

    let h = layout.section_table_end();
    let mut header = [0u8; SECTION_HEADER_SIZE];
    header[..8].copy_from_slice(NEW_SECTION_NAME);
    header[8..12].copy_from_slice(&vsize.to_le_bytes());
    header[12..16].copy_from_slice(&va.to_le_bytes());
    header[16..20].copy_from_slice(&raw_size32.to_le_bytes());
    header[20..24].copy_from_slice(&raw_ptr32.to_le_bytes());
    header[36..40].copy_from_slice(&(SCN_MEM_READ | SCN_CNT_INITIALIZED_DATA).to_le_bytes());
    out.get_mut(h..h + SECTION_HEADER_SIZE)
        .ok_or_else(|| verify_err("section table past the end"))?
        .copy_from_slice(&header);

    let count = layout.sections.len() as u16 + 1;
    write_u16(out, layout.coff_offset + 2, count)?;
    let init_at = layout.opt_offset + opt::SIZE_OF_INITIALIZED_DATA;
    let init = read_u32(out, init_at)?;
    write_u32(out, init_at, init.saturating_add(raw_size32))?;
    write_u32(out, layout.opt_offset + opt::SIZE_OF_IMAGE, size_of_image)?;

    out.resize(raw_ptr as usize, 0);
    out.extend_from_slice(blob);
    out.resize((raw_ptr + raw_size) as usize, 0);
    Ok(va)
}

/// Makes sure one more section header fits between the section table and
/// the first section's data; grows the headers by `FileAlignment` (shifting
/// every raw data pointer) when it does not.
fn ensure_header_room(layout: &mut Layout, out: &mut Vec<u8>) -> Result<(), PatchError> {
    let table_end = layout.section_table_end();
    let new_end = table_end + SECTION_HEADER_SIZE;
    let first_raw = layout
        .sections
        .iter()
        .filter(|s| s.size_of_raw_data != 0)
        .map(|s| s.pointer_to_raw_data as usize)
        .min()
        .unwrap_or(out.len());
    let first_va = layout.sections.iter().map(|s| s.virtual_address).min().unwrap_or(u32::MAX);
    let soh = layout.size_of_headers as usize;
    if first_raw < soh {
        return Err(unsupported(format!(
            "section data at {first_raw:#x} overlaps the headers (SizeOfHeaders {soh:#x})"
        )));
    }
    let in_use = |out: &[u8]| -> bool {
        let end = new_end.min(layout.size_of_headers as usize);
        out.get(table_end..end).is_none_or(|b| b.iter().any(|&x| x != 0))
    };
    if new_end <= soh && !in_use(out) {
        return Ok(());
    }
    if in_use(out) {
        return Err(unsupported("the bytes after the section table are in use"));
    }
    let fa = layout.file_alignment as usize;
    let grow = align_up_usize(new_end - soh, fa);
    let new_soh = soh + grow;
    if align_up(new_soh as u64, u64::from(layout.section_alignment)) > u64::from(first_va) {
        return Err(PatchError::NoRoom {
            what: "section header".into(),
            need: SECTION_HEADER_SIZE as u64,
            have: (soh - table_end) as u64,
            hint: "the headers cannot grow: the first section starts right after them in memory".into(),
        });
    }
    let shift = |v: u32| -> Result<u32, PatchError> {
        if v as usize >= soh {
            to_u32(u64::from(v) + grow as u64, "shifted file offset")
        } else {
            Ok(v)
        }
    };
    // Section headers: PointerToRawData, PointerToRelocations, PointerToLinenumbers.
    for s in &layout.sections {
        for field in [20usize, 24, 28] {
            let at = s.header_offset + field;
            let v = read_u32(out, at)?;
            if v != 0 {
                write_u32(out, at, shift(v)?)?;
            }
        }
    }
    if layout.pointer_to_symbol_table != 0 {
        write_u32(out, layout.coff_offset + 8, shift(layout.pointer_to_symbol_table)?)?;
    }
    // Debug directory entries: PointerToRawData at +24 of each 28-byte entry.
    // The entries themselves usually lie in section data and move too.
    let mut debug_updates = Vec::new();
    let (debug_rva, debug_size) = layout.dir(DIR_DEBUG);
    if debug_rva != 0 {
        if let Some(off) = layout.rva_to_offset(debug_rva, debug_size) {
            for k in 0..(debug_size as usize / 28) {
                let at = off + k * 28 + 24;
                let v = read_u32(out, at)?;
                if v != 0 {
                    let moved = if at >= soh { at + grow } else { at };
                    debug_updates.push((moved, shift(v)?));
                }
            }
        }
    }
    let tail = out.split_off(soh);
    out.resize(new_soh, 0);
    out.extend_from_slice(&tail);
    for (at, v) in debug_updates {
        write_u32(out, at, v)?;
    }
    write_u32(out, layout.opt_offset + opt::SIZE_OF_HEADERS, to_u32(new_soh as u64, "SizeOfHeaders")?)?;
    *layout = Layout::parse(out)?;
    Ok(())
}
