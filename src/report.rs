//! Rendering an [`Analysis`] as human text or as versioned JSON
//! (`schema/show.schema.json`). Both write to any writer, so tests capture
//! them in memory.

use std::collections::BTreeSet;
use std::io::{self, Write};

use serde_json::{json, Map, Value};

use crate::analyze::{Analysis, NodeKind, Status, Verdict};
use crate::binary::BinaryInfo;
use crate::policy::blocker::Blocker;

/// Version of the `show --json` document (its `schema_version`): 2 is
/// `{schema_version, wheels: [...]}` for one wheel or many; 1 printed a bare
/// per-wheel object for one wheel and an array for several.
pub const JSON_VERSION: u32 = 2;

/// The `show --json` document around per-wheel objects ([`to_json`], [`error_json`]).
pub fn show_document(wheels: Vec<Value>) -> Value {
    json!({ "schema_version": JSON_VERSION, "wheels": wheels })
}

/// The per-wheel object of `show --json` for a wheel that could not be analysed.
pub fn error_json(wheel: &std::path::Path, err: &crate::error::Error) -> Value {
    json!({ "wheel": wheel.display().to_string(), "error": err.to_string() })
}

/// Does the wheel need repair, as far as `show` can tell?
pub fn needs_repair(a: &Analysis) -> bool {
    unlinked(a) || platform_needs_repair(a)
}

/// Whether a wheel ELF or Mach-O file needs a library another distribution
/// provides (`--site-packages`) without the rpath entry that finds it where
/// it is installed (`$ORIGIN/…`, `@loader_path/…` in every slice).
fn unlinked(a: &Analysis) -> bool {
    (0..a.binaries.len()).any(|i| {
        let install = a.install_path(&a.binaries[i].path);
        let links = crate::plan::provided::relative_links(a, i, install);
        match a.binaries[i].info.as_ref() {
            BinaryInfo::Elf(e) => {
                links.iter().any(|rel| !e.rpath.iter().chain(&e.runpath).any(|r| *r == format!("$ORIGIN/{rel}")))
            }
            BinaryInfo::MachO(m) => links.iter().any(|rel| {
                let want = format!("@loader_path/{rel}");
                !m.slices.iter().all(|s| s.rpaths.contains(&want))
            }),
            BinaryInfo::Pe(_) => false,
        }
    })
}

fn platform_needs_repair(a: &Analysis) -> bool {
    match &a.verdict {
        Verdict::Pure => false,
        Verdict::Linux(v) => v.current.is_none() || v.current != v.best || !a.missing().is_empty(),
        Verdict::Macos(m) => {
            !a.to_bundle().is_empty()
                || m.best.as_ref().map_or(true, |t| *t != a.filename.platform)
                || !m.blockers.is_empty()
        }
        Verdict::Windows(w) => !a.to_bundle().is_empty() || !w.blockers.is_empty(),
    }
}

/// Why `repair` with the same options would fail, when it would: the first
/// library to bundle that was not found (the error `repair` gives).
pub fn repair_blocker(a: &Analysis) -> Option<crate::error::Error> {
    let n = a.to_bundle().into_iter().find(|&n| a.graph.nodes[n].kind == NodeKind::Missing)?;
    Some(a.missing_library_error(n))
}

/// The error line of `e` without its leading `` `wheel`: ``.
fn without_wheel(e: &crate::error::Error) -> String {
    match e {
        crate::error::Error::MissingLibrary { name, needed_by, .. } => {
            format!("required library `{name}` (needed by `{needed_by}`) could not be located")
        }
        other => other.to_string(),
    }
}

/// The per-wheel object of the `show --json` document ([`show_document`]).
pub fn to_json(a: &Analysis) -> Value {
    let wheel = a.wheel.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let mut doc = Map::new();
    doc.insert("wheel".into(), json!(wheel));
    doc.insert("family".into(), json!(a.family()));
    doc.insert("pure".into(), json!(a.is_pure()));
    doc.insert("needs_repair".into(), json!(needs_repair(a)));
    let blocker = repair_blocker(a);
    // no tag is promised that a repair cannot give
    let best = if blocker.is_some() { Vec::new() } else { a.best_platform_tags() };
    doc.insert("tags".into(), json!({ "input": a.filename.platform, "best": best }));
    doc.insert(
        "repair_error".into(),
        blocker.map_or(Value::Null, |e| json!({ "message": without_wheel(&e), "hint": e.hint() })),
    );
    let siblings = crate::analyze::sibling_rpaths(a);
    doc.insert(
        "binaries".into(),
        Value::Array(
            a.binaries
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let mut o = binary_json(&b.info);
                    o.insert("path".into(), json!(b.path));
                    o.insert("extension".into(), json!(b.is_extension));
                    o.insert(
                        "needed".into(),
                        json!(a.graph.nodes[i].deps.iter().map(|e| e.name.clone()).collect::<Vec<_>>()),
                    );
                    if let Some((_, siblings)) = siblings.iter().find(|(b, _)| *b == i) {
                        let v: Vec<Value> = siblings.iter().map(|s| json!({"entry": s.entry, "dir": s.dir})).collect();
                        o.insert("sibling_rpaths".into(), Value::Array(v));
                    }
                    Value::Object(o)
                })
                .collect(),
        ),
    );
    doc.insert("libraries".into(), Value::Array(libraries_json(a)));
    if let Some(v) = a.linux() {
        let external: Map<String, Value> = a
            .linux_target()
            .and_then(|t| v.external_for(&t))
            .map(|m| {
                m.iter()
                    .map(|(name, &n)| {
                        let path = match &a.graph.nodes[n].kind {
                            NodeKind::Disk { realpath, .. } => json!(realpath.display().to_string()),
                            _ => Value::Null,
                        };
                        (name.clone(), path)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let upgrades: Map<String, Value> =
            v.blockers.iter().map(|(tag, bs)| (tag.clone(), serde_json::to_value(bs).unwrap_or(Value::Null))).collect();
        doc.insert(
            "linux".into(),
            json!({
                "libc": v.libc,
                "arch": v.arch,
                "current_tag": v.current.clone().unwrap_or_else(|| format!("linux_{}", v.arch)),
                "best_tag": v.best.clone().unwrap_or_else(|| format!("linux_{}", v.arch)),
                "versioned_symbols": v.versioned_symbols,
                "external_libs": external,
                "policy_upgrades": upgrades,
                "ignored": v.ignored.iter().map(|(f, a)| json!({"file": f, "arch": a})).collect::<Vec<_>>(),
            }),
        );
    }
    if let Some(m) = a.macos() {
        let mins: Map<String, Value> = m
            .min_versions
            .iter()
            .map(|(arch, (v, f))| (arch.clone(), json!({"version": v.to_string(), "file": f})))
            .collect();
        doc.insert(
            "macos".into(),
            json!({
                "archs": m.archs,
                "min_versions": mins,
                "best_tags": m.best.as_ref().ok(),
                "error": m.best.as_ref().err(),
                "blockers": m.blockers,
            }),
        );
    }
    if let Some(w) = a.windows() {
        doc.insert("windows".into(), json!({ "machine": w.machine, "blockers": w.blockers }));
    }
    doc.insert("audit".into(), json!(a.audit));
    doc.insert("link_lint".into(), json!(a.link_lint));
    doc.insert("warnings".into(), json!(a.warnings));
    Value::Object(doc)
}

fn binary_json(info: &BinaryInfo) -> Map<String, Value> {
    let v = match info {
        BinaryInfo::Elf(e) => json!({
            "format": "elf",
            "arch": e.arch(),
            "soname": e.soname,
            "rpath": e.rpath,
            "runpath": e.runpath,
            "interp": e.interp,
        }),
        BinaryInfo::MachO(m) => json!({
            "format": "macho",
            "archs": m.slices.iter().map(|s| s.arch.name()).collect::<Vec<_>>(),
            "id": m.slices.iter().find_map(|s| s.id.clone()),
            "rpaths": m.slices.first().map(|s| s.rpaths.clone()).unwrap_or_default(),
            "min_macos": m.slices.iter().filter_map(|s| s.min_macos).max().map(|v| v.to_string()),
        }),
        BinaryInfo::Pe(p) => json!({
            "format": "pe",
            "machine": p.platform_tag(),
            "delay_imports": p.delay_imports,
        }),
    };
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Every library some binary depends on: the wheel's own binaries that another one
/// loads (status `in-wheel`, as delocate-listdeps lists them), then the nodes found
/// outside the wheel, in graph order.
fn libraries_json(a: &Analysis) -> Vec<Value> {
    let n_bin = a.binaries.len();
    let expected: BTreeSet<usize> = crate::analyze::expected_in_siblings(a).into_iter().map(|(n, _)| n).collect();
    let loaded: BTreeSet<usize> =
        a.graph.nodes.iter().flat_map(|m| m.deps.iter().map(|e| e.node)).filter(|&n| n < n_bin).collect();
    loaded
        .into_iter()
        .chain(n_bin..a.graph.nodes.len())
        .map(|n| {
            let node = &a.graph.nodes[n];
            let status = a.status(n);
            let (path, realpath) = match &node.kind {
                NodeKind::Disk { path, realpath } => {
                    (json!(path.display().to_string()), json!(realpath.display().to_string()))
                }
                NodeKind::Wheel(p) => (json!(p), Value::Null),
                _ => (Value::Null, Value::Null),
            };
            let reason = match &status {
                Status::System(r) => json!(r),
                _ => Value::Null,
            };
            let needed_by: Vec<String> = a
                .graph
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, m)| m.deps.iter().any(|e| e.node == n))
                .map(|(i, _)| node_label(a, i))
                .collect();
            let mut o = json!({
                "name": node.name,
                "status": status.word(),
                "reason": reason,
                "path": path,
                "realpath": realpath,
                "needed_by": needed_by,
            });
            if let NodeKind::Linked(p) = &node.kind {
                o["provider"] = json!({"name": p.dist.name, "version": p.dist.version, "path": p.rel});
                o["path"] = json!(p.path.display().to_string());
            }
            if expected.contains(&n) {
                o["expected_in_sibling_package"] = json!(true);
            }
            let rejected = a.graph.rejected.get(&n).filter(|r| !r.is_empty() && node.kind == NodeKind::Missing);
            if let Some(rejected) = rejected {
                let v: Vec<Value> = rejected
                    .iter()
                    .map(|r| json!({"path": r.path.display().to_string(), "reason": r.reason, "corrupt": r.corrupt}))
                    .collect();
                o["rejected"] = Value::Array(v);
            }
            o
        })
        .collect()
}

fn node_label(a: &Analysis, n: usize) -> String {
    match &a.graph.nodes[n].kind {
        NodeKind::Wheel(p) => p.clone(),
        _ => a.graph.nodes[n].name.clone(),
    }
}

/// Writes the human report.
pub fn write_text(a: &Analysis, out: &mut dyn Write) -> io::Result<()> {
    let wheel = a.wheel.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    writeln!(out, "{wheel}")?;
    match &a.verdict {
        Verdict::Pure => {
            writeln!(out, "  pure Python wheel: no binaries, nothing to repair")?;
            return Ok(());
        }
        Verdict::Linux(v) => {
            let libc = match v.libc {
                crate::policy::linux::Libc::Glibc => "glibc",
                crate::policy::linux::Libc::Musl => "musl",
            };
            writeln!(out, "  platform: Linux, {libc}, {}", v.arch)?;
            let linux = format!("linux_{}", v.arch);
            let cur = v.current.clone().unwrap_or(linux.clone());
            writeln!(out, "  tag as it is:     {cur}")?;
            match repair_blocker(a) {
                Some(_) => writeln!(out, "  tag after repair: none, the repair would fail (see below)")?,
                None => writeln!(out, "  tag after repair: {}", a.best_platform_tags().join("."))?,
            }
        }
        Verdict::Macos(m) => {
            writeln!(out, "  platform: macOS")?;
            for (arch, (v, f)) in &m.min_versions {
                writeln!(out, "  {arch}: needs macOS {v} (highest: `{f}`)")?;
            }
            match &m.best {
                Ok(_) if repair_blocker(a).is_some() => {
                    writeln!(out, "  tag after repair: none, the repair would fail (see below)")?
                }
                Ok(t) => writeln!(out, "  tag after repair: {}", t.join("."))?,
                Err(e) => writeln!(out, "  tag after repair: none: {e}")?,
            }
        }
        Verdict::Windows(_) => {
            writeln!(out, "  platform: Windows, {}", a.filename.platform.join("."))?;
            writeln!(out, "  tag: unchanged by repair")?;
        }
    }
    writeln!(out)?;
    for (i, b) in a.binaries.iter().enumerate() {
        let what = if b.is_extension { "extension" } else { "library" };
        writeln!(out, "  {} [{what}]", b.path)?;
        let mut stack = vec![i];
        write_tree(a, i, "    ", &mut stack, out)?;
    }
    let bundle = a.to_bundle();
    writeln!(out)?;
    if bundle.is_empty() {
        writeln!(out, "  no external libraries to bundle")?;
    } else {
        writeln!(out, "  to bundle ({}):", bundle.len())?;
        for n in &bundle {
            let node = &a.graph.nodes[*n];
            match &node.kind {
                NodeKind::Disk { realpath, .. } => writeln!(out, "    {} ({})", node.name, realpath.display())?,
                _ => writeln!(out, "    {} (NOT FOUND)", node.name)?,
            }
            let missing = node.kind == NodeKind::Missing;
            for r in a.graph.rejected.get(n).into_iter().flatten().filter(|_| missing) {
                let what = if r.corrupt { "corrupt" } else { "unusable" };
                writeln!(out, "      found `{}`, {what}: {}", r.path.display(), r.reason)?;
            }
        }
    }
    write_links(a, out)?;
    if let Some(v) = a.linux() {
        // tags stronger than the best one: what no repair can fix
        let above: Vec<&(String, Vec<Blocker>)> = v.violations.iter().filter(|(_, b)| !b.is_empty()).collect();
        let above: Vec<_> = match &v.best {
            Some(best) => above.into_iter().take_while(|(t, _)| t != best).collect(),
            None => above,
        };
        if !above.is_empty() {
            writeln!(out)?;
            writeln!(out, "  stronger tags and what stands in the way (repair cannot fix these):")?;
            for (tag, blockers) in above {
                let alias = v.policy(tag).map(|p| p.alias_tags()).unwrap_or_default();
                let alias = if alias.is_empty() { String::new() } else { format!(" ({})", alias.join(", ")) };
                writeln!(out, "    {tag}{alias}:")?;
                for b in blockers.iter().take(8) {
                    writeln!(out, "      - {}", blocker_text(b))?;
                }
                if blockers.len() > 8 {
                    writeln!(out, "      - … and {} more", blockers.len() - 8)?;
                }
            }
        }
    }
    if let Some(m) = a.macos() {
        for b in &m.blockers {
            writeln!(out, "  problem: {}", blocker_text(b))?;
        }
    }
    if let Some(w) = a.windows() {
        for b in &w.blockers {
            writeln!(out, "  problem: {}", blocker_text(b))?;
        }
    }
    for b in &a.audit {
        writeln!(out, "  problem: {}", blocker_text(b))?;
    }
    for l in &a.link_lint {
        writeln!(out, "  link: {l}")?;
    }
    for w in &a.warnings {
        writeln!(out, "  warning: {w}")?;
    }
    if let Some(e) = repair_blocker(a) {
        writeln!(out)?;
        writeln!(out, "  repair would fail: {}", without_wheel(&e))?;
        if let Some(h) = e.hint() {
            writeln!(out, "  hint: {h}")?;
        }
    }
    Ok(())
}

/// What links the wheel to other distributions: the libraries they provide
/// (`--site-packages`), the RPATH entries into sibling packages a repair
/// keeps, and the libraries those entries are expected to find.
fn write_links(a: &Analysis, out: &mut dyn Write) -> io::Result<()> {
    let linked = a.linked();
    if !linked.is_empty() {
        writeln!(out)?;
        writeln!(out, "  linked to other distributions, not bundled ({}):", linked.len())?;
        for (n, users) in &linked {
            let node = &a.graph.nodes[*n];
            if let NodeKind::Linked(p) = &node.kind {
                let by: Vec<String> = users.iter().map(|&u| node_label(a, u)).collect();
                writeln!(
                    out,
                    "    {} [provided by {} {}] => {} (needed by {})",
                    node.name,
                    p.dist.name,
                    p.dist.version,
                    p.rel,
                    by.join(", ")
                )?;
            }
        }
    }
    let siblings = crate::analyze::sibling_rpaths(a);
    if siblings.is_empty() {
        return Ok(());
    }
    // files with the same entries, resolving alike, are listed together
    let mut groups: Vec<(&[crate::analyze::SiblingRpath], Vec<&str>)> = Vec::new();
    for (i, entries) in &siblings {
        let file = a.binaries[*i].path.as_str();
        match groups.iter_mut().find(|(e, _)| *e == entries.as_slice()) {
            Some((_, files)) => files.push(file),
            None => groups.push((entries.as_slice(), vec![file])),
        }
    }
    writeln!(out)?;
    writeln!(out, "  RPATH entries kept as links to sibling packages:")?;
    for (entries, files) in &groups {
        let more = if files.len() > 3 { format!(" and {} more", files.len() - 3) } else { String::new() };
        let shown: Vec<&str> = files.iter().take(3).copied().collect();
        writeln!(out, "    {}{more}:", shown.join(", "))?;
        for s in entries.iter() {
            let dir =
                s.dir.as_deref().map_or_else(|| "outside site-packages".to_string(), |d| format!("site-packages/{d}"));
            writeln!(out, "      {} ({dir})", s.entry)?;
        }
    }
    let expected = crate::analyze::expected_in_siblings(a);
    if !expected.is_empty() {
        writeln!(out, "  expected from those sibling packages, not found ({}):", expected.len())?;
        for (n, users) in &expected {
            let by: Vec<String> = users.iter().map(|&u| node_label(a, u)).collect();
            writeln!(out, "    {} (needed by {})", a.graph.nodes[*n].name, by.join(", "))?;
        }
        writeln!(out, "  hint: pass --site-packages DIR of an environment that has the provider installed")?;
    }
    Ok(())
}

fn write_tree(a: &Analysis, n: usize, indent: &str, stack: &mut Vec<usize>, out: &mut dyn Write) -> io::Result<()> {
    let deps = &a.graph.nodes[n].deps;
    for (k, e) in deps.iter().enumerate() {
        let last = k + 1 == deps.len();
        let (branch, next) = if last { ("└── ", "    ") } else { ("├── ", "│   ") };
        let node = &a.graph.nodes[e.node];
        let status = a.status(e.node);
        let place = match (&node.kind, &status) {
            (NodeKind::Disk { realpath, .. }, _) => format!(" => {}", realpath.display()),
            (NodeKind::Linked(p), _) => format!(" => {}", p.path.display()),
            (NodeKind::Wheel(p), _) => format!(" => {p}"),
            _ => String::new(),
        };
        let note = match &status {
            Status::Missing if a.graph.rejected.contains_key(&e.node) => rejected_note(a, e.node),
            Status::System(r) => format!("system: {r}"),
            Status::Linked(p) => format!("provided by {} {}", p.dist.name, p.dist.version),
            s => s.word().to_string(),
        };
        let cycle = stack.contains(&e.node);
        writeln!(out, "{indent}{branch}{}{place} [{note}]{}", e.name, if cycle { " (cycle)" } else { "" })?;
        // system libraries' own dependencies are not interesting
        if !cycle && !matches!(status, Status::System(_)) && stack.len() < 64 {
            stack.push(e.node);
            write_tree(a, e.node, &format!("{indent}{next}"), stack, out)?;
            stack.pop();
        }
    }
    Ok(())
}

/// What the search found of a missing library but could not use: the
/// first corrupt file, or else every file skipped (another machine's).
fn rejected_note(a: &Analysis, n: usize) -> String {
    let rejected = a.graph.rejected.get(&n).map_or(&[][..], Vec::as_slice);
    if let Some(bad) = rejected.iter().find(|r| r.corrupt) {
        return format!("corrupt: `{}`: {}", bad.path.display(), bad.reason);
    }
    let skipped: String = rejected.iter().map(|r| format!("; skipped `{}`: {}", r.path.display(), r.reason)).collect();
    format!("missing{skipped}")
}

/// One line explaining a blocker (its `Display`).
pub fn blocker_text(b: &Blocker) -> String {
    b.to_string()
}
