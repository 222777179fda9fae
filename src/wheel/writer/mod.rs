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
//!
//! The parts: `later` holds content promised by another thread, `time` the
//! timestamps, `prepare` readies the entries, `one_entry` wraps bytes
//! compressed elsewhere, `append` writes them in order.

mod append;
mod later;
mod one_entry;
mod prepare;
mod time;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use append::{append_all, AppendError};
pub use later::{later, Later, Promise};
use prepare::prepare;
pub use prepare::{deflate_large, CHUNKED_MIN};

pub use super::deflate::{
    chunk_for, chunk_ranges, deflate_chunk, deflate_chunked, deflate_early, early_chunks, join_chunks, ChunkRange,
    Deflated, CHUNK,
};
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

/// Writes `entries` (RECORD is generated; any RECORD, RECORD.jws or
/// RECORD.p7s among them is dropped) as a new wheel at `out`.
pub fn write_wheel(
    input: &WheelArchive,
    entries: Vec<OutputEntry>,
    out: &Path,
    options: &WriteOptions,
) -> Result<(), crate::wheel::WheelFileError> {
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
) -> Result<PathBuf, crate::wheel::WheelFileError> {
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
) -> Result<(), crate::wheel::WheelFileError> {
    let wrap = |source: WheelError| crate::wheel::WheelFileError::Wheel { path: out.to_path_buf(), source };
    let ready = prepare(input, fallback_dist_info, entries, options).map_err(wrap)?;
    crate::timing::mark("entries prepared");
    write_atomically(out, |file, tmp_path| {
        append_all(input, ready, file).map_err(|e| match e {
            AppendError::Wheel(w) => wrap(w),
            AppendError::Io(io) => crate::wheel::WheelFileError::io(tmp_path, io),
        })?;
        input.map_or(Ok(()), check_input)
    })
}

/// The input's [`WheelArchive::check_input`], as an error naming it.
fn check_input(input: &WheelArchive) -> Result<(), crate::wheel::WheelFileError> {
    input
        .check_input()
        .map_err(|source| crate::wheel::WheelFileError::Wheel { path: input.path().to_path_buf(), source })
}

/// Writes the input wheel's bytes unchanged to `out`, atomically: what a
/// repair that changes nothing produces (no entry or RECORD row moves).
pub fn copy_wheel(input: &WheelArchive, out: &Path) -> Result<(), crate::wheel::WheelFileError> {
    write_atomically(out, |file, tmp_path| {
        use std::io::Write;
        let mut w = file;
        w.write_all(input.as_bytes())
            .and_then(|()| w.sync_all())
            .map_err(|e| crate::wheel::WheelFileError::io(tmp_path, e))?;
        check_input(input)
    })
}

/// Creates a temporary file next to `out`, lets `fill` write it, and renames
/// it into place; on any error the temporary file is removed.
fn write_atomically(
    out: &Path,
    fill: impl FnOnce(&std::fs::File, &Path) -> Result<(), crate::wheel::WheelFileError>,
) -> Result<(), crate::wheel::WheelFileError> {
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".wheelfix-")
        .suffix(".whl.tmp")
        .tempfile_in(dir)
        .map_err(|e| crate::wheel::WheelFileError::io(dir, e))?;
    // a truncated input stops the process; this file goes with it
    let _watch = crate::sigbus::watch_temp(tmp.path());
    fill(tmp.as_file(), tmp.path())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| crate::wheel::WheelFileError::io(tmp.path(), e))?;
    }
    tmp.persist(out).map_err(|e| crate::wheel::WheelFileError::io(out, e.error))?;
    Ok(())
}
