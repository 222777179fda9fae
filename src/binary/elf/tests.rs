use super::*;
use crate::wheel::archive::keep_step;
use std::time::{Duration, Instant};

const S390X: &[u8] = include_bytes!("../../../fixtures/elf/prebuilt/libsmall-s390x.so");
const I686: &[u8] = include_bytes!("../../../fixtures/elf/prebuilt/libsmall-i686.so");
const LLD: &[u8] = include_bytes!("../../../fixtures/elf/prebuilt/libsmall-lld.so");

/// Deterministic pseudo-random numbers (no dependency needed).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

const DEMOCORE: &[u8] = include_bytes!("../../../fixtures/demo/lib/libdemocore.so.1");

/// `data` with `ranges` copied in and zeros elsewhere.
fn only(data: &[u8], ranges: &[(u64, u64)]) -> Vec<u8> {
    let mut out = vec![0u8; data.len()];
    for &(s, e) in ranges {
        out[s as usize..e as usize].copy_from_slice(&data[s as usize..e as usize]);
    }
    out
}

/// Streams `data` in steps of `step` bytes, keeping what
/// [`partial_wanted`] asks for, as the wheel reader does.
fn stream(data: &[u8], step: usize) -> (Vec<u8>, Vec<(u64, u64)>) {
    let mut out = vec![0u8; data.len()];
    let mut read: Vec<(u64, u64)> = Vec::new();
    let mut want = partial_wanted(&out, &read);
    for (k, piece) in data.chunks(step).enumerate() {
        keep_step(&mut out, &mut read, &mut want, (k * step) as u64, piece, &mut partial_wanted);
    }
    (out, read)
}

#[test]
fn partial_parses_equal_whole_parses_or_give_up() {
    let late = late_layout();
    for (name, data) in [("s390x", S390X), ("i686", I686), ("lld", LLD), ("democore", DEMOCORE), ("late", &late)] {
        let whole = parse(data).unwrap();
        let len = data.len() as u64;
        assert_eq!(parse_partial(data, &[(0, len)]), Some(Ok(whole.clone())), "{name}");
        assert_eq!(parse_partial(&only(data, &[]), &[]), None, "{name}: nothing read");
        // any ranges at all: the same result, or none
        let mut rng = Lcg(len);
        let (mut same, mut gave_up) = (0, 0);
        for _ in 0..300 {
            let mut cuts: Vec<u64> = (0..2 * (1 + rng.next() % 4)).map(|_| rng.next() % (len + 1)).collect();
            cuts.push(0);
            cuts.push(64);
            cuts.sort_unstable();
            let mut ranges: Vec<(u64, u64)> = cuts.chunks(2).map(|c| (c[0], c[1])).filter(|(a, b)| a < b).collect();
            ranges.dedup();
            let merged = crate::bytes::merge_ranges(ranges);
            match parse_partial(&only(data, &merged), &merged) {
                None => gave_up += 1,
                Some(r) => {
                    assert_eq!(r, Ok(whole.clone()), "{name}: {merged:x?}");
                    same += 1;
                }
            }
        }
        assert!(gave_up > 0, "{name}: {same} same, none gave up");
    }
}

#[test]
fn reading_ahead_by_the_plan_finds_all_in_one_pass() {
    let late = late_layout();
    // the layout the test is for: strings past the padding, symbols before it
    let f = ElfFile::parse(&late).unwrap();
    let dynamic = f.dynamic().unwrap().unwrap();
    let (stroff, _) = dynstr_range(&f, &dynamic).unwrap();
    assert!(stroff > 3 << 20, "DT_STRTAB at {stroff:#x}");
    let whole = parse(&late).unwrap();
    for step in [4 << 10, 64 << 10, 256 << 10, 1 << 20] {
        let (out, read) = stream(&late, step);
        assert_eq!(parse_partial(&out, &read), Some(Ok(whole.clone())), "step {step}: {read:x?}");
        let kept: u64 = read.iter().map(|(a, b)| b - a).sum();
        assert!(kept < late.len() as u64 / 2, "step {step}: kept {kept} of {}", late.len());
    }
    for data in [S390X, I686, LLD, DEMOCORE] {
        let (out, read) = stream(data, 4 << 10);
        assert_eq!(parse_partial(&out, &read), Some(Ok(parse(data).unwrap())));
    }
}

/// File offset of the value of the first dynamic entry with `tag`.
fn dyn_value_offset(data: &[u8], tag: i64) -> u64 {
    let f = ElfFile::parse(data).unwrap();
    let d = f.dynamic().unwrap().unwrap();
    let ph = f.phdrs[d.phdr_index];
    let i = d.entries.iter().position(|(t, _)| *t == tag).unwrap() as u64;
    ph.p_offset + i * f.dyn_size() + f.dyn_size() / 2
}

fn put(data: &mut [u8], off: u64, v: u64, size: usize, big: bool) {
    let off = off as usize;
    let bytes = v.to_be_bytes();
    let mut field = bytes[8 - size..].to_vec();
    if !big {
        field.reverse();
    }
    data[off..off + size].copy_from_slice(&field);
}

#[test]
fn parses_the_fixtures() {
    let s = parse(S390X).unwrap();
    assert_eq!((s.class, s.endian, s.arch()), (Some(ElfClass::Elf64), Some(Endian::Big), Some("s390x")));
    assert_eq!(s.needed[0], "libm.so.6");
    assert_eq!(s.soname.as_deref(), Some("libsmall.so"));
    assert!(s.version_needs.iter().any(|v| v.file == "libm.so.6"));
    assert!(s.imported_symbols.iter().any(|n| n == "floor"));
    let i = parse(I686).unwrap();
    assert_eq!((i.class, i.arch()), (Some(ElfClass::Elf32), Some("i686")));
    assert!(i.imported_symbols.iter().any(|n| n == "floor"));
}

#[test]
fn every_truncation_is_an_error_or_a_parse() {
    for data in [S390X, I686, LLD] {
        for len in 0..data.len() {
            let _ = parse(&data[..len]);
            let _ = dump(&data[..len]);
        }
    }
    assert!(parse(&LLD[..40]).is_err());
    assert!(parse(b"\x7fELF").is_err());
    assert!(parse(b"\x7fELF\x03\x01\x01\0\0\0\0\0\0\0\0\0").is_err());
}

#[test]
fn random_corruption_never_panics() {
    let mut rng = Lcg(7);
    let start = Instant::now();
    for data in [S390X, I686, LLD] {
        for _ in 0..3000 {
            let mut d = data.to_vec();
            for _ in 0..1 + rng.next() % 8 {
                let at = (rng.next() as usize) % d.len();
                d[at] = rng.next() as u8;
            }
            let _ = parse(&d);
        }
    }
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
fn offsets_past_the_end_are_errors() {
    let f = ElfFile::parse(LLD).unwrap();
    // e_phoff past the end.
    let mut d = LLD.to_vec();
    let n = d.len() as u64;
    put(&mut d, 32, n, 8, false);
    assert!(parse(&d).is_err());
    // DT_STRTAB outside every PT_LOAD.
    let mut d = LLD.to_vec();
    put(&mut d, dyn_value_offset(LLD, DT_STRTAB), 0x7fff_0000, 8, false);
    assert!(parse(&d).unwrap_err().to_string().contains("DT_STRTAB"));
    // DT_STRSZ reaching past the end.
    let mut d = LLD.to_vec();
    put(&mut d, dyn_value_offset(LLD, DT_STRSZ), u64::MAX - 4, 8, false);
    assert!(parse(&d).is_err());
    // A DT_NEEDED string offset outside the table.
    let mut d = LLD.to_vec();
    put(&mut d, dyn_value_offset(LLD, DT_NEEDED), 0xffff_ff00, 8, false);
    assert!(parse(&d).unwrap_err().to_string().contains("outside DT_STRTAB"));
    // PT_DYNAMIC with a huge size.
    let mut d = LLD.to_vec();
    let (i, _) = f.phdrs.iter().enumerate().find(|(_, p)| p.p_type == PT_DYNAMIC).unwrap();
    put(&mut d, f.e_phoff + i as u64 * 56 + 32, u64::MAX / 2, 8, false);
    assert!(parse(&d).is_err());
}

#[test]
fn huge_counts_are_bounded() {
    let start = Instant::now();
    // DT_VERNEEDNUM far beyond the file.
    let mut d = S390X.to_vec();
    put(&mut d, dyn_value_offset(S390X, DT_VERNEEDNUM), u64::from(u32::MAX), 8, true);
    assert!(parse(&d).is_err());
    // A symbol count (from the section header) far beyond the file.
    let f = ElfFile::parse(S390X).unwrap();
    let (i, _) = f.shdrs.iter().enumerate().find(|(_, s)| s.sh_type == SHT_DYNSYM).unwrap();
    let mut d = S390X.to_vec();
    put(&mut d, f.e_shoff + i as u64 * 64 + 32, u64::MAX / 2, 8, true);
    assert!(parse(&d).is_err());
    // Without section headers the GNU hash table is walked; a chain
    // that never ends stops at the end of the file.
    let mut d = S390X.to_vec();
    put(&mut d, 60, 0, 2, true); // e_shnum = 0
    assert!(parse(&d).is_ok(), "stripped of section headers, still parses");
    let gnu = dyn_value_offset(S390X, DT_GNU_HASH);
    let ff = ElfFile::parse(S390X).unwrap();
    let table = ff.vaddr_to_offset(ff.word(gnu).unwrap()).unwrap();
    let nbuckets = ff.u32(table).unwrap() as u64;
    let bloom = ff.u32(table + 8).unwrap() as u64;
    let chains = table + 16 + bloom * 8 + nbuckets * 4;
    for k in 0..((d.len() as u64 - chains) / 4) {
        put(&mut d, chains + 4 * k, 2, 4, true); // low bit never set
    }
    let _ = parse(&d);
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn verneed_lists_are_bounded() {
    let f = ElfFile::parse(S390X).unwrap();
    let d0 = f.dynamic().unwrap().unwrap();
    let rec = verneed_records(&f, &d0).unwrap();
    assert!(!rec.is_empty());
    let off = rec[0].offset;
    // vn_next pointing back into the same record region: each step
    // moves forward, and DT_VERNEEDNUM caps the walk.
    let mut d = S390X.to_vec();
    put(&mut d, off + 12, 16, 4, true);
    put(&mut d, dyn_value_offset(S390X, DT_VERNEEDNUM), 100, 8, true);
    let start = Instant::now();
    assert!(parse(&d).is_err());
    // vn_cnt larger than the Vernaux chain.
    let mut d = S390X.to_vec();
    put(&mut d, off + 2, 0xffff, 2, true);
    assert!(parse(&d).is_err());
    // vna_next pointing at itself is impossible (offsets only grow),
    // but a huge vn_aux must be an error, not a wrap.
    let mut d = S390X.to_vec();
    put(&mut d, off + 8, u64::from(u32::MAX), 4, true);
    assert!(parse(&d).is_err());
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn files_without_dynamic_parse_with_empty_lists() {
    let mut d = LLD.to_vec();
    let f = ElfFile::parse(LLD).unwrap();
    let (i, _) = f.phdrs.iter().enumerate().find(|(_, p)| p.p_type == PT_DYNAMIC).unwrap();
    put(&mut d, f.e_phoff + i as u64 * 56, 0x6000_0000, 4, false); // PT_DYNAMIC → an OS-specific type
    let info = parse(&d).unwrap();
    assert!(info.needed.is_empty() && info.soname.is_none() && info.imported_symbols.is_empty());
    assert_eq!(info.machine, 62);
}

#[test]
fn loads_past_the_end_or_overlapping_are_refused() {
    let f = ElfFile::parse(LLD).unwrap();
    let loads: Vec<usize> = f.phdrs.iter().enumerate().filter(|(_, p)| p.p_type == PT_LOAD).map(|(i, _)| i).collect();
    assert!(loads.len() >= 2);
    let at = |i: usize| f.e_phoff + i as u64 * 56;
    // p_filesz of the second PT_LOAD runs past the end of the file
    let mut d = LLD.to_vec();
    put(&mut d, at(loads[1]) + 32, 0x7fff_ffff_0000, 8, false);
    let e = parse(&d).unwrap_err();
    assert!(e.0.contains("is past the end of the file"), "{e}");
    // the second PT_LOAD maps the addresses of the first
    let mut d = LLD.to_vec();
    let first = &f.phdrs[loads[0]];
    put(&mut d, at(loads[1]) + 8, first.p_offset, 8, false);
    put(&mut d, at(loads[1]) + 16, first.p_vaddr, 8, false);
    let e = parse(&d).unwrap_err();
    assert!(e.0.contains("overlaps PT_LOAD"), "{e}");
    // p_vaddr + p_memsz overflows
    let mut d = LLD.to_vec();
    put(&mut d, at(loads[1]) + 40, u64::MAX, 8, false);
    assert!(parse(&d).is_err());
}

#[test]
fn section_tables_past_the_end_are_refused() {
    let f = ElfFile::parse(LLD).unwrap();
    assert!(!f.shdrs.is_empty());
    let len = LLD.len() as u64;
    let table = f.shdr_size() * f.shdrs.len() as u64;
    // wholly past the end, partly past the end, and an offset that overflows
    for shoff in [len + 64, len - table + 1, u64::MAX - 8] {
        let mut d = LLD.to_vec();
        put(&mut d, 40, shoff, 8, false);
        let e = parse(&d).unwrap_err();
        assert!(e.0.contains("section header table") && e.0.contains("past the end of the file"), "{e}");
    }
    // the table ending exactly at the end of the file is fine
    let mut d = LLD[..(f.e_shoff + table) as usize].to_vec();
    assert_eq!(parse(&d).unwrap(), parse(LLD).unwrap());
    // one byte less is not
    d.pop();
    assert!(parse(&d).unwrap_err().0.contains("section header table"));
    // no section headers at all: nothing to check
    let mut d = LLD.to_vec();
    put(&mut d, 40, 0, 8, false);
    put(&mut d, 60, 0, 2, false);
    assert!(parse(&d).is_ok());
}

#[test]
fn a_dynamic_segment_outside_every_load_is_refused() {
    let f = ElfFile::parse(LLD).unwrap();
    let (i, dynamic) = f.phdrs.iter().enumerate().find(|(_, p)| p.p_type == PT_DYNAMIC).unwrap();
    let at = f.e_phoff + i as u64 * 56;
    // an address no PT_LOAD maps
    let mut d = LLD.to_vec();
    put(&mut d, at + 16, 0x7fff_0000, 8, false);
    let e = parse(&d).unwrap_err();
    assert!(e.0.contains("PT_DYNAMIC at 0x7fff0000 is outside every PT_LOAD"), "{e}");
    // mapped, but from other bytes of the file than the segment names
    let mut d = LLD.to_vec();
    put(&mut d, at + 8, dynamic.p_offset - 8, 8, false);
    assert!(parse(&d).unwrap_err().0.contains("outside every PT_LOAD"));
    // running past the end of its PT_LOAD
    let mut d = LLD.to_vec();
    put(&mut d, at + 32, dynamic.p_filesz + 0x10_0000, 8, false);
    assert!(parse(&d).is_err());
    // every fixture's PT_DYNAMIC is mapped
    for data in [LLD, S390X] {
        let f = ElfFile::parse(data).unwrap();
        let dynamic = f.phdrs.iter().find(|p| p.p_type == PT_DYNAMIC).unwrap();
        assert!(f.maps_from_file(dynamic));
    }
}
