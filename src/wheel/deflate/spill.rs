//! The bytes of a compressed stream: in memory, or, for a stream too large
//! to hold, in an unlinked file beside the output, mapped, whose pages are
//! dropped as they are read.

use std::io::Write;
use std::path::Path;

/// Bytes gathered in memory before they are written to a spill file (8 MiB;
/// 64 KiB in unit tests, so that small streams are written in many steps).
const SPILL_STEP: usize = if cfg!(test) { 64 << 10 } else { 8 << 20 };

/// The bytes of a compressed stream.
pub enum StreamBytes {
    /// Held in memory.
    Memory(Vec<u8>),
    /// Written to an unlinked temporary file and mapped read-only.
    Spilled(memmap2::Mmap),
}

impl StreamBytes {
    /// Drops the pages of `start..end` from this process's memory, when the
    /// bytes come from a file: they are read from it again if needed.
    pub fn release(&self, start: usize, end: usize) {
        let StreamBytes::Spilled(map) = self else { return };
        let end = end.min(map.len());
        if start < end {
            #[cfg(unix)]
            // SAFETY: a shared read-only mapping of a file nothing writes
            // any more: MADV_DONTNEED only drops this process's page-table
            // entries, and the next access reads the same bytes back.
            let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start) };
        }
    }
}

impl std::ops::Deref for StreamBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            StreamBytes::Memory(v) => v,
            StreamBytes::Spilled(m) => m,
        }
    }
}

impl From<Vec<u8>> for StreamBytes {
    fn from(v: Vec<u8>) -> Self {
        StreamBytes::Memory(v)
    }
}

impl PartialEq for StreamBytes {
    fn eq(&self, other: &Self) -> bool {
        self[..] == other[..]
    }
}

impl Eq for StreamBytes {}

impl std::fmt::Debug for StreamBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = match self {
            StreamBytes::Memory(_) => "in memory",
            StreamBytes::Spilled(_) => "spilled",
        };
        write!(f, "{} bytes {how}", self.len())
    }
}

/// A stream being written out to an unlinked file in `dir`, a step at a
/// time: what is written is in the page cache, not in this process.
#[derive(Debug)]
pub struct Spill {
    file: std::fs::File,
    written: usize,
}

impl Spill {
    /// An unlinked temporary file in `dir`.
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        Ok(Spill { file: tempfile::tempfile_in(dir)?, written: 0 })
    }

    /// How many bytes were written.
    pub fn written(&self) -> usize {
        self.written
    }

    /// Appends `bytes` when they are at least a step long (or `force`), and
    /// then empties `bytes`; otherwise leaves them for later.
    pub fn take(&mut self, bytes: &mut Vec<u8>, force: bool) -> std::io::Result<()> {
        if bytes.len() >= SPILL_STEP || (force && !bytes.is_empty()) {
            self.file.write_all(bytes)?;
            self.written += bytes.len();
            bytes.clear();
        }
        Ok(())
    }

    /// The bytes written, mapped.
    pub fn finish(mut self, rest: &mut Vec<u8>) -> std::io::Result<StreamBytes> {
        self.take(rest, true)?;
        self.file.flush()?;
        if self.written == 0 {
            return Ok(StreamBytes::Memory(Vec::new()));
        }
        // SAFETY: the file is unlinked and only this process holds it; it is
        // not written again once mapped.
        let map = unsafe { memmap2::Mmap::map(&self.file)? };
        Ok(StreamBytes::Spilled(map))
    }
}
