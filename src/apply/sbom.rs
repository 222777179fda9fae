//! A software bill of materials for the libraries a repair grafts into a
//! wheel: `<dist-info>/sboms/wheelfix.cdx.json`, CycloneDX 1.4 JSON, as
//! auditwheel writes `sboms/auditwheel.cdx.json`.
//!
//! The wheel itself is the root component (`pkg:pypi/<name>@<version>?file_name=<wheel>`);
//! every grafted library is a component with the SHA-256 of the file that
//! was copied (before patching: the bytes the OS package shipped) and, when
//! the OS package database knows the file, the package's name, version and
//! purl (`pkg:deb/<distro>/<package>@<version>?arch=<arch>`, or `pkg:apk/…`).
//! A library no package owns (built by the project, found with `--lib-path`)
//! is still listed, by file name and hash, without a purl.
//!
//! The package database is read directly: dpkg's `var/lib/dpkg/status` and
//! the `var/lib/dpkg/info/*.list` files, or apk's `lib/apk/db/installed`,
//! under the `--sysroot` when one is given. No subprocess is run. rpm's
//! database (SQLite/Berkeley DB) is not read. The list of dpkg's `.list`
//! files and its `status` are read once ([`preload`], while the wheel is
//! analysed) and read again only when the modification time of `info/` or
//! `status`, or the size of `status`, changes.
//!
//! The document has no timestamp and no random serial number, and its
//! arrays are sorted, so the same input gives the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rayon::prelude::*;

use serde_json::{json, Value};
use sha2::Digest;

/// The OS package that owns a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The purl type: `deb` or `apk`.
    pub kind: &'static str,
    /// The distribution (`ID` of `os-release`), e.g. `debian`.
    pub distro: String,
    /// The package name, e.g. `libffi8`.
    pub package: String,
    /// The package version, e.g. `3.4.4-1`.
    pub version: String,
    /// The package architecture, e.g. `amd64` (empty when unknown).
    pub arch: String,
}

impl Owner {
    /// The package URL.
    pub fn purl(&self) -> String {
        let mut s = format!(
            "pkg:{}/{}/{}@{}",
            self.kind,
            purl_quote(&self.distro),
            purl_quote(&self.package),
            purl_quote(&self.version)
        );
        if !self.arch.is_empty() {
            s.push_str("?arch=");
            s.push_str(&purl_quote(&self.arch));
        }
        s
    }
}

/// Percent-encodes everything but ASCII letters, digits and `.-_~` (purl components).
fn purl_quote(s: &str) -> String {
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

/// The paths under which the package database may list `path`: itself and its
/// `/usr`-merged twin (`/lib/x` and `/usr/lib/x`).
fn spellings(path: &Path) -> Vec<PathBuf> {
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

/// What an SBOM looks up in dpkg's database under one root, read once: the
/// `.list` files (sorted) and the `status` text; and the distribution.
#[derive(Debug)]
struct Dpkg {
    /// Modification times of `info/` and `status`, and the size of
    /// `status`, when they were read.
    stamp: Stamp,
    distro: Option<String>,
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
    let db = Arc::new(Dpkg { stamp, distro: os_release_id(root), lists, status });
    *last = Some((root.to_path_buf(), db.clone()));
    db
}

/// The `.list` files of the packages `status` describes, sorted, named the
/// way dpkg's multiarch database (`info/format` is `1`) names them:
/// `NAME:ARCH.list` for a `Multi-Arch: same` package, `NAME.list` for any
/// other. Listing `info/` instead (thousands of files) costs a few
/// milliseconds. `None` for any other database format, or when `status`
/// names no package: the caller lists the directory.
fn lists_named_in(info: &Path, status: &str) -> Option<Vec<PathBuf>> {
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

/// Reads the package database under `root` now, so that the SBOM of a
/// repair made meanwhile finds it ready (see [`find_owners`]).
pub fn preload(root: &Path) {
    let _ = dpkg_db(root);
}

/// Finds the owners of `paths` (absolute paths as seen from `root`, the
/// target's file system: `/` or a sysroot) in the package database under
/// `root`. Paths no package owns are absent from the result. Unreadable or
/// absent databases give an empty result: an SBOM without package data is
/// still written.
pub fn find_owners(root: &Path, paths: &[PathBuf]) -> BTreeMap<PathBuf, Owner> {
    let db = dpkg_db(root);
    let distro = db.distro.as_deref();
    // spelling → the path asked for
    let mut wanted: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    for p in paths {
        for s in spellings(p) {
            wanted.entry(s).or_insert_with(|| p.clone());
        }
    }
    let mut out = BTreeMap::new();
    if wanted.is_empty() {
        return out;
    }
    dpkg_owners(&db, distro.unwrap_or("debian"), &wanted, &mut out);
    if out.len() < paths.len() {
        apk_owners(root, distro.unwrap_or("alpine"), &wanted, &mut out);
    }
    out
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

/// dpkg: `status` gives (package, arch) → version; each `info/<pkg>[:<arch>].list`
/// lists the package's files. Only lines of the wanted paths are kept.
fn dpkg_owners(db: &Dpkg, distro: &str, wanted: &BTreeMap<PathBuf, PathBuf>, out: &mut BTreeMap<PathBuf, Owner>) {
    let lists = &db.lists;
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
    // First the lists of the packages named like the libraries (libffi.so.8
    // → libffi8, libffi-dev, …), then, for what is still unowned, all others.
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
    let hits = if asked.iter().all(|a| found.contains(a)) { first } else { [first, scan(&rest)].concat() };
    if hits.is_empty() {
        return;
    }
    let Some(status) = db.status.as_deref() else { return };
    // (package, arch) → version, for the installed packages among the owners
    let owners: BTreeSet<&str> = hits.iter().map(|(_, stem)| stem.split(':').next().unwrap_or(stem)).collect();
    // only the paragraphs of those packages are read: found by their
    // `Package:` line rather than by splitting the whole file
    let mut installed: BTreeMap<(String, String), String> = BTreeMap::new();
    for pkg in &owners {
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
            out.insert(asked, Owner { kind: "deb", distro: distro.to_string(), package: pkg, version, arch });
        }
    }
}

/// apk: `lib/apk/db/installed`, paragraphs of `P:` name, `V:` version, `A:` arch,
/// `F:` directory and `R:` file lines.
fn apk_owners(root: &Path, distro: &str, wanted: &BTreeMap<PathBuf, PathBuf>, out: &mut BTreeMap<PathBuf, Owner>) {
    let Ok(db) = std::fs::read_to_string(root.join("lib/apk/db/installed")) else { return };
    for para in db.split("\n\n") {
        let (mut name, mut version, mut arch, mut dir) = ("", "", "", "");
        let mut files: Vec<PathBuf> = Vec::new();
        for line in para.lines() {
            match line.split_once(':') {
                Some(("P", v)) => name = v,
                Some(("V", v)) => version = v,
                Some(("A", v)) => arch = v,
                Some(("F", v)) => dir = v,
                Some(("R", v)) => files.push(Path::new("/").join(dir).join(v)),
                _ => {}
            }
        }
        for f in files {
            if let Some(asked) = wanted.get(&f) {
                out.entry(asked.clone()).or_insert_with(|| Owner {
                    kind: "apk",
                    distro: distro.to_string(),
                    package: name.to_string(),
                    version: version.to_string(),
                    arch: arch.to_string(),
                });
            }
        }
    }
}

/// One grafted library as the SBOM records it.
#[derive(Debug, Clone)]
pub struct Grafted {
    /// Where it was copied from.
    pub source: PathBuf,
    /// Its entry name in the wheel.
    pub entry: String,
    /// SHA-256 (hex) of the copied file.
    pub sha256: String,
    /// The OS package that owns it, if known.
    pub owner: Option<Owner>,
}

/// The CycloneDX 1.4 document for `wheel_file` (the output file name) of
/// distribution `name` `version`, with `grafted` sorted by entry name.
pub fn document(name: &str, version: &str, wheel_file: &str, grafted: &[Grafted]) -> Value {
    let wheel_purl =
        format!("pkg:pypi/{}@{}?file_name={}", purl_quote(name), purl_quote(version), purl_quote(wheel_file));
    let root = json!({
        "type": "library",
        "bom-ref": wheel_purl,
        "name": name,
        "version": version,
        "purl": wheel_purl,
    });
    let mut sorted: Vec<&Grafted> = grafted.iter().collect();
    sorted.sort_by(|a, b| a.entry.cmp(&b.entry));
    let mut components = vec![root.clone()];
    let mut refs = Vec::new();
    let mut deps = Vec::new();
    for g in sorted {
        let file_name = g.entry.rsplit('/').next().unwrap_or(&g.entry).to_string();
        let original = g.source.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let mut c = serde_json::Map::new();
        c.insert("type".into(), json!("library"));
        match &g.owner {
            Some(o) => {
                let purl = o.purl();
                c.insert("bom-ref".into(), json!(format!("{purl}#{file_name}")));
                c.insert("name".into(), json!(o.package));
                c.insert("version".into(), json!(o.version));
                c.insert("purl".into(), json!(purl));
            }
            None => {
                c.insert("bom-ref".into(), json!(format!("file:{}", g.entry)));
                c.insert("name".into(), json!(original));
            }
        }
        c.insert("hashes".into(), json!([{"alg": "SHA-256", "content": g.sha256}]));
        c.insert(
            "properties".into(),
            json!([
                {"name": "wheelfix:file", "value": original},
                {"name": "wheelfix:grafted-as", "value": g.entry},
            ]),
        );
        let bom_ref = c["bom-ref"].clone();
        refs.push(bom_ref.clone());
        deps.push(json!({"ref": bom_ref}));
        components.push(Value::Object(c));
    }
    let mut dependencies = vec![json!({"ref": wheel_purl, "dependsOn": refs})];
    dependencies.extend(deps);
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.4",
        "version": 1,
        "metadata": {
            "component": root,
            "tools": [{"name": "wheelfix", "version": env!("CARGO_PKG_VERSION")}],
        },
        "components": components,
        "dependencies": dependencies,
    })
}

/// The entry name of the SBOM in a wheel whose dist-info directory is `dist_info`.
pub fn entry_name(dist_info: &str) -> String {
    format!("{dist_info}/sboms/wheelfix.cdx.json")
}

/// Adds the SBOM of `plan.bundled` to a Linux repair plan (nothing when no
/// library is grafted). `root` is where the package database is looked up.
pub fn attach(
    archive: &crate::wheel::WheelArchive,
    plan: &mut crate::plan::Plan,
    root: &Path,
) -> crate::error::Result<()> {
    if let Some(file) = for_plan(archive, plan, root)? {
        plan.added.push(file);
    }
    Ok(())
}

/// The SBOM file of `plan.bundled` (entry name, content, mode), `None` when no
/// library is grafted: what [`attach`] adds.
pub fn for_plan(
    archive: &crate::wheel::WheelArchive,
    plan: &crate::plan::Plan,
    root: &Path,
) -> crate::error::Result<Option<crate::plan::AddedFile>> {
    if plan.bundled.is_empty() {
        return Ok(None);
    }
    let sources: Vec<PathBuf> = plan.bundled.iter().map(|b| b.source.clone()).collect();
    // the database lists paths of the target file system: strip a sysroot
    let in_root = |p: &Path| -> PathBuf {
        match p.strip_prefix(root) {
            Ok(rest) if root != Path::new("/") => Path::new("/").join(rest),
            _ => p.to_path_buf(),
        }
    };
    let lookup: Vec<PathBuf> = sources.iter().map(|p| in_root(p)).collect::<BTreeSet<_>>().into_iter().collect();
    let owners = find_owners(root, &lookup);
    let mut grafted = Vec::new();
    for crate::plan::Bundled { source: src, entry } in &plan.bundled {
        let digest: [u8; 32] = match plan.digests.get(src) {
            Some(d) => *d,
            None => sha2::Sha256::digest(std::fs::read(src).map_err(|e| crate::error::Error::io(src, e))?).into(),
        };
        grafted.push(Grafted {
            source: src.clone(),
            entry: entry.clone(),
            sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
            owner: owners.get(&in_root(src)).cloned(),
        });
    }
    let f = archive.filename();
    let doc = document(&f.name, &f.version, &plan.filename, &grafted);
    let mut text = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    text.push(b'\n');
    Ok(Some(crate::plan::AddedFile::new(entry_name(archive.dist_info_dir()), text, Some(0o644))))
}

#[cfg(test)]
mod tests;
