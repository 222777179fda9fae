//! Writing a wheel: unchanged entries copied raw, new ones compressed in
//! parallel, deterministic order and timestamps, RECORD regenerated and
//! written last, output written to a temporary file and renamed.
//!
//! Unchanged entries ([`Source::Raw`]) keep their compressed bytes, local
//! header fields, timestamps and permissions: nothing is inflated unless the
//! input RECORD lacks the entry's hash. New content ([`Source::Bytes`]) is
//! deflated on the rayon pool and appended in the given order. The output
//! is a function of the inputs only (no clock, no file system order), so
//! repairing the same wheel twice gives byte-identical files.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use zip::write::{PreparedZipFile, SimpleFileOptions, ZipFileBuilder};
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::archive::check_entry_name;
use super::record::{Record, RecordRow};
use super::{WheelArchive, WheelError, WheelFilename};

/// Where the bytes of an output entry come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Entry `index` of the input wheel, copied raw (not recompressed).
    Raw(usize),
    /// New content.
    Bytes(Arc<Vec<u8>>),
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

/// One output entry, ready to append.
enum Ready {
    Dir { name: String, mode: u32, time: DateTime },
    Raw { index: usize, name: String, rename: bool, mode: Option<u32>, row: Option<RecordRow> },
    New { file: PreparedZipFile, row: RecordRow },
}

/// The `.dist-info` directory of the output: the one among `entries`, else `fallback`.
fn output_dist_info(entries: &[OutputEntry], fallback: &str) -> Result<String, WheelError> {
    let mut dirs: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.name.split_once('/').map(|(top, _)| top))
        .filter(|top| top.ends_with(".dist-info"))
        .collect();
    dirs.sort_unstable();
    dirs.dedup();
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
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".wheelfix-")
        .suffix(".whl.tmp")
        .tempfile_in(dir)
        .map_err(|e| crate::Error::io(dir, e))?;
    append_all(input, ready, tmp.as_file()).map_err(|e| match e {
        AppendError::Wheel(w) => wrap(w),
        AppendError::Io(io) => crate::Error::io(tmp.path(), io),
    })?;
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
) -> Result<(Vec<Ready>, String, Vec<u8>, SimpleFileOptions), WheelError> {
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

    let record_name = format!("{dist_info}/RECORD");
    let mut record = Record::default();
    for r in &ready {
        match r {
            Ready::Dir { .. } => {}
            Ready::Raw { row, .. } => record.rows.extend(row.clone()),
            Ready::New { row, .. } => record.rows.push(row.clone()),
        }
    }
    record.rows.push(RecordRow { path: record_name.clone(), hash: None, size: None });
    Ok((ready, record_name, record.to_string().into_bytes(), file_options(time, level, 0o644)))
}

fn prepare_one(input: Option<&WheelArchive>, e: OutputEntry, time: DateTime, level: u32) -> Result<Ready, WheelError> {
    match e.source {
        Source::Bytes(_) if e.name.ends_with('/') => {
            Ok(Ready::Dir { mode: e.unix_mode.unwrap_or(0o755), name: e.name, time })
        }
        Source::Bytes(data) => {
            let mode = e.unix_mode.unwrap_or(0o644);
            let file = prepare_new(&e.name, &data, file_options(time, level, mode))?;
            Ok(Ready::New { row: RecordRow::for_data(&e.name, &data), file })
        }
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
                let file = prepare_new(&e.name, &data, file_options(time, level, mode.unwrap_or(0o644)))?;
                return Ok(Ready::New { row: RecordRow::for_data(&e.name, &data), file });
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

fn append_all(
    input: Option<&WheelArchive>,
    (ready, record_name, record, record_options): (Vec<Ready>, String, Vec<u8>, SimpleFileOptions),
    file: &std::fs::File,
) -> Result<(), AppendError> {
    let mut zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
    let mut source = input.map(WheelArchive::zip);
    for r in ready {
        match r {
            Ready::Dir { name, mode, time } => {
                let options = SimpleFileOptions::default().last_modified_time(time).unix_permissions(mode);
                zip.add_directory(name.as_str(), options).map_err(|e| AppendError::Wheel(zip_err(&name, e)))?;
            }
            Ready::New { file, .. } => {
                let name = String::from_utf8_lossy(file.file_name_raw()).into_owned();
                zip.add_prepared_file(file).map_err(|e| AppendError::Wheel(zip_err(&name, e)))?;
            }
            Ready::Raw { index, name, rename, mode, .. } => {
                let err = |e: zip::result::ZipError| AppendError::Wheel(zip_err(&name, e));
                let Some(src) = source.as_mut() else {
                    return Err(AppendError::Wheel(zip_err(&name, "no input archive")));
                };
                let f = src.by_index_raw(index).map_err(err)?;
                match (rename, mode) {
                    (false, None) => zip.raw_copy_file(f),
                    (true, _) => zip.raw_copy_file_rename(f, name.as_str()),
                    (false, Some(m)) => {
                        let t = f.last_modified().unwrap_or_default();
                        zip.raw_copy_file_touch(f, t, Some(m))
                    }
                }
                .map_err(err)?;
            }
        }
    }
    let prepared = prepare_new(&record_name, &record, record_options).map_err(AppendError::Wheel)?;
    zip.add_prepared_file(prepared).map_err(|e| AppendError::Wheel(zip_err(&record_name, e)))?;
    let buf = zip.finish().map_err(|e| AppendError::Wheel(zip_err("the central directory", e)))?;
    let file = buf.into_inner().map_err(|e| AppendError::Io(e.into_error()))?;
    file.sync_all().map_err(AppendError::Io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
