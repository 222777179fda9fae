//! What the command prints, as insta snapshots (`snapshots/*.snap`, see
//! `snap.rs` for the one filter applied): `show` text and `--json` on the
//! demo wheel and on macOS and Windows wheels built from the committed
//! fixtures, `check` on a small wheelhouse, and errors the other modules do
//! not already snapshot (a symbol version newer than the requested tag).

use std::path::PathBuf;

use crate::snap::{root, wheelfix_in, Filter};
use crate::util::{check_schema, make_wheel};

const DEMO: &str = "fixtures/demo/demo-0.1-cp311-cp311-linux_x86_64.whl";

/// The JSON of a `show --json` run, checked against the published schema.
fn schema_checked(stdout: &[u8]) {
    let doc: serde_json::Value = serde_json::from_slice(stdout).expect("show --json prints JSON");
    let schema: serde_json::Value = serde_json::from_str(include_str!("../../schema/show.schema.json")).unwrap();
    check_schema(&schema, &schema, &doc, "$").unwrap();
}

/// `show` and `show --json` of `wheel` with `--lib-path libs`, run in `dir`:
/// snapshots `name` and `name-json` (the JSON also checked against the schema).
fn show_text_and_json(dir: &std::path::Path, wheel: &std::path::Path, libs: &std::path::Path, name: &str) {
    let f = Filter::new().dir(dir, "[TMP]");
    for json in [false, true] {
        let mut args = vec!["show", wheel.to_str().unwrap(), "--lib-path", libs.to_str().unwrap()];
        if json {
            args.insert(1, "--json");
        }
        let o = wheelfix_in(dir, &args);
        if json {
            schema_checked(&o.stdout);
        }
        let snap = if json { format!("{name}-json") } else { name.to_string() };
        crate::snapshot!(snap.as_str(), f.run(&o));
    }
}

#[test]
fn show_the_demo_wheel() {
    let f = Filter::new();
    let runs = [
        ("show-demo", vec!["show", DEMO]),
        ("show-demo-lib-path", vec!["show", DEMO, "--lib-path", "fixtures/demo/lib"]),
        ("show-demo-json", vec!["show", "--json", DEMO]),
        ("show-demo-lib-path-json", vec!["show", "--json", DEMO, "--lib-path", "fixtures/demo/lib"]),
    ];
    for (name, args) in runs {
        let o = wheelfix_in(&root(), &args);
        if args[1] == "--json" {
            schema_checked(&o.stdout);
        }
        crate::snapshot!(name, f.run(&o));
    }
}

/// The macOS wheel of `macos_repair.rs`: the arm64 extension, its two
/// libraries in a directory given as `--lib-path`.
#[test]
fn show_a_macos_wheel() {
    let t = tempfile::tempdir().unwrap();
    let mac = root().join("fixtures/macho/arm64");
    let ext = "ext.cpython-312-darwin.so";
    let wheel = make_wheel(
        t.path(),
        "fakepkg",
        "macosx_11_0_arm64",
        vec![
            ("fakepkg/__init__.py".into(), Vec::new()),
            (format!("fakepkg/{ext}"), std::fs::read(mac.join(ext)).unwrap()),
        ],
    );
    show_text_and_json(t.path(), &wheel, &mac.join("deps"), "show-macos");
}

/// The Windows wheel of `windows_repair.rs`: the MSVC x64 extension and its
/// delay-loading twin, `foo.dll` and `bar.dll` in a directory given as `--lib-path`.
#[test]
fn show_a_windows_wheel() {
    let t = tempfile::tempdir().unwrap();
    let pe = root().join("fixtures/pe/msvc-x64");
    let deps = t.path().join("deps");
    std::fs::create_dir_all(&deps).unwrap();
    for d in ["foo.dll", "bar.dll"] {
        std::fs::copy(pe.join(d), deps.join(d)).unwrap();
    }
    let mut files = vec![("fakepkg/__init__.py".to_string(), Vec::new())];
    for p in ["ext", "ext_delay"] {
        files.push((format!("fakepkg/{p}.cp311-win_amd64.pyd"), std::fs::read(pe.join(format!("{p}.pyd"))).unwrap()));
    }
    let wheel = make_wheel(t.path(), "fakepkg", "win_amd64", files);
    show_text_and_json(t.path(), &wheel, &deps, "show-windows");
}

/// A wheelhouse of demo wheels: one repaired, one left as built, one whose
/// name claims a manylinux tag it does not meet, one whose name does not
/// match its dist-info; and the macOS wheel, checked against a matrix.
#[test]
fn check_a_small_wheelhouse() {
    let t = tempfile::tempdir().unwrap();
    let house = t.path().join("house");
    let o = wheelfix_in(&root(), &["repair", DEMO, "--lib-path", "fixtures/demo/lib", "-w", house.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let demo = root().join(DEMO);
    std::fs::copy(&demo, house.join("demo-0.1-cp311-cp311-linux_x86_64.whl")).unwrap();
    std::fs::copy(&demo, house.join("demo-0.1-cp312-cp312-manylinux_2_17_x86_64.whl")).unwrap();
    std::fs::copy(&demo, house.join("demo-0.2-cp311-cp311-linux_x86_64.whl")).unwrap();
    let f = Filter::new().dir(t.path(), "[TMP]");
    let plain =
        wheelfix_in(t.path(), &["check", "house", "--lib-path", root().join("fixtures/demo/lib").to_str().unwrap()]);
    crate::snapshot!("check-wheelhouse", f.run(&plain));
    let matrix = wheelfix_in(
        t.path(),
        &["check", "house", "--expect-python", "cp311,cp312", "--expect-platform", "manylinux_x86_64,macosx_arm64"],
    );
    crate::snapshot!("check-wheelhouse-matrix", f.run(&matrix));
    // only the repaired wheel: ready, and silent on stdout
    let ready: PathBuf = t.path().join("ready");
    std::fs::create_dir_all(&ready).unwrap();
    for e in std::fs::read_dir(&house).unwrap().flatten() {
        if e.file_name().to_string_lossy().contains("manylinux1_x86_64.manylinux_2_5") {
            std::fs::copy(e.path(), ready.join(e.file_name())).unwrap();
        }
    }
    let ok =
        wheelfix_in(t.path(), &["check", "ready", "--expect-python", "cp311", "--expect-platform", "manylinux_x86_64"]);
    crate::snapshot!("check-ready", f.run(&ok));
}

/// An extension calling `getrandom` (GLIBC_2.25) repaired for
/// `manylinux2014_x86_64` (glibc 2.17): the symbol version is too new.
#[test]
fn a_symbol_version_newer_than_the_requested_tag() {
    let t = tempfile::tempdir().unwrap();
    let so = t.path().join("ext.so");
    crate::util::cc(
        t.path(),
        "#include <sys/random.h>\nint PyInit_ext(void) { char b[4]; return (int)getrandom(b, 4, 0); }\n",
        &so,
        &["-shared"],
    );
    let wheel = make_wheel(
        t.path(),
        "newsym",
        "linux_x86_64",
        vec![("newsym/__init__.py".into(), Vec::new()), ("newsym/ext.so".into(), std::fs::read(&so).unwrap())],
    );
    let out = t.path().join("out");
    let o = wheelfix_in(
        t.path(),
        &["repair", wheel.to_str().unwrap(), "-w", out.to_str().unwrap(), "--plat", "manylinux2014_x86_64"],
    );
    crate::snapshot!("repair-symbol-too-new", Filter::new().dir(t.path(), "[TMP]").run(&o));
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(), "nothing written");
}
