//! The licence and copyright files of the packages that own the libraries a
//! repair bundles, copied into the wheel as PEP 639 lays them out:
//! `<dist-info>/licenses/<package>/<file>` (e.g. `licenses/zlib1g/copyright`),
//! listed in RECORD like every entry, and named by `License-File:` lines in
//! `METADATA` when its `Metadata-Version` is 2.4 or later. Older metadata is
//! not rewritten (the files are still copied): that field does not exist
//! before 2.4, and raising the version would promise every other rule of 2.4.
//!
//! A library no package owns (one the project built) brings no file, so a
//! repair that bundles only such libraries writes what it wrote before.

use std::collections::BTreeMap;

use super::sbom::Grafted;
use crate::plan::AddedFile;
use crate::wheel::WheelArchive;

/// What licences add to a repaired wheel.
#[derive(Debug, Clone, Default)]
pub struct Licenses {
    /// The licence files, one entry each.
    pub added: Vec<AddedFile>,
    /// The new `METADATA` (its entry index in the input, and content), when
    /// it gains `License-File:` lines.
    pub metadata: Option<(usize, AddedFile)>,
    /// Things the user should know (a file that could not be copied).
    pub notes: Vec<String>,
}

/// The licence files of the owners of `grafted` for the wheel `archive`;
/// `metadata` is the `METADATA` text the output will have otherwise (the
/// input's, unless the plan replaces it).
pub fn for_grafted(archive: &WheelArchive, grafted: &[Grafted], metadata: Option<&[u8]>) -> Licenses {
    let dist_info = archive.dist_info_dir();
    let mut out = Licenses::default();
    // entry name → (path under licenses/, file on disk), one per name
    let mut files: BTreeMap<String, (String, &std::path::Path)> = BTreeMap::new();
    for owner in grafted.iter().filter_map(|g| g.owner.as_ref()) {
        if !crate::resolve::owners::plain_name(&owner.package) {
            continue;
        }
        for f in &owner.license_files {
            let rel = format!("{}/{}", owner.package, f.name);
            let entry = format!("{dist_info}/licenses/{rel}");
            if archive.entry_by_name(&entry).is_some() {
                out.notes.push(format!(
                    "`{entry}` is already in the wheel: the licence of `{}` is not copied",
                    owner.package
                ));
                continue;
            }
            files.entry(entry).or_insert((rel, f.path.as_path()));
        }
    }
    let mut listed = Vec::new();
    for (entry, (rel, path)) in files {
        match std::fs::read(path) {
            Ok(data) => {
                out.added.push(AddedFile::new(entry, data, Some(0o644)));
                listed.push(rel);
            }
            Err(e) => out.notes.push(format!("the licence file `{}` could not be read: {e}", path.display())),
        }
    }
    let name = format!("{dist_info}/METADATA");
    if let (Some(e), Some(text)) = (archive.entry_by_name(&name), metadata) {
        let text = String::from_utf8_lossy(text);
        if let Some(new) = crate::wheel::metadata::with_license_files(&text, &listed) {
            out.metadata = Some((e.index, AddedFile::new(name, new.into_bytes(), e.unix_mode)));
        }
    }
    out
}
