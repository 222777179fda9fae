//! PE rewriting: import and delay-load renames into slack, into a new
//! section, with grown headers; each result read back by the independent
//! reader of the parent module and compared with its golden dump.

use super::*;

#[test]
fn rename_into_slack_mingw_x86_64() {
    let input = fixture("mingw-x86_64/ext.pyd");
    let new = mangled("foo", "dll");
    let out = rename(&input, &[("FOO.DLL", &new)]).unwrap();
    golden("mingw-x86_64/ext.pyd", "rename", &out);
    assert_eq!(out.len(), input.len(), "slack: the file keeps its size");
    assert_eq!(goblin_sections(&out), goblin_sections(&input), "no new section");
    let want: Vec<String> = goblin_imports(&input)
        .into_iter()
        .map(|n| if n.eq_ignore_ascii_case("foo.dll") { new.clone() } else { n })
        .collect();
    assert_eq!(goblin_imports(&out), want);
    assert_eq!(pe::parse(&out).unwrap().imports, want);
    assert_ne!(checksum_field(&input), 0, "mingw sets a checksum");
    check_layout(&input, &out);
    // the name, the VirtualSize, the descriptor, the checksum: a few dozen bytes
    let changed = input.iter().zip(&out).filter(|(a, b)| a != b).count();
    assert!(changed <= new.len() + 16, "{changed} bytes changed");
    assert_eq!(input, fixture("mingw-x86_64/ext.pyd"), "input untouched");
}

#[test]
fn rename_chain_mingw_i686() {
    for (file, old) in [("ext.pyd", "foo.dll"), ("foo.dll", "bar.dll")] {
        let input = fixture(&format!("mingw-i686/{file}"));
        let new = mangled(old.trim_end_matches(".dll"), "dll");
        let out = rename(&input, &[(old, &new)]).unwrap();
        golden(&format!("mingw-i686/{file}"), "rename", &out);
        assert!(goblin_imports(&out).contains(&new), "{file}");
        assert!(!goblin_imports(&out).iter().any(|n| n.eq_ignore_ascii_case(old)), "{file}");
        check_layout(&input, &out);
    }
}

#[test]
fn long_names_force_a_new_section_x64() {
    let input = fixture("msvc-x64/ext.pyd");
    // 255 bytes each: .rdata has 220 bytes of slack, .pdata 500, so the pair fits nowhere
    let long_foo = format!("foo-{}.dll", "f".repeat(247));
    let long_k32 = format!("kernel32-{}.dll", "k".repeat(242));
    let out = rename(&input, &[("foo.dll", &long_foo), ("KERNEL32.dll", &long_k32)]).unwrap();
    golden("msvc-x64/ext.pyd", "rename-long-new-section", &out);
    let sections = goblin_sections(&out);
    assert_eq!(sections.len(), goblin_sections(&input).len() + 1);
    assert_eq!(sections.last().unwrap(), ".wfix");
    let h = Hdr::read(&out);
    let new = h.sections.last().unwrap();
    assert_eq!(new.5, 0x4000_0040, "MEM_READ | CNT_INITIALIZED_DATA");
    assert_eq!(new.1 as usize, long_foo.len() + long_k32.len() + 2);
    assert_eq!(goblin_imports(&input), vec!["foo.dll", "kernel32.dll"]);
    assert_eq!(goblin_imports(&out), vec![long_foo.clone(), long_k32.clone()]);
    assert_eq!(h.size_of_image(&out), (new.2 + new.1).div_ceil(0x1000) * 0x1000);
    // SizeOfInitializedData grew by the new raw size
    assert_eq!(le32(&out, h.opt + 8), le32(&input, h.opt + 8) + new.3);
    check_layout(&input, &out);
}

#[test]
fn full_headers_grow_by_file_alignment() {
    let input = without_slack(&fixture("mingw-x86_64/ext_fullhdr.pyd"));
    let h0 = Hdr::read(&input);
    let table_end = h0.sections.last().unwrap().6 + 40;
    assert!(table_end + 40 > h0.size_of_headers(&input) as usize, "fixture must have no room for a header");
    assert!(pe::parse(&input).is_ok());
    let new = mangled("foo", "dll");
    let out = rename(&input, &[("foo.dll", &new)]).unwrap();
    golden("mingw-x86_64/ext_fullhdr.pyd", "no-slack.rename", &out);
    let h = Hdr::read(&out);
    assert_eq!(h.size_of_headers(&out), h0.size_of_headers(&input) + 0x200);
    assert_eq!(goblin_sections(&out).last().unwrap(), ".wfix");
    // every old section's data moved by 0x200 and is byte-identical
    for (old, new) in h0.sections.iter().zip(&h.sections) {
        if old.3 != 0 {
            assert_eq!(new.4, old.4 + 0x200, "{}", old.0);
            let (a, b) = (old.4 as usize, new.4 as usize);
            let n = old.3 as usize;
            if old.0 == ".idata" {
                continue; // holds the rewritten descriptor
            }
            assert_eq!(input[a..a + n], out[b..b + n], "{} data", old.0);
        }
    }
    assert!(goblin_imports(&out).contains(&new));
    check_layout(&input, &out);
}

#[test]
fn header_growth_shifts_debug_data() {
    let input = push_headers_back(&without_slack(&fixture("msvc-x64/ext_debug.pyd")));
    let before = debug_data(&input);
    assert_eq!(before.len(), 1, "one CodeView entry with data");
    assert_eq!(before[0].1, b"RSDS");
    let out = rename(&input, &[("foo.dll", &mangled("foo", "dll"))]).unwrap();
    golden("msvc-x64/ext_debug.pyd", "no-slack.full-headers.rename", &out);
    assert_eq!(Hdr::read(&out).size_of_headers(&out), Hdr::read(&input).size_of_headers(&input) + 0x200);
    assert_eq!(debug_data(&out), vec![(before[0].0 + 0x200, b"RSDS".to_vec())]);
    assert_eq!(goblin_sections(&out).last().unwrap(), ".wfix");
    check_layout(&input, &out);
}

#[test]
fn delay_load_rename_x64_and_arm64() {
    for arch in ["x64", "arm64"] {
        let input = fixture(&format!("msvc-{arch}/ext_delay.pyd"));
        let new = mangled("foo", "dll");
        let out = rename(&input, &[("Foo.Dll", &new)]).unwrap();
        golden(&format!("msvc-{arch}/ext_delay.pyd"), "rename", &out);
        assert_eq!(delay_imports(&out), vec![(1, new.clone())], "{arch}");
        assert_eq!(goblin_imports(&out), vec!["kernel32.dll"], "{arch}");
        assert_eq!(pe::parse(&out).unwrap().delay_imports, vec![new], "{arch}");
        check_layout(&input, &out);
    }
}

#[test]
fn arm64_and_x86_import_rename() {
    for arch in ["arm64", "x86"] {
        for (file, old) in [("ext.pyd", "foo.dll"), ("foo.dll", "bar.dll")] {
            let input = fixture(&format!("msvc-{arch}/{file}"));
            let new = mangled(old.trim_end_matches(".dll"), "dll");
            let out = rename(&input, &[(old, &new)]).unwrap();
            golden(&format!("msvc-{arch}/{file}"), "rename", &out);
            assert!(goblin_imports(&out).contains(&new), "{arch} {file}");
            check_layout(&input, &out);
        }
    }
}

/// The x86 delay-load fixture with its descriptor turned into the old
/// VA form (Attributes bit 0 clear, every address field a VA).
fn va_style_delay(d: &[u8]) -> Vec<u8> {
    let mut d = d.to_vec();
    let h = Hdr::read(&d);
    let at = h.off(h.dir(&d, 13).0);
    assert_eq!(le32(&d, at), 1);
    put32(&mut d, at, 0);
    for k in 1..7 {
        let v = le32(&d, at + k * 4);
        if v != 0 {
            put32(&mut d, at + k * 4, v + h.image_base as u32);
        }
    }
    d
}

#[test]
fn va_style_delay_descriptor() {
    let input = va_style_delay(&fixture("msvc-x86/ext_delay.pyd"));
    assert_eq!(delay_imports(&input), vec![(0, "foo.dll".to_string())]);
    assert_eq!(pe::parse(&input).unwrap().delay_imports, vec!["foo.dll"]);
    let new = mangled("foo", "dll");
    let out = rename(&input, &[("foo.dll", &new)]).unwrap();
    golden("msvc-x86/ext_delay.pyd", "va-style.rename", &out);
    assert_eq!(delay_imports(&out), vec![(0, new.clone())]);
    let h = Hdr::read(&out);
    let field = le32(&out, h.off(h.dir(&out, 13).0) + 4);
    assert!(u64::from(field) > h.image_base, "still a VA: {field:#x}");
    check_layout(&input, &out);
}

#[test]
fn overlay_blocks_a_new_section() {
    let input = without_slack(&fixture("mingw-x86_64/foo-debug.dll"));
    let err = rename(&input, &[("bar.dll", &format!("bar-{}.dll", "b".repeat(200)))]).unwrap_err();
    match &err {
        PatchError::NoRoom { need, hint, .. } => {
            assert_eq!(*need, 209, "bar- + 200 + .dll + NUL");
            assert!(hint.contains("--strip") && hint.contains("--no-mangle"), "{hint}");
        }
        other => panic!("expected NoRoom, got {other:?}"),
    }
    assert!(err.hint().is_some());
    // with its slack, the same file takes a short name and keeps its overlay
    let input = fixture("mingw-x86_64/foo-debug.dll");
    let out = rename(&input, &[("bar.dll", &mangled("bar", "dll"))]).unwrap();
    golden("mingw-x86_64/foo-debug.dll", "rename-keeps-overlay", &out);
    assert_eq!(pe::parse(&out).unwrap().overlay_len, pe::parse(&input).unwrap().overlay_len);
    assert_eq!(out.len(), input.len());
    check_layout(&input, &out);
}

#[test]
fn strip_then_new_section() {
    let input = without_slack(&fixture("mingw-x86_64/foo-debug.dll"));
    let stripped = strip(&input).unwrap();
    golden("mingw-x86_64/foo-debug.dll", "no-slack.strip", &stripped);
    let info = pe::parse(&stripped).unwrap();
    assert_eq!(info.overlay_len, 0);
    assert_eq!(info.imports, pe::parse(&input).unwrap().imports);
    let h = Hdr::read(&stripped);
    assert_eq!(le32(&stripped, le32(&stripped, 0x3c) as usize + 12), 0, "PointerToSymbolTable");
    assert!(h.sections.iter().all(|s| !s.0.starts_with('/') && !s.0.starts_with(".debug")));
    assert!(stripped.len() < input.len());
    let new = format!("bar-{}.dll", "b".repeat(200));
    let out = rename(&stripped, &[("bar.dll", &new)]).unwrap();
    golden("mingw-x86_64/foo-debug.dll", "no-slack.strip.rename-long", &out);
    assert!(goblin_imports(&out).contains(&new));
    check_layout(&stripped, &out);
}

#[test]
fn dependent_load_flags_cleared() {
    for arch in ["x64", "x86", "arm64"] {
        let input = fixture(&format!("msvc-{arch}/ext_loadcfg.pyd"));
        let flags = |d: &[u8]| {
            let h = Hdr::read(d);
            let at = h.off(h.dir(d, 10).0) + if h.is_64 { 0x4e } else { 0x36 };
            le16(d, at)
        };
        assert_eq!(flags(&input), 0x800, "{arch}: fixture sets LOAD_LIBRARY_SEARCH_SYSTEM32");
        let out = rename(&input, &[("foo.dll", &mangled("foo", "dll"))]).unwrap();
        golden(&format!("msvc-{arch}/ext_loadcfg.pyd"), "rename", &out);
        assert_eq!(flags(&out), 0, "{arch}");
        // and only that: without renames the two bytes are the only change
        let plain = apply(&input, &PeEdits::new()).unwrap();
        golden(&format!("msvc-{arch}/ext_loadcfg.pyd"), "no-edits", &plain);
        let changed: Vec<usize> = (0..input.len()).filter(|&i| input[i] != plain[i]).collect();
        assert_eq!(changed.len(), 1, "{arch}: {changed:?}");
        check_layout(&input, &out);
    }
}

#[test]
fn signature_is_removed() {
    let mut signed = fixture("msvc-x64/ext.pyd");
    let original_len = signed.len();
    // a WIN_CERTIFICATE (length, revision 0x200, type 2) with a fake payload
    let mut cert = Vec::new();
    cert.extend_from_slice(&24u32.to_le_bytes());
    cert.extend_from_slice(&0x200u16.to_le_bytes());
    cert.extend_from_slice(&2u16.to_le_bytes());
    cert.extend_from_slice(&[0xab; 16]);
    signed.extend_from_slice(&cert);
    let h = Hdr::read(&signed);
    let dir = h.opt + 112 + 4 * 8;
    put32(&mut signed, dir, original_len as u32);
    put32(&mut signed, dir + 4, 24);
    let info = pe::parse(&signed).unwrap();
    assert!(info.signed);
    assert_eq!(info.overlay_len, 0, "the certificate table is not an overlay");
    let out = rename(&signed, &[("foo.dll", &mangled("foo", "dll"))]).unwrap();
    golden("msvc-x64/ext.pyd", "signed.rename", &out);
    assert_eq!(out.len(), original_len, "certificate table truncated");
    assert!(!pe::parse(&out).unwrap().signed);
    check_layout(&signed, &out);
}

#[test]
fn bound_import_directory_cleared() {
    // point the bound import directory at 16 bytes after the section table
    let mut input = fixture("msvc-x64/ext.pyd");
    let h = Hdr::read(&input);
    let at = h.sections.last().unwrap().6 + 40 + 40;
    input[at..at + 16].copy_from_slice(&[1; 16]);
    let dir = h.opt + 112 + 11 * 8;
    put32(&mut input, dir, at as u32);
    put32(&mut input, dir + 4, 16);
    let out = rename(&input, &[("foo.dll", &mangled("foo", "dll"))]).unwrap();
    golden("msvc-x64/ext.pyd", "bound-imports.rename", &out);
    assert_eq!(Hdr::read(&out).dir(&out, 11), (0, 0));
    assert!(out[at..at + 16].iter().all(|&b| b == 0));
    check_layout(&input, &out);
}

#[test]
fn invalid_edits_are_refused() {
    let input = fixture("msvc-x64/ext.pyd");
    let err = rename(&input, &[("nothere.dll", "x.dll")]).unwrap_err();
    assert!(matches!(err, PatchError::InvalidEdit(_)), "{err:?}");
    for bad in ["", "a/b.dll", "a\0.dll", &"x".repeat(300)] {
        let err = rename(&input, &[("foo.dll", bad)]).unwrap_err();
        assert!(matches!(err, PatchError::InvalidEdit(_)), "{bad:?}: {err:?}");
    }
    let err = rename(&input, &[("foo.dll", "a.dll"), ("FOO.dll", "b.dll")]).unwrap_err();
    assert!(matches!(err, PatchError::InvalidEdit(_)), "{err:?}");
    let err = apply(b"MZ not a pe", &PeEdits::new()).unwrap_err();
    assert!(matches!(err, PatchError::Parse(_)), "{err:?}");
}

#[test]
fn two_renames_in_one_file() {
    let input = fixture("mingw-x86_64/ext.pyd");
    let out = rename(&input, &[("foo.dll", "foo-1.dll"), ("msvcrt.dll", "msvcrt-2.dll")]).unwrap();
    golden("mingw-x86_64/ext.pyd", "two-renames", &out);
    let names = goblin_imports(&out);
    assert!(names.contains(&"foo-1.dll".into()) && names.contains(&"msvcrt-2.dll".into()), "{names:?}");
    assert_eq!(out.len(), input.len());
    check_layout(&input, &out);
}

// ------------------------------------------------------------------ outputs for check.sh

/// Writes rewritten chains for `fixtures/pe/check.sh` when `WHEELFIX_PE_OUT`
/// is set; checks them with goblin in any case.
#[test]
fn write_outputs_for_check_script() {
    let out_dir = std::env::var_os("WHEELFIX_PE_OUT").map(PathBuf::from);
    let foo = mangled("foo", "dll");
    let bar = mangled("bar", "dll");
    let long_foo = format!("foo-{}.dll", "f".repeat(200));
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for set in ["mingw-x86_64", "mingw-i686", "msvc-x64", "msvc-arm64", "msvc-x86"] {
        let ext = rename(&fixture(&format!("{set}/ext.pyd")), &[("foo.dll", &foo)]).unwrap();
        let foo_dll = rename(&fixture(&format!("{set}/foo.dll")), &[("bar.dll", &bar)]).unwrap();
        golden(&format!("{set}/ext.pyd"), "rename", &ext);
        golden(&format!("{set}/foo.dll"), "rename", &foo_dll);
        assert!(goblin_imports(&ext).contains(&foo));
        assert!(goblin_imports(&foo_dll).contains(&bar));
        files.push((format!("{set}/site/pkg/ext.pyd"), ext));
        files.push((format!("{set}/site/pkg.libs/{foo}"), foo_dll.clone()));
        files.push((format!("{set}/site/pkg.libs/{bar}"), fixture(&format!("{set}/bar.dll"))));
        // the same chain through a new section (long name) and grown headers
        let (rel, kind) = match set {
            "mingw-x86_64" => ("mingw-x86_64/ext_fullhdr.pyd".to_string(), "no-slack"),
            "msvc-x64" => ("msvc-x64/ext_debug.pyd".to_string(), "no-slack.full-headers"),
            _ => (format!("{set}/ext.pyd"), "no-slack"),
        };
        let ext = without_slack(&fixture(&rel));
        let ext = if set == "msvc-x64" { push_headers_back(&ext) } else { ext };
        let ext = rename(&ext, &[("foo.dll", &long_foo)]).unwrap();
        golden(&rel, &format!("{kind}.rename-long"), &ext);
        assert_eq!(goblin_sections(&ext).last().unwrap(), ".wfix");
        files.push((format!("{set}/site-long/pkg/ext.pyd"), ext));
        files.push((format!("{set}/site-long/pkg.libs/{long_foo}"), foo_dll));
        files.push((format!("{set}/site-long/pkg.libs/{bar}"), fixture(&format!("{set}/bar.dll"))));
        if set.starts_with("msvc") {
            let delay = rename(&fixture(&format!("{set}/ext_delay.pyd")), &[("foo.dll", &foo)]).unwrap();
            golden(&format!("{set}/ext_delay.pyd"), "rename", &delay);
            files.push((format!("{set}/site/pkg/ext_delay.pyd"), delay));
        }
    }
    if let Some(dir) = out_dir {
        for (rel, bytes) in &files {
            let path = dir.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
        }
    }
}
