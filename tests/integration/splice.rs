//! A large patched entry is re-compressed by copying the deflate blocks of
//! the input that the patch left alone; the result must still be the exact
//! patched binary, which loads.

use std::path::PathBuf;

use crate::util::{build_chain, cc, make_wheel, noise, readelf_dynamic, rezip_with_zlib, text, wheelfix, zip_entries};

/// Half text, half noise: deflates into many blocks.
fn blob(len: usize) -> Vec<u8> {
    const TEXT: &[u8] = b"GLIBC_2.17 PyInit_ext libfoo.so.1 GLIBC_2.17 PyInit_ext libfoo.so.1 ";
    let mut v = noise(0x2545_F491, len);
    for chunk in v.chunks_mut(2 * TEXT.len()) {
        let n = chunk.len().min(TEXT.len());
        chunk[..n].copy_from_slice(&TEXT[..n]);
    }
    v
}

#[test]
fn a_large_extension_is_spliced_and_still_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let chain = build_chain(dir);
    let libdir = chain.lib_dir.to_str().unwrap();
    // a 3 MiB extension: the chain's extension plus a read-only blob
    let data = blob(3 << 20);
    let blob_path = dir.join("blob.bin");
    std::fs::write(&blob_path, &data).unwrap();
    let src = format!(
        "int foo(void);\nint PyInit_ext(void) {{ return foo(); }}\n\
         __asm__(\".section .rodata\\n.globl big_blob\\nbig_blob:\\n.incbin \\\"{}\\\"\\n.previous\");\n",
        blob_path.display()
    );
    let ext = dir.join("bigext.so");
    let rpath = format!("-Wl,-rpath,{libdir}");
    cc(dir, &src, &ext, &["-shared", "-L", libdir, "-l:libfoo.so.1", &rpath, "-Wl,--enable-new-dtags"]);
    let ext_bytes = std::fs::read(&ext).unwrap();
    assert!(ext_bytes.len() > 3 << 20);
    let wheel = make_wheel(
        dir,
        "bigpkg",
        "linux_x86_64",
        vec![("bigpkg/__init__.py".into(), Vec::new()), ("bigpkg/ext.so".into(), ext_bytes.clone())],
    );
    // deflated the way build tools do it, in zlib's blocks of some 16 KiB
    // of symbols (libdeflate, which wheelfix writes with, makes fewer)
    rezip_with_zlib(&wheel);

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
