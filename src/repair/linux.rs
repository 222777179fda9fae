//! The Linux repair plan (auditwheel's rules): pick the target policy,
//! copy every external library into `<dist>.libs/` as
//! `<base>-<sha256[:8]>.<rest>`, set its SONAME, rewrite DT_NEEDED in the
//! wheel's ELFs and the grafted libraries, set DT_RPATH
//! (`$ORIGIN/<rel>` for wheel ELFs, `$ORIGIN` for grafted libraries that
//! need another grafted library), drop RPATH entries that point outside the
//! wheel, move ELF executables of `.data/scripts` to `<dist>.scripts/`, and
//! retag.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::{hashed_name_with, BinaryEdits, Plan, PlanSource, PlannedBinary, RepairOptions};
use crate::analyze::{Analysis, LinuxVerdict, NodeKind};
use crate::binary::BinaryInfo;
use crate::error::Reason;
use crate::patch::elf::{ElfEdits, RpathEdit};
use crate::resolve::{wheel_parent, wheel_relpath, Dir};
use crate::wheel::WheelArchive;
use crate::{Error, Result};
use rayon::prelude::*;

/// Builds the plan for a Linux wheel.
pub fn plan(archive: &WheelArchive, a: &Analysis, options: &RepairOptions) -> Result<Plan> {
    plan_keeping(archive, a, options, None)
}

/// [`plan`], keeping in `keep` the bytes of the libraries it reads to hash
/// them, for the patching that follows.
pub(crate) fn plan_keeping(
    archive: &WheelArchive,
    a: &Analysis,
    options: &RepairOptions,
    keep: Option<&crate::analyze::Kept>,
) -> Result<Plan> {
    let wheel = archive.path().display().to_string();
    let cannot = |reason: Reason| Error::cannot_repair(wheel.clone(), reason);
    let v: &LinuxVerdict = a.linux().ok_or_else(|| cannot(Reason::NoKnownArch))?;
    let mut messages = Vec::new();

    // 1. the target policy
    let requested = options.plat.as_deref().filter(|p| *p != "auto");
    let target = match requested {
        None => {
            let tag = a.linux_target().ok_or_else(|| cannot(Reason::NoPolicy { arch: v.arch.clone() }))?;
            v.policy(&tag).cloned()
        }
        Some(req) => {
            let p = v.policies.by_tag(req).map_err(|_| {
                cannot(Reason::UnknownTarget {
                    requested: req.to_string(),
                    arch: v.arch.clone(),
                    libc: v.libc.family().to_string(),
                    choices: v.policies.policies.iter().filter(|p| p.priority > 0).map(|p| p.tag()).collect(),
                })
            })?;
            Some(p.clone())
        }
    }
    .ok_or_else(|| cannot(Reason::NoTargetPolicy))?;
    let target_tag = target.tag();
    let violations = v.violations_for(&target_tag);
    if !violations.is_empty() {
        return Err(cannot(Reason::Blocked {
            target: target_tag,
            blockers: violations.to_vec(),
            best: v.best.clone(),
        }));
    }

    // 2. the tags
    let mut new_tags: Vec<String> = super::super::analyze::tag_with_aliases(&target);
    if let Some(best) = v.best.as_ref().and_then(|b| v.policy(b)) {
        if best.priority > target.priority && !options.only_plat {
            messages.push(format!(
                "wheel is eligible for a higher priority tag: requested {target_tag}, eligible for {}",
                best.tag()
            ));
            new_tags.extend(super::super::analyze::tag_with_aliases(best));
        }
    }
    let linux_tag = format!("linux_{}", v.arch);
    let mut platforms: BTreeSet<String> =
        a.filename.platform.iter().filter(|p| **p != linux_tag && *p != "any").cloned().collect();
    platforms.extend(new_tags);
    let platforms: Vec<String> = platforms.into_iter().collect();
    let (filename, wheel_file) = if options.update_tags {
        let f = a.filename.with_platforms(&platforms);
        (f.to_string(), Some(retag_wheel_file(archive, &f)?))
    } else {
        (a.filename.to_string(), None)
    };

    // 3. the libraries to graft
    let external = v.external_for(&target_tag).cloned().unwrap_or_default();
    if let Some(&n) = external.values().find(|&&n| a.graph.nodes[n].kind == NodeKind::Missing) {
        return Err(a.missing_library_error(n));
    }
    let libs_dir = format!("{}{}", a.filename.name, options.lib_sdir.as_deref().unwrap_or(".libs"));
    // node → (new file name, source path)
    let mut grafted: BTreeMap<usize, (String, PathBuf)> = BTreeMap::new();
    let mut used_names: BTreeSet<String> = BTreeSet::new();
    // the files are hashed (for their new names) in parallel
    let sources: BTreeSet<&PathBuf> = external
        .values()
        .filter_map(|&n| match &a.graph.nodes[n].kind {
            NodeKind::Disk { realpath, .. } => Some(realpath),
            _ => None,
        })
        .collect();
    let digests: BTreeMap<PathBuf, [u8; 32]> = sources
        .into_par_iter()
        .map(|p| {
            let (data, digest) = crate::wheel::archive::read_hashed(p).map_err(|e| Error::io(p, e))?;
            if let Some(keep) = keep {
                keep.keep_file(p, data);
            }
            Ok((p.clone(), digest))
        })
        .collect::<Result<_>>()?;
    for &n in external.values() {
        if grafted.contains_key(&n) {
            continue;
        }
        let NodeKind::Disk { realpath, .. } = &a.graph.nodes[n].kind else { continue };
        let digest = digests[realpath];
        let file_name = realpath.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let new_name = hashed_name_with(&file_name, &digest);
        if !used_names.insert(new_name.clone()) {
            return Err(cannot(Reason::NameClash { name: new_name }));
        }
        grafted.insert(n, (new_name, realpath.clone()));
    }
    // referenced name → new name, for every edge into a grafted node
    // (a library bundled under the name it is already asked for, as one
    // an earlier repair named, needs no rename)
    let rename_for = |n: usize| -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for e in &a.graph.nodes[n].deps {
            if let Some((new, _)) = grafted.get(&e.node) {
                if *new != e.name && !out.iter().any(|(o, _)| *o == e.name) {
                    out.push((e.name.clone(), new.clone()));
                }
            }
        }
        out
    };
    // whether node `n` needs a bundled library (renamed or not)
    let needs_grafted = |n: usize| a.graph.nodes[n].deps.iter().any(|e| grafted.contains_key(&e.node));
    // whether it needs a library that will sit beside it in the libraries'
    // directory: one bundled now, or one an earlier repair bundled
    let in_libs_dir = |p: &str| wheel_parent(p) == libs_dir;
    let needs_neighbour = |n: usize| {
        needs_grafted(n)
            || a.graph.nodes[n]
                .deps
                .iter()
                .any(|e| matches!(&a.graph.nodes[e.node].kind, NodeKind::Wheel(p) if in_libs_dir(p)))
    };
    let libpython = |n: usize| -> Vec<String> {
        a.graph.nodes[n]
            .deps
            .iter()
            .filter(|e| crate::policy::linux::is_libpython(&e.name))
            .map(|e| e.name.clone())
            .collect()
    };

    let mut plan = Plan { filename, platform_tags: platforms, wheel_file, digests, ..Plan::default() };

    // 4. grafted libraries
    for (&n, (new_name, src)) in &grafted {
        let edits = ElfEdits {
            set_soname: Some(new_name.clone()),
            replace_needed: rename_for(n),
            remove_needed: libpython(n),
            rpath: Some(if needs_neighbour(n) { RpathEdit::SetRpath("$ORIGIN".into()) } else { RpathEdit::Remove }),
        };
        plan.binaries.push(PlannedBinary {
            name: format!("{libs_dir}/{new_name}"),
            source: PlanSource::File(src.clone()),
            strip: options.strip,
            edits: BinaryEdits::Elf(edits),
            unix_mode: Some(0o755),
        });
        plan.bundled.push((src.clone(), format!("{libs_dir}/{new_name}")));
    }

    // 5. the wheel's own ELFs
    let scripts_prefix = format!("{}/scripts/", a.filename.data_dir());
    let resolver_for_expand =
        crate::resolve::elf::ElfResolver::new(std::path::Path::new("/"), vec![], Some(vec![]), None);
    for (i, b) in a.binaries.iter().enumerate() {
        let BinaryInfo::Elf(elf) = b.info.as_ref() else { continue };
        if elf.arch() != Some(v.arch.as_str()) {
            continue;
        }
        let replace = rename_for(i);
        let grafts = needs_grafted(i);
        let remove = libpython(i);
        for r in &remove {
            messages.push(format!(
                "removing {r} from `{}`: linking with libpython is forbidden for manylinux/musllinux wheels",
                b.path
            ));
        }
        // a script that needs grafted libraries moves to `<dist>.scripts/`
        let mut out_name = b.path.clone();
        if grafts {
            if let Some(script) = b.path.strip_prefix(&scripts_prefix) {
                out_name = format!("{}.scripts/{script}", a.filename.name);
                plan.replaced
                    .insert(b.index, (b.path.clone(), script_shim(&a.filename.name, script).into_bytes(), Some(0o755)));
            }
        }
        let old_origin = Dir::Wheel(wheel_parent(&b.path).to_string());
        let (old, was_runpath) = if elf.runpath.is_empty() { (&elf.rpath, false) } else { (&elf.runpath, true) };
        // keep only the entries that resolve inside the wheel
        let mut kept: Vec<String> = Vec::new();
        for entry in old {
            let inside = matches!(resolver_for_expand.expand(entry, &old_origin, elf), Some(Dir::Wheel(_)));
            if (inside || options.keep_rpaths) && !kept.contains(entry) {
                kept.push(entry.clone());
            }
        }
        let rpath = if grafts {
            let rel = wheel_relpath(&libs_dir, wheel_parent(&out_name));
            let new_entry = format!("$ORIGIN/{rel}");
            if !kept.contains(&new_entry) {
                kept.push(new_entry);
            }
            // a DT_RPATH that already reads so is left as it is
            let same = !was_runpath && kept == *old;
            (!same).then(|| RpathEdit::SetRpath(kept.join(":")))
        } else if kept.len() != old.len() {
            Some(if kept.is_empty() {
                RpathEdit::Remove
            } else if was_runpath {
                RpathEdit::SetRunpath(kept.join(":"))
            } else {
                RpathEdit::SetRpath(kept.join(":"))
            })
        } else {
            None
        };
        let edits = ElfEdits { replace_needed: replace, remove_needed: remove, rpath, ..ElfEdits::default() };
        if edits.is_empty() && !options.strip && out_name == b.path {
            continue;
        }
        if out_name != b.path && !plan.replaced.contains_key(&b.index) {
            plan.dropped.push(b.index);
        }
        let mode = archive.entries().get(b.index).and_then(|e| e.unix_mode);
        plan.binaries.push(PlannedBinary {
            name: out_name,
            source: PlanSource::Entry(b.index),
            strip: options.strip,
            edits: BinaryEdits::Elf(edits),
            unix_mode: mode,
        });
    }
    if grafted.is_empty() {
        messages.push("no external libraries to bundle".into());
    }
    plan.messages = messages;
    Ok(plan)
}

/// The `WHEEL` file with `Tag:` lines for every tag of `filename`, and
/// `Root-Is-Purelib: false` when the wheel is no longer pure.
pub fn retag_wheel_file(archive: &WheelArchive, filename: &crate::wheel::WheelFilename) -> Result<Vec<u8>> {
    let mut meta = archive.metadata().clone();
    meta.set_tags(&filename.tags());
    if !filename.is_pure() && meta.root_is_purelib() == Some(true) {
        meta.set("Root-Is-Purelib", "false");
    }
    Ok(meta.to_string().into_bytes())
}

/// auditwheel's shim for an ELF script moved to `<dist>.scripts/`.
fn script_shim(dist: &str, script: &str) -> String {
    format!(
        "#!python\nimport os\nimport sys\nimport sysconfig\n\n\nif __name__ == \"__main__\":\n    os.execv(\n        os.path.join(sysconfig.get_path(\"platlib\"), \"{dist}.scripts/{script}\"),\n        sys.argv,\n    )\n"
    )
}
