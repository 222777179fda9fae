//! The memory-mapped wheel: watched for truncation while it lives, its
//! stamp kept to tell a file written over in place, and the pages read
//! released from this process's resident set as reads go forward.

use std::fmt;
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;
use zip::ZipArchive;

use super::WheelArchive;
use crate::wheel::WheelError;

/// The memory-mapped wheel, shared by every clone of the zip reader.
#[derive(Clone)]
pub(crate) struct MappedBytes(Arc<WatchedMap>);

impl MappedBytes {
    /// Maps `file` (opened from `path`) read-only, notes how it stands, and
    /// watches the mapping for truncation.
    pub(super) fn open(file: File, path: &Path) -> std::io::Result<Self> {
        // SAFETY: the map is read-only; we never write through it and never
        // hand out references that outlive `self`. A concurrent truncation
        // faults on the next access past the new end: the watch turns that
        // into a clean exit in the command-line tool ([`crate::sigbus`]).
        let opened = Stamp::of(&file.metadata()?);
        let map = unsafe { Mmap::map(&file) }?;
        let watch = crate::sigbus::watch_map(&map, path);
        Ok(MappedBytes(Arc::new(WatchedMap { _watch: watch, map, file, opened })))
    }
}

/// A mapping watched for truncation ([`crate::sigbus`]) for as long as it lives.
struct WatchedMap {
    // dropped first: the watch ends before the mapping does
    _watch: crate::sigbus::Watch,
    map: Mmap,
    /// The file mapped, and how it stood when it was opened.
    file: File,
    opened: Stamp,
}

/// What changes when a file is written: its size, its times, its inode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    changed: (i64, i64, u64),
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            changed: (meta.ctime(), meta.ctime_nsec(), meta.ino()),
        }
    }
}

impl std::ops::Deref for WatchedMap {
    type Target = Mmap;

    fn deref(&self) -> &Mmap {
        &self.map
    }
}

impl AsRef<[u8]> for MappedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for MappedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MappedBytes({} bytes)", self.0.len())
    }
}

/// The zip reader over the mapped file; cheap to clone.
pub(crate) type MappedZip = ZipArchive<ReleasingCursor>;

/// A cursor over the mapped wheel that, while it streams forward through
/// large stretches (a raw copy of a multi-GiB entry), tells the kernel to drop
/// the pages behind it from this process's resident set.
#[derive(Clone, Debug)]
pub(crate) struct ReleasingCursor {
    inner: Cursor<MappedBytes>,
    /// Start of the stretch read forward since the last release or seek.
    mark: u64,
}

impl ReleasingCursor {
    pub(super) fn new(bytes: MappedBytes) -> Self {
        ReleasingCursor { inner: Cursor::new(bytes), mark: 0 }
    }
}

impl Read for ReleasingCursor {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        /// Bytes read forward before the stretch behind is released.
        const STRETCH: u64 = 64 << 20;
        let n = self.inner.read(buf)?;
        let pos = self.inner.position();
        release_behind(&self.inner.get_ref().0, &mut self.mark, pos, STRETCH);
        Ok(n)
    }
}

impl std::io::Seek for ReleasingCursor {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let pos = self.inner.seek(to)?;
        self.mark = pos;
        Ok(pos)
    }
}

/// How far back (2 MiB) each release of a stretch read forward starts. A
/// read fault maps more than the page it needs: the pages around it (the
/// kernel's fault-around), or a whole large folio of the page cache (a file
/// this process wrote with large writes, such as a wheel it just repaired).
/// Those can lie before the end of the stretch released last, and would stay
/// resident: `show` of a freshly written 4.1 GiB wheel grew to 150 MiB.
const RELEASE_OVERLAP: u64 = 2 << 20;

/// For a reader that went forward through `map` from `mark` to `pos`: once
/// that is `stretch` bytes or more, releases what it read (from
/// [`RELEASE_OVERLAP`] before `mark`) and moves `mark` to `pos`.
fn release_behind(map: &Mmap, mark: &mut u64, pos: u64, stretch: u64) {
    if pos.saturating_sub(*mark) >= stretch {
        let start = mark.saturating_sub(RELEASE_OVERLAP);
        release_range(map, start, pos - start);
        *mark = pos;
    }
}

/// Drops the pages of `map[start..start + len]` from this process's resident
/// set (they stay in the page cache).
fn release_range(map: &Mmap, start: u64, len: u64) {
    let (Ok(start), Ok(len)) = (usize::try_from(start), usize::try_from(len)) else { return };
    if start.checked_add(len).is_none_or(|end| end > map.len()) || len == 0 {
        return;
    }
    #[cfg(unix)]
    // SAFETY: the mapping is shared and read-only: MADV_DONTNEED only drops
    // this process's page-table entries, and the next access reads the same
    // bytes back from the file (page cache). Nothing in the range is written.
    let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, len) };
}

impl WheelArchive {
    /// Whether the file still stands as it did when it was opened: same
    /// size, modification and change times, and inode. A wheel written over in
    /// place while it was read (at any size) is refused here, before an
    /// output made from a mix of its old and new bytes is put in place
    /// ([`WheelArchive::check_input`]).
    pub fn check_unchanged(&self) -> Result<(), WheelError> {
        let m = &self.bytes.0;
        match m.file.metadata() {
            Ok(now) if Stamp::of(&now) == m.opened => Ok(()),
            _ => Err(WheelError::Changed),
        }
    }

    /// Tells the kernel that none of the mapped file is needed for now: the
    /// pages the reads so far brought in leave this process's resident set
    /// (they stay in the page cache, and come back if read again).
    pub(crate) fn release_all(&self) {
        let map: &Mmap = &self.bytes.0.map;
        release_range(map, 0, map.len() as u64);
    }

    /// Tells the kernel that the mapped bytes of entry `index` are not needed
    /// any more, so a multi-GiB wheel read once does not stay in this
    /// process's resident set. Only for large entries; a no-op elsewhere.
    pub(crate) fn release(&self, index: usize) {
        /// Entries smaller than this are not worth a system call.
        const MIN: usize = 4 << 20;
        let Ok(raw) = self.raw_data(index) else { return };
        if raw.len() >= MIN {
            let map: &Mmap = &self.bytes.0.map;
            let offset = raw.as_ptr() as usize - map.as_ptr() as usize;
            release_range(map, offset as u64, raw.len() as u64);
        }
    }

    /// Releases, while an entry is being read, the part of its raw bytes
    /// already consumed (`raw[..upto]`), in steps of 8 MiB.
    pub(crate) fn release_consumed(&self, raw: &[u8], from: &mut usize, upto: usize) {
        const STRETCH: u64 = 8 << 20;
        let map: &Mmap = &self.bytes.0.map;
        let base = (raw.as_ptr() as usize - map.as_ptr() as usize) as u64;
        let mut mark = base + *from as u64;
        release_behind(map, &mut mark, base + upto as u64, STRETCH);
        *from = (mark - base) as usize;
    }
}
