//! The archive's layout, read a second time without the zip reader, and the
//! rules under which every reader of a wheel sees the same files.
//!
//! Installers and scanners read a zip in two ways: from the central
//! directory at the end (Python's `zipfile`, pip) or by walking the local
//! headers from the start (streaming unzippers). A wheel on which the two
//! disagree installs one thing and is checked as another. [`read`] parses
//! the end records and the central directory itself, then walks the local
//! headers, and accepts the archive only when both views are one:
//!
//! - the end record is the last thing in the file (nothing after its
//!   comment), there is one of it, and its counts, size and offset agree
//!   with the records present (the zip64 end record and its locator too);
//! - no directory record needs a version of the format above 6.3 to be
//!   extracted (Python's `zipfile`, and so pip, refuses those);
//! - the entries and the central directory tile the file from its first byte:
//!   no bytes before the first entry, between two entries, or between the
//!   last entry and the directory; no byte claimed twice;
//! - every local header agrees with its directory record on the name bytes,
//!   the method, the flags, the CRC and both sizes; when the header defers
//!   its CRC and sizes to a data descriptor, the descriptor agrees instead;
//! - such an entry ends where a reader that has only its local header finds
//!   its end: a deflated one exactly where its stream ends, and a stored one
//!   only when the header gives its size anyway (else its end is a guess,
//!   and bytes inside its data can pose as a descriptor and more entries).
//!
//! Beyond those, [`Layout::index_findings`] lists the features the package
//! index refuses in an upload although every reader agrees on them (data
//! descriptors, comments on entries, control characters in names, zip64
//! records with extensible data); `check` reports them.

use crate::bytes::{le16, le32, le64};

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
const END64: u32 = 0x0606_4b50;
const LOCATOR64: u32 = 0x0706_4b50;
const DESCRIPTOR: u32 = 0x0807_4b50;

const LOCAL_LEN: usize = 30;
const CENTRAL_LEN: usize = 46;
const END_LEN: usize = 22;
const END64_LEN: usize = 56;
const LOCATOR64_LEN: usize = 20;

/// The highest "version needed to extract" of a central directory record
/// that Python's `zipfile` reads (6.3, the last version of the format).
const MAX_VERSION_NEEDED: u16 = 63;

/// General purpose flag: CRC and sizes follow the data in a descriptor.
const FLAG_DESCRIPTOR: u16 = 1 << 3;

/// One entry as its central directory record and its local header agree
/// to describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaidEntry {
    /// The name bytes, as both headers hold them.
    pub name: Vec<u8>,
    /// Offset of the local header.
    pub header: u64,
    /// The compressed bytes.
    pub data: std::ops::Range<u64>,
    /// Compression method (0 stored, 8 deflate, …).
    pub method: u16,
    /// General purpose flags.
    pub flags: u16,
    /// CRC-32 of the content.
    pub crc32: u32,
    /// Uncompressed size.
    pub size: u64,
    /// Length of the data descriptor after the data (0: none).
    pub descriptor: u64,
    /// Length of the entry's comment in the central directory.
    pub comment: u64,
    /// The most zip64 extra fields either header holds (more than one is
    /// read when they agree, and refused by the package index).
    pub zip64_fields: usize,
}

/// The layout of a whole archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Entries in central directory order.
    pub entries: Vec<LaidEntry>,
    /// Where the central directory starts.
    pub directory: u64,
    /// Whether zip64 end records are present.
    pub zip64: bool,
    /// Length of the archive comment.
    pub comment: u64,
    /// The size field of the zip64 end record, when there is one (44 when
    /// it holds no extensible data).
    pub end64_size: Option<u64>,
}

/// Why an archive's readers would not agree, or why it cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutError(pub String);

impl std::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, LayoutError> {
    Err(LayoutError(msg.into()))
}

/// A name for messages: its bytes as text, escaped.
fn shown(name: &[u8]) -> String {
    String::from_utf8_lossy(name).escape_debug().to_string()
}

/// Offsets fit in `usize` on every platform wheelfix runs on; a value that
/// does not is past the end of any mapped file.
fn at(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// The fields of the end of central directory record that locate the
/// directory, after zip64 values replace the sentinels.
#[derive(Debug, Clone, Copy)]
struct End {
    count: u64,
    size: u64,
    offset: u64,
    /// Where the end records (zip64 ones included) start.
    records_start: u64,
    zip64: bool,
    comment: u64,
    end64_size: Option<u64>,
}

/// Finds the one end record whose comment reaches exactly the end of the
/// file.
fn find_end(data: &[u8]) -> Result<(usize, u64), LayoutError> {
    if data.len() < END_LEN {
        return fail("too short to be a zip archive");
    }
    let lowest = data.len().saturating_sub(END_LEN + usize::from(u16::MAX));
    let mut found = None;
    let mut pos = data.len() - END_LEN;
    loop {
        if le32(data, pos) == Some(END) {
            let comment = u64::from(le16(data, pos + 20).unwrap_or(0));
            if pos as u64 + END_LEN as u64 + comment == data.len() as u64 {
                found = Some((pos, comment));
                break;
            }
        }
        if pos == lowest {
            break;
        }
        pos -= 1;
    }
    match found {
        Some(f) => Ok(f),
        None if (lowest..data.len()).any(|p| le32(data, p) == Some(END)) => {
            fail("data after the end of central directory record")
        }
        None => fail("no end of central directory record"),
    }
}

fn read_end(data: &[u8]) -> Result<End, LayoutError> {
    let (pos, comment) = find_end(data)?;
    let field16 = |off: usize| u64::from(le16(data, pos + off).unwrap_or(0));
    let field32 = |off: usize| u64::from(le32(data, pos + off).unwrap_or(0));
    let (disk, cd_disk) = (field16(4), field16(6));
    let (on_disk, count, size, offset) = (field16(8), field16(10), field32(12), field32(16));
    let sentinel = count == 0xffff || on_disk == 0xffff || size == 0xffff_ffff || offset == 0xffff_ffff;
    let has_locator = pos >= LOCATOR64_LEN && le32(data, pos - LOCATOR64_LEN) == Some(LOCATOR64);
    if !sentinel && !has_locator {
        if disk != 0 || cd_disk != 0 || on_disk != count {
            return fail("the end of central directory record describes a multi-disk archive");
        }
        let end = End { count, size, offset, records_start: pos as u64, zip64: false, comment, end64_size: None };
        return Ok(end);
    }
    if !has_locator {
        return fail("the end of central directory record needs zip64 values but there is no zip64 locator");
    }
    let loc = pos - LOCATOR64_LEN;
    let (loc_disk, end64_at, disks) =
        (le32(data, loc + 4).unwrap_or(0), le64(data, loc + 8).unwrap_or(0), le32(data, loc + 16).unwrap_or(0));
    if loc_disk != 0 || disks != 1 {
        return fail("the zip64 locator describes a multi-disk archive");
    }
    let end64 = at(end64_at);
    if le32(data, end64) != Some(END64) {
        return fail(format!("the zip64 locator points to offset {end64_at}, where there is no zip64 end record"));
    }
    let end64_size = le64(data, end64 + 4).unwrap_or(0);
    if end64_size < (END64_LEN - 12) as u64 || end64 as u64 + 12 + end64_size != loc as u64 {
        return fail("the zip64 end record does not end where its locator starts");
    }
    let f32_ = |off: usize| u64::from(le32(data, end64 + off).unwrap_or(u32::MAX));
    let f64_ = |off: usize| le64(data, end64 + off).unwrap_or(u64::MAX);
    if f32_(16) != 0 || f32_(20) != 0 || f64_(24) != f64_(32) {
        return fail("the zip64 end record describes a multi-disk archive");
    }
    let (count64, size64, offset64) = (f64_(32), f64_(40), f64_(48));
    // a 32-bit field that is not a sentinel must say what the zip64 one says
    let agrees = |v32: u64, max: u64, v64: u64| v32 == max || v32 == v64;
    if !agrees(count, 0xffff, count64) || !agrees(size, 0xffff_ffff, size64) || !agrees(offset, 0xffff_ffff, offset64) {
        return fail("the end of central directory record and the zip64 end record disagree");
    }
    Ok(End {
        count: count64,
        size: size64,
        offset: offset64,
        records_start: end64 as u64,
        zip64: true,
        comment,
        end64_size: Some(end64_size),
    })
}

/// The zip64 extended information of an extra field: the values that
/// replace the 32-bit fields holding the sentinel, in their fixed order.
/// A second zip64 field (some writers copy one next to their own) is read
/// the same way and must give the same values, so that a reader taking
/// either sees one entry; [`zip64_fields`] counts them for the index rules.
fn zip64_values(extra: &[u8], wanted: &[bool]) -> Result<Vec<u64>, String> {
    let mut pos = 0;
    let mut first: Option<Vec<u64>> = None;
    while pos < extra.len() {
        let (Some(id), Some(len)) = (le16(extra, pos), le16(extra, pos + 2)) else {
            return Err("malformed extra field".into());
        };
        let len = usize::from(len);
        let body = extra.get(pos + 4..pos + 4 + len).ok_or("malformed extra field")?;
        if id == 0x0001 {
            let mut values = Vec::new();
            let mut off = 0;
            for &w in wanted {
                if w {
                    values.push(le64(body, off).ok_or("zip64 extra field too short")?);
                    off += 8;
                }
            }
            match &first {
                None => first = Some(values),
                Some(f) if *f != values => return Err("two zip64 extra fields that disagree".into()),
                Some(_) => {}
            }
        }
        pos += 4 + len;
    }
    match first {
        Some(values) => Ok(values),
        None if wanted.iter().any(|&w| w) => Err("zip64 sizes announced but no zip64 extra field".into()),
        None => Ok(Vec::new()),
    }
}

/// How many zip64 extended information fields an extra field holds.
fn zip64_fields(extra: &[u8]) -> usize {
    let mut pos = 0;
    let mut n = 0;
    while let (Some(id), Some(len)) = (le16(extra, pos), le16(extra, pos + 2)) {
        n += usize::from(id == 0x0001);
        pos += 4 + usize::from(len);
    }
    n
}

/// One central directory record, parsed.
struct Central {
    name: Vec<u8>,
    flags: u16,
    method: u16,
    crc32: u32,
    compressed: u64,
    size: u64,
    header: u64,
    comment: u64,
    zip64_fields: usize,
}

fn read_central(data: &[u8], pos: usize) -> Result<(Central, usize), LayoutError> {
    if le32(data, pos) != Some(CENTRAL) {
        return fail(format!("no central directory record at offset {pos}"));
    }
    let truncated = || LayoutError(format!("truncated central directory record at offset {pos}"));
    let f16 = |off: usize| le16(data, pos + off).ok_or_else(truncated);
    let f32_ = |off: usize| le32(data, pos + off).ok_or_else(truncated);
    let (name_len, extra_len, comment_len) = (usize::from(f16(28)?), usize::from(f16(30)?), usize::from(f16(32)?));
    let name_at = pos + CENTRAL_LEN;
    let name = data.get(name_at..name_at + name_len).ok_or_else(truncated)?.to_vec();
    let extra = data.get(name_at + name_len..name_at + name_len + extra_len).ok_or_else(truncated)?;
    let end = name_at + name_len + extra_len + comment_len;
    if end > data.len() {
        return Err(truncated());
    }
    let (mut size, mut compressed, mut header) = (u64::from(f32_(24)?), u64::from(f32_(20)?), u64::from(f32_(42)?));
    if f16(34)? != 0 {
        return fail(format!("entry `{}` starts on another disk", shown(&name)));
    }
    let needed = f16(6)?;
    if needed > MAX_VERSION_NEEDED {
        return fail(format!(
            "entry `{}` needs zip version {}.{} to be extracted; Python's zipfile (pip) reads up to 6.3",
            shown(&name),
            needed / 10,
            needed % 10
        ));
    }
    let wanted = [size == 0xffff_ffff, compressed == 0xffff_ffff, header == 0xffff_ffff];
    let values = zip64_values(extra, &wanted).map_err(|e| LayoutError(format!("entry `{}`: {e}", shown(&name))))?;
    let mut values = values.into_iter();
    for (w, field) in wanted.iter().zip([&mut size, &mut compressed, &mut header]) {
        if *w {
            *field = values.next().unwrap_or(u64::MAX);
        }
    }
    let record = Central {
        name,
        flags: f16(8)?,
        method: f16(10)?,
        crc32: f32_(16)?,
        compressed,
        size,
        header,
        comment: comment_len as u64,
        zip64_fields: zip64_fields(extra),
    };
    Ok((record, end))
}

/// What a data descriptor after `data_end` holds: its length, CRC and sizes.
fn read_descriptor(data: &[u8], data_end: usize, wide: bool) -> Option<(u64, u32, u64, u64)> {
    let signed = le32(data, data_end) == Some(DESCRIPTOR);
    let p = if signed { data_end + 4 } else { data_end };
    let crc = le32(data, p)?;
    let (compressed, size, len) = if wide {
        (le64(data, p + 4)?, le64(data, p + 12)?, 20)
    } else {
        (u64::from(le32(data, p + 4)?), u64::from(le32(data, p + 8)?), 12)
    };
    Some((len + if signed { 4 } else { 0 }, crc, compressed, size))
}

/// Where a raw deflate stream at the start of `raw` ends (the bytes it
/// takes), inflating at most `limit` bytes; why not when it is corrupt,
/// inflates to more, or does not end within `raw`.
fn deflate_end(raw: &[u8], limit: u64) -> Result<u64, &'static str> {
    let mut d = flate2::Decompress::new(false);
    let mut scratch = vec![0u8; 32 << 10];
    loop {
        let (in0, out0) = (d.total_in(), d.total_out());
        let input = raw.get(at(in0)..).unwrap_or_default();
        let status =
            d.decompress(input, &mut scratch, flate2::FlushDecompress::None).map_err(|_| "corrupt deflate data")?;
        if d.total_out() > limit {
            return Err("its deflate data inflates past its declared size");
        }
        if status == flate2::Status::StreamEnd {
            return Ok(d.total_in());
        }
        if d.total_in() == in0 && d.total_out() == out0 {
            return Err("its deflate stream does not end within its compressed bytes");
        }
    }
}

/// An entry whose local header defers its sizes to a data descriptor must
/// still end where a streaming reader, which has only the local header,
/// finds its end: a stored entry cannot (only a guess at the descriptor
/// finds it), unless the header gives the compressed size anyway; a
/// deflated entry's stream, which such readers follow even when the header
/// gives a size, must end exactly at the end of its compressed bytes, or
/// what follows inside them reads as a descriptor and more entries.
fn check_streamable(
    data: &[u8],
    c: &Central,
    bytes: std::ops::Range<u64>,
    wide_local: bool,
    compressed: u64,
    extra: &[u8],
) -> Result<(), String> {
    let local = if wide_local { zip64_values(extra, &[true, true]).ok().map(|v| v[1]) } else { Some(compressed) };
    // a deflated entry's stream is where such readers look whatever the header says
    if (local == Some(c.compressed) && c.method != 8) || c.compressed == 0 {
        return Ok(());
    }
    match c.method {
        0 => Err("stored with its size in a data descriptor only: a streaming reader cannot tell where its \
                  data ends"
            .into()),
        8 => match deflate_end(data.get(at(bytes.start)..at(bytes.end)).unwrap_or_default(), c.size)? {
            n if n == c.compressed => Ok(()),
            n => Err(format!(
                "its deflate stream ends {} bytes before the end of its {} compressed bytes: a streaming \
                 reader would read the rest as a data descriptor and more entries",
                c.compressed - n,
                c.compressed
            )),
        },
        _ => Ok(()),
    }
}

/// Checks the local header of `c` at its offset against the record, and
/// returns the entry it describes.
fn check_local(data: &[u8], c: Central) -> Result<LaidEntry, LayoutError> {
    let name = shown(&c.name);
    let err = |what: String| LayoutError(format!("entry `{name}`: {what}"));
    let pos = at(c.header);
    if le32(data, pos) != Some(LOCAL) {
        return Err(err(format!("no local header at offset {}", c.header)));
    }
    let truncated = || err(format!("truncated local header at offset {}", c.header));
    let f16 = |off: usize| le16(data, pos + off).ok_or_else(truncated);
    let f32_ = |off: usize| le32(data, pos + off).ok_or_else(truncated);
    let (flags, method, crc) = (f16(6)?, f16(8)?, f32_(14)?);
    let (compressed, size) = (u64::from(f32_(18)?), u64::from(f32_(22)?));
    let (name_len, extra_len) = (usize::from(f16(26)?), usize::from(f16(28)?));
    let local_name = data.get(pos + LOCAL_LEN..pos + LOCAL_LEN + name_len).ok_or_else(truncated)?;
    if local_name != c.name.as_slice() {
        return Err(err(format!("the local header names it `{}`", shown(local_name))));
    }
    let extra_at = pos + LOCAL_LEN + name_len;
    let extra = data.get(extra_at..extra_at + extra_len).ok_or_else(truncated)?;
    if method != c.method {
        return Err(err(format!("method {method} in the local header, {} in the central directory", c.method)));
    }
    if flags != c.flags {
        return Err(err(format!("flags {flags:#06x} in the local header, {:#06x} in the central directory", c.flags)));
    }
    let start = (extra_at + extra_len) as u64;
    let end = start.checked_add(c.compressed).filter(|&e| e <= data.len() as u64).ok_or_else(|| {
        err(format!("{} compressed bytes at offset {start} run past the end of the file", c.compressed))
    })?;
    let wide_local = size == 0xffff_ffff || compressed == 0xffff_ffff;
    let mut descriptor = 0;
    if flags & FLAG_DESCRIPTOR == 0 {
        let (size, compressed) = match wide_local {
            false => (size, compressed),
            true => {
                let v = zip64_values(extra, &[true, true]).map_err(err)?;
                (v[0], v[1])
            }
        };
        if crc != c.crc32 || size != c.size || compressed != c.compressed {
            return Err(err(format!(
                "the local header says CRC {crc:08x}, size {size}, compressed {compressed}; \
                 the central directory says CRC {:08x}, size {}, compressed {}",
                c.crc32, c.size, c.compressed
            )));
        }
    } else {
        // the header's own values, when not zero, must agree too
        if (crc != 0 && crc != c.crc32)
            || (!wide_local && ((size != 0 && size != c.size) || (compressed != 0 && compressed != c.compressed)))
        {
            return Err(err("the local header's CRC or sizes disagree with the central directory".into()));
        }
        check_streamable(data, &c, start..end, wide_local, compressed, extra).map_err(err)?;
        let wide = wide_local || zip64_fields(extra) > 0 || c.size >= 0xffff_ffff || c.compressed >= 0xffff_ffff;
        let (len, d_crc, d_compressed, d_size) = read_descriptor(data, at(end), wide)
            .ok_or_else(|| err(format!("truncated data descriptor at offset {end}")))?;
        if d_crc != c.crc32 || d_size != c.size || d_compressed != c.compressed {
            return Err(err(format!(
                "its data descriptor says CRC {d_crc:08x}, size {d_size}, compressed {d_compressed}; \
                 the central directory says CRC {:08x}, size {}, compressed {}",
                c.crc32, c.size, c.compressed
            )));
        }
        descriptor = len;
    }
    Ok(LaidEntry {
        name: c.name,
        header: c.header,
        data: start..end,
        method,
        flags,
        crc32: c.crc32,
        size: c.size,
        descriptor,
        comment: c.comment,
        zip64_fields: c.zip64_fields.max(zip64_fields(extra)),
    })
}

/// Reads the layout of the archive in `data` and checks that every reader
/// sees the same entries (see the module's documentation). `max_entries`
/// bounds the work on a hostile end record.
pub fn read(data: &[u8], max_entries: usize) -> Result<Layout, LayoutError> {
    let end = read_end(data)?;
    if end.count > max_entries as u64 {
        return fail(format!("{} entries, the limit is {max_entries}", end.count));
    }
    let directory_end = end.offset.checked_add(end.size);
    if directory_end != Some(end.records_start) {
        return fail(format!(
            "the central directory ({} bytes at offset {}) does not end where the end records start (offset {})",
            end.size, end.offset, end.records_start
        ));
    }
    let mut pos = at(end.offset);
    let mut centrals = Vec::with_capacity(at(end.count).min(1 << 16));
    while (pos as u64) < end.records_start {
        if centrals.len() as u64 == end.count {
            return fail(format!(
                "the central directory holds more records than the {} its end record counts",
                end.count
            ));
        }
        let (c, next) = read_central(data, pos)?;
        centrals.push(c);
        pos = next;
    }
    if pos as u64 != end.records_start || centrals.len() as u64 != end.count {
        return fail(format!(
            "the end record counts {} entries in {} bytes; the central directory holds {} in {}",
            end.count,
            end.size,
            centrals.len(),
            pos as u64 - end.offset.min(pos as u64)
        ));
    }
    let entries = centrals.into_iter().map(|c| check_local(data, c)).collect::<Result<Vec<_>, _>>()?;
    check_tiling(&entries, end.offset)?;
    Ok(Layout { entries, directory: end.offset, zip64: end.zip64, comment: end.comment, end64_size: end.end64_size })
}

/// The entries, in file order, must follow each other from offset 0 up to
/// the central directory without a gap or an overlap.
fn check_tiling(entries: &[LaidEntry], directory: u64) -> Result<(), LayoutError> {
    let mut order: Vec<&LaidEntry> = entries.iter().collect();
    order.sort_by_key(|e| e.header);
    let mut pos = 0u64;
    let mut previous: Option<&LaidEntry> = None;
    for e in order {
        let after = || {
            previous.map_or_else(|| "at the start of the file".to_string(), |p| format!("after `{}`", shown(&p.name)))
        };
        if e.header > pos {
            return fail(format!("{} bytes no entry owns {} (before `{}`)", e.header - pos, after(), shown(&e.name)));
        }
        if e.header < pos {
            return fail(format!("entry `{}` overlaps the entry before it ({})", shown(&e.name), after()));
        }
        pos = e.data.end + e.descriptor;
        previous = Some(e);
    }
    if pos > directory {
        return fail("the last entry runs into the central directory");
    }
    if pos < directory {
        let last = previous.map_or_else(|| "the start of the file".to_string(), |p| format!("`{}`", shown(&p.name)));
        return fail(format!("{} bytes no entry owns between {last} and the central directory", directory - pos));
    }
    Ok(())
}

impl Layout {
    /// Features every reader agrees on but the package index refuses in an
    /// upload, one line each, naming the entry.
    pub fn index_findings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for e in &self.entries {
            let name = shown(&e.name);
            if e.descriptor > 0 {
                out.push(format!("entry `{name}` has a data descriptor"));
            }
            if e.comment > 0 {
                out.push(format!("entry `{name}` has a comment in the central directory"));
            }
            if e.zip64_fields > 1 {
                out.push(format!("entry `{name}` has {} zip64 extra fields in one header", e.zip64_fields));
            }
            if e.name.iter().any(|&b| b < 0x20 || b == 0x7f) {
                out.push(format!("entry `{name}` has a control character in its name"));
            }
        }
        if self.end64_size.is_some_and(|s| s != 44) {
            out.push("the zip64 end record holds extensible data".to_string());
        }
        out
    }
}

#[cfg(test)]
mod tests;
