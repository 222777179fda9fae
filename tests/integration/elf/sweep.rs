//! Stripping, and the sweep that rewrites every shared library of the
//! system and loads it.

use super::*;

// ---------------------------------------------------------------------------
// Strip.

#[test]
fn strip_drops_symbols_and_keeps_loaded_bytes() {
    let fx = Fixtures::get();
    let tmp = tempfile::tempdir().unwrap();
    let mut files: Vec<(String, Vec<u8>)> =
        ["libbar.so", "libfoo.so", "ext.so", "musl-exe"].iter().map(|n| (n.to_string(), fx.read(n))).collect();
    for n in PREBUILT {
        files.push((n.to_string(), fs::read(prebuilt(n)).unwrap()));
    }
    for (name, input) in &files {
        let out = strip(input).unwrap_or_else(|e| panic!("{name}: {e}"));
        // patchelf puts its segment after the old section contents, so a
        // patchelf-touched file cannot shrink without moving loaded bytes.
        if !name.contains("patchelf") {
            assert!(out.len() < input.len(), "{name}: strip did not shrink the file");
        }
        let count = |d: &[u8]| wheelfix::binary::elf::ElfFile::parse(d).unwrap().shdrs.len();
        assert!(count(&out) < count(input), "{name}: strip removed no section");
        let path = tmp.path().join(name);
        write_exec(&path, &out);
        let sections = readelf_clean(&path, &["-S", "-W"]);
        readelf_clean(&path, &["-a", "-W"]);
        for gone in [".symtab", ".strtab", ".debug_", ".comment"] {
            assert!(!sections.contains(gone), "{name}: {gone} still there:\n{sections}");
        }
        assert!(sections.contains(".dynsym") && sections.contains(".shstrtab"), "{name}");
        assert_eq!(parse(&out).unwrap(), parse(input).unwrap(), "{name}: dynamic info changed");
        assert_eq!(layout_violations(&out).unwrap(), layout_violations(input).unwrap(), "{name}");
        // Every loaded byte is unchanged (except the section fields of the
        // ELF header, which the loader does not read).
        let info = wheelfix::binary::elf::ElfFile::parse(input).unwrap();
        let ehsize = if info.is64 { 64 } else { 52 };
        for p in info.phdrs.iter().filter(|p| p.p_type == 1) {
            let r = (p.p_offset as usize).max(ehsize)..(p.p_offset + p.p_filesz) as usize;
            assert_eq!(out[r.clone()], input[r], "{name}: loaded bytes changed");
        }
        // binutils (built for the host) accepts the result as input.
        if matches!(parse(input).unwrap().machine, 3 | 62) {
            run(Command::new("objcopy").arg(&path).arg(tmp.path().join(format!("{name}.objcopy"))));
        }
    }
    // A stripped library still loads and runs (libbar has no dependency).
    let bar = tmp.path().join("libbar.so");
    assert_eq!(dlopen(&bar, Some("bar_value")), Ok("42".to_string()));
    // Stripping then rewriting (auditwheel's order) works.
    let stripped = strip(&fx.read("libfoo.so")).unwrap();
    let out = apply(&stripped, &edits(|e| e.rpath = Some(RpathEdit::SetRpath("$ORIGIN/../x.libs".into())))).unwrap();
    check_output(&stripped, &out, tmp.path(), "libfoo.stripped-rpath.so");
}

// ---------------------------------------------------------------------------
// The system sweep.

fn system_libraries() -> Vec<PathBuf> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for dir in ["/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu"] {
        let Ok(rd) = fs::read_dir(dir) else { continue };
        let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if !name.contains(".so") || !p.is_file() {
                continue;
            }
            let Ok(canon) = fs::canonicalize(&p) else { continue };
            if seen.insert(canon.clone()) {
                out.push(canon);
            }
        }
    }
    out
}

#[derive(Debug, Default)]
struct Sweep {
    libraries: usize,
    not_elf_dyn: usize,
    unloadable_before: Vec<String>,
    rewritten: usize,
    loaded_after: usize,
    failures: Vec<String>,
    /// How the new program header was placed: relocated table, reused
    /// PT_NOTE, reused PT_NULL or grown table; and how many moved `.dynamic`.
    relocated_pht: usize,
    reused_note: usize,
    other_slot: usize,
    moved_dynamic: usize,
    slowest: (Duration, String, usize),
}

/// Every shared library of the system gets longer DT_NEEDED names (symlinks
/// to the real dependencies), a new RPATH to the symlinks and a longer
/// SONAME; the result must parse, satisfy readelf and load in a fresh process.
#[test]
fn sweep_system_libraries() {
    use rayon::prelude::*;
    let _ = Fixtures::get();
    let libs = system_libraries();
    assert!(libs.len() > 20, "too few shared libraries in /usr/lib/x86_64-linux-gnu to sweep");
    let tmp = tempfile::tempdir().unwrap();
    let links = tmp.path().join("links");
    fs::create_dir(&links).unwrap();
    let by_name: BTreeMap<String, PathBuf> = libs
        .iter()
        .flat_map(|p| {
            let dir = p.parent().unwrap().to_path_buf();
            let rd = fs::read_dir(dir).into_iter().flatten().flatten();
            rd.filter_map(move |e| {
                let canon = fs::canonicalize(e.path()).ok()?;
                (&canon == p).then(|| (e.file_name().to_string_lossy().into_owned(), canon))
            })
        })
        .collect();
    let long = |n: &str| format!("wheelfix-renamed-dependency-{n}");
    for (name, target) in &by_name {
        std::os::unix::fs::symlink(target, links.join(long(name))).unwrap();
    }
    let rpath = links.to_string_lossy().into_owned();
    let results: Vec<Sweep> = libs
        .par_iter()
        .map(|lib| {
            let mut s = Sweep { libraries: 1, ..Sweep::default() };
            let label = lib.display().to_string();
            let Ok(data) = fs::read(lib) else { return s };
            let info = match parse(&data) {
                Ok(i) if i.elf_type == 3 && i.machine == 62 => i,
                _ => {
                    s.not_elf_dyn = 1;
                    return s;
                }
            };
            let loads_before = dlopen(lib, None).is_ok();
            if !loads_before {
                s.unloadable_before.push(label.clone());
            }
            let e = edits(|e| {
                let soname = info.soname.clone().unwrap_or_else(|| lib.file_name().unwrap().to_string_lossy().into());
                e.set_soname = Some(long(&soname));
                e.replace_needed =
                    info.needed.iter().filter(|n| by_name.contains_key(*n)).map(|n| (n.clone(), long(n))).collect();
                // The symlinks first, then the library's own search path
                // (e.g. libpulse finds libpulsecommon through it).
                let own: Vec<&str> = info.rpath.iter().chain(&info.runpath).map(String::as_str).collect();
                let path = std::iter::once(rpath.as_str()).chain(own).collect::<Vec<_>>().join(":");
                e.rpath = Some(RpathEdit::SetRpath(path));
            });
            let start = Instant::now();
            let out = match apply(&data, &e) {
                Ok(o) => o,
                Err(err) => {
                    s.failures.push(format!("{label}: rewrite: {err}"));
                    return s;
                }
            };
            s.slowest = (start.elapsed(), label.clone(), data.len());
            s.rewritten = 1;
            let (a, b) = (
                wheelfix::binary::elf::ElfFile::parse(&data).unwrap(),
                wheelfix::binary::elf::ElfFile::parse(&out).unwrap(),
            );
            let notes = |f: &wheelfix::binary::elf::ElfFile<'_>| f.phdrs.iter().filter(|p| p.p_type == 4).count();
            if a.e_phoff != b.e_phoff {
                s.relocated_pht = 1;
            } else if notes(&b) < notes(&a) {
                s.reused_note = 1;
            } else {
                s.other_slot = 1;
            }
            if b.phdrs.iter().any(|p| p.p_type == 2 && p.p_offset >= data.len() as u64) {
                s.moved_dynamic = 1;
            }
            let path = tmp.path().join(lib.file_name().unwrap());
            write_exec(&path, &out);
            drop(out);
            let re = Command::new("readelf").args(["-h", "-l", "-S", "-d", "-V", "-n", "-W"]).arg(&path).output();
            match re {
                Ok(o) if o.stderr.is_empty() => {}
                Ok(o) => s.failures.push(format!("{label}: readelf: {}", String::from_utf8_lossy(&o.stderr))),
                Err(err) => s.failures.push(format!("{label}: readelf: {err}")),
            }
            if loads_before {
                match dlopen(&path, None) {
                    Ok(_) => s.loaded_after = 1,
                    Err(err) => s.failures.push(format!("{label}: dlopen after rewrite: {err}")),
                }
            }
            let _ = fs::remove_file(&path);
            s
        })
        .collect();
    let mut total = Sweep::default();
    for r in results {
        total.libraries += r.libraries;
        total.not_elf_dyn += r.not_elf_dyn;
        total.unloadable_before.extend(r.unloadable_before);
        total.rewritten += r.rewritten;
        total.loaded_after += r.loaded_after;
        total.failures.extend(r.failures);
        total.relocated_pht += r.relocated_pht;
        total.reused_note += r.reused_note;
        total.other_slot += r.other_slot;
        total.moved_dynamic += r.moved_dynamic;
        if r.slowest.0 > total.slowest.0 {
            total.slowest = r.slowest;
        }
    }
    println!(
        "ELF sweep: {} libraries, {} not x86-64 ET_DYN, {} rewritten, {} failed to load unpatched (excluded), \
         {} loaded after rewrite, {} failures; slowest rewrite {:?} for {} ({} bytes)",
        total.libraries,
        total.not_elf_dyn,
        total.rewritten,
        total.unloadable_before.len(),
        total.loaded_after,
        total.failures.len(),
        total.slowest.0,
        total.slowest.1,
        total.slowest.2
    );
    println!(
        "ELF sweep slots: {} reused a build-id PT_NOTE, {} relocated the program headers, {} other; \
         {} moved .dynamic",
        total.reused_note, total.relocated_pht, total.other_slot, total.moved_dynamic
    );
    for u in &total.unloadable_before {
        println!("  unloadable before rewrite: {u}");
    }
    assert!(total.failures.is_empty(), "sweep failures:\n{}", total.failures.join("\n"));
    assert!(total.rewritten > 20 && total.loaded_after > 20, "{total:?}");
}
