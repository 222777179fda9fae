//! The crate's error type: one enum, rendered once by the CLI as
//! `error: …`, `caused by: …` and `hint: …` lines.
//!
//! Every message names its subject (a wheel, an entry in a wheel, a library)
//! and the reason, on one line, without a trailing period.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::binary::ParseError;
use crate::patch::PatchError;
use crate::policy::PolicyError;
use crate::wheel::WheelError;

mod reason;
pub use reason::Reason;

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in wheelfix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file on disk failed.
    #[error("`{}`: {}", path.display(), io_words(source))]
    Io {
        /// The file that could not be read or written.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The wheel archive or its metadata is malformed.
    #[error("`{}`: {source}", path.display())]
    Wheel {
        /// The wheel.
        path: PathBuf,
        /// What is wrong with it.
        source: WheelError,
    },
    /// A binary (inside a wheel or on disk) could not be parsed.
    #[error("`{file}`: {source}")]
    Binary {
        /// The binary: `wheel!entry` for entries of a wheel, a path otherwise.
        file: String,
        /// What is wrong with it.
        source: ParseError,
    },
    /// A binary could not be rewritten safely.
    #[error("`{file}`: {source}")]
    Patch {
        /// The binary: `wheel!entry` for entries of a wheel, a path otherwise.
        file: String,
        /// Why it could not be rewritten.
        source: PatchError,
    },
    /// A policy file is malformed or does not know the requested tag.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A library that must be bundled could not be found.
    #[error("`{wheel}`: required library `{name}` (needed by `{needed_by}`) could not be located{skipped}")]
    MissingLibrary {
        /// The wheel being repaired.
        wheel: String,
        /// The name as referenced (soname, install name or DLL name).
        name: String,
        /// The file that references it.
        needed_by: String,
        /// `; skipped `PATH`: REASON` for each file of that name the search
        /// found built for another machine (empty when none).
        skipped: String,
    },
    /// A library that must be bundled was found only as a file that does
    /// not parse (cut short, garbage).
    #[error("`{wheel}`: required library `{name}` (needed by `{needed_by}`) is corrupt: `{path}`: {reason}")]
    CorruptLibrary {
        /// The wheel being repaired.
        wheel: String,
        /// The name as referenced.
        name: String,
        /// The file that references it.
        needed_by: String,
        /// The corrupt file, as found on the search path.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The wheel cannot be repaired to what was asked.
    #[error("`{wheel}`: {reason}")]
    CannotRepair {
        /// The wheel being repaired.
        wheel: String,
        /// Why not, as data.
        reason: Box<Reason>,
    },
    /// The command line asked for something contradictory or unknown.
    #[error("{0}")]
    Usage(String),
}

impl From<crate::wheel::WheelFileError> for Error {
    fn from(e: crate::wheel::WheelFileError) -> Self {
        match e {
            crate::wheel::WheelFileError::Io { path, source } => Error::Io { path, source },
            crate::wheel::WheelFileError::Wheel { path, source } => Error::Wheel { path, source },
        }
    }
}

impl Error {
    /// Builds an [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// Builds an [`Error::CannotRepair`] for `wheel`.
    pub fn cannot_repair(wheel: impl Into<String>, reason: Reason) -> Self {
        Error::CannotRepair { wheel: wheel.into(), reason: Box::new(reason) }
    }

    /// A suggestion for the user, printed as `hint: …` after the error.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Patch { source, .. } => source.hint(),
            Error::MissingLibrary { .. } => Some(
                "pass the directory that holds it with `--lib-path DIR`, or leave it out with `--exclude NAME`"
                    .to_string(),
            ),
            Error::CorruptLibrary { .. } => Some(
                "replace the damaged file, or pass a directory that holds a good copy with `--lib-path DIR`"
                    .to_string(),
            ),
            Error::CannotRepair { reason, .. } => reason.hint(),
            Error::Wheel { source, .. } => source.hint(),
            Error::Io { source, .. } => io_hint(source).map(str::to_string),
            _ => None,
        }
    }
}

/// An operating-system error in words, without the bare `(os error N)` code.
pub fn io_words(e: &io::Error) -> String {
    use io::ErrorKind as K;
    let words = match e.kind() {
        K::NotFound => "no such file or directory",
        K::PermissionDenied => "permission denied",
        K::AlreadyExists => "already exists",
        K::IsADirectory => "is a directory, not a file",
        K::NotADirectory => "a component of the path is not a directory",
        K::StorageFull => "no space left on the device",
        K::ReadOnlyFilesystem => "the file system is read-only",
        K::UnexpectedEof => "the file ends early (truncated?)",
        // mmap of something that is not a regular file (a directory, a device)
        _ if e.raw_os_error() == Some(19) => "not a regular file",
        _ => return strip_os_error(&e.to_string()),
    };
    words.to_string()
}

/// `Text (os error 5)` without the code, first letter lowered.
fn strip_os_error(text: &str) -> String {
    let t = match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => &text[..i],
        _ => text,
    };
    let mut c = t.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// What to do about an operating-system error, when there is something to say.
fn io_hint(e: &io::Error) -> Option<&'static str> {
    use io::ErrorKind as K;
    Some(match e.kind() {
        K::NotFound => "check the path (a wheel is a `.whl` file, a directory of libraries goes to `--lib-path`)",
        K::PermissionDenied => "check that the user running wheelfix may read the file and write the output directory",
        K::StorageFull => "free some space, or write the wheels elsewhere with `-w DIR`",
        _ if e.raw_os_error() == Some(19) => "give a wheel file; for a directory of wheels, give `DIR/*.whl`",
        _ => return None,
    })
}

/// Writes `error: …`, then one `caused by: …` line per source that adds
/// information, then `hint: …`.
pub fn render(err: &(dyn std::error::Error + 'static), hint: Option<&str>, out: &mut dyn fmt::Write) -> fmt::Result {
    writeln!(out, "error: {err}")?;
    let top = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        // an OS error already given in words on the first line is not repeated
        let said = s.downcast_ref::<io::Error>().is_some_and(|e| top.contains(&io_words(e)));
        if !top.contains(&text) && !said {
            writeln!(out, "caused by: {text}")?;
        }
        source = s.source();
    }
    if let Some(h) = hint {
        writeln!(out, "hint: {h}")?;
    }
    Ok(())
}
