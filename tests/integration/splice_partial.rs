//! A patched entry at or above the size from which a repair patches in part
//! (lowered here with `WHEELFIX_PARTIAL_PATCH_ABOVE`) is read, patched and
//! spliced without being held whole: the wheel must be the one the whole-file
//! path writes, byte for byte, and the library must still load.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{big_extension_wheel, loads_with_libraries_gone, text, zip_entries, BigExtension};

/// `wheelfix repair -v WHEEL -w OUT`, with `env` set.
fn repair(wheel: &Path, out: &Path, env: &[(&str, &str)]) -> (PathBuf, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wheelfix"));
    cmd.args(["repair", "-v", wheel.to_str().unwrap(), "-w", out.to_str().unwrap()])
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("AUDITWHEEL_PLAT")
        .env_remove("WHEELFIX_PARTIAL_PATCH_ABOVE")
        .env_remove("WHEELFIX_PARTIAL_MARGIN")
        .env_remove("WHEELFIX_TIMINGS")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out: Output = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    (PathBuf::from(text(&out.stdout).trim()), text(&out.stderr))
}

#[test]
fn a_large_extension_patched_in_part_is_the_same_and_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // a 6 MiB extension (read in part from 4 MiB): the chain's extension
    // plus a read-only blob of text and noise, in many deflate blocks
    let BigExtension { chain, wheel, ext_bytes, .. } = big_extension_wheel(dir, 0x9E37_79B9, 6 << 20);

    let (whole, whole_err) = repair(&wheel, &dir.join("whole"), &[("WHEELFIX_TIMINGS", "1")]);
    assert!(!whole_err.contains("in part"), "{whole_err}");
    let (part, part_err) =
        repair(&wheel, &dir.join("part"), &[("WHEELFIX_TIMINGS", "1"), ("WHEELFIX_PARTIAL_PATCH_ABOVE", "1048576")]);
    assert!(part_err.contains("patched bigpkg/ext.so in part"), "{part_err}");
    // its new stream, as large as a huge entry's, went through a spill file
    assert!(part_err.contains("spilled the new stream of bigpkg/ext.so"), "{part_err}");
    assert!(!whole_err.contains("spilled"), "{whole_err}");
    // it starts from the parts the analysis read and kept, with no pass of its own
    assert!(!part_err.contains("read bigpkg/ext.so in part"), "{part_err}");
    assert!(std::fs::read(&part).unwrap() == std::fs::read(&whole).unwrap(), "the two paths differ");
    // with 4 KiB kept around each write instead of 5 MiB, the splice needs
    // more of the blocks the writes touch than the pass kept: it is made
    // again, with them, and the wheel is the same
    let small =
        [("WHEELFIX_TIMINGS", "1"), ("WHEELFIX_PARTIAL_PATCH_ABOVE", "1048576"), ("WHEELFIX_PARTIAL_MARGIN", "4096")];
    let (again, again_err) = repair(&wheel, &dir.join("again"), &small);
    assert_eq!(again_err.matches("read bigpkg/ext.so indexed in part").count(), 2, "{again_err}");
    assert_eq!(part_err.matches("read bigpkg/ext.so indexed in part").count(), 1, "{part_err}");
    assert!(std::fs::read(&again).unwrap() == std::fs::read(&whole).unwrap(), "the pass made again differs");
    // most of the stream is still copied
    let line = part_err.lines().find(|l| l.contains("`bigpkg/ext.so`: ") && l.contains(" bytes kept ")).unwrap();
    let nums: Vec<u64> = line.split(' ').filter_map(|w| w.parse().ok()).collect();
    assert!(nums[0] > nums[1] * 9 / 10, "{line}");

    let archive = wheelfix::wheel::WheelArchive::open(&part).unwrap();
    archive.verify_all().unwrap();
    let entries = zip_entries(&part);
    assert_ne!(entries["bigpkg/ext.so"], ext_bytes, "the extension was patched");
    let site = dir.join("site");
    for (name, bytes) in &entries {
        let p = site.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
    }
    loads_with_libraries_gone(dir, &chain.lib_dir, &site.join("bigpkg/ext.so"));
}
