//! The command's habits: drop-in flag spellings, the cibuildwheel lines of
//! `docs/ci.md` run exactly as written, colour and `NO_COLOR`, progress only
//! on a terminal, `-q`/`-v`, stdout for data, completions and man page, and
//! the SBOM written into repaired Linux wheels. Messages and help texts are
//! snapshots (`snapshots/*.snap`); output that names a cc-built wheel's best
//! tag or holds a whole completion script is checked fact by fact.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sha2::Digest;

use crate::snap::Filter;
use crate::util::{make_wheel, text, wheelfix};

const DEMO: &str = "fixtures/demo/demo-0.1-cp311-cp311-linux_x86_64.whl";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_wheel(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let archive = wheelfix::wheel::WheelArchive::open(path).unwrap();
    let mut out = BTreeMap::new();
    for (i, e) in archive.entries().iter().enumerate() {
        if !e.is_dir {
            out.insert(e.name.clone(), archive.read(i).unwrap());
        }
    }
    out
}

fn sha256_hex(data: &[u8]) -> String {
    sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn repair_demo(out: &Path, extra: &[&str]) -> Output {
    let demo = root().join(DEMO);
    let lib = root().join("fixtures/demo/lib");
    let mut args =
        vec!["repair", demo.to_str().unwrap(), "-w", out.to_str().unwrap(), "--lib-path", lib.to_str().unwrap()];
    args.extend_from_slice(extra);
    wheelfix(&args)
}

fn chain_wheel(dir: &Path) -> (PathBuf, PathBuf) {
    let (wheel, chain) = crate::util::chain_wheel(dir);
    (wheel, chain.lib_dir)
}

#[test]
fn sbom_lists_grafted_libraries_with_hashes() {
    let t = tempfile::tempdir().unwrap();
    let o = repair_demo(t.path(), &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = PathBuf::from(text(&o.stdout).trim());
    let entries = read_wheel(&out);
    let sbom_name = "demo-0.1.dist-info/sboms/wheelfix.cdx.json";
    let record = text(&entries["demo-0.1.dist-info/RECORD"]);
    let sbom_bytes = &entries[sbom_name];
    let line = record.lines().find(|l| l.starts_with(sbom_name)).expect("SBOM listed in RECORD");
    assert!(line.contains(&format!(",{}", sbom_bytes.len())), "{line}");
    let doc: Value = serde_json::from_slice(sbom_bytes).unwrap();
    assert_eq!(doc["bomFormat"], "CycloneDX");
    assert_eq!(doc["specVersion"], "1.4");
    let file_name = out.file_name().unwrap().to_str().unwrap();
    let wheel_purl = format!("pkg:pypi/demo@0.1?file_name={file_name}");
    assert_eq!(doc["metadata"]["component"]["purl"], wheel_purl.as_str());
    let comps = doc["components"].as_array().unwrap();
    assert_eq!(comps.len(), 3, "{doc:#}");
    // the two libraries the demo needs: no OS package owns them, so no purl, but hashes
    // of the files that were copied, computed here independently
    for (c, lib) in comps[1..].iter().zip(["libdemocore.so.1", "libdemoutil.so.1"]) {
        assert_eq!(c["name"], lib);
        assert!(c.get("purl").is_none(), "{c}");
        let want = sha256_hex(&std::fs::read(root().join("fixtures/demo/lib").join(lib)).unwrap());
        assert_eq!(c["hashes"][0]["alg"], "SHA-256");
        assert_eq!(c["hashes"][0]["content"], want.as_str());
        let grafted_as = c["properties"][1]["value"].as_str().unwrap();
        assert!(entries.contains_key(grafted_as), "{grafted_as} is in the wheel");
    }
    let depends = doc["dependencies"][0]["dependsOn"].as_array().unwrap();
    assert_eq!(depends.len(), 2);
    assert_eq!(doc["dependencies"][0]["ref"], wheel_purl.as_str());

    // deterministic: a second repair writes the same bytes
    let t2 = tempfile::tempdir().unwrap();
    let o2 = repair_demo(t2.path(), &[]);
    assert!(o2.status.success());
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(text(&o2.stdout).trim()).unwrap());
}

#[test]
fn sbom_names_the_package_that_owns_a_library() {
    // a target file system (--sysroot) whose dpkg database owns libfoo but not libbar
    let t = tempfile::tempdir().unwrap();
    let (wheel, libs) = chain_wheel(t.path());
    let sysroot = t.path().join("sysroot");
    let libdir = sysroot.join("usr/lib");
    std::fs::create_dir_all(&libdir).unwrap();
    for l in ["libfoo.so.1", "libbar.so.1"] {
        std::fs::copy(libs.join(l), libdir.join(l)).unwrap();
    }
    std::fs::create_dir_all(sysroot.join("var/lib/dpkg/info")).unwrap();
    std::fs::create_dir_all(sysroot.join("etc")).unwrap();
    std::fs::write(sysroot.join("etc/os-release"), "ID=debian\n").unwrap();
    std::fs::write(
        sysroot.join("var/lib/dpkg/status"),
        "Package: libfoo1\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.0-3\n",
    )
    .unwrap();
    std::fs::write(sysroot.join("var/lib/dpkg/info/libfoo1:amd64.list"), "/.\n/usr/lib\n/usr/lib/libfoo.so.1\n")
        .unwrap();
    let out_dir = t.path().join("out");
    let o = wheelfix(&[
        "repair",
        wheel.to_str().unwrap(),
        "-w",
        out_dir.to_str().unwrap(),
        "--sysroot",
        sysroot.to_str().unwrap(),
    ]);
    let entries = if o.status.success() {
        read_wheel(Path::new(text(&o.stdout).trim()))
    } else {
        panic!("repair with --sysroot failed: {}", text(&o.stderr));
    };
    let doc: Value = serde_json::from_slice(&entries["chainpkg-1.0.dist-info/sboms/wheelfix.cdx.json"]).unwrap();
    let comps = doc["components"].as_array().unwrap();
    let by_file: BTreeMap<&str, &Value> =
        comps[1..].iter().map(|c| (c["properties"][0]["value"].as_str().unwrap(), c)).collect();
    assert_eq!(by_file.len(), 2, "{doc:#}");
    let foo = by_file["libfoo.so.1"];
    assert_eq!(foo["purl"], "pkg:deb/debian/libfoo1@2.0-3?arch=amd64");
    assert_eq!(foo["name"], "libfoo1");
    assert_eq!(foo["version"], "2.0-3");
    assert_eq!(foo["hashes"][0]["content"], sha256_hex(&std::fs::read(libdir.join("libfoo.so.1")).unwrap()).as_str());
    let bar = by_file["libbar.so.1"];
    assert!(bar.get("purl").is_none());
    assert_eq!(bar["name"], "libbar.so.1");
}

#[test]
fn no_sbom_when_nothing_is_grafted() {
    let t = tempfile::tempdir().unwrap();
    let wheel = make_wheel(t.path(), "plain", "linux_x86_64", vec![("plain/__init__.py".into(), b"".to_vec())]);
    let o = wheelfix(&[
        "repair",
        wheel.to_str().unwrap(),
        "-w",
        t.path().join("o").to_str().unwrap(),
        "--allow-pure-python-wheel",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let entries = read_wheel(Path::new(text(&o.stdout).trim()));
    assert!(!entries.keys().any(|k| k.contains("sboms/")), "{:?}", entries.keys());
}

#[test]
fn drop_in_flag_spellings() {
    let t = tempfile::tempdir().unwrap();
    let (wheel, _libs) = chain_wheel(t.path());
    let w = wheel.to_str().unwrap();
    // delvewheel's `:` lists: excluding libbar (and a name that matches nothing) bundles libfoo only
    let out = t.path().join("a");
    let o = wheelfix(&[
        "repair",
        w,
        "--wheel-dir",
        out.to_str().unwrap(),
        "--no-dll",
        "libbar.so.1:libnothing.so",
        "--patcher",
        "patchelf",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let names: Vec<String> =
        read_wheel(Path::new(text(&o.stdout).trim())).into_keys().filter(|k| k.starts_with("chainpkg.libs/")).collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("chainpkg.libs/libfoo-"), "{names:?}");
    // delocate's -k and --sanitize-rpaths, auditwheel's -L, all accepted on a Linux wheel
    let out = t.path().join("b");
    let o = wheelfix(&["repair", w, "-w", out.to_str().unwrap(), "-k", "--sanitize-rpaths", "-L", ".mylibs"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let entries = read_wheel(Path::new(text(&o.stdout).trim()));
    assert_eq!(entries.keys().filter(|k| k.starts_with("chainpkg.mylibs/")).count(), 2);
    // flags wheelfix does not implement are refused by name, never ignored
    let f = Filter::new().dir(t.path(), "[TMP]");
    let mut refused = String::new();
    for flag in ["--dylibs-only", "-d", "--include-imports", "--include-symbols", "--custom-patch", "--with-mangle"] {
        let o = wheelfix(&["repair", w, "-w", t.path().join("c").to_str().unwrap(), flag]);
        assert_eq!(o.status.code(), Some(2), "{flag}");
        refused.push_str(&format!("===== repair {flag}\n{}", f.run(&o)));
        assert!(!t.path().join("c").exists(), "{flag}: nothing written");
    }
    crate::snapshot!("repair-unsupported-flags", refused);
    // auditwheel only has patchelf; anything else is a usage error
    let o = wheelfix(&["repair", w, "--patcher", "lief"]);
    assert_eq!(o.status.code(), Some(2));
}

/// The `repair-wheel-command` lines of docs/ci.md, by platform section.
fn cibuildwheel_lines() -> BTreeMap<String, String> {
    let doc = std::fs::read_to_string(root().join("docs/ci.md")).unwrap();
    let mut section = String::new();
    let mut out = BTreeMap::new();
    for line in doc.lines() {
        if let Some(s) = line.strip_prefix("[tool.cibuildwheel.").and_then(|s| s.strip_suffix(']')) {
            section = s.to_string();
        } else if let Some(v) = line.strip_prefix("repair-wheel-command = \"").and_then(|s| s.strip_suffix('"')) {
            out.insert(section.clone(), v.to_string());
        }
    }
    out
}

/// Runs `line` through `sh -c` in `cwd`, with `wheelfix` on PATH and the placeholders substituted.
fn run_line(line: &str, cwd: &Path, subs: &[(&str, &Path)], env: &[(&str, &Path)]) -> Output {
    let mut cmd = line.to_string();
    for (k, v) in subs {
        cmd = cmd.replace(k, &format!("'{}'", v.display()));
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_wheelfix")).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut c = Command::new("sh");
    c.arg("-c").arg(&cmd).current_dir(cwd).env("PATH", path).env("NO_COLOR", "1");
    for v in ["LD_LIBRARY_PATH", "AUDITWHEEL_PLAT", "MACOSX_DEPLOYMENT_TARGET", "DYLD_LIBRARY_PATH"] {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn cibuildwheel_lines_of_the_docs_work() {
    let lines = cibuildwheel_lines();
    assert_eq!(lines.keys().map(String::as_str).collect::<Vec<_>>(), ["linux", "macos", "windows"]);
    let t = tempfile::tempdir().unwrap();

    // Linux: the demo wheel, its libraries on LD_LIBRARY_PATH as in a cibuildwheel container
    let dest = t.path().join("linux-out");
    let demo = root().join(DEMO);
    let o = run_line(
        &lines["linux"],
        t.path(),
        &[("{wheel}", &demo), ("{dest_dir}", &dest)],
        &[("LD_LIBRARY_PATH", &root().join("fixtures/demo/lib"))],
    );
    assert!(o.status.success(), "{}: {}", lines["linux"], text(&o.stderr));
    let written = PathBuf::from(text(&o.stdout).trim());
    assert!(written.starts_with(&dest) && written.to_str().unwrap().contains("manylinux"), "{written:?}");
    assert_eq!(read_wheel(&written).keys().filter(|k| k.starts_with("demo.libs/")).count(), 2);

    // macOS: the arm64 fixture, libraries on DYLD_LIBRARY_PATH, {delocate_archs} = arm64
    let mac = root().join("fixtures/macho/arm64");
    let ext = "ext.cpython-312-darwin.so";
    let mwheel = make_wheel(
        t.path(),
        "fakepkg",
        "macosx_11_0_arm64",
        vec![
            ("fakepkg/__init__.py".into(), b"".to_vec()),
            (format!("fakepkg/{ext}"), std::fs::read(mac.join(ext)).unwrap()),
        ],
    );
    let dest = t.path().join("mac-out");
    let arch = PathBuf::from("arm64");
    let o = run_line(
        &lines["macos"],
        t.path(),
        &[("{wheel}", &mwheel), ("{dest_dir}", &dest), ("{delocate_archs}", &arch)],
        &[("DYLD_LIBRARY_PATH", &mac.join("deps"))],
    );
    assert!(o.status.success(), "{}: {}", lines["macos"], text(&o.stderr));
    // the same binaries as macos_repair.rs's repair of the same wheel
    crate::util::golden_wheel("macho/repair.thin-arm64", Path::new(text(&o.stdout).trim()));
    let dylibs: Vec<String> = read_wheel(Path::new(text(&o.stdout).trim()))
        .into_keys()
        .filter(|k| k.starts_with("fakepkg/.dylibs/"))
        .collect();
    assert_eq!(dylibs, ["fakepkg/.dylibs/libbar.dylib", "fakepkg/.dylibs/libfoo.dylib"]);

    // Windows: the MSVC x64 fixture, its DLLs in the project's deps/bin
    let project = t.path().join("project");
    let bin = project.join("deps/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let pe = root().join("fixtures/pe/msvc-x64");
    for d in ["foo.dll", "bar.dll"] {
        std::fs::copy(pe.join(d), bin.join(d)).unwrap();
    }
    let wwheel = make_wheel(
        t.path(),
        "winpkg",
        "win_amd64",
        vec![
            ("winpkg/__init__.py".into(), b"".to_vec()),
            ("winpkg/ext.cp311-win_amd64.pyd".into(), std::fs::read(pe.join("ext.pyd")).unwrap()),
        ],
    );
    let dest = t.path().join("win-out");
    let o = run_line(&lines["windows"], &project, &[("{wheel}", &wwheel), ("{dest_dir}", &dest)], &[]);
    assert!(o.status.success(), "{}: {}", lines["windows"], text(&o.stderr));
    let dlls: Vec<String> =
        read_wheel(Path::new(text(&o.stdout).trim())).into_keys().filter(|k| k.starts_with("winpkg.libs/")).collect();
    assert_eq!(dlls.len(), 2, "{dlls:?}");
}

#[test]
fn colour_follows_no_color_and_the_flag() {
    let missing = root().join(DEMO);
    let base = ["repair", missing.to_str().unwrap(), "-w", "/nonexistent-unused"];
    // util::wheelfix sets NO_COLOR=1 and stderr is a pipe
    let plain = wheelfix(&base);
    assert_eq!(plain.status.code(), Some(1));
    crate::snapshot!("repair-demo-missing-library", Filter::new().run(&plain));
    let err = text(&plain.stderr);
    assert!(!err.contains('\x1b'), "no escape codes without colour: {err:?}");
    let mut args = vec!["--color", "always"];
    args.extend_from_slice(&base);
    let forced = wheelfix(&args);
    let err = text(&forced.stderr);
    assert!(err.starts_with("\x1b[1;31merror:\x1b[0m "), "{err:?}");
    // the same words with the escapes taken out
    assert_eq!(err.replace("\x1b[1;31m", "").replace("\x1b[36m", "").replace("\x1b[0m", ""), text(&plain.stderr));
    // auto + CLICOLOR_FORCE, but NO_COLOR wins
    let o = Command::new(env!("CARGO_BIN_EXE_wheelfix"))
        .args(base)
        .env("CLICOLOR_FORCE", "1")
        .env("NO_COLOR", "1")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    assert!(!text(&o.stderr).contains('\x1b'));
    let o = Command::new(env!("CARGO_BIN_EXE_wheelfix"))
        .args(base)
        .env("CLICOLOR_FORCE", "1")
        .env_remove("NO_COLOR")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    assert!(text(&o.stderr).contains("\x1b[1;31merror:"));
}

#[test]
fn quiet_verbose_stdout_and_no_progress_on_a_pipe() {
    let t = tempfile::tempdir().unwrap();
    let (wheel, _) = chain_wheel(t.path());
    let demo = root().join(DEMO);
    let lib = root().join("fixtures/demo/lib");
    let out = t.path().join("out");
    let two = [
        "repair",
        demo.to_str().unwrap(),
        wheel.to_str().unwrap(),
        "-w",
        out.to_str().unwrap(),
        "--lib-path",
        lib.to_str().unwrap(),
    ];
    let o = wheelfix(&two);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // stdout: exactly the two written paths, nothing else
    let stdout = text(&o.stdout);
    let paths: Vec<&str> = stdout.lines().collect();
    assert_eq!(paths.len(), 2, "{stdout}");
    assert!(paths.iter().all(|p| Path::new(p).is_file() && p.ends_with(".whl")));
    let chain_name = Path::new(paths[1]).file_name().unwrap().to_str().unwrap();
    let f = Filter::new().dir(t.path(), "[TMP]").value(chain_name, "[THE REPAIRED CHAIN WHEEL]");
    crate::snapshot!("repair-two-wheels", f.run(&o));
    let err = text(&o.stderr);
    assert!(!err.contains("[1/2]") && !err.contains('\r'), "no progress on a pipe: {err:?}");
    assert!(!err.contains("bundled `"), "detail only with -v");

    let mut q = vec!["-q"];
    q.extend_from_slice(&two);
    let o = wheelfix(&q);
    assert!(o.status.success());
    assert_eq!(text(&o.stderr), "", "-q: nothing on stderr");
    assert_eq!(text(&o.stdout), stdout, "-q keeps the data");

    let mut v = vec!["-v"];
    v.extend_from_slice(&two);
    let o = wheelfix(&v);
    let err = text(&o.stderr);
    assert!(err.contains("bundled `") && err.contains("repairing `"), "{err}");
    assert!(wheelfix(&["-q", "-v", "show", demo.to_str().unwrap()]).status.code() == Some(2), "-q and -v conflict");
}

#[test]
fn several_wheels_at_once_report_in_the_order_given() {
    let t = tempfile::tempdir().unwrap();
    let (wheel, _) = chain_wheel(t.path());
    let demo = root().join(DEMO);
    let lib = root().join("fixtures/demo/lib");
    let broken = t.path().join("broken-1.0-cp311-cp311-linux_x86_64.whl");
    std::fs::write(&broken, b"not a zip").unwrap();
    for jobs in ["1", "2", "3"] {
        let out = t.path().join(format!("out{jobs}"));
        let args = [
            "repair",
            "-j",
            jobs,
            demo.to_str().unwrap(),
            broken.to_str().unwrap(),
            wheel.to_str().unwrap(),
            "-w",
            out.to_str().unwrap(),
            "--lib-path",
            lib.to_str().unwrap(),
        ];
        let o = wheelfix(&args);
        // the broken wheel fails (exit code 2), the two others are written
        assert_eq!(o.status.code(), Some(2), "-j {jobs}: {}", text(&o.stderr));
        let stdout = text(&o.stdout);
        let paths: Vec<&str> = stdout.lines().collect();
        assert_eq!(paths.len(), 2, "-j {jobs}: {stdout}");
        assert!(paths[0].contains("/demo-") && paths[1].contains("/chainpkg-"), "-j {jobs}: input order: {stdout}");
        let err = text(&o.stderr);
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{err}");
        crate::snapshot!("repair-batch-one-broken", Filter::new().dir(t.path(), "[TMP]").apply(errors[0]));
        // messages come in input order too: the demo's, the error, the chain's
        let demo_at = err.find("demo-").unwrap();
        let error_at = err.find("error:").unwrap();
        let chain_at = err.rfind("chainpkg-").unwrap();
        assert!(demo_at < error_at && error_at < chain_at, "-j {jobs}: {err}");
    }
}

#[test]
fn completions_man_page_and_help() {
    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef wheelfix"), ("fish", "complete -c wheelfix")] {
        let o = wheelfix(&["completions", shell]);
        assert!(o.status.success(), "{shell}");
        let s = text(&o.stdout);
        assert!(s.contains(marker), "{shell}: {}", &s[..s.len().min(200)]);
        for word in ["repair", "plat", "require-archs", "add-path", "no-mangle"] {
            assert!(s.contains(word), "{shell} completion knows {word}");
        }
        assert_eq!(text(&o.stderr), "");
    }
    let o = wheelfix(&["man"]);
    assert!(o.status.success());
    let man = text(&o.stdout);
    assert!(man.contains(".TH wheelfix 1"), "{}", &man[..man.len().min(200)]);
    assert!(man.contains("repair") && man.contains(".SH"), "sections and subcommands");
    // one page per subcommand, and every page a page refers to exists
    let o = wheelfix(&["man", "repair"]);
    assert!(o.status.success());
    let page = text(&o.stdout);
    assert!(page.contains(".TH wheelfix-repair 1"), "{}", &page[..page.len().min(200)]);
    assert!(page.contains("no\\-mangle"), "the page lists repair's flags");
    let o = wheelfix(&["man", "nosuch"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("no subcommand `nosuch`"), "{}", text(&o.stderr));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("man1");
    let o = wheelfix(&["man", "--all", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let mut pages: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    pages.sort();
    let want = ["check", "completions", "lddtree", "man", "merge", "repair", "show"];
    let mut expected: Vec<String> = want.iter().map(|s| format!("wheelfix-{s}.1")).collect();
    expected.push("wheelfix.1".into());
    assert_eq!(pages, expected);
    for p in &pages {
        let roff = std::fs::read_to_string(dir.join(p)).unwrap();
        for (i, _) in roff.match_indices("(1)") {
            let start = roff[..i].rfind(|c: char| c.is_whitespace() || c == 'B').map_or(0, |s| s + 1);
            let name = roff[start..i].replace("\\-", "-");
            assert!(pages.contains(&format!("{name}.1")), "{p} refers to {name}(1), which is not written");
        }
    }
    // listed in the help, which has examples
    let o = wheelfix(&["--help"]);
    crate::snapshot!("help", Filter::new().run(&o));
    let help = text(&o.stdout);
    for sub in ["completions", "man"] {
        assert!(help.lines().any(|l| l.trim_start().starts_with(&format!("{sub} "))), "{sub} is listed: {help}");
    }
    crate::snapshot!("repair-help", Filter::new().run(&wheelfix(&["repair", "--help"])));
    assert_eq!(wheelfix(&["--version"]).status.code(), Some(0));
    assert_eq!(wheelfix(&["--no-such-flag"]).status.code(), Some(2));
}
