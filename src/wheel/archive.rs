//! Reading a wheel: memory-mapped, entries inflated lazily, names checked.
//!
//! [`WheelArchive::open`] maps the file, parses the zip central directory
//! (zip64 included) and refuses anything an installer could be tricked by:
//! unsafe or duplicate names, symbolic links, zip bombs (declared sizes or
//! compression ratios over [`Limits`]), overlapping entries, local headers
//! that disagree with the central directory. It then finds the one
//! `{name}-{version}.dist-info/` directory and parses its `WHEEL` and `RECORD`.
//!
//! Entries are inflated on demand by [`WheelArchive::read`], from `&self`, so
//! several threads can read at once. Inflating never produces more than the
//! size the central directory declares, and the CRC-32 is checked: a central
//! directory that lies is an error, not a surprise.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use memmap2::Mmap;
use rayon::prelude::*;
use zip::{CompressionMethod, ZipArchive};

use super::filename::normalize_name;
use super::{Record, WheelError, WheelFilename, WheelMetadata};
use crate::bytes::ranges_cover;

/// One entry of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The (checked, `/`-separated) name.
    pub name: String,
    /// Index in the zip central directory.
    pub index: usize,
    /// Uncompressed size.
    pub size: u64,
    /// Compressed size.
    pub compressed_size: u64,
    /// CRC-32 from the central directory.
    pub crc32: u32,
    /// Unix permission bits, when the entry carries them.
    pub unix_mode: Option<u32>,
    /// The entry is a directory.
    pub is_dir: bool,
}

/// How an entry's bytes are stored in the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Stored as is.
    Stored,
    /// Raw deflate.
    Deflated,
}

/// Zip bomb limits applied when opening a wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest declared uncompressed size of one entry.
    pub max_entry_size: u64,
    /// Largest declared uncompressed size of all entries together.
    pub max_total_size: u64,
    /// Largest `uncompressed / compressed` ratio for entries above `ratio_min_size`.
    pub max_ratio: u64,
    /// Entries at most this large are not held to `max_ratio`.
    pub ratio_min_size: u64,
    /// Most entries an archive may hold.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entry_size: 8 << 30,
            max_total_size: 32 << 30,
            max_ratio: 1000,
            ratio_min_size: 1 << 20,
            max_entries: 1 << 20,
        }
    }
}

/// Largest `WHEEL` or `RECORD` file read at open.
const MAX_METADATA_SIZE: u64 = 256 << 20;

/// The memory-mapped wheel, shared by every clone of the zip reader.
#[derive(Clone)]
pub(crate) struct MappedBytes(Arc<WatchedMap>);

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
    fn new(bytes: MappedBytes) -> Self {
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

/// What [`WheelArchive::inflate_into`] returns: the bytes kept, the size, the sha256.
type Inflated = (Vec<u8>, u64, Option<[u8; 32]>);

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

/// Inflates from `d` (reading `raw` from where it stopped) until `step` is
/// full or the stream ends. Returns the bytes made and whether the stream
/// ended; an error for corrupt data or a stream that stops short.
fn inflate_step(d: &mut flate2::Decompress, raw: &[u8], step: &mut [u8]) -> Result<(usize, bool), String> {
    let mut filled = 0usize;
    while filled < step.len() {
        let (in0, out0) = (d.total_in(), d.total_out());
        let input = raw.get(usize::try_from(in0).unwrap_or(usize::MAX)..).unwrap_or_default();
        let status = d
            .decompress(input, &mut step[filled..], flate2::FlushDecompress::None)
            .map_err(|e| format!("corrupt deflate data: {e}"))?;
        filled += usize::try_from(d.total_out() - out0).unwrap_or(0);
        if status == flate2::Status::StreamEnd {
            return Ok((filled, true));
        }
        if d.total_out() == out0 && d.total_in() == in0 {
            return Err("corrupt deflate data: the stream ends early".to_string());
        }
    }
    Ok((filled, false))
}

/// One step of reading a file in part, in order: of `piece` (the file's
/// bytes at `start`), copies into `out` the parts of `want` that `read` does
/// not hold yet, and adds them to `read` (sorted, not overlapping). After
/// anything new, `plan` gives the new `want`, and the same piece is looked
/// at again: it may hold what was just named.
pub fn keep_step(
    out: &mut [u8],
    read: &mut Vec<(u64, u64)>,
    want: &mut Vec<(u64, u64)>,
    start: u64,
    piece: &[u8],
    plan: &mut PartialPlan<'_>,
) {
    let end = (start + piece.len() as u64).min(out.len() as u64);
    loop {
        let mut new = false;
        for &(ws, we) in want.iter() {
            let (a, b) = (ws.max(start), we.min(end));
            if a >= b || ranges_cover(read, a, b) {
                continue;
            }
            // bytes held already are written again with the same values
            out[a as usize..b as usize].copy_from_slice(&piece[(a - start) as usize..(b - start) as usize]);
            read.push((a, b));
            read.sort_unstable();
            let mut merged: Vec<(u64, u64)> = Vec::with_capacity(read.len());
            for &(a, b) in read.iter() {
                match merged.last_mut() {
                    Some(last) if last.1 >= a => last.1 = last.1.max(b),
                    _ => merged.push((a, b)),
                }
            }
            *read = merged;
            new = true;
        }
        if !new {
            return;
        }
        *want = plan(out, read);
    }
}

/// Once `pos` bytes (all that were declared) are inflated: the stream must
/// end there, with not one byte more.
fn stream_ends(d: &mut flate2::Decompress, raw: &[u8], pos: usize, ended: bool, declared: u64) -> Result<(), String> {
    let mut ended = ended;
    while !ended {
        let in0 = d.total_in();
        let input = raw.get(usize::try_from(in0).unwrap_or(usize::MAX)..).unwrap_or_default();
        let mut one = [0u8; 1];
        let status = d
            .decompress(input, &mut one, flate2::FlushDecompress::None)
            .map_err(|e| format!("corrupt deflate data: {e}"))?;
        if d.total_out() > pos as u64 {
            return Err(format!("inflates to more than the {declared} bytes the central directory declares"));
        }
        ended = status == flate2::Status::StreamEnd;
        if !ended && d.total_in() == in0 {
            return Err("corrupt deflate data: the stream ends early".to_string());
        }
    }
    Ok(())
}

/// The size and CRC-32 an entry inflated to, against its central directory.
fn check_size_and_crc(entry: &Entry, got: u64, crc: u32) -> Result<(), String> {
    if got > entry.size {
        return Err(format!("inflates to more than the {} bytes the central directory declares", entry.size));
    }
    if got < entry.size {
        return Err(format!("inflates to {got} bytes, the central directory declares {}", entry.size));
    }
    if crc != entry.crc32 {
        return Err(format!("CRC-32 is {crc:08x}, the central directory declares {:08x}", entry.crc32));
    }
    Ok(())
}

/// Entries at least this large (1 MiB) have their sha256 computed on
/// another rayon worker while they are inflated; smaller ones inline.
const HASH_ALONGSIDE_MIN: usize = 1 << 20;

/// Runs `produce`, which hands each finished piece of its output to the sink
/// it is given, in order, and never writes a piece again once handed on; and
/// computes the sha256 of those pieces when `want`. With `alongside`, the
/// hashing runs on another rayon worker while `produce` goes on (or on this
/// one after it, when no worker is free); otherwise inline, piece by piece.
fn sha256_alongside<'a, R: Send>(
    want: bool,
    alongside: bool,
    produce: impl FnOnce(&mut dyn FnMut(&'a [u8])) -> R + Send,
) -> (R, Option<[u8; 32]>) {
    use sha2::Digest;
    if !want {
        return (produce(&mut |_| {}), None);
    }
    if !alongside {
        let mut sha = sha2::Sha256::new();
        let r = produce(&mut |piece| sha.update(piece));
        return (r, Some(sha.finalize().into()));
    }
    let (tx, rx) = std::sync::mpsc::channel::<&'a [u8]>();
    let (r, digest) = rayon::join(
        move || {
            let r = produce(&mut |piece| {
                // the receiver lives until the sender is dropped
                let _ = tx.send(piece);
            });
            drop(tx);
            r
        },
        move || {
            let mut sha = sha2::Sha256::new();
            for piece in rx {
                sha.update(piece);
            }
            <[u8; 32]>::from(sha.finalize())
        },
    );
    (r, Some(digest))
}

/// Reads the file at `path` whole, computing its sha256 on another rayon
/// worker while later pieces are read (inline for files under 1 MiB). An
/// error when the file is not the size it had when opened.
pub(crate) fn read_hashed(path: &Path) -> std::io::Result<(Vec<u8>, [u8; 32])> {
    const STEP: usize = 1 << 20;
    let mut f = File::open(path)?;
    let len = usize::try_from(f.metadata()?.len()).map_err(std::io::Error::other)?;
    let changed = || std::io::Error::other("the file changed while it was read");
    let mut out = vec![0u8; len];
    let (read, digest) = sha256_alongside(true, len >= HASH_ALONGSIDE_MIN, |sink| -> std::io::Result<()> {
        for piece in out.chunks_mut(STEP) {
            f.read_exact(piece)
                .map_err(|e| if e.kind() == std::io::ErrorKind::UnexpectedEof { changed() } else { e })?;
            sink(piece);
        }
        // nothing may follow
        match f.read(&mut [0u8; 1])? {
            0 => Ok(()),
            _ => Err(changed()),
        }
    });
    read?;
    Ok((out, digest.unwrap_or_default()))
}

/// What [`WheelArchive::read_partial`] keeps of an entry is up to this: it
/// gets the buffer and the ranges read so far, and gives the ranges wanted.
pub type PartialPlan<'a> = dyn FnMut(&[u8], &[(u64, u64)]) -> Vec<(u64, u64)> + 'a;

/// An entry read in part: a buffer of its full length, and the ranges of it
/// that hold its bytes (sorted, not overlapping).
pub(crate) type PartialEntry = (memmap2::MmapMut, Vec<(u64, u64)>);

/// An entry inflated with its block index: bytes, index, sha256 (when asked).
type IndexedEntry = (Vec<u8>, super::splice::BlockIndex, Option<[u8; 32]>);

/// Where an entry's compressed bytes are, found at open.
#[derive(Debug, Clone)]
struct Location {
    data: std::ops::Range<usize>,
    compression: Compression,
}

/// An open wheel.
pub struct WheelArchive {
    path: PathBuf,
    filename: WheelFilename,
    entries: Vec<Entry>,
    dist_info: String,
    metadata: WheelMetadata,
    record: Record,
    bytes: MappedBytes,
    zip: MappedZip,
    locations: Vec<Location>,
    by_name: HashMap<String, usize>,
    record_rows: HashMap<String, usize>,
}

impl fmt::Debug for WheelArchive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WheelArchive")
            .field("path", &self.path)
            .field("filename", &self.filename)
            .field("entries", &self.entries.len())
            .field("dist_info", &self.dist_info)
            .finish_non_exhaustive()
    }
}

/// Checks one entry name: relative, `/`-separated, no `.`/`..` or empty
/// components, no NUL, backslash or drive letter. A trailing `/` (directory)
/// is allowed.
pub fn check_entry_name(name: &str) -> Result<(), WheelError> {
    let unsafe_name = || Err(WheelError::UnsafeName(name.escape_debug().to_string()));
    if name.is_empty() || name.contains(['\0', '\\']) || name.starts_with('/') {
        return unsafe_name();
    }
    let mut chars = name.chars();
    if let (Some(letter), Some(':')) = (chars.next(), chars.next()) {
        if letter.is_ascii_alphabetic() {
            return unsafe_name();
        }
    }
    let path = name.strip_suffix('/').unwrap_or(name);
    if path.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return unsafe_name();
    }
    Ok(())
}

/// The `RECORD` signature files that RECORD cannot list.
/// The prefix of a sha256 RECORD hash.
const SHA256: &str = "sha256=";

/// Checks a size and sha256 computed while streaming against a RECORD row
/// (whose hash is sha256 and whose size is present).
fn check_streamed(row: &super::RecordRow, size: u64, digest: &[u8; 32]) -> Result<(), WheelError> {
    let mismatch = |reason: String| WheelError::RecordMismatch { entry: row.path.clone(), reason };
    let expected_size = row.size.unwrap_or_default();
    if expected_size != size {
        return Err(mismatch(format!("size is {size} bytes, RECORD says {expected_size}")));
    }
    let actual = format!("{SHA256}{}", URL_SAFE_NO_PAD.encode(digest));
    match &row.hash {
        Some(expected) if *expected != actual => Err(mismatch(format!("hash is {actual}, RECORD says {expected}"))),
        _ => Ok(()),
    }
}

fn is_record_or_signature(dist_info: &str, name: &str) -> bool {
    name.strip_prefix(dist_info)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|file| matches!(file, "RECORD" | "RECORD.jws" | "RECORD.p7s"))
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*b.first()?, *b.get(1)?]))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

fn lossy(name: &[u8]) -> String {
    String::from_utf8_lossy(name).escape_debug().to_string()
}

/// Walks the central directory records from `start` and returns the first
/// name seen twice. Used only to name the culprit once the zip reader has
/// reported duplicates.
fn find_duplicate(bytes: &[u8], start: u64) -> Option<String> {
    let mut pos = usize::try_from(start).ok()?;
    let mut seen: HashSet<&[u8]> = HashSet::new();
    while u32_at(bytes, pos) == Some(0x0201_4b50) {
        let n = usize::from(u16_at(bytes, pos.checked_add(28)?)?);
        let m = usize::from(u16_at(bytes, pos.checked_add(30)?)?);
        let k = usize::from(u16_at(bytes, pos.checked_add(32)?)?);
        let name_start = pos.checked_add(46)?;
        let name = bytes.get(name_start..name_start.checked_add(n)?)?;
        if !seen.insert(name) {
            return Some(lossy(name));
        }
        pos = name_start.checked_add(n)?.checked_add(m)?.checked_add(k)?;
    }
    None
}

/// Loose version comparison for the `.dist-info` directory: case and `-`/`_`
/// spellings do not count.
fn normalize_version(v: &str) -> String {
    v.to_ascii_lowercase().replace(['-', '_'], ".")
}

impl WheelArchive {
    /// Opens and checks a wheel: file name, zip structure, entry names,
    /// `.dist-info/WHEEL` and `RECORD` parsed.
    pub fn open(path: &Path) -> Result<Self, crate::Error> {
        Self::open_with_limits(path, &Limits::default())
    }

    /// [`WheelArchive::open`] with other zip bomb limits.
    pub fn open_with_limits(path: &Path, limits: &Limits) -> Result<Self, crate::Error> {
        let wrap = |source: WheelError| crate::Error::Wheel { path: path.to_path_buf(), source };
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| wrap(WheelError::Filename(format!("`{}` has no UTF-8 file name", path.display()))))?;
        let filename: WheelFilename = file_name.parse().map_err(wrap)?;
        let file = File::open(path).map_err(|e| crate::Error::io(path, e))?;
        let len = file.metadata().map_err(|e| crate::Error::io(path, e))?.len();
        if len == 0 {
            return Err(wrap(WheelError::Zip("the file is empty".to_string())));
        }
        // SAFETY: the map is read-only; we never write through it and never
        // hand out references that outlive `self`. A concurrent truncation
        // faults on the next access past the new end: the watch turns that
        // into a clean exit in the command-line tool ([`crate::sigbus`]).
        let opened = Stamp::of(&file.metadata().map_err(|e| crate::Error::io(path, e))?);
        let map = unsafe { Mmap::map(&file) }.map_err(|e| crate::Error::io(path, e))?;
        let watch = crate::sigbus::watch_map(&map, path);
        let bytes = MappedBytes(Arc::new(WatchedMap { _watch: watch, map, file, opened }));
        Self::from_bytes(path, filename, bytes, limits).map_err(wrap)
    }

    fn from_bytes(
        path: &Path,
        filename: WheelFilename,
        bytes: MappedBytes,
        limits: &Limits,
    ) -> Result<Self, WheelError> {
        let zip = ZipArchive::new(ReleasingCursor::new(bytes.clone())).map_err(|e| WheelError::Zip(e.to_string()))?;
        if zip.len() > limits.max_entries {
            return Err(WheelError::Zip(format!("{} entries, the limit is {}", zip.len(), limits.max_entries)));
        }
        let data = bytes.as_ref();
        if zip.has_duplicate_names() {
            let name = find_duplicate(data, zip.central_directory_start()).unwrap_or_else(|| "?".to_string());
            return Err(WheelError::Duplicate(name));
        }
        let cd_start = usize::try_from(zip.central_directory_start())
            .map_err(|_| WheelError::Zip("central directory offset out of range".to_string()))?;
        let mut entries = Vec::with_capacity(zip.len());
        let mut locations = Vec::with_capacity(zip.len());
        let mut by_name = HashMap::with_capacity(zip.len());
        let mut spans: Vec<(usize, usize, usize)> = Vec::with_capacity(zip.len());
        let mut total: u64 = 0;
        for index in 0..zip.len() {
            let e = zip.by_index_data(index).map_err(|e| WheelError::Zip(format!("entry #{index}: {e}")))?;
            let raw = e.name_raw();
            let name = std::str::from_utf8(raw).map_err(|_| WheelError::UnsafeName(lossy(raw)))?.to_string();
            check_entry_name(&name)?;
            let zerr = |what: String| WheelError::Zip(format!("entry `{}`: {what}", name.escape_debug()));
            if e.encrypted() {
                return Err(zerr("is encrypted".to_string()));
            }
            let unix_mode = e.unix_mode();
            if unix_mode.is_some_and(|m| m & 0o170_000 == 0o120_000) {
                return Err(WheelError::Symlink(name));
            }
            let is_dir = name.ends_with('/');
            let (size, compressed_size) = (e.size(), e.compressed_size());
            let too_large = |reason: String| WheelError::TooLarge { name: name.clone(), reason };
            if size > limits.max_entry_size {
                return Err(too_large(format!(
                    "declares {size} bytes uncompressed, the limit is {}",
                    limits.max_entry_size
                )));
            }
            if size > limits.ratio_min_size && size / compressed_size.max(1) > limits.max_ratio {
                return Err(too_large(format!(
                    "compression ratio {}:1 ({size} bytes from {compressed_size}) is above the {}:1 limit",
                    size / compressed_size.max(1),
                    limits.max_ratio
                )));
            }
            total = total.saturating_add(size);
            if total > limits.max_total_size {
                return Err(too_large(format!(
                    "the archive declares more than {} bytes uncompressed in total",
                    limits.max_total_size
                )));
            }
            let compression = match e.compression() {
                CompressionMethod::Stored => Compression::Stored,
                CompressionMethod::Deflated => Compression::Deflated,
                other => return Err(zerr(format!("unsupported compression method {other:?}"))),
            };
            if compression == Compression::Stored && size != compressed_size {
                return Err(zerr(format!("stored entry declares {size} bytes but holds {compressed_size}")));
            }
            // The local header must be where the central directory says, and
            // carry the same name (installers read one or the other).
            let header = usize::try_from(e.header_start()).map_err(|_| zerr("header offset out of range".into()))?;
            if u32_at(data, header) != Some(0x0403_4b50) {
                return Err(zerr(format!("no local header at offset {header}")));
            }
            let bad_header = || zerr(format!("truncated local header at offset {header}"));
            let n = usize::from(u16_at(data, header + 26).ok_or_else(bad_header)?);
            let m = usize::from(u16_at(data, header + 28).ok_or_else(bad_header)?);
            let local_name = data.get(header + 30..header + 30 + n).ok_or_else(bad_header)?;
            if local_name != raw {
                return Err(zerr(format!("the local header names it `{}`", lossy(local_name))));
            }
            let start = header + 30 + n + m;
            let end = usize::try_from(compressed_size)
                .ok()
                .and_then(|c| start.checked_add(c))
                .filter(|&end| end <= cd_start && end <= data.len())
                .ok_or_else(|| {
                    zerr(format!("{compressed_size} compressed bytes at offset {start} run past the central directory"))
                })?;
            spans.push((header, end, index));
            locations.push(Location { data: start..end, compression });
            by_name.insert(name.clone(), index);
            entries.push(Entry { name, index, size, compressed_size, crc32: e.crc32(), unix_mode, is_dir });
        }
        // Overlapping entries are how small archives expand to huge ones.
        spans.sort_unstable();
        for pair in spans.windows(2) {
            if let [(_, end_a, a), (start_b, _, b)] = pair {
                if start_b < end_a {
                    let name = |i: &usize| entries.get(*i).map(|e| e.name.clone()).unwrap_or_default();
                    return Err(WheelError::Zip(format!("entries `{}` and `{}` overlap", name(a), name(b))));
                }
            }
        }

        let dist_info = Self::find_dist_info(&filename, &entries)?;
        let mut archive = WheelArchive {
            path: path.to_path_buf(),
            filename,
            entries,
            dist_info,
            metadata: WheelMetadata::default(),
            record: Record::default(),
            bytes,
            zip,
            locations,
            by_name,
            record_rows: HashMap::new(),
        };
        let wheel_text = archive.read_metadata_file("WHEEL")?;
        archive.metadata = WheelMetadata::parse(&wheel_text)?;
        let (major, _) = archive.metadata.wheel_version()?;
        if major != 1 {
            return Err(WheelError::Metadata(format!(
                "`Wheel-Version: {}` is not supported (1.x expected)",
                archive.metadata.get("Wheel-Version").unwrap_or_default()
            )));
        }
        let record_text = archive.read_metadata_file("RECORD")?;
        archive.record = Record::parse(&record_text)?;
        archive.record_rows = archive.record.rows.iter().enumerate().map(|(i, r)| (r.path.clone(), i)).collect();
        Ok(archive)
    }

    /// The single `{name}-{version}.dist-info` directory at the root.
    fn find_dist_info(filename: &WheelFilename, entries: &[Entry]) -> Result<String, WheelError> {
        let dirs = super::dist_info_dirs(entries.iter().map(|e| e.name.as_str()));
        let dir = match dirs.as_slice() {
            [] => return Err(WheelError::Missing("`.dist-info` directory".to_string())),
            [one] => *one,
            many => {
                return Err(WheelError::DistInfo(format!(
                    "{} `.dist-info` directories: {}",
                    many.len(),
                    many.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", ")
                )))
            }
        };
        let stem = dir.strip_suffix(".dist-info").unwrap_or(dir);
        let (name, version) = stem.split_once('-').unwrap_or((stem, ""));
        if normalize_name(name) != normalize_name(&filename.name) {
            return Err(WheelError::DistInfo(format!(
                "`{dir}` belongs to project `{name}`, the file name says `{}`",
                filename.name
            )));
        }
        if normalize_version(version) != normalize_version(&filename.version) {
            return Err(WheelError::DistInfo(format!(
                "`{dir}` is for version `{version}`, the file name says `{}`",
                filename.version
            )));
        }
        Ok(dir.to_string())
    }

    fn read_metadata_file(&self, file: &str) -> Result<String, WheelError> {
        let name = format!("{}/{file}", self.dist_info);
        let entry = self.entry_by_name(&name).ok_or_else(|| WheelError::Missing(format!("`{name}`")))?;
        if entry.size > MAX_METADATA_SIZE {
            return Err(WheelError::TooLarge {
                name,
                reason: format!("{} bytes, the limit for metadata files is {MAX_METADATA_SIZE}", entry.size),
            });
        }
        let bytes = self.read(entry.index)?;
        let text = String::from_utf8(bytes).map_err(|_| WheelError::Metadata(format!("`{name}` is not UTF-8")))?;
        Ok(text)
    }

    /// The path the wheel was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The parsed file name.
    pub fn filename(&self) -> &WheelFilename {
        &self.filename
    }

    /// Every entry, in central-directory order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The `.dist-info` directory name.
    pub fn dist_info_dir(&self) -> &str {
        &self.dist_info
    }

    /// The parsed `WHEEL` file.
    pub fn metadata(&self) -> &WheelMetadata {
        &self.metadata
    }

    /// The parsed `RECORD` file.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The entry called `name`.
    pub fn entry_by_name(&self, name: &str) -> Option<&Entry> {
        self.by_name.get(name).and_then(|&i| self.entries.get(i))
    }

    /// The RECORD row of entry `name`.
    pub fn record_row(&self, name: &str) -> Option<&super::RecordRow> {
        self.record_rows.get(name).and_then(|&i| self.record.rows.get(i))
    }

    fn located(&self, index: usize) -> Result<(&Entry, &Location), WheelError> {
        match (self.entries.get(index), self.locations.get(index)) {
            (Some(e), Some(l)) => Ok((e, l)),
            _ => Err(WheelError::Zip(format!("no entry #{index} (the archive has {})", self.entries.len()))),
        }
    }

    /// The compressed bytes of entry `index`, as stored in the archive.
    pub fn raw_data(&self, index: usize) -> Result<&[u8], WheelError> {
        let (entry, loc) = self.located(index)?;
        self.bytes.as_ref().get(loc.data.clone()).ok_or_else(|| {
            WheelError::Zip(format!("entry `{}`: compressed bytes out of range", entry.name.escape_debug()))
        })
    }

    /// How entry `index` is compressed.
    pub fn compression(&self, index: usize) -> Result<Compression, WheelError> {
        Ok(self.located(index)?.1.compression)
    }

    /// The whole wheel file as mapped.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }

    /// Whether the file still stands as it did when it was opened: same
    /// size, modification and change times, and inode. A wheel written over in
    /// place while it was read (at any size) is refused here, before an
    /// output made from a mix of its old and new bytes is put in place.
    pub fn check_unchanged(&self) -> Result<(), WheelError> {
        let m = &self.bytes.0;
        match m.file.metadata() {
            Ok(now) if Stamp::of(&now) == m.opened => Ok(()),
            _ => Err(WheelError::Changed),
        }
    }

    /// A clone of the zip reader (shares the map and the parsed central
    /// directory), for raw copies.
    pub(crate) fn zip(&self) -> MappedZip {
        self.zip.clone()
    }

    /// Inflates entry `index`. Safe to call from several threads at once.
    ///
    /// Never inflates more than the declared size; the result must have
    /// exactly that size and the declared CRC-32.
    pub fn read(&self, index: usize) -> Result<Vec<u8>, WheelError> {
        self.inflate(index, false).map(|(out, _)| out)
    }

    /// Inflates entry `index` like [`WheelArchive::read`] and checks it
    /// against RECORD like [`WheelArchive::verify_record`], in one pass: the
    /// CRC-32 and the sha256 are updated a step at a time while the bytes
    /// are still in cache, never in a second pass over a large buffer.
    pub fn read_verified(&self, index: usize) -> Result<Vec<u8>, WheelError> {
        let row = self.streamed_row(self.located(index)?.0);
        let (out, digest) = self.inflate(index, row.is_some())?;
        self.check_read(index, row, &out, digest).map(|()| out)
    }

    /// The RECORD row of `entry` when it can be checked while the entry is
    /// streamed: a sha256 row with a size, of an entry RECORD lists. The rest
    /// (other algorithms, missing fields, missing rows) take the ordinary
    /// path, [`WheelArchive::verify_record`], which words the error.
    fn streamed_row(&self, entry: &Entry) -> Option<&super::RecordRow> {
        let listed = !(entry.is_dir || is_record_or_signature(&self.dist_info, &entry.name));
        self.record_row(&entry.name)
            .filter(|r| listed && r.size.is_some() && r.hash.as_deref().is_some_and(|h| h.starts_with(SHA256)))
    }

    /// Checks the bytes of entry `index`, read whole, against RECORD: by the
    /// sha256 computed while they were read when the row was [`streamed_row`](Self::streamed_row),
    /// otherwise the ordinary way.
    fn check_read(
        &self,
        index: usize,
        row: Option<&super::RecordRow>,
        data: &[u8],
        digest: Option<[u8; 32]>,
    ) -> Result<(), WheelError> {
        match (row, digest) {
            (Some(row), Some(digest)) => check_streamed(row, data.len() as u64, &digest),
            _ => self.verify_record(index, data),
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
    fn release_consumed(&self, raw: &[u8], from: &mut usize, upto: usize) {
        const STRETCH: u64 = 8 << 20;
        let map: &Mmap = &self.bytes.0.map;
        let base = (raw.as_ptr() as usize - map.as_ptr() as usize) as u64;
        let mut mark = base + *from as u64;
        release_behind(map, &mut mark, base + upto as u64, STRETCH);
        *from = (mark - base) as usize;
    }

    /// Checks entry `index` against its CRC and RECORD without keeping its
    /// bytes: memory stays small whatever the entry's size. Entries whose
    /// RECORD row cannot be checked while streaming (no row, another
    /// algorithm) are read whole, so that the error is worded the same.
    pub fn verify_streaming(&self, index: usize) -> Result<(), WheelError> {
        let Some(row) = self.streamed_row(self.located(index)?.0) else {
            return self.read_verified(index).map(|_| ());
        };
        let (_, size, digest) = self.inflate_into(index, true, false, &mut |_, _| {})?;
        digest.map_or(Ok(()), |digest| check_streamed(row, size, &digest))
    }

    /// Inflates entry `index` a step at a time, updating the CRC-32 (and the
    /// sha256 when `sha256`) of each step right after it is produced.
    fn inflate(&self, index: usize, sha256: bool) -> Result<(Vec<u8>, Option<[u8; 32]>), WheelError> {
        self.inflate_into(index, sha256, true, &mut |_, _| {}).map(|(out, _, digest)| (out, digest))
    }

    /// The body of [`WheelArchive::inflate`]. With `keep` false the bytes are
    /// hashed and counted but not kept: memory stays at one step whatever the
    /// entry's size, and `seen` gets each step (its offset and bytes) once it
    /// is hashed. Returns (bytes kept, size, sha256).
    fn inflate_into(
        &self,
        index: usize,
        sha256: bool,
        keep: bool,
        seen: &mut dyn FnMut(u64, &[u8]),
    ) -> Result<Inflated, WheelError> {
        use sha2::Digest;
        /// Bytes inflated (and hashed) per step: fits in L2.
        const STEP: usize = 256 << 10;
        let (entry, loc) = self.located(index)?;
        let raw = self.raw_data(index)?;
        let zerr = |what: String| WheelError::Zip(format!("entry `{}`: {what}", entry.name.escape_debug()));
        let mut crc = crc32fast::Hasher::new();
        let mut sha = sha256.then(sha2::Sha256::new);
        let mut hash = |bytes: &[u8]| {
            crc.update(bytes);
            if let Some(s) = sha.as_mut() {
                s.update(bytes);
            }
        };
        let total: u64;
        let mut digest = None;
        let out = match loc.compression {
            Compression::Stored => {
                let mut released = 0usize;
                for (k, c) in raw.chunks(STEP).enumerate() {
                    hash(c);
                    if !keep {
                        seen((k * STEP) as u64, c);
                        self.release_consumed(raw, &mut released, ((k + 1) * STEP).min(raw.len()));
                    }
                }
                total = raw.len() as u64;
                if keep {
                    raw.to_vec()
                } else {
                    Vec::new()
                }
            }
            Compression::Deflated => {
                // Deflate cannot expand more than 1032:1, so a declared size
                // beyond that is a lie that must not drive the allocation.
                let bound = (raw.len() as u64).saturating_mul(1032).saturating_add(1024);
                let cap = usize::try_from(entry.size.min(bound))
                    .map_err(|_| zerr(format!("declares {} bytes, more than this machine can address", entry.size)))?;
                let mut d = flate2::Decompress::new(false);
                let (out, pos, ended) = if keep {
                    // zeroed memory of this size comes from fresh pages: no
                    // extra pass; each step is hashed once it is full
                    let mut out = vec![0u8; cap];
                    let (made, sha) = sha256_alongside(sha256, cap >= HASH_ALONGSIDE_MIN, |sink| {
                        let mut pos = 0usize;
                        // the input consumed is released as it goes: only the output stays
                        let mut released = 0usize;
                        for step in out.chunks_mut(STEP) {
                            let (filled, ended) = inflate_step(&mut d, raw, step).map_err(zerr)?;
                            let consumed = usize::try_from(d.total_in()).unwrap_or(0).min(raw.len());
                            self.release_consumed(raw, &mut released, consumed);
                            // a step comes back short only at the end of the stream
                            let step: &[u8] = step;
                            crc.update(&step[..filled]);
                            sink(&step[..filled]);
                            pos += filled;
                            if ended {
                                return Ok((pos, true));
                            }
                        }
                        Ok((pos, false))
                    });
                    let (pos, ended) = made?;
                    digest = sha;
                    out.truncate(pos);
                    (out, pos, ended)
                } else {
                    // the bytes are not kept: one step is reused
                    let mut step = vec![0u8; cap.min(STEP)];
                    let mut pos = 0usize;
                    let mut ended = false;
                    let mut released = 0usize;
                    while pos < cap && !ended {
                        let want = (cap - pos).min(STEP);
                        let (filled, end) = inflate_step(&mut d, raw, &mut step[..want]).map_err(zerr)?;
                        hash(&step[..filled]);
                        seen(pos as u64, &step[..filled]);
                        pos += filled;
                        ended = end;
                        let consumed = usize::try_from(d.total_in()).unwrap_or(0).min(raw.len());
                        self.release_consumed(raw, &mut released, consumed);
                    }
                    (Vec::new(), pos, ended)
                };
                total = pos as u64;
                stream_ends(&mut d, raw, pos, ended, entry.size).map_err(zerr)?;
                out
            }
        };
        check_size_and_crc(entry, total, crc.finalize()).map_err(zerr)?;
        self.release(index);
        Ok((out, total, digest.or_else(|| sha.map(|s| s.finalize().into()))))
    }

    /// Reads entry `index` in one streaming pass, checking its CRC-32 and
    /// (with `verify`) its RECORD row, like [`WheelArchive::verify_streaming`],
    /// but keeps the parts that `plan` asks for ([`keep_step`]) in a buffer
    /// of the entry's full length. Memory: the parts kept, plus one step.
    /// Returns the buffer and the ranges it holds (sorted, not overlapping).
    /// `None` when the entry cannot be read this way (a RECORD row that is
    /// not a sha256 with a size, a declared size the data cannot hold, no
    /// memory for the buffer): read it whole then.
    pub(crate) fn read_partial(
        &self,
        index: usize,
        verify: bool,
        plan: &mut PartialPlan<'_>,
    ) -> Result<Option<PartialEntry>, WheelError> {
        let (entry, loc) = self.located(index)?;
        let row = self.streamed_row(entry);
        if verify && row.is_none() {
            return Ok(None);
        }
        let raw = self.raw_data(index)?.len() as u64;
        let fits = match loc.compression {
            Compression::Stored => entry.size == raw,
            Compression::Deflated => entry.size <= raw.saturating_mul(1032).saturating_add(1024),
        };
        let Some(len) = usize::try_from(entry.size).ok().filter(|&n| n > 0 && fits) else {
            return Ok(None);
        };
        // anonymous pages: zero until written, and not resident until then
        let Ok(mut out) = memmap2::MmapMut::map_anon(len) else { return Ok(None) };
        let mut read = Vec::new();
        let mut want = plan(&out, &read);
        let mut keep = |start: u64, piece: &[u8]| keep_step(&mut out, &mut read, &mut want, start, piece, plan);
        let (_, size, digest) = self.inflate_into(index, verify, false, &mut keep)?;
        if let (Some(row), Some(digest)) = (row, digest) {
            check_streamed(row, size, &digest)?;
        }
        Ok(Some((out, read)))
    }

    /// Inflates entry `index` like [`WheelArchive::read`] and records where
    /// its deflate blocks start, so that a patched version can be
    /// re-compressed by copying the blocks the patch left alone
    /// ([`super::splice::deflate_spliced`]). `None` for stored entries, entries
    /// of 4 GiB or more, and declared sizes the data cannot hold: the caller
    /// reads those the ordinary way.
    pub fn read_indexed(&self, index: usize) -> Result<Option<(Vec<u8>, super::splice::BlockIndex)>, WheelError> {
        Ok(self.inflate_indexed(index, false)?.map(|(out, blocks, _)| (out, blocks)))
    }

    /// [`WheelArchive::read_verified`] that also records the deflate block
    /// index ([`WheelArchive::read_indexed`]) when the entry is deflated and
    /// at least `index_min` bytes long, in the same single pass: a binary
    /// that repair will patch is then inflated only once.
    pub fn read_verified_indexed(
        &self,
        index: usize,
        index_min: u64,
    ) -> Result<(Vec<u8>, Option<super::splice::BlockIndex>), WheelError> {
        let entry = self.located(index)?.0;
        let row = self.streamed_row(entry);
        let indexed = if entry.size >= index_min { self.inflate_indexed(index, row.is_some())? } else { None };
        let Some((out, blocks, digest)) = indexed else {
            return self.read_verified(index).map(|d| (d, None));
        };
        self.check_read(index, row, &out, digest)?;
        Ok((out, Some(blocks)))
    }

    /// The body of the indexed reads: inflates a deflated entry recording its
    /// block starts, checks the CRC-32, and computes the sha256 in the same
    /// pass when asked. `None` when the entry cannot be read this way.
    fn inflate_indexed(&self, index: usize, sha256: bool) -> Result<Option<IndexedEntry>, WheelError> {
        let (entry, loc) = self.located(index)?;
        if loc.compression != Compression::Deflated {
            return Ok(None);
        }
        let raw = self.raw_data(index)?;
        // deflate cannot expand more than 1032:1
        let bound = (raw.len() as u64).saturating_mul(1032).saturating_add(1024);
        let Some(size) = usize::try_from(entry.size).ok().filter(|_| entry.size <= bound) else {
            return Ok(None);
        };
        let zerr = |what: String| WheelError::Zip(format!("entry `{}`: {what}", entry.name.escape_debug()));
        let mut crc = crc32fast::Hasher::new();
        let mut out = vec![0u8; size];
        let (blocks, digest) = sha256_alongside(sha256, size >= HASH_ALONGSIDE_MIN, |sink| {
            super::splice::inflate_indexed_into(raw, &mut out, |piece| {
                crc.update(piece);
                sink(piece);
            })
        });
        let Some(blocks) = blocks.map_err(zerr)? else {
            return Ok(None);
        };
        let crc = crc.finalize();
        if crc != entry.crc32 {
            return Err(zerr(format!("CRC-32 is {crc:08x}, the central directory declares {:08x}", entry.crc32)));
        }
        self.release(index);
        Ok(Some((out, blocks, digest)))
    }

    /// The first `n` bytes of entry `index` (fewer if the entry is shorter),
    /// inflating only what is needed. For sniffing magic numbers; the CRC is
    /// not checked.
    pub fn read_prefix(&self, index: usize, n: usize) -> Result<Vec<u8>, WheelError> {
        let (entry, loc) = self.located(index)?;
        let raw = self.raw_data(index)?;
        let want = (n as u64).min(entry.size);
        match loc.compression {
            Compression::Stored => Ok(raw.get(..usize::try_from(want).unwrap_or(0)).unwrap_or(raw).to_vec()),
            Compression::Deflated => {
                let mut out = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
                flate2::read::DeflateDecoder::new(raw).take(want).read_to_end(&mut out).map_err(|e| {
                    WheelError::Zip(format!("entry `{}`: corrupt deflate data: {e}", entry.name.escape_debug()))
                })?;
                Ok(out)
            }
        }
    }

    /// Checks `bytes` (the content of entry `index`) against RECORD.
    ///
    /// Directories, RECORD itself and its signatures (`RECORD.jws`,
    /// `RECORD.p7s`) need no row; every other entry must be listed with a
    /// matching hash and size.
    pub fn verify_record(&self, index: usize, bytes: &[u8]) -> Result<(), WheelError> {
        let (entry, _) = self.located(index)?;
        if entry.is_dir || is_record_or_signature(&self.dist_info, &entry.name) {
            return Ok(());
        }
        match self.record_row(&entry.name) {
            Some(row) => row.verify(bytes),
            None => Err(WheelError::RecordMismatch {
                entry: entry.name.clone(),
                reason: "not listed in RECORD".to_string(),
            }),
        }
    }

    /// Reads every entry (in parallel) and checks it against RECORD; also
    /// checks that every RECORD row names an entry of the archive. Returns
    /// the first problem in archive order.
    pub fn verify_all(&self) -> Result<(), WheelError> {
        let results: Vec<Result<(), WheelError>> =
            (0..self.entries.len()).into_par_iter().map(|i| self.read_verified(i).map(drop)).collect();
        results.into_iter().collect::<Result<(), WheelError>>()?;
        for row in &self.record.rows {
            if !self.by_name.contains_key(&row.path) {
                return Err(WheelError::RecordMismatch {
                    entry: row.path.clone(),
                    reason: "listed in RECORD but not in the archive".to_string(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names() {
        for ok in ["a", "a/b.py", "pkg/", "pkg/sub/", "x-1.0.dist-info/RECORD", "pkg/a:b", "ab:c", "é/ü.txt"] {
            check_entry_name(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "", "/abs", "a:b", "../x", "a/../b", "a/./b", "./a", "a//b", "C:/x", "c:x", "a\\..\\b", "a\\b", "a\0b",
            "/", "..", "a/..",
        ] {
            let e = check_entry_name(bad).unwrap_err();
            assert_eq!(e, WheelError::UnsafeName(bad.escape_debug().to_string()), "{bad:?}");
        }
    }

    #[test]
    fn record_signatures() {
        assert!(is_record_or_signature("a-1.dist-info", "a-1.dist-info/RECORD"));
        assert!(is_record_or_signature("a-1.dist-info", "a-1.dist-info/RECORD.jws"));
        assert!(is_record_or_signature("a-1.dist-info", "a-1.dist-info/RECORD.p7s"));
        assert!(!is_record_or_signature("a-1.dist-info", "a-1.dist-info/WHEEL"));
        assert!(!is_record_or_signature("a-1.dist-info", "b/RECORD"));
    }

    #[test]
    fn duplicate_scan_is_bounded() {
        assert_eq!(find_duplicate(&[], 0), None);
        assert_eq!(find_duplicate(&[0x50, 0x4b, 0x01, 0x02, 0, 0], 0), None);
        assert_eq!(find_duplicate(b"anything", u64::MAX), None);
    }

    /// A wheel with `files` and a RECORD of `rows` (written as given).
    fn wheel(dir: &Path, files: &[(&str, &[u8])], rows: &str) -> WheelArchive {
        use std::io::Write;
        let path = dir.join("demo-0.1-py3-none-any.whl");
        let mut z = zip::ZipWriter::new(File::create(&path).unwrap());
        let o = zip::write::SimpleFileOptions::default();
        for (name, data) in files {
            z.start_file(*name, o).unwrap();
            z.write_all(data).unwrap();
        }
        z.start_file("demo-0.1.dist-info/WHEEL", o).unwrap();
        z.write_all(b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n").unwrap();
        z.start_file("demo-0.1.dist-info/METADATA", o).unwrap();
        z.write_all(b"Metadata-Version: 2.1\nName: demo\nVersion: 0.1\n").unwrap();
        z.start_file("demo-0.1.dist-info/RECORD", o).unwrap();
        z.write_all(rows.as_bytes()).unwrap();
        z.finish().unwrap();
        WheelArchive::open(&path).unwrap()
    }

    /// A file read with its sha256 alongside gives its bytes and their digest,
    /// small or large; a missing file is an error.
    #[test]
    fn files_read_hashed() {
        use sha2::Digest;
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 10, (3 << 20) + 77] {
            let data: Vec<u8> = (0..len).map(|i| (i.wrapping_mul(31) >> 3) as u8).collect();
            let p = dir.path().join(format!("f{len}"));
            std::fs::write(&p, &data).unwrap();
            let (got, digest) = read_hashed(&p).unwrap();
            assert!(got == data, "{len}");
            assert_eq!(digest, <[u8; 32]>::from(sha2::Sha256::digest(&data)), "{len}");
        }
        assert!(read_hashed(&dir.path().join("missing")).is_err());
    }

    /// The sha256 of the pieces a producer hands on is the digest of their
    /// concatenation, whether it is computed inline or on another worker,
    /// and the producer's result comes back with it.
    #[test]
    fn hashing_alongside_gives_the_digest_of_the_pieces_in_order() {
        use sha2::Digest;
        let data: Vec<u8> = (0..3_100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let whole = <[u8; 32]>::from(sha2::Sha256::digest(&data));
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for alongside in [false, true] {
            let (n, digest) = pool.install(|| {
                sha256_alongside(true, alongside, |sink| {
                    // pieces of uneven sizes, some empty
                    let mut at = 0usize;
                    let mut k = 0usize;
                    while at < data.len() {
                        let len = (k * 7919 % 300_000).min(data.len() - at);
                        sink(&data[at..at + len]);
                        at += len;
                        k += 1;
                    }
                    k
                })
            });
            assert!(n > 10, "{n} pieces");
            assert_eq!(digest, Some(whole), "alongside: {alongside}");
        }
        let (n, none) = sha256_alongside(false, true, |sink| {
            sink(&data);
            1
        });
        assert_eq!((n, none), (1, None));
    }

    /// `read_verified` agrees with `read` + `verify_record`, result and error
    /// alike, for entries of one step, many steps, and rows of every kind.
    #[test]
    fn partial_reads_keep_what_the_plan_asks_and_check_like_whole_reads() {
        let dir = tempfile::tempdir().unwrap();
        let elf = crate::binary::elf::late_layout();
        let row = |n: &str, d: &[u8]| super::super::RecordRow::for_data(n, d).to_string();
        let rows = [
            row("demo.libs/libbig.so", &elf),
            row("demo.libs/libbad.so", &elf[1..]).replace(&format!(",{}", elf.len() - 1), &format!(",{}", elf.len())),
            "demo.libs/libnohash.so,,".to_string(),
            "demo-0.1.dist-info/RECORD,,".to_string(),
        ]
        .join("\n");
        let files: &[(&str, &[u8])] =
            &[("demo.libs/libbig.so", &elf), ("demo.libs/libbad.so", &elf), ("demo.libs/libnohash.so", &elf)];
        let w = wheel(dir.path(), files, &rows);
        let index = |name: &str| w.entries().iter().position(|e| e.name == name).unwrap();
        let plans = std::cell::Cell::new(0);
        let mut plan = |d: &[u8], r: &[(u64, u64)]| {
            plans.set(plans.get() + 1);
            crate::binary::elf::partial_wanted(d, r)
        };
        let (data, read) = w.read_partial(index("demo.libs/libbig.so"), true, &mut plan).unwrap().unwrap();
        assert!(plans.get() > 1);
        assert_eq!(data.len(), elf.len());
        let kept: u64 = read.iter().map(|(a, b)| b - a).sum();
        assert!(kept < elf.len() as u64 / 2, "kept {kept} of {}", elf.len());
        for &(a, b) in &read {
            assert!(data[a as usize..b as usize] == elf[a as usize..b as usize]);
        }
        let whole = crate::binary::elf::parse(&elf).unwrap();
        assert_eq!(crate::binary::elf::parse_partial(&data, &read), Some(Ok(whole)));
        // a wrong hash is refused with the words of a whole read
        let bad = index("demo.libs/libbad.so");
        let partial = w.read_partial(bad, true, &mut plan).unwrap_err().to_string();
        assert_eq!(partial, w.read_verified(bad).unwrap_err().to_string());
        // a row that cannot be checked while streaming goes the ordinary way
        assert!(w.read_partial(index("demo.libs/libnohash.so"), true, &mut plan).unwrap().is_none());
        assert!(w.read_partial(index("demo.libs/libnohash.so"), false, &mut plan).unwrap().is_some());
        // a stored entry is read in part the same way
        let stored_dir = tempfile::tempdir().unwrap();
        let path = stored_dir.path().join("demo-0.1-py3-none-any.whl");
        let mut z = zip::ZipWriter::new(File::create(&path).unwrap());
        let o = zip::write::SimpleFileOptions::default();
        let stored = o.compression_method(zip::CompressionMethod::Stored);
        z.start_file("demo.libs/libbig.so", stored).unwrap();
        std::io::Write::write_all(&mut z, &elf).unwrap();
        z.start_file("demo-0.1.dist-info/WHEEL", o).unwrap();
        std::io::Write::write_all(&mut z, b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n").unwrap();
        z.start_file("demo-0.1.dist-info/METADATA", o).unwrap();
        std::io::Write::write_all(&mut z, b"Metadata-Version: 2.1\nName: demo\nVersion: 0.1\n").unwrap();
        z.start_file("demo-0.1.dist-info/RECORD", o).unwrap();
        let rows = format!("{}\ndemo-0.1.dist-info/RECORD,,\n", row("demo.libs/libbig.so", &elf));
        std::io::Write::write_all(&mut z, rows.as_bytes()).unwrap();
        z.finish().unwrap();
        let w = WheelArchive::open(&path).unwrap();
        assert_eq!(w.compression(0).unwrap(), Compression::Stored);
        let (data, read) = w.read_partial(0, true, &mut plan).unwrap().unwrap();
        let kept: u64 = read.iter().map(|(a, b)| b - a).sum();
        assert!(kept < elf.len() as u64 / 2, "kept {kept} of {}", elf.len());
        assert_eq!(crate::binary::elf::parse_partial(&data, &read), Some(crate::binary::elf::parse(&elf)));
    }

    #[test]
    fn read_verified_agrees_with_read_then_verify() {
        let dir = tempfile::tempdir().unwrap();
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let big: Vec<u8> = (0..3_000_000u32)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i % 3 == 0 {
                    b'a'
                } else {
                    (x >> 33) as u8
                }
            })
            .collect();
        let row = |n: &str, d: &[u8]| super::super::RecordRow::for_data(n, d).to_string();
        let sha384 = {
            use sha2::Digest;
            format!("demo/c.bin,sha384={},3", URL_SAFE_NO_PAD.encode(sha2::Sha384::digest(b"abc")))
        };
        let rows = [
            row("demo/big.so", &big),
            // large enough to be hashed alongside, with the hash of other bytes
            row("demo/bad-big.so", &big[1..]).replace(",2999999", ",3000000"),
            row("demo/a.py", b"wrong content"),
            "demo/b.py,sha256=AAAA,5".to_string(),
            sha384,
            "demo/d.py,,".to_string(),
            format!("demo/e.py,{},99", crate::wheel::record::hash(b"short")),
            "demo-0.1.dist-info/RECORD,,".to_string(),
        ]
        .join("\n");
        let files: &[(&str, &[u8])] = &[
            ("demo/big.so", &big),
            ("demo/bad-big.so", &big),
            ("demo/a.py", b"print(1)\n"),
            ("demo/b.py", b"x = 1"),
            ("demo/c.bin", b"abc"),
            ("demo/d.py", b"no hash"),
            ("demo/e.py", b"short"),
            ("demo/unlisted.py", b""),
        ];
        let w = wheel(dir.path(), files, &rows);
        let mut errors = Vec::new();
        for i in 0..w.entries().len() {
            let two_pass = w.read(i).and_then(|d| w.verify_record(i, &d).map(|()| d));
            let one_pass = w.read_verified(i);
            assert_eq!(one_pass, two_pass, "{}", w.entries()[i].name);
            // the indexed read (every deflated entry indexed) agrees too, and
            // indexes exactly the deflated entries
            let indexed = w.read_verified_indexed(i, 0);
            assert_eq!(indexed.as_ref().map(|(d, _)| d).ok(), one_pass.as_ref().ok(), "{}", w.entries()[i].name);
            assert_eq!(indexed.as_ref().err(), one_pass.as_ref().err(), "{}", w.entries()[i].name);
            if let Ok((_, index)) = &indexed {
                assert_eq!(index.is_some(), w.compression(i) == Ok(Compression::Deflated));
            }
            if one_pass.is_err() {
                errors.push(w.entries()[i].name.as_str());
            }
        }
        let expected = [
            "demo/bad-big.so",
            "demo/a.py",
            "demo/b.py",
            "demo/d.py",
            "demo/e.py",
            "demo/unlisted.py",
            "demo-0.1.dist-info/WHEEL",
            "demo-0.1.dist-info/METADATA",
        ];
        assert_eq!(errors, expected, "mismatched, unhashed, unsized and unlisted entries");
        assert!(w.read_verified(w.entry_by_name("demo/big.so").unwrap().index).unwrap() == big);
        assert!(w.read_verified(w.entry_by_name("demo/c.bin").unwrap().index).is_ok(), "sha384 rows are checked");
    }
}
