//! delvewheel's flags that public CI configurations use, accepted with the
//! same meaning: `--ignore-existing` (a DLL anywhere in the wheel satisfies
//! an import), `--analyze-existing` (the wheel's own DLLs are walked too),
//! `--analyze-existing-exes` (what wheelfix always does); and delvewheel's
//! search order, `--add-path` then `PATH`. Built on the mingw fixtures:
//! `ext.pyd` imports `foo.dll`, which imports `bar.dll`.

use std::path::{Path, PathBuf};

use crate::util::{make_wheel, text, wheelfix, zip_entries};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pe/mingw-x86_64").join(name)).unwrap()
}

/// The DLL names a PE file imports, read with goblin.
fn imports(d: &[u8]) -> Vec<String> {
    let pe = goblin::pe::PE::parse(d).unwrap();
    pe.libraries.iter().map(|s| s.to_string()).collect()
}

/// A directory holding only `bar.dll`.
fn bar_only(dir: &Path) -> PathBuf {
    let d = dir.join("deps");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("bar.dll"), fixture("bar.dll")).unwrap();
    d
}

fn repair(wheel: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["repair", "-w", out.to_str().unwrap(), wheel.to_str().unwrap()];
    args.extend_from_slice(extra);
    wheelfix(&args)
}

#[test]
fn ignore_existing_finds_a_dll_anywhere_in_the_wheel() {
    let tmp = tempfile::tempdir().unwrap();
    let deps = bar_only(tmp.path());
    let d = deps.to_str().unwrap();
    // foo.dll is in the wheel, but not beside the extension that imports it
    let files = vec![
        ("fakepkg/__init__.py".to_string(), b"".to_vec()),
        ("fakepkg/ext.cp311-win_amd64.pyd".to_string(), fixture("ext.pyd")),
        ("fakepkg/lib/foo.dll".to_string(), fixture("foo.dll")),
    ];
    let wheel = make_wheel(tmp.path(), "fakepkg", "win_amd64", files);
    let plain = repair(&wheel, &tmp.path().join("plain"), &["--add-path", d]);
    assert_eq!(plain.status.code(), Some(1), "{}", text(&plain.stderr));
    assert!(text(&plain.stderr).contains("required library `foo.dll`"), "{}", text(&plain.stderr));

    for flag in ["--ignore-existing", "--ignore-in-wheel"] {
        let out = repair(&wheel, &tmp.path().join(flag), &["--add-path", d, flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}: {}", text(&out.stderr));
        let e = zip_entries(Path::new(text(&out.stdout).trim()));
        // foo.dll stays where it is, under its own name; bar.dll, which it imports, is bundled
        let libs: Vec<&String> = e.keys().filter(|k| k.starts_with("fakepkg.libs/")).collect();
        assert_eq!(libs.len(), 1, "{libs:?}");
        assert!(libs[0].starts_with("fakepkg.libs/bar-"), "{libs:?}");
        let bar = libs[0].trim_start_matches("fakepkg.libs/");
        assert_eq!(imports(&e["fakepkg/lib/foo.dll"]).iter().filter(|i| *i == bar).count(), 1);
        assert!(imports(&e["fakepkg/ext.cp311-win_amd64.pyd"]).contains(&"foo.dll".to_string()));
    }
}

#[test]
fn analyze_existing_walks_the_wheels_own_dlls() {
    let tmp = tempfile::tempdir().unwrap();
    let deps = bar_only(tmp.path());
    let d = deps.to_str().unwrap();
    // the extension's `foo.dll` beside it is a leaf (bar.dll's bytes, which import only
    // system DLLs); a plugin no extension loads (foo.dll's bytes) imports bar.dll
    let files = vec![
        ("fakepkg/__init__.py".to_string(), b"".to_vec()),
        ("fakepkg/ext.cp311-win_amd64.pyd".to_string(), fixture("ext.pyd")),
        ("fakepkg/foo.dll".to_string(), fixture("bar.dll")),
        ("fakepkg/plugins/plug.dll".to_string(), fixture("foo.dll")),
    ];
    let wheel = make_wheel(tmp.path(), "fakepkg", "win_amd64", files);
    let show = |extra: &[&str]| {
        let mut args = vec!["show", "--json", wheel.to_str().unwrap(), "--add-path", d];
        args.extend_from_slice(extra);
        let doc = crate::util::one_wheel(serde_json::from_slice(&wheelfix(&args).stdout).unwrap());
        let names: Vec<String> = doc["libraries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["status"] != "system")
            .map(|l| format!("{} {}", l["name"], l["status"]))
            .collect();
        names
    };
    let foo = "\"fakepkg/foo.dll\" \"in-wheel\"";
    assert_eq!(show(&[]), [foo]);
    assert_eq!(show(&["--analyze-existing"]), [foo, "\"bar.dll\" \"bundle\""]);

    let out = |name: &str, extra: &[&str]| {
        let mut args = vec!["--add-path", d];
        args.extend_from_slice(extra);
        let o = repair(&wheel, &tmp.path().join(name), &args);
        assert!(o.status.success(), "{name}: {}", text(&o.stderr));
        zip_entries(Path::new(text(&o.stdout).trim()))
    };
    // without the flag nothing is bundled and the plugin is left as it is
    let plain = out("plain", &[]);
    assert!(!plain.keys().any(|k| k.starts_with("fakepkg.libs/")), "{:?}", plain.keys());
    assert!(plain["fakepkg/plugins/plug.dll"] == fixture("foo.dll"), "the plugin was rewritten");
    // with it, bar.dll is bundled (renamed) and the plugin imports it by its new name
    let walked = out("walked", &["--analyze-existing"]);
    let bar: Vec<&String> = walked.keys().filter(|k| k.starts_with("fakepkg.libs/bar-")).collect();
    assert_eq!(bar.len(), 1, "{:?}", walked.keys());
    let bar = bar[0].trim_start_matches("fakepkg.libs/").to_string();
    let plug = imports(&walked["fakepkg/plugins/plug.dll"]);
    assert!(plug.contains(&bar) && !plug.contains(&"bar.dll".to_string()), "{plug:?}");

    // --analyze-existing-exes is what wheelfix always does: the same bytes with and without it
    assert!(out("exes", &["--analyze-existing-exes"]) == plain, "--analyze-existing-exes changed the output");
}

#[test]
fn version_is_answered_by_every_subcommand() {
    // delocate-wheel --version, auditwheel repair … --version: a CI line that prints the
    // tool's version works with the subcommand too
    let want = format!("wheelfix {}\n", env!("CARGO_PKG_VERSION"));
    for args in [vec!["--version"], vec!["repair", "--version"], vec!["show", "--version"], vec!["check", "--version"]]
    {
        let o = wheelfix(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        let out = text(&o.stdout);
        assert!(out.starts_with("wheelfix") && out.ends_with(&want[8..]), "{args:?}: {out}");
    }
}

/// `repair` of a mingw wheel (`ext.pyd` → `foo.dll` → `bar.dll`) with `PATH`
/// set to `path` (then the usual `PATH`), and `extra` flags.
fn repair_with_path(tmp: &Path, path: &std::ffi::OsStr, name: &str, extra: &[&str]) -> std::process::Output {
    let files = vec![
        ("fakepkg/__init__.py".to_string(), b"".to_vec()),
        ("fakepkg/ext.cp311-win_amd64.pyd".to_string(), fixture("ext.pyd")),
    ];
    let wheel = make_wheel(tmp, "fakepkg", "win_amd64", files);
    std::process::Command::new(env!("CARGO_BIN_EXE_wheelfix"))
        .args(["repair", "-w", tmp.join(name).to_str().unwrap(), wheel.to_str().unwrap()])
        .args(extra)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn path_is_searched_after_add_path_like_delvewheel() {
    let tmp = tempfile::tempdir().unwrap();
    // PATH: a directory without DLLs, then one with foo.dll and bar.dll
    let (empty, dlls) = (tmp.path().join("empty"), tmp.path().join("dlls"));
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::create_dir_all(&dlls).unwrap();
    for n in ["foo.dll", "bar.dll"] {
        std::fs::write(dlls.join(n), fixture(n)).unwrap();
    }
    let system = std::env::var_os("PATH").unwrap_or_default();
    let path =
        std::env::join_paths([empty.clone(), dlls.clone()].into_iter().chain(std::env::split_paths(&system))).unwrap();
    // without --add-path, both DLLs are found on PATH and bundled
    let o = repair_with_path(tmp.path(), &path, "from-path", &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let e = zip_entries(Path::new(text(&o.stdout).trim()));
    let libs: Vec<&String> = e.keys().filter(|k| k.starts_with("fakepkg.libs/")).collect();
    assert_eq!(libs.len(), 2, "{libs:?}");
    assert!(
        libs.iter().any(|l| l.starts_with("fakepkg.libs/foo-"))
            && libs.iter().any(|l| l.starts_with("fakepkg.libs/bar-"))
    );

    // --add-path comes first: its foo.dll (foo-debug.dll's bytes) is the one bundled
    let first = tmp.path().join("first");
    std::fs::create_dir_all(&first).unwrap();
    std::fs::write(first.join("foo.dll"), fixture("foo-debug.dll")).unwrap();
    let o = repair_with_path(tmp.path(), &path, "add-path-first", &["--add-path", first.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let e = zip_entries(Path::new(text(&o.stdout).trim()));
    // the mangled name hashes the bundled bytes (delvewheel's scheme): foo-debug's, not foo's
    let hash = |parts: &[&[u8]]| -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>()[..32].to_string()
    };
    let bar = hash(&[&fixture("bar.dll")]);
    let want = format!("fakepkg.libs/foo-{}.dll", hash(&[bar.as_bytes(), &[0], &fixture("foo-debug.dll")]));
    let other = format!("fakepkg.libs/foo-{}.dll", hash(&[bar.as_bytes(), &[0], &fixture("foo.dll")]));
    assert!(e.contains_key(&want), "{want} not in {:?}", e.keys());
    assert!(!e.contains_key(&other));

    // the same without the DLL directory on PATH: foo.dll is missing
    let o = repair_with_path(
        tmp.path(),
        &std::env::join_paths([empty].into_iter().chain(std::env::split_paths(&system))).unwrap(),
        "none",
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("required library `foo.dll`"), "{}", text(&o.stderr));
}
