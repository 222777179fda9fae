//! Paths given on the command line, checked before any work starts, so that
//! a mistake is told in words with what to do: a directory given as a wheel,
//! a missing or unreadable file, an output directory that is a file.

use std::path::Path;

use crate::error::Error;

/// A problem with a path: the error, and a hint when the error has none of its own.
pub type PathProblem = (Error, Option<String>);

/// Why `path` cannot be read as an input; `None` when it can. A directory
/// is a problem unless `dir_ok` (`check` takes directories).
pub fn unreadable_input(path: &Path, dir_ok: bool) -> Option<PathProblem> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return Some((Error::io(path, e), None)),
    };
    if meta.is_dir() {
        if dir_ok {
            return std::fs::read_dir(path).err().map(|e| (Error::io(path, e), None));
        }
        let shown = path.display().to_string();
        return Some((
            Error::io(path, std::io::Error::from(std::io::ErrorKind::IsADirectory)),
            Some(format!("give the wheel files inside it: `{}/*.whl`", shown.trim_end_matches('/'))),
        ));
    }
    std::fs::File::open(path).err().map(|e| (Error::io(path, e), None))
}

/// Why `dir` cannot take the written wheels; `None` when it can (a missing
/// directory is created later).
pub fn unusable_output_dir(dir: &Path) -> Option<PathProblem> {
    let meta = std::fs::metadata(dir).ok()?;
    if meta.is_dir() {
        return None;
    }
    Some((
        Error::Usage(format!("`{}` (`-w`/`--wheel-dir`) is a file, not a directory", dir.display())),
        Some("give a directory to write the wheels to; it is created when missing".to_string()),
    ))
}
