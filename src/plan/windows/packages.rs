//! The runtime half of a Windows plan, placed: the DLL directory block of
//! [`pyinit`] goes into the `__init__.py` of every top-level package (created
//! when missing), or into every module of a namespace package.

use std::collections::BTreeSet;
use std::path::Path;

use crate::analyze::{Contents, Listing};
use crate::error::Reason;
use crate::error::{Error, Result};
use crate::plan::pyinit::{self, PyPatch};
use crate::plan::{AddedFile, Plan};

/// What the patch of every package shares.
pub(super) struct PatchCtx<'a> {
    /// The wheel's contents (the Python files to patch).
    pub contents: &'a Contents,
    /// The wheel's path, for messages.
    pub wheel: &'a Path,
    /// Its `.dist-info` directory.
    pub dist_info: &'a str,
    /// Its `.data` directory.
    pub data_dir: &'a str,
    /// Where the DLLs go in the wheel.
    pub libs_entry_dir: &'a str,
    /// An extension module sits at the top level of site-packages.
    pub top_level_ext: bool,
    /// Where the DLLs go, relative to site-packages.
    pub libs_site_rel: &'a str,
    /// Directories of DLLs other distributions provide, relative to site-packages.
    pub provider_dirs: &'a [String],
    /// The load-order file, for Pythons before 3.10.
    pub load_order: &'a Option<String>,
    /// wheelfix's version, as an identifier.
    pub ident: &'a str,
    /// The namespace packages, as paths of names.
    pub namespace: Vec<Vec<String>>,
}

impl PatchCtx<'_> {
    fn patch(&self, depth: usize) -> PyPatch {
        PyPatch {
            depth,
            libs_dir: self.libs_site_rel.to_string(),
            load_order: self.load_order.clone(),
            ident: self.ident.to_string(),
            provider_dirs: self.provider_dirs.to_vec(),
        }
    }
}

/// Entry names (of files) under `dir/` (`dir` empty: the root), by the next
/// path component: (files directly in it, sub-directories).
fn children(listing: &Listing, dir: &str) -> (Vec<(String, usize)>, BTreeSet<String>) {
    let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    let mut files = Vec::new();
    let mut dirs = BTreeSet::new();
    for e in &listing.entries {
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
pub(super) fn patch_packages(
    ctx: &PatchCtx<'_>,
    plan: &mut Plan,
    messages: &mut Vec<String>,
) -> Result<BTreeSet<String>> {
    let mut ns_ext_dirs = BTreeSet::new();
    let mut roots: Vec<String> = vec![String::new()];
    for sub in ["purelib", "platlib"] {
        roots.push(format!("{}/{sub}", ctx.data_dir));
    }
    for root in roots {
        let (files, dirs) = children(&ctx.contents.listing, &root);
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
            let has_init = init_of(&ctx.contents.listing, &path).is_some();
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

fn init_of(listing: &Listing, dir: &str) -> Option<(String, usize)> {
    children(listing, dir).0.into_iter().find(|(f, _)| f.eq_ignore_ascii_case("__init__.py"))
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
        match init_of(&ctx.contents.listing, dir) {
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
        let (files, dirs) = children(&ctx.contents.listing, dir);
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
            let src = ctx.contents.entry(i)?;
            if is_init && pyinit::looks_like_namespace(src) {
                messages.push(format!("{name} looks like a namespace package: if so, use --namespace-pkg"));
            }
            pyinit::patch_source(src, &patch).map_err(|reason| {
                Error::cannot_repair(format!("{}!{name}", ctx.wheel.display()), Reason::InitPatch { reason })
            })?
        }
    };
    let mode = index.and_then(|i| ctx.contents.listing.unix_mode(i)).or(Some(0o644));
    match index {
        Some(i) => {
            plan.replaced.insert(i, AddedFile::new(name, text, mode));
        }
        None => plan.added.push(AddedFile::new(name, text, mode)),
    }
    Ok(())
}
