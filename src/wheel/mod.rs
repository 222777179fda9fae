//! Wheels (PEP 427): the file name, the `WHEEL` and `RECORD` files, reading
//! the archive without extracting it, and writing a new one.
//!
//! Inside this floor, [`deflate`] (raw deflate streams: chunked deflate,
//! inflate with a block index) stands on nothing else here; [`archive`]
//! (reading) and [`splice`] (re-compressing a patched entry) stand on it;
//! [`writer`] stands on `deflate` and `archive`. `filename`, `metadata` and
//! `record` are plain parsers that any of them may use.

pub mod archive;
pub mod deflate;
pub mod filename;
pub mod layout;
pub mod metadata;
pub mod record;
pub mod splice;
pub mod writer;

pub use archive::{check_entry_name, Compression, Entry, Limits, WheelArchive};
pub use filename::WheelFilename;
pub use metadata::WheelMetadata;
pub use record::{Record, RecordRow};
pub use writer::{write_new_wheel, write_wheel, OutputEntry, Source, WriteOptions};

/// The distinct top-level `*.dist-info` directories among entry `names`, sorted.
pub(crate) fn dist_info_dirs<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut dirs: Vec<&str> =
        names.filter_map(|n| n.split_once('/').map(|(top, _)| top)).filter(|top| top.ends_with(".dist-info")).collect();
    dirs.sort_unstable();
    dirs.dedup();
    dirs
}

/// A wheel file that could not be opened, read or written: the operating
/// system's error, or what is wrong with the wheel, with the file's path.
/// Converts into the crate's [`Error`](crate::error::Error) (as `Io` or `Wheel`).
#[derive(Debug, thiserror::Error)]
pub enum WheelFileError {
    /// Reading or writing the file failed.
    #[error("`{}`: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The wheel is malformed.
    #[error("`{}`: {source}", path.display())]
    Wheel {
        /// The wheel.
        path: std::path::PathBuf,
        /// What is wrong with it.
        source: WheelError,
    },
}

impl WheelFileError {
    /// Builds a [`WheelFileError::Io`] for `path`.
    pub fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        WheelFileError::Io { path: path.into(), source }
    }
}

/// What is wrong with a wheel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WheelError {
    /// The file name does not follow PEP 427.
    #[error("invalid wheel file name: {0}")]
    Filename(String),
    /// The zip container is malformed.
    #[error("corrupt zip archive: {0}")]
    Zip(String),
    /// An entry name is unsafe (absolute, `..`, NUL, drive letter, backslash).
    #[error("unsafe entry name `{0}`")]
    UnsafeName(String),
    /// Readers of the archive would see different files (local headers,
    /// data descriptors, the central directory and its end records disagree,
    /// or bytes lie outside every entry).
    #[error("inconsistent zip archive: {0}")]
    Inconsistent(String),
    /// Two entries have the same name.
    #[error("duplicate entry `{0}`")]
    Duplicate(String),
    /// An entry needs a directory where the wheel holds a file (`a/b` and
    /// `a/b/c`): both cannot be installed.
    #[error("entry `{entry}` needs `{file}` to be a directory, but the wheel holds a file `{file}`")]
    FileIsADirectory {
        /// The entry under the file.
        entry: String,
        /// The file.
        file: String,
    },
    /// An entry is a symbolic link (wheels cannot hold links).
    #[error("entry `{0}` is a symbolic link")]
    Symlink(String),
    /// An entry is larger than the limits allow (zip bomb protection).
    #[error("entry `{name}` is too large: {reason}")]
    TooLarge {
        /// The entry.
        name: String,
        /// Which limit it breaks.
        reason: String,
    },
    /// The `.dist-info` directory is ambiguous or belongs to another project.
    #[error("bad .dist-info directory: {0}")]
    DistInfo(String),
    /// A required file is missing (`.dist-info`, `WHEEL`, `RECORD`).
    #[error("missing {0}")]
    Missing(String),
    /// The `WHEEL` file is malformed.
    #[error("invalid WHEEL file: {0}")]
    Metadata(String),
    /// The `RECORD` file is malformed.
    #[error("invalid RECORD: {0}")]
    Record(String),
    /// The file was written over while it was being read.
    #[error("the file was changed while it was being read")]
    Changed,
    /// An entry does not match its `RECORD` line, or is not listed.
    #[error("RECORD mismatch for `{entry}`: {reason}")]
    RecordMismatch {
        /// The entry.
        entry: String,
        /// Hash, size, or not listed.
        reason: String,
    },
}

impl WheelError {
    /// A suggestion for the user, if there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            WheelError::RecordMismatch { .. } => {
                Some("the wheel was modified after it was built: rebuild it".to_string())
            }
            WheelError::Inconsistent(_) => Some(
                "installers and scanners would not agree on what this wheel holds: rebuild it with a standard zip writer"
                    .to_string(),
            ),
            WheelError::FileIsADirectory { .. } => {
                Some("installers would write one and fail on, or replace, the other: rebuild the wheel".to_string())
            }
            WheelError::Changed => {
                Some("another process wrote the wheel during the run: run again once it is complete".to_string())
            }
            _ => None,
        }
    }
}
