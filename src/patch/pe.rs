//! Native PE import rewriter (replaces delvewheel's pefile code): renames DLL
//! names of the import and delay-import tables.
//!
//! Only the descriptors' name fields change: they are pointed at new
//! NUL-terminated strings, written either into the slack at the end of a
//! data section (`VirtualSize < SizeOfRawData`) or, when that is too small,
//! into a new section `.wfix` appended to the image (growing the headers by
//! one `FileAlignment` unit when the section table is full). Thunks, hints
//! and the IAT are never touched. Alongside, the rewriter clears what the
//! edit invalidates or what would defeat `os.add_dll_directory`: the bound
//! import directory, the Authenticode signature and the load config's
//! `DependentLoadFlags`; the checksum is recomputed when it was set.
//!
//! [`strip`] drops a COFF symbol table and the debug sections behind it
//! (what `strip -s` does to a MinGW DLL) to make room for a new section.

use super::PatchError;
use crate::binary::pe::{
    self as pe_read, opt, read_u16, read_u32, Layout, DIR_BOUND_IMPORT, DIR_DEBUG, DIR_LOAD_CONFIG, DIR_SECURITY,
    SECTION_HEADER_SIZE,
};

/// Name of the section added when the names fit in no slack.
pub const NEW_SECTION_NAME: &[u8; 8] = b".wfix\0\0\0";

/// Longest DLL name accepted as a new name (Windows paths are limited to 260).
pub const MAX_NEW_NAME_LEN: usize = 255;

const SCN_CNT_CODE: u32 = 0x0000_0020;
const SCN_CNT_INITIALIZED_DATA: u32 = 0x0000_0040;
const SCN_CNT_UNINITIALIZED_DATA: u32 = 0x0000_0080;
const SCN_MEM_DISCARDABLE: u32 = 0x0200_0000;
const SCN_MEM_EXECUTE: u32 = 0x2000_0000;
const SCN_MEM_READ: u32 = 0x4000_0000;

/// Offset of `DependentLoadFlags` in `IMAGE_LOAD_CONFIG_DIRECTORY32`.
const LOAD_CONFIG_DEPENDENT_FLAGS_32: u32 = 0x36;
/// Offset of `DependentLoadFlags` in `IMAGE_LOAD_CONFIG_DIRECTORY64`.
const LOAD_CONFIG_DEPENDENT_FLAGS_64: u32 = 0x4e;

/// All edits to one PE image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeEdits {
    /// `(old, new)` DLL renames, matched case-insensitively, applied to the
    /// import and delay-import tables.
    pub replace_needed: Vec<(String, String)>,
}

impl PeEdits {
    /// An empty edit list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the rename `old` → `new`.
    pub fn replace(mut self, old: impl Into<String>, new: impl Into<String>) -> Self {
        self.replace_needed.push((old.into(), new.into()));
        self
    }
}

fn unsupported(msg: impl Into<String>) -> PatchError {
    PatchError::Unsupported(msg.into())
}

fn verify_err(msg: impl Into<String>) -> PatchError {
    PatchError::Verify(msg.into())
}

fn align_up(value: u64, align: u64) -> u64 {
    if align <= 1 {
        value
    } else {
        value.div_ceil(align) * align
    }
}

fn write_u16(out: &mut [u8], off: usize, value: u16) -> Result<(), PatchError> {
    let dst = out.get_mut(off..off + 2).ok_or_else(|| unsupported(format!("field at {off:#x} is past the end")))?;
    dst.copy_from_slice(&value.to_le_bytes());
    Ok(())
}

fn write_u32(out: &mut [u8], off: usize, value: u32) -> Result<(), PatchError> {
    let dst = out.get_mut(off..off + 4).ok_or_else(|| unsupported(format!("field at {off:#x} is past the end")))?;
    dst.copy_from_slice(&value.to_le_bytes());
    Ok(())
}

fn to_u32(value: u64, what: &str) -> Result<u32, PatchError> {
    u32::try_from(value).map_err(|_| unsupported(format!("{what} {value:#x} does not fit in 32 bits")))
}

fn check_alignment(layout: &Layout) -> Result<(), PatchError> {
    let fa = layout.file_alignment;
    let sa = layout.section_alignment;
    if !fa.is_power_of_two() || fa > 0x10000 || !sa.is_power_of_two() || sa < fa {
        return Err(unsupported(format!("odd alignment: FileAlignment {fa:#x}, SectionAlignment {sa:#x}")));
    }
    Ok(())
}

fn check_edits(edits: &PeEdits) -> Result<(), PatchError> {
    for (i, (old, new)) in edits.replace_needed.iter().enumerate() {
        if old.is_empty() {
            return Err(PatchError::InvalidEdit("empty DLL name to replace".into()));
        }
        let bad = new.is_empty()
            || new.len() > MAX_NEW_NAME_LEN
            || !new.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
            || new.contains(['/', '\\', ':']);
        if bad {
            return Err(PatchError::InvalidEdit(format!(
                "`{new}` is not a valid DLL name (ASCII, no path separators, 1 to {MAX_NEW_NAME_LEN} bytes)"
            )));
        }
        let dup = edits.replace_needed.iter().take(i).any(|(o, _)| o.eq_ignore_ascii_case(old));
        if dup {
            return Err(PatchError::InvalidEdit(format!("`{old}` is renamed twice")));
        }
    }
    Ok(())
}

/// The rename that applies to `name`, if any.
fn rename_of<'e>(edits: &'e PeEdits, name: &[u8]) -> Option<(usize, &'e str)> {
    edits
        .replace_needed
        .iter()
        .enumerate()
        .find(|(_, (old, _))| old.as_bytes().eq_ignore_ascii_case(name))
        .map(|(i, (_, new))| (i, new.as_str()))
}

/// Applies `edits` and returns the new image (bound imports cleared,
/// Authenticode removed, DependentLoadFlags cleared, checksum recomputed
/// when it was non-zero), after re-parsing and checking it.
pub fn apply(data: &[u8], edits: &PeEdits) -> Result<Vec<u8>, PatchError> {
    let layout = Layout::parse(data)?;
    check_alignment(&layout)?;
    check_edits(edits)?;
    let imports = layout.imports(data)?;
    let delays = layout.delay_imports(data)?;

    for (old, _) in &edits.replace_needed {
        let found = imports.iter().chain(&delays).any(|e| e.name.eq_ignore_ascii_case(old.as_bytes()));
        if !found {
            return Err(PatchError::InvalidEdit(format!("`{old}` is neither imported nor delay-loaded")));
        }
    }
    let expect = |entries: &[pe_read::ImportEntry<'_>]| -> Vec<String> {
        entries
            .iter()
            .map(|e| match rename_of(edits, e.name) {
                Some((_, new)) => new.to_string(),
                None => String::from_utf8_lossy(e.name).into_owned(),
            })
            .collect()
    };
    let expected_imports = expect(&imports);
    let expected_delays = expect(&delays);
    // For each name field to change, the index of its edit.
    let targets: Vec<usize> =
        imports.iter().chain(&delays).filter_map(|e| rename_of(edits, e.name).map(|(i, _)| i)).collect();
    let stamps: Vec<usize> = imports.iter().map(|e| e.descriptor_offset).collect();
    let original_overlay = layout.overlay_len(data.len());

    let mut out = data.to_vec();
    remove_signature(&layout, &mut out)?;
    clear_bound_imports(&layout, data, &mut out, &stamps)?;
    clear_dependent_load_flags(&layout, data, &mut out)?;

    // The strings, each once, in edit order.
    let mut blob = Vec::new();
    let mut blob_pos = vec![None; edits.replace_needed.len()];
    for &edit in &targets {
        if let Some(slot) = blob_pos.get_mut(edit) {
            if slot.is_none() {
                *slot = Some(blob.len());
                if let Some((_, new)) = edits.replace_needed.get(edit) {
                    blob.extend_from_slice(new.as_bytes());
                }
                blob.push(0);
            }
        }
    }

    if !targets.is_empty() {
        let mut layout = Layout::parse(&out)?;
        let strings: Vec<(usize, usize)> = blob_pos
            .iter()
            .filter_map(|p| *p)
            .map(|start| {
                let len = blob.iter().skip(start).position(|&b| b == 0).map_or(0, |n| n + 1);
                (start, len)
            })
            .collect();
        let mut rva_of = vec![0u32; blob.len()];
        if !place_in_slack(&layout, &mut out, &blob, &strings, &mut rva_of)? {
            let base = add_section(&mut layout, &mut out, &blob, data.len())?;
            for &(start, _) in &strings {
                if let Some(r) = rva_of.get_mut(start) {
                    *r = base.checked_add(start as u32).ok_or_else(|| unsupported("RVA overflow"))?;
                }
            }
        }
        // The headers may have moved: re-read the descriptor offsets.
        let fresh = Layout::parse(&out)?;
        let mut fields = Vec::new();
        for e in fresh.imports(&out)?.iter().chain(&fresh.delay_imports(&out)?) {
            if let Some((i, _)) = rename_of(edits, e.name) {
                fields.push((e.name_field_offset, e.name_is_va, i));
            }
        }
        if fields.len() != targets.len() {
            return Err(verify_err("import descriptors changed while making room"));
        }
        for (field, is_va, edit) in fields {
            let start = blob_pos.get(edit).copied().flatten().ok_or_else(|| verify_err("lost a new name"))?;
            let rva = rva_of.get(start).copied().ok_or_else(|| verify_err("lost a new name"))?;
            let value = if is_va { to_u32(fresh.image_base + u64::from(rva), "name VA")? } else { rva };
            write_u32(&mut out, field, value)?;
        }
    }

    if layout.checksum != 0 {
        let fresh = Layout::parse(&out)?;
        let at = fresh.opt_offset + opt::CHECKSUM;
        let sum = pe_read::checksum(&out, at);
        write_u32(&mut out, at, sum)?;
    }
    verify(&out, &expected_imports, &expected_delays, original_overlay, layout.checksum != 0)?;
    Ok(out)
}

/// Zeroes the certificate directory; truncates the certificate table when
/// it is the whole tail of the file.
fn remove_signature(layout: &Layout, out: &mut Vec<u8>) -> Result<(), PatchError> {
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
fn clear_bound_imports(layout: &Layout, data: &[u8], out: &mut [u8], descriptors: &[usize]) -> Result<(), PatchError> {
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
fn clear_dependent_load_flags(layout: &Layout, data: &[u8], out: &mut [u8]) -> Result<(), PatchError> {
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
fn place_in_slack(
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
fn add_section(layout: &mut Layout, out: &mut Vec<u8>, blob: &[u8], input_len: usize) -> Result<u32, PatchError> {
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
    let grow = (new_end - soh).div_ceil(fa) * fa;
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

/// Re-parses the output and checks the imports, the layout and the checksum.
fn verify(
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
