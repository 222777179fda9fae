//! Points where `show` must agree with auditwheel, found by scripts/conformance-linux.sh.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use crate::util::{cc, make_wheel, text, wheelfix};

/// The version needs of ELF files read with `readelf -V` (independently of wheelfix),
/// merged by library, without the dynamic loader.
fn version_needs(files: &[&Path]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let o = Command::new("readelf").arg("-VW").arg(f).output().expect("readelf (binutils) must be installed");
        let s = text(&o.stdout);
        let Some(needs) = s.split(".gnu.version_r").nth(1) else { continue };
        let mut file = String::new();
        for line in needs.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let Some(i) = words.iter().position(|w| *w == "File:") {
                file = words[i + 1].to_string();
            } else if let Some(i) = words.iter().position(|w| *w == "Name:") {
                if !file.starts_with("ld-linux") {
                    out.entry(file.clone()).or_default().insert(words[i + 1].to_string());
                }
            }
        }
    }
    out
}

/// auditwheel's `versioned_symbols` covers the libraries a repair bundles too (they
/// are in the repaired wheel); so does ours.
#[test]
fn versioned_symbols_include_the_libraries_to_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let lib = dir.join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    // only the library uses getauxval (GLIBC_2.16 on x86_64) and libm
    let libaux = lib.join("libaux.so.1");
    cc(
        dir,
        "#include <sys/auxv.h>\n#include <math.h>\nint aux(double x) { return (int)getauxval(AT_PAGESZ) + (int)cbrt(x); }\n",
        &libaux,
        &["-shared", "-Wl,-soname,libaux.so.1", "-lm"],
    );
    let ext = dir.join("ext.so");
    let libdir = lib.to_str().unwrap();
    cc(
        dir,
        "int aux(double);\nint PyInit_ext(void) { return aux(8.0); }\n",
        &ext,
        &["-shared", "-L", libdir, "-l:libaux.so.1"],
    );
    let wheel = make_wheel(dir, "auxpkg", "linux_x86_64", vec![("auxpkg/ext.so".into(), std::fs::read(&ext).unwrap())]);
    let own = version_needs(&[&ext]);
    let all = version_needs(&[&ext, &libaux]);
    assert_ne!(own, all, "the library must need versions the extension does not: {all:?}");
    let out = wheelfix(&["show", "--json", "--lib-path", libdir, wheel.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc = crate::util::one_wheel(serde_json::from_slice(&out.stdout).unwrap());
    let got: BTreeMap<String, BTreeSet<String>> =
        serde_json::from_value(doc["linux"]["versioned_symbols"].clone()).unwrap();
    assert_eq!(got, all);
}
