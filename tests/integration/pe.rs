//! PE tests: parsing and import rewriting of the committed fixtures
//! (`fixtures/pe/`, rebuilt by `fixtures/pe/build.sh`).
//!
//! Every result is read back by a parser that is not ours: goblin for the
//! import directory and the section table, and a small reader in this file
//! for delay-load descriptors, the load config and the checksum. Every input
//! and every rewrite is also compared with its golden dump in
//! `tests/golden/pe` (written by `pe_dump.rs`; `WHEELFIX_UPDATE_GOLDEN=1`
//! rewrites them).
//!
//! With `WHEELFIX_PE_OUT=DIR`, `write_outputs_for_check_script` also writes
//! rewritten chains there for `fixtures/pe/check.sh` (llvm-readobj, wine).

use std::path::{Path, PathBuf};

use wheelfix::binary::pe;
use wheelfix::patch::pe::{apply, strip, PeEdits};
use wheelfix::patch::PatchError;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pe")
}

fn fixture(rel: &str) -> Vec<u8> {
    let path = fixture_dir().join(rel);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("fixture {} missing ({e}); run fixtures/pe/build.sh", path.display()))
}

/// Every committed PE fixture, relative to `fixtures/pe`.
fn all_fixtures() -> Vec<String> {
    let mut out = vec!["loader.exe".to_string()];
    for set in ["mingw-x86_64", "mingw-i686", "msvc-x64", "msvc-arm64", "msvc-x86"] {
        let dir = fixture_dir().join(set);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".dll") || n.ends_with(".pyd"))
            .collect();
        names.sort();
        assert!(names.len() >= 3, "{set}: expected at least bar.dll, foo.dll, ext.pyd");
        out.extend(names.into_iter().map(|n| format!("{set}/{n}")));
    }
    out
}

/// Compares the dump of `data`, fixture `rel` after `op`, with its golden
/// file: `msvc-x64/ext.pyd` and `rename` → `tests/golden/pe/msvc-x64.ext.rename.txt`.
fn golden(rel: &str, op: &str, data: &[u8]) {
    let stem = rel.rsplit_once('.').map_or(rel, |(s, _)| s).replace('/', ".");
    crate::util::golden(&format!("pe/{stem}.{op}"), &crate::pe_dump::dump(data));
}

// ------------------------------------------------------------------ independent reader

fn le16(d: &[u8], o: usize) -> u16 {
    u16::from_le_bytes(d[o..o + 2].try_into().unwrap())
}
fn le32(d: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(d[o..o + 4].try_into().unwrap())
}
fn put32(d: &mut [u8], o: usize, v: u32) {
    d[o..o + 4].copy_from_slice(&v.to_le_bytes());
}

/// The few header facts the test reader needs, read without wheelfix.
struct Hdr {
    opt: usize,
    is_64: bool,
    image_base: u64,
    /// (name, vsize, va, raw size, raw ptr, characteristics, header offset)
    sections: Vec<(String, u32, u32, u32, u32, u32, usize)>,
}

impl Hdr {
    fn read(d: &[u8]) -> Hdr {
        let pe = le32(d, 0x3c) as usize;
        assert_eq!(&d[pe..pe + 4], b"PE\0\0");
        let n = le16(d, pe + 6) as usize;
        let opt_size = le16(d, pe + 20) as usize;
        let opt = pe + 24;
        let is_64 = le16(d, opt) == 0x20b;
        let image_base = if is_64 {
            u64::from(le32(d, opt + 24)) | (u64::from(le32(d, opt + 28)) << 32)
        } else {
            u64::from(le32(d, opt + 28))
        };
        let sections = (0..n)
            .map(|i| {
                let h = opt + opt_size + i * 40;
                let name = String::from_utf8_lossy(&d[h..h + 8]).trim_end_matches('\0').to_string();
                (name, le32(d, h + 8), le32(d, h + 12), le32(d, h + 16), le32(d, h + 20), le32(d, h + 36), h)
            })
            .collect();
        Hdr { opt, is_64, image_base, sections }
    }
    fn dir(&self, d: &[u8], i: usize) -> (u32, u32) {
        let base = self.opt + if self.is_64 { 112 } else { 96 };
        (le32(d, base + i * 8), le32(d, base + i * 8 + 4))
    }
    fn off(&self, rva: u32) -> usize {
        for (_, vs, va, rs, rp, _, _) in &self.sections {
            if rva >= *va && rva < va + (*vs).max(*rs) {
                return (rva - va + rp) as usize;
            }
        }
        rva as usize
    }
    fn cstr(&self, d: &[u8], rva: u32) -> String {
        let o = self.off(rva);
        let end = d[o..].iter().position(|&b| b == 0).unwrap();
        String::from_utf8(d[o..o + end].to_vec()).unwrap()
    }
    fn size_of_image(&self, d: &[u8]) -> u32 {
        le32(d, self.opt + 56)
    }
    fn size_of_headers(&self, d: &[u8]) -> u32 {
        le32(d, self.opt + 60)
    }
}

/// Delay-load names: `(attributes, name)`, VA-style descriptors included.
fn delay_imports(d: &[u8]) -> Vec<(u32, String)> {
    let h = Hdr::read(d);
    let (rva, _) = h.dir(d, 13);
    let mut out = Vec::new();
    if rva == 0 {
        return out;
    }
    let base = h.off(rva);
    for k in 0.. {
        let at = base + k * 32;
        let attrs = le32(d, at);
        let name = le32(d, at + 4);
        if name == 0 {
            break;
        }
        let name_rva = if attrs & 1 == 1 { name } else { (u64::from(name) - h.image_base) as u32 };
        out.push((attrs, h.cstr(d, name_rva)));
    }
    out
}

/// Import names as goblin reads them.
fn goblin_imports(d: &[u8]) -> Vec<String> {
    let pe = goblin::pe::PE::parse(d).expect("goblin parses the file");
    pe.import_data.map(|i| i.import_data.iter().map(|e| e.name.to_string()).collect()).unwrap_or_default()
}

fn goblin_sections(d: &[u8]) -> Vec<String> {
    let pe = goblin::pe::PE::parse(d).expect("goblin parses the file");
    pe.sections.iter().map(|s| s.name().unwrap_or("?").to_string()).collect()
}

/// PE checksum computed the pefile way: 32-bit dwords summed with carry,
/// the checksum dword skipped, folded to 16 bits, plus the length.
fn independent_checksum(d: &[u8]) -> u32 {
    let skip = Hdr::read(d).opt + 64;
    let mut sum: u64 = 0;
    let mut padded = d.to_vec();
    padded.resize(d.len().div_ceil(4) * 4, 0);
    for (i, c) in padded.chunks(4).enumerate() {
        if i * 4 == skip {
            continue;
        }
        sum += u64::from(u32::from_le_bytes(c.try_into().unwrap()));
        sum = (sum & 0xffff_ffff) + (sum >> 32);
    }
    let mut s = (sum & 0xffff) + (sum >> 16);
    s = (s & 0xffff) + (s >> 16);
    (s as u32 & 0xffff) + d.len() as u32
}

fn checksum_field(d: &[u8]) -> u32 {
    le32(d, Hdr::read(d).opt + 64)
}

/// Checks what must hold for every rewritten file: goblin reads it, sections
/// do not overlap in memory or in the file, SizeOfImage covers them, the
/// checksum is right (or still 0), no signature remains.
fn check_layout(input: &[u8], out: &[u8]) {
    let h = Hdr::read(out);
    let soh = h.size_of_headers(out);
    let mut virt: Vec<(u32, u32)> = h.sections.iter().map(|s| (s.2, s.2 + s.1.max(1))).collect();
    virt.sort();
    for w in virt.windows(2) {
        assert!(w[0].1 <= w[1].0, "sections overlap in memory: {w:?}");
    }
    let mut raw: Vec<(u32, u32)> = h.sections.iter().filter(|s| s.3 != 0).map(|s| (s.4, s.4 + s.3)).collect();
    raw.sort();
    assert!(raw[0].0 >= soh, "section data inside the headers");
    for w in raw.windows(2) {
        assert!(w[0].1 <= w[1].0, "sections overlap in the file: {w:?}");
    }
    assert!(raw.last().unwrap().1 as usize <= out.len());
    let end = virt.last().unwrap().1;
    assert!(h.size_of_image(out) >= end, "SizeOfImage {:#x} < end {end:#x}", h.size_of_image(out));
    assert_eq!(h.size_of_image(out) % 0x1000, 0);
    if checksum_field(input) == 0 {
        assert_eq!(checksum_field(out), 0, "a zero checksum must stay zero");
    } else {
        assert_eq!(checksum_field(out), independent_checksum(out), "checksum");
    }
    assert_eq!(h.dir(out, 4), (0, 0), "certificate directory cleared");
    assert!(goblin::pe::PE::parse(out).is_ok());
}

/// A copy where every data section's VirtualSize covers its raw data: no
/// slack anywhere, so new names need a new section.
fn without_slack(d: &[u8]) -> Vec<u8> {
    let mut d = d.to_vec();
    let h = Hdr::read(&d);
    let sa = 0x1000;
    for (_, vs, va, rs, _, ch, off) in &h.sections {
        let next = h.sections.iter().map(|s| s.2).filter(|x| x > va).min().unwrap_or(u32::MAX);
        let full = (*rs).min(next - va).max(*vs);
        if ch & 0x40 != 0 && full > *vs && (va + full).div_ceil(sa) * sa <= h.size_of_image(&d) {
            put32(&mut d, off + 8, full);
        }
    }
    d
}

/// A copy whose PE headers are moved forward (into the DOS stub area) so
/// that the section table ends 8 to 15 bytes before SizeOfHeaders: no room
/// for one more section header.
fn push_headers_back(d: &[u8]) -> Vec<u8> {
    let mut d = d.to_vec();
    let h = Hdr::read(&d);
    let old = le32(&d, 0x3c) as usize;
    let table_end = h.sections.last().unwrap().6 + 40;
    let block = table_end - old;
    let new = (h.size_of_headers(&d) as usize - 8 - block) & !7;
    assert!(new > old, "headers already full");
    let copy = d[old..table_end].to_vec();
    d[0x40..new + block].fill(0);
    d[new..new + block].copy_from_slice(&copy);
    put32(&mut d, 0x3c, new as u32);
    d
}

/// `(PointerToRawData, first 4 bytes there)` of each debug directory entry.
fn debug_data(d: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let h = Hdr::read(d);
    let (rva, size) = h.dir(d, 6);
    let at = h.off(rva);
    (0..size as usize / 28)
        .map(|k| le32(d, at + k * 28 + 24))
        .filter(|&p| p != 0)
        .map(|p| (p, d[p as usize..p as usize + 4].to_vec()))
        .collect()
}

fn mangled(stem: &str, ext: &str) -> String {
    format!("{stem}-0123456789abcdef0123456789abcdef.{ext}")
}

fn rename(d: &[u8], pairs: &[(&str, &str)]) -> Result<Vec<u8>, PatchError> {
    let mut e = PeEdits::new();
    for (o, n) in pairs {
        e = e.replace(*o, *n);
    }
    apply(d, &e)
}

// ------------------------------------------------------------------ parsing

#[test]
fn every_fixture_parses_like_goblin() {
    for rel in all_fixtures() {
        let d = fixture(&rel);
        let info = pe::parse(&d).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(info.imports, goblin_imports(&d), "{rel}: imports");
        let delays: Vec<String> = delay_imports(&d).into_iter().map(|(_, n)| n).collect();
        assert_eq!(info.delay_imports, delays, "{rel}: delay imports");
        let g = goblin::pe::PE::parse(&d).unwrap();
        assert_eq!(info.machine, g.header.coff_header.machine, "{rel}: machine");
        assert_eq!(info.is_64, g.is_64, "{rel}: is_64");
        let (machine, tag) = match rel.split('/').next().unwrap() {
            "mingw-x86_64" | "msvc-x64" | "loader.exe" => (0x8664, "win_amd64"),
            "mingw-i686" | "msvc-x86" => (0x14c, "win32"),
            "msvc-arm64" => (0xaa64, "win_arm64"),
            other => panic!("unknown set {other}"),
        };
        assert_eq!((info.machine, info.platform_tag()), (machine, Some(tag)), "{rel}");
        let exports: Vec<String> =
            g.exports.iter().filter_map(|e| e.name).filter(|n| n.starts_with("PyInit_")).map(String::from).collect();
        assert_eq!(info.py_init, exports, "{rel}: PyInit exports");
        assert_eq!(info.py_init.is_empty(), !rel.ends_with(".pyd"), "{rel}: PyInit_ext expected in every .pyd");
        assert!(!info.signed, "{rel}");
        let opt = g.header.optional_header.unwrap();
        assert_eq!(
            info.linker_version,
            (opt.standard_fields.major_linker_version, opt.standard_fields.minor_linker_version)
        );
        assert_eq!(info.overlay_len > 0, rel.ends_with("foo-debug.dll"), "{rel}: overlay {}", info.overlay_len);
    }
}

#[test]
fn every_fixture_matches_its_golden_dump() {
    for rel in all_fixtures() {
        golden(&rel, "input", &fixture(&rel));
    }
}

#[test]
fn fixture_imports_are_the_expected_chain() {
    let ext = pe::parse(&fixture("mingw-x86_64/ext.pyd")).unwrap();
    let lower: Vec<String> = ext.imports.iter().map(|s| s.to_ascii_lowercase()).collect();
    assert!(lower.contains(&"foo.dll".into()) && lower.contains(&"kernel32.dll".into()), "{lower:?}");
    assert!(lower.contains(&"msvcrt.dll".into()), "{lower:?}");
    let foo = pe::parse(&fixture("mingw-i686/foo.dll")).unwrap();
    assert!(foo.needed().iter().any(|n| n.eq_ignore_ascii_case("bar.dll")));
    for arch in ["x64", "arm64", "x86"] {
        let d = pe::parse(&fixture(&format!("msvc-{arch}/ext_delay.pyd"))).unwrap();
        assert_eq!(d.delay_imports, vec!["foo.dll"], "{arch}");
        assert_eq!(d.imports, vec!["kernel32.dll"], "{arch}");
        assert_eq!(d.needed(), vec!["kernel32.dll", "foo.dll"]);
    }
    let debug = pe::parse(&fixture("mingw-x86_64/foo-debug.dll")).unwrap();
    let stripped = fixture("mingw-x86_64/foo.dll");
    assert!(debug.overlay_len > 1000, "overlay {}", debug.overlay_len);
    assert!(pe::parse(&stripped).unwrap().overlay_len == 0);
}

#[test]
fn truncated_and_mangled_fixtures_never_panic() {
    let d = fixture("msvc-x64/ext_delay.pyd");
    for len in (0..d.len()).step_by(7) {
        let _ = pe::parse(&d[..len]);
    }
    // flip bytes one at a time (every byte of the small file, every 61st of
    // the larger ones): parse, rewrite and strip return, whatever they return
    for (file, step) in
        [("msvc-x64/ext_delay.pyd", 1), ("msvc-x86/ext_loadcfg.pyd", 1), ("mingw-x86_64/foo-debug.dll", 61)]
    {
        let d = fixture(file);
        for i in (0..d.len()).step_by(step) {
            for flip in [0xff, 0x80] {
                let mut m = d.clone();
                m[i] ^= flip;
                let _ = pe::parse(&m);
                let _ = rename(&m, &[("foo.dll", "foo-0123456789.dll"), ("bar.dll", &"b".repeat(250))]);
                let _ = strip(&m);
            }
        }
    }
}

// ------------------------------------------------------------------ rewriting

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
