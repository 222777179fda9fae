//! The zip central directory: entries and where their bytes are, checked
//! against everything an installer could be tricked by; entry names; the
//! one `.dist-info` directory and its `WHEEL` and `RECORD`.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use zip::{CompressionMethod, ZipArchive};

use super::map::{MappedBytes, MappedZip, ReleasingCursor};
use super::{Compression, Entry, Limits, Location, WheelArchive, MAX_METADATA_SIZE};
use crate::bytes::{le16, le32, lossy};
use crate::wheel::filename::normalize_name;
use crate::wheel::layout::Layout;
use crate::wheel::{Record, WheelError, WheelFilename, WheelMetadata};

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

/// A name from the archive's raw bytes, fit to quote in a message: invalid
/// UTF-8 becomes U+FFFD, and quotes, backslashes and control characters are
/// escaped as Rust's `escape_debug` does.
fn escaped(name: &[u8]) -> String {
    lossy(name).escape_debug().to_string()
}

/// Walks the central directory records from `start` and returns the first
/// name seen twice. Used only to name the culprit once the zip reader has
/// reported duplicates.
fn find_duplicate(bytes: &[u8], start: u64) -> Option<String> {
    let mut pos = usize::try_from(start).ok()?;
    let mut seen: HashSet<&[u8]> = HashSet::new();
    while le32(bytes, pos) == Some(0x0201_4b50) {
        let n = usize::from(le16(bytes, pos.checked_add(28)?)?);
        let m = usize::from(le16(bytes, pos.checked_add(30)?)?);
        let k = usize::from(le16(bytes, pos.checked_add(32)?)?);
        let name_start = pos.checked_add(46)?;
        let name = bytes.get(name_start..name_start.checked_add(n)?)?;
        if !seen.insert(name) {
            return Some(escaped(name));
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

/// The entries of the central directory, checked, and where their bytes are.
struct Central {
    entries: Vec<Entry>,
    locations: Vec<Location>,
    by_name: HashMap<String, usize>,
}

/// Reads every entry of the central directory of `zip` (over the mapped
/// file `data`) with [`read_entry`]; refuses more entries than `limits`
/// allow, duplicate names and entries whose bytes overlap.
fn read_central(zip: &MappedZip, data: &[u8], limits: &Limits) -> Result<Central, WheelError> {
    if zip.len() > limits.max_entries {
        return Err(WheelError::Zip(format!("{} entries, the limit is {}", zip.len(), limits.max_entries)));
    }
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
        let (entry, location, header) = read_entry(zip, index, data, cd_start, limits, &mut total)?;
        spans.push((header, location.data.end, index));
        locations.push(location);
        by_name.insert(entry.name.clone(), index);
        entries.push(entry);
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
    Ok(Central { entries, locations, by_name })
}

/// Entry `index` of the central directory, checked: a safe UTF-8 name, not
/// encrypted, not a link, within `limits` (its size added to `total`), a
/// method wheels use, and a local header where the central directory says,
/// with the same name, followed by the compressed bytes before `cd_start`.
/// Returns the entry, where its bytes are, and where its local header starts.
fn read_entry(
    zip: &MappedZip,
    index: usize,
    data: &[u8],
    cd_start: usize,
    limits: &Limits,
    total: &mut u64,
) -> Result<(Entry, Location, usize), WheelError> {
    let e = zip.by_index_data(index).map_err(|e| WheelError::Zip(format!("entry #{index}: {e}")))?;
    let raw = e.name_raw();
    let name = std::str::from_utf8(raw).map_err(|_| WheelError::UnsafeName(escaped(raw)))?.to_string();
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
        return Err(too_large(format!("declares {size} bytes uncompressed, the limit is {}", limits.max_entry_size)));
    }
    if size > limits.ratio_min_size && size / compressed_size.max(1) > limits.max_ratio {
        return Err(too_large(format!(
            "compression ratio {}:1 ({size} bytes from {compressed_size}) is above the {}:1 limit",
            size / compressed_size.max(1),
            limits.max_ratio
        )));
    }
    *total = total.saturating_add(size);
    if *total > limits.max_total_size {
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
    if le32(data, header) != Some(0x0403_4b50) {
        return Err(zerr(format!("no local header at offset {header}")));
    }
    let bad_header = || zerr(format!("truncated local header at offset {header}"));
    let n = usize::from(le16(data, header + 26).ok_or_else(bad_header)?);
    let m = usize::from(le16(data, header + 28).ok_or_else(bad_header)?);
    let local_name = data.get(header + 30..header + 30 + n).ok_or_else(bad_header)?;
    if local_name != raw {
        return Err(zerr(format!("the local header names it `{}`", escaped(local_name))));
    }
    let start = header + 30 + n + m;
    let end = usize::try_from(compressed_size)
        .ok()
        .and_then(|c| start.checked_add(c))
        .filter(|&end| end <= cd_start && end <= data.len())
        .ok_or_else(|| {
            zerr(format!("{compressed_size} compressed bytes at offset {start} run past the central directory"))
        })?;
    let entry = Entry { name, index, size, compressed_size, crc32: e.crc32(), unix_mode, is_dir };
    Ok((entry, Location { data: start..end, compression }, header))
}

/// Checks that the zip reader and the layout read agree on every entry: the
/// same names in the same order, with the same bytes, CRC and size.
fn agree(layout: &Layout, entries: &[Entry], locations: &[Location]) -> Result<(), WheelError> {
    if layout.entries.len() != entries.len() {
        return Err(WheelError::Inconsistent(format!(
            "the zip reader lists {} entries, the layout {}",
            entries.len(),
            layout.entries.len()
        )));
    }
    for ((laid, entry), location) in layout.entries.iter().zip(entries).zip(locations) {
        let data = location.data.start as u64..location.data.end as u64;
        if laid.name != entry.name.as_bytes()
            || laid.data != data
            || laid.crc32 != entry.crc32
            || laid.size != entry.size
        {
            return Err(WheelError::Inconsistent(format!(
                "entry `{}`: the zip reader and the layout see different bytes",
                entry.name.escape_debug()
            )));
        }
    }
    Ok(())
}

impl WheelArchive {
    /// The wheel `bytes` maps, opened from `path`: its central directory
    /// read and checked ([`read_central`]), its `.dist-info` directory
    /// found, and its `WHEEL` (version 1.x) and `RECORD` parsed.
    pub(super) fn from_bytes(
        path: &Path,
        filename: WheelFilename,
        bytes: MappedBytes,
        limits: &Limits,
    ) -> Result<Self, WheelError> {
        let zip = ZipArchive::new(ReleasingCursor::new(bytes.clone())).map_err(|e| WheelError::Zip(e.to_string()))?;
        let Central { entries, locations, by_name } = read_central(&zip, bytes.as_ref(), limits)?;
        // a second reader, of the layout itself: every reader must see these entries
        let layout = crate::wheel::layout::read(bytes.as_ref(), limits.max_entries)
            .map_err(|e| WheelError::Inconsistent(e.to_string()))?;
        agree(&layout, &entries, &locations)?;
        super::install::check_installable(&entries)?;
        let index_findings = layout.index_findings();
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
            index_findings,
            aside: Default::default(),
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
}
impl WheelArchive {
    /// The single `{name}-{version}.dist-info` directory at the root.
    fn find_dist_info(filename: &WheelFilename, entries: &[Entry]) -> Result<String, WheelError> {
        let dirs = crate::wheel::dist_info_dirs(entries.iter().map(|e| e.name.as_str()));
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
    fn duplicate_scan_is_bounded() {
        assert_eq!(find_duplicate(&[], 0), None);
        assert_eq!(find_duplicate(&[0x50, 0x4b, 0x01, 0x02, 0, 0], 0), None);
        assert_eq!(find_duplicate(b"anything", u64::MAX), None);
    }
}
