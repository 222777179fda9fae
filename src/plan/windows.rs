//! The Windows repair plan (delvewheel's rules).
//!
//! 1. A wheel already repaired (`<dist-info>/DELVEWHEEL` or our own
//!    `<dist-info>/WHEELFIX`) is copied through unchanged.
//! 2. Every extension module's PE machine must match the platform tag.
//! 3. Every DLL the analysis found on disk (not provided by Windows or
//!    CPython, not excluded, not already in the wheel) is bundled, plus the
//!    `--include` DLLs; one that cannot be found is an error.
//! 4. They go to `<dist><lib_sdir>/` (default `.libs`), or to
//!    `<dist>-<ver>.data/platlib/` (installed into site-packages itself)
//!    when an extension module is top-level.
//! 5. Names are mangled exactly as delvewheel ≥ 1.11 does: in dependency
//!    order, `sha256(hash(dep1) "\0" hash(dep2) "\0" … file bytes)`, the first
//!    32 hex digits appended to the stem, where the deps are the DLL's
//!    imports then delay imports that are mangled too. The same inputs give
//!    delvewheel's names, so two projects bundling the same DLL share it.
//!    `--no-mangle GLOB` and `--no-mangle-all` keep names.
//! 6. Every wheel binary and bundled DLL that imports a bundled DLL is
//!    rewritten (renamed imports and delay imports; the signature and
//!    `DependentLoadFlags` cleared), stripped first with `--strip` when it
//!    has an overlay.
//! 7. Each top-level package's `__init__.py` gets the runtime block of
//!    [`super::pyinit`] (created when missing, except for namespace
//!    packages, whose modules are patched instead).
//! 8. `<dist-info>/WHEELFIX` records the version and what was bundled; the
//!    file name and tags are unchanged; `RECORD.jws`/`RECORD.p7s` are dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

mod mangle;
mod packages;

pub use mangle::split_ext;
use mangle::{mangle, Names};

use super::{AddedFile, BinaryEdits, Bundled as BundledFile, Plan, PlanOptions, PlanSource, PlannedBinary};
use crate::analyze::{Analysis, Contents, Listing, NodeKind, Wanted, WindowsVerdict};
use crate::binary::pe::PeInfo;
use crate::binary::BinaryInfo;
use crate::error::Reason;
use crate::error::{Error, Result};
use crate::patch::pe::PeEdits;
use crate::patch::PatchError;

pub use crate::policy::windows::MARKER;

/// Windows options of a repair (delvewheel's).
#[derive(Debug, Clone, Default)]
pub struct WindowsOptions {
    /// DLLs (globs) to bundle under their own names.
    pub no_mangle: Vec<String>,
    /// Bundle every DLL under its own name.
    pub no_mangle_all: bool,
    /// DLLs (paths) to bundle even though nothing imports them.
    pub include: Vec<PathBuf>,
    /// Namespace packages (dotted names) whose `__init__.py` must not be created.
    pub namespace_pkgs: Vec<String>,
}

/// A DLL that will be copied into the wheel.
#[derive(Debug, Clone)]
struct Bundled {
    /// The file name as found on disk (case kept).
    name: String,
    /// What is read.
    source: PathBuf,
    /// Its parsed headers.
    info: PeInfo,
    /// Renamed (mangled) on the way in.
    mangle: bool,
}

/// The markers of a wheel delvewheel or wheelfix repaired already: (tool, file).
const REPAIRED_BY: [(&str, &str); 2] = [("delvewheel", "DELVEWHEEL"), ("wheelfix", MARKER)];

/// The top-level directories a Windows wheel's packages sit in.
fn package_roots(a: &Analysis) -> Vec<String> {
    let data_dir = a.filename.data_dir();
    vec![String::new(), format!("{data_dir}/purelib"), format!("{data_dir}/platlib")]
}

/// What the Windows planner reads: the marker of an earlier repair; else the
/// DLLs to bundle and `--include` (whole, for their mangled names and
/// headers), the binaries with an overlay (to try their rewrite), and the
/// Python files the runtime patch may go into: the `__init__.py` of every
/// top-level package, and every module under a namespace package.
pub(super) fn wanted(a: &Analysis, listing: &Listing, options: &WindowsOptions) -> Wanted {
    let mut wanted = Wanted::default();
    for (_, file) in REPAIRED_BY {
        if let Some(e) = listing.entry_by_name(&format!("{}/{file}", listing.dist_info)) {
            wanted.entries.insert(e.index);
            return wanted;
        }
    }
    for n in a.to_bundle() {
        if let NodeKind::Disk { realpath, .. } = &a.graph.nodes[n].kind {
            wanted.whole.insert(realpath.clone());
        }
    }
    wanted.whole.extend(options.include.iter().cloned());
    for b in &a.binaries {
        if matches!(b.info.as_ref(), BinaryInfo::Pe(p) if p.overlay_len > 0) {
            wanted.entries.insert(b.index);
        }
    }
    let namespace_tops: BTreeSet<&str> = options.namespace_pkgs.iter().filter_map(|n| n.split('.').next()).collect();
    for root in package_roots(a) {
        let prefix = if root.is_empty() { String::new() } else { format!("{root}/") };
        for e in listing.entries.iter().filter(|e| !e.is_dir) {
            let Some(rest) = e.name.strip_prefix(&prefix) else { continue };
            let Some((top, below)) = rest.split_once('/') else { continue };
            let init = below.eq_ignore_ascii_case("__init__.py");
            if init || (namespace_tops.contains(top) && below.to_ascii_lowercase().ends_with(".py")) {
                wanted.entries.insert(e.index);
            }
        }
    }
    wanted
}

/// The message for a wheel delvewheel or wheelfix repaired already.
fn already_repaired(contents: &Contents) -> Option<String> {
    let listing = &contents.listing;
    REPAIRED_BY.iter().find_map(|(tool, file)| {
        let e = listing.entry_by_name(&format!("{}/{file}", listing.dist_info))?;
        let text = contents.entry(e.index).map(<[u8]>::to_vec).unwrap_or_default();
        let version = String::from_utf8_lossy(&text)
            .lines()
            .find_map(|l| l.strip_prefix("Version:").map(|v| v.trim().to_string()))
            .unwrap_or_else(|| "?".into());
        Some(format!("{tool} {version} has already repaired this wheel"))
    })
}

/// Builds the plan for a Windows wheel.
pub(super) fn plan(a: &Analysis, v: &WindowsVerdict, contents: &Contents, options: &PlanOptions) -> Result<Plan> {
    let cannot = |reason: Reason| Error::cannot_repair(a.wheel.display().to_string(), reason);
    let filename = a.filename.to_string();
    let platform_tags = a.filename.platform.clone();

    // 1. already repaired
    if let Some(message) = already_repaired(contents) {
        return Ok(Plan { filename, platform_tags, messages: vec![message], ..Plan::default() });
    }

    // 2. machines
    let win_tags: Vec<String> = platform_tags.iter().filter(|p| p.starts_with("win")).cloned().collect();
    if win_tags.len() > 1 {
        return Err(cannot(Reason::ManyWindowsTags { tags: win_tags }));
    }
    let machine = v.machine.ok_or_else(|| cannot(Reason::UnknownWindowsTag { tags: platform_tags.clone() }))?;
    if let Some(b) = v.blockers.first() {
        return Err(cannot(Reason::WrongMachine { blocker: b.clone(), tags: win_tags }));
    }

    // 3. what to bundle
    let mut bundled = to_bundle(a, contents, &options.windows, machine, &win_tags)?;
    let provider_dirs = provider_dirs(a);
    if bundled.is_empty() && provider_dirs.is_empty() {
        let messages = vec!["no external dependencies are needed".into()];
        return Ok(Plan { filename, platform_tags, messages, ..Plan::default() });
    }
    let mut by_lower: BTreeMap<String, usize> = BTreeMap::new();
    for (i, b) in bundled.iter().enumerate() {
        if by_lower.insert(b.name.to_ascii_lowercase(), i).is_some() {
            return Err(cannot(Reason::DllClash { name: b.name.clone() }));
        }
    }

    // 4. placement
    let mut messages = Vec::new();
    let place = Placement::new(a, options.lib_sdir.as_deref(), &mut messages)?;

    // 5. mangling
    let names = mangle(&mut bundled, &by_lower, contents, &options.windows)?;

    // 6. binaries: the bundled DLLs, then the wheel's own PE files
    let mut plan = Plan { filename, platform_tags, ..Plan::default() };
    let binaries =
        Binaries { a, contents, bundled: &bundled, by_lower: &by_lower, names: &names, strip: options.strip };
    binaries.add(&place, &mut plan)?;

    // 7. the runtime patch
    let runtime = Runtime { place: &place, out_names: &names.out, provider_dirs: &provider_dirs };
    runtime_patch(a, contents, &runtime, &options.windows, &mut plan, &mut messages)?;

    // 8. marker, signatures
    let dist_info = &contents.listing.dist_info;
    let libs_entry_dir = &place.libs_entry_dir;
    let mut marker = format!("Version: {}\n", env!("CARGO_PKG_VERSION"));
    for (i, b) in bundled.iter().enumerate() {
        marker.push_str(&format!("Bundled: {} -> {libs_entry_dir}/{}\n", b.name, names.out[i]));
    }
    plan.added.push(AddedFile::new(format!("{dist_info}/{MARKER}"), marker.into_bytes(), Some(0o644)));
    for sig in ["RECORD.jws", "RECORD.p7s"] {
        if let Some(e) = contents.listing.entry_by_name(&format!("{dist_info}/{sig}")) {
            plan.dropped.push(e.index);
            messages.push(format!("wheel signature file {sig} removed"));
        }
    }
    if bundled.is_empty() {
        messages.push(format!(
            "no DLLs to bundle; the DLL directories of other distributions are added at import: {}",
            provider_dirs.join(", ")
        ));
        plan.messages = messages;
        return Ok(plan);
    }
    messages.push(format!(
        "bundled {} DLL(s) into {}: {}",
        bundled.len(),
        if place.top_level_ext { format!("{libs_entry_dir} (site-packages)") } else { libs_entry_dir.clone() },
        names.out.join(", ")
    ));
    plan.messages = messages;
    Ok(plan)
}

/// The DLLs to bundle: every one the analysis found on disk, then the
/// `--include` ones (not walked, their names kept, as delvewheel does).
fn to_bundle(
    a: &Analysis,
    contents: &Contents,
    options: &WindowsOptions,
    machine: u16,
    win_tags: &[String],
) -> Result<Vec<Bundled>> {
    let mut bundled: Vec<Bundled> = Vec::new();
    for n in a.to_bundle() {
        let node = &a.graph.nodes[n];
        match &node.kind {
            NodeKind::Missing => return Err(a.missing_library_error(n)),
            NodeKind::Disk { path, realpath } => {
                let Some(BinaryInfo::Pe(info)) = node.info.as_deref() else { continue };
                let name = path.file_name().map_or_else(|| node.name.clone(), |f| f.to_string_lossy().into_owned());
                bundled.push(Bundled { name, source: realpath.clone(), info: info.clone(), mangle: true });
            }
            _ => {}
        }
    }
    for path in &options.include {
        let data = contents.file(path)?;
        let info = crate::binary::pe::parse(data)
            .map_err(|source| Error::Binary { file: path.display().to_string(), source })?;
        if info.machine != machine {
            let reason = Reason::IncludeMachine { path: path.clone(), machine: info.machine, tags: win_tags.to_vec() };
            return Err(Error::cannot_repair(a.wheel.display().to_string(), reason));
        }
        let name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        if bundled.iter().any(|b| b.name.eq_ignore_ascii_case(&name)) {
            continue;
        }
        bundled.push(Bundled { name, source: path.clone(), info, mangle: false });
    }
    Ok(bundled)
}

/// Where the bundled DLLs go.
struct Placement {
    /// An extension module sits at the top level of site-packages.
    top_level_ext: bool,
    /// The directory of the DLLs in the wheel.
    libs_entry_dir: String,
    /// The same, relative to site-packages.
    libs_site_rel: String,
}

impl Placement {
    /// `<dist><lib_sdir>/` (default `.libs`), or `<dist>-<ver>.data/platlib/`
    /// (site-packages itself) when an extension module is top-level.
    fn new(a: &Analysis, lib_sdir: Option<&str>, messages: &mut Vec<String>) -> Result<Self> {
        let data_dir = a.filename.data_dir();
        let site_rel = |p: &str| -> String {
            for sub in ["platlib/", "purelib/"] {
                if let Some(rest) = p.strip_prefix(&format!("{data_dir}/{sub}")) {
                    return rest.to_string();
                }
            }
            p.to_string()
        };
        let top_level_ext = a.binaries.iter().any(|b| b.is_extension && !site_rel(&b.path).contains('/'));
        let sdir = lib_sdir.unwrap_or(".libs");
        if sdir.ends_with(".dist-info")
            || sdir.ends_with(".data")
            || sdir.ends_with(' ')
            || sdir.ends_with('.')
            || sdir.contains(['/', '\\'])
            || sdir.is_empty()
        {
            return Err(Error::Usage(format!("--lib-sdir `{sdir}`: must not be empty, contain a path separator, or end with `.dist-info`, `.data`, a space or a dot")));
        }
        let (libs_entry_dir, libs_site_rel) = if top_level_ext {
            (format!("{data_dir}/platlib"), ".".to_string())
        } else {
            let d = format!("{}{sdir}", a.filename.name);
            (d.clone(), d)
        };
        if top_level_ext && lib_sdir.is_some() {
            messages
                .push("a top-level extension module: DLLs go to site-packages itself, --lib-sdir is ignored".into());
        }
        Ok(Placement { top_level_ext, libs_entry_dir, libs_site_rel })
    }
}

/// The binaries of a Windows plan: the bundled DLLs and the wheel's PE
/// files that import one, with their imports renamed.
struct Binaries<'a> {
    a: &'a Analysis,
    contents: &'a Contents,
    bundled: &'a [Bundled],
    by_lower: &'a BTreeMap<String, usize>,
    names: &'a Names,
    strip: bool,
}

impl Binaries<'_> {
    /// The edits of a PE file, and whether it imports a bundled DLL.
    fn edits_for(&self, info: &PeInfo) -> (PeEdits, bool) {
        let mut edits = PeEdits::new();
        let mut uses_bundled = false;
        for name in info.needed() {
            let lower = name.to_ascii_lowercase();
            if self.by_lower.contains_key(&lower) {
                uses_bundled = true;
            }
            if let Some(new) = self.names.renames.get(&lower) {
                edits = edits.replace(name, new.clone());
            }
        }
        (edits, uses_bundled)
    }

    /// Adds the binaries to `plan`.
    fn add(&self, place: &Placement, plan: &mut Plan) -> Result<()> {
        let listing = &self.contents.listing;
        let taken: BTreeSet<String> = listing.entries.iter().map(|e| e.name.to_ascii_lowercase()).collect();
        for (i, b) in self.bundled.iter().enumerate() {
            let (edits, _) = self.edits_for(&b.info);
            let entry = format!("{}/{}", place.libs_entry_dir, self.names.out[i]);
            if taken.contains(&entry.to_ascii_lowercase()) {
                let reason = Reason::EntryTaken { entry, source: None };
                return Err(Error::cannot_repair(self.a.wheel.display().to_string(), reason));
            }
            let strip = self.strip && b.info.overlay_len > 0;
            let source = PlanSource::File(b.source.clone());
            self.check_room(&source, &b.info, &edits, strip, &b.name)?;
            plan.binaries.push(PlannedBinary {
                name: entry.clone(),
                source,
                strip,
                edits: BinaryEdits::Pe(edits),
                unix_mode: Some(0o755),
            });
            plan.bundled.push(BundledFile { source: b.source.clone(), entry });
        }
        for wb in &self.a.binaries {
            let BinaryInfo::Pe(info) = wb.info.as_ref() else { continue };
            let (edits, uses_bundled) = self.edits_for(info);
            if !uses_bundled {
                continue;
            }
            let strip = self.strip && info.overlay_len > 0;
            let label = wb.path.rsplit('/').next().unwrap_or(&wb.path).to_string();
            self.check_room(&PlanSource::Entry(wb.index), info, &edits, strip, &label)?;
            plan.binaries.push(PlannedBinary {
                name: wb.path.clone(),
                source: PlanSource::Entry(wb.index),
                strip,
                edits: BinaryEdits::Pe(edits),
                unix_mode: listing.unix_mode(wb.index),
            });
        }
        Ok(())
    }

    /// For a file with an overlay (trailing data such as MinGW debug info)
    /// that is not stripped, tries the rewrite now so that "no room" is
    /// reported as delvewheel does, with every remedy, before anything is written.
    fn check_room(&self, source: &PlanSource, info: &PeInfo, edits: &PeEdits, strip: bool, label: &str) -> Result<()> {
        if strip || info.overlay_len == 0 || edits.replace_needed.is_empty() {
            return Ok(());
        }
        let listing = &self.contents.listing;
        let (data, file) = match source {
            PlanSource::Entry(i) => (
                self.contents.entry(*i)?,
                format!("{}!{}", listing.path.display(), listing.entries.get(*i).map_or("?", |e| e.name.as_str())),
            ),
            PlanSource::File(p) => (self.contents.file(p)?, p.display().to_string()),
        };
        match crate::patch::pe::apply(data, edits) {
            Err(PatchError::NoRoom { need, have, .. }) => {
                let renamed: Vec<String> = edits
                    .replace_needed
                    .iter()
                    .filter(|(o, _)| self.names.renames.contains_key(&o.to_ascii_lowercase()))
                    .map(|(o, _)| o.clone())
                    .collect();
                let reason = Reason::NoRoom { file: label.to_string(), have, need, overlay: info.overlay_len, renamed };
                Err(Error::cannot_repair(file, reason))
            }
            Err(source) => Err(Error::Patch { file, source }),
            Ok(_) => Ok(()),
        }
    }
}

/// The directories (relative to site-packages) of the DLLs other
/// distributions provide (`--site-packages`), in graph order.
fn provider_dirs(a: &Analysis) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (n, _) in a.linked() {
        if let NodeKind::Linked(p) = &a.graph.nodes[n].kind {
            if !out.iter().any(|d| d == p.rel_dir()) {
                out.push(p.rel_dir().to_string());
            }
        }
    }
    out
}

/// What the runtime patch points at: the bundled DLLs (their directory and
/// names) and the directories of DLLs other distributions provide.
struct Runtime<'a> {
    place: &'a Placement,
    out_names: &'a [String],
    provider_dirs: &'a [String],
}

/// The runtime patch: the load-order file (for Pythons before 3.10, when
/// DLLs are bundled), the DLL directory block in every top-level package (or
/// the modules of namespace packages), and a copy of the DLLs beside
/// extension modules at the root of a namespace package.
fn runtime_patch(
    a: &Analysis,
    contents: &Contents,
    runtime: &Runtime<'_>,
    options: &WindowsOptions,
    plan: &mut Plan,
    messages: &mut Vec<String>,
) -> Result<()> {
    let (place, out_names) = (runtime.place, runtime.out_names);
    let libs_entry_dir = &place.libs_entry_dir;
    let min_py = min_python(&a.filename.python);
    let load_order = if min_py.is_none_or(|v| v < (3, 10)) && !out_names.is_empty() {
        Some(format!(".load-order-{}-{}", a.filename.name, a.filename.version))
    } else {
        None
    };
    if let Some(lo) = &load_order {
        let mut text = out_names.join("\n");
        text.push('\n');
        plan.added.push(AddedFile::new(format!("{libs_entry_dir}/{lo}"), text.into_bytes(), Some(0o644)));
    }
    let ident = env!("CARGO_PKG_VERSION").replace(['.', '-', '+'], "_");
    let data_dir = a.filename.data_dir();
    let ctx = packages::PatchCtx {
        contents,
        wheel: &a.wheel,
        dist_info: &contents.listing.dist_info,
        data_dir: &data_dir,
        libs_entry_dir,
        top_level_ext: place.top_level_ext,
        libs_site_rel: &place.libs_site_rel,
        provider_dirs: runtime.provider_dirs,
        load_order: &load_order,
        ident: &ident,
        namespace: options.namespace_pkgs.iter().map(|s| s.split('.').map(str::to_string).collect()).collect(),
    };
    let ns_ext_dirs = packages::patch_packages(&ctx, plan, messages)?;
    // DLLs copied next to extension modules at the root of namespace packages
    if ns_ext_dirs.is_empty() {
        return Ok(());
    }
    messages.push(format!(
        "namespace package(s) {} hold extension modules at their root and get an extra copy of the bundled DLLs; \
         move extension modules into regular packages to avoid the duplicates",
        ns_ext_dirs.iter().cloned().collect::<Vec<_>>().join(", ")
    ));
    let copies: Vec<PlannedBinary> = plan
        .binaries
        .iter()
        .filter(|b| b.name.starts_with(&format!("{libs_entry_dir}/")))
        .flat_map(|b| {
            let file = b.name.rsplit('/').next().unwrap_or_default().to_string();
            ns_ext_dirs.iter().map(move |d| PlannedBinary { name: format!("{d}/{file}"), ..b.clone() })
        })
        .collect();
    let taken: BTreeSet<String> = contents.listing.entries.iter().map(|e| e.name.to_ascii_lowercase()).collect();
    for c in &copies {
        if taken.contains(&c.name.to_ascii_lowercase()) {
            let reason = Reason::EntryTaken { entry: c.name.clone(), source: None };
            return Err(Error::cannot_repair(a.wheel.display().to_string(), reason));
        }
    }
    plan.binaries.extend(copies);
    Ok(())
}

/// The lowest Python version the tags allow (`cp38` → 3.8; `py3` → none).
fn min_python(tags: &[String]) -> Option<(u32, u32)> {
    let mut min: Option<(u32, u32)> = None;
    for t in tags {
        let digits = t.strip_prefix("cp").or_else(|| t.strip_prefix("pp")).or_else(|| t.strip_prefix("py"))?;
        let digits = digits.trim_end_matches('t');
        if digits.len() < 2 || !digits.starts_with('3') {
            return None;
        }
        let minor: u32 = digits[1..].parse().ok()?;
        let v = (3, minor);
        min = Some(min.map_or(v, |m| m.min(v)));
    }
    min
}

#[cfg(test)]
mod tests;
