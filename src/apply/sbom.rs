//! A software bill of materials for the libraries a repair grafts into a
//! wheel: `<dist-info>/sboms/wheelfix.cdx.json`, CycloneDX 1.4 JSON, as
//! auditwheel writes `sboms/auditwheel.cdx.json`; on Linux, macOS and
//! Windows repairs alike (and merged by `merge`, [`merge_documents`]).
//!
//! The wheel itself is the root component (`pkg:pypi/<name>@<version>?file_name=<wheel>`);
//! every grafted library is a component with the SHA-256 of the file that
//! was copied (before patching: the bytes the package shipped) and, when a
//! package database knows the file ([`crate::resolve::owners`]: dpkg, apk,
//! rpm, Homebrew, vcpkg), the package's name, version, purl
//! (`pkg:deb/<distro>/<package>@<version>?arch=<arch>`, `pkg:apk/…`,
//! `pkg:rpm/…`, `pkg:brew/<formula>@<version>`, `pkg:generic/vcpkg/<port>@<version>`)
//! and licence: an SPDX expression as `expression`, a name in another
//! vocabulary (Debian's) as `license.name`. A library no package owns
//! (built by the project, found with `--lib-path`) is still listed, by file
//! name and hash, without a purl.
//!
//! The document has no timestamp and no random serial number, and its
//! arrays are sorted, so the same input gives the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::Digest;

pub use crate::resolve::owners::{find_owners, License, Owner, System};
use crate::resolve::owners::{purl_quote, Found};

/// Reads the package database under `root` now, so that the SBOM of a
/// repair made meanwhile finds it ready (see [`find_owners`]).
pub fn preload(root: &Path) {
    crate::resolve::owners::preload(root);
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
                match &o.license {
                    Some(License::Spdx(e)) => c.insert("licenses".into(), json!([{"expression": e}])),
                    Some(License::Named(n)) => c.insert("licenses".into(), json!([{"license": {"name": n}}])),
                    None => None,
                };
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
    cyclonedx(root, components, dependencies)
}

/// The entry name of the SBOM in a wheel whose dist-info directory is `dist_info`.
pub fn entry_name(dist_info: &str) -> String {
    format!("{dist_info}/sboms/wheelfix.cdx.json")
}

/// The SBOM of a wheel merged from wheels whose SBOMs are `docs` (as
/// [`document`] writes them), written as `wheel_file`: the root names the
/// new file; a library of both (the same `bom-ref`: the same entry, the
/// same package) is one component with the hashes of both copied files;
/// `None` when a document is not one of ours.
pub fn merge_documents(docs: &[&[u8]], wheel_file: &str) -> Option<Vec<u8>> {
    let mut root: Option<Value> = None;
    let mut by_ref: BTreeMap<String, Value> = BTreeMap::new();
    for d in docs {
        let doc: Value = serde_json::from_slice(d).ok()?;
        let comps = doc.get("components")?.as_array()?;
        let (first, rest) = comps.split_first()?;
        root.get_or_insert_with(|| first.clone());
        for c in rest {
            let key = c.get("bom-ref")?.as_str()?.to_string();
            match by_ref.get_mut(&key) {
                Some(have) => {
                    let more: Vec<Value> = c.get("hashes")?.as_array()?.clone();
                    let hashes = have.get_mut("hashes")?.as_array_mut()?;
                    for h in more {
                        if !hashes.contains(&h) {
                            hashes.push(h);
                        }
                    }
                }
                None => {
                    by_ref.insert(key, c.clone());
                }
            }
        }
    }
    let root = root?;
    let (name, version) = (root.get("name")?.as_str()?, root.get("version")?.as_str()?);
    let purl = format!("pkg:pypi/{}@{}?file_name={}", purl_quote(name), purl_quote(version), purl_quote(wheel_file));
    let root = json!({"type": "library", "bom-ref": purl, "name": name, "version": version, "purl": purl});
    // in entry order, as [`document`] sorts them
    let entry = |c: &Value| c.get("properties").and_then(|p| p.get(1)).and_then(|p| p.get("value")).cloned();
    let mut comps: Vec<Value> = by_ref.into_values().collect();
    comps.sort_by_key(|c| entry(c).and_then(|v| v.as_str().map(str::to_string)));
    let refs: Vec<Value> = comps.iter().filter_map(|c| c.get("bom-ref").cloned()).collect();
    let mut dependencies = vec![json!({"ref": purl, "dependsOn": refs})];
    dependencies.extend(refs.iter().map(|r| json!({"ref": r})));
    let mut components = vec![root.clone()];
    components.extend(comps);
    let doc = cyclonedx(root, components, dependencies);
    let mut text = serde_json::to_vec_pretty(&doc).ok()?;
    text.push(b'\n');
    Some(text)
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

/// The SBOM file of `plan.bundled` (entry name, content, mode) of a Linux
/// repair, `None` when no library is grafted: what [`attach`] adds.
pub fn for_plan(
    archive: &crate::wheel::WheelArchive,
    plan: &crate::plan::Plan,
    root: &Path,
) -> crate::error::Result<Option<crate::plan::AddedFile>> {
    let (grafted, _) = grafted(plan, root, System::Linux)?;
    Ok(file(archive, plan, &grafted))
}

/// The SBOM file of `grafted`, the libraries `plan` bundles; `None` when
/// there are none.
pub fn file(
    archive: &crate::wheel::WheelArchive,
    plan: &crate::plan::Plan,
    grafted: &[Grafted],
) -> Option<crate::plan::AddedFile> {
    if grafted.is_empty() {
        return None;
    }
    let f = archive.filename();
    let doc = document(&f.name, &f.version, &plan.filename, grafted);
    let mut text = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    text.push(b'\n');
    Some(crate::plan::AddedFile::new(entry_name(archive.dist_info_dir()), text, Some(0o644)))
}

/// The libraries `plan` bundles, hashed, with their owners in the package
/// databases of `system` under `root` (`/` or the sysroot); and notes for
/// the user about databases that could not be read.
pub fn grafted(
    plan: &crate::plan::Plan,
    root: &Path,
    system: System,
) -> crate::error::Result<(Vec<Grafted>, Vec<String>)> {
    if plan.bundled.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    // a Linux database lists paths of the target file system: strip a
    // sysroot; Homebrew kegs and vcpkg trees are found from the path on disk
    let in_root = |p: &Path| -> PathBuf {
        match p.strip_prefix(root) {
            Ok(rest) if system == System::Linux && root != Path::new("/") => Path::new("/").join(rest),
            _ => p.to_path_buf(),
        }
    };
    let lookup: Vec<PathBuf> =
        plan.bundled.iter().map(|b| in_root(&b.source)).collect::<BTreeSet<_>>().into_iter().collect();
    let Found { owners, notes } = find_owners(root, system, &lookup);
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
    Ok((grafted, notes))
}

/// The CycloneDX document of a wheel: its `root` component, the
/// `components` it holds and their `dependencies`.
fn cyclonedx(root: Value, components: Vec<Value>, dependencies: Vec<Value>) -> Value {
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

#[cfg(test)]
mod tests;
