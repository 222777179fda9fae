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
