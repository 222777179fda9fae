//! Link lint: how a binary's own link information must look inside a wheel,
//! whatever the platform tag. Every DT_NEEDED that versions symbols has its
//! `.gnu.version_r` entry and every entry a DT_NEEDED; search paths
//! (RPATH/RUNPATH, LC_RPATH) stay inside the wheel or lead to a sibling
//! package; Mach-O install names point into the wheel or to the system.

use std::fmt;

use crate::binary::BinaryInfo;

/// One link problem of one file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LinkFinding {
    /// A `.gnu.version_r` entry names a library that no DT_NEEDED names:
    /// the loader stops with "version … not found".
    VersionsWithoutNeeded {
        /// The file.
        file: String,
        /// The library the entry names.
        lib: String,
    },
    /// A search path that is absolute (the build machine's directory).
    AbsoluteSearchPath {
        /// The file.
        file: String,
        /// The path as written.
        path: String,
    },
    /// A search path relative to the working directory (no `$ORIGIN`,
    /// `@loader_path`, `@executable_path`).
    CwdSearchPath {
        /// The file.
        file: String,
        /// The path as written.
        path: String,
    },
    /// A search path that climbs above the directory the wheel installs into.
    OutsideSearchPath {
        /// The file.
        file: String,
        /// The path as written.
        path: String,
    },
    /// A Mach-O dependency by absolute path outside the system directories.
    AbsoluteInstallName {
        /// The file.
        file: String,
        /// The install name.
        name: String,
    },
}

impl fmt::Display for LinkFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkFinding::VersionsWithoutNeeded { file, lib } => {
                write!(f, "`{file}` needs symbol versions from {lib}, which no DT_NEEDED entry names")
            }
            LinkFinding::AbsoluteSearchPath { file, path } => {
                write!(f, "`{file}` searches the absolute path {path}, which is not in the wheel")
            }
            LinkFinding::CwdSearchPath { file, path } => {
                write!(f, "`{file}` searches {path}, relative to the working directory, not to itself")
            }
            LinkFinding::OutsideSearchPath { file, path } => {
                write!(f, "`{file}` searches {path}, above the directory the wheel installs into")
            }
            LinkFinding::AbsoluteInstallName { file, name } => {
                write!(f, "`{file}` loads {name}, an absolute path that is neither in the wheel nor in the system")
            }
        }
    }
}

impl LinkFinding {
    /// The same finding, naming `file` (the wheel entry, when the search
    /// path was judged from where the file installs).
    pub fn in_file(self, file: &str) -> LinkFinding {
        let file = file.to_string();
        match self {
            LinkFinding::VersionsWithoutNeeded { lib, .. } => LinkFinding::VersionsWithoutNeeded { file, lib },
            LinkFinding::AbsoluteSearchPath { path, .. } => LinkFinding::AbsoluteSearchPath { file, path },
            LinkFinding::CwdSearchPath { path, .. } => LinkFinding::CwdSearchPath { file, path },
            LinkFinding::OutsideSearchPath { path, .. } => LinkFinding::OutsideSearchPath { file, path },
            LinkFinding::AbsoluteInstallName { name, .. } => LinkFinding::AbsoluteInstallName { file, name },
        }
    }
}

/// Where a search path of the file `file` (its path once installed,
/// relative to site-packages) leads: `Ok(())` when
/// inside the wheel or into a sibling package (one level above the wheel's
/// root, `site-packages/<other>`), else the finding. `origins` are the
/// tokens that stand for the file's directory (`$ORIGIN`, `@loader_path`).
pub fn search_path(file: &str, path: &str, origins: &[&str]) -> Result<(), LinkFinding> {
    let finding = |make: fn(String, String) -> LinkFinding| Err(make(file.to_string(), path.to_string()));
    let rest = origins.iter().find_map(|o| {
        let braced = format!("${{{}}}", o.trim_start_matches('$'));
        path.strip_prefix(o).or_else(|| path.strip_prefix(braced.as_str()))
    });
    let Some(rest) = rest else {
        if path.starts_with('/') {
            return finding(|file, path| LinkFinding::AbsoluteSearchPath { file, path });
        }
        if path.starts_with('$') || path.starts_with('@') {
            // another token ($LIB, $PLATFORM, @rpath): not a directory of its own
            return Ok(());
        }
        return finding(|file, path| LinkFinding::CwdSearchPath { file, path });
    };
    if !rest.is_empty() && !rest.starts_with('/') {
        return finding(|file, path| LinkFinding::CwdSearchPath { file, path });
    }
    // the directory of the file, as a depth below the wheel's root
    let mut depth = file.split('/').count() as i64 - 1;
    for part in rest.split('/').filter(|p| !p.is_empty() && *p != ".") {
        depth += if part == ".." { -1 } else { 1 };
        // one level above the root is site-packages (a sibling package); above that, not
        if depth < -1 {
            return finding(|file, path| LinkFinding::OutsideSearchPath { file, path });
        }
    }
    Ok(())
}

/// Where the wheel entry `entry` installs, relative to site-packages: an
/// entry of `<data_dir>/platlib/` or `<data_dir>/purelib/` lands at the
/// root; any other where it is.
pub fn installed_path<'a>(entry: &'a str, data_dir: &str) -> &'a str {
    ["platlib", "purelib"].iter().find_map(|d| entry.strip_prefix(&format!("{data_dir}/{d}/"))).unwrap_or(entry)
}

/// The link lint of one binary, parsed as `info`: `file` is its entry name
/// (what the findings name) and `installed` where it installs
/// ([`installed_path`]). In file order, not deduplicated.
pub fn lint(file: &str, installed: &str, info: &BinaryInfo) -> Vec<LinkFinding> {
    let mut out = Vec::new();
    let search_path =
        |path: &str, origins: &[&str]| self::search_path(installed, path, origins).err().map(|f| f.in_file(file));
    match info {
        BinaryInfo::Elf(e) => {
            for vn in e.version_needs.iter().filter(|vn| !e.needed.contains(&vn.file)) {
                out.push(LinkFinding::VersionsWithoutNeeded { file: file.to_string(), lib: vn.file.clone() });
            }
            for p in e.rpath.iter().chain(&e.runpath).filter(|p| !p.is_empty()) {
                out.extend(search_path(p, &["$ORIGIN"]));
            }
        }
        BinaryInfo::MachO(m) => {
            for s in &m.slices {
                for p in s.rpaths.iter().filter(|p| !is_macos_system_path(p)) {
                    out.extend(search_path(p, &["@loader_path", "@executable_path"]));
                }
                for d in s.deps.iter().filter(|d| d.name.starts_with('/') && !is_macos_system_path(&d.name)) {
                    out.push(LinkFinding::AbsoluteInstallName { file: file.to_string(), name: d.name.clone() });
                }
            }
        }
        BinaryInfo::Pe(_) => {}
    }
    out
}

/// True for the directories macOS provides (never bundled, never in a wheel).
pub fn is_macos_system_path(name: &str) -> bool {
    name.starts_with("/usr/lib/") || name.starts_with("/System/")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ELF: &[&str] = &["$ORIGIN"];

    #[test]
    fn search_paths_inside_or_beside_the_wheel() {
        assert_eq!(search_path("pkg/ext.so", "$ORIGIN", ELF), Ok(()));
        assert_eq!(search_path("pkg/ext.so", "$ORIGIN/../pkg.libs", ELF), Ok(()));
        assert_eq!(search_path("pkg/sub/ext.so", "${ORIGIN}/../../pkg.libs", ELF), Ok(()));
        // a sibling package installed beside this one
        assert_eq!(search_path("pkg/ext.so", "$ORIGIN/../../nvidia/cublas/lib", ELF), Ok(()));
        assert_eq!(search_path("pkg/ext.so", "@loader_path/../x", &["@loader_path", "@executable_path"]), Ok(()));
    }

    #[test]
    fn search_paths_that_leave() {
        let f = |p: &str| search_path("pkg/ext.so", p, ELF).unwrap_err();
        assert_eq!(
            f("/home/me/build/lib"),
            LinkFinding::AbsoluteSearchPath { file: "pkg/ext.so".into(), path: "/home/me/build/lib".into() }
        );
        assert!(matches!(f("lib"), LinkFinding::CwdSearchPath { .. }));
        assert!(matches!(f("$ORIGINAL/x"), LinkFinding::CwdSearchPath { .. }));
        assert!(matches!(f("$ORIGIN/../../../lib"), LinkFinding::OutsideSearchPath { .. }));
        assert!(matches!(search_path("ext.so", "$ORIGIN/../../lib", ELF), Err(LinkFinding::OutsideSearchPath { .. })));
        assert_eq!(search_path("ext.so", "$ORIGIN/../sibling", ELF), Ok(()));
        let moved = search_path("ext.so", "/opt/x", ELF).unwrap_err().in_file("d-1.data/platlib/ext.so");
        assert_eq!(
            moved,
            LinkFinding::AbsoluteSearchPath { file: "d-1.data/platlib/ext.so".into(), path: "/opt/x".into() }
        );
    }
}
