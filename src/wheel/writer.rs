//! Writing a wheel: unchanged entries copied raw, new ones compressed in
//! parallel, deterministic order and timestamps, RECORD regenerated and
//! written last, output written to a temporary file and renamed.
//!
//! Unchanged entries ([`Source::Raw`]) keep their compressed bytes, local
//! header fields, timestamps and permissions: nothing is inflated unless the
//! input RECORD lacks the entry's hash. New content ([`Source::Bytes`]) is
//! deflated on the rayon pool and appended in the given order. Content still
//! being made elsewhere ([`Source::Later`]) is waited for when its turn
//! comes, the entries before it written meanwhile. The output
//! is a function of the inputs only (no clock, no file system order, no
//! thread count), so repairing the same wheel twice gives byte-identical
//! files.
//!
//! Large new entries (at least [`CHUNKED_MIN`] bytes) are deflated in
//! parallel chunks that join into one ordinary raw-deflate stream, the
//! CRC-32 and the sha256 for RECORD computed in the same pass: see
//! [`super::deflate`].

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use zip::write::{PreparedZipFile, SimpleFileOptions, ZipFileBuilder};
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::archive::check_entry_name;
pub use super::deflate::{
    chunk_for, chunk_ranges, deflate_chunk, deflate_chunked, deflate_early, early_chunks, join_chunks, ChunkRange,
    Deflated, CHUNK,
};
use super::record::{Record, RecordRow};
use super::{WheelArchive, WheelError, WheelFilename};

/// Where the bytes of an output entry come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Entry `index` of the input wheel, copied raw (not recompressed).
    Raw(usize),
    /// New content.
    Bytes(Arc<Vec<u8>>),
    /// New content already deflated (a patched entry re-compressed by
    /// [`super::splice::deflate_spliced`]), and its size. Under 4 GiB.
    Deflated(Arc<Deflated>, u64),
    /// Content still being made (see [`later`]): the writer writes the
    /// entries before it meanwhile, and waits for it when its turn comes.
    Later(Arc<Later>),
}

/// The slot of a [`Source::Later`]: empty until its [`Promise`] is kept or
/// dropped.
pub struct Later {
    state: std::sync::Mutex<LaterState>,
    changed: std::sync::Condvar,
}

enum LaterState {
    Waiting,
    Kept(Source),
    /// The promise was dropped unkept (the maker failed): the writer stops.
    Broken,
    /// The writer took the source.
    Taken,
}

impl std::fmt::Debug for Later {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Later")
    }
}

/// The maker's side of a [`Source::Later`]: [`Promise::keep`] hands the
/// content to the writer; dropping it unkept makes the writer stop with an
/// error instead of waiting forever.
#[derive(Debug)]
pub struct Promise(Arc<Later>);

/// A source whose content comes later, and the promise that delivers it.
pub fn later() -> (Promise, Source) {
    let slot =
        Arc::new(Later { state: std::sync::Mutex::new(LaterState::Waiting), changed: std::sync::Condvar::new() });
    (Promise(slot.clone()), Source::Later(slot))
}

impl Later {
    fn state(&self) -> std::sync::MutexGuard<'_, LaterState> {
        crate::locked(&self.state)
    }

    fn settle(&self, to: LaterState) {
        let mut state = self.state();
        if matches!(*state, LaterState::Waiting) {
            *state = to;
            self.changed.notify_all();
        }
    }

    /// Whether the content is there (or will never be), without waiting.
    fn settled(&self) -> bool {
        !matches!(*self.state(), LaterState::Waiting)
    }

    /// Waits for the content; `None` when the promise was broken (or the
    /// content already taken).
    fn take(&self) -> Option<Source> {
        let mut state = self.state();
        while matches!(*state, LaterState::Waiting) {
            state = self.changed.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        match std::mem::replace(&mut *state, LaterState::Taken) {
            LaterState::Kept(source) => Some(source),
            other => {
                *state = other;
                None
            }
        }
    }
}

impl Promise {
    /// Hands `source` to the writer.
    pub fn keep(self, source: Source) {
        self.0.settle(LaterState::Kept(source));
    }
}

impl Drop for Promise {
    fn drop(&mut self) {
        self.0.settle(LaterState::Broken);
    }
}

/// One entry of the output wheel.
#[derive(Debug, Clone)]
pub struct OutputEntry {
    /// Entry name.
    pub name: String,
    /// Its content.
    pub source: Source,
    /// Unix permission bits (defaults: 0o644 for files, 0o755 for dirs).
    pub unix_mode: Option<u32>,
}

impl OutputEntry {
    /// Entry `index` of the input, unchanged and under its own name.
    pub fn raw(input: &WheelArchive, index: usize) -> Option<Self> {
        input.entries().get(index).map(|e| OutputEntry {
            name: e.name.clone(),
            source: Source::Raw(index),
            unix_mode: None,
        })
    }

    /// New content under `name`.
    pub fn bytes(name: impl Into<String>, data: Vec<u8>, unix_mode: Option<u32>) -> Self {
        OutputEntry { name: name.into(), source: Source::Bytes(Arc::new(data)), unix_mode }
    }
}

/// How to write the output.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Deflate level 0–9 for new entries (default 6).
    pub compression_level: Option<u32>,
    /// Timestamp for new entries, seconds since the epoch (default: `SOURCE_DATE_EPOCH`, clipped to 1980..2107).
    pub timestamp: Option<i64>,
}

/// 1980-01-01T00:00:00Z, the earliest time a zip entry can hold.
const ZIP_EPOCH: i64 = 315_532_800;
/// 2107-12-31T23:59:58Z, the latest.
const ZIP_END: i64 = 4_354_819_198;

/// The zip timestamp for `secs` since the Unix epoch (UTC), clipped to the
/// range zip can hold.
fn zip_time(secs: i64) -> DateTime {
    let secs = secs.clamp(ZIP_EPOCH, ZIP_END);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let parts = (
        u16::try_from(year),
        u8::try_from(month),
        u8::try_from(day),
        u8::try_from(rem / 3600),
        u8::try_from(rem % 3600 / 60),
        u8::try_from(rem % 60),
    );
    match parts {
        (Ok(y), Ok(mo), Ok(d), Ok(h), Ok(mi), Ok(s)) => {
            DateTime::from_date_and_time(y, mo, d, h, mi, s).unwrap_or_default()
        }
        _ => DateTime::default(),
    }
}

/// The timestamp for new entries: `options.timestamp`, else
/// `SOURCE_DATE_EPOCH`, else 1980-01-01.
fn new_entry_time(options: &WriteOptions) -> DateTime {
    entry_time(options.timestamp, std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())
}

/// `explicit`, else a parsable `source_date_epoch`, else 1980-01-01.
fn entry_time(explicit: Option<i64>, source_date_epoch: Option<&str>) -> DateTime {
    let secs = explicit.or_else(|| source_date_epoch.and_then(|v| v.trim().parse::<i64>().ok())).unwrap_or(ZIP_EPOCH);
    zip_time(secs)
}

/// New entries of at least this many bytes (256 KiB) are deflated in parallel
/// chunks (a repair does it for grafted libraries while it patches the rest).
pub const CHUNKED_MIN: usize = 256 << 10;

/// New content of at least [`CHUNKED_MIN`] bytes deflated the way the
/// writer stores large entries ([`deflate_chunked`]); `None` when the writer
/// deflates it in one stream instead (smaller content) or cannot take it
/// pre-compressed (see [`deflate_early`]).
pub fn deflate_large(data: &[u8], level: u32) -> std::io::Result<Option<Deflated>> {
    if data.len() < CHUNKED_MIN {
        return Ok(None);
    }
    deflate_early(data, level)
}

/// A one-entry zip archive holding `deflated` under `name` (deflate method,
/// Unix mode `mode`, time `time`), for [`ZipWriter::raw_copy_file`]: the zip
/// crate has no public way to add bytes compressed elsewhere. The compressed
/// bytes are not copied: the archive reads them where they are. `None` when
/// the entry would need zip64.
fn single_entry_zip<'a>(
    name: &str,
    deflated: &'a Deflated,
    size: usize,
    mode: u32,
    time: DateTime,
) -> Option<OneEntryZip<'a>> {
    single_entry_zip_raw(name, 8, &deflated.data, deflated.crc32, size as u64, mode, time)
}

/// [`single_entry_zip`] for bytes compressed with `method` (0 stored, 8 deflate).
fn single_entry_zip_raw<'a>(
    name: &str,
    method: u16,
    data: &'a [u8],
    crc32: u32,
    size: u64,
    mode: u32,
    time: DateTime,
) -> Option<OneEntryZip<'a>> {
    let csize = u32::try_from(data.len()).ok().filter(|&c| c < u32::MAX)?;
    let usize32 = u32::try_from(size).ok().filter(|&c| c < u32::MAX)?;
    let name_len = u16::try_from(name.len()).ok()?;
    // general purpose flags: bit 11 (UTF-8 name) when the name is not ASCII
    let flags: u16 = if name.is_ascii() { 0 } else { 1 << 11 };
    let common = |z: &mut Vec<u8>| {
        z.extend_from_slice(&flags.to_le_bytes());
        z.extend_from_slice(&method.to_le_bytes());
        z.extend_from_slice(&time.timepart().to_le_bytes());
        z.extend_from_slice(&time.datepart().to_le_bytes());
        z.extend_from_slice(&crc32.to_le_bytes());
        z.extend_from_slice(&csize.to_le_bytes());
        z.extend_from_slice(&usize32.to_le_bytes());
        z.extend_from_slice(&name_len.to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes()); // extra field length
    };
    let mut head = Vec::with_capacity(name.len() + 30);
    head.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    head.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0
    common(&mut head);
    head.extend_from_slice(name.as_bytes());
    let cd_start = u32::try_from(head.len() + data.len()).ok()?;
    let mut z = Vec::with_capacity(name.len() + 68);
    z.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    z.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes()); // made by: Unix, 2.0
    z.extend_from_slice(&20u16.to_le_bytes());
    common(&mut z);
    z.extend_from_slice(&0u16.to_le_bytes()); // comment length
    z.extend_from_slice(&0u16.to_le_bytes()); // disk number
    z.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
    z.extend_from_slice(&((0o100_000 | (mode & 0o7777)) << 16).to_le_bytes());
    z.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    z.extend_from_slice(name.as_bytes());
    let cd_len = u32::try_from(z.len()).ok()?;
    z.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    z.extend_from_slice(&[0, 0, 0, 0]); // disk numbers
    z.extend_from_slice(&1u16.to_le_bytes());
    z.extend_from_slice(&1u16.to_le_bytes());
    z.extend_from_slice(&cd_len.to_le_bytes());
    z.extend_from_slice(&cd_start.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes()); // comment length
    Some(OneEntryZip { head, data, tail: z, pos: 0 })
}

/// The bytes of a one-entry zip: its local header, the compressed data
/// (borrowed) and its central directory, read as one stream.
struct OneEntryZip<'a> {
    head: Vec<u8>,
    data: &'a [u8],
    tail: Vec<u8>,
    pos: u64,
}

impl OneEntryZip<'_> {
    fn len(&self) -> u64 {
        (self.head.len() + self.data.len() + self.tail.len()) as u64
    }
}

impl std::io::Read for OneEntryZip<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut at = self.pos;
        for part in [&self.head[..], self.data, &self.tail[..]] {
            let len = part.len() as u64;
            if at < len {
                let from = &part[at as usize..];
                let n = from.len().min(buf.len());
                buf[..n].copy_from_slice(&from[..n]);
                self.pos += n as u64;
                return Ok(n);
            }
            at -= len;
        }
        Ok(0)
    }
}

impl std::io::Seek for OneEntryZip<'_> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            std::io::SeekFrom::Start(n) => Some(n),
            std::io::SeekFrom::End(d) => self.len().checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let Some(target) = target else {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start"));
        };
        self.pos = target;
        Ok(target)
    }
}

/// One output entry, ready to append.
enum Ready {
    Dir {
        name: String,
        mode: u32,
        time: DateTime,
    },
    Raw {
        index: usize,
        name: String,
        rename: bool,
        mode: Option<u32>,
        row: Option<RecordRow>,
    },
    New {
        file: PreparedZipFile,
        row: RecordRow,
    },
    /// A large new entry deflated elsewhere (in chunks, or spliced): put
    /// in a one-entry zip and raw-copied when its turn comes.
    Chunked {
        name: String,
        deflated: Arc<Deflated>,
        size: usize,
        mode: u32,
        time: DateTime,
        row: RecordRow,
    },
    /// An entry whose content is still being made: prepared when it comes.
    Later {
        name: String,
        mode: Option<u32>,
        later: Arc<Later>,
    },
}

impl Ready {
    /// The entry's RECORD row, if it has one.
    fn row(&self) -> Option<&RecordRow> {
        match self {
            Ready::Dir { .. } | Ready::Later { .. } => None,
            Ready::Raw { row, .. } => row.as_ref(),
            Ready::New { row, .. } | Ready::Chunked { row, .. } => Some(row),
        }
    }
}

/// The `.dist-info` directory of the output: the one among `entries`, else `fallback`.
fn output_dist_info(entries: &[OutputEntry], fallback: &str) -> Result<String, WheelError> {
    let dirs = super::dist_info_dirs(entries.iter().map(|e| e.name.as_str()));
    match dirs.as_slice() {
        [] => Ok(fallback.to_string()),
        [one] => Ok((*one).to_string()),
        many => Err(WheelError::DistInfo(format!(
            "the output would hold {} `.dist-info` directories: {}",
            many.len(),
            many.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn zip_err(name: &str, e: impl std::fmt::Display) -> WheelError {
    WheelError::Zip(format!("writing `{}`: {e}", name.escape_debug()))
}

fn file_options(time: DateTime, level: u32, mode: u32) -> SimpleFileOptions {
    let method = if level == 0 { CompressionMethod::Stored } else { CompressionMethod::Deflated };
    let options =
        SimpleFileOptions::default().compression_method(method).last_modified_time(time).unix_permissions(mode);
    if level == 0 {
        options
    } else {
        options.compression_level(Some(i64::from(level.min(9))))
    }
}

fn prepare_new(name: &str, data: &[u8], options: SimpleFileOptions) -> Result<PreparedZipFile, WheelError> {
    let mut builder = ZipFileBuilder::new(name, options).map_err(|e| zip_err(name, e))?;
    builder.write_all(data).map_err(|e| zip_err(name, e))?;
    builder.finish().map_err(|e| zip_err(name, e))
}

/// A new file entry: deflated in parallel chunks when large, else in one piece.
fn prepare_file(name: &str, data: &[u8], time: DateTime, level: u32, mode: u32) -> Result<Ready, WheelError> {
    if let Some(deflated) = deflate_large(data, level).map_err(|e| zip_err(name, e))? {
        return Ok(chunked(name, Arc::new(deflated), data.len(), mode, time));
    }
    let file = prepare_new(name, data, file_options(time, level, mode))?;
    Ok(Ready::New { row: RecordRow::for_data(name, data), file })
}

/// A [`Ready::Chunked`] entry and its RECORD row.
fn chunked(name: &str, deflated: Arc<Deflated>, size: usize, mode: u32, time: DateTime) -> Ready {
    let hash = format!("sha256={}", URL_SAFE_NO_PAD.encode(deflated.sha256));
    let row = RecordRow { path: name.to_string(), hash: Some(hash), size: Some(size as u64) };
    Ready::Chunked { name: name.to_string(), deflated, size, mode, time, row }
}

/// Writes `entries` (RECORD is generated; any RECORD, RECORD.jws or
/// RECORD.p7s among them is dropped) as a new wheel at `out`.
pub fn write_wheel(
    input: &WheelArchive,
    entries: Vec<OutputEntry>,
    out: &Path,
    options: &WriteOptions,
) -> Result<(), crate::Error> {
    write_entries(Some(input), input.dist_info_dir(), entries, out, options)
}

/// Writes a wheel built from scratch as `out_dir/{filename}`, with a RECORD
/// for every file; returns its path. Entries are `(name, content, unix mode)`;
/// names ending in `/` become directory entries.
pub fn write_new_wheel(
    out_dir: &Path,
    filename: &WheelFilename,
    entries: Vec<(String, Vec<u8>, u32)>,
    options: &WriteOptions,
) -> Result<PathBuf, crate::Error> {
    let out = out_dir.join(filename.to_string());
    let entries = entries.into_iter().map(|(name, data, mode)| OutputEntry::bytes(name, data, Some(mode))).collect();
    write_entries(None, &filename.dist_info_dir(), entries, &out, options)?;
    Ok(out)
}

fn write_entries(
    input: Option<&WheelArchive>,
    fallback_dist_info: &str,
    entries: Vec<OutputEntry>,
    out: &Path,
    options: &WriteOptions,
) -> Result<(), crate::Error> {
    let wrap = |source: WheelError| crate::Error::Wheel { path: out.to_path_buf(), source };
    let ready = prepare(input, fallback_dist_info, entries, options).map_err(wrap)?;
    crate::timing::mark("entries prepared");
    write_atomically(out, |file, tmp_path| {
        append_all(input, ready, file).map_err(|e| match e {
            AppendError::Wheel(w) => wrap(w),
            AppendError::Io(io) => crate::Error::io(tmp_path, io),
        })?;
        input.map_or(Ok(()), unchanged)
    })
}

/// The input's [`WheelArchive::check_unchanged`], as an error naming it.
fn unchanged(input: &WheelArchive) -> Result<(), crate::Error> {
    input.check_unchanged().map_err(|source| crate::Error::Wheel { path: input.path().to_path_buf(), source })
}

/// Writes the input wheel's bytes unchanged to `out`, atomically: what a
/// repair that changes nothing produces (no entry or RECORD row moves).
pub fn copy_wheel(input: &WheelArchive, out: &Path) -> Result<(), crate::Error> {
    write_atomically(out, |file, tmp_path| {
        use std::io::Write;
        let mut w = file;
        w.write_all(input.as_bytes()).and_then(|()| w.sync_all()).map_err(|e| crate::Error::io(tmp_path, e))?;
        unchanged(input)
    })
}

/// Creates a temporary file next to `out`, lets `fill` write it, and renames
/// it into place; on any error the temporary file is removed.
fn write_atomically(
    out: &Path,
    fill: impl FnOnce(&std::fs::File, &Path) -> Result<(), crate::Error>,
) -> Result<(), crate::Error> {
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".wheelfix-")
        .suffix(".whl.tmp")
        .tempfile_in(dir)
        .map_err(|e| crate::Error::io(dir, e))?;
    // a truncated input stops the process; this file goes with it
    let _watch = crate::sigbus::watch_temp(tmp.path());
    fill(tmp.as_file(), tmp.path())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| crate::Error::io(tmp.path(), e))?;
    }
    tmp.persist(out).map_err(|e| crate::Error::io(out, e.error))?;
    Ok(())
}

enum AppendError {
    Wheel(WheelError),
    Io(std::io::Error),
}

fn prepare(
    input: Option<&WheelArchive>,
    fallback_dist_info: &str,
    entries: Vec<OutputEntry>,
    options: &WriteOptions,
) -> Result<Prepared, WheelError> {
    let dist_info = output_dist_info(&entries, fallback_dist_info)?;
    let dist_prefix = format!("{dist_info}/");
    let is_record = |name: &str| {
        name.strip_prefix(&dist_prefix).is_some_and(|f| matches!(f, "RECORD" | "RECORD.jws" | "RECORD.p7s"))
    };
    let (mut body, meta): (Vec<OutputEntry>, Vec<OutputEntry>) =
        entries.into_iter().filter(|e| !is_record(&e.name)).partition(|e| !e.name.starts_with(&dist_prefix));
    body.extend(meta);
    let entries = body;

    let mut seen = std::collections::HashSet::with_capacity(entries.len());
    for e in &entries {
        check_entry_name(&e.name)?;
        if !seen.insert(e.name.as_str()) {
            return Err(WheelError::Duplicate(e.name.clone()));
        }
        if let Source::Raw(i) = e.source {
            match input {
                Some(w) if i < w.entries().len() => {}
                _ => {
                    return Err(WheelError::Zip(format!("`{}` copies input entry #{i}, which does not exist", e.name)))
                }
            }
        }
    }

    let time = new_entry_time(options);
    let level = options.compression_level.unwrap_or(6).min(9);
    let ready: Vec<Result<Ready, WheelError>> =
        entries.into_par_iter().map(|e| prepare_one(input, e, time, level)).collect();
    let ready = ready.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(Prepared { ready, record_name: format!("{dist_info}/RECORD"), time, level })
}

/// The entries of the output, in order, ready to append (but for those
/// whose content comes later), and what RECORD and late entries need.
struct Prepared {
    ready: Vec<Ready>,
    record_name: String,
    time: DateTime,
    level: u32,
}

fn prepare_one(input: Option<&WheelArchive>, e: OutputEntry, time: DateTime, level: u32) -> Result<Ready, WheelError> {
    match e.source {
        Source::Bytes(_) if e.name.ends_with('/') => {
            Ok(Ready::Dir { mode: e.unix_mode.unwrap_or(0o755), name: e.name, time })
        }
        Source::Bytes(data) => prepare_file(&e.name, &data, time, level, e.unix_mode.unwrap_or(0o644)),
        Source::Deflated(deflated, size) => {
            let fits = u32::try_from(size).is_ok_and(|n| n < u32::MAX) && deflated.data.len() < u32::MAX as usize;
            if !fits {
                return Err(zip_err(&e.name, "a pre-compressed entry of 4 GiB or more"));
            }
            Ok(chunked(&e.name, deflated, size as usize, e.unix_mode.unwrap_or(0o644), time))
        }
        Source::Later(later) => Ok(Ready::Later { name: e.name, mode: e.unix_mode, later }),
        Source::Raw(index) => {
            let Some(w) = input else {
                return Err(WheelError::Zip(format!("`{}` copies an input entry but there is no input", e.name)));
            };
            let Some(src) = w.entries().get(index) else {
                return Err(WheelError::Zip(format!("`{}` copies input entry #{index}, which does not exist", e.name)));
            };
            let rename = src.name != e.name;
            let mode = e.unix_mode.filter(|m| src.unix_mode.map(|s| s & 0o7777) != Some(m & 0o7777));
            if src.is_dir || e.name.ends_with('/') {
                return Ok(Ready::Raw { index, name: e.name, rename, mode, row: None });
            }
            if rename && mode.is_some() {
                // zip can rename a raw copy or change its mode, not both: recompress.
                let data = w.read(index)?;
                return prepare_file(&e.name, &data, time, level, mode.unwrap_or(0o644));
            }
            let known = w.record_row(&src.name).filter(|r| r.size == Some(src.size) && r.hash.is_some());
            let row = match known {
                Some(r) => RecordRow { path: e.name.clone(), hash: r.hash.clone(), size: r.size },
                None => RecordRow::for_data(&e.name, &w.read(index)?),
            };
            Ok(Ready::Raw { index, name: e.name, rename, mode, row: Some(row) })
        }
    }
}

/// While it waits for an entry, the writer syncs what it has written when
/// that is this much (8 MiB) more than it synced last.
const SYNC_WHILE_WAITING: u64 = 8 << 20;

/// A buffered writer that keeps its own position. The zip writer asks for
/// the position before every entry, and `BufWriter`'s `seek` answers that by
/// flushing its buffer and asking the kernel: two system calls per entry,
/// however small the entry.
struct Positioned<W: Write + std::io::Seek> {
    inner: BufWriter<W>,
    pos: u64,
}

impl<W: Write + std::io::Seek> Positioned<W> {
    fn new(mut inner: W, capacity: usize) -> std::io::Result<Self> {
        let pos = inner.stream_position()?;
        Ok(Positioned { inner: BufWriter::with_capacity(capacity, inner), pos })
    }

    fn into_inner(self) -> std::io::Result<W> {
        self.inner.into_inner().map_err(std::io::IntoInnerError::into_error)
    }
}

impl<W: Write + std::io::Seek> Write for Positioned<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write + std::io::Seek> std::io::Seek for Positioned<W> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        if to == std::io::SeekFrom::Current(0) {
            return Ok(self.pos);
        }
        // a real move: BufWriter flushes, then the file moves
        self.pos = self.inner.seek(to)?;
        Ok(self.pos)
    }

    fn stream_position(&mut self) -> std::io::Result<u64> {
        Ok(self.pos)
    }
}

fn append_all(input: Option<&WheelArchive>, prepared: Prepared, file: &std::fs::File) -> Result<(), AppendError> {
    let Prepared { ready, record_name, time, level } = prepared;
    let mut zip = ZipWriter::new(Positioned::new(file, 1 << 20).map_err(AppendError::Io)?);
    let mut source = input.map(WheelArchive::zip);
    let mut record = Record::default();
    let mut synced = 0u64;
    for r in ready {
        let r = match r {
            Ready::Later { name, mode, later } => {
                // what is written so far goes to disk while the writer waits
                // (when there is enough of it to be worth a journal commit)
                if !later.settled() {
                    let written = file.metadata().map_err(AppendError::Io)?.len();
                    if written >= synced + SYNC_WHILE_WAITING {
                        file.sync_data().map_err(AppendError::Io)?;
                        synced = written;
                    }
                }
                let Some(source) = later.take() else {
                    return Err(AppendError::Wheel(zip_err(&name, "its content was not made")));
                };
                let entry = OutputEntry { name, source, unix_mode: mode };
                prepare_one(input, entry, time, level).map_err(AppendError::Wheel)?
            }
            ready => ready,
        };
        record.rows.extend(r.row().cloned());
        match r {
            Ready::Later { name, .. } => {
                return Err(AppendError::Wheel(zip_err(&name, "its content was to come later twice")))
            }
            Ready::Dir { name, mode, time } => {
                let options = SimpleFileOptions::default().last_modified_time(time).unix_permissions(mode);
                zip.add_directory(name.as_str(), options).map_err(|e| AppendError::Wheel(zip_err(&name, e)))?;
            }
            Ready::New { file, .. } => {
                let name = String::from_utf8_lossy(file.file_name_raw()).into_owned();
                zip.add_prepared_file(file).map_err(|e| AppendError::Wheel(zip_err(&name, e)))?;
            }
            Ready::Chunked { name, deflated, size, mode, time, .. } => {
                let err = |e: zip::result::ZipError| AppendError::Wheel(zip_err(&name, e));
                let Some(bytes) = single_entry_zip(&name, &deflated, size, mode, time) else {
                    return Err(AppendError::Wheel(zip_err(&name, "too large for a one-entry zip")));
                };
                let mut one = ZipArchive::new(bytes).map_err(err)?;
                let f = one.by_index_raw(0).map_err(err)?;
                zip.raw_copy_file(f).map_err(err)?;
            }
            Ready::Raw { index, name, rename, mode, .. } => {
                let err = |e: zip::result::ZipError| AppendError::Wheel(zip_err(&name, e));
                let Some(src) = source.as_mut() else {
                    return Err(AppendError::Wheel(zip_err(&name, "no input archive")));
                };
                let f = src.by_index_raw(index).map_err(err)?;
                // zip 9.4.1 copies the source's zip64 extra field next to the
                // one it writes itself: two fields, the old one with a stale
                // offset, which readers resolve differently. Such entries are
                // re-wrapped in a clean one-entry archive first.
                let zip64 = f.extra_data_fields().any(|x| matches!(x, zip::ExtraField::Zip64ExtendedInformation(_)));
                // An entry of 4 GiB or more cannot be re-wrapped in memory; its
                // copied field holds only the sizes (the same values) as long as
                // the input put it below 4 GiB, which is checked.
                let huge = f.size() >= u64::from(u32::MAX) || f.compressed_size() >= u64::from(u32::MAX);
                if zip64 && huge && f.header_start() > u64::from(u32::MAX) {
                    return Err(AppendError::Wheel(zip_err(
                        &name,
                        "an entry of 4 GiB or more placed past 4 GiB in the input cannot be copied yet",
                    )));
                }
                if zip64 && !huge {
                    let method = match f.compression() {
                        zip::CompressionMethod::Stored => 0u16,
                        zip::CompressionMethod::Deflated => 8,
                        other => return Err(AppendError::Wheel(zip_err(&name, format!("unsupported method {other}")))),
                    };
                    let (crc, size, t) = (f.crc32(), f.size(), f.last_modified().unwrap_or_default());
                    let unix = mode.or_else(|| f.unix_mode()).unwrap_or(0o644);
                    drop(f);
                    let Some(w) = input else { return Err(AppendError::Wheel(zip_err(&name, "no input archive"))) };
                    let raw = w.raw_data(index).map_err(AppendError::Wheel)?;
                    let Some(bytes) = single_entry_zip_raw(&name, method, raw, crc, size, unix, t) else {
                        return Err(AppendError::Wheel(zip_err(
                            &name,
                            "entries of 4 GiB or more with zip64 fields cannot be copied yet",
                        )));
                    };
                    let mut one = ZipArchive::new(bytes).map_err(err)?;
                    let f = one.by_index_raw(0).map_err(err)?;
                    zip.raw_copy_file(f).map_err(err)?;
                    continue;
                }
                match (rename, mode) {
                    (false, None) => zip.raw_copy_file(f),
                    (true, _) => zip.raw_copy_file_rename(f, name.as_str()),
                    (false, Some(m)) => {
                        let t = f.last_modified().unwrap_or_default();
                        zip.raw_copy_file_touch(f, t, Some(m))
                    }
                }
                .map_err(err)?;
                if let Some(w) = input {
                    w.release(index);
                }
            }
        }
    }
    record.rows.push(RecordRow { path: record_name.clone(), hash: None, size: None });
    let record = record.to_string().into_bytes();
    let prepared = prepare_new(&record_name, &record, file_options(time, level, 0o644)).map_err(AppendError::Wheel)?;
    zip.add_prepared_file(prepared).map_err(|e| AppendError::Wheel(zip_err(&record_name, e)))?;
    let buf = zip.finish().map_err(|e| AppendError::Wheel(zip_err("the central directory", e)))?;
    let file = buf.into_inner().map_err(AppendError::Io)?;
    crate::timing::mark("entries written");
    file.sync_all().map_err(AppendError::Io)?;
    crate::timing::mark("synced");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wheel::deflate::testdata::mixed;

    /// The position kept by `Positioned` is the file's, through writes
    /// larger and smaller than its buffer and seeks back and forth.
    #[test]
    #[allow(clippy::seek_from_current)] // the call a writer may get, as well as stream_position
    fn positioned_writer_keeps_the_file_position() {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"head").unwrap();
        let mut w = Positioned::new(&file, 8).unwrap();
        assert_eq!(w.stream_position().unwrap(), 4);
        w.write_all(b"abc").unwrap();
        assert_eq!(w.seek(SeekFrom::Current(0)).unwrap(), 7);
        w.write_all(b"0123456789").unwrap();
        assert_eq!(w.stream_position().unwrap(), 17);
        assert_eq!(w.seek(SeekFrom::Start(5)).unwrap(), 5);
        w.write_all(b"XY").unwrap();
        assert_eq!(w.stream_position().unwrap(), 7);
        assert_eq!(w.seek(SeekFrom::End(0)).unwrap(), 17);
        w.write_all(b"!").unwrap();
        let mut file = w.into_inner().unwrap();
        assert_eq!(file.stream_position().unwrap(), 18);
        let mut all = Vec::new();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"headaXY0123456789!");
    }

    #[test]
    fn zip_time_converts_and_clips() {
        type Civil = (u16, u8, u8, u8, u8, u8);
        let cases: &[(i64, Civil)] = &[
            (0, (1980, 1, 1, 0, 0, 0)),
            (-5, (1980, 1, 1, 0, 0, 0)),
            (ZIP_EPOCH, (1980, 1, 1, 0, 0, 0)),
            (951_782_400, (2000, 2, 29, 0, 0, 0)),
            (1_700_000_000, (2023, 11, 14, 22, 13, 20)),
            (i64::MAX, (2107, 12, 31, 23, 59, 58)),
        ];
        for &(secs, (y, mo, d, h, mi, s)) in cases {
            let t = zip_time(secs);
            assert_eq!(
                (t.year(), t.month(), t.day(), t.hour(), t.minute(), t.second()),
                (y, mo, d, h, mi, s),
                "{secs}"
            );
        }
    }

    #[test]
    fn timestamp_sources() {
        let ymd = |t: DateTime| (t.year(), t.month(), t.day());
        assert_eq!(ymd(entry_time(Some(951_782_400), Some("1700000000"))), (2000, 2, 29), "explicit wins");
        assert_eq!(ymd(entry_time(None, Some(" 1700000000\n"))), (2023, 11, 14), "SOURCE_DATE_EPOCH");
        assert_eq!(ymd(entry_time(None, Some("yesterday"))), (1980, 1, 1), "unparsable is ignored");
        assert_eq!(ymd(entry_time(None, Some("-100"))), (1980, 1, 1), "clipped");
        assert_eq!(ymd(entry_time(None, None)), (1980, 1, 1));
    }

    #[test]
    fn dist_info_of_output() {
        let e = |n: &str| OutputEntry::bytes(n, vec![], None);
        assert_eq!(output_dist_info(&[e("a/b"), e("x-1.dist-info/WHEEL")], "f").unwrap(), "x-1.dist-info");
        assert_eq!(output_dist_info(&[e("a/b")], "f-1.dist-info").unwrap(), "f-1.dist-info");
        let err = output_dist_info(&[e("x-1.dist-info/A"), e("y-1.dist-info/B")], "f").unwrap_err();
        assert!(matches!(err, WheelError::DistInfo(_)), "{err:?}");
    }

    #[test]
    fn large_entries_are_written_chunked_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let big = mixed(CHUNKED_MIN + 3 * CHUNK + 5, 11);
        let entries = vec![
            OutputEntry::bytes("pkg/__init__.py", b"x = 1\n".to_vec(), None),
            OutputEntry::bytes("pkg/big.so", big.clone(), Some(0o755)),
            OutputEntry::bytes("pkg/é.bin", big[..CHUNKED_MIN].to_vec(), None),
            OutputEntry::bytes("pkg-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n".to_vec(), None),
        ];
        let out = dir.path().join("pkg-1.0-py3-none-any.whl");
        let options = WriteOptions { compression_level: None, timestamp: Some(1_700_000_000) };
        write_wheel_for_test(entries.clone(), &out, &options);
        let first = std::fs::read(&out).unwrap();
        let mut z = ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
        let mut f = z.by_name("pkg/big.so").unwrap();
        assert_eq!(f.compression(), CompressionMethod::Deflated);
        assert_eq!(f.unix_mode().map(|m| m & 0o170_777), Some(0o100_755));
        let t = f.last_modified().unwrap();
        assert_eq!((t.year(), t.month(), t.day(), t.hour()), (2023, 11, 14, 22));
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut content).unwrap(); // checks the CRC
        assert!(content == big);
        drop(f);
        let f = z.by_name("pkg/é.bin").unwrap();
        assert_eq!(f.size(), CHUNKED_MIN as u64);
        assert_eq!(f.unix_mode().map(|m| m & 0o777), Some(0o644));
        drop(f);
        let mut rec = String::new();
        std::io::Read::read_to_string(&mut z.by_name("pkg-1.0.dist-info/RECORD").unwrap(), &mut rec).unwrap();
        let row = RecordRow::for_data("pkg/big.so", &big);
        assert!(rec.contains(&format!("pkg/big.so,{},{}", row.hash.unwrap(), big.len())), "{rec}");
        // deterministic
        write_wheel_for_test(entries, &out, &options);
        assert!(std::fs::read(&out).unwrap() == first);
    }

    #[test]
    fn entries_whose_content_comes_later_are_written_as_if_given_up_front() {
        let dir = tempfile::tempdir().unwrap();
        let big = mixed(CHUNKED_MIN + CHUNK + 3, 5);
        let deflated = Arc::new(deflate_chunked(&big, 6, CHUNK).unwrap());
        let up_front = vec![
            OutputEntry::bytes("pkg/__init__.py", b"x = 1\n".to_vec(), None),
            OutputEntry {
                name: "pkg/big.so".into(),
                source: Source::Deflated(deflated.clone(), big.len() as u64),
                unix_mode: Some(0o755),
            },
            OutputEntry::bytes("pkg/small.txt", b"small".to_vec(), None),
            OutputEntry::bytes("pkg-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n".to_vec(), None),
        ];
        let options = WriteOptions { compression_level: None, timestamp: Some(1_700_000_000) };
        let a = dir.path().join("a.whl");
        write_wheel_for_test(up_front.clone(), &a, &options);
        // the same entries, two of them handed over while the writer runs
        let (big_promise, big_later) = later();
        let (small_promise, small_later) = later();
        let mut late = up_front.clone();
        late[1].source = big_later;
        late[2].source = small_later;
        let b = dir.path().join("b.whl");
        std::thread::scope(|s| {
            let writer = s.spawn(|| write_entries(None, "pkg-1.0.dist-info", late, &b, &options));
            std::thread::sleep(std::time::Duration::from_millis(20));
            // the writer waits: nothing is in place yet
            assert!(!b.exists());
            small_promise.keep(Source::Bytes(Arc::new(b"small".to_vec())));
            big_promise.keep(Source::Deflated(deflated, big.len() as u64));
            writer.join().unwrap().unwrap();
        });
        assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "same bytes, RECORD included");
    }

    #[test]
    fn a_promise_dropped_unkept_stops_the_writer_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (promise, source) = later();
        let entries = vec![
            OutputEntry::bytes("pkg/__init__.py", b"x = 1\n".to_vec(), None),
            OutputEntry { name: "pkg/ext.so".into(), source, unix_mode: None },
        ];
        let out = dir.path().join("pkg-1.0-py3-none-any.whl");
        let err = std::thread::scope(|s| {
            let writer = s.spawn(|| write_entries(None, "pkg-1.0.dist-info", entries, &out, &WriteOptions::default()));
            std::thread::sleep(std::time::Duration::from_millis(10));
            drop(promise);
            writer.join().unwrap().unwrap_err()
        });
        let said = err.to_string();
        assert!(said.contains("pkg/ext.so") && said.contains("not made"), "{said}");
        // no output and no temporary file left behind
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_later_source_is_taken_once() {
        let (promise, source) = later();
        let Source::Later(slot) = source else { panic!("a later source") };
        assert!(!slot.settled());
        promise.keep(Source::Bytes(Arc::new(b"x".to_vec())));
        assert!(slot.settled());
        assert!(matches!(slot.take(), Some(Source::Bytes(b)) if b.as_slice() == b"x"));
        assert!(slot.take().is_none(), "a second take finds nothing");
        // a dropped promise settles its slot empty
        let (promise, source) = later();
        let Source::Later(slot) = source else { panic!("a later source") };
        drop(promise);
        assert!(slot.settled() && slot.take().is_none());
    }

    /// A wheel truncated by another process while the writer copies it: the
    /// command-line tool prints one line naming it, exits 2 and leaves no
    /// temporary file. Run in a child process (this test binary again),
    /// since the process exits. A first child without the handler shows
    /// that the fault comes while the temporary file exists: it dies by
    /// SIGBUS and leaves that file behind.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_wheel_truncated_while_copied_exits_cleanly_and_leaves_nothing() {
        let name = "pkg-1.0-py3-none-any.whl";
        if let Some(dir) = std::env::var_os("WHEELFIX_TEST_CHILD") {
            let dir = PathBuf::from(dir);
            let input = dir.join(name);
            let archive = WheelArchive::open(&input).unwrap();
            if !dir.join("no-handler").exists() {
                crate::sigbus::install();
            }
            // what another process does after we opened the wheel
            std::fs::OpenOptions::new().write(true).open(&input).unwrap().set_len(100).unwrap();
            let result =
                write_wheel(&archive, raw_entries(&archive), &dir.join("out").join(name), &WriteOptions::default());
            panic!("the copy of a truncated wheel went on: {result:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join(name);
        write_wheel_for_test(pkg_entries(mixed(4 << 20, 5)), &input, &WriteOptions::default());
        let test = "wheel::writer::tests::a_wheel_truncated_while_copied_exits_cleanly_and_leaves_nothing";
        // without the handler
        let control = tempfile::tempdir().unwrap();
        std::fs::copy(&input, control.path().join(name)).unwrap();
        std::fs::create_dir(control.path().join("out")).unwrap();
        std::fs::write(control.path().join("no-handler"), b"").unwrap();
        let out = crate::sigbus::tests::run_child(test, control.path());
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&out.status), Some(libc::SIGBUS), "{out:?}");
        let left: Vec<String> = std::fs::read_dir(control.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(matches!(&left[..], [t] if t.starts_with(".wheelfix-") && t.ends_with(".whl.tmp")), "{left:?}");
        // with it
        std::fs::create_dir(dir.path().join("out")).unwrap();
        let out = crate::sigbus::tests::run_child(test, dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let expected = format!("error: `{}`: the file was truncated while it was being read\n", input.display());
        assert_eq!(stderr, expected);
        let left: Vec<_> = std::fs::read_dir(dir.path().join("out")).unwrap().collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    /// A wheel written over in place after it was opened (same size, one
    /// byte of an entry changed): raw copies would take the new byte under
    /// the old CRC-32. Both writers refuse it, naming the input, and leave
    /// nothing behind; before the write, the same copy succeeds.
    #[test]
    fn a_wheel_written_over_in_place_while_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let name = "pkg-1.0-py3-none-any.whl";
        let input = dir.path().join(name);
        let data = mixed(256 << 10, 9);
        let stored = WriteOptions { compression_level: Some(0), ..Default::default() };
        write_wheel_for_test(pkg_entries(data.clone()), &input, &stored);
        let archive = WheelArchive::open(&input).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        write_wheel(&archive, raw_entries(&archive), &out.join("before.whl"), &WriteOptions::default()).unwrap();
        copy_wheel(&archive, &out.join("copy.whl")).unwrap();
        for f in ["before.whl", "copy.whl"] {
            std::fs::remove_file(out.join(f)).unwrap();
        }

        // another process writes one byte of the stored entry, in place
        std::thread::sleep(std::time::Duration::from_millis(20));
        let bytes = std::fs::read(&input).unwrap();
        let at = bytes.windows(64).position(|w| w == &data[1000..1064]).unwrap() + 10;
        {
            use std::io::{Seek, Write};
            let mut f = std::fs::OpenOptions::new().write(true).open(&input).unwrap();
            f.seek(std::io::SeekFrom::Start(at as u64)).unwrap();
            f.write_all(&[!bytes[at]]).unwrap();
        }
        assert_eq!(std::fs::metadata(&input).unwrap().len(), bytes.len() as u64);
        // the mapping now shows the new byte under the old CRC-32
        assert!(archive.verify_all().is_err());
        let expected = format!("`{}`: the file was changed while it was being read", input.display());
        let err =
            write_wheel(&archive, raw_entries(&archive), &out.join("after.whl"), &WriteOptions::default()).unwrap_err();
        assert!(err.to_string().contains(&expected), "{err}");
        let err = copy_wheel(&archive, &out.join("copy.whl")).unwrap_err();
        assert!(err.to_string().contains(&expected), "{err}");
        let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    /// `pkg-1.0`'s entries: `pkg/data.bin` holding `data`, and its WHEEL and METADATA.
    fn pkg_entries(data: Vec<u8>) -> Vec<OutputEntry> {
        vec![
            OutputEntry::bytes("pkg/data.bin", data, None),
            OutputEntry::bytes(
                "pkg-1.0.dist-info/WHEEL",
                b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_vec(),
                None,
            ),
            OutputEntry::bytes(
                "pkg-1.0.dist-info/METADATA",
                b"Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n".to_vec(),
                None,
            ),
        ]
    }

    /// Every entry of `archive`, copied raw.
    fn raw_entries(archive: &WheelArchive) -> Vec<OutputEntry> {
        (0..archive.entries().len())
            .map(|i| OutputEntry { name: archive.entries()[i].name.clone(), source: Source::Raw(i), unix_mode: None })
            .collect()
    }

    fn write_wheel_for_test(entries: Vec<OutputEntry>, out: &Path, options: &WriteOptions) {
        write_entries(None, "pkg-1.0.dist-info", entries, out, options).unwrap();
    }
}
