//! apk: `lib/apk/db/installed`, paragraphs of `P:` name, `V:` version, `A:`
//! arch, `L:` licence (an SPDX expression), `F:` directory and `R:` file
//! lines. A package's licence files are those it lists under
//! `usr/share/licenses/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{plain_name, spellings, License, LicenseFile, Owner};

/// Adds to `out` the owners apk's database under `root` knows among `paths`.
pub fn owners(root: &Path, distro: &str, paths: &[PathBuf], out: &mut BTreeMap<PathBuf, Owner>) {
    let Ok(db) = std::fs::read_to_string(root.join("lib/apk/db/installed")) else { return };
    let mut wanted: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    for p in paths.iter().filter(|p| !out.contains_key(*p)) {
        for s in spellings(p) {
            wanted.entry(s).or_insert_with(|| p.clone());
        }
    }
    for para in db.split("\n\n") {
        let (mut name, mut version, mut arch, mut license, mut dir) = ("", "", "", "", "");
        let mut files: Vec<PathBuf> = Vec::new();
        for line in para.lines() {
            match line.split_once(':') {
                Some(("P", v)) => name = v,
                Some(("V", v)) => version = v,
                Some(("A", v)) => arch = v,
                Some(("L", v)) => license = v,
                Some(("F", v)) => dir = v,
                Some(("R", v)) => files.push(Path::new("/").join(dir).join(v)),
                _ => {}
            }
        }
        let owned: Vec<&PathBuf> = files.iter().filter_map(|f| wanted.get(f)).collect();
        if owned.is_empty() {
            continue;
        }
        let license_files = licence_files(root, &files);
        let license = (!license.trim().is_empty()).then(|| License::Spdx(license.trim().to_string()));
        for asked in owned {
            out.entry(asked.clone()).or_insert_with(|| Owner {
                kind: "apk",
                namespace: distro.to_string(),
                package: name.to_string(),
                version: version.to_string(),
                arch: arch.to_string(),
                license: license.clone(),
                license_files: license_files.clone(),
            });
        }
    }
}

/// The files of `files` (a package's, absolute) under `/usr/share/licenses/`
/// that exist under `root`, named by their file name.
fn licence_files(root: &Path, files: &[PathBuf]) -> Vec<LicenseFile> {
    let mut out: Vec<LicenseFile> = files
        .iter()
        .filter(|f| f.starts_with("/usr/share/licenses"))
        .filter_map(|f| {
            let name = f.file_name()?.to_str()?.to_string();
            let path = super::under(root, f);
            (plain_name(&name) && path.is_file()).then_some(LicenseFile { name, path })
        })
        .collect();
    out.sort();
    out.dedup_by(|a, b| a.name == b.name);
    out
}
