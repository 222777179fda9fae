//! Points found by `scripts/conformance-macos-windows.sh` on real macOS and
//! Windows wheels from the package index, checked here on wheels built from the
//! committed fixtures:
//!
//! - `show --json` lists the wheel's own libraries that another binary loads
//!   (status `in-wheel`), as `delocate-listdeps` and `delvewheel show` do; before,
//!   a delocated wheel's `libraries[]` held only the system libraries.
//! - A Windows wheel that delvewheel or wheelfix repaired (its `DELVEWHEEL` or
//!   `WHEELFIX` marker) finds its DLLs in `<dist>.libs/` from every module, as
//!   the runtime patch makes Windows do; before, `show` called numpy's
//!   delvewheel-repaired DLLs missing and said the wheel needed repair.
//!
//! The expected relations are read from the wheels with goblin, not from wheelfix.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use goblin::mach::Mach;
use serde_json::Value;

use crate::util::{check_schema, make_wheel, text, wheelfix};

fn fixture(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {} missing ({e})", p.display()))
}

fn entries(path: &Path) -> BTreeMap<String, Vec<u8>> {
    crate::util::zip_entries(path)
}

/// Runs `show --json` (no DYLD_* variables), checks the schema, returns the document and the exit code.
fn show_json(wheel: &Path) -> (Value, Option<i32>) {
    let o: Output = Command::new(env!("CARGO_BIN_EXE_wheelfix"))
        .args(["show", "--json", wheel.to_str().unwrap()])
        .env_remove("DYLD_LIBRARY_PATH")
        .env_remove("DYLD_FALLBACK_LIBRARY_PATH")
        .env_remove("MACOSX_DEPLOYMENT_TARGET")
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o.stderr)));
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/show.schema.json")).unwrap(),
    )
    .unwrap();
    check_schema(&schema, &schema, &doc, "$").unwrap();
    (crate::util::one_wheel(doc), o.status.code())
}

/// (library, status) → set of files that need it, from `libraries[]`.
fn relation(doc: &Value, status: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for l in doc["libraries"].as_array().unwrap() {
        if l["status"] != status {
            continue;
        }
        let key = l["path"].as_str().or(l["name"].as_str()).unwrap().to_string();
        for by in l["needed_by"].as_array().unwrap() {
            out.insert((key.clone(), by.as_str().unwrap().to_string()));
        }
    }
    out
}

/// `make_wheel` into a fresh directory `dir/sub`.
fn wheel_in(dir: &Path, sub: &str, plat: &str, files: Vec<(String, Vec<u8>)>) -> PathBuf {
    let d = dir.join(sub);
    std::fs::create_dir_all(&d).unwrap();
    make_wheel(&d, "fakepkg", plat, files)
}

fn repair(wheel: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec!["repair", "-w", out.to_str().unwrap(), wheel.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = wheelfix(&args);
    assert!(o.status.success(), "repair failed: {}", text(&o.stderr));
    PathBuf::from(text(&o.stdout).trim())
}

#[test]
fn show_lists_the_libraries_of_a_delocated_wheel() {
    let t = tempfile::tempdir().unwrap();
    let libs = t.path().join("libs");
    std::fs::create_dir_all(&libs).unwrap();
    for n in ["libfoo.dylib", "libbar.dylib"] {
        std::fs::write(libs.join(n), fixture(&format!("macho/arm64/deps/{n}"))).unwrap();
    }
    let ext = "fakepkg/ext.cpython-312-darwin.so";
    let files = vec![
        ("fakepkg/__init__.py".to_string(), Vec::new()),
        (ext.to_string(), fixture("macho/arm64/ext.cpython-312-darwin.so")),
    ];
    let input = wheel_in(t.path(), "in", "macosx_11_0_arm64", files);
    let delocated = repair(&input, &t.path().join("out"), &["--lib-path", libs.to_str().unwrap()]);
    // the same binaries as macos_repair.rs's repair of the same wheel
    crate::util::golden_wheel("macho/repair.thin-arm64", &delocated);

    // what each Mach-O file of the delocated wheel loads from the wheel, read with goblin
    let mut want = BTreeSet::new();
    for (name, data) in entries(&delocated) {
        let Ok(Mach::Binary(m)) = Mach::parse(&data) else { continue };
        let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
        for lib in m.libs.iter().skip(1) {
            if let Some(rel) = lib.strip_prefix("@loader_path/") {
                want.insert((wheelfix::resolve::wheel_join(dir, rel).unwrap(), name.clone()));
            }
        }
    }
    assert_eq!(want.len(), 2, "ext → libfoo → libbar, both in the wheel: {want:?}");

    let (doc, code) = show_json(&delocated);
    assert_eq!(code, Some(0), "a delocated wheel needs no repair");
    assert_eq!(doc["needs_repair"], false);
    assert_eq!(relation(&doc, "in-wheel"), want);
    // the system library is still listed, once, with every file that loads it
    let system = relation(&doc, "system");
    assert!(system.iter().all(|(l, _)| l.starts_with("/usr/lib/")), "{system:?}");
    let loaders: BTreeSet<&str> = system.iter().map(|(_, by)| by.as_str()).collect();
    assert_eq!(loaders.len(), 3, "ext, libfoo and libbar load libSystem: {system:?}");

    // the unrepaired wheel: its libraries are outside, nothing is in-wheel
    let (doc, code) = show_json_with_lib_path(&input, &libs);
    assert_eq!(code, Some(1), "needs repair");
    assert!(relation(&doc, "in-wheel").is_empty());
    assert_eq!(relation(&doc, "bundle").len(), 2);
}

fn show_json_with_lib_path(wheel: &Path, libs: &Path) -> (Value, Option<i32>) {
    let o = wheelfix(&["show", "--json", "--lib-path", libs.to_str().unwrap(), wheel.to_str().unwrap()]);
    (crate::util::one_wheel(serde_json::from_slice(&o.stdout).unwrap()), o.status.code())
}

/// The imports of a PE file, read with goblin.
fn pe_imports(data: &[u8]) -> Vec<String> {
    let pe = goblin::pe::PE::parse(data).unwrap();
    pe.imports.iter().map(|i| i.dll.to_string()).collect::<BTreeSet<_>>().into_iter().collect()
}

#[test]
fn repaired_windows_wheels_find_their_dlls() {
    let t = tempfile::tempdir().unwrap();
    let deps = t.path().join("deps");
    std::fs::create_dir_all(&deps).unwrap();
    for n in ["foo.dll", "bar.dll"] {
        std::fs::write(deps.join(n), fixture(&format!("pe/mingw-x86_64/{n}"))).unwrap();
    }
    let pyd = "fakepkg/ext.cp311-win_amd64.pyd";
    let files = vec![
        ("fakepkg/__init__.py".to_string(), b"VALUE = 1\n".to_vec()),
        (pyd.to_string(), fixture("pe/mingw-x86_64/ext.pyd")),
    ];
    let input = wheel_in(t.path(), "in", "win_amd64", files);
    let repaired = repair(&input, &t.path().join("out"), &["--lib-path", deps.to_str().unwrap()]);
    // the same binaries as windows_repair.rs's repair of the same wheel
    crate::util::golden_wheel("pe/repair.mingw-x86_64", &repaired);
    let e = entries(&repaired);

    // expected: each wheel PE file → the imports that name another DLL of the wheel
    let dlls: BTreeMap<String, String> = e
        .keys()
        .filter(|k| k.ends_with(".dll"))
        .map(|k| (k.rsplit('/').next().unwrap().to_ascii_lowercase(), k.clone()))
        .collect();
    let mut want = BTreeSet::new();
    for (name, data) in &e {
        if !(name.ends_with(".dll") || name.ends_with(".pyd")) {
            continue;
        }
        for imp in pe_imports(data) {
            if let Some(path) = dlls.get(&imp.to_ascii_lowercase()) {
                want.insert((path.clone(), name.clone()));
            }
        }
    }
    assert_eq!(want.len(), 2, "ext → foo-<hash> → bar-<hash>, both in fakepkg.libs: {want:?}");
    assert!(want.iter().all(|(l, _)| l.starts_with("fakepkg.libs/")), "{want:?}");

    let (doc, code) = show_json(&repaired);
    assert_eq!(code, Some(0), "a repaired wheel needs no repair: {doc}");
    assert_eq!(doc["needs_repair"], false);
    assert_eq!(relation(&doc, "in-wheel"), want);
    assert!(relation(&doc, "missing").is_empty(), "{doc}");

    // the same files without the marker: no runtime patch adds fakepkg.libs, so the
    // extension cannot find its DLL there (Windows searches its own directory only)
    let stripped: Vec<(String, Vec<u8>)> =
        e.iter().filter(|(k, _)| !k.contains(".dist-info/")).map(|(k, v)| (k.clone(), v.clone())).collect();
    let unmarked = wheel_in(t.path(), "unmarked", "win_amd64", stripped);
    let (doc, code) = show_json(&unmarked);
    assert_eq!(code, Some(1), "{doc}");
    let missing = relation(&doc, "missing");
    assert_eq!(missing.iter().map(|(_, by)| by.as_str()).collect::<Vec<_>>(), vec![pyd], "{missing:?}");

    // with delvewheel's marker instead of ours, the same as with ours
    let mut files: Vec<(String, Vec<u8>)> =
        e.iter().filter(|(k, _)| !k.contains(".dist-info/")).map(|(k, v)| (k.clone(), v.clone())).collect();
    files.push(("fakepkg-1.0.dist-info/DELVEWHEEL".into(), b"Version: 1.13.2\nArguments: []\n".to_vec()));
    let delvewheel = wheel_in(t.path(), "dv", "win_amd64", files);
    let (doc, code) = show_json(&delvewheel);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(relation(&doc, "in-wheel"), want);
    // and a second repair is a no-op
    let again = wheelfix(&["repair", "-w", t.path().join("again").to_str().unwrap(), delvewheel.to_str().unwrap()]);
    assert!(again.status.success());
    assert!(
        text(&again.stderr).contains("delvewheel 1.13.2 has already repaired this wheel"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(entries(&PathBuf::from(text(&again.stdout).trim())), entries(&delvewheel));
}
