//! The dynamic string table being extended: strings are only ever added.

use super::{invalid, PatchError};

/// The dynamic string table being extended: old bytes are never changed.
pub(super) struct Strings<'a> {
    /// The table as it is in the file.
    pub(super) old: &'a [u8],
    /// The strings appended to it, each NUL-terminated.
    pub(super) tail: Vec<u8>,
}

impl Strings<'_> {
    /// The offset of `s`: an existing NUL-terminated occurrence (a suffix
    /// of a longer string counts) or a newly appended copy.
    pub(super) fn intern(&mut self, s: &str) -> Result<u64, PatchError> {
        if s.as_bytes().contains(&0) {
            return Err(invalid(format!("`{}` contains a NUL byte", s.escape_debug())));
        }
        let mut needle = Vec::with_capacity(s.len() + 1);
        needle.extend_from_slice(s.as_bytes());
        needle.push(0);
        if let Some(i) = memchr::memmem::find(self.old, &needle) {
            return Ok(i as u64);
        }
        if let Some(i) = memchr::memmem::find(&self.tail, &needle) {
            return Ok((self.old.len() + i) as u64);
        }
        let at = (self.old.len() + self.tail.len()) as u64;
        self.tail.extend_from_slice(&needle);
        Ok(at)
    }
}
