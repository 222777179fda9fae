//! The macOS loader's (dyld) library search, as delocate emulates it, plus
//! dyld's inheritance of the loading chain's LC_RPATHs:
//!
//! - `@loader_path/x`: relative to the directory of the file that loads it;
//! - `@executable_path/x`: relative to `--executable-path` (dropped when unset);
//! - `@rpath/x`: every LC_RPATH of the loading chain (the file itself first,
//!   then whoever loaded it), each itself expanded, then `DYLD_LIBRARY_PATH`,
//!   `--lib-path` and `DYLD_FALLBACK_LIBRARY_PATH` by basename;
//! - absolute names: `/usr/lib/…` and `/System/…` are provided by macOS (the
//!   dyld shared cache: they need not exist on this disk); others are looked up
//!   by basename in `DYLD_LIBRARY_PATH` and `--lib-path`, then at the path
//!   itself (under the sysroot), then in the fallback path.

use std::path::{Path, PathBuf};

use super::cache::ParseCache;
use super::{in_sysroot, Dir, Location, Resolved, WheelBinaries};
use crate::binary::BinaryInfo;

/// Outcome of looking up one install name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachOLookup {
    /// Found (in the wheel or on disk).
    Found(Resolved),
    /// Provided by macOS itself (`/usr/lib`, `/System`).
    System(String),
    /// Not found anywhere.
    Missing,
}

/// Search configuration for Mach-O dependencies.
#[derive(Debug)]
pub struct MachOResolver {
    /// `--lib-path` directories.
    pub lib_path: Vec<PathBuf>,
    /// Root of the target file system.
    pub sysroot: PathBuf,
    /// `DYLD_LIBRARY_PATH`.
    pub dyld_library_path: Vec<PathBuf>,
    /// `DYLD_FALLBACK_LIBRARY_PATH` (default `/usr/local/lib:/usr/lib`).
    pub dyld_fallback_path: Vec<PathBuf>,
    /// What `@executable_path` means.
    pub executable_path: Option<PathBuf>,
    cache: ParseCache,
}

use crate::policy::macos::is_system_library as is_system;

impl MachOResolver {
    /// A resolver reading `DYLD_LIBRARY_PATH` and `DYLD_FALLBACK_LIBRARY_PATH` from the environment.
    pub fn new(sysroot: &Path, lib_path: Vec<PathBuf>, executable_path: Option<PathBuf>) -> Self {
        let env = |k: &str| std::env::var(k).ok().map(|v| super::split_paths(&v));
        let fallback = env("DYLD_FALLBACK_LIBRARY_PATH")
            .unwrap_or_else(|| vec![PathBuf::from("/usr/local/lib"), PathBuf::from("/usr/lib")]);
        MachOResolver {
            lib_path,
            sysroot: sysroot.to_path_buf(),
            dyld_library_path: env("DYLD_LIBRARY_PATH").unwrap_or_default(),
            dyld_fallback_path: fallback.iter().map(|p| in_sysroot(sysroot, p)).collect(),
            executable_path,
            cache: ParseCache::default(),
        }
    }

    /// Expands the LC_RPATH entries of the file at `loc`.
    pub fn expand_rpaths(&self, rpaths: &[String], loc: &Location) -> Vec<Dir> {
        let origin = Dir::parent_of(loc);
        rpaths.iter().filter_map(|r| self.expand(r, &origin)).collect()
    }

    fn expand(&self, path: &str, origin: &Dir) -> Option<Dir> {
        if let Some(rest) = path.strip_prefix("@loader_path") {
            return origin.join(rest.trim_start_matches('/'));
        }
        if let Some(rest) = path.strip_prefix("@executable_path") {
            let exe = self.executable_path.as_ref()?;
            return Some(Dir::Disk(super::normalize(&exe.join(rest.trim_start_matches('/')))));
        }
        if path.starts_with('/') {
            return Some(Dir::Disk(in_sysroot(&self.sysroot, Path::new(path))));
        }
        None
    }

    /// Looks up install name `name` referenced by the file at `req_loc`;
    /// `chain_rpaths` are the expanded LC_RPATHs of that file and its loaders.
    pub fn find(&self, name: &str, req_loc: &Location, chain_rpaths: &[Dir], wheel: &WheelBinaries) -> MachOLookup {
        if is_system(name) {
            return MachOLookup::System(name.to_string());
        }
        let base = name.rsplit('/').next().unwrap_or(name);
        let origin = Dir::parent_of(req_loc);
        let mut candidates: Vec<Location> = Vec::new();
        let by_base = |dirs: &[PathBuf], out: &mut Vec<Location>| {
            out.extend(dirs.iter().map(|d| Location::Disk(d.join(base))));
        };
        if let Some(rest) = name.strip_prefix("@rpath/") {
            for d in chain_rpaths {
                if let Some(l) = d.file(rest) {
                    candidates.push(l);
                }
            }
            by_base(&self.dyld_library_path, &mut candidates);
            by_base(&self.lib_path, &mut candidates);
            by_base(&self.dyld_fallback_path, &mut candidates);
        } else if name.starts_with("@loader_path/") || name.starts_with("@executable_path/") {
            let (dir, rest) = name.split_once('/').unwrap_or((name, ""));
            if let Some(l) = self.expand(dir, &origin).and_then(|d| d.file(rest)) {
                candidates.push(l);
            }
            by_base(&self.lib_path, &mut candidates);
            by_base(&self.dyld_fallback_path, &mut candidates);
        } else if name.starts_with('/') {
            by_base(&self.dyld_library_path, &mut candidates);
            by_base(&self.lib_path, &mut candidates);
            candidates.push(Location::Disk(in_sysroot(&self.sysroot, Path::new(name))));
            by_base(&self.dyld_fallback_path, &mut candidates);
        } else {
            // a bare name: relative to the current directory for dyld; look in the search paths
            by_base(&self.dyld_library_path, &mut candidates);
            by_base(&self.lib_path, &mut candidates);
            by_base(&self.dyld_fallback_path, &mut candidates);
        }
        for loc in candidates {
            match &loc {
                Location::Wheel(p) => {
                    if let Some(info) = wheel.get(p).filter(|i| matches!(i.as_ref(), BinaryInfo::MachO(_))) {
                        return MachOLookup::Found(Resolved {
                            location: loc.clone(),
                            realpath: None,
                            info: info.clone(),
                        });
                    }
                }
                Location::Disk(p) => {
                    let real = std::fs::canonicalize(p).ok();
                    if let Some(r) = real.as_deref().and_then(|r| r.to_str()) {
                        let unrooted = strip_sysroot(&self.sysroot, r);
                        if is_system(&unrooted) {
                            return MachOLookup::System(unrooted);
                        }
                    }
                    if let Some(info) = self.cache.get_or_parse(p, read_macho) {
                        return MachOLookup::Found(Resolved { location: loc.clone(), realpath: real, info });
                    }
                }
            }
        }
        MachOLookup::Missing
    }
}

/// The Mach-O file at `path`, parsed; `None` when unreadable or not Mach-O.
fn read_macho(path: &Path) -> Option<BinaryInfo> {
    let data = std::fs::read(path).ok()?;
    crate::binary::macho::parse(&data).ok().map(BinaryInfo::MachO)
}

fn strip_sysroot(sysroot: &Path, path: &str) -> String {
    if sysroot == Path::new("/") {
        return path.to_string();
    }
    match Path::new(path).strip_prefix(sysroot) {
        Ok(rel) => format!("/{}", rel.display()),
        Err(_) => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_names() {
        let r = MachOResolver::new(Path::new("/"), vec![], None);
        let w = WheelBinaries::new();
        assert_eq!(
            r.find("/usr/lib/libc++.1.dylib", &Location::Wheel("p/x.so".into()), &[], &w),
            MachOLookup::System("/usr/lib/libc++.1.dylib".into())
        );
    }

    #[test]
    fn rpath_expansion() {
        let r = MachOResolver::new(Path::new("/"), vec![], None);
        let dirs = r.expand_rpaths(
            &["@loader_path/../lib".into(), "@executable_path/x".into(), "/opt/fake/lib".into()],
            &Location::Wheel("pkg/sub/ext.so".into()),
        );
        assert_eq!(dirs, vec![Dir::Wheel("pkg/lib".into()), Dir::Disk("/opt/fake/lib".into())]);
    }
}
