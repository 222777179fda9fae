//! DLL search for Windows wheels, as delvewheel does it: the directory of the
//! loading module inside the wheel (Windows searches a DLL's own directory),
//! then, for a wheel that delvewheel or wheelfix already repaired, the wheel's
//! own DLL directories (its runtime patch adds them with `os.add_dll_directory`),
//! then `--add-path`/`--lib-path` directories, matching names
//! case-insensitively and requiring the same PE machine. DLLs Windows or
//! CPython provides are decided by the policy, before looking.

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
