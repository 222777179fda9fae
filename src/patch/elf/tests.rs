use super::strings::Strings;
use super::*;

const FIXTURES: [&[u8]; 4] = [
    include_bytes!("../../../fixtures/elf/prebuilt/libsmall-s390x.so"),
    include_bytes!("../../../fixtures/elf/prebuilt/libsmall-i686.so"),
    include_bytes!("../../../fixtures/elf/prebuilt/libsmall-lld.so"),
    include_bytes!("../../../fixtures/elf/prebuilt/libsmall-patchelf.so"),
];

fn all_edits() -> ElfEdits {
    ElfEdits {
        set_soname: Some("libsmall-0123abcd.so".into()),
        remove_needed: Vec::new(),
        replace_needed: vec![("libm.so.6".into(), "libm-0123abcd.so.6".into())],
        rpath: Some(RpathEdit::SetRpath("$ORIGIN/../x.libs".into())),
    }
}

#[test]
fn fixtures_rewrite_and_verify() {
    for data in FIXTURES {
        let out = apply(data, &all_edits()).unwrap();
        assert!(layout_violations(&out).unwrap().is_empty());
        let info = parse(&out).unwrap();
        assert_eq!(info.needed[0], "libm-0123abcd.so.6");
        assert_eq!(info.rpath, ["$ORIGIN/../x.libs"]);
        // A second rewrite of a rewritten file works too.
        let again =
            apply(&out, &ElfEdits { rpath: Some(RpathEdit::SetRunpath("/opt/x".into())), ..Default::default() })
                .unwrap();
        assert_eq!(parse(&again).unwrap().runpath, ["/opt/x"]);
        assert!(parse(&again).unwrap().rpath.is_empty());
        strip(&again).unwrap();
    }
}

#[test]
fn a_patch_lists_every_byte_it_changes() {
    for data in FIXTURES {
        // one edit that grows the file, one made in place
        // (a suffix of an existing string needs no new string)
        let first = parse(data).unwrap().needed[0].clone();
        let suffix = first[3..].to_string();
        let in_place = ElfEdits { replace_needed: vec![(first, suffix)], ..Default::default() };
        for edits in [all_edits(), in_place] {
            let patch = ElfPatch::new(data, &edits).unwrap();
            let written: Vec<(u64, u64)> = patch.written().collect();
            let new_len = patch.new_len();
            let mut out = data.to_vec();
            patch.write_into(&mut out).unwrap();
            assert_eq!(out.len() as u64, new_len);
            assert_eq!(out, apply(data, &edits).unwrap());
            assert_eq!(new_len > data.len() as u64, edits.set_soname.is_some());
            let listed = |i: u64| written.iter().any(|&(s, e)| s <= i && i < e);
            let changed: Vec<u64> = (0..data.len() as u64).filter(|&i| data[i as usize] != out[i as usize]).collect();
            assert!(!changed.is_empty());
            if let Some(i) = changed.iter().find(|&&i| !listed(i)) {
                panic!("byte {i:#x} changed but no write covers it");
            }
        }
        // worked out for one file, it is not written into another
        let patch = ElfPatch::new(data, &all_edits()).unwrap();
        let mut other = data[..data.len() - 1].to_vec();
        assert!(matches!(patch.write_into(&mut other), Err(PatchError::InvalidEdit(_))));
    }
}

#[test]
fn strings_are_appended_or_reused_never_overwritten() {
    let mut s = Strings { old: b"\0libm.so.6\0libc.so.6\0", tail: Vec::new() };
    assert_eq!(s.intern("libm.so.6").unwrap(), 1);
    assert_eq!(s.intern("c.so.6").unwrap(), 14); // a suffix of an existing string
    assert_eq!(s.intern("libz.so.1").unwrap(), 21);
    assert_eq!(s.intern("libz.so.1").unwrap(), 21);
    assert_eq!(s.tail, b"libz.so.1\0");
    assert!(s.intern("a\0b").is_err());
}

#[test]
fn corrupted_inputs_never_panic() {
    let mut x = 11u64;
    let mut rnd = || {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        x >> 33
    };
    for data in FIXTURES {
        for _ in 0..1500 {
            let mut d = data.to_vec();
            for _ in 0..1 + rnd() % 6 {
                let at = (rnd() as usize) % d.len();
                d[at] = rnd() as u8;
            }
            let _ = apply(&d, &all_edits());
            let _ = strip(&d);
        }
        for len in (0..data.len()).step_by(7) {
            let _ = apply(&data[..len], &all_edits());
            let _ = strip(&data[..len]);
        }
    }
}

#[test]
fn search_path_edits_in_words() {
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let set = RpathEdit::SetRpath("$ORIGIN".into());
    let run = RpathEdit::SetRunpath("$ORIGIN".into());
    assert_eq!(set.describe(&[], &[]).as_deref(), Some("RPATH `$ORIGIN` added"));
    assert_eq!(set.describe(&v(&["$ORIGIN"]), &[]), None, "already so");
    assert_eq!(run.describe(&[], &v(&["$ORIGIN"])), None, "already so");
    assert_eq!(run.describe(&v(&["$ORIGIN"]), &[]).as_deref(), Some("RPATH `$ORIGIN` → RUNPATH `$ORIGIN`"));
    assert_eq!(set.describe(&[], &v(&["/a", "/b"])).as_deref(), Some("RUNPATH `/a:/b` → RPATH `$ORIGIN`"));
    assert_eq!(RpathEdit::Remove.describe(&[], &[]), None);
    assert_eq!(RpathEdit::Remove.describe(&v(&["/a"]), &[]).as_deref(), Some("RPATH `/a` removed"));
    assert_eq!(
        RpathEdit::Remove.describe(&v(&["/a"]), &v(&["/b"])).as_deref(),
        Some("RPATH `/a` and RUNPATH `/b` removed")
    );
    assert_eq!(
        set.describe(&v(&["$ORIGIN"]), &v(&["/b"])).as_deref(),
        Some("RPATH `$ORIGIN` and RUNPATH `/b` → RPATH `$ORIGIN`")
    );
}

/// The names of the sections a shift of `data` moves, or `None`.
fn shifted_sections(data: &[u8]) -> Option<Vec<String>> {
    let f = ElfFile::parse(data).unwrap();
    let dynamic = f.dynamic().unwrap().unwrap();
    let shift = super::shift::plan_shift(&f, &dynamic)?;
    let names = f
        .shdrs
        .iter()
        .filter(|s| s.sh_size > 0 && s.sh_offset >= shift.start && s.sh_offset + s.sh_size <= shift.end)
        .map(|s| String::from_utf8_lossy(f.section_name(s)).into_owned())
        .collect();
    Some(names)
}

#[test]
fn only_the_sections_the_new_header_needs_move() {
    let [s390x, i686, lld, patchelf] = FIXTURES;
    // one entry of 56 (32) bytes: the first sections after the table, as many as cover it
    assert_eq!(shifted_sections(lld), Some(vec![".dynsym".to_string()]));
    assert_eq!(shifted_sections(i686), Some(vec![".gnu.hash".to_string()]));
    let s390x_moved = shifted_sections(s390x).unwrap();
    assert_eq!(s390x_moved.first().map(String::as_str), Some(".note.gnu.build-id"), "{s390x_moved:?}");
    // bytes left behind by patchelf that nothing claims: nothing moves
    assert_eq!(shifted_sections(patchelf), Some(vec![]));
    let f = ElfFile::parse(lld).unwrap();
    let at = |i: usize| (f.e_phoff + i as u64 * f.phdr_size()) as usize;
    // an executable (PT_INTERP): its table keeps its neighbours
    let stack = f.phdrs.iter().position(|p| p.p_type == 0x6474_e551).unwrap();
    let mut d = lld.to_vec();
    d[at(stack)..at(stack) + 4].copy_from_slice(&3u32.to_le_bytes());
    assert_eq!(shifted_sections(&d), None);
    // a segment that reaches from the block into sections that cannot move stops it
    let frame = f.phdrs.iter().position(|p| p.p_type == 0x6474_e550).unwrap();
    let mut d = lld.to_vec();
    let dynsym = f.shdrs.iter().find(|s| f.section_name(s) == b".dynsym").unwrap();
    d[at(frame) + 8..at(frame) + 16].copy_from_slice(&dynsym.sh_offset.to_le_bytes());
    // its address must follow its offset as the PT_LOAD maps them: one that
    // does not (below the block, here) stops the shift, and a rewrite that
    // needs the room then takes another way or fails, never panics
    for vaddr in [0xffff_ffff_ffff_fffc_u64, 0] {
        d[at(frame) + 16..at(frame) + 32].copy_from_slice(&[vaddr.to_le_bytes(), vaddr.to_le_bytes()].concat());
        assert_eq!(shifted_sections(&d), None, "{vaddr:#x}");
        let _ = apply(&d, &all_edits());
    }
    let addr = dynsym.sh_addr.to_le_bytes();
    d[at(frame) + 16..at(frame) + 32].copy_from_slice(&[addr, addr].concat());
    // wholly inside `.dynsym`, it moves with it
    assert_eq!(shifted_sections(&d), Some(vec![".dynsym".to_string()]));
    for field in [32, 40] {
        d[at(frame) + field..at(frame) + field + 8].copy_from_slice(&0x300u64.to_le_bytes());
    }
    assert_eq!(shifted_sections(&d), None);
}

/// The overlay of a patch is what writing it gives at its stretches, and a
/// partial patch worked out from the read-ahead plan's ranges is the whole
/// one: same writes, same result once written and checked in part.
#[test]
fn a_patch_worked_out_in_part_is_the_whole_one() {
    let data = crate::binary::elf::late_layout();
    let edits = ElfEdits {
        replace_needed: vec![("libdemoutil.so.1".into(), format!("libdemoutil-{}.so.1", "y".repeat(200)))],
        rpath: Some(RpathEdit::SetRunpath("$ORIGIN/../x.libs".into())),
        ..Default::default()
    };
    let whole = apply(&data, &edits).unwrap();
    let mut read: Vec<(u64, u64)> = Vec::new();
    loop {
        let want = crate::binary::elf::partial_wanted(&data, &read);
        let mut all = read.clone();
        all.extend(want);
        all.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (a, b) in all {
            match merged.last_mut() {
                Some(l) if l.1 >= a => l.1 = l.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        if merged == read {
            break;
        }
        read = merged;
    }
    assert!(read.iter().map(|(a, b)| b - a).sum::<u64>() < data.len() as u64, "not all of it is read");
    // only the ranges read hold the file's bytes
    let mut part = vec![0u8; data.len()];
    for &(a, b) in &read {
        part[a as usize..b as usize].copy_from_slice(&data[a as usize..b as usize]);
    }
    let patch = ElfPatch::new_partial(&part, Some(&read), &edits).unwrap().expect("the plan reads enough");
    let mut buf = part.clone();
    buf.resize(patch.new_len() as usize, 0);
    let overlay = patch.overlay();
    let mut holds = read.clone();
    holds.extend(overlay.iter().map(|(o, b)| (*o, o + b.len() as u64)));
    holds.push((data.len() as u64, patch.new_len()));
    holds.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (a, b) in holds {
        match merged.last_mut() {
            Some(l) if l.1 >= a => l.1 = l.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    assert!(patch.write_partial(&mut buf, &merged).unwrap(), "checked in part");
    assert_eq!(buf.len(), whole.len());
    for (o, bytes) in &overlay {
        assert!(whole[*o as usize..*o as usize + bytes.len()] == bytes[..], "overlay at {o:#x}");
    }
    for &(a, b) in &merged {
        assert!(buf[a as usize..b as usize] == whole[a as usize..b as usize], "{a:#x}..{b:#x}");
    }
    // nothing read: the work needs bytes it does not have
    assert!(ElfPatch::new_partial(&part, Some(&[]), &edits).unwrap().is_none());
}
