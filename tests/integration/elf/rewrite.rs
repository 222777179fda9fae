//! Rewriting: the compiled and prebuilt fixtures against their golden
//! dumps, libraries with odd layouts and a moved `.dynamic`, rewritten
//! chains that load from their new RPATH, and the edits that are refused.

use super::*;

#[test]
fn rewrite_compiled_fixtures_golden() {
    let fx = Fixtures::get();
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("libfoo", "libfoo.so", "libfoo-0123abcd.so", "libbar.so", "libbar-89abcdef.so", None),
        ("libfoo2m", "libfoo2m.so", "libfoo2m-0123abcd.so", "libbar.so", "libbar-89abcdef.so", None),
        ("ext", "ext.so", "ext-0123abcd.so", "libfoo.so", "libfoo-0123abcd.so", Some("libfoo.so")),
    ];
    for (stem, file, soname, old, new, removable) in cases {
        let input = fx.read(file);
        golden(&format!("{stem}.input"), &stable_dump(&input));
        for (op, e) in ops_for(soname, old, new, removable) {
            let out = apply(&input, &e).unwrap_or_else(|err| panic!("{stem} {op}: {err}"));
            check_output(&input, &out, tmp.path(), &format!("{stem}.{op}.so"));
            golden(&format!("{stem}.{op}"), &stable_dump(&out));
        }
    }
    // A GNU ld library has no free program header: its table grows in
    // place (the sections after it move to the new segment), and the
    // build-id PT_NOTE and the GNU property note (x86 ISA level, CET) are
    // both kept.
    let input = fx.read("libisa.so");
    let out = apply(&input, &edits(|e| e.set_soname = Some("libisa-0123abcd.so".into()))).unwrap();
    let (a, b) =
        (wheelfix::binary::elf::ElfFile::parse(&input).unwrap(), wheelfix::binary::elf::ElfFile::parse(&out).unwrap());
    let count = |f: &wheelfix::binary::elf::ElfFile<'_>, t: u32| f.phdrs.iter().filter(|p| p.p_type == t).count();
    assert_eq!((a.e_phoff, a.phdrs.len() + 1), (b.e_phoff, b.phdrs.len()));
    assert_eq!(count(&b, 1), count(&a, 1) + 1, "one more PT_LOAD");
    assert_eq!(count(&b, 4), count(&a, 4), "every PT_NOTE kept");
    assert_eq!(count(&b, 0x6474_e553), count(&a, 0x6474_e553), "PT_GNU_PROPERTY kept");
    assert_eq!(parse(&out).unwrap().x86_isa_needed, parse(&input).unwrap().x86_isa_needed);
    check_output(&input, &out, tmp.path(), "libisa.so");

    // RUNPATH to RPATH with the same value reuses the string: edited in
    // place, same size, and only the dynamic section changes.
    let input = fx.read("ext.so");
    let out = apply(&input, &edits(|e| e.rpath = Some(RpathEdit::SetRpath("$ORIGIN".into())))).unwrap();
    assert_eq!(out.len(), input.len());
    let diff: Vec<usize> = (0..input.len()).filter(|&i| input[i] != out[i]).collect();
    assert!(!diff.is_empty() && diff.len() <= 8, "in-place edit changed {} bytes", diff.len());
    check_output(&input, &out, tmp.path(), "ext.runpath-to-rpath.so");
    golden("ext.runpath-to-rpath", &stable_dump(&out));
}

#[test]
fn rewrite_prebuilt_fixtures_golden() {
    let tmp = tempfile::tempdir().unwrap();
    for name in PREBUILT {
        let input = fs::read(prebuilt(name)).unwrap();
        let stem = name.trim_end_matches(".so");
        golden(&format!("{stem}.input"), &dump(&input).unwrap());
        for (op, e) in ops_for("libsmall-0123abcd.so", "libm.so.6", "libm-89abcdef.so.6", None) {
            let out = apply(&input, &e).unwrap_or_else(|err| panic!("{name} {op}: {err}"));
            check_output(&input, &out, tmp.path(), &format!("{stem}.{op}.so"));
            golden(&format!("{stem}.{op}"), &dump(&out).unwrap());
        }
    }
}

#[test]
fn lld_library_without_spare_dynamic_slot_gets_a_moved_dynamic() {
    let input = fs::read(prebuilt("libsmall-lld.so")).unwrap();
    let before = dump(&input).unwrap();
    assert!(before.contains("dynamic: 26 entries, 27 slots"), "the lld fixture has no spare slot:\n{before}");
    let out = apply(&input, &edits(|e| e.rpath = Some(RpathEdit::SetRpath("$ORIGIN".into())))).unwrap();
    let f = wheelfix::binary::elf::ElfFile::parse(&out).unwrap();
    let dynamic = f.phdrs.iter().find(|p| p.p_type == 2).unwrap();
    let new_load = f.phdrs.iter().rfind(|p| p.p_type == 1).unwrap();
    // PT_DYNAMIC now lives in the new, writable, last PT_LOAD.
    assert_eq!(new_load.p_flags, 6, "{new_load:?}");
    assert!(new_load.p_offset >= input.len() as u64);
    assert!(dynamic.p_offset >= new_load.p_offset);
    assert!(dynamic.p_offset + dynamic.p_filesz <= new_load.p_offset + new_load.p_filesz);
    assert_eq!(dynamic.p_vaddr - new_load.p_vaddr, dynamic.p_offset - new_load.p_offset);
    assert_eq!(parse(&out).unwrap().rpath, ["$ORIGIN"]);
}

/// Loads `lib` (whose dependency `dep` was renamed `new_dep` and moved to
/// `libs/`) and checks the call result.
#[test]
fn rewritten_chain_loads_from_new_rpath() {
    let fx = Fixtures::get();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let libs = root.join("pkg.libs");
    fs::create_dir(&libs).unwrap();
    // libbar → pkg.libs/libbar-89abcdef.so (soname updated)
    let bar = apply(&fx.read("libbar.so"), &edits(|e| e.set_soname = Some("libbar-89abcdef.so".into()))).unwrap();
    write_exec(&libs.join("libbar-89abcdef.so"), &bar);
    // libfoo → pkg.libs/libfoo-0123abcd.so, needing the renamed libbar
    let foo = apply(
        &fx.read("libfoo.so"),
        &edits(|e| {
            e.set_soname = Some("libfoo-0123abcd.so".into());
            e.replace_needed = vec![("libbar.so".into(), "libbar-89abcdef.so".into())];
            e.rpath = Some(RpathEdit::SetRpath("$ORIGIN".into()));
        }),
    )
    .unwrap();
    check_output(&fx.read("libfoo.so"), &foo, &libs, "libfoo-0123abcd.so");
    let foo_info = parse(&foo).unwrap();
    assert!(foo_info.version_needs.iter().any(|v| v.file == "libbar-89abcdef.so"), "vn_file renamed");
    // ext → root/ext.so with RPATH $ORIGIN/pkg.libs (was RUNPATH $ORIGIN)
    let ext = apply(
        &fx.read("ext.so"),
        &edits(|e| {
            e.replace_needed = vec![("libfoo.so".into(), "libfoo-0123abcd.so".into())];
            e.rpath = Some(RpathEdit::SetRpath("$ORIGIN/pkg.libs".into()));
        }),
    )
    .unwrap();
    let ext_path = check_output(&fx.read("ext.so"), &ext, root, "ext.so");
    assert_eq!(dlopen(&ext_path, Some("ext_value")), Ok("430".to_string()));
    assert_eq!(dlopen(&libs.join("libfoo-0123abcd.so"), Some("foo_value")), Ok("43".to_string()));
    // The unpatched extension in the same place cannot find its libraries:
    // the load above really went through the new names and RPATH.
    write_exec(&root.join("orig.so"), &fx.read("ext.so"));
    assert!(dlopen(&root.join("orig.so"), Some("ext_value")).is_err());
}

/// The 2 MiB-aligned library, the lld library and the patchelf-touched one
/// load after their libm dependency is renamed to a symlink in a new RPATH.
#[test]
fn rewritten_libraries_with_odd_layouts_load() {
    let fx = Fixtures::get();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let libm = ["/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("libm.so.6 not found");
    std::os::unix::fs::symlink(libm, dir.join("libm-89abcdef.so.6")).unwrap();
    let rpath = dir.to_string_lossy().into_owned();
    for name in ["libsmall-lld.so", "libsmall-patchelf.so"] {
        let input = fs::read(prebuilt(name)).unwrap();
        let e = edits(|e| {
            e.set_soname = Some("libsmall-0123abcd.so".into());
            e.replace_needed = vec![("libm.so.6".into(), "libm-89abcdef.so.6".into())];
            e.rpath = Some(RpathEdit::SetRpath(rpath.clone()));
        });
        let out = apply(&input, &e).unwrap();
        let path = check_output(&input, &out, dir, name);
        assert_eq!(dlopen(&path, Some("small_value")), Ok("7".to_string()), "{name}");
        let info = parse(&out).unwrap();
        assert!(info.version_needs.iter().any(|v| v.file == "libm-89abcdef.so.6"), "{name}: vn_file");
        assert!(!info.needed.contains(&"libm.so.6".to_string()));
    }
    // libfoo2m (p_align 0x200000) with libbar renamed.
    fs::copy(fx.path("libbar.so"), dir.join("libbar-long-name-89abcdef.so")).unwrap();
    let input = fx.read("libfoo2m.so");
    let out = apply(
        &input,
        &edits(|e| {
            e.replace_needed = vec![("libbar.so".into(), "libbar-long-name-89abcdef.so".into())];
            e.rpath = Some(RpathEdit::SetRpath(rpath.clone()));
        }),
    )
    .unwrap();
    let path = check_output(&input, &out, dir, "libfoo2m.so");
    assert_eq!(dlopen(&path, Some("foo_value")), Ok("43".to_string()));
}

#[test]
fn refused_edits_and_files() {
    let fx = Fixtures::get();
    let foo = fx.read("libfoo.so");
    let e = apply(&foo, &edits(|e| e.remove_needed = vec!["libbar.so".into()])).unwrap_err();
    assert!(matches!(e, PatchError::InvalidEdit(_)), "removing a versioned dependency: {e}");
    let e = apply(&foo, &edits(|e| e.remove_needed = vec!["libnothere.so".into()])).unwrap_err();
    assert!(matches!(e, PatchError::InvalidEdit(_)), "{e}");
    let e = apply(&foo, &edits(|e| e.replace_needed = vec![("libnothere.so".into(), "x.so".into())])).unwrap_err();
    assert!(matches!(e, PatchError::InvalidEdit(_)), "{e}");
    let e = apply(&fx.read("static-exe"), &edits(|e| e.set_soname = Some("x".into()))).unwrap_err();
    assert!(matches!(e, PatchError::Unsupported(_)), "static executable: {e}");
    // The same library claiming to be MIPS (e_machine = EM_MIPS).
    let mut mips = foo.clone();
    mips[18] = 8;
    mips[19] = 0;
    let e = apply(&mips, &edits(|e| e.set_soname = Some("x".into()))).unwrap_err();
    assert!(matches!(e, PatchError::Unsupported(_)), "MIPS: {e}");
    // Nothing to do: the same bytes.
    assert_eq!(apply(&foo, &ElfEdits::default()).unwrap(), foo);
}
