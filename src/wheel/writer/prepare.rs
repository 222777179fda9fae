//! Preparing the output entries, in parallel: names checked, order fixed
//! (the `.dist-info` files last, RECORD dropped), new content compressed,
//! each entry's RECORD row found or computed.

use std::io::Write;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rayon::prelude::*;
use zip::write::{PreparedZipFile, SimpleFileOptions, ZipFileBuilder};
use zip::{CompressionMethod, DateTime};

use super::later::Later;
use super::time::new_entry_time;
use super::{OutputEntry, Source, WriteOptions};
use crate::wheel::archive::check_entry_name;
use crate::wheel::deflate::{deflate_early, Deflated};
use crate::wheel::record::RecordRow;
use crate::wheel::{WheelArchive, WheelError};

/// New entries of at least this many bytes (256 KiB) are deflated in parallel
/// chunks (a repair does it for grafted libraries while it patches the rest).
pub const CHUNKED_MIN: usize = 256 << 10;

/// New content of at least [`CHUNKED_MIN`] bytes deflated the way the
/// writer stores large entries
/// ([`deflate_chunked`](crate::wheel::deflate::deflate_chunked)); `None`
/// when the writer deflates it in one stream instead (smaller content) or
/// cannot take it pre-compressed (see [`deflate_early`]).
pub fn deflate_large(data: &[u8], level: u32) -> std::io::Result<Option<Deflated>> {
    if data.len() < CHUNKED_MIN {
        return Ok(None);
    }
    deflate_early(data, level)
}

/// One output entry, ready to append.
pub(super) enum Ready {
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
    pub(super) fn row(&self) -> Option<&RecordRow> {
        match self {
            Ready::Dir { .. } | Ready::Later { .. } => None,
            Ready::Raw { row, .. } => row.as_ref(),
            Ready::New { row, .. } | Ready::Chunked { row, .. } => Some(row),
        }
    }
}

/// The `.dist-info` directory of the output: the one among `entries`, else `fallback`.
fn output_dist_info(entries: &[OutputEntry], fallback: &str) -> Result<String, WheelError> {
    let dirs = crate::wheel::dist_info_dirs(entries.iter().map(|e| e.name.as_str()));
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

pub(super) fn zip_err(name: &str, e: impl std::fmt::Display) -> WheelError {
    WheelError::Zip(format!("writing `{}`: {e}", name.escape_debug()))
}

pub(super) fn file_options(time: DateTime, level: u32, mode: u32) -> SimpleFileOptions {
    let method = if level == 0 { CompressionMethod::Stored } else { CompressionMethod::Deflated };
    let options =
        SimpleFileOptions::default().compression_method(method).last_modified_time(time).unix_permissions(mode);
    if level == 0 {
        options
    } else {
        options.compression_level(Some(i64::from(level.min(9))))
    }
}

pub(super) fn prepare_new(name: &str, data: &[u8], options: SimpleFileOptions) -> Result<PreparedZipFile, WheelError> {
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

pub(super) fn prepare(
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
pub(super) struct Prepared {
    pub(super) ready: Vec<Ready>,
    pub(super) record_name: String,
    pub(super) time: DateTime,
    pub(super) level: u32,
}

pub(super) fn prepare_one(
    input: Option<&WheelArchive>,
    e: OutputEntry,
    time: DateTime,
    level: u32,
) -> Result<Ready, WheelError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dist_info_of_output() {
        let e = |n: &str| OutputEntry::bytes(n, vec![], None);
        assert_eq!(output_dist_info(&[e("a/b"), e("x-1.dist-info/WHEEL")], "f").unwrap(), "x-1.dist-info");
        assert_eq!(output_dist_info(&[e("a/b")], "f-1.dist-info").unwrap(), "f-1.dist-info");
        let err = output_dist_info(&[e("x-1.dist-info/A"), e("y-1.dist-info/B")], "f").unwrap_err();
        assert!(matches!(err, WheelError::DistInfo(_)), "{err:?}");
    }
}
