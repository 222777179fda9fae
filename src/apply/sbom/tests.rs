//! Unit tests of the parent module.

use super::*;

fn fake_root(dir: &Path) {
    std::fs::create_dir_all(dir.join("var/lib/dpkg/info")).unwrap();
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::write(dir.join("etc/os-release"), "NAME=\"Debian\"\nID=debian\n").unwrap();
    std::fs::write(
        dir.join("var/lib/dpkg/status"),
        "Package: libffi8\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nVersion: 3.4.4-1\n\n\
         Package: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n\n\
         Package: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024a-0\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("var/lib/dpkg/info/libffi8:amd64.list"),
        "/.\n/usr/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu/libffi.so.8.1.2\n/usr/lib/x86_64-linux-gnu/libffi.so.8\n",
    )
    .unwrap();
    std::fs::write(dir.join("var/lib/dpkg/info/gone.list"), "/usr/lib/libgone.so.1\n").unwrap();
    std::fs::write(dir.join("var/lib/dpkg/info/tzdata.list"), "/usr/share/zoneinfo/UTC\n").unwrap();
    std::fs::write(dir.join("var/lib/dpkg/info/format"), "1\n").unwrap();
}

/// The lists named from `status` are the ones in `info/`; in a database
/// of another format, the directory is listed.
#[test]
fn dpkg_lists_named_as_dpkg_names_them() {
    let t = tempfile::tempdir().unwrap();
    fake_root(t.path());
    let info = t.path().join("var/lib/dpkg/info");
    let status = std::fs::read_to_string(t.path().join("var/lib/dpkg/status")).unwrap();
    let mut listed: Vec<PathBuf> = std::fs::read_dir(&info)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "list"))
        .collect();
    listed.sort();
    assert_eq!(listed.len(), 3);
    assert_eq!(lists_named_in(&info, &status), Some(listed));
    std::fs::remove_file(info.join("format")).unwrap();
    assert_eq!(lists_named_in(&info, &status), None);
    // without the multiarch format, libffi8's list is found by listing
    let asked = [PathBuf::from("/usr/lib/x86_64-linux-gnu/libffi.so.8.1.2")];
    assert_eq!(find_owners(t.path(), &asked)[&asked[0]].purl(), "pkg:deb/debian/libffi8@3.4.4-1?arch=amd64");
}

#[test]
fn dpkg_database() {
    let t = tempfile::tempdir().unwrap();
    fake_root(t.path());
    let asked = [
        PathBuf::from("/lib/x86_64-linux-gnu/libffi.so.8.1.2"),
        PathBuf::from("/usr/lib/libgone.so.1"),
        PathBuf::from("/usr/share/zoneinfo/UTC"),
        PathBuf::from("/opt/x/libnone.so"),
    ];
    let owners = find_owners(t.path(), &asked);
    let ffi = &owners[&asked[0]];
    assert_eq!(ffi.purl(), "pkg:deb/debian/libffi8@3.4.4-1?arch=amd64");
    assert!(!owners.contains_key(&asked[1]), "a removed package owns nothing");
    assert_eq!(owners[&asked[2]].purl(), "pkg:deb/debian/tzdata@2024a-0?arch=all");
    assert!(!owners.contains_key(&asked[3]));
    assert_eq!(owners.len(), 2);
}

/// A database read once is read again when `status` or `info/` change.
#[test]
fn dpkg_database_read_again_when_it_changes() {
    let t = tempfile::tempdir().unwrap();
    fake_root(t.path());
    let asked = [PathBuf::from("/usr/lib/x86_64-linux-gnu/libffi.so.8.1.2"), PathBuf::from("/opt/libnew.so.1")];
    preload(t.path());
    let before = find_owners(t.path(), &asked);
    assert_eq!(before[&asked[0]].version, "3.4.4-1");
    assert!(!before.contains_key(&asked[1]));
    let status = t.path().join("var/lib/dpkg/status");
    let text = std::fs::read_to_string(&status).unwrap().replace("3.4.4-1", "3.4.4-2")
        + "\nPackage: libnew1\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nVersion: 1.0\n";
    std::fs::write(&status, text).unwrap();
    std::fs::write(t.path().join("var/lib/dpkg/info/libnew1:amd64.list"), "/opt/libnew.so.1\n").unwrap();
    // a later time than the first read, whatever the clock's resolution
    let later = SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options().write(true).open(&status).unwrap().set_modified(later).unwrap();
    let after = find_owners(t.path(), &asked);
    assert_eq!(after[&asked[0]].version, "3.4.4-2");
    assert_eq!(after[&asked[1]].purl(), "pkg:deb/debian/libnew1@1.0?arch=amd64");
}

#[test]
fn apk_database() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("lib/apk/db")).unwrap();
    std::fs::create_dir_all(t.path().join("etc")).unwrap();
    std::fs::write(t.path().join("etc/os-release"), "ID=alpine\n").unwrap();
    std::fs::write(
        t.path().join("lib/apk/db/installed"),
        "C:Q1x\nP:libffi\nV:3.4.6-r0\nA:x86_64\nF:usr/lib\nR:libffi.so.8.1.4\nR:libffi.so.8\n\nP:other\nV:1\nF:usr/bin\nR:x\n",
    )
    .unwrap();
    let asked = [PathBuf::from("/usr/lib/libffi.so.8.1.4")];
    let owners = find_owners(t.path(), &asked);
    assert_eq!(owners[&asked[0]].purl(), "pkg:apk/alpine/libffi@3.4.6-r0?arch=x86_64");
}

#[test]
fn document_shape() {
    let owner = Owner {
        kind: "deb",
        distro: "debian".into(),
        package: "libffi8".into(),
        version: "3.4.4-1".into(),
        arch: "amd64".into(),
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
