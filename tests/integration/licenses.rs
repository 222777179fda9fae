//! Licence files of bundled libraries (`<dist-info>/licenses/<package>/…`,
//! `License-File:` in METADATA 2.4+, RECORD) and the SBOM's package data,
//! on the three systems: a real system library owned by this machine's dpkg
//! database, a fake Homebrew Cellar and a fake vcpkg tree
//! (`fixtures/licenses/`) holding the committed Mach-O and PE fixtures.
//! Every expectation is read from the source files here, not from wheelfix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::util::{cc, text, wheelfix, zip_entries};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `licpkg-1.0-cp311-cp311-{plat}.whl` in `dir` with `files` and a METADATA
/// of `Metadata-Version: {meta}`.
fn wheel(dir: &Path, plat: &str, meta: &str, files: Vec<(String, Vec<u8>)>) -> PathBuf {
    let filename: wheelfix::wheel::WheelFilename = format!("licpkg-1.0-cp311-cp311-{plat}.whl").parse().unwrap();
    let di = filename.dist_info_dir();
    let mut entries: Vec<(String, Vec<u8>, u32)> = files.into_iter().map(|(n, d)| (n, d, 0o755)).collect();
    entries.push((
        format!("{di}/METADATA"),
        format!("Metadata-Version: {meta}\nName: licpkg\nVersion: 1.0\nLicense-Expression: MIT\n\nThe package.\n")
            .into_bytes(),
        0o644,
    ));
    entries.push((
        format!("{di}/WHEEL"),
        format!("Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: cp311-cp311-{plat}\n").into_bytes(),
        0o644,
    ));
    let sub = dir.join(format!("in-{meta}-{plat}"));
    std::fs::create_dir_all(&sub).unwrap();
    wheelfix::wheel::writer::write_new_wheel(&sub, &filename, entries, &Default::default()).unwrap()
}

/// Repairs `wheel` into `out` with `extra` flags; the entries written.
fn repair(wheel: &Path, out: &Path, extra: &[&str]) -> BTreeMap<String, Vec<u8>> {
    let mut args = vec!["repair", wheel.to_str().unwrap(), "-w", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = wheelfix(&args);
    assert_eq!(o.status.code(), Some(0), "repair failed: {}", text(&o.stderr));
    zip_entries(Path::new(text(&o.stdout).trim()))
}

/// The RECORD row of `name`, checked against its bytes.
fn assert_recorded(entries: &BTreeMap<String, Vec<u8>>, name: &str) {
    let record = text(&entries["licpkg-1.0.dist-info/RECORD"]);
    let row = record.lines().find(|l| l.starts_with(&format!("{name},"))).unwrap_or_else(|| panic!("{name} in RECORD"));
    let data = &entries[name];
    let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(data));
    assert_eq!(row, format!("{name},sha256={hash},{}", data.len()));
}

/// The entries under `<dist-info>/licenses/`.
fn licence_entries(entries: &BTreeMap<String, Vec<u8>>) -> Vec<&str> {
    entries.keys().filter(|k| k.starts_with("licpkg-1.0.dist-info/licenses/")).map(String::as_str).collect()
}

/// The SBOM's components other than the wheel, by package name, once the
/// SBOM is checked against the CycloneDX schemas.
fn sbom_components(entries: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Value> {
    let bytes = &entries["licpkg-1.0.dist-info/sboms/wheelfix.cdx.json"];
    crate::cdx_schema::assert_valid(bytes);
    let doc: Value = serde_json::from_slice(bytes).unwrap();
    doc["components"].as_array().unwrap()[1..]
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c.clone()))
        .collect()
}

/// A field of an installed package, asked of dpkg-query (not read by wheelfix).
fn dpkg_query(package: &str, field: &str) -> String {
    let o = Command::new("dpkg-query").args(["-W", "-f", &format!("${{{field}}}"), package]).output();
    let o = o.expect("these tests need a Debian system: dpkg-query must run");
    assert!(o.status.success(), "dpkg-query {package}: {}", text(&o.stderr));
    text(&o.stdout)
}

/// A real system library: liblzma.so.5, which dpkg itself needs (so it is on
/// every Debian system) and no manylinux policy allows, is bundled; its
/// package's copyright file lands in the wheel.
#[test]
fn a_system_library_brings_its_debian_copyright() {
    let t = tempfile::tempdir().unwrap();
    let lzma = ["/usr/lib/x86_64-linux-gnu/liblzma.so.5", "/lib/x86_64-linux-gnu/liblzma.so.5"]
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .expect("liblzma.so.5 of Debian's liblzma5 must be installed (dpkg depends on it)");
    let ext = t.path().join("ext.so");
    cc(
        t.path(),
        "extern const char *lzma_version_string(void);\nconst char *PyInit_ext(void) { return lzma_version_string(); }\n",
        &ext,
        &["-shared", lzma.to_str().unwrap()],
    );
    let files = || vec![("licpkg/ext.so".to_string(), std::fs::read(&ext).unwrap())];
    let copyright_path = Path::new("/usr/share/doc/liblzma5/copyright");
    let copyright = std::fs::read(copyright_path).unwrap();
    let version = dpkg_query("liblzma5", "Version");
    let arch = dpkg_query("liblzma5", "Architecture");
    let lic = "licpkg-1.0.dist-info/licenses/liblzma5/copyright";

    // Metadata-Version 2.4: the file, its RECORD row, and a License-File line
    let whl = wheel(t.path(), "linux_x86_64", "2.4", files());
    let entries = repair(&whl, &t.path().join("out24"), &[]);
    assert!(entries.keys().any(|k| k.starts_with("licpkg.libs/liblzma-")), "{:?}", entries.keys());
    assert_eq!(licence_entries(&entries), [lic]);
    assert_eq!(entries[lic], copyright);
    assert_recorded(&entries, lic);
    assert_eq!(
        text(&entries["licpkg-1.0.dist-info/METADATA"]),
        "Metadata-Version: 2.4\nName: licpkg\nVersion: 1.0\nLicense-Expression: MIT\nLicense-File: liblzma5/copyright\n\
         \nThe package.\n"
    );
    assert_recorded(&entries, "licpkg-1.0.dist-info/METADATA");
    let comps = sbom_components(&entries);
    let c = &comps["liblzma5"];
    assert_eq!(c["purl"], format!("pkg:deb/debian/liblzma5@{}?arch={arch}", version.replace('+', "%2B")).as_str());
    // the licence is the copyright file's short name for `Files: *`, as a name
    let name = c["licenses"][0]["license"]["name"].as_str().expect("a licence name");
    let text_of = String::from_utf8_lossy(&copyright);
    assert!(text_of.lines().any(|l| l.trim() == format!("License: {name}")), "{name} is a License: of the file");

    // Metadata-Version 2.1: the file is copied, METADATA is not touched
    let whl = wheel(t.path(), "linux_x86_64", "2.1", files());
    let input = zip_entries(&whl);
    let entries = repair(&whl, &t.path().join("out21"), &[]);
    assert_eq!(licence_entries(&entries), [lic]);
    assert_eq!(entries["licpkg-1.0.dist-info/METADATA"], input["licpkg-1.0.dist-info/METADATA"]);

    // --no-licenses: neither, and the SBOM is still written
    let whl = wheel(t.path(), "linux_x86_64", "2.4", files());
    let input = zip_entries(&whl);
    let entries = repair(&whl, &t.path().join("off"), &["--no-licenses"]);
    assert!(licence_entries(&entries).is_empty());
    assert_eq!(entries["licpkg-1.0.dist-info/METADATA"], input["licpkg-1.0.dist-info/METADATA"]);
    assert!(sbom_components(&entries).contains_key("liblzma5"));
}

/// Copies the fixture tree `fixtures/licenses/{rel}` into `dir`.
fn copy_tree(rel: &str, dir: &Path) {
    fn walk(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    walk(&root().join("fixtures/licenses").join(rel), dir);
}

/// Homebrew: libfoo in keg foo/2.0, libbar in keg bar/1.2.3_1, found through
/// `opt/` links as Homebrew makes them.
#[test]
fn homebrew_kegs_bring_their_licence_files() {
    let t = tempfile::tempdir().unwrap();
    let brew = t.path().join("homebrew");
    copy_tree("brew", &brew);
    let macho = root().join("fixtures/macho/arm64");
    for (formula, version, lib) in [("foo", "2.0", "libfoo.dylib"), ("bar", "1.2.3_1", "libbar.dylib")] {
        let keg = brew.join("Cellar").join(formula).join(version);
        std::fs::create_dir_all(keg.join("lib")).unwrap();
        std::fs::copy(macho.join("deps").join(lib), keg.join("lib").join(lib)).unwrap();
        std::fs::create_dir_all(brew.join("opt")).unwrap();
        std::os::unix::fs::symlink(&keg, brew.join("opt").join(formula)).unwrap();
    }
    let ext = "licpkg/ext.cpython-312-darwin.so".to_string();
    let whl = wheel(
        t.path(),
        "macosx_11_0_arm64",
        "2.4",
        vec![(ext, std::fs::read(macho.join("ext.cpython-312-darwin.so")).unwrap())],
    );
    let lib_path = format!("{}:{}", brew.join("opt/foo/lib").display(), brew.join("opt/bar/lib").display());
    let entries = repair(&whl, &t.path().join("out"), &["--lib-path", &lib_path]);
    let di = "licpkg-1.0.dist-info";
    assert_eq!(
        licence_entries(&entries),
        [
            format!("{di}/licenses/bar/COPYING"),
            format!("{di}/licenses/foo/LICENSE"),
            format!("{di}/licenses/foo/NOTICE.txt")
        ]
    );
    for (entry, file) in [("bar/COPYING", "bar/1.2.3_1/COPYING"), ("foo/LICENSE", "foo/2.0/LICENSE")] {
        let name = format!("{di}/licenses/{entry}");
        assert_eq!(entries[&name], std::fs::read(root().join("fixtures/licenses/brew/Cellar").join(file)).unwrap());
        assert_recorded(&entries, &name);
    }
    let metadata = text(&entries[&format!("{di}/METADATA")]);
    assert!(
        metadata.contains("License-File: bar/COPYING\nLicense-File: foo/LICENSE\nLicense-File: foo/NOTICE.txt\n\n"),
        "{metadata}"
    );
    let comps = sbom_components(&entries);
    assert_eq!(comps["foo"]["purl"], "pkg:brew/foo@2.0?arch=arm64");
    // licenseConcluded is NOASSERTION: the declared licence
    assert_eq!(comps["foo"]["licenses"], serde_json::json!([{"expression": "MIT OR Apache-2.0"}]));
    assert_eq!(comps["bar"]["purl"], "pkg:brew/bar@1.2.3_1?arch=arm64");
    assert!(comps["bar"].get("licenses").is_none(), "no SBOM in bar's keg: no licence claimed");
    let bar = Sha256::digest(std::fs::read(macho.join("deps/libbar.dylib")).unwrap());
    assert_eq!(
        comps["bar"]["hashes"][0]["content"],
        bar.iter().map(|b| format!("{b:02x}")).collect::<String>().as_str()
    );
}

/// vcpkg: foo.dll and bar.dll of an installed x64-windows tree; the owning
/// port is the one whose list names the DLL (in any case).
#[test]
fn vcpkg_ports_bring_their_copyright() {
    let t = tempfile::tempdir().unwrap();
    let vcpkg = t.path().join("vcpkg");
    copy_tree("vcpkg", &vcpkg);
    let bin = vcpkg.join("installed/x64-windows/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let pe = root().join("fixtures/pe/mingw-x86_64");
    for dll in ["foo.dll", "bar.dll"] {
        std::fs::copy(pe.join(dll), bin.join(dll)).unwrap();
    }
    let whl = wheel(
        t.path(),
        "win_amd64",
        "2.4",
        vec![("licpkg/ext.pyd".into(), std::fs::read(pe.join("ext.pyd")).unwrap())],
    );
    let entries = repair(&whl, &t.path().join("out"), &["--add-path", bin.to_str().unwrap()]);
    let di = "licpkg-1.0.dist-info";
    assert_eq!(
        licence_entries(&entries),
        [format!("{di}/licenses/bar/copyright"), format!("{di}/licenses/foo/copyright")]
    );
    for port in ["bar", "foo"] {
        let name = format!("{di}/licenses/{port}/copyright");
        let want = std::fs::read(
            root().join("fixtures/licenses/vcpkg/installed/x64-windows/share").join(port).join("copyright"),
        );
        assert_eq!(entries[&name], want.unwrap());
        assert_recorded(&entries, &name);
    }
    let comps = sbom_components(&entries);
    assert_eq!(comps["foo"]["purl"], "pkg:generic/vcpkg/foo@1.4.0");
    assert_eq!(comps["foo"]["licenses"], serde_json::json!([{"expression": "BSL-1.0"}]));
    assert_eq!(comps["bar"]["purl"], "pkg:generic/vcpkg/bar@1.0.2");
    assert!(comps["bar"].get("licenses").is_none());
    let metadata = text(&entries[&format!("{di}/METADATA")]);
    assert!(metadata.contains("License-File: bar/copyright\nLicense-File: foo/copyright\n"), "{metadata}");
}
