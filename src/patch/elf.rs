//! Native ELF rewriter (replaces patchelf): DT_NEEDED, DT_SONAME, DT_RPATH,
//! `.gnu.version_r` file names.
//!
//! Strategy: strings are only ever added. The old `.dynstr` bytes are kept
//! and new strings appended to a copy placed, with `.dynamic` when it must
//! grow, in one new PT_LOAD at the end of the file; existing offsets stay
//! valid, nothing else moves.

use super::PatchError;

/// What to do with the search path of an ELF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpathEdit {
    /// Remove DT_RPATH and DT_RUNPATH.
    Remove,
    /// Set DT_RPATH to this `:`-separated value, removing any DT_RUNPATH.
    SetRpath(String),
    /// Set DT_RUNPATH to this value, removing any DT_RPATH.
    SetRunpath(String),
}

/// All edits to one ELF file, applied together, in field order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ElfEdits {
    /// DT_SONAME to set (added when absent).
    pub set_soname: Option<String>,
    /// DT_NEEDED entries to remove (e.g. libpython).
    pub remove_needed: Vec<String>,
    /// DT_NEEDED `(old, new)` renames; the matching `vn_file` of
    /// `.gnu.version_r` is renamed too.
    pub replace_needed: Vec<(String, String)>,
    /// The search path edit.
    pub rpath: Option<RpathEdit>,
}

impl ElfEdits {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.set_soname.is_none()
            && self.remove_needed.is_empty()
            && self.replace_needed.is_empty()
            && self.rpath.is_none()
    }
}

/// Applies `edits` to the ELF file `data` and returns the new file, after
/// re-parsing it and checking that the edits took effect and the PT_LOAD
/// rules hold (sorted, `p_vaddr ≡ p_offset (mod p_align)`, page-aligned `p_align`).
pub fn apply(data: &[u8], edits: &ElfEdits) -> Result<Vec<u8>, PatchError> {
    let _ = (data, edits);
    Err(PatchError::Unsupported("ELF rewriting is not implemented yet".into()))
}

/// Removes the symbol table and debug sections (what `strip -s` removes)
/// without touching anything that is loaded.
pub fn strip(data: &[u8]) -> Result<Vec<u8>, PatchError> {
    let _ = data;
    Err(PatchError::Unsupported("ELF strip is not implemented yet".into()))
}
