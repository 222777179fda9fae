//! The one source of contents a planner sees: what the wheel holds (its
//! [`Listing`], without bytes), the bytes of the entries it asked to read,
//! the digests (and, within the budget, the bytes) of the files on disk it
//! may bundle, and the binaries the analysis kept for patching.
//!
//! A planner first says what it will read ([`Wanted`], from the analysis
//! and the listing alone); [`Contents::gather`] reads it, the files on disk
//! in parallel, each once; the planner then plans from [`Contents`] without
//! any I/O. A read that failed is reported when the planner asks for those
//! bytes, so errors come in the order the plan meets them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::kept::Kept;
use crate::error::{Error, Result};
use crate::wheel::{Entry, WheelArchive, WheelError, WheelMetadata};

/// At most this many bytes (40 MiB) of the files on disk a planner may
/// bundle are kept for patching.
pub const KEEP_FILES: u64 = 40 << 20;

/// What a wheel holds, without its bytes.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The wheel's path.
    pub path: PathBuf,
    /// Its entries, in archive order.
    pub entries: Vec<Entry>,
    /// Its `.dist-info` directory.
    pub dist_info: String,
    /// Its `WHEEL` file.
    pub metadata: WheelMetadata,
    by_name: HashMap<String, usize>,
}

impl Listing {
    /// The listing of an opened wheel.
    pub fn of(archive: &WheelArchive) -> Self {
        let by_name = archive.entries().iter().map(|e| (e.name.clone(), e.index)).collect();
        Listing {
            path: archive.path().to_path_buf(),
            entries: archive.entries().to_vec(),
            dist_info: archive.dist_info_dir().to_string(),
            metadata: archive.metadata().clone(),
            by_name,
        }
    }

    /// The entry named `name`.
    pub fn entry_by_name(&self, name: &str) -> Option<&Entry> {
        self.by_name.get(name).and_then(|&i| self.entries.get(i))
    }

    /// The unix mode of entry `index`, when it has one.
    pub fn unix_mode(&self, index: usize) -> Option<u32> {
        self.entries.get(index).and_then(|e| e.unix_mode)
    }

    /// The wheel's file name, as on disk.
    pub fn file_name(&self) -> String {
        self.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

/// What a planner will read before it plans.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    /// Entries of the wheel whose bytes it reads (by index): marker files,
    /// Python files, binaries it checks.
    pub entries: BTreeSet<usize>,
    /// Files on disk it may bundle: hashed; their bytes kept for patching
    /// as far as the budget goes.
    pub hashed: BTreeSet<PathBuf>,
    /// Files on disk whose bytes it reads whole.
    pub whole: BTreeSet<PathBuf>,
}

/// A read that failed, kept until the planner asks for those bytes.
#[derive(Debug, Clone)]
struct Failed(io::ErrorKind, String);

impl Failed {
    fn of(e: &io::Error) -> Self {
        Failed(e.kind(), e.to_string())
    }

    fn error(&self, path: &Path) -> Error {
        Error::io(path, io::Error::new(self.0, self.1.clone()))
    }
}

/// A file hashed: its digest, and its bytes when they fit the budget.
type Hashed = std::result::Result<([u8; 32], Option<Vec<u8>>), Failed>;

/// What a planner may read: the listing, and the bytes and digests it asked for.
#[derive(Debug)]
pub struct Contents {
    /// What the wheel holds.
    pub listing: Listing,
    entries: HashMap<usize, std::result::Result<Vec<u8>, WheelError>>,
    digests: BTreeMap<PathBuf, std::result::Result<[u8; 32], Failed>>,
    whole: BTreeMap<PathBuf, std::result::Result<Vec<u8>, Failed>>,
    kept: Kept,
}

impl Contents {
    /// Reads what `wanted` asks for. The files to hash are read in parallel,
    /// each once, and their bytes added to `kept` as far as its budget goes;
    /// entries `kept` holds already are not read again.
    pub fn gather(archive: &WheelArchive, mut kept: Kept, wanted: &Wanted) -> Contents {
        let entries =
            wanted.entries.iter().filter(|&&i| kept.entry(i).is_none()).map(|&i| (i, archive.read(i))).collect();
        let budget = kept.budget();
        // files take at most KEEP_FILES of it: the others are read again a
        // window at a time by apply, which keeps the peak memory down
        let files = std::sync::atomic::AtomicU64::new(KEEP_FILES);
        let room = |size: u64| {
            let relaxed = std::sync::atomic::Ordering::Relaxed;
            if files.fetch_update(relaxed, relaxed, |left| left.checked_sub(size)).is_err() {
                return false;
            }
            if budget.reserve(size) {
                return true;
            }
            // what the budget cannot take goes back to the files' share
            files.fetch_add(size, relaxed);
            false
        };
        let hashed: Vec<(PathBuf, Hashed)> = wanted
            .hashed
            .par_iter()
            .map(|p| {
                let read = crate::wheel::archive::read_hashed(p).map_err(|e| Failed::of(&e));
                let kept = read.map(|(data, digest)| (digest, room(data.len() as u64).then_some(data)));
                (p.clone(), kept)
            })
            .collect();
        kept.settle(budget);
        let mut digests = BTreeMap::new();
        for (path, read) in hashed {
            let digest = read.map(|(digest, data)| {
                if let Some(data) = data {
                    kept.insert_file(path.clone(), data);
                }
                digest
            });
            digests.insert(path, digest);
        }
        let whole = wanted
            .whole
            .iter()
            .filter(|p| !kept.holds_file(p))
            .map(|p| (p.clone(), std::fs::read(p).map_err(|e| Failed::of(&e))))
            .collect();
        Contents { listing: Listing::of(archive), entries, digests, whole, kept }
    }

    /// The bytes of entry `index` (asked for, or kept by the analysis).
    pub fn entry(&self, index: usize) -> Result<&[u8]> {
        let wheel_err = |source| Error::Wheel { path: self.listing.path.clone(), source };
        if let Some(data) = self.kept.entry(index) {
            return Ok(data);
        }
        match self.entries.get(&index) {
            Some(Ok(data)) => Ok(data),
            Some(Err(e)) => Err(wheel_err(e.clone())),
            None => {
                let name = self.listing.entries.get(index).map_or("?", |e| e.name.as_str());
                Err(wheel_err(WheelError::Missing(format!("`{name}`: not read before planning"))))
            }
        }
    }

    /// The sha256 of the file at `path` (one asked to be hashed).
    pub fn digest(&self, path: &Path) -> Result<[u8; 32]> {
        match self.digests.get(path) {
            Some(Ok(d)) => Ok(*d),
            Some(Err(f)) => Err(f.error(path)),
            None => Err(Error::io(path, io::Error::other("not read before planning"))),
        }
    }

    /// The digests of every file hashed.
    pub fn digests(&self) -> BTreeMap<PathBuf, [u8; 32]> {
        self.digests.iter().filter_map(|(p, d)| d.as_ref().ok().map(|d| (p.clone(), *d))).collect()
    }

    /// The bytes of the file at `path` (one asked to be read whole, or kept).
    pub fn file(&self, path: &Path) -> Result<&[u8]> {
        if let Some(data) = self.kept.file(path) {
            return Ok(data);
        }
        match self.whole.get(path) {
            Some(Ok(data)) => Ok(data),
            Some(Err(f)) => Err(f.error(path)),
            None => Err(Error::io(path, io::Error::other("not read before planning"))),
        }
    }

    /// The bytes that go forward to the repair's patching: the binaries the
    /// analysis kept and the files read for the plan.
    pub fn into_kept(self) -> Kept {
        let mut kept = self.kept;
        for (path, data) in self.whole {
            if let Ok(data) = data {
                kept.insert_file(path, data);
            }
        }
        kept
    }
}
