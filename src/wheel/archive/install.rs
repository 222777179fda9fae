//! Whether the entries of a wheel can all be installed: a name that is a
//! file cannot also be a directory that holds other entries (`a/b` and
//! `a/b/c`, or `a/b` and `a/b/`). An installer writes one and then fails on,
//! or replaces, the other, so which files end up on disk depends on its
//! order; such a wheel is refused at open.
//!
//! Names that differ only by `.` or empty segments (`a/./b`, `a//b`) never
//! get this far: [`check_entry_name`](super::check_entry_name) refuses them.

use std::collections::HashSet;

use super::{Entry, WheelArchive};
use crate::wheel::WheelError;

/// The proper ancestors of `name` (`a` and `a/b` for `a/b/c` or `a/b/c/`),
/// shortest first.
pub(crate) fn ancestors(name: &str) -> impl Iterator<Item = &str> {
    let path = name.strip_suffix('/').unwrap_or(name);
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// The first entry, in archive order, that lies under another entry that is
/// a file; refused as [`WheelError::FileIsADirectory`].
pub(super) fn check_installable(entries: &[Entry]) -> Result<(), WheelError> {
    let files: HashSet<&str> = entries.iter().filter(|e| !e.is_dir).map(|e| e.name.as_str()).collect();
    for entry in entries {
        let path = entry.name.strip_suffix('/').unwrap_or(&entry.name);
        // a directory entry `a/b/` beside a file `a/b`
        let same = entry.is_dir && files.contains(path);
        if let Some(file) = same.then_some(path).or_else(|| ancestors(&entry.name).find(|a| files.contains(a))) {
            return Err(WheelError::FileIsADirectory { entry: entry.name.clone(), file: file.to_string() });
        }
    }
    Ok(())
}

impl WheelArchive {
    /// The file of the wheel that stops a directory `dir` from being created
    /// in it: `dir` itself, or one of its ancestors, is a file entry. `None`
    /// when `dir` can be made (it is absent, or already a directory).
    pub fn file_in_the_way(&self, dir: &str) -> Option<&str> {
        let dir = dir.strip_suffix('/').unwrap_or(dir);
        ancestors(&format!("{dir}/x"))
            .find_map(|a| self.entry_by_name(a).filter(|e| !e.is_dir).map(|e| e.name.as_str()))
    }

    /// What would stop a repair with the default options although the
    /// wheel installs: a file where the libraries' directory of Linux and
    /// Windows repairs goes (`<dist>.libs`), one line each.
    pub fn repair_findings(&self) -> Vec<String> {
        let libs = format!("{}.libs", self.filename().name);
        self.file_in_the_way(&libs)
            .map(|file| format!("entry `{file}` is a file where a repair puts its libraries (`{libs}/`)"))
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(names: &[&str]) -> Vec<Entry> {
        let entry = |(index, name): (usize, &&str)| Entry {
            name: name.to_string(),
            index,
            size: 0,
            compressed_size: 0,
            crc32: 0,
            unix_mode: None,
            is_dir: name.ends_with('/'),
        };
        names.iter().enumerate().map(entry).collect()
    }

    #[test]
    fn ancestors_are_every_proper_prefix() {
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), ["a", "a/b"]);
        assert_eq!(ancestors("a/b/c/").collect::<Vec<_>>(), ["a", "a/b"]);
        assert_eq!(ancestors("a").count(), 0);
    }

    #[test]
    fn a_file_under_a_file_is_refused() {
        for ok in [&["a/b", "a/c"][..], &["a/", "a/b/", "a/b/c"], &["ab", "a/b"], &["a.libs/x", "a"]] {
            check_installable(&entries(ok)).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
        }
        for (names, entry, file) in [
            (&["a/b", "a/b/c"][..], "a/b/c", "a/b"),
            (&["a/b/c", "a/b"], "a/b/c", "a/b"),
            (&["a", "a/b/c/d"], "a/b/c/d", "a"),
            (&["a/b", "a/b/"], "a/b/", "a/b"),
            (&["a/b/", "a/b"], "a/b/", "a/b"),
            (&["x", "a/b/c/", "a/b"], "a/b/c/", "a/b"),
        ] {
            let err = check_installable(&entries(names)).unwrap_err();
            assert_eq!(err, WheelError::FileIsADirectory { entry: entry.into(), file: file.into() }, "{names:?}");
        }
    }
}
