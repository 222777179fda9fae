use super::*;
use crate::patch::elf::{apply, ElfEdits, RpathEdit};

const AARCH64: &[u8] = include_bytes!("../../../fixtures/elf/prebuilt/libsmall-aarch64.so");
const NAME: &str = "pkg/libsmall.so";

fn runpath(value: &str) -> ElfEdits {
    ElfEdits { rpath: Some(RpathEdit::SetRunpath(value.to_string())), ..ElfEdits::default() }
}

#[test]
fn a_clean_rewrite_passes() {
    let before = findings(NAME, NAME, AARCH64);
    assert_eq!(before, Vec::new());
    let out = apply(AARCH64, &runpath("$ORIGIN/../pkg.libs")).unwrap();
    assert_eq!(check(NAME, NAME, &before, &out), Ok(()));
}

#[test]
fn an_absolute_search_path_the_rewrite_wrote_is_refused() {
    let before = findings(NAME, NAME, AARCH64);
    let out = apply(AARCH64, &runpath("/home/me/build/lib")).unwrap();
    let err = check(NAME, NAME, &before, &out).unwrap_err().to_string();
    assert_eq!(
        err,
        "rewritten file failed verification: the rewrite left a link problem the input did not have: \
         `pkg/libsmall.so` searches the absolute path /home/me/build/lib, which is not in the wheel"
    );
}

#[test]
fn a_finding_injected_into_the_rewritten_bytes_is_refused() {
    let before = findings(NAME, NAME, AARCH64);
    let out = apply(AARCH64, &runpath("$ORIGIN/../lib.xy")).unwrap();
    assert_eq!(check(NAME, NAME, &before, &out), Ok(()));
    let at = out.windows(17).position(|w| w == b"$ORIGIN/../lib.xy").expect("the runpath string");
    // the same length, in place: an absolute path, then one that climbs out
    let cases =
        [("/opt/build/lib.xy", "the absolute path /opt/build/lib.xy"), ("$ORIGIN/../../../", "above the directory")];
    for (bad, said) in cases {
        let mut injected = out.clone();
        injected[at..at + bad.len()].copy_from_slice(bad.as_bytes());
        let err = check(NAME, NAME, &before, &injected).unwrap_err().to_string();
        assert!(err.contains("`pkg/libsmall.so` searches") && err.contains(said), "{bad}: {err}");
    }
}

#[test]
fn a_finding_the_input_had_and_the_rewrite_kept_passes() {
    // an input that already searches its build directory (`--keep-rpaths`)
    let input = apply(AARCH64, &runpath("/home/me/build/lib")).unwrap();
    let before = findings(NAME, NAME, &input);
    assert_eq!(before.len(), 1, "{before:?}");
    let renamed = ElfEdits { set_soname: Some("libsmall-1a2b3c4d.so".to_string()), ..ElfEdits::default() };
    let out = apply(&input, &renamed).unwrap();
    assert_eq!(check(NAME, NAME, &before, &out), Ok(()));
    // a different absolute path is a new finding
    let out = apply(&input, &runpath("/home/me/other")).unwrap();
    assert!(check(NAME, NAME, &before, &out).unwrap_err().to_string().contains("/home/me/other"));
}

#[test]
fn a_version_need_left_without_its_needed_is_refused() {
    let before = findings(NAME, NAME, AARCH64);
    let out = apply(AARCH64, &runpath("$ORIGIN")).unwrap();
    assert_eq!(check(NAME, NAME, &before, &out), Ok(()));
    // point the DT_NEEDED entry (tag 1, followed by DT_SONAME, tag 14) at
    // the SONAME's string: the `.gnu.version_r` entry for libm.so.6 is
    // left without its DT_NEEDED
    let u64_at = |d: &[u8], i: usize| u64::from_le_bytes(d[i..i + 8].try_into().unwrap());
    let at = (0..out.len() - 32).step_by(8).find(|&i| u64_at(&out, i) == 1 && u64_at(&out, i + 16) == 14);
    let at = at.expect("DT_NEEDED then DT_SONAME");
    let mut injected = out.clone();
    injected.copy_within(at + 24..at + 32, at + 8);
    let err = check(NAME, NAME, &before, &injected).unwrap_err().to_string();
    assert!(
        err.ends_with("`pkg/libsmall.so` needs symbol versions from libm.so.6, which no DT_NEEDED entry names"),
        "{err}"
    );
}
