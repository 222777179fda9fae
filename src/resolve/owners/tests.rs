//! Unit tests of the package databases, on trees made here.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::*;

fn linux(root: &Path, asked: &[PathBuf]) -> BTreeMap<PathBuf, Owner> {
    find_owners(root, System::Linux, asked).owners
}

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
    assert_eq!(dpkg::lists_named_in(&info, &status), Some(listed));
    std::fs::remove_file(info.join("format")).unwrap();
    assert_eq!(dpkg::lists_named_in(&info, &status), None);
    // without the multiarch format, libffi8's list is found by listing
    let asked = [PathBuf::from("/usr/lib/x86_64-linux-gnu/libffi.so.8.1.2")];
    assert_eq!(linux(t.path(), &asked)[&asked[0]].purl(), "pkg:deb/debian/libffi8@3.4.4-1?arch=amd64");
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
    let owners = linux(t.path(), &asked);
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
    let before = linux(t.path(), &asked);
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
    let after = linux(t.path(), &asked);
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
    let owners = linux(t.path(), &asked);
    assert_eq!(owners[&asked[0]].purl(), "pkg:apk/alpine/libffi@3.4.6-r0?arch=x86_64");
}

/// Debian's machine-readable copyright: the licence of `Files: *`; a
/// free-form file has none.
#[test]
fn dep5_licence_of_files_star() {
    let dep5 = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: x\n\n\
                Files: debian/*\nLicense: GPL-2+\n\nFiles: *\nCopyright: 2020 X\nLicense: Zlib\n text\n\n\
                License: Zlib\n full text\n";
    assert_eq!(dpkg::dep5_license(dep5).as_deref(), Some("Zlib"));
    assert_eq!(dpkg::dep5_license(&dep5.replace('\n', "\r\n")).as_deref(), Some("Zlib"));
    assert_eq!(dpkg::dep5_license("This package was debianized by X.\n\nLicense: MIT\n"), None);
}

/// An owner's copyright file and licence come from `usr/share/doc/<package>/`.
#[test]
fn dpkg_copyright_file() {
    let t = tempfile::tempdir().unwrap();
    fake_root(t.path());
    let doc = t.path().join("usr/share/doc/libffi8");
    std::fs::create_dir_all(&doc).unwrap();
    let text =
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: Expat\n";
    std::fs::write(doc.join("copyright"), text).unwrap();
    let asked = [PathBuf::from("/usr/lib/x86_64-linux-gnu/libffi.so.8"), PathBuf::from("/usr/share/zoneinfo/UTC")];
    let owners = linux(t.path(), &asked);
    let ffi = &owners[&asked[0]];
    assert_eq!(ffi.license, Some(License::Named("Expat".into())));
    assert_eq!(ffi.license_files, [LicenseFile { name: "copyright".into(), path: doc.join("copyright") }]);
    // tzdata has no copyright file in this tree: owned, no licence
    assert_eq!(owners[&asked[1]].license, None);
    assert!(owners[&asked[1]].license_files.is_empty());
}

/// apk: `L:` is the licence; the package's files under usr/share/licenses/
/// that exist are its licence files.
#[test]
fn apk_licence() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("lib/apk/db")).unwrap();
    std::fs::create_dir_all(t.path().join("usr/share/licenses/libffi")).unwrap();
    std::fs::write(t.path().join("usr/share/licenses/libffi/LICENSE"), "MIT text\n").unwrap();
    std::fs::write(
        t.path().join("lib/apk/db/installed"),
        "P:libffi\nV:3.4.6-r0\nA:x86_64\nL:MIT\nF:usr/lib\nR:libffi.so.8\nF:usr/share/licenses/libffi\nR:LICENSE\nR:GONE\n",
    )
    .unwrap();
    let asked = [PathBuf::from("/lib/libffi.so.8")];
    let owners = linux(t.path(), &asked);
    let ffi = &owners[&asked[0]];
    assert_eq!(ffi.purl(), "pkg:apk/alpine/libffi@3.4.6-r0?arch=x86_64");
    assert_eq!(ffi.license, Some(License::Spdx("MIT".into())));
    let path = t.path().join("usr/share/licenses/libffi/LICENSE");
    assert_eq!(ffi.license_files, [LicenseFile { name: "LICENSE".into(), path }]);
}

/// rpm is asked through its command: a stand-in `rpm` script answers here
/// as rpm does (and records how it was called); without the command an rpm
/// database is reported, not read.
#[test]
fn rpm_through_its_command() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    std::fs::create_dir_all(root.join("var/lib/rpm")).unwrap();
    // an empty directory (Debian's rpm package makes one) is no database
    let mut found = Found::default();
    rpm::Rpm { program: None }.owners(&root, "fedora", &[PathBuf::from("/usr/lib64/libffi.so.8")], &mut found);
    assert!(found.notes.is_empty());
    std::fs::write(root.join("var/lib/rpm/rpmdb.sqlite"), "").unwrap();
    std::fs::create_dir_all(root.join("usr/share/licenses/libffi")).unwrap();
    std::fs::write(root.join("usr/share/licenses/libffi/LICENSE"), "MIT text\n").unwrap();
    let log = t.path().join("calls");
    let script = t.path().join("rpm");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\ncase \"$*\" in\n\
             *-qf*/usr/lib64/libffi.so.8) printf 'libffi\\t3.4.4-7.fc40\\tx86_64\\tMIT\\n' ;;\n\
             *-qL*libffi) echo /usr/share/licenses/libffi/LICENSE; echo /usr/share/licenses/libffi/GONE ;;\n\
             *) echo \"file $3 is not owned by any package\"; exit 1 ;;\nesac\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let asked = [PathBuf::from("/usr/lib64/libffi.so.8"), PathBuf::from("/opt/libnone.so")];
    let mut found = Found::default();
    rpm::Rpm { program: Some(script) }.owners(&root, "fedora", &asked, &mut found);
    let ffi = &found.owners[&asked[0]];
    assert_eq!(ffi.purl(), "pkg:rpm/fedora/libffi@3.4.4-7.fc40?arch=x86_64");
    assert_eq!(ffi.license, Some(License::Spdx("MIT".into())));
    let path = root.join("usr/share/licenses/libffi/LICENSE");
    assert_eq!(ffi.license_files, [LicenseFile { name: "LICENSE".into(), path }]);
    assert_eq!(found.owners.len(), 1);
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        calls
            .lines()
            .next()
            .unwrap()
            .starts_with(&format!("--root {} --dbpath /var/lib/rpm -qf --queryformat", root.display())),
        "{calls}"
    );
    assert!(calls.contains(" -qL libffi"), "{calls}");
    // no command: a note, no owner
    let mut found = Found::default();
    rpm::Rpm { program: None }.owners(&root, "fedora", &asked, &mut found);
    assert!(found.owners.is_empty());
    assert_eq!(found.notes.len(), 1);
    assert!(found.notes[0].contains("no `rpm` command"), "{:?}", found.notes);
    // no database: nothing asked, nothing said
    let mut found = Found::default();
    rpm::Rpm { program: None }.owners(t.path(), "fedora", &asked, &mut found);
    assert!(found.owners.is_empty() && found.notes.is_empty());
}

/// A purl without a namespace (Homebrew) and with one that is not a distribution (vcpkg).
#[test]
fn purls_of_every_kind() {
    let o = |kind, namespace: &str, package: &str, version: &str, arch: &str| Owner {
        kind,
        namespace: namespace.into(),
        package: package.into(),
        version: version.into(),
        arch: arch.into(),
        license: None,
        license_files: Vec::new(),
    };
    assert_eq!(o("brew", "", "openssl@3", "3.3.1_1", "arm64").purl(), "pkg:brew/openssl%403@3.3.1_1?arch=arm64");
    assert_eq!(o("generic", "vcpkg", "zlib", "1.3.1", "").purl(), "pkg:generic/vcpkg/zlib@1.3.1");
    assert_eq!(
        o("rpm", "fedora", "zlib-ng", "2.1.7-2.fc41", "x86_64").purl(),
        "pkg:rpm/fedora/zlib-ng@2.1.7-2.fc41?arch=x86_64"
    );
}
