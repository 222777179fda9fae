//! `wheelfix repair` on Windows wheels built from the committed PE fixtures
//! (`fixtures/pe/`): the chain ext.pyd → foo.dll → bar.dll, with the DLLs
//! copied to a scratch directory passed as `--lib-path`.
//!
//! Everything is read back without wheelfix: the zip crate and sha2 for the
//! archive and RECORD, goblin for import tables, a small reader below for
//! delay-load descriptors, and the mangled names are recomputed here from
//! the rule (sha256 over the deps' hashes, each NUL-terminated, then the
//! file bytes; 32 hex digits). Each written wheel is also compared with its
//! golden dump in `tests/golden/pe/repair.*.txt` (every binary dumped by
//! `pe_dump.rs`), and each message with its snapshot (`snapshots/windows-*.snap`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::snap::Filter;
use crate::util::{golden_wheel, make_wheel, text, wheelfix};

fn fixture(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pe").join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {} missing ({e})", path.display()))
}

/// Copies `foo.dll` and `bar.dll` of a fixture set into `dir/deps`.
fn deps(dir: &Path, set: &str) -> PathBuf {
    let d = dir.join("deps");
    std::fs::create_dir_all(&d).unwrap();
    for n in ["foo.dll", "bar.dll"] {
        std::fs::write(d.join(n), fixture(&format!("{set}/{n}"))).unwrap();
    }
    d
}

/// Every entry of a zip: name → bytes.
fn unzip(path: &Path) -> BTreeMap<String, Vec<u8>> {
    crate::util::zip_entries(path)
}

/// Checks every RECORD row against the entries, and that every entry has a row.
fn check_record(entries: &BTreeMap<String, Vec<u8>>) {
    let (rec_name, rec) = entries.iter().find(|(n, _)| n.ends_with(".dist-info/RECORD")).expect("RECORD");
    let rows: Vec<&str> = std::str::from_utf8(rec).unwrap().lines().collect();
    assert_eq!(rows.len(), entries.len(), "one RECORD row per entry");
    for row in rows {
        let mut parts = row.rsplitn(3, ',');
        let size = parts.next().unwrap();
        let hash = parts.next().unwrap();
        let name = parts.next().unwrap();
        let data = entries.get(name).unwrap_or_else(|| panic!("RECORD names a missing entry {name}"));
        if name == rec_name {
            assert_eq!((hash, size), ("", ""));
            continue;
        }
        let want = format!("sha256={}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(data)));
        assert_eq!(hash, want, "{name}");
        assert_eq!(size, data.len().to_string(), "{name}");
    }
}

fn hex32(h: Sha256) -> String {
    h.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>()[..32].to_string()
}

/// The mangled names of the fixture chain: bar is a leaf, foo imports bar.
fn expected_names(set: &str) -> (String, String) {
    let mut h = Sha256::new();
    h.update(fixture(&format!("{set}/bar.dll")));
    let bar = hex32(h);
    let mut h = Sha256::new();
    h.update(bar.as_bytes());
    h.update([0]);
    h.update(fixture(&format!("{set}/foo.dll")));
    let foo_hash = hex32(h);
    (format!("foo-{foo_hash}.dll"), format!("bar-{bar}.dll"))
}

fn imports(d: &[u8]) -> Vec<String> {
    let pe = goblin::pe::PE::parse(d).expect("goblin parses the output");
    pe.import_data.map(|i| i.import_data.iter().map(|e| e.name.to_string()).collect()).unwrap_or_default()
}

fn machine(d: &[u8]) -> u16 {
    goblin::pe::PE::parse(d).unwrap().header.coff_header.machine
}

/// Delay-load DLL names, read with goblin's section table only.
fn delay_imports(d: &[u8]) -> Vec<String> {
    let pe = goblin::pe::PE::parse(d).unwrap();
    let opt = pe.header.optional_header.unwrap();
    let Some(dir) = opt.data_directories.get_delay_import_descriptor() else { return Vec::new() };
    let image_base = opt.windows_fields.image_base;
    let off = |rva: u32| -> usize {
        let s = pe
            .sections
            .iter()
            .find(|s| rva >= s.virtual_address && rva < s.virtual_address + s.virtual_size.max(s.size_of_raw_data))
            .expect("RVA in a section");
        (rva - s.virtual_address + s.pointer_to_raw_data) as usize
    };
    let le32 = |o: usize| u32::from_le_bytes(d[o..o + 4].try_into().unwrap());
    let mut out = Vec::new();
    let base = off(dir.virtual_address);
    for k in 0..64 {
        let at = base + k * 32;
        let (attrs, name) = (le32(at), le32(at + 4));
        if name == 0 {
            break;
        }
        let rva = if attrs & 1 == 1 { name } else { (u64::from(name) - image_base) as u32 };
        let o = off(rva);
        let end = d[o..].iter().position(|&b| b == 0).unwrap();
        out.push(String::from_utf8(d[o..o + end].to_vec()).unwrap());
    }
    out
}

struct Repaired {
    out: PathBuf,
    entries: BTreeMap<String, Vec<u8>>,
    stderr: String,
}

fn repair(wheel: &Path, out: &Path, extra: &[&str]) -> Repaired {
    let mut args = vec!["repair", "-w", out.to_str().unwrap(), wheel.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = wheelfix(&args);
    assert!(o.status.success(), "repair failed: {}", text(&o.stderr));
    let path = PathBuf::from(text(&o.stdout).trim());
    Repaired { entries: unzip(&path), out: path, stderr: text(&o.stderr) }
}

const INIT: &str = "# header\r\n\"\"\"The package.\r\n\r\nWith a \"\"\\\"quoted\\\"\"\" part.\"\"\"\r\nfrom __future__ import (\r\n    annotations,\r\n)\r\nVALUE = 1\r\n";

/// Repairs a one-extension wheel of fixture set `set` and checks the result.
fn chain(set: &str, plat: &str, want_machine: u16, pyds: &[&str]) -> (tempfile::TempDir, Repaired) {
    let tmp = tempfile::tempdir().unwrap();
    let deps = deps(tmp.path(), set);
    let mut files = vec![("fakepkg/__init__.py".to_string(), INIT.as_bytes().to_vec())];
    for p in pyds {
        files.push((format!("fakepkg/{p}.cp311-{plat}.pyd"), fixture(&format!("{set}/{p}.pyd"))));
    }
    let wheel = make_wheel(tmp.path(), "fakepkg", plat, files);
    let r = repair(&wheel, &tmp.path().join("out"), &["--lib-path", deps.to_str().unwrap()]);
    golden_wheel(&format!("pe/repair.{set}"), &r.out);
    let (foo_name, bar) = expected_names(set);
    let e = &r.entries;
    let foo_data =
        e.get(&format!("fakepkg.libs/{foo_name}")).unwrap_or_else(|| panic!("{set}: no {foo_name} in {:?}", e.keys()));
    let bar_data = e.get(&format!("fakepkg.libs/{bar}")).expect("bar bundled");
    let foo_imports = imports(foo_data);
    assert!(foo_imports.contains(&bar), "{set}: foo imports the mangled bar: {foo_imports:?}");
    assert!(!foo_imports.iter().any(|n| n.eq_ignore_ascii_case("bar.dll")), "{set}: {foo_imports:?}");
    assert!(imports(bar_data).iter().all(|i| !i.to_ascii_lowercase().starts_with("foo")));
    for p in pyds {
        let d = &e[&format!("fakepkg/{p}.cp311-{plat}.pyd")];
        assert_eq!(machine(d), want_machine);
        let all: Vec<String> = imports(d).into_iter().chain(delay_imports(d)).collect();
        assert!(all.contains(&foo_name), "{set}/{p}: imports {all:?}");
        assert!(!all.iter().any(|n| n.eq_ignore_ascii_case("foo.dll")), "{set}/{p}: old name left: {all:?}");
    }
    for d in [foo_data, bar_data] {
        assert_eq!(machine(d), want_machine);
    }
    // only the two DLLs were added, nothing else is in the libs dir
    assert_eq!(e.keys().filter(|k| k.starts_with("fakepkg.libs/")).count(), 2);
    check_record(e);
    (tmp, r)
}

#[test]
fn mingw_x86_64_chain_init_and_marker() {
    let (tmp, r) = chain("mingw-x86_64", "win_amd64", 0x8664, &["ext"]);
    let (foo_name, bar) = expected_names("mingw-x86_64");
    // __init__.py: header, docstring and future import kept first, CRLF kept
    let init = text(&r.entries["fakepkg/__init__.py"]);
    let head = "# header\r\n\"\"\"The package.\r\n\r\nWith a \"\"\\\"quoted\\\"\"\" part.\"\"\"\r\nfrom __future__ import (\r\n    annotations,\r\n)\r\n\r\n# start delvewheel patch\r\n";
    assert!(init.starts_with(head), "{init}");
    assert!(init.ends_with("# end delvewheel patch\r\n\r\nVALUE = 1\r\n"), "{init}");
    assert!(!init.replace("\r\n", "").contains('\n'), "CRLF only");
    assert!(init.contains("os.path.join(os.path.dirname(__file__), os.pardir, 'fakepkg.libs')"), "{init}");
    assert!(init.contains("os.add_dll_directory(libs_dir)"));
    assert!(!init.contains("load-order"), "cp311: no pre-3.8 fallback");
    // marker
    let marker = text(&r.entries["fakepkg-1.0.dist-info/WHEELFIX"]);
    assert!(marker.starts_with(&format!("Version: {}\n", env!("CARGO_PKG_VERSION"))));
    assert!(marker.contains(&format!("Bundled: foo.dll -> fakepkg.libs/{foo_name}")), "{marker}");
    assert!(marker.contains(&format!("Bundled: bar.dll -> fakepkg.libs/{bar}")), "{marker}");
    // tags unchanged
    assert!(r.out.file_name().unwrap().to_str().unwrap().ends_with("-cp311-cp311-win_amd64.whl"));
    assert!(text(&r.entries["fakepkg-1.0.dist-info/WHEEL"]).contains("Tag: cp311-cp311-win_amd64\n"));
    // a second repair is a no-op (no --lib-path needed: nothing is looked up)
    let again = repair(&r.out, &tmp.path().join("again"), &[]);
    crate::snapshot!("windows-repair-a-repaired-wheel", Filter::new().dir(tmp.path(), "[TMP]").apply(&again.stderr));
    assert_eq!(again.entries, r.entries);
}

#[test]
fn mingw_i686_chain() {
    chain("mingw-i686", "win32", 0x14c, &["ext"]);
}

#[test]
fn msvc_x64_delay_load() {
    let (_t, r) = chain("msvc-x64", "win_amd64", 0x8664, &["ext", "ext_delay"]);
    let (foo_name, _) = expected_names("msvc-x64");
    let d = &r.entries["fakepkg/ext_delay.cp311-win_amd64.pyd"];
    assert_eq!(delay_imports(d), vec![foo_name], "the delay import is renamed");
}

#[test]
fn msvc_arm64_chain() {
    let (_t, r) = chain("msvc-arm64", "win_arm64", 0xaa64, &["ext", "ext_delay"]);
    let (foo_name, _) = expected_names("msvc-arm64");
    assert_eq!(delay_imports(&r.entries["fakepkg/ext_delay.cp311-win_arm64.pyd"]), vec![foo_name]);
}

#[test]
fn machine_mismatch_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let deps = deps(tmp.path(), "mingw-x86_64");
    let files = vec![("fakepkg/ext.cp311-win32.pyd".to_string(), fixture("mingw-x86_64/ext.pyd"))];
    let wheel = make_wheel(tmp.path(), "fakepkg", "win32", files);
    let o = wheelfix(&[
        "repair",
        "-w",
        tmp.path().join("out").to_str().unwrap(),
        wheel.to_str().unwrap(),
        "--lib-path",
        deps.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    crate::snapshot!("windows-machine-mismatch", Filter::new().dir(tmp.path(), "[TMP]").run(&o));
    assert!(!tmp.path().join("out").join(wheel.file_name().unwrap()).exists());
}

#[test]
fn missing_dll_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let files = vec![("fakepkg/ext.pyd".to_string(), fixture("msvc-x64/ext.pyd"))];
    let wheel = make_wheel(tmp.path(), "fakepkg", "win_amd64", files);
    let o = wheelfix(&["repair", "-w", tmp.path().join("out").to_str().unwrap(), wheel.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    crate::snapshot!("windows-missing-dll", Filter::new().dir(tmp.path(), "[TMP]").run(&o));
}

/// A copy where each initialised-data section's VirtualSize covers its raw
/// data (as far as the next section and SizeOfImage allow): no slack left.
fn without_slack(d: &[u8]) -> Vec<u8> {
    let pe = goblin::pe::PE::parse(d).unwrap();
    let opt = pe.header.optional_header.unwrap();
    let table = pe.header.dos_header.pe_pointer as usize + 24 + pe.header.coff_header.size_of_optional_header as usize;
    let image_end = opt.windows_fields.size_of_image;
    let align = opt.windows_fields.section_alignment;
    let mut out = d.to_vec();
    for (i, s) in pe.sections.iter().enumerate() {
        let next = pe.sections.iter().map(|o| o.virtual_address).filter(|&v| v > s.virtual_address).min();
        let full = s.size_of_raw_data.min(next.unwrap_or(u32::MAX) - s.virtual_address).max(s.virtual_size);
        let fits = (s.virtual_address + full).div_ceil(align) * align <= image_end;
        if s.characteristics & 0x40 != 0 && full > s.virtual_size && fits {
            let at = table + i * 40 + 8;
            out[at..at + 4].copy_from_slice(&full.to_le_bytes());
        }
    }
    out
}

/// foo.dll with MinGW debug info (an overlay) and too little slack for the
/// mangled bar name: an error naming the remedies; `--strip` and
/// `--no-mangle bar.dll` each make it work.
#[test]
fn overlay_without_room() {
    let tmp = tempfile::tempdir().unwrap();
    let deps = deps(tmp.path(), "mingw-x86_64");
    let foo_debug = without_slack(&fixture("mingw-x86_64/foo-debug.dll"));
    assert!(goblin::pe::PE::parse(&foo_debug).is_ok());
    std::fs::write(deps.join("foo.dll"), &foo_debug).unwrap();
    let files = vec![("fakepkg/ext.pyd".to_string(), fixture("mingw-x86_64/ext.pyd"))];
    let wheel = make_wheel(tmp.path(), "fakepkg", "win_amd64", files);
    let out = tmp.path().join("out");
    let base = ["repair", "-w", out.to_str().unwrap(), wheel.to_str().unwrap(), "--lib-path", deps.to_str().unwrap()];
    let o = wheelfix(&base);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    crate::snapshot!("windows-overlay-without-room", Filter::new().dir(tmp.path(), "[TMP]").run(&o));

    let mut args = base.to_vec();
    args.push("--strip");
    let o = wheelfix(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    golden_wheel("pe/repair.overlay-strip", Path::new(text(&o.stdout).trim()));
    let e = unzip(Path::new(text(&o.stdout).trim()));
    let foo_dll = e.iter().find(|(k, _)| k.starts_with("fakepkg.libs/foo-")).expect("foo bundled").1;
    assert!(imports(foo_dll)[0].starts_with("bar-"), "{:?}", imports(foo_dll));
    assert!(foo_dll.len() < foo_debug.len(), "stripped");
    check_record(&e);

    let mut args = base.to_vec();
    args.extend(["--no-mangle", "bar.dll"]);
    let o = wheelfix(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    golden_wheel("pe/repair.overlay-no-mangle-bar", Path::new(text(&o.stdout).trim()));
    let e = unzip(Path::new(text(&o.stdout).trim()));
    assert!(e.contains_key("fakepkg.libs/bar.dll"), "{:?}", e.keys());
    let foo_dll = e.iter().find(|(k, _)| k.starts_with("fakepkg.libs/foo-")).expect("foo mangled").1;
    assert_eq!(imports(foo_dll)[0], "bar.dll");
    // a no-mangled dep does not enter foo's hash: sha256 of the file alone
    let mut h = Sha256::new();
    h.update(&foo_debug);
    assert!(e.contains_key(&format!("fakepkg.libs/foo-{}.dll", hex32(h))));
}

#[test]
fn top_level_extension_goes_to_platlib() {
    let tmp = tempfile::tempdir().unwrap();
    let deps = deps(tmp.path(), "msvc-x64");
    let files = vec![
        ("ext.cp311-win_amd64.pyd".to_string(), fixture("msvc-x64/ext.pyd")),
        ("helper/__init__.py".to_string(), b"\"\"\"Helper.\"\"\"\n".to_vec()),
        ("other/mod.py".to_string(), b"x = 1\n".to_vec()),
    ];
    let wheel = make_wheel(tmp.path(), "fakepkg", "win_amd64", files);
    let r = repair(&wheel, &tmp.path().join("out"), &["--lib-path", deps.to_str().unwrap()]);
    golden_wheel("pe/repair.top-level", &r.out);
    let (foo_name, bar) = expected_names("msvc-x64");
    for n in [&foo_name, &bar] {
        assert!(r.entries.contains_key(&format!("fakepkg-1.0.data/platlib/{n}")), "{:?}", r.entries.keys());
    }
    assert!(!r.entries.keys().any(|k| k.starts_with("fakepkg.libs/")));
    assert!(imports(&r.entries["ext.cp311-win_amd64.pyd"]).contains(&foo_name));
    let helper = text(&r.entries["helper/__init__.py"]);
    assert!(helper.starts_with("\"\"\"Helper.\"\"\"\n\n# start delvewheel patch\n"), "{helper}");
    assert!(helper.contains("os.pardir, '.')"), "site-packages itself: {helper}");
    // a package without __init__.py gets one
    assert!(text(&r.entries["other/__init__.py"]).starts_with("# start delvewheel patch\n"));
    check_record(&r.entries);
}

/// A wheel `{name}-1.0-{py}-{py}-{plat}.whl` (make_wheel is cp311 only).
fn make_wheel_py(dir: &Path, name: &str, py: &str, plat: &str, files: Vec<(String, Vec<u8>)>) -> PathBuf {
    let filename: wheelfix::wheel::WheelFilename = format!("{name}-1.0-{py}-{py}-{plat}.whl").parse().unwrap();
    let di = filename.dist_info_dir();
    let mut entries: Vec<(String, Vec<u8>, u32)> = files.into_iter().map(|(n, d)| (n, d, 0o644)).collect();
    entries.push((
        format!("{di}/METADATA"),
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n").into_bytes(),
        0o644,
    ));
    let wheel = format!("Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: {py}-{py}-{plat}\n");
    entries.push((format!("{di}/WHEEL"), wheel.into_bytes(), 0o644));
    wheelfix::wheel::writer::write_new_wheel(dir, &filename, entries, &Default::default()).unwrap()
}

#[test]
fn no_mangle_all_and_namespace_package() {
    let tmp = tempfile::tempdir().unwrap();
    let deps = deps(tmp.path(), "msvc-x64");
    let files = vec![
        ("ns/sub/ext.pyd".to_string(), fixture("msvc-x64/ext.pyd")),
        ("ns/tool.py".to_string(), b"#!/usr/bin/env python\nimport os\n".to_vec()),
    ];
    let wheel = make_wheel(tmp.path(), "nspkg", "win_amd64", files);
    let r = repair(
        &wheel,
        &tmp.path().join("out"),
        &["--lib-path", deps.to_str().unwrap(), "--no-mangle-all", "--namespace-pkg", "ns"],
    );
    golden_wheel("pe/repair.no-mangle-all-namespace", &r.out);
    assert!(r.entries.contains_key("nspkg.libs/foo.dll") && r.entries.contains_key("nspkg.libs/bar.dll"));
    assert_eq!(imports(&r.entries["ns/sub/ext.pyd"]), imports(&fixture("msvc-x64/ext.pyd")), "names kept");
    assert_eq!(imports(&r.entries["nspkg.libs/foo.dll"]), vec!["bar.dll".to_string()]);
    // the namespace root gets no __init__.py; its module and sub-package are patched
    assert!(!r.entries.contains_key("ns/__init__.py"));
    let tool = text(&r.entries["ns/tool.py"]);
    assert!(tool.starts_with("#!/usr/bin/env python\n\n# start delvewheel patch\n"), "{tool}");
    assert!(tool.ends_with("# end delvewheel patch\n\nimport os\n"), "{tool}");
    assert!(tool.contains("os.pardir, 'nspkg.libs'"));
    let sub = text(&r.entries["ns/sub/__init__.py"]);
    assert!(sub.contains("os.pardir, os.pardir, 'nspkg.libs'"), "{sub}");
    check_record(&r.entries);
}

/// Tags that allow Python < 3.10 get delvewheel's fallback: a load-order
/// file listing the bundled DLLs, preloaded where `add_dll_directory` is
/// missing or ignored.
#[test]
fn old_python_gets_the_load_order_fallback() {
    let tmp = tempfile::tempdir().unwrap();
    let deps = deps(tmp.path(), "mingw-x86_64");
    let files = vec![("pkg/ext.pyd".to_string(), fixture("mingw-x86_64/ext.pyd"))];
    let wheel = make_wheel_py(tmp.path(), "oldpkg", "cp37", "win_amd64", files);
    let r = repair(&wheel, &tmp.path().join("out"), &["--lib-path", deps.to_str().unwrap()]);
    golden_wheel("pe/repair.cp37-load-order", &r.out);
    let (foo_name, bar) = expected_names("mingw-x86_64");
    let order = text(&r.entries["oldpkg.libs/.load-order-oldpkg-1.0"]);
    let mut listed: Vec<&str> = order.lines().collect();
    listed.sort();
    assert_eq!(listed, vec![bar.as_str(), foo_name.as_str()]);
    let init = text(&r.entries["pkg/__init__.py"]);
    assert!(init.contains("'.load-order-oldpkg-1.0'") && init.contains("LoadLibraryExW"), "{init}");
    check_record(&r.entries);
}
