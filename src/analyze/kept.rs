//! The bytes a repair needs again, read once and handed forward (analysis →
//! plan → apply) as owned data, within one memory budget.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::wheel::splice::BlockIndex;

/// At most this many bytes (256 MiB) are kept for repair ([`Kept`]); past
/// it, repair inflates or reads what it patches again.
pub const KEEP_BUDGET: u64 = 256 << 20;

/// ELF entries of this many bytes or more (64 MiB) are never kept whole: a
/// repair patches them in part, reading their stream twice rather than
/// holding them (below it, holding the file costs less than the second pass).
const PARTIAL_PATCH_ABOVE: u64 = 64 << 20;

/// The size from which an ELF entry is read and patched in part:
/// [`PARTIAL_PATCH_ABOVE`], or `WHEELFIX_PARTIAL_PATCH_ABOVE` (bytes; for
/// tests of small files).
pub(crate) fn partial_patch_above() -> u64 {
    std::env::var("WHEELFIX_PARTIAL_PATCH_ABOVE").ok().and_then(|v| v.parse().ok()).unwrap_or(PARTIAL_PATCH_ABOVE)
}

/// One kept binary of the wheel: its inflated bytes and, for a large
/// deflated entry, its deflate block index (for the splice).
#[derive(Debug)]
pub struct KeptEntry {
    /// The inflated bytes.
    pub data: Vec<u8>,
    /// The block index, when the entry is large enough to be spliced.
    pub blocks: Option<BlockIndex>,
}

/// The parts of a huge ELF entry read for its parse ([`partial_patch_above`]),
/// kept for the repair that patches it in part: a buffer of the entry's full
/// length, of which only the ranges `read` (sorted, not overlapping) hold
/// its bytes.
#[derive(Debug)]
pub(crate) struct KeptPart {
    /// The buffer (anonymous pages: only those read are resident).
    pub(crate) data: memmap2::MmapMut,
    /// The ranges of it that hold the entry's bytes.
    pub(crate) read: Vec<(u64, u64)>,
}

/// Bytes kept for the repair that follows, so that what it patches is read
/// once: the wheel's binaries the analysis inflated and a repair will likely
/// patch (entry index → bytes), and the files on disk read to hash them
/// (path → bytes). Both draw on one budget of [`KEEP_BUDGET`] bytes; what
/// does not fit is read again when needed.
#[derive(Debug)]
pub struct Kept {
    entries: HashMap<usize, KeptEntry>,
    parts: HashMap<usize, KeptPart>,
    files: HashMap<PathBuf, Vec<u8>>,
    left: u64,
}

impl Default for Kept {
    fn default() -> Self {
        Kept::with_budget(KEEP_BUDGET)
    }
}

impl Kept {
    /// Nothing kept, and no room to keep anything: every byte is read again
    /// when needed (and a file on disk checked against its planned digest).
    pub fn none() -> Self {
        Kept::with_budget(0)
    }

    /// Nothing kept yet, with room for `budget` bytes.
    pub fn with_budget(budget: u64) -> Self {
        Kept { entries: HashMap::new(), parts: HashMap::new(), files: HashMap::new(), left: budget }
    }

    /// The budget left, to be shared by work running in parallel.
    pub(crate) fn budget(&self) -> Budget {
        Budget(AtomicU64::new(self.left))
    }

    /// Takes back what work sharing `budget` left of it.
    pub(crate) fn settle(&mut self, budget: Budget) {
        self.left = budget.0.into_inner();
    }

    /// Adds the bytes of entry `index`, whose room was reserved.
    pub(crate) fn insert_entry(&mut self, index: usize, entry: KeptEntry) {
        self.entries.insert(index, entry);
    }

    /// Adds the parts read of entry `index`, whose room was reserved.
    pub(crate) fn insert_part(&mut self, index: usize, part: KeptPart) {
        self.parts.insert(index, part);
    }

    /// Takes the parts kept of entry `index`, if there are any.
    pub(crate) fn take_part(&mut self, index: usize) -> Option<KeptPart> {
        self.parts.remove(&index)
    }

    /// Adds the bytes of the file at `path`, whose room was reserved.
    pub(crate) fn insert_file(&mut self, path: PathBuf, bytes: Vec<u8>) {
        self.files.insert(path, bytes);
    }

    /// The kept bytes of entry `index`, if there are any.
    pub fn entry(&self, index: usize) -> Option<&[u8]> {
        self.entries.get(&index).map(|e| e.data.as_slice())
    }

    /// Takes the kept bytes of entry `index`, if there are any.
    pub fn take_entry(&mut self, index: usize) -> Option<KeptEntry> {
        self.entries.remove(&index)
    }

    /// The kept bytes of the file at `path`, if there are any.
    pub fn file(&self, path: &Path) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    /// Whether the bytes of the file at `path` are kept.
    pub fn holds_file(&self, path: &Path) -> bool {
        self.files.contains_key(path)
    }

    /// Takes the kept bytes of the file at `path`, if there are any.
    pub fn take_file(&mut self, path: &Path) -> Option<Vec<u8>> {
        self.files.remove(path)
    }

    /// How many binaries of the wheel are kept, and their bytes.
    pub fn size(&self) -> (usize, usize) {
        (self.entries.len(), self.entries.values().map(|e| e.data.len()).sum())
    }

    /// Frees every entry but those `wanted` says yes to.
    pub fn retain_entries(&mut self, wanted: impl Fn(usize) -> bool) {
        self.entries.retain(|&i, _| wanted(i));
        self.parts.retain(|&i, _| wanted(i));
    }
}

/// The room left in a [`Kept`], taken from by work running in parallel.
#[derive(Debug)]
pub(crate) struct Budget(AtomicU64);

impl Budget {
    /// Takes `size` bytes of the budget; false when they do not fit.
    pub(crate) fn reserve(&self, size: u64) -> bool {
        self.0.fetch_update(Relaxed, Relaxed, |left| left.checked_sub(size)).is_ok()
    }

    /// The bytes left now (others may take some right after).
    pub(crate) fn left(&self) -> u64 {
        self.0.load(Relaxed)
    }
}
