//! Libraries that other distributions provide (`--site-packages`): the
//! wheel links them where those distributions install them, so its
//! `METADATA` must require each of them. A requirement already there (any
//! specifier, names compared as PEP 503 normalises them) is left as written;
//! a missing one is added as `Requires-Dist: <name>>=<installed version>`
//! (its public part: a local label such as `+cu121` is not allowed there)
//! with a warning, or is an error with `--no-add-requires`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{AddedFile, Plan, PlanOptions};
use crate::analyze::{Analysis, Contents, Listing, NodeKind, Wanted};
use crate::error::{Error, Reason, Result};
use crate::resolve::providers::{normalize_name, Distribution};
use crate::resolve::{wheel_parent, wheel_relpath};

/// The distributions of the linked libraries, with the names of the libraries each provides.
fn providers(a: &Analysis) -> BTreeMap<Arc<Distribution>, Vec<String>> {
    let mut out: BTreeMap<Arc<Distribution>, Vec<String>> = BTreeMap::new();
    for (n, _) in a.linked() {
        if let NodeKind::Linked(p) = &a.graph.nodes[n].kind {
            out.entry(p.dist.clone()).or_default().push(a.graph.nodes[n].name.clone());
        }
    }
    out
}

/// The `METADATA` entry of the wheel, when some library is linked.
fn metadata_entry(a: &Analysis, listing: &Listing) -> Option<usize> {
    if a.linked().is_empty() {
        return None;
    }
    listing.entry_by_name(&format!("{}/METADATA", listing.dist_info)).map(|e| e.index)
}

/// Adds what [`require`] reads to `wanted`.
pub(super) fn wanted(a: &Analysis, listing: &Listing, wanted: &mut Wanted) {
    wanted.entries.extend(metadata_entry(a, listing));
}

/// Makes the planned wheel require the distributions whose libraries it
/// links: `METADATA` replaced with the missing `Requires-Dist` lines added,
/// a warning each; with `add_requires` off, an error listing them.
pub(super) fn require(a: &Analysis, contents: &Contents, options: &PlanOptions, plan: &mut Plan) -> Result<()> {
    let Some(index) = metadata_entry(a, &contents.listing) else { return Ok(()) };
    let text = String::from_utf8_lossy(contents.entry(index)?).into_owned();
    let have: Vec<String> = crate::wheel::metadata::required_names(&text).iter().map(|n| normalize_name(n)).collect();
    let mut missing = Vec::new();
    for (dist, libs) in providers(a) {
        if !have.contains(&normalize_name(&dist.name)) {
            // a local version label (`+cu121`) is not allowed in a `>=` specifier
            let public = dist.version.split('+').next().unwrap_or(&dist.version);
            missing.push((format!("{}>={public}", dist.name), libs));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    if !options.add_requires {
        let lines = missing.iter().map(|(r, _)| format!("Requires-Dist: {r}")).collect();
        return Err(Error::cannot_repair(a.wheel.display().to_string(), Reason::MissingRequirement { lines }));
    }
    let mut new = text;
    for (requirement, libs) in &missing {
        new = crate::wheel::metadata::add_requires_dist(&new, requirement);
        plan.messages.push(format!(
            "warning: added `Requires-Dist: {requirement}` to METADATA: the wheel links {} from it",
            libs.join(", ")
        ));
    }
    let name = contents.listing.entries[index].name.clone();
    plan.replaced.insert(index, AddedFile::new(name, new.into_bytes(), contents.listing.unix_mode(index)));
    Ok(())
}

/// The directories (relative to site-packages) of the libraries node `n`
/// links from other distributions, in reference order, without repeats.
pub fn linked_dirs(a: &Analysis, n: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in &a.graph.nodes[n].deps {
        if let NodeKind::Linked(p) = &a.graph.nodes[e.node].kind {
            let dir = p.rel_dir().to_string();
            if !out.contains(&dir) {
                out.push(dir);
            }
        }
    }
    out
}

/// The paths from a file installed at `install` (relative to site-packages)
/// to the directories of the libraries node `n` links (`../nvidia/cuda_runtime/lib`).
pub fn relative_links(a: &Analysis, n: usize, install: &str) -> Vec<String> {
    linked_dirs(a, n).iter().map(|d| wheel_relpath(d, wheel_parent(install))).collect()
}
