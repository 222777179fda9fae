//! DLL search for Windows wheels, as delvewheel does it: the directory of the
//! loading module inside the wheel (Windows searches a DLL's own directory),
//! then, for a wheel that delvewheel or wheelfix already repaired, the wheel's
//! own DLL directories (its runtime patch adds them with `os.add_dll_directory`),
//! then `--add-path`/`--lib-path` directories, then the directories of
//! `PATH` ([`path_dirs`]), matching names case-insensitively and requiring
//! the same PE machine. DLLs Windows or CPython provides are decided by the
//! policy, before looking.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::cache::ParseCache;
use super::{Dir, Location, Resolved, WheelBinaries};
use crate::binary::BinaryInfo;

/// Search configuration for DLLs.
#[derive(Debug)]
pub struct PeResolver {
    /// Directories searched, in order.
    pub paths: Vec<PathBuf>,
    /// Directories of the wheel searched after the loading module's own one
    /// (no trailing `/`; `""` is the root).
    pub wheel_dirs: Vec<String>,
    listings: Mutex<HashMap<PathBuf, Vec<String>>>,
    cache: ParseCache,
}

impl PeResolver {
    /// A resolver over `paths`.
    pub fn new(paths: Vec<PathBuf>) -> Self {
        PeResolver { paths, wheel_dirs: Vec::new(), listings: Mutex::new(HashMap::new()), cache: ParseCache::default() }
    }

    /// Also searches these wheel directories, after the loading module's own one.
    pub fn with_wheel_dirs(mut self, dirs: Vec<String>) -> Self {
        self.wheel_dirs = dirs;
        self
    }

    /// Finds DLL `name` for a module of PE machine `machine` at `req_loc`.
    pub fn find(&self, name: &str, machine: u16, req_loc: &Location, wheel: &WheelBinaries) -> Option<Resolved> {
        let own = match Dir::parent_of(req_loc) {
            Dir::Wheel(dir) => Some(dir),
            Dir::Disk(_) => None,
        };
        for dir in own.iter().chain(&self.wheel_dirs) {
            if let Some(found) = in_wheel_dir(dir, name, machine, wheel) {
                return Some(found);
            }
        }
        for dir in &self.paths {
            let Some(file) = self.lookup_ci(dir, name) else { continue };
            let path = dir.join(file);
            if let Some(info) = self.cache.get_or_parse(&path, read_pe) {
                if same_machine(&info, machine) {
                    let realpath = std::fs::canonicalize(&path).ok();
                    return Some(Resolved { location: Location::Disk(path), realpath, info });
                }
            }
        }
        None
    }

    fn lookup_ci(&self, dir: &Path, name: &str) -> Option<String> {
        let mut listings = self.listings.lock().ok()?;
        let names = listings.entry(dir.to_path_buf()).or_insert_with(|| {
            std::fs::read_dir(dir)
                .map(|rd| rd.flatten().filter_map(|e| e.file_name().into_string().ok()).collect())
                .unwrap_or_default()
        });
        names.iter().find(|n| n.eq_ignore_ascii_case(name)).cloned()
    }
}

/// The PE image at `path`, parsed; `None` when unreadable or not PE.
fn read_pe(path: &Path) -> Option<BinaryInfo> {
    let data = std::fs::read(path).ok()?;
    crate::binary::pe::parse(&data).ok().map(BinaryInfo::Pe)
}

/// The DLL `name` (any case) directly in wheel directory `dir`, of PE machine `machine`.
fn in_wheel_dir(dir: &str, name: &str, machine: u16, wheel: &WheelBinaries) -> Option<Resolved> {
    let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    for (path, info) in wheel.range(prefix.clone()..) {
        if !path.starts_with(&prefix) {
            break;
        }
        let rest = &path[prefix.len()..];
        if !rest.contains('/') && rest.eq_ignore_ascii_case(name) && same_machine(info, machine) {
            return Some(Resolved { location: Location::Wheel(path.clone()), realpath: None, info: info.clone() });
        }
    }
    None
}

fn same_machine(info: &BinaryInfo, machine: u16) -> bool {
    matches!(info, BinaryInfo::Pe(p) if p.machine == machine)
}

/// The directories of a `PATH` value searched for DLLs after `--add-path`,
/// in order, as delvewheel searches `PATH` on Windows:
///
/// - on a Windows host (`windows_host`), every `;`-separated entry except the
///   Windows directory and what lies under it (`System32`, `SysWOW64`: what
///   is there is the system's, and the system-DLL list decides about those
///   names before any search);
/// - on another host, where `PATH` names the host's own programs, only the
///   `:`-separated entries that hold at least one `*.dll` file (a cross
///   toolchain's `bin`, a directory put there for the build), so that
///   `/usr/bin` and the like are never listed for a Windows wheel.
pub fn path_dirs(path: &std::ffi::OsStr, windows_host: bool) -> Vec<PathBuf> {
    let text = path.to_string_lossy();
    let mut out: Vec<PathBuf> = Vec::new();
    for entry in text.split(if windows_host { ';' } else { ':' }) {
        let entry = entry.trim().trim_matches('"');
        if entry.is_empty() {
            continue;
        }
        let dir = PathBuf::from(entry);
        let keep = if windows_host { !is_windows_dir(entry) } else { holds_a_dll(&dir) };
        if keep && !out.contains(&dir) {
            out.push(dir);
        }
    }
    out
}

/// [`path_dirs`] of this process's `PATH`, on this host.
pub fn path_dirs_from_env() -> Vec<PathBuf> {
    std::env::var_os("PATH").map_or_else(Vec::new, |p| path_dirs(&p, cfg!(windows)))
}

/// `C:\Windows` or a directory under it (any case, either slash).
fn is_windows_dir(entry: &str) -> bool {
    let e = entry.replace('/', "\\").to_ascii_lowercase();
    let e = e.trim_end_matches('\\');
    let root = std::env::var("SystemRoot").map(|s| s.to_ascii_lowercase()).unwrap_or_else(|_| "c:\\windows".into());
    let root = root.trim_end_matches('\\');
    e == root || e.starts_with(&format!("{root}\\"))
}

fn holds_a_dll(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .is_ok_and(|rd| rd.flatten().any(|e| e.file_name().to_string_lossy().to_ascii_lowercase().ends_with(".dll")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_path_skips_the_windows_directory() {
        let path = std::ffi::OsString::from(
            "C:\\Windows\\system32;C:\\WINDOWS;c:/windows/SysWOW64;C:\\deps\\bin;\"C:\\Program Files\\x\";;C:\\deps\\bin",
        );
        assert_eq!(path_dirs(&path, true), [PathBuf::from("C:\\deps\\bin"), PathBuf::from("C:\\Program Files\\x")]);
        assert!(!is_windows_dir("C:\\Windowsfoo"));
    }

    #[test]
    fn other_hosts_keep_only_directories_with_dlls() {
        let t = tempfile::tempdir().unwrap();
        let (with, without) = (t.path().join("with"), t.path().join("without"));
        std::fs::create_dir_all(&with).unwrap();
        std::fs::create_dir_all(&without).unwrap();
        std::fs::write(with.join("Foo.DLL"), b"").unwrap();
        std::fs::write(without.join("foo.so"), b"").unwrap();
        let path = std::env::join_paths([&without, &with, &t.path().join("missing"), &with]).unwrap();
        assert_eq!(path_dirs(&path, false), [with]);
    }
}
