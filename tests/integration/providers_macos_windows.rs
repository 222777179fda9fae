//! Libraries other distributions provide (`--site-packages`) in macOS and
//! Windows wheels built from the committed fixtures: the extension's
//! `@rpath/libfoo.dylib` or `foo.dll` is shipped by a fake distribution
//! installed in a temporary site-packages, so it is linked where that
//! distribution installs it, not bundled, and the wheel requires it.

use std::path::{Path, PathBuf};

use crate::macho::assert_signatures;
use crate::util::{make_wheel, text, wheelfix, zip_entries};

fn fixture(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {} missing ({e})", p.display()))
}

/// A site-packages at `dir/site` where `fakefoo 2.0+cpu` installs `lib` as
/// `rel` (a local version label, which a `>=` requirement leaves out).
fn site_with(dir: &Path, rel: &str, lib: Vec<u8>) -> PathBuf {
    let site = dir.join("site");
    let info = site.join("fakefoo-2.0.dist-info");
    std::fs::create_dir_all(site.join(rel).parent().unwrap()).unwrap();
    std::fs::create_dir_all(&info).unwrap();
    std::fs::write(site.join(rel), lib).unwrap();
    std::fs::write(info.join("METADATA"), "Metadata-Version: 2.1\nName: fakefoo\nVersion: 2.0+cpu\n").unwrap();
    std::fs::write(info.join("RECORD"), format!("{rel},,\nfakefoo-2.0.dist-info/METADATA,,\n")).unwrap();
    site
}

/// `wheelfix repair WHEEL -w DIR --site-packages SITE`, which must succeed:
/// the entries of the wheel it wrote, and what it said.
fn repair(wheel: &Path, dir: &Path, site: &Path) -> (std::collections::BTreeMap<String, Vec<u8>>, String) {
    let out = dir.join("house");
    let args =
        ["repair", wheel.to_str().unwrap(), "-w", out.to_str().unwrap(), "--site-packages", site.to_str().unwrap()];
    let o = wheelfix(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    (zip_entries(&PathBuf::from(text(&o.stdout).trim())), text(&o.stderr))
}

#[test]
fn macos_provided_dylib_is_reached_through_a_loader_path_rpath() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_with(tmp.path(), "fakefoo/lib/libfoo.dylib", fixture("macho/arm64/deps/libfoo.dylib"));
    let ext = "fakepkg/ext.cpython-312-darwin.so";
    let files = vec![
        ("fakepkg/__init__.py".to_string(), b"".to_vec()),
        (ext.to_string(), fixture("macho/arm64/ext.cpython-312-darwin.so")),
    ];
    let wheel = make_wheel(tmp.path(), "fakepkg", "macosx_11_0_arm64", files);
    let before = assert_signatures(&fixture("macho/arm64/ext.cpython-312-darwin.so"));
    assert!(before[0].libs.contains(&"@rpath/libfoo.dylib".to_string()), "{:?}", before[0].libs);

    let (entries, said) = repair(&wheel, tmp.path(), &site);
    assert!(said.contains("warning: added `Requires-Dist: fakefoo>=2.0` to METADATA"), "{said}");
    assert!(!entries.keys().any(|n| n.contains(".dylibs/")), "nothing bundled: {:?}", entries.keys());
    let views = assert_signatures(&entries[ext]);
    for v in &views {
        assert!(v.libs.contains(&"@rpath/libfoo.dylib".to_string()), "{:?}", v.libs);
        assert!(v.rpaths.contains(&"@loader_path/../fakefoo/lib".to_string()), "{:?}", v.rpaths);
        // what is left of the fixture's rpaths: only those relative to the file
        assert!(v.rpaths.iter().all(|r| r.starts_with("@loader_path/")), "{:?}", v.rpaths);
    }
    let metadata = text(&entries["fakepkg-1.0.dist-info/METADATA"]);
    assert!(metadata.ends_with("Version: 1.0\nRequires-Dist: fakefoo>=2.0\n"), "{metadata}");

    // show names the provider, and says the wheel needs repair until the rpath is there
    let o = wheelfix(&["show", wheel.to_str().unwrap(), "--site-packages", site.to_str().unwrap()]);
    let out = text(&o.stdout);
    assert!(out.contains("@rpath/libfoo.dylib => ") && out.contains("[provided by fakefoo 2.0+cpu]"), "{out}");
    assert_eq!(o.status.code(), Some(1), "{out}");
    let repaired = std::fs::read_dir(tmp.path().join("house")).unwrap().next().unwrap().unwrap().path();
    let o = wheelfix(&["show", repaired.to_str().unwrap(), "--site-packages", site.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
}

#[test]
fn windows_provided_dll_directory_is_added_by_the_init_block() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_with(tmp.path(), "fakefoo/bin/foo.dll", fixture("pe/mingw-x86_64/foo.dll"));
    let pyd = "fakepkg/ext.cp311-win_amd64.pyd";
    let files = vec![
        ("fakepkg/__init__.py".to_string(), b"VALUE = 1\n".to_vec()),
        (pyd.to_string(), fixture("pe/mingw-x86_64/ext.pyd")),
    ];
    let wheel = make_wheel(tmp.path(), "fakepkg", "win_amd64", files);
    let (entries, said) = repair(&wheel, tmp.path(), &site);
    assert!(said.contains("warning: added `Requires-Dist: fakefoo>=2.0` to METADATA"), "{said}");
    assert!(
        said.contains("no DLLs to bundle; the DLL directories of other distributions are added at import: fakefoo/bin"),
        "{said}"
    );
    assert!(!entries.keys().any(|n| n.starts_with("fakepkg.libs/")), "nothing bundled: {:?}", entries.keys());
    assert_eq!(entries[pyd], fixture("pe/mingw-x86_64/ext.pyd"), "the extension keeps its import of foo.dll");
    let init = text(&entries["fakepkg/__init__.py"]);
    let lines = "    import os\n\
                 \x20   site_dir = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir))\n\
                 \x20   for provider_dir in ('fakefoo/bin',):\n\
                 \x20       provider_dir = os.path.join(site_dir, *provider_dir.split('/'))\n\
                 \x20       if hasattr(os, 'add_dll_directory') and os.path.isdir(provider_dir):\n\
                 \x20           os.add_dll_directory(provider_dir)\n\
                 \x20   libs_dir = ";
    assert!(init.contains(lines), "{init}");
    assert!(
        init.starts_with("# start delvewheel patch\n") && init.ends_with("# end delvewheel patch\n\nVALUE = 1\n"),
        "{init}"
    );
    let metadata = text(&entries["fakepkg-1.0.dist-info/METADATA"]);
    assert!(metadata.ends_with("Requires-Dist: fakefoo>=2.0\n"), "{metadata}");
}
