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

use sha2::Digest;

use super::pyinit::{self, PyPatch};
use super::{BinaryEdits, Plan, PlanSource, PlannedBinary, RepairOptions};
use crate::analyze::{Analysis, NodeKind};
use crate::binary::pe::PeInfo;
use crate::binary::BinaryInfo;
use crate::error::Reason;
use crate::patch::pe::PeEdits;
use crate::patch::PatchError;
use crate::wheel::WheelArchive;
use crate::{Error, Result};

pub use crate::policy::windows::MARKER;

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

/// Builds the plan for a Windows wheel.
pub fn plan(archive: &WheelArchive, a: &Analysis, options: &RepairOptions) -> Result<Plan> {
    let wheel = archive.path().display().to_string();
    let cannot = |reason: Reason| Error::cannot_repair(wheel.clone(), reason);
    let filename = archive.filename().to_string();
    let platform_tags = a.filename.platform.clone();
    let dist_info = archive.dist_info_dir().to_string();

    // 1. already repaired
    for (tool, file) in [("delvewheel", "DELVEWHEEL"), ("wheelfix", MARKER)] {
        if let Some(e) = archive.entry_by_name(&format!("{dist_info}/{file}")) {
            let text = archive.read(e.index).unwrap_or_default();
            let version = String::from_utf8_lossy(&text)
                .lines()
                .find_map(|l| l.strip_prefix("Version:").map(|v| v.trim().to_string()))
                .unwrap_or_else(|| "?".into());
            return Ok(Plan {
                filename,
                platform_tags,
                messages: vec![format!("{tool} {version} has already repaired this wheel")],
                ..Plan::default()
            });
        }
    }

    // 2. machines
    let verdict = a.windows().ok_or_else(|| cannot(Reason::UnknownWindowsTag { tags: platform_tags.clone() }))?;
    let win_tags: Vec<String> = platform_tags.iter().filter(|p| p.starts_with("win")).cloned().collect();
    if win_tags.len() > 1 {
        return Err(cannot(Reason::ManyWindowsTags { tags: win_tags }));
    }
    let machine = verdict.machine.ok_or_else(|| cannot(Reason::UnknownWindowsTag { tags: platform_tags.clone() }))?;
    if let Some(b) = verdict.blockers.first() {
        return Err(cannot(Reason::WrongMachine { blocker: b.clone(), tags: win_tags }));
    }

    // 3. what to bundle
    let mut bundled: Vec<Bundled> = Vec::new();
    let mut node_of: BTreeMap<usize, usize> = BTreeMap::new(); // graph node → index in `bundled`
    for n in a.to_bundle() {
        let node = &a.graph.nodes[n];
        match &node.kind {
            NodeKind::Missing => return Err(a.missing_library_error(n)),
            NodeKind::Disk { path, realpath } => {
                let Some(BinaryInfo::Pe(info)) = node.info.as_deref() else { continue };
                let name = path.file_name().map_or_else(|| node.name.clone(), |f| f.to_string_lossy().into_owned());
                node_of.insert(n, bundled.len());
                bundled.push(Bundled { name, source: realpath.clone(), info: info.clone(), mangle: true });
            }
            _ => {}
        }
    }
    for path in &options.include {
        let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let info = crate::binary::pe::parse(&data)
            .map_err(|source| Error::Binary { file: path.display().to_string(), source })?;
        if info.machine != machine {
            return Err(cannot(Reason::IncludeMachine { path: path.clone(), machine: info.machine, tags: win_tags }));
        }
        let name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        if bundled.iter().any(|b| b.name.eq_ignore_ascii_case(&name)) {
            continue;
        }
        // as delvewheel: included DLLs are not walked and keep their names
        bundled.push(Bundled { name, source: path.clone(), info, mangle: false });
    }
    if bundled.is_empty() {
        return Ok(Plan {
            filename,
            platform_tags,
            messages: vec!["no external dependencies are needed".into()],
            ..Plan::default()
        });
    }
    let mut by_lower: BTreeMap<String, usize> = BTreeMap::new();
    for (i, b) in bundled.iter().enumerate() {
        if by_lower.insert(b.name.to_ascii_lowercase(), i).is_some() {
            return Err(cannot(Reason::DllClash { name: b.name.clone() }));
        }
    }

    // 4. placement
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
    let sdir = options.lib_sdir.as_deref().unwrap_or(".libs");
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
    let mut messages = Vec::new();
    if top_level_ext && options.lib_sdir.is_some() {
        messages.push("a top-level extension module: DLLs go to site-packages itself, --lib-sdir is ignored".into());
    }

    // 5. mangling
    if !options.no_mangle_all {
        let patterns: Vec<glob::Pattern> = options
            .no_mangle
            .iter()
            .flat_map(|s| {
                s.split([',', ';'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_ascii_lowercase)
                    .collect::<Vec<_>>()
            })
            .map(|p| glob::Pattern::new(&p).map_err(|e| Error::Usage(format!("--no-mangle `{p}`: {e}"))))
            .collect::<Result<_>>()?;
        for b in bundled.iter_mut() {
            let lower = b.name.to_ascii_lowercase();
            if patterns.iter().any(|p| p.matches(&lower)) {
                b.mangle = false;
            }
        }
    } else {
        for b in bundled.iter_mut() {
            b.mangle = false;
        }
    }
    let mut hashes: Vec<Option<String>> = vec![None; bundled.len()];
    for i in 0..bundled.len() {
        if bundled[i].mangle {
            mangle_hash(i, &bundled, &by_lower, &mut hashes, &mut vec![false; bundled.len()])?;
        }
    }
    // lowercased old name → new name
    let mut renames: BTreeMap<String, String> = BTreeMap::new();
    let mut out_names: Vec<String> = Vec::new();
    for (i, b) in bundled.iter().enumerate() {
        let new = match &hashes[i] {
            Some(h) => {
                let (stem, ext) = split_ext(&b.name);
                let new = format!("{stem}-{h}{ext}");
                renames.insert(b.name.to_ascii_lowercase(), new.clone());
                new
            }
            None => b.name.clone(),
        };
        out_names.push(new);
    }
    let edits_for = |info: &PeInfo| -> (PeEdits, bool) {
        let mut edits = PeEdits::new();
        let mut uses_bundled = false;
        for name in info.needed() {
            let lower = name.to_ascii_lowercase();
            if by_lower.contains_key(&lower) {
                uses_bundled = true;
            }
            if let Some(new) = renames.get(&lower) {
                edits = edits.replace(name, new.clone());
            }
        }
        (edits, uses_bundled)
    };

    let mut plan = Plan { filename, platform_tags, ..Plan::default() };

    // 6. binaries: the bundled DLLs, then the wheel's own PE files
    let taken: BTreeSet<String> = archive.entries().iter().map(|e| e.name.to_ascii_lowercase()).collect();
    for (i, b) in bundled.iter().enumerate() {
        let (edits, _) = edits_for(&b.info);
        let entry = format!("{libs_entry_dir}/{}", out_names[i]);
        if taken.contains(&entry.to_ascii_lowercase()) {
            return Err(cannot(Reason::EntryTaken { entry, source: None }));
        }
        let strip = options.strip && b.info.overlay_len > 0;
        check_room(&PlanSource::File(b.source.clone()), archive, &b.info, &edits, strip, &b.name, &renames)?;
        plan.binaries.push(PlannedBinary {
            name: entry.clone(),
            source: PlanSource::File(b.source.clone()),
            strip,
            edits: BinaryEdits::Pe(edits),
            unix_mode: Some(0o755),
        });
        plan.bundled.push((b.source.clone(), entry));
    }
    for wb in &a.binaries {
        let BinaryInfo::Pe(info) = wb.info.as_ref() else { continue };
        let (edits, uses_bundled) = edits_for(info);
        if !uses_bundled {
            continue;
        }
        let strip = options.strip && info.overlay_len > 0;
        let label = wb.path.rsplit('/').next().unwrap_or(&wb.path).to_string();
        check_room(&PlanSource::Entry(wb.index), archive, info, &edits, strip, &label, &renames)?;
        let mode = archive.entries().get(wb.index).and_then(|e| e.unix_mode);
        plan.binaries.push(PlannedBinary {
            name: wb.path.clone(),
            source: PlanSource::Entry(wb.index),
            strip,
            edits: BinaryEdits::Pe(edits),
            unix_mode: mode,
        });
    }

    // 7. the runtime patch
    let min_py = min_python(&a.filename.python);
    let load_order = if min_py.is_none_or(|v| v < (3, 10)) {
        Some(format!(".load-order-{}-{}", a.filename.name, a.filename.version))
    } else {
        None
    };
    if let Some(lo) = &load_order {
        let mut text = out_names.join("\n");
        text.push('\n');
        plan.added.push((format!("{libs_entry_dir}/{lo}"), text.into_bytes(), Some(0o644)));
    }
    let ident = env!("CARGO_PKG_VERSION").replace(['.', '-', '+'], "_");
    let ctx = PatchCtx {
        archive,
        dist_info: &dist_info,
        data_dir: &data_dir,
        libs_entry_dir: &libs_entry_dir,
        top_level_ext,
        libs_site_rel: &libs_site_rel,
        load_order: &load_order,
        ident: &ident,
        namespace: options.namespace_pkgs.iter().map(|s| s.split('.').map(str::to_string).collect()).collect(),
    };
    let ns_ext_dirs = patch_packages(&ctx, &mut plan, &mut messages)?;
    // DLLs copied next to extension modules at the root of namespace packages
    if !ns_ext_dirs.is_empty() {
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
        for c in &copies {
            if taken.contains(&c.name.to_ascii_lowercase()) {
                return Err(cannot(Reason::EntryTaken { entry: c.name.clone(), source: None }));
            }
        }
        plan.binaries.extend(copies);
    }

    // 8. marker, signatures
    let mut marker = format!("Version: {}\n", env!("CARGO_PKG_VERSION"));
    for (i, b) in bundled.iter().enumerate() {
        marker.push_str(&format!("Bundled: {} -> {libs_entry_dir}/{}\n", b.name, out_names[i]));
    }
    plan.added.push((format!("{dist_info}/{MARKER}"), marker.into_bytes(), Some(0o644)));
    for sig in ["RECORD.jws", "RECORD.p7s"] {
        if let Some(e) = archive.entry_by_name(&format!("{dist_info}/{sig}")) {
            plan.dropped.push(e.index);
            messages.push(format!("wheel signature file {sig} removed"));
        }
    }
    messages.push(format!(
        "bundled {} DLL(s) into {}: {}",
        bundled.len(),
        if top_level_ext { format!("{libs_entry_dir} (site-packages)") } else { libs_entry_dir.clone() },
        out_names.join(", ")
    ));
    plan.messages = messages;
    Ok(plan)
}

/// Python's `os.path.splitext`: the extension starts at the last dot that
/// is not part of a leading run of dots.
pub fn split_ext(name: &str) -> (&str, &str) {
    let leading = name.bytes().take_while(|&c| c == b'.').count();
    match name.rfind('.') {
        Some(i) if i >= leading && i > 0 && leading < name.len() => name.split_at(i),
        _ => (name, ""),
    }
}

/// The mangling hash of `bundled[i]` (memoised in `hashes`): sha256 over the
/// hex hashes of its mangled direct deps (imports then delay imports, in
/// file order), each followed by a NUL byte, then the file's bytes; the
/// first 32 hex digits.
fn mangle_hash(
    i: usize,
    bundled: &[Bundled],
    by_lower: &BTreeMap<String, usize>,
    hashes: &mut Vec<Option<String>>,
    visiting: &mut Vec<bool>,
) -> Result<String> {
    if let Some(h) = &hashes[i] {
        return Ok(h.clone());
    }
    if visiting[i] {
        return Err(Error::CannotRepair {
            wheel: bundled[i].source.display().to_string(),
            reason: Box::new(Reason::MangleCycle { name: bundled[i].name.clone() }),
        });
    }
    visiting[i] = true;
    let b = &bundled[i];
    let mut hasher = sha2::Sha256::new();
    for dep in b.info.imports.iter().chain(&b.info.delay_imports) {
        let Some(&d) = by_lower.get(&dep.to_ascii_lowercase()) else { continue };
        if !bundled[d].mangle {
            continue;
        }
        let h = mangle_hash(d, bundled, by_lower, hashes, visiting)?;
        hasher.update(h.as_bytes());
        hasher.update([0u8]);
    }
    let data = std::fs::read(&b.source).map_err(|e| Error::io(&b.source, e))?;
    hasher.update(&data);
    let hex: String = hasher.finalize().iter().map(|x| format!("{x:02x}")).collect();
    let h = hex[..32].to_string();
    visiting[i] = false;
    hashes[i] = Some(h.clone());
    Ok(h)
}

/// For a file with an overlay (trailing data such as MinGW debug info) that
/// is not stripped, tries the rewrite now so that "no room" is reported as
/// delvewheel does, with every remedy, before anything is written.
fn check_room(
    source: &PlanSource,
    archive: &WheelArchive,
    info: &PeInfo,
    edits: &PeEdits,
    strip: bool,
    label: &str,
    renames: &BTreeMap<String, String>,
) -> Result<()> {
    if strip || info.overlay_len == 0 || edits.replace_needed.is_empty() {
        return Ok(());
    }
    let (data, file) = match source {
        PlanSource::Entry(i) => (
            archive.read(*i).map_err(|source| Error::Wheel { path: archive.path().to_path_buf(), source })?,
            format!("{}!{}", archive.path().display(), archive.entries().get(*i).map_or("?", |e| e.name.as_str())),
        ),
        PlanSource::File(p) => (std::fs::read(p).map_err(|e| Error::io(p, e))?, p.display().to_string()),
    };
    match crate::patch::pe::apply(&data, edits) {
        Err(PatchError::NoRoom { need, have, .. }) => {
            let olds: Vec<&str> = edits
                .replace_needed
                .iter()
                .filter(|(o, _)| renames.contains_key(&o.to_ascii_lowercase()))
                .map(|(o, _)| o.as_str())
                .collect();
            Err(Error::CannotRepair {
                wheel: file,
                reason: Box::new(Reason::NoRoom {
                    file: label.to_string(),
                    have,
                    need,
                    overlay: info.overlay_len,
                    renamed: olds.into_iter().map(str::to_string).collect(),
                }),
            })
        }
        Err(source) => Err(Error::Patch { file, source }),
        Ok(_) => Ok(()),
    }
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

struct PatchCtx<'a> {
    archive: &'a WheelArchive,
    dist_info: &'a str,
    data_dir: &'a str,
    libs_entry_dir: &'a str,
    top_level_ext: bool,
    libs_site_rel: &'a str,
    load_order: &'a Option<String>,
    ident: &'a str,
    namespace: Vec<Vec<String>>,
}

impl PatchCtx<'_> {
    fn patch(&self, depth: usize) -> PyPatch {
        PyPatch {
            depth,
            libs_dir: self.libs_site_rel.to_string(),
            load_order: self.load_order.clone(),
            ident: self.ident.to_string(),
        }
    }
}

/// Entry names (of files) under `dir/` (`dir` empty: the root), by the next
/// path component: (files directly in it, sub-directories).
fn children(archive: &WheelArchive, dir: &str) -> (Vec<(String, usize)>, BTreeSet<String>) {
    let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    let mut files = Vec::new();
    let mut dirs = BTreeSet::new();
    for e in archive.entries() {
        if e.is_dir {
            continue;
        }
        let Some(rest) = e.name.strip_prefix(&prefix) else { continue };
        match rest.split_once('/') {
            Some((d, _)) => {
                dirs.insert(d.to_string());
            }
            None => files.push((rest.to_string(), e.index)),
        }
    }
    (files, dirs)
}

/// Patches every top-level package (at the root and in `.data/purelib`,
/// `.data/platlib`); returns the directories of extension modules that sit
/// at the root of a namespace package.
fn patch_packages(ctx: &PatchCtx<'_>, plan: &mut Plan, messages: &mut Vec<String>) -> Result<BTreeSet<String>> {
    let mut ns_ext_dirs = BTreeSet::new();
    let mut roots: Vec<String> = vec![String::new()];
    for sub in ["purelib", "platlib"] {
        roots.push(format!("{}/{sub}", ctx.data_dir));
    }
    for root in roots {
        let (files, dirs) = children(ctx.archive, &root);
        let module_names: BTreeSet<String> = files
            .iter()
            .filter_map(|(f, _)| {
                let lower = f.to_ascii_lowercase();
                (lower.ends_with(".py") || lower.ends_with(".pyd"))
                    .then(|| f.split('.').next().unwrap_or("").to_string())
            })
            .collect();
        for d in dirs {
            if root.is_empty()
                && (d == ctx.dist_info || d == ctx.data_dir || (!ctx.top_level_ext && d == ctx.libs_entry_dir))
            {
                continue;
            }
            let path = if root.is_empty() { d.clone() } else { format!("{root}/{d}") };
            let has_init = init_of(ctx.archive, &path).is_some();
            if module_names.contains(&d) && !has_init {
                // a module of the same name would be shadowed by a new package
                continue;
            }
            let ns: Vec<Vec<String>> =
                ctx.namespace.iter().filter(|n| n.first() == Some(&d)).map(|n| n[1..].to_vec()).collect();
            patch_package(ctx, plan, messages, &path, &ns, 1, &mut ns_ext_dirs)?;
        }
    }
    Ok(ns_ext_dirs)
}

fn init_of(archive: &WheelArchive, dir: &str) -> Option<(String, usize)> {
    children(archive, dir).0.into_iter().find(|(f, _)| f.eq_ignore_ascii_case("__init__.py"))
}

/// Patches one package. `ns` is the list of namespace paths below this
/// directory when it is itself a namespace package (non-empty list), else empty.
fn patch_package(
    ctx: &PatchCtx<'_>,
    plan: &mut Plan,
    messages: &mut Vec<String>,
    dir: &str,
    ns: &[Vec<String>],
    depth: usize,
    ns_ext_dirs: &mut BTreeSet<String>,
) -> Result<()> {
    if ns.is_empty() {
        match init_of(ctx.archive, dir) {
            Some((name, index)) => patch_file(ctx, plan, messages, &format!("{dir}/{name}"), Some(index), depth, true),
            None => {
                messages.push(format!(
                    "{dir} does not contain __init__.py: one is created (if it is a namespace package, use --namespace-pkg)"
                ));
                patch_file(ctx, plan, messages, &format!("{dir}/__init__.py"), None, depth, true)
            }
        }
    } else {
        // a namespace package: patch its modules, recurse into its packages
        let (files, dirs) = children(ctx.archive, dir);
        for (f, index) in &files {
            let lower = f.to_ascii_lowercase();
            if lower.ends_with(".py") && lower != "__init__.py" {
                patch_file(ctx, plan, messages, &format!("{dir}/{f}"), Some(*index), depth, false)?;
            } else if lower.ends_with(".pyd") {
                ns_ext_dirs.insert(dir.to_string());
            }
        }
        for d in dirs {
            let sub: Vec<Vec<String>> = ns.iter().filter(|n| n.first() == Some(&d)).map(|n| n[1..].to_vec()).collect();
            let path = format!("{dir}/{d}");
            patch_package(ctx, plan, messages, &path, &sub, depth + 1, ns_ext_dirs)?;
        }
        Ok(())
    }
}

fn patch_file(
    ctx: &PatchCtx<'_>,
    plan: &mut Plan,
    messages: &mut Vec<String>,
    name: &str,
    index: Option<usize>,
    depth: usize,
    is_init: bool,
) -> Result<()> {
    let patch = ctx.patch(depth);
    let text = match index {
        None => pyinit::new_file(&patch),
        Some(i) => {
            let src = ctx
                .archive
                .read(i)
                .map_err(|source| Error::Wheel { path: ctx.archive.path().to_path_buf(), source })?;
            if is_init && pyinit::looks_like_namespace(&src) {
                messages.push(format!("{name} looks like a namespace package: if so, use --namespace-pkg"));
            }
            pyinit::patch_source(&src, &patch).map_err(|e| Error::CannotRepair {
                wheel: format!("{}!{name}", ctx.archive.path().display()),
                reason: Box::new(Reason::InitPatch { reason: e }),
            })?
        }
    };
    let mode = index.and_then(|i| ctx.archive.entries().get(i)).and_then(|e| e.unix_mode).or(Some(0o644));
    match index {
        Some(i) => {
            plan.replaced.insert(i, (name.to_string(), text, mode));
        }
        None => plan.added.push((name.to_string(), text, mode)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitext_like_python() {
        assert_eq!(split_ext("foo.dll"), ("foo", ".dll"));
        assert_eq!(split_ext("foo.bar.DLL"), ("foo.bar", ".DLL"));
        assert_eq!(split_ext("foo"), ("foo", ""));
        assert_eq!(split_ext(".dll"), (".dll", ""));
        assert_eq!(split_ext("..a.dll"), ("..a", ".dll"));
    }

    #[test]
    fn min_python_from_tags() {
        assert_eq!(min_python(&["cp312".into()]), Some((3, 12)));
        assert_eq!(min_python(&["cp38".into(), "cp310".into()]), Some((3, 8)));
        assert_eq!(min_python(&["cp313t".into()]), Some((3, 13)));
        assert_eq!(min_python(&["py3".into()]), None);
    }
}
