//! A large patched entry is re-compressed by copying the deflate blocks of
//! the input that the patch left alone; the result must still be the exact
//! patched binary, which loads.

use std::path::PathBuf;

use crate::util::{big_extension_wheel, readelf_dynamic, text, wheelfix, zip_entries, BigExtension};

#[test]
fn a_large_extension_is_spliced_and_still_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // a 3 MiB extension: the chain's extension plus a read-only blob of
    // half text, half noise, which deflates into many blocks
    let BigExtension { chain, data, wheel, ext_bytes } = big_extension_wheel(dir, 0x2545_F491, 3 << 20);
    assert!(ext_bytes.len() > 3 << 20);

    let out_dir = dir.join("out");
    let out = wheelfix(&["repair", "-v", wheel.to_str().unwrap(), "-w", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    // "`bigpkg/ext.so`: KEPT of TOTAL bytes kept as the input compressed them, ..."
    let line = err
        .lines()
        .find(|l| l.contains("`bigpkg/ext.so`: ") && l.contains(" bytes kept "))
        .unwrap_or_else(|| panic!("{err}"));
    let nums: Vec<u64> = line.split(' ').filter_map(|w| w.parse().ok()).collect();
    let (kept, total, fresh) = (nums[0], nums[1], nums[2]);
    assert_eq!(kept + fresh, total, "{line}");
    assert!(kept > total * 9 / 10, "most of the extension should be copied: {line}");

    // an independent reader (the zip crate) gets back a whole, verifying wheel
    let written = PathBuf::from(text(&out.stdout).trim());
    let archive = wheelfix::wheel::WheelArchive::open(&written).unwrap();
    archive.verify_all().unwrap();
    let entries = zip_entries(&written);
    let repaired = &entries["bigpkg/ext.so"];
    assert_eq!(repaired.len() as u64, total);
    assert!(repaired.windows(data.len().min(1 << 16)).any(|w| w == &data[..1 << 16]), "the blob is intact");
    assert_ne!(repaired, &ext_bytes, "the extension was patched");

    // the library's step-by-step path, where the repair inflates the
    // extension again instead of taking the bytes the analysis kept, writes
    // the same wheel byte for byte
    let options = wheelfix::RepairOptions {
        apply: wheelfix::ApplyOptions { wheel_dir: dir.join("out2"), ..Default::default() },
        ..Default::default()
    };
    let input = wheelfix::wheel::WheelArchive::open(&wheel).unwrap();
    let analysis = wheelfix::analyze::analyze_archive(&input, &options.analyze).unwrap();
    let mut plan = wheelfix::repair::plan(&input, &analysis, &options).unwrap();
    wheelfix::apply::sbom::attach(&input, &mut plan, std::path::Path::new("/")).unwrap();
    let again = wheelfix::repair::apply(&input, plan, &options).unwrap();
    assert!(std::fs::read(&again.output).unwrap() == std::fs::read(&written).unwrap(), "the two paths differ");

    // installed, it loads and calls into the grafted libraries, with the originals gone
    let site = dir.join("site");
    for (name, bytes) in &entries {
        let p = site.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
    }
    let dynamic = readelf_dynamic(&site.join("bigpkg/ext.so"));
    assert!(dynamic.contains("Library rpath: [$ORIGIN/../bigpkg.libs]"), "{dynamic}");
    crate::util::loads_with_libraries_gone(dir, &chain.lib_dir, &site.join("bigpkg/ext.so"));
}
