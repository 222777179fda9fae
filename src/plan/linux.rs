//! The Linux repair plan (auditwheel's rules): pick the target policy,
//! copy every external library into `<dist>.libs/` as
//! `<base>-<sha256[:8]>.<rest>`, set its SONAME, rewrite DT_NEEDED in the
//! wheel's ELFs and the grafted libraries, set DT_RPATH
//! (`$ORIGIN/<rel>` for wheel ELFs, `$ORIGIN` for grafted libraries that
//! need another grafted library), drop RPATH entries that point outside the
//! wheel, move ELF executables of `.data/scripts` to `<dist>.scripts/`, and
//! retag.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::naming::{hashed_name_with, retag_wheel_file};
use super::{AddedFile, BinaryEdits, Bundled, Plan, PlanOptions, PlanSource, PlannedBinary};
use crate::analyze::{tag_with_aliases, Analysis, Contents, LinuxVerdict, NodeKind, Wanted, WheelBinary};
use crate::binary::{BinaryInfo, ElfInfo};
use crate::error::Reason;
use crate::error::{Error, Result};
use crate::patch::elf::{ElfEdits, RpathEdit};
use crate::policy::linux::LinuxPolicy;
use crate::resolve::{wheel_parent, wheel_relpath, Dir};

/// Linux options of a repair (auditwheel's).
#[derive(Debug, Clone, Default)]
pub struct LinuxOptions {
    /// The requested platform tag (`None` or `auto`: the best one).
    pub plat: Option<String>,
    /// Do not add a higher-priority tag the wheel is also eligible for.
    pub only_plat: bool,
    /// Keep RPATH entries that point outside the wheel.
    pub keep_rpaths: bool,
}

/// The policy to repair to: the requested one, or the best (auditwheel's
/// `auto`); an error when it is unknown or the wheel cannot have it.
fn target(a: &Analysis, v: &LinuxVerdict, options: &LinuxOptions) -> std::result::Result<LinuxPolicy, Reason> {
    let requested = options.plat.as_deref().filter(|p| *p != "auto");
    let target = match requested {
        None => {
            let tag = a.linux_target().ok_or_else(|| Reason::NoPolicy { arch: v.arch.clone() })?;
            v.policy(&tag).cloned()
        }
        Some(req) => {
            let p = v.policies.by_tag(req).map_err(|_| Reason::UnknownTarget {
                requested: req.to_string(),
                arch: v.arch.clone(),
                libc: v.libc.family().to_string(),
                choices: v.policies.policies.iter().filter(|p| p.priority > 0).map(|p| p.tag()).collect(),
            })?;
            Some(p.clone())
        }
    }
    .ok_or(Reason::NoTargetPolicy)?;
    let violations = v.violations_for(&target.tag());
    if !violations.is_empty() {
        return Err(Reason::Blocked { target: target.tag(), blockers: violations.to_vec(), best: v.best.clone() });
    }
    Ok(target)
}

/// The libraries a repair to the target bundles, to hash (nothing when
/// there is no target, or a library is missing: the plan fails first).
pub(super) fn wanted(a: &Analysis, v: &LinuxVerdict, options: &LinuxOptions) -> Wanted {
    let Ok(target) = target(a, v, options) else { return Wanted::default() };
    let external = v.external_for(&target.tag()).cloned().unwrap_or_default();
    if external.values().any(|&n| a.graph.nodes[n].kind == NodeKind::Missing) {
        return Wanted::default();
    }
    let hashed = external
        .values()
        .filter_map(|&n| match &a.graph.nodes[n].kind {
            NodeKind::Disk { realpath, .. } => Some(realpath.clone()),
            _ => None,
        })
        .collect();
    Wanted { hashed, ..Wanted::default() }
}

/// Builds the plan for a Linux wheel.
pub(super) fn plan(a: &Analysis, v: &LinuxVerdict, contents: &Contents, options: &PlanOptions) -> Result<Plan> {
    let wheel = a.wheel.display().to_string();
    let target = target(a, v, &options.linux).map_err(|reason| Error::cannot_repair(wheel.clone(), reason))?;
    let target_tag = target.tag();
    let mut messages = Vec::new();
    let mut plan = retag(a, v, &target, contents, options, &mut messages);

    // the libraries to graft
    let external = v.external_for(&target_tag).cloned().unwrap_or_default();
    if let Some(&n) = external.values().find(|&&n| a.graph.nodes[n].kind == NodeKind::Missing) {
        return Err(a.missing_library_error(n));
    }
    let graft = Graft::new(a, &external, contents, options.lib_sdir.as_deref())?;
    plan.digests = contents.digests();
    for (&n, (new_name, src)) in &graft.grafted {
        let edits = ElfEdits {
            set_soname: Some(new_name.clone()),
            replace_needed: graft.renames(n),
            remove_needed: graft.libpython(n),
            rpath: Some(graft_rpath(
                graft.needs_neighbour(n),
                &links_of(a, n, &format!("{}/{new_name}", graft.libs_dir)),
            )),
        };
        let entry = format!("{}/{new_name}", graft.libs_dir);
        if let (Some(BinaryInfo::Elf(elf)), Some(rpath)) = (a.graph.nodes[n].info.as_deref(), &edits.rpath) {
            say_rpath(&mut plan.details, &entry, elf, rpath);
        }
        plan.binaries.push(PlannedBinary {
            name: entry.clone(),
            source: PlanSource::File(src.clone()),
            strip: options.strip,
            edits: BinaryEdits::Elf(edits),
            unix_mode: Some(0o755),
        });
        plan.bundled.push(Bundled { source: src.clone(), entry });
    }

    // the wheel's own ELFs
    for (i, b) in a.binaries.iter().enumerate() {
        let BinaryInfo::Elf(elf) = b.info.as_ref() else { continue };
        if elf.arch() == Some(v.arch.as_str()) {
            own_elf(a, i, b, elf, &graft, contents, options, &mut plan, &mut messages);
        }
    }
    if graft.grafted.is_empty() {
        messages.push("no external libraries to bundle".into());
    }
    plan.messages = messages;
    Ok(plan)
}

/// A plan holding only the new name and tags: those of `target`, plus the
/// best tag unless `--only-plat`, plus the input's other tags but `linux_*`.
fn retag(
    a: &Analysis,
    v: &LinuxVerdict,
    target: &LinuxPolicy,
    contents: &Contents,
    options: &PlanOptions,
    messages: &mut Vec<String>,
) -> Plan {
    let mut new_tags: Vec<String> = tag_with_aliases(target);
    if let Some(best) = v.best.as_ref().and_then(|b| v.policy(b)) {
        if best.priority > target.priority && !options.linux.only_plat {
            messages.push(format!(
                "wheel is eligible for a higher priority tag: requested {}, eligible for {}",
                target.tag(),
                best.tag()
            ));
            new_tags.extend(tag_with_aliases(best));
        }
    }
    let linux_tag = format!("linux_{}", v.arch);
    let mut platforms: BTreeSet<String> =
        a.filename.platform.iter().filter(|p| **p != linux_tag && *p != "any").cloned().collect();
    platforms.extend(new_tags);
    let platforms: Vec<String> = platforms.into_iter().collect();
    let (filename, wheel_file) = if options.update_tags {
        let f = a.filename.with_platforms(&platforms);
        (f.to_string(), Some(retag_wheel_file(&contents.listing.metadata, &f)))
    } else {
        (a.filename.to_string(), None)
    };
    Plan { filename, platform_tags: platforms, wheel_file, ..Plan::default() }
}

/// The libraries to graft, under their new names, and how the references
/// to them change.
struct Graft<'a> {
    a: &'a Analysis,
    /// `<dist><lib_sdir>`.
    libs_dir: String,
    /// node → (new file name, source path)
    grafted: BTreeMap<usize, (String, PathBuf)>,
}

impl<'a> Graft<'a> {
    fn new(
        a: &'a Analysis,
        external: &BTreeMap<String, usize>,
        contents: &Contents,
        lib_sdir: Option<&str>,
    ) -> Result<Self> {
        let libs_dir = format!("{}{}", a.filename.name, lib_sdir.unwrap_or(".libs"));
        let mut grafted: BTreeMap<usize, (String, PathBuf)> = BTreeMap::new();
        let mut used_names: BTreeSet<String> = BTreeSet::new();
        for &n in external.values() {
            if grafted.contains_key(&n) {
                continue;
            }
            let NodeKind::Disk { realpath, .. } = &a.graph.nodes[n].kind else { continue };
            let digest = contents.digest(realpath)?;
            let file_name = realpath.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            let new_name = hashed_name_with(&file_name, &digest);
            if !used_names.insert(new_name.clone()) {
                return Err(Error::cannot_repair(a.wheel.display().to_string(), Reason::NameClash { name: new_name }));
            }
            grafted.insert(n, (new_name, realpath.clone()));
        }
        Ok(Graft { a, libs_dir, grafted })
    }

    /// Referenced name → new name, for every edge of node `n` into a grafted
    /// node (a library bundled under the name it is already asked for, as
    /// one an earlier repair named, needs no rename).
    fn renames(&self, n: usize) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for e in &self.a.graph.nodes[n].deps {
            if let Some((new, _)) = self.grafted.get(&e.node) {
                if *new != e.name && !out.iter().any(|(o, _)| *o == e.name) {
                    out.push((e.name.clone(), new.clone()));
                }
            }
        }
        out
    }

    /// Whether node `n` needs a bundled library (renamed or not).
    fn needs_grafted(&self, n: usize) -> bool {
        self.a.graph.nodes[n].deps.iter().any(|e| self.grafted.contains_key(&e.node))
    }

    /// Whether node `n` needs a library that will sit beside it in the
    /// libraries' directory: one bundled now, or one an earlier repair bundled.
    fn needs_neighbour(&self, n: usize) -> bool {
        let nodes = &self.a.graph.nodes;
        self.needs_grafted(n)
            || nodes[n]
                .deps
                .iter()
                .any(|e| matches!(&nodes[e.node].kind, NodeKind::Wheel(p) if wheel_parent(p) == self.libs_dir))
    }

    /// The libpython references of node `n` (removed: forbidden in manylinux).
    fn libpython(&self, n: usize) -> Vec<String> {
        self.a.graph.nodes[n]
            .deps
            .iter()
            .filter(|e| crate::policy::linux::is_libpython(&e.name))
            .map(|e| e.name.clone())
            .collect()
    }
}

/// Plans the edits of the wheel's ELF `b` (node `i`): renamed and removed
/// DT_NEEDED, its RPATH pointed at the grafted libraries and cleared of
/// entries outside the wheel, and a script that needs grafted libraries
/// moved to `<dist>.scripts/` behind a shim. Nothing when nothing changes.
#[allow(clippy::too_many_arguments)]
fn own_elf(
    a: &Analysis,
    i: usize,
    b: &WheelBinary,
    elf: &ElfInfo,
    graft: &Graft<'_>,
    contents: &Contents,
    options: &PlanOptions,
    plan: &mut Plan,
    messages: &mut Vec<String>,
) {
    let grafts = graft.needs_grafted(i);
    let remove = graft.libpython(i);
    for r in &remove {
        messages.push(format!(
            "removing {r} from `{}`: linking with libpython is forbidden for manylinux/musllinux wheels",
            b.path
        ));
    }
    // a script that needs grafted libraries moves to `<dist>.scripts/`
    let scripts_prefix = format!("{}/scripts/", a.filename.data_dir());
    let mut out_name = b.path.clone();
    if grafts {
        if let Some(script) = b.path.strip_prefix(&scripts_prefix) {
            out_name = format!("{}.scripts/{script}", a.filename.name);
            let shim = script_shim(&a.filename.name, script).into_bytes();
            plan.replaced.insert(b.index, AddedFile::new(b.path.clone(), shim, Some(0o755)));
        }
    }
    let links = links_of(a, i, a.install_path(&out_name));
    let libs_dir = grafts.then_some(graft.libs_dir.as_str());
    let installed = a.install_path(&out_name);
    let rpath = rpath_edit(elf, &b.path, installed, libs_dir, &links, options.linux.keep_rpaths);
    let edits = ElfEdits { replace_needed: graft.renames(i), remove_needed: remove, rpath, ..ElfEdits::default() };
    if edits.is_empty() && !options.strip && out_name == b.path {
        return;
    }
    if out_name != b.path && !plan.replaced.contains_key(&b.index) {
        plan.dropped.push(b.index);
    }
    if let Some(rpath) = &edits.rpath {
        say_rpath(&mut plan.details, &out_name, elf, rpath);
    }
    plan.binaries.push(PlannedBinary {
        name: out_name,
        source: PlanSource::Entry(b.index),
        strip: options.strip,
        edits: BinaryEdits::Elf(edits),
        unix_mode: contents.listing.unix_mode(b.index),
    });
}

/// The `$ORIGIN/…` entries from a file installed at `install` to the
/// directories of the libraries node `n` links from other distributions.
fn links_of(a: &Analysis, n: usize, install: &str) -> Vec<String> {
    super::provided::relative_links(a, n, install).into_iter().map(|r| format!("$ORIGIN/{r}")).collect()
}

/// The RPATH of a grafted library: `$ORIGIN` when it needs a neighbour in
/// the libraries' directory, then the `links` to other distributions.
fn graft_rpath(neighbour: bool, links: &[String]) -> RpathEdit {
    let mut entries: Vec<&str> = Vec::new();
    if neighbour {
        entries.push("$ORIGIN");
    }
    entries.extend(links.iter().map(String::as_str));
    if entries.is_empty() {
        RpathEdit::Remove
    } else {
        RpathEdit::SetRpath(entries.join(":"))
    }
}

/// The new RPATH of a wheel ELF at `path` (written as `out_name`): the
/// entries that resolve inside the wheel or are relative to `$ORIGIN` (all
/// with `keep`), then the `links` to other distributions' libraries, plus
/// `$ORIGIN/<rel>` to the libraries' directory when it grafts (`libs_dir`),
/// counted from `out_name`, where the file installs (relative to
/// site-packages). An `$ORIGIN`-relative entry that leaves the wheel's own
/// tree points into a sibling package of site-packages (another distribution's
/// libraries, such as `$ORIGIN/../../nvidia/cudnn/lib`), not into the build
/// machine: it is kept. Absolute entries are the build machine's and go.
fn rpath_edit(
    elf: &ElfInfo,
    path: &str,
    out_name: &str,
    libs_dir: Option<&str>,
    links: &[String],
    keep: bool,
) -> Option<RpathEdit> {
    let expander = crate::resolve::elf::ElfResolver::new(Path::new("/"), vec![], Some(vec![]), None);
    let old_origin = Dir::Wheel(wheel_parent(path).to_string());
    let (old, was_runpath) = if elf.runpath.is_empty() { (&elf.rpath, false) } else { (&elf.runpath, true) };
    // keep the entries that resolve inside the wheel or next to it
    let mut kept: Vec<String> = Vec::new();
    for entry in old {
        let inside = matches!(expander.expand(entry, &old_origin, elf), Some(Dir::Wheel(_)));
        if (inside || keep || origin_relative(entry)) && !kept.contains(entry) {
            kept.push(entry.clone());
        }
    }
    for link in links {
        if !kept.contains(link) {
            kept.push(link.clone());
        }
    }
    if let Some(libs_dir) = libs_dir {
        let rel = wheel_relpath(libs_dir, wheel_parent(out_name));
        let new_entry = format!("$ORIGIN/{rel}");
        if !kept.contains(&new_entry) {
            kept.push(new_entry);
        }
        // a DT_RPATH that already reads so is left as it is
        let same = !was_runpath && kept == *old;
        (!same).then(|| RpathEdit::SetRpath(kept.join(":")))
    } else if kept != *old {
        Some(if kept.is_empty() {
            RpathEdit::Remove
        } else if was_runpath {
            RpathEdit::SetRunpath(kept.join(":"))
        } else {
            RpathEdit::SetRpath(kept.join(":"))
        })
    } else {
        None
    }
}

/// Adds the words for `edit` of the search path of `elf`, written as
/// `entry`, to `details` (nothing when it changes nothing).
fn say_rpath(details: &mut Vec<String>, entry: &str, elf: &ElfInfo, edit: &RpathEdit) {
    if let Some(what) = edit.describe(&elf.rpath, &elf.runpath) {
        details.push(format!("`{entry}`: {what}"));
    }
}

/// Whether an RPATH entry is relative to the file's own directory.
fn origin_relative(entry: &str) -> bool {
    ["$ORIGIN", "${ORIGIN}"]
        .iter()
        .any(|t| entry.strip_prefix(t).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
}

/// auditwheel's shim for an ELF script moved to `<dist>.scripts/`.
fn script_shim(dist: &str, script: &str) -> String {
    format!(
        "#!python\nimport os\nimport sys\nimport sysconfig\n\n\nif __name__ == \"__main__\":\n    os.execv(\n        os.path.join(sysconfig.get_path(\"platlib\"), \"{dist}.scripts/{script}\"),\n        sys.argv,\n    )\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(rpath: &[&str], runpath: &[&str]) -> ElfInfo {
        ElfInfo {
            class: Some(crate::binary::elf::ElfClass::Elf64),
            machine: 62,
            rpath: rpath.iter().map(|s| s.to_string()).collect(),
            runpath: runpath.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn links_to_providers_join_the_rpath() {
        let link = vec!["$ORIGIN/../nvidia/cuda_runtime/lib".to_string()];
        // RUNPATH kept as RUNPATH; the build machine's entry goes
        let e = elf(&[], &["/build/cuda/lib"]);
        let got = rpath_edit(&e, "pkg/ext.so", "pkg/ext.so", None, &link, false);
        assert_eq!(got, Some(RpathEdit::SetRunpath("$ORIGIN/../nvidia/cuda_runtime/lib".into())));
        // with grafted libraries: DT_RPATH, the link before the libraries' directory
        let got = rpath_edit(&e, "pkg/ext.so", "pkg/ext.so", Some("pkg.libs"), &link, false);
        let want = "$ORIGIN/../nvidia/cuda_runtime/lib:$ORIGIN/../pkg.libs";
        assert_eq!(got, Some(RpathEdit::SetRpath(want.into())));
        // already there: nothing to do
        let e = elf(&["$ORIGIN/../nvidia/cuda_runtime/lib"], &[]);
        assert_eq!(rpath_edit(&e, "pkg/ext.so", "pkg/ext.so", None, &link, false), None);
        // no link, nothing grafted: as before
        let e = elf(&["/build/lib", "$ORIGIN/../../nvidia/cudnn/lib"], &[]);
        let got = rpath_edit(&e, "pkg/ext.so", "pkg/ext.so", None, &[], false);
        assert_eq!(got, Some(RpathEdit::SetRpath("$ORIGIN/../../nvidia/cudnn/lib".into())));
    }

    #[test]
    fn grafted_libraries_link_after_their_neighbours() {
        let link = vec!["$ORIGIN/../nvidia/cublas/lib".to_string()];
        assert_eq!(graft_rpath(true, &link), RpathEdit::SetRpath("$ORIGIN:$ORIGIN/../nvidia/cublas/lib".into()));
        assert_eq!(graft_rpath(false, &link), RpathEdit::SetRpath("$ORIGIN/../nvidia/cublas/lib".into()));
        assert_eq!(graft_rpath(true, &[]), RpathEdit::SetRpath("$ORIGIN".into()));
        assert_eq!(graft_rpath(false, &[]), RpathEdit::Remove);
    }
}
