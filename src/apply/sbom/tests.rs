//! Unit tests of the parent module.

use super::*;

#[test]
fn document_shape() {
    let owner = Owner {
        kind: "deb",
        namespace: "debian".into(),
        package: "libffi8".into(),
        version: "3.4.4-1".into(),
        arch: "amd64".into(),
        license: None,
        license_files: Vec::new(),
    };
    let g = vec![
        Grafted {
            source: "/x/libz2.so".into(),
            entry: "demo.libs/libz2-0000aaaa.so".into(),
            sha256: "ab".into(),
            owner: None,
        },
        Grafted {
            source: "/usr/lib/libffi.so.8.1.2".into(),
            entry: "demo.libs/libffi-11112222.so.8.1.2".into(),
            sha256: "cd".into(),
            owner: Some(owner),
        },
    ];
    let d = document("my_pkg", "1.0+local", "my_pkg-1.0+local-cp311-cp311-manylinux_2_17_x86_64.whl", &g);
    assert_eq!(
        d["metadata"]["component"]["purl"],
        "pkg:pypi/my_pkg@1.0%2Blocal?file_name=my_pkg-1.0%2Blocal-cp311-cp311-manylinux_2_17_x86_64.whl"
    );
    let comps = d["components"].as_array().unwrap();
    assert_eq!(comps.len(), 3);
    // sorted by entry name: libffi before libz2
    assert_eq!(comps[1]["purl"], "pkg:deb/debian/libffi8@3.4.4-1?arch=amd64");
    assert_eq!(comps[2]["name"], "libz2.so");
    assert!(comps[2].get("purl").is_none());
    assert_eq!(d["dependencies"][0]["dependsOn"].as_array().unwrap().len(), 2);
    assert_eq!(d, document("my_pkg", "1.0+local", "my_pkg-1.0+local-cp311-cp311-manylinux_2_17_x86_64.whl", &g));
}

/// Merging thin wheels: the root names the merged file, a library of both
/// is one component with both hashes, the others are kept, in entry order.
#[test]
fn merged_documents() {
    let g = |entry: &str, sha: &str| Grafted {
        source: format!("/x/{}", entry.rsplit('/').next().unwrap()).into(),
        entry: entry.into(),
        sha256: sha.into(),
        owner: None,
    };
    let arm =
        document("pkg", "1.0", "pkg-1.0-cp311-cp311-macosx_11_0_arm64.whl", &[g("pkg/.dylibs/libfoo.dylib", "aa")]);
    let x86 = document(
        "pkg",
        "1.0",
        "pkg-1.0-cp311-cp311-macosx_10_9_x86_64.whl",
        &[g("pkg/.dylibs/libfoo.dylib", "bb"), g("pkg/.dylibs/libbar.dylib", "cc")],
    );
    let bytes = |d: &Value| serde_json::to_vec_pretty(d).unwrap();
    let fat = "pkg-1.0-cp311-cp311-macosx_11_0_universal2.whl";
    let merged: Value = serde_json::from_slice(&merge_documents(&[&bytes(&arm), &bytes(&x86)], fat).unwrap()).unwrap();
    let want_purl = format!("pkg:pypi/pkg@1.0?file_name={fat}");
    assert_eq!(merged["metadata"]["component"]["purl"], want_purl.as_str());
    let comps = merged["components"].as_array().unwrap();
    assert_eq!(comps.len(), 3);
    assert_eq!(comps[0]["purl"], want_purl.as_str());
    assert_eq!(comps[1]["name"], "libbar.dylib");
    assert_eq!(comps[2]["name"], "libfoo.dylib");
    let hashes: Vec<&str> =
        comps[2]["hashes"].as_array().unwrap().iter().map(|h| h["content"].as_str().unwrap()).collect();
    assert_eq!(hashes, ["aa", "bb"]);
    assert_eq!(merged["dependencies"][0]["dependsOn"].as_array().unwrap().len(), 2);
    assert_eq!(merged["dependencies"].as_array().unwrap().len(), 3);
    // one document: the same as it, but for the file name
    let one: Value = serde_json::from_slice(&merge_documents(&[&bytes(&arm)], fat).unwrap()).unwrap();
    assert_eq!(one, document("pkg", "1.0", fat, &[g("pkg/.dylibs/libfoo.dylib", "aa")]));
    assert_eq!(merge_documents(&[b"not json"], fat), None);
}
