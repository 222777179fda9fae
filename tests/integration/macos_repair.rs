//! macOS wheels end to end: `wheelfix repair` (delocate's rules) and
//! `wheelfix merge` on wheels built from the committed Mach-O fixtures
//! (`fixtures/macho/`: ext → @rpath/libfoo → @rpath/libbar).
//!
//! Every output binary is read back with goblin (load commands, ids,
//! rpaths, fat headers) and every signature re-hashed by the independent
//! verifier of `macho.rs`; RECORD is checked by hashing each entry here.
//! Each written wheel is also compared with its golden dump in
//! `tests/golden/macho/repair.*.txt` (every binary dumped by `macho_dump.rs`),
//! and each message with its snapshot (`snapshots/macos-*.snap`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use sha2::{Digest, Sha256};
use wheelfix::patch::macho::{apply, create_fat, MachOEdits};

use crate::macho::{assert_signatures, GView};
use crate::snap::Filter;
use crate::util::{golden_wheel, make_wheel, text};

const EXT: &str = "ext.cpython-312-darwin.so";
const SYSTEM: &str = "/usr/lib/libSystem.B.dylib";
const ARM64: u32 = 0x0100_000c;
const X86_64: u32 = 0x0100_0007;

fn fixture(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/macho").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {} missing ({e})", p.display()))
}

/// Copies fixture files into `dir/name` (a fresh library directory).
fn lib_dir(dir: &Path, name: &str, files: &[(&str, Vec<u8>)]) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    for (f, data) in files {
        std::fs::write(d.join(f), data).unwrap();
    }
    d
}

/// `fakepkg-1.0-cp311-cp311-{plat}.whl` with a package and the extension(s).
fn mac_wheel(dir: &Path, plat: &str, binaries: Vec<(&str, Vec<u8>)>, init: &str) -> PathBuf {
    let mut files = vec![("fakepkg/__init__.py".to_string(), init.as_bytes().to_vec())];
    files.extend(binaries.into_iter().map(|(n, d)| (format!("fakepkg/{n}"), d)));
    // numbered within `dir` (one test's own directory), so paths in messages are the same every run
    let n = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("in-"))
        .count();
    let sub = dir.join(format!("in-{n}"));
    std::fs::create_dir_all(&sub).unwrap();
    make_wheel(&sub, "fakepkg", plat, files)
}

/// Runs wheelfix with `MACOSX_DEPLOYMENT_TARGET` as given.
fn run(args: &[&str], target: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wheelfix"));
    c.args(args).env_remove("MACOSX_DEPLOYMENT_TARGET").env_remove("DYLD_LIBRARY_PATH");
    c.env_remove("DYLD_FALLBACK_LIBRARY_PATH").env("NO_COLOR", "1");
    if let Some(t) = target {
        c.env("MACOSX_DEPLOYMENT_TARGET", t);
    }
    c.output().unwrap()
}

/// `wheelfix repair WHEEL -w OUT EXTRA...`, with `MACOSX_DEPLOYMENT_TARGET` set to `target`.
fn repair_run(wheel: &Path, out: &Path, extra: &[&str], target: Option<&str>) -> Output {
    let mut args = vec!["repair", wheel.to_str().unwrap(), "-w", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(&args, target)
}

fn repair_ok(wheel: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    let o = repair_run(wheel, out, extra, None);
    assert!(o.status.success(), "repair failed: {}", text(&o.stderr));
    PathBuf::from(text(&o.stdout).trim())
}

/// Every entry of a wheel, read with the zip crate, after checking RECORD
/// against sha256 and size of every entry.
fn read_wheel(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        if f.is_dir() {
            continue;
        }
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        out.insert(f.name().unwrap().to_string(), data);
    }
    let record_name = out.keys().find(|k| k.ends_with(".dist-info/RECORD")).expect("RECORD").clone();
    let record = String::from_utf8(out[&record_name].clone()).unwrap();
    let mut listed = 0;
    for line in record.lines().filter(|l| !l.is_empty()) {
        let parts: Vec<&str> = line.rsplitn(3, ',').collect();
        let (name, hash, size) = (parts[2], parts[1], parts[0]);
        if name == record_name {
            continue;
        }
        listed += 1;
        let data = out.get(name).unwrap_or_else(|| panic!("RECORD lists absent {name}"));
        let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(data));
        assert_eq!(hash, format!("sha256={digest}"), "RECORD hash of {name}");
        assert_eq!(size, data.len().to_string(), "RECORD size of {name}");
    }
    assert_eq!(listed, out.len() - 1, "every entry is in RECORD");
    out
}

fn wheel_tags(entries: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let w = entries.iter().find(|(k, _)| k.ends_with(".dist-info/WHEEL")).expect("WHEEL").1;
    text(w).lines().filter_map(|l| l.strip_prefix("Tag: ")).map(str::to_string).collect()
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Checks one delocated slice: its id, its references (besides libSystem) and rpaths.
fn assert_slice(v: &GView, id: Option<&str>, libs: &[&str], rpaths: &[&str]) {
    assert_eq!(v.id.as_deref(), id, "install id of cpu {:#x}", v.cputype);
    let mut want: Vec<String> = libs.iter().map(|s| s.to_string()).collect();
    want.push(SYSTEM.into());
    let mut got = v.libs.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "load commands of cpu {:#x}", v.cputype);
    assert_eq!(v.rpaths, rpaths, "rpaths of cpu {:#x}", v.cputype);
}

/// Checks the delocated layout of `entries` for the given slice cputypes.
fn assert_delocated(entries: &BTreeMap<String, Vec<u8>>, cpus: &[u32]) {
    let ext = assert_signatures(&entries[&format!("fakepkg/{EXT}")]);
    let libfoo_v = assert_signatures(&entries["fakepkg/.dylibs/libfoo.dylib"]);
    let libbar_v = assert_signatures(&entries["fakepkg/.dylibs/libbar.dylib"]);
    for views in [&ext, &libfoo_v, &libbar_v] {
        assert_eq!(views.iter().map(|v| v.cputype).collect::<Vec<_>>(), cpus);
    }
    for v in &ext {
        // the build id of the bundle is left as it is (none); /opt/fake/lib is removed
        assert_slice(v, None, &["@loader_path/.dylibs/libfoo.dylib"], &["@loader_path/deps"]);
    }
    for v in &libfoo_v {
        assert_slice(v, Some("/DLC/fakepkg/.dylibs/libfoo.dylib"), &["@loader_path/libbar.dylib"], &[]);
    }
    for v in &libbar_v {
        assert_slice(v, Some("/DLC/fakepkg/.dylibs/libbar.dylib"), &[], &[]);
    }
}

#[test]
fn repair_thin_wheels_like_delocate() {
    let t = tempfile::tempdir().unwrap();
    for (arch, cpu) in [("arm64", ARM64), ("x86_64", X86_64)] {
        let libs = lib_dir(
            t.path(),
            &format!("lib-{arch}"),
            &[
                ("libfoo.dylib", fixture(&format!("{arch}/deps/libfoo.dylib"))),
                ("libbar.dylib", fixture(&format!("{arch}/deps/libbar.dylib"))),
            ],
        );
        let plat = format!("macosx_11_0_{arch}");
        let whl = mac_wheel(t.path(), &plat, vec![(EXT, fixture(&format!("{arch}/{EXT}")))], "");
        let out = t.path().join(format!("out-{arch}"));
        let fixed = repair_ok(&whl, &out, &["--lib-path", libs.to_str().unwrap()]);
        assert_eq!(file_name(&fixed), format!("fakepkg-1.0-cp311-cp311-{plat}.whl"));
        let entries = read_wheel(&fixed);
        golden_wheel(&format!("macho/repair.thin-{arch}"), &fixed);
        assert_delocated(&entries, &[cpu]);
        assert_eq!(wheel_tags(&entries), vec![format!("cp311-cp311-{plat}")]);
        let dylibs: Vec<&String> = entries.keys().filter(|k| k.contains(".dylibs/")).collect();
        assert_eq!(dylibs, ["fakepkg/.dylibs/libbar.dylib", "fakepkg/.dylibs/libfoo.dylib"]);
        // the input libraries are untouched
        assert_eq!(std::fs::read(libs.join("libfoo.dylib")).unwrap(), fixture(&format!("{arch}/deps/libfoo.dylib")));
    }
}

#[test]
fn lib_sdir_and_root_placement() {
    let t = tempfile::tempdir().unwrap();
    let libs = lib_dir(
        t.path(),
        "lib",
        &[("libfoo.dylib", fixture("arm64/deps/libfoo.dylib")), ("libbar.dylib", fixture("arm64/deps/libbar.dylib"))],
    );
    // no package: `<dist>.dylibs` at the root, the extension at the root too
    let sub = t.path().join("in");
    std::fs::create_dir_all(&sub).unwrap();
    let whl =
        make_wheel(&sub, "fakepkg", "macosx_11_0_arm64", vec![(EXT.to_string(), fixture(&format!("arm64/{EXT}")))]);
    let fixed = repair_ok(&whl, &t.path().join("out"), &["--lib-path", libs.to_str().unwrap(), "-L", "_libs"]);
    golden_wheel("macho/repair.root-lib-sdir", &fixed);
    let entries = read_wheel(&fixed);
    let ext = assert_signatures(&entries[EXT]);
    assert_slice(&ext[0], None, &["@loader_path/fakepkg_libs/libfoo.dylib"], &["@loader_path/deps"]);
    let libfoo_v = assert_signatures(&entries["fakepkg_libs/libfoo.dylib"]);
    assert_slice(&libfoo_v[0], Some("/DLC/fakepkg_libs/libfoo.dylib"), &["@loader_path/libbar.dylib"], &[]);
    // --no-sanitize-rpaths keeps every rpath
    let whl2 = mac_wheel(t.path(), "macosx_11_0_arm64", vec![(EXT, fixture(&format!("arm64/{EXT}")))], "");
    let fixed =
        repair_ok(&whl2, &t.path().join("out2"), &["--lib-path", libs.to_str().unwrap(), "--no-sanitize-rpaths"]);
    golden_wheel("macho/repair.no-sanitize-rpaths", &fixed);
    let entries = read_wheel(&fixed);
    let ext = assert_signatures(&entries[&format!("fakepkg/{EXT}")]);
    assert_eq!(ext[0].rpaths, ["@loader_path/deps", "/opt/fake/lib"]);
    let libfoo_v = assert_signatures(&entries["fakepkg/.dylibs/libfoo.dylib"]);
    assert_eq!(libfoo_v[0].rpaths, ["@loader_path"]);
}

#[test]
fn minimum_macos_raises_the_tag_or_fails_the_deployment_target() {
    let t = tempfile::tempdir().unwrap();
    let libs = lib_dir(
        t.path(),
        "lib13",
        &[
            ("libfoo.dylib", fixture("arm64-13/deps/libfoo.dylib")),
            ("libbar.dylib", fixture("arm64/deps/libbar.dylib")),
        ],
    );
    let whl = mac_wheel(t.path(), "macosx_11_0_arm64", vec![(EXT, fixture(&format!("arm64/{EXT}")))], "");
    let out = t.path().join("out");
    let fixed = repair_ok(&whl, &out, &["--lib-path", libs.to_str().unwrap()]);
    assert_eq!(file_name(&fixed), "fakepkg-1.0-cp311-cp311-macosx_13_0_arm64.whl");
    assert_eq!(wheel_tags(&read_wheel(&fixed)), ["cp311-cp311-macosx_13_0_arm64"]);
    golden_wheel("macho/repair.minos-13", &fixed);

    let out2 = t.path().join("out2");
    let o = repair_run(&whl, &out2, &["--lib-path", libs.to_str().unwrap()], Some("11.0"));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    crate::snapshot!("macos-deployment-target-too-low", Filter::new().dir(t.path(), "[TMP]").run(&o));
    assert!(!out2.exists() || std::fs::read_dir(&out2).unwrap().next().is_none(), "nothing written");

    // a target above the libraries sets the tag
    let fixed = {
        let o = repair_run(&whl, &out2, &["--lib-path", libs.to_str().unwrap()], Some("14.0"));
        assert!(o.status.success(), "{}", text(&o.stderr));
        PathBuf::from(text(&o.stdout).trim())
    };
    assert_eq!(file_name(&fixed), "fakepkg-1.0-cp311-cp311-macosx_14_0_arm64.whl");
    golden_wheel("macho/repair.target-14", &fixed);
}

/// A universal2 libbar (not committed) fused from the thin fixtures.
fn fat_libbar() -> Vec<u8> {
    let (a, x) = (fixture("arm64/deps/libbar.dylib"), fixture("x86_64/deps/libbar.dylib"));
    create_fat(&[&x, &a]).unwrap()
}

#[test]
fn universal2_and_required_archs() {
    let t = tempfile::tempdir().unwrap();
    let libs = lib_dir(
        t.path(),
        "lib",
        &[("libfoo.dylib", fixture("universal2/deps/libfoo.dylib")), ("libbar.dylib", fat_libbar())],
    );
    let whl = mac_wheel(t.path(), "macosx_11_0_universal2", vec![(EXT, fixture(&format!("universal2/{EXT}")))], "");
    let fixed = repair_ok(
        &whl,
        &t.path().join("out"),
        &["--lib-path", libs.to_str().unwrap(), "--require-archs", "universal2"],
    );
    assert_eq!(file_name(&fixed), "fakepkg-1.0-cp311-cp311-macosx_11_0_universal2.whl");
    golden_wheel("macho/repair.universal2", &fixed);
    let entries = read_wheel(&fixed);
    let mut cpus: Vec<u32> =
        crate::macho::goblin(&entries[&format!("fakepkg/{EXT}")]).iter().map(|v| v.cputype).collect();
    cpus.sort();
    assert_eq!(cpus, [X86_64, ARM64]);
    let order: Vec<u32> = crate::macho::goblin(&entries[&format!("fakepkg/{EXT}")]).iter().map(|v| v.cputype).collect();
    assert_delocated(&entries, &order);

    // an arm64-only wheel does not have universal2's archs
    let thin = lib_dir(
        t.path(),
        "thin",
        &[("libfoo.dylib", fixture("arm64/deps/libfoo.dylib")), ("libbar.dylib", fixture("arm64/deps/libbar.dylib"))],
    );
    let whl = mac_wheel(t.path(), "macosx_11_0_arm64", vec![(EXT, fixture(&format!("arm64/{EXT}")))], "");
    let out = t.path().join("out-bad");
    let o = repair_run(&whl, &out, &["--lib-path", thin.to_str().unwrap(), "--require-archs", "universal2"], None);
    assert_eq!(o.status.code(), Some(1));
    let f = Filter::new().dir(t.path(), "[TMP]");
    crate::snapshot!("macos-required-archs-missing", f.run(&o));

    // a universal2 extension loading an arm64-only libfoo: delocate's check_archs
    let mixed = lib_dir(
        t.path(),
        "mixed",
        &[("libfoo.dylib", fixture("arm64/deps/libfoo.dylib")), ("libbar.dylib", fat_libbar())],
    );
    let whl = mac_wheel(t.path(), "macosx_11_0_universal2", vec![(EXT, fixture(&format!("universal2/{EXT}")))], "#");
    let o = repair_run(&whl, &out, &["--lib-path", mixed.to_str().unwrap(), "--require-archs", "arm64"], None);
    assert_eq!(o.status.code(), Some(1));
    crate::snapshot!("macos-library-lacks-an-arch", f.run(&o));
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(), "nothing written");
}

#[test]
fn same_basename_different_libraries_get_clash_proof_names() {
    let t = tempfile::tempdir().unwrap();
    let libbar_v = fixture("arm64/deps/libbar.dylib");
    let one = lib_dir(
        t.path(),
        "one",
        &[("libfoo.dylib", fixture("arm64/deps/libfoo.dylib")), ("libbar.dylib", libbar_v.clone())],
    );
    let two = lib_dir(
        t.path(),
        "two",
        &[("libfoo.dylib", fixture("arm64-13/deps/libfoo.dylib")), ("libbar.dylib", libbar_v)],
    );
    let ext = fixture(&format!("arm64/{EXT}"));
    // ext1 finds libfoo through an absolute rpath to `one`; ext2 names `two/libfoo.dylib` itself
    let mut e1 = MachOEdits::default();
    e1.delete_rpaths = vec!["/opt/fake/lib".into()];
    e1.add_rpaths = vec![one.to_str().unwrap().into()];
    let ext1 = apply(&ext, &e1).unwrap();
    let mut e2 = MachOEdits::default();
    e2.change_dylibs = vec![("@rpath/libfoo.dylib".into(), two.join("libfoo.dylib").to_str().unwrap().into())];
    let ext2 = apply(&ext, &e2).unwrap();
    let whl = mac_wheel(t.path(), "macosx_11_0_arm64", vec![("ext1.so", ext1), ("ext2.so", ext2)], "");
    let fixed = repair_ok(&whl, &t.path().join("out"), &[]);
    golden_wheel("macho/repair.same-basename", &fixed);
    let entries = read_wheel(&fixed);
    let foos: Vec<&String> = entries.keys().filter(|k| k.starts_with("fakepkg/.dylibs/libfoo")).collect();
    assert_eq!(foos.len(), 2, "{:?}", entries.keys());
    for f in &foos {
        let name = f.rsplit('/').next().unwrap();
        let hash = name.strip_prefix("libfoo-").and_then(|r| r.strip_suffix(".dylib")).expect("libfoo-<hash>.dylib");
        assert!(hash.len() == 8 && hash.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
        let v = assert_signatures(&entries[*f]);
        assert_slice(&v[0], Some(&format!("/DLC/fakepkg/.dylibs/{name}")), &["@loader_path/libbar.dylib"], &[]);
    }
    // identical libbar from both directories is bundled once under its own name
    assert!(entries.contains_key("fakepkg/.dylibs/libbar.dylib"));
    assert_eq!(entries.keys().filter(|k| k.contains("libbar")).count(), 1);
    // each extension loads its own libfoo: the minos 13 one is what ext2 named
    let v2 = assert_signatures(&entries["fakepkg/ext2.so"]);
    let foo2 = v2[0].libs.iter().find(|l| l.contains("libfoo")).unwrap().replace("@loader_path/", "fakepkg/");
    let v1 = assert_signatures(&entries["fakepkg/ext1.so"]);
    let foo1 = v1[0].libs.iter().find(|l| l.contains("libfoo")).unwrap().replace("@loader_path/", "fakepkg/");
    assert_ne!(foo1, foo2);
    assert_eq!(v1[0].rpaths, ["@loader_path/deps"], "the absolute rpath is removed");
    let m2 = wheelfix::binary::macho::parse(&entries[&foo2]).unwrap();
    assert_eq!(m2.slices[0].min_macos.unwrap().major, 13);
    assert_eq!(file_name(&fixed), "fakepkg-1.0-cp311-cp311-macosx_13_0_arm64.whl");
}

#[test]
fn unpadded_binary_is_refused_and_nothing_is_written() {
    let t = tempfile::tempdir().unwrap();
    let libs = lib_dir(
        t.path(),
        "lib",
        &[("libfoo.dylib", fixture("arm64/deps/libfoo.dylib")), ("libbar.dylib", fixture("arm64/deps/libbar.dylib"))],
    );
    let whl = mac_wheel(t.path(), "macosx_11_0_arm64", vec![(EXT, fixture(&format!("arm64-nopad/{EXT}")))], "");
    let out = t.path().join("out");
    let sdir = format!(".dylibs_{}", "x".repeat(60));
    let o = repair_run(&whl, &out, &["--lib-path", libs.to_str().unwrap(), "-L", &sdir], None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    crate::snapshot!("macos-no-room-in-the-header", Filter::new().dir(t.path(), "[TMP]").run(&o));
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(), "nothing written");
    // the default directory name fits in the 32 free bytes (the removed rpath makes room)
    let fixed = repair_ok(&whl, &t.path().join("out-ok"), &["--lib-path", libs.to_str().unwrap()]);
    golden_wheel("macho/repair.nopad", &fixed);
    assert_delocated(&read_wheel(&fixed), &[ARM64]);
}

#[test]
fn repairing_a_delocated_wheel_changes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let libs = lib_dir(
        t.path(),
        "lib",
        &[("libfoo.dylib", fixture("arm64/deps/libfoo.dylib")), ("libbar.dylib", fixture("arm64/deps/libbar.dylib"))],
    );
    let whl = mac_wheel(t.path(), "macosx_11_0_arm64", vec![(EXT, fixture(&format!("arm64/{EXT}")))], "");
    let first = repair_ok(&whl, &t.path().join("out1"), &["--lib-path", libs.to_str().unwrap()]);
    let out2 = t.path().join("out2");
    let o = repair_run(&first, &out2, &[], None);
    assert!(o.status.success(), "{}", text(&o.stderr));
    crate::snapshot!("macos-repair-a-delocated-wheel", Filter::new().dir(t.path(), "[TMP]").run(&o));
    let second = PathBuf::from(text(&o.stdout).trim());
    assert_eq!(file_name(&second), file_name(&first));
    assert_eq!(read_wheel(&first), read_wheel(&second));
}

#[test]
fn missing_dependency_is_an_error_unless_ignored() {
    let t = tempfile::tempdir().unwrap();
    let whl = mac_wheel(t.path(), "macosx_11_0_arm64", vec![(EXT, fixture(&format!("arm64/{EXT}")))], "");
    let out = t.path().join("out");
    let o = repair_run(&whl, &out, &[], None);
    assert_eq!(o.status.code(), Some(1));
    crate::snapshot!("macos-missing-library", Filter::new().dir(t.path(), "[TMP]").run(&o));
    let o = repair_run(&whl, &out, &["--ignore-missing-dependencies"], None);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let entries = read_wheel(Path::new(text(&o.stdout).trim()));
    assert!(!entries.keys().any(|k| k.contains(".dylibs")));
    assert_eq!(entries[&format!("fakepkg/{EXT}")], fixture(&format!("arm64/{EXT}")), "left as it is");
}

#[test]
fn merge_thin_wheels_into_universal2() {
    let t = tempfile::tempdir().unwrap();
    let mut repaired = Vec::new();
    for arch in ["arm64", "x86_64"] {
        let libs = lib_dir(
            t.path(),
            &format!("lib-{arch}"),
            &[
                ("libfoo.dylib", fixture(&format!("{arch}/deps/libfoo.dylib"))),
                ("libbar.dylib", fixture(&format!("{arch}/deps/libbar.dylib"))),
            ],
        );
        let whl =
            mac_wheel(t.path(), &format!("macosx_11_0_{arch}"), vec![(EXT, fixture(&format!("{arch}/{EXT}")))], "");
        repaired.push(repair_ok(&whl, &t.path().join(format!("out-{arch}")), &["--lib-path", libs.to_str().unwrap()]));
    }
    let out = t.path().join("merged");
    let o = run(
        &["merge", repaired[0].to_str().unwrap(), repaired[1].to_str().unwrap(), "-w", out.to_str().unwrap()],
        None,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let fused = PathBuf::from(text(&o.stdout).trim());
    assert_eq!(file_name(&fused), "fakepkg-1.0-cp311-cp311-macosx_11_0_universal2.whl");
    golden_wheel("macho/merge.universal2", &fused);
    let entries = read_wheel(&fused);
    assert_eq!(wheel_tags(&entries), ["cp311-cp311-macosx_11_0_universal2"]);
    for name in [format!("fakepkg/{EXT}"), "fakepkg/.dylibs/libfoo.dylib".into(), "fakepkg/.dylibs/libbar.dylib".into()]
    {
        let views = assert_signatures(&entries[&name]);
        let mut cpus: Vec<u32> = views.iter().map(|v| v.cputype).collect();
        cpus.sort();
        assert_eq!(cpus, [X86_64, ARM64], "{name}");
    }
    let order: Vec<u32> = crate::macho::goblin(&entries[&format!("fakepkg/{EXT}")]).iter().map(|v| v.cputype).collect();
    assert_delocated(&entries, &order);
    assert!(entries["fakepkg/__init__.py"].is_empty());

    // deterministic: the same inputs give the same bytes
    let out2 = t.path().join("merged2");
    let o = run(
        &["merge", repaired[0].to_str().unwrap(), repaired[1].to_str().unwrap(), "-w", out2.to_str().unwrap()],
        None,
    );
    assert!(o.status.success());
    assert_eq!(std::fs::read(&fused).unwrap(), std::fs::read(out2.join(file_name(&fused))).unwrap());
}

#[test]
fn merge_refuses_differing_non_binaries_and_same_arch() {
    let t = tempfile::tempdir().unwrap();
    let a = mac_wheel(t.path(), "macosx_11_0_arm64", vec![(EXT, fixture(&format!("arm64/{EXT}")))], "A = 1\n");
    let x = mac_wheel(t.path(), "macosx_11_0_x86_64", vec![(EXT, fixture(&format!("x86_64/{EXT}")))], "A = 2\n");
    let out = t.path().join("out");
    let o = run(&["merge", a.to_str().unwrap(), x.to_str().unwrap(), "-w", out.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(1));
    let f = Filter::new().dir(t.path(), "[TMP]");
    crate::snapshot!("macos-merge-differing-file", f.run(&o));
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(), "nothing written");

    // two different arm64 builds of one file cannot be fused
    let a13 = {
        let mut e = MachOEdits::default();
        e.add_rpaths = vec!["@loader_path/other".into()];
        apply(&fixture(&format!("arm64/{EXT}")), &e).unwrap()
    };
    crate::util::golden("macho/arm64.ext.add-rpath", &crate::macho_dump::dump(&a13));
    let b = mac_wheel(t.path(), "macosx_11_0_x86_64", vec![(EXT, a13)], "");
    let a = mac_wheel(t.path(), "macosx_11_0_arm64", vec![(EXT, fixture(&format!("arm64/{EXT}")))], "");
    let o = run(&["merge", a.to_str().unwrap(), b.to_str().unwrap(), "-w", out.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(1));
    crate::snapshot!("macos-merge-two-arm64-slices", f.run(&o));
}
