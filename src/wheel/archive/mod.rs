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
//!
//! The parts: `map` keeps the mapping (and releases the pages read),
//! `central` reads and checks the central directory, `inflate` inflates
//! entries, `install` refuses entries that cannot all be installed,
//! `verify` checks them against RECORD (`hash` computes the sha256
//! alongside), `partial` reads an entry in part, `sparse` only its start
//! and end.

mod aside;
mod central;
mod hash;
mod indexed_partial;
mod inflate;
mod install;
mod map;
mod partial;
mod sparse;
mod verify;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

pub use central::check_entry_name;
pub(crate) use hash::read_hashed;
pub(crate) use install::ancestors;
use map::{MappedBytes, MappedZip};
pub use partial::{keep_step, PartialPlan};

use super::{Record, WheelError, WheelFilename, WheelMetadata};

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
    /// What the package index would refuse in an upload although every
    /// reader agrees on it ([`crate::wheel::layout::Layout::index_findings`]).
    index_findings: Vec<String>,
    /// Entries being checked on threads of their own.
    aside: aside::Aside,
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

impl WheelArchive {
    /// Opens and checks a wheel: file name, zip structure, entry names,
    /// `.dist-info/WHEEL` and `RECORD` parsed.
    pub fn open(path: &Path) -> Result<Self, crate::wheel::WheelFileError> {
        Self::open_with_limits(path, &Limits::default())
    }

    /// [`WheelArchive::open`] with other zip bomb limits.
    pub fn open_with_limits(path: &Path, limits: &Limits) -> Result<Self, crate::wheel::WheelFileError> {
        let wrap = |source: WheelError| crate::wheel::WheelFileError::Wheel { path: path.to_path_buf(), source };
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| wrap(WheelError::Filename(format!("`{}` has no UTF-8 file name", path.display()))))?;
        let filename: WheelFilename = file_name.parse().map_err(wrap)?;
        let file = File::open(path).map_err(|e| crate::wheel::WheelFileError::io(path, e))?;
        let len = file.metadata().map_err(|e| crate::wheel::WheelFileError::io(path, e))?.len();
        if len == 0 {
            return Err(wrap(WheelError::Zip("the file is empty".to_string())));
        }
        let bytes = MappedBytes::open(file, path).map_err(|e| crate::wheel::WheelFileError::io(path, e))?;
        Self::from_bytes(path, filename, bytes, limits).map_err(wrap)
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

    /// What the package index would refuse in an upload although every
    /// reader agrees on it (data descriptors, entry comments, control
    /// characters in names, zip64 extensible data), one line each.
    pub fn index_findings(&self) -> &[String] {
        &self.index_findings
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

    /// A clone of the zip reader (shares the map and the parsed central
    /// directory), for raw copies.
    pub(crate) fn zip(&self) -> MappedZip {
        self.zip.clone()
    }
}
