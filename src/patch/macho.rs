//! Native Mach-O relinker (replaces install_name_tool, codesign and lipo):
//! per slice of thin and fat files, the load-command area is rebuilt in
//! place within the header padding; modified slices are re-signed ad hoc.

use super::PatchError;

/// All edits to one Mach-O file (applied to every slice), in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MachOEdits {
    /// LC_ID_DYLIB to set.
    pub set_id: Option<String>,
    /// `(old, new)` install-name changes of LC_LOAD_DYLIB / WEAK / REEXPORT /
    /// LAZY / UPWARD commands. An `old` absent from a slice is not an error
    /// (as with `install_name_tool -change`).
    pub change_dylibs: Vec<(String, String)>,
    /// LC_RPATH entries to delete (every occurrence; absent ones are ignored).
    pub delete_rpaths: Vec<String>,
    /// LC_RPATH entries to add at the end (skipped when already present).
    pub add_rpaths: Vec<String>,
}

impl MachOEdits {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.set_id.is_none()
            && self.change_dylibs.is_empty()
            && self.delete_rpaths.is_empty()
            && self.add_rpaths.is_empty()
    }
}

/// Applies `edits` to every slice of `data`, re-signs (ad hoc) every slice
/// that was signed or is arm64, and re-checks the result.
pub fn apply(data: &[u8], edits: &MachOEdits) -> Result<Vec<u8>, PatchError> {
    let _ = (data, edits);
    Err(PatchError::Unsupported("Mach-O rewriting is not implemented yet".into()))
}

/// Builds a fat (universal) file from thin files (what `lipo -create` does).
pub fn create_fat(thin: &[&[u8]]) -> Result<Vec<u8>, PatchError> {
    let _ = thin;
    Err(PatchError::Unsupported("fat assembly is not implemented yet".into()))
}
