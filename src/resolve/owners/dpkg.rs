//! dpkg: `var/lib/dpkg/status` (installed packages and their versions) and
//! `var/lib/dpkg/info/*.list` (each package's files); the licence is
//! `usr/share/doc/<package>/copyright`, whose `License:` of the `Files: *`
//! paragraph is read when it is in Debian's machine-readable format.
//!
//! The list of `.list` files and `status` are read once ([`preload`], while
//! the wheel is analysed) and read again only when the modification time of
//! `info/` or `status`, or the size of `status`, changes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rayon::prelude::*;

use super::{spellings, License, LicenseFile, Owner};

/// What is looked up in dpkg's database under one root, read once: the
/// `.list` files (sorted) and the `status` text.
#[derive(Debug)]
struct Dpkg {
    /// Modification times of `info/` and `status`, and the size of
    /// `status`, when they were read.
    stamp: Stamp,
    lists: Vec<PathBuf>,
    status: Option<String>,
}

/// What says whether a [`Dpkg`] read is still current.
type Stamp = (Option<SystemTime>, Option<(SystemTime, u64)>);

/// The [`Stamp`] of the database under `root` now.
fn dpkg_stamp(root: &Path) -> Stamp {
    let dpkg = root.join("var/lib/dpkg");
    let info = std::fs::metadata(dpkg.join("info")).and_then(|m| m.modified()).ok();
    let status = std::fs::metadata(dpkg.join("status")).and_then(|m| Ok((m.modified()?, m.len()))).ok();
    (info, status)
}

/// The database under `root`, read now or taken from the last read of the
/// same root when nothing changed since. A caller that comes while another
/// reads it waits for that read instead of making its own.
fn dpkg_db(root: &Path) -> Arc<Dpkg> {
    static LAST: Mutex<Option<(PathBuf, Arc<Dpkg>)>> = Mutex::new(None);
    let mut last = crate::sync::locked(&LAST);
    let stamp = dpkg_stamp(root);
    if let Some((r, db)) = last.as_ref() {
        if r == root && db.stamp == stamp {
            return db.clone();
        }
    }
    let dpkg = root.join("var/lib/dpkg");
    let info = dpkg.join("info");
    let status = std::fs::read_to_string(dpkg.join("status")).ok();
    let lists = match status.as_deref().and_then(|s| lists_named_in(&info, s)) {
        Some(lists) => lists,
        None => {
            let mut lists: Vec<PathBuf> = match std::fs::read_dir(&info) {
                Ok(dir) => dir
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "list"))
                    .collect(),
                Err(_) => Vec::new(),
            };
            lists.sort();
            lists
        }
    };
    let db = Arc::new(Dpkg { stamp, lists, status });
    *last = Some((root.to_path_buf(), db.clone()));
    db
}

/// The `.list` files of the packages `status` describes, sorted, named the
/// way dpkg's multiarch database (`info/format` is `1`) names them:
/// `NAME:ARCH.list` for a `Multi-Arch: same` package, `NAME.list` for any
/// other. Listing `info/` instead (thousands of files) costs a few
/// milliseconds. `None` for any other database format, or when `status`
/// names no package: the caller lists the directory.
pub(super) fn lists_named_in(info: &Path, status: &str) -> Option<Vec<PathBuf>> {
    let format = std::fs::read_to_string(info.join("format")).ok()?;
    if format.trim() != "1" {
        return None;
    }
    // paragraphs and fields are found with memmem: the file is large (about
    // 750 KB here) and most of it is descriptions
    let plain = |v: &&str| !v.is_empty() && !v.contains(['/', '\0']);
    let mut names = Vec::new();
    let mut rest = status;
    while !rest.is_empty() {
        let end = memchr::memmem::find(rest.as_bytes(), b"\n\n").map_or(rest.len(), |e| e + 1);
        let para = &rest[..end];
        rest = rest[end..].trim_start_matches('\n');
        let Some(name) = deb_field(para, "Package").filter(plain) else { continue };
        let same = deb_field(para, "Multi-Arch") == Some("same");
        names.push(match deb_field(para, "Architecture").filter(|a| same && plain(a)) {
            Some(arch) => format!("{name}:{arch}.list"),
            None => format!("{name}.list"),
        });
    }
    if names.is_empty() {
        return None;
    }
    names.sort_unstable();
    names.dedup();
    Some(names.into_iter().map(|n| info.join(n)).collect())
}

/// The value of field `name` in `para`, one paragraph of a dpkg `status`
/// file (a line `NAME: value`; continuation lines start with a space, so a
/// field is always at the start of a line).
fn deb_field<'a>(para: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("\n{name}:");
    let at = match para.strip_prefix(&key[1..]) {
        Some(_) => key.len() - 1,
        None => memchr::memmem::find(para.as_bytes(), key.as_bytes())? + key.len(),
    };
    let rest = &para[at..];
    Some(rest[..rest.find('\n').unwrap_or(rest.len())].trim())
}

/// Reads the database under `root` now (see [`super::preload`]).
pub fn preload(root: &Path) {
    let _ = dpkg_db(root);
}

/// The lines of the wanted paths in the lists, as (path asked for, list
/// stem): the lists of packages named like the libraries first (libffi.so.8
/// → libffi8, libffi-dev, …), then, for what is still unowned, all others.
fn scan_lists(lists: &[PathBuf], wanted: &BTreeMap<PathBuf, PathBuf>) -> Vec<(PathBuf, String)> {
    // A system has hundreds of lists (tens of MB): they are read in parallel,
    // and only those holding one of the wanted file names are split into lines.
    let names: BTreeSet<Vec<u8>> =
        wanted.keys().filter_map(|p| p.file_name()).map(|n| n.as_encoded_bytes().to_vec()).collect();
    let finders: Vec<memchr::memmem::Finder> = names.iter().map(memchr::memmem::Finder::new).collect();
    let scan = |lists: &[&PathBuf]| -> Vec<(PathBuf, String)> {
        let hits: Vec<Vec<(PathBuf, String)>> = lists
            .par_iter()
            .map(|list| {
                let Some(stem) = list.file_stem().and_then(|s| s.to_str()) else { return Vec::new() };
                let Ok(bytes) = std::fs::read(list) else { return Vec::new() };
                if !finders.iter().any(|f| f.find(&bytes).is_some()) {
                    return Vec::new();
                }
                let text = String::from_utf8_lossy(&bytes);
                text.lines()
                    .filter_map(|line| wanted.get(Path::new(line)).map(|asked| (asked.clone(), stem.to_string())))
                    .collect()
            })
            .collect();
        hits.into_iter().flatten().collect()
    };
    let stems: BTreeSet<String> = names
        .iter()
        .filter_map(|n| std::str::from_utf8(n).ok())
        .map(|n| n.split(['.', '-']).next().unwrap_or(n).to_ascii_lowercase())
        .filter(|s| s.len() >= 3)
        .collect();
    let (likely, rest): (Vec<&PathBuf>, Vec<&PathBuf>) = lists.iter().partition(|l| {
        l.file_stem().and_then(|s| s.to_str()).is_some_and(|s| stems.iter().any(|p| s.starts_with(p.as_str())))
    });
    let asked: BTreeSet<&PathBuf> = wanted.values().collect();
    let first = scan(&likely);
    let found: BTreeSet<&PathBuf> = first.iter().map(|(a, _)| a).collect();
    if asked.iter().all(|a| found.contains(a)) {
        first
    } else {
        [first, scan(&rest)].concat()
    }
}

/// (package, arch) → version of the installed packages among `owners`,
/// read from their paragraphs of `status` (found by their `Package:` line
/// rather than by splitting the whole file).
fn installed_versions(status: &str, owners: &BTreeSet<&str>) -> BTreeMap<(String, String), String> {
    let mut installed = BTreeMap::new();
    for pkg in owners {
        let line = format!("\nPackage: {pkg}\n");
        // paragraph starts: after a newline, or the file's first line
        let first = status.starts_with(&line[1..]).then_some(0);
        let later = memchr::memmem::find_iter(status.as_bytes(), line.as_bytes()).map(|at| at + 1);
        for start in first.into_iter().chain(later) {
            let para = &status[start..];
            let para = &para[..para.find("\n\n").unwrap_or(para.len())];
            let field = |name: &str| deb_field(para, name);
            let Some(ver) = field("Version") else { continue };
            if !field("Status").is_some_and(|s| s.ends_with(" installed")) {
                continue;
            }
            installed.insert((pkg.to_string(), field("Architecture").unwrap_or("").to_string()), ver.to_string());
        }
    }
    installed
}

/// Adds to `out` the owners dpkg's database under `root` knows among
/// `paths`, with their copyright files.
pub fn owners(root: &Path, distro: &str, paths: &[PathBuf], out: &mut BTreeMap<PathBuf, Owner>) {
    let db = dpkg_db(root);
    // spelling → the path asked for
    let mut wanted: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    for p in paths.iter().filter(|p| !out.contains_key(*p)) {
        for s in spellings(p) {
            wanted.entry(s).or_insert_with(|| p.clone());
        }
    }
    if wanted.is_empty() {
        return;
    }
    let hits = scan_lists(&db.lists, &wanted);
    if hits.is_empty() {
        return;
    }
    let Some(status) = db.status.as_deref() else { return };
    let owners: BTreeSet<&str> = hits.iter().map(|(_, stem)| stem.split(':').next().unwrap_or(stem)).collect();
    let installed = installed_versions(status, &owners);
    // in the order found: the first owner wins
    for (asked, stem) in hits {
        if out.contains_key(&asked) {
            continue;
        }
        let (pkg, arch) = match stem.split_once(':') {
            Some((p, a)) => (p.to_string(), Some(a.to_string())),
            None => (stem.clone(), None),
        };
        let found = match &arch {
            Some(a) => installed.get(&(pkg.clone(), a.clone())).map(|v| (a.clone(), v.clone())),
            None => installed.iter().find(|((p, _), _)| *p == pkg).map(|((_, a), v)| (a.clone(), v.clone())),
        };
        if let Some((arch, version)) = found {
            let (license, license_files) = copyright(root, &pkg);
            out.insert(
                asked,
                Owner {
                    kind: "deb",
                    namespace: distro.to_string(),
                    package: pkg,
                    version,
                    arch,
                    license,
                    license_files,
                },
            );
        }
    }
}

/// The copyright file of `package` under `root`, and the licence its
/// machine-readable form gives to `Files: *`.
fn copyright(root: &Path, package: &str) -> (Option<License>, Vec<LicenseFile>) {
    if !super::plain_name(package) {
        return (None, Vec::new());
    }
    let path = root.join("usr/share/doc").join(package).join("copyright");
    let Ok(text) = std::fs::read(&path) else { return (None, Vec::new()) };
    let license = dep5_license(&String::from_utf8_lossy(&text)).map(License::Named);
    (license, vec![LicenseFile { name: "copyright".into(), path }])
}

/// The `License:` short name of the `Files: *` paragraph of a Debian
/// copyright file in the machine-readable format (`Format:` names
/// `copyright-format`); `None` for a free-form file.
pub(super) fn dep5_license(text: &str) -> Option<String> {
    let text = text.replace("\r\n", "\n");
    let mut paras = text.split("\n\n").map(|p| p.trim_start_matches('\n'));
    let header = paras.next()?;
    if !deb_field(header, "Format").is_some_and(|f| f.contains("copyright-format")) {
        return None;
    }
    let files = paras.find(|p| deb_field(p, "Files") == Some("*"))?;
    let name = deb_field(files, "License")?;
    (!name.is_empty()).then(|| name.to_string())
}
