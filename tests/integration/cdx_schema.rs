//! The SBOMs wheelfix writes are valid CycloneDX: checked against the
//! CycloneDX 1.4 JSON schema (the version they declare) and 1.5, committed
//! in `fixtures/cyclonedx/`, with the validator of `json_schema.rs`. The
//! licence tests (`licenses.rs`) check theirs (dpkg, Homebrew, vcpkg owners)
//! with [`assert_valid`]; here the demo's, a merged wheel's, and documents
//! broken on purpose, which must fail.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::json_schema::Schemas;
use crate::util::{text, wheelfix, zip_entries};

const BOMS: &[&str] = &["bom-1.4.SNAPSHOT.schema.json", "bom-1.5.SNAPSHOT.schema.json"];

fn schemas() -> Schemas {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cyclonedx");
    Schemas::load(&dir, &[BOMS[0], BOMS[1], "spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json"])
}

/// `sbom` (the bytes of a `wheelfix.cdx.json`) is valid under both schemas.
pub fn assert_valid(sbom: &[u8]) {
    let doc: Value = serde_json::from_slice(sbom).expect("the SBOM is JSON");
    let s = schemas();
    for bom in BOMS {
        if let Err(e) = s.validate(bom, &doc) {
            panic!("the SBOM is not valid under {bom}: {e}\n{doc:#}");
        }
    }
}

/// The first problem each schema finds in `doc`.
fn problems(doc: &Value) -> Vec<Result<(), String>> {
    let s = schemas();
    BOMS.iter().map(|b| s.validate(b, doc)).collect()
}

fn demo_sbom(out: &Path) -> (PathBuf, Vec<u8>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let demo = root.join("fixtures/demo/demo-0.1-cp311-cp311-linux_x86_64.whl");
    let lib = root.join("fixtures/demo/lib");
    let o =
        wheelfix(&["repair", demo.to_str().unwrap(), "-w", out.to_str().unwrap(), "--lib-path", lib.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let wheel = PathBuf::from(text(&o.stdout).trim());
    let sbom = zip_entries(&wheel).remove("demo-0.1.dist-info/sboms/wheelfix.cdx.json").expect("an SBOM");
    (wheel, sbom)
}

#[test]
fn the_demo_sbom_is_valid_cyclonedx() {
    let t = tempfile::tempdir().unwrap();
    assert_valid(&demo_sbom(t.path()).1);
}

/// The documents a merge writes, and one with licences of both kinds.
#[test]
fn merged_and_licensed_documents_are_valid() {
    use wheelfix::apply::sbom::{document, merge_documents, Grafted, License, Owner};
    let owner = |license| Owner {
        kind: "deb",
        namespace: "debian".into(),
        package: "libffi8".into(),
        version: "3.4.4-1".into(),
        arch: "amd64".into(),
        license,
        license_files: Vec::new(),
    };
    let g = |entry: &str, sha: String, license| Grafted {
        source: format!("/usr/lib/{}", entry.rsplit('/').next().unwrap()).into(),
        entry: entry.into(),
        sha256: sha,
        owner: Some(owner(license)),
    };
    let a = document(
        "pkg",
        "1.0",
        "pkg-1.0-cp311-cp311-macosx_11_0_arm64.whl",
        &[g("pkg/.dylibs/libffi.8.dylib", "a".repeat(64), Some(License::Spdx("MIT OR Apache-2.0".into())))],
    );
    let b = document(
        "pkg",
        "1.0",
        "pkg-1.0-cp311-cp311-macosx_10_9_x86_64.whl",
        &[
            g("pkg/.dylibs/libffi.8.dylib", "b".repeat(64), Some(License::Spdx("MIT OR Apache-2.0".into()))),
            g("pkg/.dylibs/libz.1.dylib", "c".repeat(64), Some(License::Named("Zlib-like, Debian's name".into()))),
        ],
    );
    for d in [&a, &b] {
        assert_valid(&serde_json::to_vec(d).unwrap());
    }
    let merged = merge_documents(
        &[&serde_json::to_vec(&a).unwrap(), &serde_json::to_vec(&b).unwrap()],
        "pkg-1.0-cp311-cp311-macosx_11_0_universal2.whl",
    )
    .unwrap();
    assert_valid(&merged);
}

/// The validator is not a rubber stamp: each of these breaks one rule of
/// the schemas, and both reject it.
#[test]
fn broken_documents_are_rejected() {
    let t = tempfile::tempdir().unwrap();
    let good: Value = serde_json::from_slice(&demo_sbom(t.path()).1).unwrap();
    assert!(problems(&good).iter().all(Result::is_ok));
    let broken = |f: &dyn Fn(&mut Value)| {
        let mut d = good.clone();
        f(&mut d);
        d
    };
    let cases: Vec<(&str, Value)> = vec![
        ("not a SHA-256", broken(&|d| d["components"][1]["hashes"][0]["content"] = json!("xyz"))),
        ("unknown hash algorithm", broken(&|d| d["components"][1]["hashes"][0]["alg"] = json!("SHA-257"))),
        ("a component without a name", broken(&|d| drop(d["components"][1].as_object_mut().unwrap().remove("name")))),
        ("an unknown component field", broken(&|d| d["components"][1]["colour"] = json!("red"))),
        ("an unknown component type", broken(&|d| d["components"][1]["type"] = json!("plugin"))),
        ("no bomFormat", broken(&|d| drop(d.as_object_mut().unwrap().remove("bomFormat")))),
        ("a version that is not a number", broken(&|d| d["version"] = json!("one"))),
        ("a licence that is neither", broken(&|d| d["components"][1]["licenses"] = json!([{"license": {"url": "x"}}]))),
        (
            "an SPDX id that is not one",
            broken(&|d| d["components"][1]["licenses"] = json!([{"license": {"id": "Not-A-Licence"}}])),
        ),
        (
            "a licence and an expression in one",
            broken(&|d| d["components"][1]["licenses"] = json!([{"license": {"name": "x"}, "expression": "MIT"}])),
        ),
    ];
    for (what, doc) in cases {
        for (bom, p) in BOMS.iter().zip(problems(&doc)) {
            assert!(p.is_err(), "{what}: accepted by {bom}");
        }
    }
    // and what ours write for licences is accepted
    let named = broken(&|d| d["components"][1]["licenses"] = json!([{"license": {"name": "GPL-2+"}}]));
    let spdx = broken(&|d| d["components"][1]["licenses"] = json!([{"expression": "MIT OR Apache-2.0"}]));
    let id = broken(&|d| d["components"][1]["licenses"] = json!([{"license": {"id": "Apache-2.0"}}]));
    for d in [named, spdx, id] {
        assert!(problems(&d).iter().all(Result::is_ok), "{:?}", problems(&d));
    }
}

/// A wheel that already holds `sboms/wheelfix.cdx.json` (repaired before,
/// then given another extension) gets it replaced by the new one, not a
/// second entry of that name (which made the repair fail).
#[test]
fn an_sbom_already_in_the_wheel_is_replaced() {
    let t = tempfile::tempdir().unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/demo-0.1-cp311-cp311-linux_x86_64.whl");
    let mut files: Vec<(String, Vec<u8>)> =
        zip_entries(&demo).into_iter().filter(|(n, _)| n.starts_with("demo/")).collect();
    files.push(("demo-1.0.dist-info/sboms/wheelfix.cdx.json".into(), b"{}\n".to_vec()));
    let wheel = crate::util::make_wheel(t.path(), "demo", "linux_x86_64", files);
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/lib");
    let out = crate::util::repair_ok(&wheel, &t.path().join("out"), &["--lib-path", lib.to_str().unwrap()]);
    let entries = zip_entries(&out);
    let sbom = &entries["demo-1.0.dist-info/sboms/wheelfix.cdx.json"];
    assert_valid(sbom);
    let doc: Value = serde_json::from_slice(sbom).unwrap();
    assert_eq!(doc["components"].as_array().unwrap().len(), 3, "{doc:#}");
    let record = text(&entries["demo-1.0.dist-info/RECORD"]);
    assert_eq!(record.lines().filter(|l| l.starts_with("demo-1.0.dist-info/sboms/")).count(), 1, "{record}");
}
