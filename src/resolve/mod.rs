//! Dependency resolution, the way each platform's loader does it, over a
//! wheel that is never extracted plus the host (or a sysroot) disk.
//!
//! A file is either an entry of the wheel ([`Location::Wheel`]) or a file on
//! disk ([`Location::Disk`]); search directories are the same two kinds
//! ([`Dir`]), so `$ORIGIN`/`@loader_path` of a wheel entry resolves inside the
//! wheel, and libraries the wheel ships are found there, not on disk.

mod cache;
pub mod elf;
pub mod macho;
pub mod owners;
pub mod pe;
pub mod providers;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use crate::binary::BinaryInfo;

/// Where a binary lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Location {
    /// An entry of the wheel (its name in the archive).
    Wheel(String),
    /// A file on disk (the path as found; see [`Resolved::realpath`]).
    Disk(PathBuf),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Wheel(p) => f.write_str(p),
            Location::Disk(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A directory to search: inside the wheel or on disk.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dir {
    /// A directory of the wheel (`""` is the root, no trailing `/`).
    Wheel(String),
    /// A directory on disk.
    Disk(PathBuf),
}

impl Dir {
    /// The directory that holds `loc`.
    pub fn parent_of(loc: &Location) -> Dir {
        match loc {
            Location::Wheel(p) => Dir::Wheel(wheel_parent(p).to_string()),
            Location::Disk(p) => Dir::Disk(p.parent().map(Path::to_path_buf).unwrap_or_default()),
        }
    }

    /// `self/rel`, normalised. `None` when a wheel path climbs above the root.
    pub fn join(&self, rel: &str) -> Option<Dir> {
        match self {
            Dir::Wheel(base) => wheel_join(base, rel).map(Dir::Wheel),
            Dir::Disk(base) => Some(Dir::Disk(normalize(&base.join(rel)))),
        }
    }

    /// The location of `name` in this directory.
    pub fn file(&self, name: &str) -> Option<Location> {
        match self {
            Dir::Wheel(base) => wheel_join(base, name).map(Location::Wheel),
            Dir::Disk(base) => Some(Location::Disk(base.join(name))),
        }
    }
}

/// The binaries of a wheel, by entry name.
pub type WheelBinaries = BTreeMap<String, Arc<BinaryInfo>>;

/// A library found for a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Where it was found (as found: a symlink path on disk is kept).
    pub location: Location,
    /// For disk files, the path with every symlink resolved (what is copied).
    pub realpath: Option<PathBuf>,
    /// The parsed library.
    pub info: Arc<BinaryInfo>,
}

/// The parent directory of a wheel entry name (`""` for a root entry).
pub fn wheel_parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

/// Joins a relative path to a wheel directory, resolving `.` and `..`.
/// `None` when the result would leave the wheel.
pub fn wheel_join(base: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = base.split('/').filter(|s| !s.is_empty()).collect();
    for comp in rel.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

/// The relative path from wheel directory `from` to wheel path `to`
/// (`../foo.libs` style), as used for `$ORIGIN/…` and `@loader_path/…`.
pub fn wheel_relpath(to: &str, from_dir: &str) -> String {
    let to_parts: Vec<&str> = to.split('/').filter(|s| !s.is_empty()).collect();
    let from_parts: Vec<&str> = from_dir.split('/').filter(|s| !s.is_empty()).collect();
    let common = to_parts.iter().zip(&from_parts).take_while(|(a, b)| a == b).count();
    let mut out: Vec<&str> = vec![".."; from_parts.len() - common];
    out.extend(&to_parts[common..]);
    if out.is_empty() {
        ".".to_string()
    } else {
        out.join("/")
    }
}

/// Lexically normalises a disk path (`a/./b/../c` → `a/c`), without touching the disk.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Re-roots an absolute path under `sysroot` (`/usr/lib` → `<sysroot>/usr/lib`).
pub fn in_sysroot(sysroot: &Path, path: &Path) -> PathBuf {
    if sysroot == Path::new("/") || sysroot.as_os_str().is_empty() {
        return path.to_path_buf();
    }
    let rel: PathBuf = path.components().filter(|c| !matches!(c, Component::RootDir | Component::Prefix(_))).collect();
    sysroot.join(rel)
}

/// Splits a `PATH`-style variable at `:` (empty elements dropped).
pub fn split_paths(value: &str) -> Vec<PathBuf> {
    value.split(':').filter(|s| !s.is_empty()).map(PathBuf::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_paths() {
        assert_eq!(wheel_join("pkg/sub", "../demo.libs"), Some("pkg/demo.libs".into()));
        assert_eq!(wheel_join("pkg", "../../x"), None);
        assert_eq!(wheel_join("", "a/./b"), Some("a/b".into()));
        assert_eq!(wheel_relpath("demo.libs", "pkg/sub"), "../../demo.libs");
        assert_eq!(wheel_relpath("pkg/.dylibs", "pkg"), ".dylibs");
        assert_eq!(wheel_relpath("pkg", "pkg"), ".");
        assert_eq!(wheel_parent("pkg/ext.so"), "pkg");
        assert_eq!(wheel_parent("ext.so"), "");
    }

    #[test]
    fn sysroot() {
        assert_eq!(in_sysroot(Path::new("/"), Path::new("/usr/lib")), PathBuf::from("/usr/lib"));
        assert_eq!(in_sysroot(Path::new("/sr"), Path::new("/usr/lib")), PathBuf::from("/sr/usr/lib"));
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }
}
