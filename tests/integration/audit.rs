//! Audits that hold whatever the platform tag, on ELF files built with `cc`:
//! the Stable ABI of `abi3`/`abi3t` wheels, executable stacks, the link lint,
//! OpenMP runtimes, free-threaded libpython.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::util::{self, text, wheelfix};

/// Writes `{name}-1.0-{tag}.whl` into `dir` holding `files` plus dist-info.
fn tagged_wheel(dir: &Path, name: &str, tag: &str, files: Vec<(String, Vec<u8>)>) -> PathBuf {
    let filename: wheelfix::wheel::WheelFilename = format!("{name}-1.0-{tag}.whl").parse().unwrap();
    let di = filename.dist_info_dir();
    let mut entries: Vec<(String, Vec<u8>, u32)> = files.into_iter().map(|(n, d)| (n, d, 0o755)).collect();
    entries.push((
        format!("{di}/METADATA"),
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n").into_bytes(),
        0o644,
    ));
    let wheel = format!("Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: {tag}\n");
    entries.push((format!("{di}/WHEEL"), wheel.into_bytes(), 0o644));
    wheelfix::wheel::writer::write_new_wheel(dir, &filename, entries, &Default::default()).unwrap()
}

/// An extension `PyInit_<module>` that calls each of `calls` (fake Python
/// API functions: a shared object may leave them undefined).
fn py_ext(dir: &Path, module: &str, calls: &[&str], args: &[&str]) -> Vec<u8> {
    let decls: String = calls.iter().map(|c| format!("void *{c}(void);\n")).collect();
    let body: String = calls.iter().map(|c| format!("    {c}();\n")).collect();
    let src = format!("{decls}void *PyInit_{module}(void) {{\n{body}    return 0;\n}}\n");
    let out = dir.join(format!("{module}.so"));
    let mut all = vec!["-shared"];
    all.extend_from_slice(args);
    util::cc(dir, &src, &out, &all);
    std::fs::read(out).unwrap()
}

fn show_json(wheel: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["show", "--json", wheel.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = wheelfix(&args);
    // 1: the wheel needs repair (its dependencies are not in it)
    assert!(matches!(out.status.code(), Some(0 | 1)), "{:?} {}", out.status, text(&out.stderr));
    util::one_wheel(serde_json::from_slice(&out.stdout).unwrap())
}

fn schema_ok(doc: &Value) {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema/show.schema.json")).unwrap(),
    )
    .unwrap();
    // the document of one wheel, as `show --json` prints it
    let document = json!({"schema_version": 2, "wheels": [doc]});
    util::check_schema(&schema, &schema, &document, "$").unwrap();
}

#[test]
fn abi3_violations_are_shown_checked_and_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let calls = ["PyList_New", "PyUnicode_AsUTF8AndSize", "PyUnicode_AsUTF8", "_PyObject_GetDictPtr"];
    let ext = py_ext(tmp.path(), "_ext", &calls, &[]);
    let wheel =
        tagged_wheel(tmp.path(), "pkg", "cp38-abi3-linux_x86_64", vec![("pkg/_ext.abi3.so".into(), ext.clone())]);
    let doc = show_json(&wheel, &[]);
    schema_ok(&doc);
    let abi3 = |symbol: &str, added: Option<&str>| json!({"kind": "abi3", "file": "pkg/_ext.abi3.so", "symbol": symbol, "added": added, "claimed": "3.8"});
    assert_eq!(
        doc["audit"],
        json!([
            abi3("PyUnicode_AsUTF8", None),
            abi3("PyUnicode_AsUTF8AndSize", Some("3.10")),
            abi3("_PyObject_GetDictPtr", None)
        ])
    );
    let out = wheelfix(&["show", wheel.to_str().unwrap()]);
    let shown = text(&out.stdout);
    assert!(
        shown.contains(
            "  problem: `pkg/_ext.abi3.so` uses PyUnicode_AsUTF8AndSize, added to the Stable ABI in 3.10, after the 3.8 its tag claims\n"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("  problem: `pkg/_ext.abi3.so` uses PyUnicode_AsUTF8, which is not in the Stable ABI\n"),
        "{shown}"
    );

    // check fails with a row naming the file
    let house = tmp.path().join("house");
    std::fs::create_dir(&house).unwrap();
    let tag310 =
        tagged_wheel(&house, "pkg", "cp310-abi3-manylinux_2_17_x86_64", vec![("pkg/_ext.abi3.so".into(), ext)]);
    let out = wheelfix(&["check", house.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let rows = text(&out.stdout) + &text(&out.stderr);
    assert!(rows.contains("`pkg/_ext.abi3.so` uses PyUnicode_AsUTF8, which is not in the Stable ABI"), "{rows}");
    assert!(!rows.contains("PyUnicode_AsUTF8AndSize"), "3.10 has it: {rows}");
    assert_eq!(show_json(&tag310, &[])["audit"].as_array().unwrap().len(), 2);

    // repair refuses with one line, and writes the wheel when allowed
    let w = tmp.path().join("w");
    let out = wheelfix(&["repair", wheel.to_str().unwrap(), "-w", w.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let first = err.lines().next().unwrap();
    assert!(
        first.contains("`pkg/_ext.abi3.so` uses PyUnicode_AsUTF8, which is not in the Stable ABI (and 2 more)"),
        "{err}"
    );
    assert!(err.contains("--allow-abi3-violations"), "{err}");
    assert!(!w.exists() || std::fs::read_dir(&w).unwrap().next().is_none());
    let out = wheelfix(&["repair", wheel.to_str().unwrap(), "-w", w.to_str().unwrap(), "--allow-abi3-violations"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = w.join("pkg-1.0-cp38-abi3-manylinux1_x86_64.manylinux_2_5_x86_64.whl");
    assert!(written.exists());
    // the written wheel needs no repair, but show still exits 1 for its problems
    assert_eq!(show_json(&written, &[])["needs_repair"], json!(false));
    assert_eq!(wheelfix(&["show", written.to_str().unwrap()]).status.code(), Some(1));
}

#[test]
fn clean_abi3_wheels_and_version_specific_suffixes() {
    let tmp = tempfile::tempdir().unwrap();
    let ext = py_ext(tmp.path(), "_ext", &["PyList_New", "Py_IncRef", "PyType_FromSpec"], &[]);
    let clean =
        tagged_wheel(tmp.path(), "pkg", "cp38-abi3-linux_x86_64", vec![("pkg/_ext.abi3.so".into(), ext.clone())]);
    let doc = show_json(&clean, &[]);
    assert_eq!(doc["audit"], json!([]));
    assert_eq!(doc["link_lint"], json!([]));
    let w = tmp.path().join("w");
    let out = wheelfix(&["repair", clean.to_str().unwrap(), "-w", w.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = PathBuf::from(text(&out.stdout).trim());
    assert_eq!(wheelfix(&["show", written.to_str().unwrap()]).status.code(), Some(0));
    // the same symbols, but a suffix only CPython 3.12 imports
    let d2 = tmp.path().join("d2");
    std::fs::create_dir(&d2).unwrap();
    let name = "pkg/_ext.cpython-312-x86_64-linux-gnu.so";
    let suffixed = tagged_wheel(&d2, "pkg", "cp38-abi3-linux_x86_64", vec![(name.into(), ext.clone())]);
    assert_eq!(show_json(&suffixed, &[])["audit"], json!([{"kind": "abi3_suffix", "file": name, "abi": "abi3"}]));
    let out = wheelfix(&["repair", suffixed.to_str().unwrap(), "-w", w.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not every Python of an abi3 wheel imports"), "{}", text(&out.stderr));
    // a version-specific wheel may have it: nothing is audited
    let d3 = tmp.path().join("d3");
    std::fs::create_dir(&d3).unwrap();
    let specific = tagged_wheel(&d3, "pkg", "cp312-cp312-linux_x86_64", vec![(name.into(), ext.clone())]);
    assert_eq!(show_json(&specific, &[])["audit"], json!([]));
    // abi3t: `.abi3.so` is not imported by free-threaded builds; `.abi3t.so` is
    let d4 = tmp.path().join("d4");
    std::fs::create_dir(&d4).unwrap();
    let t = tagged_wheel(&d4, "pkg", "cp315-abi3t-linux_x86_64", vec![("pkg/_ext.abi3.so".into(), ext.clone())]);
    assert_eq!(
        show_json(&t, &[])["audit"],
        json!([{"kind": "abi3_suffix", "file": "pkg/_ext.abi3.so", "abi": "abi3t"}])
    );
    let d5 = tmp.path().join("d5");
    std::fs::create_dir(&d5).unwrap();
    let t = tagged_wheel(&d5, "pkg", "cp315-abi3t-linux_x86_64", vec![("pkg/_ext.abi3t.so".into(), ext)]);
    assert_eq!(show_json(&t, &[])["audit"], json!([]));
    let out = wheelfix(&["repair", t.to_str().unwrap(), "-w", w.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(w.join("pkg-1.0-cp315-abi3t-manylinux1_x86_64.manylinux_2_5_x86_64.whl").exists());
}

/// `data` with every `from` replaced by `to` (of the same length).
fn replaced(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = data.to_vec();
    let mut hits = 0;
    let mut i = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            hits += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    assert!(hits > 0, "{} not found", String::from_utf8_lossy(from));
    out
}

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(path)).unwrap()
}

#[test]
fn abi3_audit_reads_macho_symbol_tables() {
    let tmp = tempfile::tempdir().unwrap();
    // both slices of the universal2 fixture import _PyLong_FromLong (Stable ABI 3.2)
    let ext = fixture("macho/universal2/ext.cpython-312-darwin.so");
    let tag = "cp38-abi3-macosx_11_0_universal2";
    let clean = tagged_wheel(tmp.path(), "pkg", tag, vec![("pkg/ext.abi3.so".into(), ext.clone())]);
    assert_eq!(show_json(&clean, &[])["audit"], json!([]));
    // the same name, one letter changed in both string tables: not in the Stable ABI
    let d2 = tmp.path().join("d2");
    std::fs::create_dir(&d2).unwrap();
    let bad = replaced(&ext, b"_PyLong_FromLong\0", b"_PyLong_FromLonX\0");
    let w = tagged_wheel(&d2, "pkg", tag, vec![("pkg/ext.abi3.so".into(), bad)]);
    let doc = show_json(&w, &[]);
    schema_ok(&doc);
    assert_eq!(
        doc["audit"],
        json!([{"kind": "abi3", "file": "pkg/ext.abi3.so", "symbol": "PyLong_FromLonX", "added": null, "claimed": "3.8"}])
    );
    // the fixture's own version-specific name
    let d3 = tmp.path().join("d3");
    std::fs::create_dir(&d3).unwrap();
    let w = tagged_wheel(&d3, "pkg", tag, vec![("pkg/ext.cpython-312-darwin.so".into(), ext)]);
    assert_eq!(
        show_json(&w, &[])["audit"],
        json!([{"kind": "abi3_suffix", "file": "pkg/ext.cpython-312-darwin.so", "abi": "abi3"}])
    );
}

#[test]
fn abi3_audit_reads_pe_import_tables() {
    let tmp = tempfile::tempdir().unwrap();
    // the fixture imports GetCurrentThreadId from kernel32.dll
    let ext = fixture("pe/msvc-x64/ext.pyd");
    let tag = "cp38-abi3-win_amd64";
    let clean = tagged_wheel(tmp.path(), "pkg", tag, vec![("pkg/ext.pyd".into(), ext.clone())]);
    assert_eq!(show_json(&clean, &[])["audit"], json!([]));
    // a Python-named import, from one CPython version's DLL
    let bad = replaced(&ext, b"GetCurrentThreadId\0", b"Py_CurrentThreadId\0");
    let bad = replaced(&bad, b"kernel32.dll\0", b"python32.dll\0");
    let d2 = tmp.path().join("d2");
    std::fs::create_dir(&d2).unwrap();
    let w = tagged_wheel(&d2, "pkg", tag, vec![("pkg/ext.pyd".into(), bad)]);
    let doc = show_json(&w, &[]);
    schema_ok(&doc);
    assert_eq!(
        doc["audit"],
        json!([
            {"kind": "abi3", "file": "pkg/ext.pyd", "symbol": "Py_CurrentThreadId", "added": null, "claimed": "3.8"},
            {"kind": "abi3_dll", "file": "pkg/ext.pyd", "dll": "python32.dll"},
        ])
    );
    let out = wheelfix(&["show", w.to_str().unwrap()]);
    assert!(
        text(&out.stdout)
            .contains("problem: `pkg/ext.pyd` imports from python32.dll, which one CPython version provides, not from python3.dll"),
        "{}",
        text(&out.stdout)
    );
}

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_GNU_STACK: u32 = 0x6474_e551;

fn u16_at(d: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes(d[at..at + 2].try_into().unwrap()))
}
fn u32_at(d: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(d[at..at + 4].try_into().unwrap())
}
fn u64_at(d: &[u8], at: usize) -> usize {
    u64::from_le_bytes(d[at..at + 8].try_into().unwrap()) as usize
}

/// The program headers of a little-endian ELF64 file: (offset of the
/// header, p_type, p_offset, p_vaddr, p_filesz).
fn phdrs(elf: &[u8]) -> Vec<(usize, u32, usize, usize, usize)> {
    assert_eq!(&elf[..6], b"\x7fELF\x02\x01");
    let (phoff, phentsize, phnum) = (u64_at(elf, 0x20), u16_at(elf, 0x36), u16_at(elf, 0x38));
    (0..phnum)
        .map(|i| {
            let h = phoff + i * phentsize;
            (h, u32_at(elf, h), u64_at(elf, h + 8), u64_at(elf, h + 16), u64_at(elf, h + 32))
        })
        .collect()
}

/// The file offset of the first program header of type `p_type`.
fn phdr_offset(elf: &[u8], p_type: u32) -> Option<usize> {
    phdrs(elf).into_iter().find(|p| p.1 == p_type).map(|p| p.0)
}

#[test]
fn executable_stacks_are_blockers() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let plain = py_ext(d, "_ok", &[], &[]);
    let exec = py_ext(d, "_xs", &[], &["-Wl,-z,execstack"]);
    // the same file without its PT_GNU_STACK header (made PT_NULL)
    let off = phdr_offset(&plain, PT_GNU_STACK).unwrap();
    let mut missing = plain.clone();
    missing[off..off + 4].copy_from_slice(&0u32.to_le_bytes());
    // an executable with an executable stack is started, not dlopened: fine
    let tool = d.join("tool");
    util::cc(d, "int main(void) { return 0; }\n", &tool, &["-Wl,-z,execstack"]);
    let files = vec![
        ("pkg/_ok.so".to_string(), plain),
        ("pkg/_xs.so".to_string(), exec),
        ("pkg/_nostack.so".to_string(), missing),
        ("pkg-1.0.data/scripts/tool".to_string(), std::fs::read(&tool).unwrap()),
    ];
    let wheel = tagged_wheel(d, "pkg", "cp311-cp311-linux_x86_64", files);
    let doc = show_json(&wheel, &[]);
    schema_ok(&doc);
    assert_eq!(
        doc["audit"],
        json!([
            {"kind": "exec_stack", "file": "pkg/_nostack.so", "missing": true},
            {"kind": "exec_stack", "file": "pkg/_xs.so", "missing": false},
        ])
    );
    let out = wheelfix(&["show", wheel.to_str().unwrap()]);
    assert!(
        text(&out.stdout).contains(
            "  problem: `pkg/_xs.so` marks its stack executable, so it needs an executable stack: glibc 2.41 and later refuse to dlopen it\n"
        ),
        "{}",
        text(&out.stdout)
    );
    let w = d.join("w");
    let out = wheelfix(&["repair", wheel.to_str().unwrap(), "-w", w.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.lines().next().unwrap().contains("`pkg/_nostack.so` has no PT_GNU_STACK header"), "{err}");
    assert!(
        err.contains("(and 1 more)") && err.contains("-z,noexecstack") && err.contains("--allow-exec-stack"),
        "{err}"
    );
    // --allow-abi3-violations does not let it through; --allow-exec-stack does
    let out = wheelfix(&["repair", wheel.to_str().unwrap(), "-w", w.to_str().unwrap(), "--allow-abi3-violations"]);
    assert_eq!(out.status.code(), Some(1));
    let out = wheelfix(&["repair", wheel.to_str().unwrap(), "-w", w.to_str().unwrap(), "--allow-exec-stack"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // a library a repair would bundle is audited too, by its path
    let lib = d.join("lib");
    std::fs::create_dir(&lib).unwrap();
    util::cc(
        d,
        "int xs(void) { return 1; }\n",
        &lib.join("libxs.so.1"),
        &["-shared", "-Wl,-soname,libxs.so.1", "-Wl,-z,execstack"],
    );
    let ext = py_ext(d, "_uses", &["xs"], &["-L", lib.to_str().unwrap(), "-l:libxs.so.1"]);
    let d2 = d.join("d2");
    std::fs::create_dir(&d2).unwrap();
    let wheel = tagged_wheel(&d2, "pkg", "cp311-cp311-linux_x86_64", vec![("pkg/_uses.so".into(), ext)]);
    let audit = &show_json(&wheel, &["--lib-path", lib.to_str().unwrap()])["audit"];
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");
    assert!(audit[0]["file"].as_str().unwrap().ends_with("/lib/libxs.so.1"), "{audit}");
}

/// The file offset of the DT_NEEDED entry that names `lib`.
fn needed_entry_offset(elf: &[u8], lib: &str) -> usize {
    let headers = phdrs(elf);
    let dynamic = headers.iter().find(|p| p.1 == PT_DYNAMIC).unwrap().2;
    let to_offset = |vaddr: usize| {
        let load = headers.iter().find(|p| p.1 == PT_LOAD && p.3 <= vaddr && vaddr < p.3 + p.4).unwrap();
        vaddr - load.3 + load.2
    };
    let entries: Vec<(usize, usize, usize)> = (0..)
        .map(|i| (dynamic + i * 16, u64_at(elf, dynamic + i * 16), u64_at(elf, dynamic + i * 16 + 8)))
        .take_while(|e| e.1 != 0)
        .collect();
    let strtab = to_offset(entries.iter().find(|e| e.1 == 5).unwrap().2);
    let name = |off: usize| elf[strtab + off..].split(|b| *b == 0).next().unwrap().to_vec();
    entries.iter().find(|e| e.1 == 1 && name(e.2) == lib.as_bytes()).unwrap().0
}

#[test]
fn link_lint_names_each_file() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ext = |name: &str, args: &[&str]| py_ext(d, name, &[], args);
    // exp@GLIBC_2.29 from libm: a .gnu.version_r entry for libm.so.6; then its
    // DT_NEEDED entry is made DT_DEBUG, as a rewrite that lost it would
    let versioned = py_ext(d, "_ver", &["exp"], &["-lm"]);
    let off = needed_entry_offset(&versioned, "libm.so.6");
    let mut lost = versioned.clone();
    lost[off..off + 8].copy_from_slice(&21u64.to_le_bytes());
    let files = vec![
        ("pkg/_abs.so".to_string(), ext("_abs", &["-Wl,-rpath,/home/builder/lib"])),
        ("pkg/_cwd.so".to_string(), ext("_cwd", &["-Wl,-rpath,build/lib"])),
        ("pkg/_up.so".to_string(), ext("_up", &["-Wl,-rpath,$ORIGIN/../../../lib", "-Wl,--enable-new-dtags"])),
        ("pkg/_sib.so".to_string(), ext("_sib", &["-Wl,-rpath,$ORIGIN/../../torch/lib:$ORIGIN/../pkg.libs"])),
        // installed at the root of site-packages: two levels up leave it
        ("pkg-1.0.data/platlib/_deep.so".to_string(), ext("_deep", &["-Wl,-rpath,$ORIGIN/../../lib"])),
        ("pkg/_ver.so".to_string(), versioned),
        ("pkg/_lost.so".to_string(), lost),
    ];
    let wheel = tagged_wheel(d, "pkg", "cp311-cp311-linux_x86_64", files);
    let doc = show_json(&wheel, &[]);
    schema_ok(&doc);
    assert_eq!(
        doc["link_lint"],
        json!([
            {"kind": "versions_without_needed", "file": "pkg/_lost.so", "lib": "libm.so.6"},
            {"kind": "absolute_search_path", "file": "pkg/_abs.so", "path": "/home/builder/lib"},
            {"kind": "cwd_search_path", "file": "pkg/_cwd.so", "path": "build/lib"},
            {"kind": "outside_search_path", "file": "pkg-1.0.data/platlib/_deep.so", "path": "$ORIGIN/../../lib"},
            {"kind": "outside_search_path", "file": "pkg/_up.so", "path": "$ORIGIN/../../../lib"},
        ])
    );
    let out = wheelfix(&["show", wheel.to_str().unwrap()]);
    assert!(
        text(&out.stdout)
            .contains("  link: `pkg/_lost.so` needs symbol versions from libm.so.6, which no DT_NEEDED entry names\n"),
        "{}",
        text(&out.stdout)
    );
    let house = d.join("house");
    std::fs::create_dir(&house).unwrap();
    std::fs::copy(&wheel, house.join(wheel.file_name().unwrap())).unwrap();
    let out = wheelfix(&["check", house.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let rows = text(&out.stdout) + &text(&out.stderr);
    assert!(
        rows.contains("`pkg/_abs.so` searches the absolute path /home/builder/lib, which is not in the wheel"),
        "{rows}"
    );

    // what a repair writes passes the lint: search paths outside the wheel are gone
    let clean: Vec<(String, Vec<u8>)> = vec![
        ("pkg/_abs.so".into(), ext("_abs2", &["-Wl,-rpath,/home/builder/lib"])),
        ("pkg/_cwd.so".into(), ext("_cwd2", &["-Wl,-rpath,build/lib"])),
    ];
    let d2 = d.join("d2");
    std::fs::create_dir(&d2).unwrap();
    let wheel = tagged_wheel(&d2, "pkg", "cp311-cp311-linux_x86_64", clean);
    assert_eq!(show_json(&wheel, &[])["link_lint"].as_array().unwrap().len(), 2);
    let repaired = util::repair_ok(&wheel, &d2.join("w"), &[]);
    assert_eq!(show_json(&repaired, &[])["link_lint"], json!([]));
}

#[test]
fn bundling_an_openmp_runtime_is_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let lib = d.join("lib");
    std::fs::create_dir(&lib).unwrap();
    util::cc(
        d,
        "int omp_get_max_threads(void) { return 4; }\n",
        &lib.join("libgomp.so.1"),
        &["-shared", "-Wl,-soname,libgomp.so.1"],
    );
    let ext = py_ext(d, "_omp", &["omp_get_max_threads"], &["-L", lib.to_str().unwrap(), "-l:libgomp.so.1"]);
    let wheel = tagged_wheel(d, "pkg", "cp311-cp311-linux_x86_64", vec![("pkg/_omp.so".into(), ext)]);
    let lp = lib.to_str().unwrap();
    let warning = "libgomp.so.1 (GNU OpenMP) is bundled: a process must load this runtime once, and two copies \
                   (this one and another package's) crash or hang it; exclude it (`--exclude libgomp.so.1`) and \
                   depend on the wheel that provides it, or link the system's";
    assert_eq!(show_json(&wheel, &["--lib-path", lp])["warnings"], json!([warning]));
    let w = d.join("w");
    let out = wheelfix(&["repair", wheel.to_str().unwrap(), "-w", w.to_str().unwrap(), "--lib-path", lp]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!("warning: {warning}")), "{}", text(&out.stderr));
    // excluded, it is not bundled and there is nothing to warn of
    let out = wheelfix(&["show", "--json", wheel.to_str().unwrap(), "--lib-path", lp, "--exclude", "libgomp.so.1"]);
    let doc = util::one_wheel(serde_json::from_slice(&out.stdout).unwrap());
    assert_eq!(doc["warnings"], json!([]));
}

#[test]
fn free_threaded_libpython_is_removed_like_a_plain_one() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let lib = d.join("lib");
    std::fs::create_dir(&lib).unwrap();
    let mut stderrs = Vec::new();
    for (soname, abi) in [("libpython3.13.so.1.0", "cp313"), ("libpython3.13t.so.1.0", "cp313t")] {
        util::cc(
            d,
            "int Py_IsInitialized(void) { return 1; }\n",
            &lib.join(soname),
            &["-shared", &format!("-Wl,-soname,{soname}")],
        );
        let ext = py_ext(d, "_ft", &["Py_IsInitialized"], &["-L", lib.to_str().unwrap(), &format!("-l:{soname}")]);
        let dir = d.join(abi);
        std::fs::create_dir(&dir).unwrap();
        let wheel = tagged_wheel(&dir, "pkg", &format!("cp313-{abi}-linux_x86_64"), vec![("pkg/_ft.so".into(), ext)]);
        let doc = show_json(&wheel, &[]);
        let libpython = doc["libraries"].as_array().unwrap().iter().find(|l| l["name"] == soname).unwrap().clone();
        assert_eq!((libpython["status"].as_str(), libpython["reason"].as_str()), (Some("system"), Some("libpython")));
        let w = dir.join("w");
        let out = wheelfix(&["repair", wheel.to_str().unwrap(), "-w", w.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let written = PathBuf::from(text(&out.stdout).trim());
        assert_eq!(
            written.file_name().unwrap().to_str().unwrap(),
            format!("pkg-1.0-cp313-{abi}-manylinux1_x86_64.manylinux_2_5_x86_64.whl")
        );
        let archive = wheelfix::wheel::WheelArchive::open(&written).unwrap();
        let i = archive.entries().iter().position(|e| e.name == "pkg/_ft.so").unwrap();
        let repaired = dir.join("_ft.so");
        std::fs::write(&repaired, archive.read(i).unwrap()).unwrap();
        assert!(!util::readelf_dynamic(&repaired).contains("libpython"));
        let said = text(&out.stderr).replace(soname, "LIBPYTHON").replace(&dir.display().to_string(), "DIR");
        stderrs.push(said.replace(&format!("-cp313-{abi}-"), "-cp313-ABI-"));
    }
    assert!(stderrs[0].contains("removing LIBPYTHON from `pkg/_ft.so`"), "{}", stderrs[0]);
    assert_eq!(stderrs[0], stderrs[1]);
}

#[test]
fn check_covers_free_threaded_pythons_with_abi3t_and_cp3xt() {
    let tmp = tempfile::tempdir().unwrap();
    let house = tmp.path().join("house");
    std::fs::create_dir(&house).unwrap();
    let ext = py_ext(tmp.path(), "_ext", &["PyList_New"], &[]);
    tagged_wheel(&house, "pkg", "cp315-abi3t-manylinux_2_17_x86_64", vec![("pkg/_ext.abi3t.so".into(), ext.clone())]);
    let name = "pkg/_ext.cpython-313t-x86_64-linux-gnu.so";
    tagged_wheel(&house, "pkg", "cp313-cp313t-manylinux_2_17_x86_64", vec![(name.into(), ext)]);
    let h = house.to_str().unwrap();
    let out = wheelfix(&["check", h, "--expect-python", "cp313t,cp315t,cp316t,cp313,cp315"]);
    assert_eq!(out.status.code(), Some(1));
    let rows = text(&out.stdout);
    let missing: Vec<&str> = rows.lines().filter(|l| l.contains("no wheel for")).collect();
    assert_eq!(missing.len(), 2, "{rows}");
    assert!(missing[0].ends_with("no wheel for cp313") && missing[1].ends_with("no wheel for cp315"), "{rows}");
    let out = wheelfix(&["check", h, "--expect-python", "cp313t,cp315t,cp316t"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}
