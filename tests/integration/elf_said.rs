//! `repair -v` says every RPATH/RUNPATH it removes, changes or adds, file
//! by file, old → new, including files rewritten only for that; and each
//! line it says is what the repaired file holds.

use std::path::Path;

use wheelfix::binary::elf::{parse, ElfInfo};

use crate::util::{build_chain, cc, make_wheel, text, wheelfix, zip_entries};

/// The parse of entry `name` of `wheel`.
fn elf_of(wheel: &Path, name: &str) -> ElfInfo {
    let entries = zip_entries(wheel);
    parse(entries.get(name).unwrap_or_else(|| panic!("no {name} in {entries:?}", entries = entries.keys()))).unwrap()
}

#[test]
fn verbose_repair_says_every_search_path_edit() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let chain = build_chain(root);
    let lib = chain.lib_dir.to_str().unwrap().to_string();
    // needs nothing outside the wheel: rewritten only because its DT_RPATH is the build machine's
    let helper = root.join("helper.so");
    let src = "int helper(void) { return 1; }\n";
    cc(root, src, &helper, &["-shared", "-Wl,-rpath,/opt/nowhere/lib", "-Wl,--disable-new-dtags"]);
    // its search path stays inside the wheel: left alone, and not said
    let keep = root.join("keep.so");
    cc(root, src, &keep, &["-shared", "-Wl,-rpath,$ORIGIN/sub", "-Wl,--disable-new-dtags"]);
    let files = vec![
        ("chainpkg/__init__.py".to_string(), Vec::new()),
        ("chainpkg/ext.so".into(), std::fs::read(&chain.ext).unwrap()),
        ("chainpkg/helper.so".into(), std::fs::read(&helper).unwrap()),
        ("chainpkg/keep.so".into(), std::fs::read(&keep).unwrap()),
    ];
    let wheel = make_wheel(root, "chainpkg", "linux_x86_64", files);
    let house = root.join("house");
    let args = ["repair", wheel.to_str().unwrap(), "-w", house.to_str().unwrap()];
    let quiet = wheelfix(&args);
    assert_eq!(quiet.status.code(), Some(0), "{}", text(&quiet.stderr));
    assert!(!text(&quiet.stderr).contains("RPATH"), "said without -v: {}", text(&quiet.stderr));
    let out = wheelfix(&[&args[..], &["-v"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stderr);
    let repaired = Path::new(text(&out.stdout).trim()).to_path_buf();
    let entries = zip_entries(&repaired);
    let foo = entries.keys().find(|k| k.starts_with("chainpkg.libs/libfoo-")).unwrap().clone();
    let bar = entries.keys().find(|k| k.starts_with("chainpkg.libs/libbar-")).unwrap().clone();
    let lines: Vec<&str> = said.lines().filter(|l| l.contains("RPATH") || l.contains("RUNPATH")).collect();
    let want = [
        format!("`{foo}`: RPATH `$ORIGIN` added"),
        format!("`chainpkg/ext.so`: RUNPATH `{lib}` → RPATH `$ORIGIN/../chainpkg.libs`"),
        "`chainpkg/helper.so`: RPATH `/opt/nowhere/lib` removed".to_string(),
    ];
    assert_eq!(lines, want, "in:\n{said}");
    // what was said is what the files hold
    let ext = elf_of(&repaired, "chainpkg/ext.so");
    assert_eq!((ext.rpath, ext.runpath), (vec!["$ORIGIN/../chainpkg.libs".to_string()], vec![]));
    let helper = elf_of(&repaired, "chainpkg/helper.so");
    assert!(helper.rpath.is_empty() && helper.runpath.is_empty(), "{helper:?}");
    assert_eq!(elf_of(&repaired, &foo).rpath, ["$ORIGIN"]);
    let bar = elf_of(&repaired, &bar);
    assert!(bar.rpath.is_empty() && bar.runpath.is_empty(), "{bar:?}");
    assert_eq!(elf_of(&repaired, "chainpkg/keep.so").rpath, ["$ORIGIN/sub"]);
    assert_eq!(entries["chainpkg/keep.so"], std::fs::read(&keep).unwrap(), "keep.so is copied as it is");
}
