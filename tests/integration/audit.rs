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
    serde_json::from_slice(&out.stdout).unwrap()
}

fn schema_ok(doc: &Value) {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema/show.schema.json")).unwrap(),
    )
    .unwrap();
    util::check_schema(&schema, &schema, doc, "$").unwrap();
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
    assert!(w.join("pkg-1.0-cp38-abi3-manylinux1_x86_64.manylinux_2_5_x86_64.whl").exists());
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
