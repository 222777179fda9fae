//! Appending the prepared entries to the output zip, in order: raw copies
//! of the input's entries, new ones, pre-compressed ones, and those whose
//! content comes later (waited for when their turn comes); RECORD last.

use std::io::{BufWriter, Write};

use zip::write::SimpleFileOptions;
use zip::{ZipArchive, ZipWriter};

use super::one_entry::{single_entry_zip, single_entry_zip_raw, OneEntryZip};
use super::prepare::{file_options, prepare_new, prepare_one, zip_err, Prepared, Ready};
use super::OutputEntry;
use crate::wheel::record::{Record, RecordRow};
use crate::wheel::{WheelArchive, WheelError};

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

pub(super) enum AppendError {
    Wheel(WheelError),
    Io(std::io::Error),
}

pub(super) fn append_all(
    input: Option<&WheelArchive>,
    prepared: Prepared,
    file: &std::fs::File,
) -> Result<(), AppendError> {
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
                let name = crate::bytes::lossy(file.file_name_raw());
                zip.add_prepared_file(file).map_err(|e| AppendError::Wheel(zip_err(&name, e)))?;
            }
            Ready::Chunked { name, deflated, size, mode, time, .. } => {
                let Some(one) = single_entry_zip(&name, &deflated, size, mode, time) else {
                    return Err(AppendError::Wheel(zip_err(&name, "the name is too long")));
                };
                append_one(&mut zip, one, &name)?;
            }
            Ready::Raw { index, name, rename, mode, .. } => {
                append_raw(&mut zip, input, source.as_mut(), index, &name, rename, mode)?;
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

/// Appends the entry of the one-entry archive `one` as it is stored. An
/// entry that needs zip64 is merged (its local header copied as it is, its
/// directory record written anew with one zip64 field); any other is
/// raw-copied, which writes its headers anew.
fn append_one<W: Write + std::io::Seek>(
    zip: &mut ZipWriter<W>,
    one: OneEntryZip<'_>,
    name: &str,
) -> Result<(), AppendError> {
    let err = |e: zip::result::ZipError| AppendError::Wheel(zip_err(name, e));
    let zip64 = one.zip64;
    let mut archive = ZipArchive::new(one).map_err(err)?;
    if zip64 {
        return zip.merge_archive(archive).map_err(err);
    }
    let f = archive.by_index_raw(0).map_err(err)?;
    zip.raw_copy_file(f).map_err(err)
}

/// Appends entry `index` of the input, read raw through `source` (the
/// input's zip reader), as it is stored: under `name` when `rename`, with
/// Unix mode `mode` when given, its compressed bytes untouched.
fn append_raw<W: Write + std::io::Seek, R: std::io::Read + std::io::Seek>(
    zip: &mut ZipWriter<W>,
    input: Option<&WheelArchive>,
    source: Option<&mut ZipArchive<R>>,
    index: usize,
    name: &str,
    rename: bool,
    mode: Option<u32>,
) -> Result<(), AppendError> {
    let err = |e: zip::result::ZipError| AppendError::Wheel(zip_err(name, e));
    let Some(src) = source else {
        return Err(AppendError::Wheel(zip_err(name, "no input archive")));
    };
    let f = src.by_index_raw(index).map_err(err)?;
    // zip 9.4.1 copies the source's zip64 extra field next to the one it
    // writes itself: two fields, the old one with a stale offset, which
    // readers resolve differently. Such entries are re-wrapped in a clean
    // one-entry archive (their bytes read where they are mapped) first.
    let zip64 = f.extra_data_fields().any(|x| matches!(x, zip::ExtraField::Zip64ExtendedInformation(_)));
    if zip64 {
        let method = match f.compression() {
            zip::CompressionMethod::Stored => 0u16,
            zip::CompressionMethod::Deflated => 8,
            other => return Err(AppendError::Wheel(zip_err(name, format!("unsupported method {other}")))),
        };
        let (crc, size, t) = (f.crc32(), f.size(), f.last_modified().unwrap_or_default());
        let unix = mode.or_else(|| f.unix_mode()).unwrap_or(0o644);
        drop(f);
        let Some(w) = input else { return Err(AppendError::Wheel(zip_err(name, "no input archive"))) };
        let raw = w.raw_data(index).map_err(AppendError::Wheel)?;
        let Some(one) = single_entry_zip_raw(name, method, raw, crc, size, unix, t) else {
            return Err(AppendError::Wheel(zip_err(name, "the name is too long")));
        };
        append_one(zip, one.releasing(w), name)?;
        w.release(index);
        return Ok(());
    }
    match (rename, mode) {
        (false, None) => zip.raw_copy_file(f),
        (true, _) => zip.raw_copy_file_rename(f, name),
        (false, Some(m)) => {
            let t = f.last_modified().unwrap_or_default();
            zip.raw_copy_file_touch(f, t, Some(m))
        }
    }
    .map_err(err)?;
    if let Some(w) = input {
        w.release(index);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
