//! `wheelfix lddtree FILE`: the tree of libraries one ELF file needs, found
//! as the dynamic loader (and `show`) finds them, like auditwheel's
//! `lddtree`. Text by default, `--json` for a document.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use serde_json::{json, Value};

use super::Printer;
use crate::binary::{BinaryInfo, ElfInfo};
use crate::error::Error;
use crate::resolve::elf::ElfResolver;
use crate::resolve::{Dir, Location, WheelBinaries};

/// Arguments of `lddtree`.
#[derive(Debug, Args)]
pub struct LddtreeArgs {
    /// The ELF file (an extension module, a library, an executable).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print a JSON document (`schema_version`, `path`, `realpath`, `interp`, `needed`,
    /// `rpath`, `runpath`, `libraries`) instead of the tree.
    #[arg(long)]
    pub json: bool,
    /// Search DIR for libraries before anything else (repeatable, `:` separated lists split).
    #[arg(long = "lib-path", value_name = "DIR")]
    pub lib_path: Vec<String>,
    /// Colon-separated directories that replace ld.so.conf and the trusted directories.
    #[arg(long, value_name = "PATHS")]
    pub ldpaths: Option<String>,
    /// Root of the target file system.
    #[arg(long, value_name = "DIR")]
    pub sysroot: Option<PathBuf>,
}

/// One library found (or not) for a name.
struct Found {
    path: Option<PathBuf>,
    realpath: Option<PathBuf>,
    needed: Vec<String>,
}

/// The libraries `elf` at `path` needs, transitively, by name, in the order first needed.
fn walk(path: &Path, elf: &ElfInfo, resolver: &ElfResolver) -> Vec<(String, Found)> {
    let wheel = WheelBinaries::new();
    let origin = Dir::parent_of(&Location::Disk(path.to_path_buf()));
    let root_rpath = if elf.runpath.is_empty() { resolver.expand_all(&elf.rpath, &origin, elf) } else { Vec::new() };
    let root_runpath = resolver.expand_all(&elf.runpath, &origin, elf);
    let mut out: Vec<(String, Found)> = Vec::new();
    let mut queue: std::collections::VecDeque<(Location, Arc<BinaryInfo>)> =
        [(Location::Disk(path.to_path_buf()), Arc::new(BinaryInfo::Elf(elf.clone())))].into();
    while let Some((loc, info)) = queue.pop_front() {
        let BinaryInfo::Elf(requester) = info.as_ref() else { continue };
        for name in &requester.needed {
            if out.iter().any(|(n, _)| n == name) {
                continue;
            }
            let found = resolver.find(name, requester, &loc, &root_rpath, &root_runpath, &wheel);
            let entry = match found {
                Ok(r) => {
                    let needed = match r.info.as_ref() {
                        BinaryInfo::Elf(e) => e.needed.clone(),
                        _ => Vec::new(),
                    };
                    let Location::Disk(p) = &r.location else { continue };
                    queue.push_back((r.location.clone(), r.info.clone()));
                    Found { path: Some(p.clone()), realpath: r.realpath.clone(), needed }
                }
                Err(_) => Found { path: None, realpath: None, needed: Vec::new() },
            };
            out.push((name.clone(), entry));
        }
    }
    out
}

/// Runs `lddtree`; returns the exit code (0 every library found, 1 one missing, 2 error).
pub fn run(args: &LddtreeArgs, printer: &Printer) -> u8 {
    // a directory passes here; reading it below says "is a directory, not a file"
    if let Some(problem) = super::paths::unreadable_input(&args.file, true) {
        printer.path_problem(&problem);
        return 2;
    }
    let data = match std::fs::read(&args.file) {
        Ok(d) => d,
        Err(e) => {
            printer.error(&Error::io(&args.file, e));
            return 2;
        }
    };
    let elf = match crate::binary::elf::parse(&data) {
        Ok(e) => e,
        Err(source) => {
            printer.error(&Error::Binary { file: args.file.display().to_string(), source });
            return 2;
        }
    };
    let sysroot = args.sysroot.clone().unwrap_or_else(|| PathBuf::from("/"));
    let lib_path = args.lib_path.iter().flat_map(|s| super::split_paths(s)).map(PathBuf::from).collect();
    let ld_paths = args.ldpaths.as_ref().map(|s| crate::resolve::split_paths(s));
    let arch = elf.arch().unwrap_or("");
    let resolver = ElfResolver::new(&sysroot, lib_path, ld_paths, elf.is_musl().then_some(arch));
    let libs = walk(&args.file, &elf, &resolver);
    let code = if libs.iter().any(|(_, f)| f.path.is_none()) { 1 } else { 0 };
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        serde_json::to_writer_pretty(&mut out, &document(&args.file, &elf, &libs))
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))
    } else {
        write_tree(&mut out, &args.file, &elf, &libs)
    };
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            printer.error(&Error::io("<stdout>", e));
            2
        }
        _ => code,
    }
}

fn show(p: &Option<PathBuf>) -> Value {
    p.as_ref().map_or(Value::Null, |p| json!(p.display().to_string()))
}

/// The `--json` document.
fn document(file: &Path, elf: &ElfInfo, libs: &[(String, Found)]) -> Value {
    let libraries: serde_json::Map<String, Value> = libs
        .iter()
        .map(|(name, f)| {
            (name.clone(), json!({"path": show(&f.path), "realpath": show(&f.realpath), "needed": f.needed}))
        })
        .collect();
    json!({
        "schema_version": 1,
        "path": file.display().to_string(),
        "realpath": show(&std::fs::canonicalize(file).ok()),
        "interp": elf.interp,
        "needed": elf.needed,
        "rpath": elf.rpath,
        "runpath": elf.runpath,
        "libraries": libraries,
    })
}

/// The tree: each library under the file that needs it, once, with where it was found.
fn write_tree(out: &mut dyn Write, file: &Path, elf: &ElfInfo, libs: &[(String, Found)]) -> std::io::Result<()> {
    writeln!(out, "{}", file.display())?;
    let by_name: BTreeMap<&str, &Found> = libs.iter().map(|(n, f)| (n.as_str(), f)).collect();
    let mut shown = std::collections::HashSet::new();
    let mut stack: Vec<(&str, usize)> = elf.needed.iter().rev().map(|n| (n.as_str(), 1)).collect();
    while let Some((name, depth)) = stack.pop() {
        let Some(f) = by_name.get(name) else { continue };
        let place = f.path.as_ref().map_or_else(|| "not found".to_string(), |p| p.display().to_string());
        let again = !shown.insert(name);
        writeln!(out, "{}{name} => {place}{}", "    ".repeat(depth), if again { " (above)" } else { "" })?;
        if !again {
            stack.extend(f.needed.iter().rev().map(|n| (n.as_str(), depth + 1)));
        }
    }
    Ok(())
}
