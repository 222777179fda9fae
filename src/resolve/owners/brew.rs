//! Homebrew: a library inside a keg, `…/Cellar/<formula>/<version>/lib/…`
//! (or reached through a link to one, as `/opt/homebrew/opt/<formula>/lib/…`
//! is), belongs to that formula at that version. The keg's top holds its
//! licence files (`LICENSE*`, `COPYING*`, …) and `INSTALL_RECEIPT.json`
//! (the architecture it was built for); a keg that also has Homebrew's
//! `sbom.spdx.json` gives the formula's licence.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::{license_files_in, spdx_json_license, Owner};

/// The keg holding `path` (after following links): (keg directory,
/// formula, version).
pub fn keg_of(path: &Path) -> Option<(PathBuf, String, String)> {
    let real = std::fs::canonicalize(path).ok()?;
    let parts: Vec<Component> = real.components().collect();
    // the last `Cellar` with a formula, a version and the file below it
    let at = (0..parts.len().saturating_sub(3)).rev().find(|&i| parts[i].as_os_str() == "Cellar")?;
    let formula = parts[at + 1].as_os_str().to_str()?.to_string();
    let version = parts[at + 2].as_os_str().to_str()?.to_string();
    let keg: PathBuf = parts[..at + 3].iter().collect();
    (super::plain_name(&formula) && super::plain_name(&version)).then_some((keg, formula, version))
}

/// Adds to `out` the formulae whose kegs hold `paths` (files on disk).
pub fn owners(_root: &Path, paths: &[PathBuf], out: &mut BTreeMap<PathBuf, Owner>) {
    for path in paths {
        let Some((keg, formula, version)) = keg_of(path) else { continue };
        let receipt: Option<serde_json::Value> =
            std::fs::read(keg.join("INSTALL_RECEIPT.json")).ok().and_then(|t| serde_json::from_slice(&t).ok());
        let arch = receipt
            .as_ref()
            .and_then(|r| r.get("arch")?.as_str().map(str::to_string))
            .filter(|a| super::plain_name(a))
            .unwrap_or_default();
        out.insert(
            path.clone(),
            Owner {
                kind: "brew",
                namespace: String::new(),
                license: spdx_json_license(&keg.join("sbom.spdx.json"), &formula),
                license_files: license_files_in(&keg),
                package: formula,
                version,
                arch,
            },
        );
    }
}
