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

mod rewrite;

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
