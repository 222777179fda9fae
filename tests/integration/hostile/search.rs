//! Hostile search paths through the command line: dependency cycles and
//! self references terminate and repair; a library found by name that the
//! loader cannot use (cut short, garbage, built for another machine) is
//! named with its path and the reason.

use std::path::{Path, PathBuf};

use super::{fixture, run};
use crate::util::{cc, make_wheel};

/// `readelf -d` DT_NEEDED names of a file (binutils, an independent reader).
fn readelf_needed(path: &Path) -> Vec<String> {
    crate::util::readelf_dynamic(path)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split_once('[')?.1.trim_end_matches(']').to_string()))
        .collect()
}

#[test]
fn dependency_cycles_and_self_references_terminate_and_repair() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let lib = root.join("lib");
    let stage = root.join("stage");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::create_dir_all(&stage).unwrap();
    let l = lib.to_str().unwrap();
    let s = stage.to_str().unwrap();
    // libcyca.so.1 ↔ libcycb.so.1: b is built first, then a against b, then
    // b again against a (DT_NEEDED forced, no symbol needed).
    cc(root, "int b(void) { return 2; }\n", &lib.join("libcycb.so.1"), &["-shared", "-Wl,-soname,libcycb.so.1"]);
    let a_src = "int b(void);\nint a(void) { return 40 + b(); }\n";
    cc(root, a_src, &lib.join("libcyca.so.1"), &["-shared", "-Wl,-soname,libcyca.so.1", "-L", l, "-l:libcycb.so.1"]);
    cc(
        root,
        "int b(void) { return 2; }\n",
        &lib.join("libcycb.so.1"),
        &["-shared", "-Wl,-soname,libcycb.so.1", "-L", l, "-Wl,--no-as-needed", "-l:libcyca.so.1"],
    );
    // libself.so.1 needs itself: linked against a first build of itself.
    let self_src = "int selfv(void) { return 0; }\n";
    cc(root, self_src, &stage.join("libself.so.1"), &["-shared", "-Wl,-soname,libself.so.1"]);
    cc(
        root,
        self_src,
        &lib.join("libself.so.1"),
        &["-shared", "-Wl,-soname,libself.so.1", "-L", s, "-Wl,--no-as-needed", "-l:libself.so.1"],
    );
    assert!(readelf_needed(&lib.join("libcycb.so.1")).contains(&"libcyca.so.1".to_string()));
    assert!(readelf_needed(&lib.join("libcyca.so.1")).contains(&"libcycb.so.1".to_string()));
    assert!(readelf_needed(&lib.join("libself.so.1")).contains(&"libself.so.1".to_string()));
    let ext = root.join("ext.so");
    cc(
        root,
        "int a(void);\nint selfv(void);\nint PyInit_ext(void) { return a() + selfv(); }\n",
        &ext,
        &["-shared", "-L", l, "-l:libcyca.so.1", "-l:libself.so.1", &format!("-Wl,-rpath,{l}")],
    );
    let wheel = make_wheel(
        root,
        "cycpkg",
        "linux_x86_64",
        vec![("cycpkg/__init__.py".into(), vec![]), ("cycpkg/ext.so".into(), std::fs::read(&ext).unwrap())],
    );
    let w = wheel.to_str().unwrap();

    let show = run(root, &["show", w]);
    assert_eq!(show.code, Some(1), "needs repair, no error: {}", show.stderr);
    for name in ["libcyca.so.1", "libcycb.so.1", "libself.so.1"] {
        assert!(show.stdout.contains(name), "{name} missing from:\n{}", show.stdout);
    }
    let json = run(root, &["show", "--json", w]);
    assert_eq!(json.code, Some(1), "{}", json.stderr);
    let doc = crate::util::one_wheel(serde_json::from_str(&json.stdout).unwrap());
    let ext_libs = doc["linux"]["external_libs"].as_object().unwrap();
    let mut names: Vec<&str> = ext_libs.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["libcyca.so.1", "libcycb.so.1", "libself.so.1"]);

    let house = root.join("house");
    let r = run(root, &["repair", w, "-w", house.to_str().unwrap()]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let out = PathBuf::from(r.stdout.trim());
    let site = root.join("site");
    let archive = wheelfix::wheel::WheelArchive::open(&out).unwrap();
    archive.verify_all().unwrap();
    for e in archive.entries().iter().filter(|e| !e.is_dir) {
        let p = site.join(&e.name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, archive.read(e.index).unwrap()).unwrap();
    }
    let libs: Vec<PathBuf> =
        std::fs::read_dir(site.join("cycpkg.libs")).unwrap().map(|e| e.unwrap().path()).collect::<Vec<_>>();
    assert_eq!(libs.len(), 3, "{libs:?}");
    let find = |stem: &str| libs.iter().find(|p| p.file_name().unwrap().to_str().unwrap().starts_with(stem)).unwrap();
    let (a, b, me) = (find("libcyca-"), find("libcycb-"), find("libself-"));
    let file = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_string();
    // the cycle is rewritten on both sides, the self reference to the new name
    assert!(readelf_needed(a).contains(&file(b)), "{:?}", readelf_needed(a));
    assert!(readelf_needed(b).contains(&file(a)), "{:?}", readelf_needed(b));
    assert!(readelf_needed(me).contains(&file(me)), "{:?}", readelf_needed(me));

    // it loads with the original libraries gone
    crate::util::loads_with_libraries_gone(root, &lib, &site.join("cycpkg/ext.so"));

    // and repairing the result again terminates as well, changing nothing
    let again = run(root, &["repair", out.to_str().unwrap(), "-w", root.join("house2").to_str().unwrap()]);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
}

/// A library found by name on the search path that the loader cannot use:
/// a file cut short, garbage, or one built for another machine. Repair
/// names it, with its path and the reason, instead of saying the library
/// could not be located; a usable copy later in the search is still found.
#[test]
fn unusable_libraries_on_the_search_path_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (wheel, chain) = crate::util::chain_wheel(root);
    let w = wheel.to_str().unwrap();
    let foo = chain.lib_dir.join("libfoo.so.1");
    let good = std::fs::read(&foo).unwrap();
    // a copy kept elsewhere, for the cases where a later directory has one
    let spare = root.join("spare");
    std::fs::create_dir_all(&spare).unwrap();
    std::fs::copy(&foo, spare.join("libfoo.so.1")).unwrap();
    std::fs::copy(chain.lib_dir.join("libbar.so.1"), spare.join("libbar.so.1")).unwrap();
    let first = root.join("first");
    std::fs::create_dir_all(&first).unwrap();
    let lp = |d: &Path| d.to_str().unwrap().to_string();
    let i686 = fixture("elf/prebuilt/libsmall-i686.so");
    let foo_path = lp(&foo);
    let cases: [(&str, Vec<u8>, &str, i32); 4] = [
        ("cut", good[..good.len() / 3].to_vec(), "PT_LOAD at 0x", 2),
        ("garbage", b"not a library at all\n".to_vec(), "not an ELF file", 2),
        ("empty", Vec::new(), "it is empty", 2),
        ("i686", i686, "it is built for 32-bit i686, not 64-bit x86_64", 1),
    ];
    for (label, bytes, reason, code) in cases {
        std::fs::write(&foo, &bytes).unwrap();
        let house = root.join(format!("house-{label}"));
        let r = run(root, &["repair", w, "-w", house.to_str().unwrap()]);
        assert_eq!(r.code, Some(code), "{label}: {}", r.stderr);
        let line = r.stderr.lines().next().unwrap_or("");
        let said = if code == 2 {
            format!("required library `libfoo.so.1` (needed by `chainpkg/ext.so`) is corrupt: `{foo_path}`: {reason}")
        } else {
            format!("required library `libfoo.so.1` (needed by `chainpkg/ext.so`) could not be located; skipped `{foo_path}`: {reason}")
        };
        assert!(line.starts_with("error: ") && line.contains(&said), "{label}: {said}\nin: {}", r.stderr);
        assert!(!house.exists() || std::fs::read_dir(&house).unwrap().next().is_none(), "{label}: wrote a wheel");
        // show still lists it as not found, and does not fail on it
        let show = run(root, &["show", w]);
        assert_eq!(show.code, Some(1), "{label}: {}", show.stderr);
        assert!(show.stdout.contains("libfoo.so.1 (NOT FOUND)"), "{label}: {}", show.stdout);
        // and names the file it found, with the reason, in the tree and under the list
        let (word, note) = if code == 2 { ("corrupt", "corrupt: ") } else { ("unusable", "missing; skipped ") };
        let tree = format!("libfoo.so.1 [{note}`{foo_path}`: {reason}");
        assert!(show.stdout.contains(&tree), "{label}: {tree}\nin: {}", show.stdout);
        let found = format!("\n      found `{foo_path}`, {word}: {reason}");
        assert!(show.stdout.contains(&found), "{label}: {found}\nin: {}", show.stdout);
        let json = run(root, &["show", "--json", w]);
        let full: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
        let schema: serde_json::Value = serde_json::from_str(include_str!("../../../schema/show.schema.json")).unwrap();
        crate::util::check_schema(&schema, &schema, &full, "$").unwrap();
        let doc = crate::util::one_wheel(full);
        let libs = doc["libraries"].as_array().unwrap();
        let foo_json = libs.iter().find(|l| l["name"] == "libfoo.so.1").unwrap();
        assert_eq!(foo_json["status"], "missing", "{label}");
        let rejected = foo_json["rejected"].as_array().unwrap();
        assert_eq!(rejected.len(), 1, "{label}: {rejected:?}");
        assert_eq!(rejected[0]["path"], foo_path.as_str(), "{label}");
        assert!(rejected[0]["reason"].as_str().unwrap().contains(reason), "{label}: {rejected:?}");
        assert_eq!(rejected[0]["corrupt"], code == 2, "{label}");
        // a library found and usable has no such field
        assert!(libs.iter().filter(|l| l["name"] != "libfoo.so.1").all(|l| l.get("rejected").is_none()), "{libs:?}");
        // the same file first on the search path, a good copy after it: the good one is bundled
        std::fs::write(first.join("libfoo.so.1"), &bytes).unwrap();
        let house = root.join(format!("house-{label}-found"));
        let args = ["repair", w, "-w", house.to_str().unwrap(), "--lib-path", &lp(&first), "--lib-path", &lp(&spare)];
        let r = run(root, &args);
        assert_eq!(r.code, Some(0), "{label}: {}", r.stderr);
    }
}
