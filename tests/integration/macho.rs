//! Mach-O: parsing, relinking and signing the committed fixtures
//! (`fixtures/macho/`, rebuilt by `fixtures/macho/build.sh`).
//!
//! Every result is checked with readers that are not ours: goblin for load
//! commands and fat headers, and the small page-hash verifier below for code
//! signatures. Every input and every rewrite is also compared with its golden
//! dump in `tests/golden/macho` (written by `macho_dump.rs`;
//! `WHEELFIX_UPDATE_GOLDEN=1` rewrites them). Set `WHEELFIX_MACHO_OUT=DIR` to
//! keep the rewritten files for `fixtures/macho/check.sh`.

use std::path::{Path, PathBuf};

use goblin::mach::load_command::CommandVariant;
use goblin::mach::{Mach, MachO, SingleArch};
use sha2::{Digest, Sha256};
use wheelfix::binary::macho::{self as bm, MachOArch};
use wheelfix::patch::codesign::{self, SignatureStatus};
use wheelfix::patch::macho::{apply, create_fat, MachOEdits};
use wheelfix::patch::PatchError;

const EXT: &str = "ext.cpython-312-darwin.so";

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/macho")
}

fn fixture(rel: &str) -> Vec<u8> {
    let p = fixtures_dir().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {} missing ({e}): run fixtures/macho/build.sh", p.display()))
}

/// Every committed binary (not the sources or scripts).
fn all_fixtures() -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).expect("fixtures/macho is readable") {
            let p = e.expect("directory entry").path();
            if p.is_dir() {
                if p.file_name() != Some("src".as_ref()) {
                    walk(&p, base, out);
                }
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("so" | "dylib")) {
                out.push(p.strip_prefix(base).expect("under base").to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(&fixtures_dir(), &fixtures_dir(), &mut out);
    out.sort();
    out
}

/// The golden name of a fixture: `arm64/ext.cpython-312-darwin.so` → `arm64.ext`.
fn stem(rel: &str) -> String {
    rel.replace(EXT, "ext").trim_end_matches(".dylib").replace('/', ".")
}

/// Compares the dump of `data`, fixture `rel` after `op`, with its golden file.
fn golden(rel: &str, op: &str, data: &[u8]) {
    crate::util::golden(&format!("macho/{}.{op}", stem(rel)), &crate::macho_dump::dump(data));
}

/// Keeps a rewritten file for `check.sh` when `WHEELFIX_MACHO_OUT` is set.
fn keep(name: &str, data: &[u8]) {
    if let Some(dir) = std::env::var_os("WHEELFIX_MACHO_OUT") {
        let p = Path::new(&dir).join(name);
        std::fs::create_dir_all(p.parent().expect("has a parent")).expect("create output dir");
        std::fs::write(&p, data).expect("write output");
    }
}

// ------------------------------------------------------------ independent readers

/// What goblin sees in one slice.
#[derive(Debug)]
pub(crate) struct GView {
    pub(crate) cputype: u32,
    pub(crate) id: Option<String>,
    pub(crate) libs: Vec<String>,
    pub(crate) rpaths: Vec<String>,
    /// (dataoff, datasize) of LC_CODE_SIGNATURE.
    pub(crate) signature: Option<(usize, usize)>,
    pub(crate) header_pad: u64,
    /// Start and end of the slice in the file.
    pub(crate) range: (usize, usize),
}

fn gview_of(m: &MachO, range: (usize, usize)) -> GView {
    let mut signature = None;
    for lc in &m.load_commands {
        if let CommandVariant::CodeSignature(cs) = lc.command {
            signature = Some((cs.dataoff as usize, cs.datasize as usize));
        }
    }
    let low = crate::macho_dump::first_content_offset(m);
    let header = if m.is_64 { 32 } else { 28 };
    GView {
        cputype: m.header.cputype,
        id: m.name.map(str::to_string),
        libs: m.libs.iter().skip(1).map(|s| s.to_string()).collect(),
        rpaths: m.rpaths.iter().map(|s| s.to_string()).collect(),
        signature,
        header_pad: low - header - u64::from(m.header.sizeofcmds),
        range,
    }
}

pub(crate) fn goblin(data: &[u8]) -> Vec<GView> {
    match Mach::parse(data).expect("goblin parses the file") {
        Mach::Binary(m) => vec![gview_of(&m, (0, data.len()))],
        Mach::Fat(fat) => {
            let arches = fat.arches().expect("goblin reads the fat header");
            let mut out = Vec::new();
            for (i, a) in arches.iter().enumerate() {
                let range = (a.offset as usize, (a.offset + a.size) as usize);
                assert_eq!(a.offset % (1 << a.align), 0, "slice {i} is not at its alignment");
                match fat.get(i).expect("goblin reads the slice") {
                    SingleArch::MachO(m) => out.push(gview_of(&m, range)),
                    SingleArch::Archive(_) => panic!("unexpected archive slice"),
                }
            }
            let mut sorted: Vec<_> = out.iter().map(|v| v.range).collect();
            sorted.sort();
            for w in sorted.windows(2) {
                assert!(w[0].1 <= w[1].0, "slices overlap: {sorted:?}");
            }
            out
        }
    }
}

fn be32(b: &[u8], at: usize) -> usize {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes")) as usize
}

/// Independent ad-hoc signature check of one slice: returns the identifier
/// after re-hashing every page of every CodeDirectory in the SuperBlob.
fn check_signature(slice: &[u8], sig: (usize, usize)) -> Result<String, String> {
    let (dataoff, datasize) = sig;
    let blob = slice.get(dataoff..dataoff + datasize).ok_or("signature outside the slice")?;
    if be32(blob, 0) != 0xfade_0cc0 {
        return Err("no SuperBlob".into());
    }
    let mut ident = None;
    for i in 0..be32(blob, 8) {
        let (slot, off) = (be32(blob, 12 + 8 * i), be32(blob, 16 + 8 * i));
        if slot != 0 && !(0x1000..0x1005).contains(&slot) {
            continue;
        }
        let cd = &blob[off..off + be32(blob, off + 4)];
        if be32(cd, 0) != 0xfade_0c02 {
            return Err("not a CodeDirectory".into());
        }
        let (hash_off, ncode, limit) = (be32(cd, 16), be32(cd, 28), be32(cd, 32));
        let (hsize, htype, pshift) = (cd[36] as usize, cd[37], cd[39]);
        if limit != dataoff {
            return Err(format!("codeLimit {limit} != dataoff {dataoff}"));
        }
        if htype != 2 || hsize != 32 {
            return Err(format!("hash type {htype} is not SHA-256"));
        }
        let page = 1usize << pshift;
        if ncode != limit.div_ceil(page) {
            return Err("wrong number of code slots".into());
        }
        for p in 0..ncode {
            let data = &slice[p * page..((p + 1) * page).min(limit)];
            if Sha256::digest(data).as_slice() != &cd[hash_off + 32 * p..hash_off + 32 * (p + 1)] {
                return Err(format!("page {p} hash mismatch"));
            }
        }
        let id_at = be32(cd, 20);
        let end = cd[id_at..].iter().position(|&b| b == 0).ok_or("identifier not terminated")?;
        ident = Some(String::from_utf8_lossy(&cd[id_at..id_at + end]).into_owned());
    }
    ident.ok_or_else(|| "no CodeDirectory".into())
}

const ARM64: u32 = 0x0100_000c;

/// Checks every slice: signed arm64 slices (and any slice with
/// LC_CODE_SIGNATURE) verify independently.
pub(crate) fn assert_signatures(data: &[u8]) -> Vec<GView> {
    let views = goblin(data);
    for v in &views {
        let slice = &data[v.range.0..v.range.1];
        if v.cputype == ARM64 {
            assert!(v.signature.is_some(), "arm64 slice is not signed");
        }
        if let Some(sig) = v.signature {
            check_signature(slice, sig).unwrap_or_else(|e| panic!("signature of cpu {:#x}: {e}", v.cputype));
            assert!(matches!(codesign::verify_slice(slice), Ok(SignatureStatus::Valid(_))));
        }
    }
    views
}

// ------------------------------------------------------------ parsing

#[test]
fn parse_agrees_with_goblin_on_every_fixture() {
    let files = all_fixtures();
    assert!(files.len() >= 18, "expected the 18 committed Mach-O fixtures, found {files:?}");
    for f in &files {
        let data = fixture(f);
        let ours = bm::parse(&data).unwrap_or_else(|e| panic!("{f}: {e}"));
        let theirs = goblin(&data);
        assert_eq!(ours.fat, f.starts_with("universal2"), "{f}");
        assert_eq!(ours.slices.len(), theirs.len(), "{f}");
        for (s, g) in ours.slices.iter().zip(&theirs) {
            let cpu = match s.arch {
                MachOArch::Arm64 => ARM64,
                MachOArch::X86_64 => 0x0100_0007,
                other => panic!("{f}: unexpected arch {other:?}"),
            };
            assert_eq!(cpu, g.cputype, "{f}");
            assert_eq!(s.id, g.id, "{f}: id");
            assert_eq!(s.deps.iter().map(|d| d.name.clone()).collect::<Vec<_>>(), g.libs, "{f}: deps");
            assert!(s.deps.iter().all(|d| d.kind == bm::DylibKind::Load), "{f}");
            assert_eq!(s.rpaths, g.rpaths, "{f}: rpaths");
            assert_eq!(s.signed, g.signature.is_some(), "{f}: signed");
            assert_eq!(s.header_pad, g.header_pad, "{f}: header pad");
            let want_minos = if f.starts_with("arm64-13") {
                "13.0"
            } else if f.starts_with("x86_64-10.9") {
                "10.9"
            } else {
                "11.0"
            };
            assert_eq!(s.min_macos.map(|v| v.to_string()).as_deref(), Some(want_minos), "{f}");
            // lld signs arm64 unless told not to, never x86_64 by default.
            let want_signed = s.arch == MachOArch::Arm64 && !f.contains("unsigned");
            assert_eq!(s.signed, want_signed, "{f}");
            let want_pad = if f.contains("nopad") { 32..=40 } else { 2048..=4096 };
            assert!(want_pad.contains(&s.header_pad), "{f}: header pad {}", s.header_pad);
        }
    }
}

#[test]
fn every_fixture_matches_its_golden_dump() {
    for f in all_fixtures() {
        golden(&f, "input", &fixture(&f));
    }
}

#[test]
fn parse_reads_the_fixture_names() {
    let ext = bm::parse(&fixture(&format!("arm64/{EXT}"))).unwrap();
    let s = &ext.slices[0];
    assert_eq!(s.filetype, bm::MH_BUNDLE);
    assert_eq!(s.id, None);
    assert_eq!(ext.all_deps(), ["@rpath/libfoo.dylib", "/usr/lib/libSystem.B.dylib"]);
    assert_eq!(s.rpaths, ["@loader_path/deps", "/opt/fake/lib"]);
    let foo = bm::parse(&fixture("x86_64/deps/libfoo.dylib")).unwrap();
    assert_eq!(foo.slices[0].id.as_deref(), Some("@rpath/libfoo.dylib"));
    assert_eq!(foo.slices[0].filetype, bm::MH_DYLIB);
    assert_eq!(foo.slices[0].rpaths, ["@loader_path"]);
    assert_eq!(foo.all_deps(), ["@rpath/libbar.dylib", "/usr/lib/libSystem.B.dylib"]);
    let abs = bm::parse(&fixture("universal2/libfoo_abs.dylib")).unwrap();
    assert_eq!(abs.slices.iter().map(|s| s.arch).collect::<Vec<_>>(), [MachOArch::X86_64, MachOArch::Arm64]);
    assert!(abs.slices.iter().all(|s| s.id.as_deref() == Some("/usr/local/lib/libfoo.dylib")));
}

// ------------------------------------------------------------ rewriting

fn repair_edits() -> MachOEdits {
    let mut e = MachOEdits::default();
    e.change_dylibs.push(("@rpath/libfoo.dylib".into(), "@loader_path/.dylibs/libfoo-3f2a9c1b.dylib".into()));
    e.change_dylibs.push(("/not/referenced.dylib".into(), "@loader_path/x.dylib".into()));
    e.delete_rpaths.push("/opt/fake/lib".into());
    e.add_rpaths.push("@loader_path/../fakepkg.dylibs".into());
    e.add_rpaths.push("@loader_path/deps".into()); // already there: skipped
    e
}

/// Bytes from the first section to the signature are unchanged, slice by slice.
fn assert_only_header_and_signature_changed(before: &[u8], after: &[u8]) {
    for (vb, va) in goblin(before).iter().zip(&goblin(after)) {
        let (sb, sa) = (&before[vb.range.0..vb.range.1], &after[va.range.0..va.range.1]);
        let first = first_section_offset(sb);
        assert_eq!(first, first_section_offset(sa), "sections moved");
        let end = vb.signature.map_or(sb.len(), |s| s.0).min(va.signature.map_or(sa.len(), |s| s.0));
        assert!(sb[first..end] == sa[first..end], "bytes outside the header changed");
    }
}

fn first_section_offset(slice: &[u8]) -> usize {
    let m = MachO::parse(slice, 0).expect("goblin parses the slice");
    let mut low = usize::MAX;
    for seg in m.segments.iter() {
        for (s, _) in seg.sections().expect("sections") {
            if s.size != 0 && !matches!(s.flags & 0xff, 0x1 | 0xc | 0x12) {
                low = low.min(s.offset as usize);
            }
        }
    }
    low
}

#[test]
fn rewrite_thin_and_fat_extensions() {
    for f in
        [format!("arm64/{EXT}"), format!("x86_64/{EXT}"), format!("universal2/{EXT}"), format!("x86_64-10.9/{EXT}")]
    {
        let input = fixture(&f);
        let out = apply(&input, &repair_edits()).unwrap_or_else(|e| panic!("{f}: {e}"));
        keep(&format!("rewrite/{f}"), &out);
        golden(&f, "repair-edits", &out);
        assert_eq!(out.len(), input.len(), "{f}: signed slices keep their size, nothing moves");
        let views = assert_signatures(&out);
        for v in &views {
            assert_eq!(v.libs, ["@loader_path/.dylibs/libfoo-3f2a9c1b.dylib", "/usr/lib/libSystem.B.dylib"], "{f}");
            assert_eq!(v.rpaths, ["@loader_path/deps", "@loader_path/../fakepkg.dylibs"], "{f}");
            assert_eq!(v.id, None, "{f}");
            if let Some(sig) = v.signature {
                let ident = check_signature(&out[v.range.0..v.range.1], sig).unwrap();
                assert_eq!(ident, EXT, "{f}: the identifier is kept");
            }
        }
        // The x86_64 slice of the fat file stays unsigned.
        assert_eq!(
            views.iter().filter(|v| v.signature.is_some()).count(),
            views.iter().filter(|v| v.cputype == ARM64).count()
        );
        assert_only_header_and_signature_changed(&input, &out);
    }
}

#[test]
fn rewrite_install_id_on_thin_and_fat() {
    for f in [
        "arm64/libfoo_abs.dylib",
        "x86_64/libfoo_abs.dylib",
        "universal2/libfoo_abs.dylib",
        "arm64-13/deps/libfoo.dylib",
    ] {
        let input = fixture(f);
        let mut e = MachOEdits::default();
        e.set_id = Some("/DLC/fakepkg/libfoo.dylib".into());
        e.change_dylibs.push(("@rpath/libbar.dylib".into(), "@loader_path/libbar.dylib".into()));
        let out = apply(&input, &e).unwrap_or_else(|err| panic!("{f}: {err}"));
        keep(&format!("id/{f}"), &out);
        golden(f, "set-id", &out);
        for v in assert_signatures(&out) {
            assert_eq!(v.id.as_deref(), Some("/DLC/fakepkg/libfoo.dylib"), "{f}");
            assert_eq!(v.libs, ["@loader_path/libbar.dylib", "/usr/lib/libSystem.B.dylib"], "{f}");
        }
        let ours = bm::parse(&out).unwrap();
        assert!(ours.slices.iter().all(|s| s.id.as_deref() == Some("/DLC/fakepkg/libfoo.dylib")));
        assert_only_header_and_signature_changed(&input, &out);
    }
}

#[test]
fn rewrite_then_inverse_restores_the_linker_output_bytes() {
    // lld writes dylib commands the way we do (name at 24, size rounded to
    // 8), so renaming there and back gives the linker's bytes again,
    // signature included.
    for f in [format!("arm64/{EXT}"), format!("universal2/{EXT}"), "arm64/libfoo_abs.dylib".into()] {
        let input = fixture(&f);
        let mut e = MachOEdits::default();
        e.change_dylibs.push(("@rpath/libfoo.dylib".into(), "@loader_path/a/much/longer/libfoo.dylib".into()));
        e.change_dylibs.push(("@rpath/libbar.dylib".into(), "@loader_path/a/much/longer/libbar.dylib".into()));
        e.set_id = Some("/x.dylib".into());
        let out = apply(&input, &e).unwrap();
        assert_ne!(out, input);
        golden(&f, "rename-longer", &out);
        let mut back = MachOEdits::default();
        back.change_dylibs.push(("@loader_path/a/much/longer/libfoo.dylib".into(), "@rpath/libfoo.dylib".into()));
        back.change_dylibs.push(("@loader_path/a/much/longer/libbar.dylib".into(), "@rpath/libbar.dylib".into()));
        back.set_id = Some("/usr/local/lib/libfoo.dylib".into());
        assert!(apply(&out, &back).unwrap() == input, "{f}: round trip differs");
    }
}

#[test]
fn delete_only_shrinks_and_zeroes_the_freed_bytes() {
    let input = fixture(&format!("arm64-nopad/{EXT}"));
    let mut e = MachOEdits::default();
    e.delete_rpaths.push("@loader_path/deps".into());
    e.delete_rpaths.push("/opt/fake/lib".into());
    let out = apply(&input, &e).unwrap();
    golden(&format!("arm64-nopad/{EXT}"), "delete-rpaths", &out);
    let v = &assert_signatures(&out)[0];
    assert!(v.rpaths.is_empty());
    assert_eq!(v.header_pad, 32 + 64);
    let first = first_section_offset(&out);
    assert!(out[first - v.header_pad as usize..first].iter().all(|&b| b == 0), "freed bytes are not zero");
}

#[test]
fn unchanged_when_nothing_matches() {
    for f in [format!("arm64/{EXT}"), format!("universal2/{EXT}")] {
        let input = fixture(&f);
        let mut e = MachOEdits::default();
        e.change_dylibs.push(("/absent.dylib".into(), "/other.dylib".into()));
        e.delete_rpaths.push("/absent".into());
        e.set_id = Some("/ignored/for/bundles".into());
        assert!(apply(&input, &e).unwrap() == input, "{f}");
        assert!(apply(&input, &MachOEdits::default()).unwrap() == input, "{f}");
    }
}

#[test]
fn unpadded_binaries_give_no_room_and_leave_the_input_alone() {
    for f in [format!("arm64-nopad/{EXT}"), format!("x86_64-nopad/{EXT}"), "arm64-nopad/libfoo_abs.dylib".into()] {
        let input = fixture(&f);
        let copy = input.clone();
        let mut e = MachOEdits::default();
        e.change_dylibs
            .push(("@rpath/libfoo.dylib".into(), "@loader_path/../fakepkg.dylibs/libfoo-3f2a9c1b.dylib".into()));
        e.set_id = Some("/DLC/fakepkg/.dylibs/a/rather/long/install/name/libfoo.dylib".into());
        e.add_rpaths.push("@loader_path/../fakepkg.dylibs".into());
        let err = apply(&input, &e).expect_err("must not fit");
        match &err {
            PatchError::NoRoom { need, have, hint, .. } => {
                assert!(need > have, "{f}: {err}");
                assert!(hint.contains("-headerpad_max_install_names"), "{f}");
            }
            other => panic!("{f}: expected NoRoom, got {other}"),
        }
        assert!(err.to_string().contains("bytes needed"), "{err}");
        assert!(input == copy && input == fixture(&f), "{f}: input changed");
    }
    // A rename that gets shorter always fits, even without padding.
    let input = fixture(&format!("arm64-nopad/{EXT}"));
    let mut e = MachOEdits::default();
    e.change_dylibs.push(("@rpath/libfoo.dylib".into(), "@rpath/libf.dylib".into()));
    let out = apply(&input, &e).unwrap();
    golden(&format!("arm64-nopad/{EXT}"), "rename-shorter", &out);
    assert_eq!(assert_signatures(&out)[0].libs[0], "@rpath/libf.dylib");
}

#[test]
fn unsigned_arm64_gets_a_signature_and_the_fat_file_is_laid_out_again() {
    let mut e = MachOEdits::default();
    e.set_id = Some("@loader_path/libfoo.dylib".into());
    let thin = fixture("arm64-unsigned/libfoo_abs.dylib");
    let out = apply(&thin, &e).unwrap();
    keep("sign/arm64-unsigned/libfoo_abs.dylib", &out);
    golden("arm64-unsigned/libfoo_abs.dylib", "set-id", &out);
    let v = &assert_signatures(&out)[0];
    assert!(out.len() > thin.len());
    assert_eq!(check_signature(&out, v.signature.unwrap()).unwrap(), "libfoo.dylib");
    assert_eq!(v.header_pad + 16, goblin(&thin)[0].header_pad);

    let fat = fixture("universal2-unsigned/libfoo_abs.dylib");
    let out = apply(&fat, &e).unwrap();
    keep("sign/universal2-unsigned/libfoo_abs.dylib", &out);
    golden("universal2-unsigned/libfoo_abs.dylib", "set-id", &out);
    let before = goblin(&fat);
    let after = assert_signatures(&out);
    assert_eq!(after.len(), 2);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a.id.as_deref(), Some("@loader_path/libfoo.dylib"));
        if a.cputype == ARM64 {
            assert!(a.range.1 - a.range.0 > b.range.1 - b.range.0, "arm64 slice grew");
        }
    }
    // The x86_64 slice (modified, unsigned) stays unsigned.
    assert!(after.iter().any(|v| v.cputype != ARM64 && v.signature.is_none()));
}

// ------------------------------------------------------------ signing

#[test]
fn resigning_lld_output_is_byte_identical() {
    let mut n = 0;
    for f in all_fixtures() {
        let data = fixture(&f);
        for v in goblin(&data) {
            let slice = &data[v.range.0..v.range.1];
            let Some(sig) = v.signature else { continue };
            let ident = check_signature(slice, sig).unwrap_or_else(|e| panic!("{f}: lld signature: {e}"));
            let again = codesign::sign_slice(slice, &ident).unwrap();
            assert!(again == slice, "{f}: re-signing changed bytes");
            n += 1;
        }
    }
    assert!(n >= 10, "only {n} signed slices were checked");
}

#[test]
fn verifier_reports_unsigned_and_tampered_slices() {
    let x86 = fixture(&format!("x86_64/{EXT}"));
    assert_eq!(codesign::verify_slice(&x86).unwrap(), SignatureStatus::Unsigned);
    let arm = fixture(&format!("arm64/{EXT}"));
    let SignatureStatus::Valid(info) = codesign::verify_slice(&arm).unwrap() else { panic!("lld signature invalid") };
    assert_eq!(info.identifier, EXT);
    assert!(info.is_adhoc() && info.is_linker_signed());
    let dataoff = goblin(&arm)[0].signature.unwrap().0;
    assert_eq!((info.pages, info.page_size), (dataoff.div_ceil(4096) as u32, 4096));
    // Flip one byte of the rpath string in page 0.
    let mut bad = arm.clone();
    let at = bad.windows(13).position(|w| w == b"/opt/fake/lib").unwrap();
    bad[at + 1] = b'x';
    match codesign::verify_slice(&bad).unwrap() {
        SignatureStatus::Invalid(why) => assert!(why.contains("pages [0]"), "{why}"),
        other => panic!("tampering not detected: {other:?}"),
    }
    let v = &goblin(&bad)[0];
    assert!(check_signature(&bad, v.signature.unwrap()).is_err());
}

#[test]
fn signing_adds_a_verifiable_signature_to_x86_64() {
    let x86 = fixture("x86_64/deps/libbar.dylib");
    let out = codesign::sign_slice(&x86, "libbar.dylib").unwrap();
    keep("sign/x86_64/libbar.dylib", &out);
    golden("x86_64/deps/libbar.dylib", "sign", &out);
    let v = &goblin(&out)[0];
    assert_eq!(check_signature(&out, v.signature.expect("LC_CODE_SIGNATURE added")).unwrap(), "libbar.dylib");
    assert_eq!(v.signature.unwrap().0 % 16, 0);
    // __LINKEDIT sizes live in the header: everything from the first section on is untouched.
    let first = first_section_offset(&x86);
    assert!(out[first..x86.len()] == x86[first..]);
    assert!(out[x86.len()..v.signature.unwrap().0].iter().all(|&b| b == 0));
}

// ------------------------------------------------------------ fat assembly

#[test]
fn create_fat_matches_llvm_lipo() {
    for f in [EXT, "libfoo_abs.dylib", "deps/libfoo.dylib"] {
        let arm = fixture(&format!("arm64/{f}"));
        let x86 = fixture(&format!("x86_64/{f}"));
        let lipo = fixture(&format!("universal2/{f}"));
        assert!(create_fat(&[&arm, &x86]).unwrap() == lipo, "{f}: arm64 first");
        assert!(create_fat(&[&x86, &arm]).unwrap() == lipo, "{f}: x86_64 first");
    }
    let arm = fixture(&format!("arm64/{EXT}"));
    assert!(matches!(create_fat(&[&arm, &arm]), Err(PatchError::InvalidEdit(_))));
    assert!(matches!(create_fat(&[]), Err(PatchError::InvalidEdit(_))));
    let fat = fixture(&format!("universal2/{EXT}"));
    assert!(create_fat(&[&fat]).is_err());
}
