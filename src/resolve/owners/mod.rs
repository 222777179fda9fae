//! Which OS package owns a library found on disk, and where that package
//! keeps its licence text: the package databases of the systems wheels are
//! repaired for, read as files under a root directory (`/` or a sysroot) so
//! that the same code runs on fixture trees.
//!
//! - Linux: dpkg ([`dpkg`]: `var/lib/dpkg`, licence in
//!   `usr/share/doc/<package>/copyright`), apk ([`apk`]: `lib/apk/db/installed`,
//!   licence in its `L:` line and any `usr/share/licenses/` file the package
//!   lists), and rpm ([`rpm`]: asked through the `rpm` command when there is
//!   one, since its database is SQLite or Berkeley DB).
//! - macOS: Homebrew ([`brew`]: a library inside a keg,
//!   `…/Cellar/<formula>/<version>/`, licence files at the keg's top).
//! - Windows: vcpkg ([`vcpkg`]: `<root>/installed/<triplet>/bin/x.dll`, owner
//!   from `installed/vcpkg/info/*.list`, licence in `share/<port>/copyright`).
//!
//! Nothing here fails: a database that is absent or unreadable owns nothing.

pub mod apk;
pub mod brew;
pub mod dpkg;
pub mod rpm;
pub mod vcpkg;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The OS package that owns a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The purl type: `deb`, `rpm`, `apk`, `brew` or `generic`.
    pub kind: &'static str,
    /// The purl namespace: the distribution (`ID` of `os-release`, e.g.
    /// `debian`), `vcpkg`, or empty (Homebrew).
    pub namespace: String,
    /// The package name, e.g. `libffi8`.
    pub package: String,
    /// The package version, e.g. `3.4.4-1`.
    pub version: String,
    /// The package architecture, e.g. `amd64` (empty when unknown).
    pub arch: String,
    /// The licence as the package states it, when it does.
    pub license: Option<License>,
    /// The package's licence and copyright files.
    pub license_files: Vec<LicenseFile>,
}

/// A licence as a package database states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum License {
    /// An SPDX expression (apk, rpm, Homebrew's and vcpkg's SPDX files).
    Spdx(String),
    /// A name in the package system's own vocabulary (Debian's short names).
    Named(String),
}

/// One licence or copyright file of a package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LicenseFile {
    /// Its name under the package's folder of `<dist-info>/licenses/`
    /// (`copyright`, `LICENSE`, `COPYING.LIB`, …): one path component.
    pub name: String,
    /// Where it is on disk.
    pub path: PathBuf,
}

impl Owner {
    /// The package URL.
    pub fn purl(&self) -> String {
        let mut s = format!("pkg:{}/", self.kind);
        if !self.namespace.is_empty() {
            s.push_str(&purl_quote(&self.namespace));
            s.push('/');
        }
        s.push_str(&format!("{}@{}", purl_quote(&self.package), purl_quote(&self.version)));
        if !self.arch.is_empty() {
            s.push_str("?arch=");
            s.push_str(&purl_quote(&self.arch));
        }
        s
    }
}

/// Percent-encodes everything but ASCII letters, digits and `.-_~` (purl components).
pub fn purl_quote(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The system whose package databases are asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum System {
    /// dpkg, then apk, then rpm.
    #[default]
    Linux,
    /// Homebrew kegs.
    Macos,
    /// vcpkg trees.
    Windows,
}

/// What [`find_owners`] found: the owners, and notes for the user (a
/// database that could not be read).
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// Path asked for → its owner. Paths no package owns are absent.
    pub owners: BTreeMap<PathBuf, Owner>,
    /// Things the user should know.
    pub notes: Vec<String>,
}

/// Reads the Linux package database under `root` now, so that a lookup made
/// later finds it ready (dpkg's lists are read once per root).
pub fn preload(root: &Path) {
    dpkg::preload(root);
}

/// Finds the owners of `paths` (absolute paths as seen from `root`, the
/// target's file system: `/` or a sysroot) in the package databases of
/// `system` under `root`.
pub fn find_owners(root: &Path, system: System, paths: &[PathBuf]) -> Found {
    let mut found = Found::default();
    if paths.is_empty() {
        return found;
    }
    match system {
        System::Linux => {
            let distro = os_release_id(root);
            dpkg::owners(root, distro.as_deref().unwrap_or("debian"), paths, &mut found.owners);
            if found.owners.len() < paths.len() {
                apk::owners(root, distro.as_deref().unwrap_or("alpine"), paths, &mut found.owners);
            }
            if found.owners.len() < paths.len() {
                let rpm = rpm::Rpm::on_path();
                rpm.owners(root, distro.as_deref().unwrap_or("linux"), paths, &mut found);
            }
        }
        System::Macos => brew::owners(root, paths, &mut found.owners),
        System::Windows => vcpkg::owners(root, paths, &mut found.owners),
    }
    found
}

/// The paths under which a Linux package database may list `path`: itself
/// and its `/usr`-merged twin (`/lib/x` and `/usr/lib/x`).
pub(crate) fn spellings(path: &Path) -> Vec<PathBuf> {
    let mut out = vec![path.to_path_buf()];
    if let Ok(rest) = path.strip_prefix("/usr") {
        out.push(Path::new("/").join(rest));
    } else if path.is_absolute() {
        if let Ok(rest) = path.strip_prefix("/") {
            out.push(Path::new("/usr").join(rest));
        }
    }
    out
}

/// `path` (absolute, as the target sees it) on this machine: under `root`.
pub(crate) fn under(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// `ID=` of `etc/os-release` (or `usr/lib/os-release`) under `root`.
fn os_release_id(root: &Path) -> Option<String> {
    ["etc/os-release", "usr/lib/os-release"].iter().find_map(|rel| {
        let text = std::fs::read_to_string(root.join(rel)).ok()?;
        text.lines().find_map(|l| {
            let v = l.strip_prefix("ID=")?.trim().trim_matches(['"', '\'']);
            (!v.is_empty()).then(|| v.to_string())
        })
    })
}

/// Whether `name` can be a file name under `licenses/<package>/`: one
/// plain path component.
pub(crate) fn plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// The licence files directly in `dir` whose names start (case-insensitively)
/// with one of `LICENSE`, `LICENCE`, `COPYING`, `COPYRIGHT`, `NOTICE`,
/// sorted by name.
pub(crate) fn license_files_in(dir: &Path) -> Vec<LicenseFile> {
    let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<LicenseFile> = read
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let upper = name.to_ascii_uppercase();
            let wanted = ["LICENSE", "LICENCE", "COPYING", "COPYRIGHT", "NOTICE"].iter().any(|p| upper.starts_with(p));
            (wanted && plain_name(&name)).then(|| LicenseFile { name, path: e.path() })
        })
        .collect();
    out.sort();
    out
}

/// The licence of the first package an SPDX 2 JSON document (Homebrew's
/// `sbom.spdx.json`, vcpkg's `vcpkg.spdx.json`) describes whose `name` is
/// `package`: its `licenseConcluded`, else its `licenseDeclared` (not
/// `NOASSERTION`/`NONE`).
pub(crate) fn spdx_json_license(path: &Path, package: &str) -> Option<License> {
    let text = std::fs::read(path).ok()?;
    let doc: serde_json::Value = serde_json::from_slice(&text).ok()?;
    let packages = doc.get("packages")?.as_array()?;
    let p = packages.iter().find(|p| p.get("name").and_then(|n| n.as_str()) == Some(package))?;
    ["licenseConcluded", "licenseDeclared"].iter().find_map(|k| {
        let v = p.get(*k)?.as_str()?.trim();
        (!v.is_empty() && v != "NOASSERTION" && v != "NONE").then(|| License::Spdx(v.to_string()))
    })
}

#[cfg(test)]
mod tests;
