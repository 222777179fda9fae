use super::*;

/// A small hand-made dylib: __TEXT with one section at 0x400, LC_ID_DYLIB,
/// LC_LOAD_DYLIB, LC_RPATH, LC_BUILD_VERSION.
pub(crate) fn mini(is64: bool, big: bool) -> Vec<u8> {
    let w32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&if big { x.to_be_bytes() } else { x.to_le_bytes() });
    let w64 = |v: &mut Vec<u8>, x: u64| v.extend_from_slice(&if big { x.to_be_bytes() } else { x.to_le_bytes() });
    let align = if is64 { 8 } else { 4 };
    let mut cmds = Vec::new();
    // segment with one section
    let (seg_cmd, seg_size) = if is64 { (LC_SEGMENT_64, 72 + 80) } else { (LC_SEGMENT, 56 + 68) };
    w32(&mut cmds, seg_cmd);
    w32(&mut cmds, seg_size);
    cmds.extend_from_slice(b"__TEXT\0\0\0\0\0\0\0\0\0\0");
    if is64 {
        for v in [0u64, 0x1000, 0, 0x1000] {
            w64(&mut cmds, v);
        }
    } else {
        for v in [0u32, 0x1000, 0, 0x1000] {
            w32(&mut cmds, v);
        }
    }
    for v in [5u32, 5, 1, 0] {
        w32(&mut cmds, v);
    }
    cmds.extend_from_slice(b"__text\0\0\0\0\0\0\0\0\0\0__TEXT\0\0\0\0\0\0\0\0\0\0");
    if is64 {
        w64(&mut cmds, 0x400);
        w64(&mut cmds, 0x10);
    } else {
        w32(&mut cmds, 0x400);
        w32(&mut cmds, 0x10);
    }
    w32(&mut cmds, 0x400); // offset
    for _ in 0..if is64 { 7 } else { 6 } {
        w32(&mut cmds, 0);
    }
    let mut strcmd = |cmd: u32, fixed: usize, s: &str| {
        let size = (fixed + s.len() + 1).div_ceil(align) * align;
        let start = cmds.len();
        w32(&mut cmds, cmd);
        w32(&mut cmds, size as u32);
        w32(&mut cmds, fixed as u32);
        cmds.resize(start + fixed, 0);
        cmds.extend_from_slice(s.as_bytes());
        cmds.resize(start + size, 0);
    };
    strcmd(LC_ID_DYLIB, DYLIB_COMMAND_SIZE, "@rpath/libmini.dylib");
    strcmd(LC_LOAD_WEAK_DYLIB, DYLIB_COMMAND_SIZE, "/usr/lib/libSystem.B.dylib");
    strcmd(LC_RPATH, RPATH_COMMAND_SIZE, "@loader_path/../lib");
    for v in [LC_BUILD_VERSION, 24, PLATFORM_MACOS, 0x000d_0100, 0x000e_0000, 0] {
        w32(&mut cmds, v);
    }
    let mut out = Vec::new();
    w32(&mut out, if is64 { MH_MAGIC_64 } else { MH_MAGIC });
    w32(&mut out, if is64 { CPU_TYPE_ARM64 } else { CPU_TYPE_X86 });
    w32(&mut out, 0);
    w32(&mut out, MH_DYLIB);
    w32(&mut out, 5);
    w32(&mut out, cmds.len() as u32);
    w32(&mut out, 0);
    if is64 {
        w32(&mut out, 0);
    }
    out.extend_from_slice(&cmds);
    out.resize(0x1000, 0);
    out
}

fn header_size(d: &[u8]) -> usize {
    let m = [d[0], d[1], d[2], d[3]];
    if u32::from_le_bytes(m) == MH_MAGIC || u32::from_be_bytes(m) == MH_MAGIC {
        28
    } else {
        32
    }
}

/// Offset of the n-th load command of a little-endian `mini` file.
fn cmd_at(d: &[u8], n: usize) -> usize {
    let mut off = header_size(d);
    for _ in 0..n {
        off += u32::from_le_bytes(d[off + 4..off + 8].try_into().unwrap()) as usize;
    }
    off
}

#[test]
fn parses_every_width_and_byte_order() {
    for is64 in [true, false] {
        for big in [false, true] {
            let info = parse(&mini(is64, big)).unwrap_or_else(|e| panic!("is64={is64} big={big}: {e}"));
            assert!(!info.fat);
            let s = &info.slices[0];
            assert_eq!(s.arch, if is64 { MachOArch::Arm64 } else { MachOArch::I386 });
            assert_eq!(s.filetype, MH_DYLIB);
            assert_eq!(s.id.as_deref(), Some("@rpath/libmini.dylib"));
            assert_eq!(s.deps, vec![DylibRef { name: "/usr/lib/libSystem.B.dylib".into(), kind: DylibKind::Weak }]);
            assert_eq!(s.rpaths, vec!["@loader_path/../lib".to_string()]);
            assert_eq!(s.min_macos.map(|v| v.to_string()).as_deref(), Some("13.1"));
            assert!(!s.signed);
            let sizeofcmds = read_u32(&mini(is64, big), 20, big).unwrap() as u64;
            assert_eq!(s.header_pad, 0x400 - header_size(&mini(is64, big)) as u64 - sizeofcmds);
        }
    }
}

#[test]
fn rejects_cmdsize_zero_and_unaligned() {
    let mut d = mini(true, false);
    let at = cmd_at(&d, 1);
    d[at + 4..at + 8].copy_from_slice(&0u32.to_le_bytes());
    assert!(parse(&d).unwrap_err().0.contains("cmdsize 0"));
    let mut d = mini(true, false);
    d[at + 4..at + 8].copy_from_slice(&44u32.to_le_bytes());
    assert!(parse(&d).unwrap_err().0.contains("not a multiple of 8"));
}

#[test]
fn rejects_commands_past_sizeofcmds() {
    let mut d = mini(true, false);
    let sizeofcmds = u32::from_le_bytes(d[20..24].try_into().unwrap());
    d[20..24].copy_from_slice(&(sizeofcmds - 8).to_le_bytes());
    assert!(parse(&d).unwrap_err().0.contains("past sizeofcmds"));
    let mut d = mini(true, false);
    d[20..24].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    assert!(parse(&d).unwrap_err().0.contains("past the end of the file"));
    let mut d = mini(true, false);
    d[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(parse(&d).unwrap_err().0.contains("cannot fit"));
}

#[test]
fn rejects_string_offsets_outside_the_command() {
    let mut d = mini(true, false);
    let at = cmd_at(&d, 3); // LC_RPATH
    d[at + 8..at + 12].copy_from_slice(&4096u32.to_le_bytes());
    assert!(parse(&d).unwrap_err().0.contains("outside its load command"));
    let mut d = mini(true, false);
    let at = cmd_at(&d, 1); // LC_ID_DYLIB: offset inside the fixed part
    d[at + 8..at + 12].copy_from_slice(&4u32.to_le_bytes());
    assert!(parse(&d).unwrap_err().0.contains("outside its load command"));
}

#[test]
fn rejects_too_many_sections() {
    let mut d = mini(true, false);
    let at = cmd_at(&d, 0);
    d[at + 64..at + 68].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(parse(&d).unwrap_err().0.contains("sections"));
}

fn fat(entries: &[(u32, u32, u32, u32)], len: usize) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&FAT_MAGIC.to_be_bytes());
    d.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for &(cpu, off, size, align) in entries {
        for v in [cpu, 0, off, size, align] {
            d.extend_from_slice(&v.to_be_bytes());
        }
    }
    d.resize(len, 0);
    d
}

#[test]
fn parses_a_fat64_file() {
    let thin = mini(false, true);
    let mut d = Vec::new();
    for v in [FAT_MAGIC_64, 1, CPU_TYPE_X86, 3] {
        d.extend_from_slice(&v.to_be_bytes());
    }
    for v in [0x1000u64, thin.len() as u64] {
        d.extend_from_slice(&v.to_be_bytes());
    }
    d.extend_from_slice(&[0, 0, 0, 12, 0, 0, 0, 0]);
    d.resize(0x1000, 0);
    d.extend_from_slice(&thin);
    let (arches, is64) = fat_arches(&d).unwrap().unwrap();
    assert!(is64);
    assert_eq!(arches[0], FatArch { cputype: CPU_TYPE_X86, cpusubtype: 3, offset: 0x1000, size: 0x1000, align: 12 });
    let info = parse(&d).unwrap();
    assert_eq!(info.slices[0].arch, MachOArch::I386);
    assert_eq!(info.slices[0].rpaths, ["@loader_path/../lib"]);
}

#[test]
fn parses_a_fat_file_and_rejects_bad_fat_headers() {
    let thin = mini(true, false);
    let mut d = fat(&[(CPU_TYPE_ARM64, 0x1000, thin.len() as u32, 12)], 0x1000);
    d.extend_from_slice(&thin);
    let info = parse(&d).unwrap();
    assert!(info.fat);
    assert_eq!(info.slices.len(), 1);
    assert_eq!(info.slices[0].id.as_deref(), Some("@rpath/libmini.dylib"));

    let mut huge = d.clone();
    huge[4..8].copy_from_slice(&0x4000_0000u32.to_be_bytes());
    assert!(parse(&huge).unwrap_err().0.contains("slices"));
    let mut long = d[..200].to_vec();
    long[4..8].copy_from_slice(&40u32.to_be_bytes());
    assert!(parse(&long).unwrap_err().0.contains("longer than the file"));

    let two = fat(&[(CPU_TYPE_ARM64, 0x1000, 0x1000, 12), (CPU_TYPE_X86_64, 0x1800, 0x1000, 12)], 0x3000);
    assert!(parse(&two).unwrap_err().0.contains("overlap"));
    let outside = fat(&[(CPU_TYPE_ARM64, 0x1000, 0xffff_f000, 12)], 0x2000);
    assert!(parse(&outside).unwrap_err().0.contains("outside the file"));
    let in_header = fat(&[(CPU_TYPE_ARM64, 4, 0x100, 12)], 0x2000);
    assert!(parse(&in_header).unwrap_err().0.contains("outside the file"));
}

#[test]
fn truncations_and_corruptions_of_a_real_file_never_panic() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/macho/universal2/ext.cpython-312-darwin.so");
    let data = std::fs::read(path).expect("fixture missing: run fixtures/macho/build.sh");
    assert!(parse(&data).is_ok());
    // Every truncation of the fat header and of the arm64 slice's commands.
    for len in (0..64).chain(32768..32768 + 1400) {
        let _ = parse(&data[..len]);
        let _ = parse(&data[32768..len.max(32768)]);
    }
    // Pseudo-random byte overwrites in the header areas (deterministic LCG).
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut errors = 0;
    for _ in 0..3000 {
        let mut d = data.clone();
        for _ in 0..4 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let pos = if seed >> 63 == 0 { (seed >> 20) as usize % 64 } else { 32768 + (seed >> 20) as usize % 1400 };
            d[pos] = (seed >> 40) as u8;
        }
        errors += usize::from(parse(&d).is_err());
    }
    assert!(errors > 0, "no corruption was detected at all");
}

#[test]
fn reads_in_either_byte_order_and_short_reads_are_errors() {
    let d = [0u8, 0, 0, 1, 0, 0, 0, 2];
    assert_eq!(read_u32(&d, 0, true), Ok(1));
    assert_eq!(read_u32(&d, 0, false), Ok(0x0100_0000));
    assert_eq!(read_u64(&d, 0, true), Ok(0x1_0000_0002));
    for r in
        [read_u32(&d, 5, true).map(u64::from), read_u64(&d, 1, false), read_u32(&d, usize::MAX, true).map(u64::from)]
    {
        assert_eq!(r.unwrap_err().0, "truncated Mach-O data");
    }
}
