//! In-memory rewriting of binaries: `&[u8]` in, `Vec<u8>` out, no files.
//!
//! Each format has an edit list type of the same shape (`ElfEdits`,
//! `MachOEdits`, `PeEdits`) whose fields are listed in the order they are
//! applied, and an `apply` function that performs all edits of one file in
//! one pass, then re-parses the output and checks that every edit took
//! effect and the layout rules hold. A rewrite that cannot be done safely is
//! a [`PatchError`], never a corrupt file.

pub mod codesign;
pub mod elf;
pub mod macho;
pub mod pe;

/// Why a binary could not be rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatchError {
    /// The input could not be parsed.
    #[error("cannot parse: {0}")]
    Parse(#[from] crate::binary::ParseError),
    /// The file has a layout this rewriter refuses to touch.
    #[error("unsupported layout: {0}")]
    Unsupported(String),
    /// The new names or commands do not fit.
    #[error("{what}: {need} bytes needed, {have} available")]
    NoRoom {
        /// What did not fit.
        what: String,
        /// Bytes needed.
        need: u64,
        /// Bytes available.
        have: u64,
        /// What the user can do.
        hint: String,
    },
    /// The edit list contradicts itself or names something absent.
    #[error("invalid edit: {0}")]
    InvalidEdit(String),
    /// The rewritten file failed the post-write check (a bug: nothing was written).
    #[error("rewritten file failed verification: {0}")]
    Verify(String),
}

impl PatchError {
    /// A suggestion for the user, if there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            PatchError::NoRoom { hint, .. } if !hint.is_empty() => Some(hint.clone()),
            _ => None,
        }
    }
}
