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

mod clear;
mod room;
mod strip;
mod verify;

use super::PatchError;
use crate::binary::pe::{self as pe_read, opt, Layout};
use crate::bytes::{lossy, put_u16_at, put_u32_at, Order};
use clear::{clear_bound_imports, clear_dependent_load_flags, remove_signature};
use room::{add_section, place_in_slack};
pub use strip::strip;
use verify::verify;

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

/// [`crate::bytes::align_up`] of the image's sizes and offsets: 32-bit
/// fields and sums of two, which never overflow 64 bits.
fn align_up(value: u64, align: u64) -> u64 {
    crate::bytes::align_up(value, align).unwrap_or(u64::MAX)
}

/// Writes the little-endian `u16` `value` at `off`.
fn write_u16(out: &mut [u8], off: usize, value: u16) -> Result<(), PatchError> {
    put_u16_at(out, off, value, Order::Little).ok_or_else(|| past_the_end(off))
}

/// Writes the little-endian `u32` `value` at `off`.
fn write_u32(out: &mut [u8], off: usize, value: u32) -> Result<(), PatchError> {
    put_u32_at(out, off, value, Order::Little).ok_or_else(|| past_the_end(off))
}

fn past_the_end(off: usize) -> PatchError {
    unsupported(format!("field at {off:#x} is past the end"))
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
                None => lossy(e.name),
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
