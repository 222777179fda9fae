//! A repair checks its largest entry (from `WHEELFIX_PARTIAL_PATCH_ABOVE`
//! bytes, lowered here) on a thread of its own while it reads the rest,
//! plans and writes; the output is put in place only once that check
//! passed. The wheel it writes is the one a repair that checks the entry in
//! line writes, and a damaged entry stops it alike, with nothing written.

use std::path::Path;
use std::process::{Command, Output};

use crate::util::{build_chain, make_wheel, noise, text};

/// `wheelfix repair -j 2 WHEEL -w OUT`, with timings and `env` set.
fn repair(wheel: &Path, out: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wheelfix"));
    // two threads, whatever the machine: with one, nothing is checked aside
    cmd.args(["repair", "-j", "2", wheel.to_str().unwrap(), "-w", out.to_str().unwrap()])
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("AUDITWHEEL_PLAT")
        .env_remove("WHEELFIX_PARTIAL_PATCH_ABOVE")
        .env("WHEELFIX_TIMINGS", "1")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The lines of `stderr` that are not timings.
fn said(stderr: &[u8]) -> String {
    text(stderr).lines().filter(|l| !l.starts_with("timing:")).collect::<Vec<_>>().join("\n")
}

#[test]
fn the_largest_entry_is_checked_aside_and_a_damaged_one_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let chain = build_chain(dir);
    // 2 MiB of noise: deflated into stored blocks, its bytes stand in the zip as they are
    let blob = noise(0xA51DE, 2 << 20);
    let files = vec![
        ("asidepkg/__init__.py".to_string(), Vec::new()),
        ("asidepkg/ext.so".to_string(), std::fs::read(&chain.ext).unwrap()),
        ("asidepkg/data.bin".to_string(), blob.clone()),
    ];
    let wheel = make_wheel(dir, "asidepkg", "linux_x86_64", files);
    let low = [("WHEELFIX_PARTIAL_PATCH_ABOVE", "1048576")];
    let high = [];

    let inline = repair(&wheel, &dir.join("inline"), &high);
    assert_eq!(inline.status.code(), Some(0), "{}", text(&inline.stderr));
    assert!(!text(&inline.stderr).contains("checked aside"), "{}", text(&inline.stderr));
    let aside = repair(&wheel, &dir.join("aside"), &low);
    assert_eq!(aside.status.code(), Some(0), "{}", text(&aside.stderr));
    let err = text(&aside.stderr);
    assert!(err.lines().any(|l| l.ends_with(" asidepkg/data.bin checked aside")), "{err}");
    let waited = err.lines().position(|l| l.ends_with(" waiting for the checks aside")).expect(&err);
    let written = err.lines().position(|l| l.ends_with(" entries written")).expect(&err);
    assert!(written < waited, "the output is written before the check is waited for:\n{err}");
    let (a, b) = (text(&inline.stdout), text(&aside.stdout));
    assert!(std::fs::read(a.trim()).unwrap() == std::fs::read(b.trim()).unwrap(), "the two repairs differ");

    // one byte of the blob changed where it stands in the zip: its CRC-32
    // and RECORD hash no longer match
    let mut zip = std::fs::read(&wheel).unwrap();
    let probe = &blob[1 << 20..(1 << 20) + 64];
    let at = zip.windows(probe.len()).position(|w| w == probe).expect("the blob is stored as it is");
    zip[at + 7] ^= 0x5A;
    let damaged = dir.join("damaged").join(wheel.file_name().unwrap());
    std::fs::create_dir_all(damaged.parent().unwrap()).unwrap();
    std::fs::write(&damaged, &zip).unwrap();
    let (out_inline, out_aside) = (dir.join("out-inline"), dir.join("out-aside"));
    let inline = repair(&damaged, &out_inline, &high);
    let aside = repair(&damaged, &out_aside, &low);
    assert!(text(&aside.stderr).contains("asidepkg/data.bin checked aside"), "{}", text(&aside.stderr));
    assert_ne!(inline.status.code(), Some(0));
    assert_eq!(aside.status.code(), inline.status.code());
    let message = said(&aside.stderr);
    assert_eq!(message, said(&inline.stderr));
    assert!(message.contains("asidepkg/data.bin") && message.contains("CRC-32"), "{message}");
    let left: Vec<_> =
        std::fs::read_dir(&out_aside).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "written after a failed check: {left:?}");
}
