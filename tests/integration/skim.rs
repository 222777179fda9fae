//! `show` reads a deflated ELF file of 64 MiB or more only at its start
//! and its end, inflating the end from a deflate block found in the middle
//! of the stream; `show --verify` reads every byte. The two must report the
//! same, and only the second (like `check`) sees damage in between.

use std::path::Path;
use std::process::Command;

use crate::util::{big_extension_wheel, text, BigExtension};

/// `wheelfix ARGS` with the stage timings on: (exit code, stdout, stderr).
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wheelfix"))
        .args(args)
        .env("WHEELFIX_TIMINGS", "1")
        .env("NO_COLOR", "1")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// Damages 64 bytes in the middle of the stored bytes of `name` in the zip
/// at `wheel`, where neither its start nor its end lies.
fn damage_middle(wheel: &Path, name: &str) {
    let (start, len) = {
        let mut z = zip::ZipArchive::new(std::fs::File::open(wheel).unwrap()).unwrap();
        let f = z.by_name(name).unwrap();
        (f.data_start().unwrap(), f.compressed_size())
    };
    let mut bytes = std::fs::read(wheel).unwrap();
    let at = (start + len / 2) as usize;
    for b in &mut bytes[at..at + 64] {
        *b ^= 0x5A;
    }
    std::fs::write(wheel, bytes).unwrap();
}

#[test]
fn show_skims_a_huge_library_and_reports_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    // a 72 MiB extension: its code and dynamic data before and after a
    // read-only blob of text and noise, zlib's blocks of some 16 KiB
    let BigExtension { wheel, .. } = big_extension_wheel(tmp.path(), 0x5EED_0F0A, 72 << 20);
    let w = wheel.to_str().unwrap();

    let (code, skim, err) = run(&["show", "--json", w]);
    assert!(err.contains("bigpkg/ext.so read sparsely"), "{err}");
    let line = err.lines().find(|l| l.contains("read sparsely")).unwrap();
    let mib: Vec<u64> = line.split(' ').filter_map(|x| x.parse().ok()).collect();
    assert!(mib[mib.len() - 2] * 4 < mib[mib.len() - 1], "most of it is not read: {line}");
    let (whole_code, whole, whole_err) = run(&["show", "--json", "--verify", w]);
    assert!(!whole_err.contains("sparsely"), "{whole_err}");
    assert_eq!(code, whole_code);
    assert_eq!(skim, whole, "the two reads report differently");
    let (_, skim_text, _) = run(&["show", w]);
    let (_, whole_text, _) = run(&["show", "--verify", w]);
    assert_eq!(skim_text, whole_text);
    assert!(skim_text.contains("libfoo.so.1"), "{skim_text}");

    // damage in the middle is not read by `show`, and is by `--verify` and `check`
    damage_middle(&wheel, "bigpkg/ext.so");
    let (damaged_code, damaged, err) = run(&["show", "--json", w]);
    assert!(err.contains("bigpkg/ext.so read sparsely"), "{err}");
    assert_eq!((damaged_code, &damaged), (code, &skim));
    let (verify_code, _, verify_err) = run(&["show", "--verify", w]);
    assert_eq!(verify_code, Some(2), "{verify_err}");
    assert!(verify_err.contains("bigpkg/ext.so"), "{verify_err}");
    let (check_code, _, check_err) = run(&["check", w]);
    assert_ne!(check_code, Some(0), "{check_err}");
}
