//! What the command takes and prints as data: `check` over wheel files and
//! directories in any mix, the one `--json` shape of `show` and `check`
//! (checked against `schema/*.schema.json`), and paths that cannot be used
//! told in words with a hint.

use std::path::Path;

use serde_json::Value;

use crate::util::{check_schema, make_wheel, text, wheelfix};

const DEMO: &str = "fixtures/demo/demo-0.1-cp311-cp311-linux_x86_64.whl";
const DEMO_LIB: &str = "fixtures/demo/lib";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The JSON on stdout, checked against `schema/NAME.schema.json`.
fn schema_checked(stdout: &[u8], name: &str) -> Value {
    let doc: Value = serde_json::from_slice(stdout).unwrap_or_else(|e| panic!("{e}: {}", text(stdout)));
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(format!("schema/{name}.schema.json"))).unwrap())
            .unwrap();
    check_schema(&schema, &schema, &doc, "$").unwrap_or_else(|e| panic!("{e}\n{doc}"));
    doc
}

/// A wheelhouse of one repaired demo wheel (0.1), and a pure wheel of the demo project's
/// version 1.0 outside it.
fn release(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let house = dir.join("house");
    let demo = root().join(DEMO);
    let out = wheelfix(&[
        "repair",
        demo.to_str().unwrap(),
        "--lib-path",
        root().join(DEMO_LIB).to_str().unwrap(),
        "-w",
        house.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pure = make_wheel(dir, "demo", "any", vec![("demo/__init__.py".into(), b"".to_vec())]);
    (house, pure)
}

#[test]
fn check_takes_files_and_directories_in_any_mix() {
    let tmp = tempfile::tempdir().unwrap();
    let (house, pure) = release(tmp.path());
    let repaired: Vec<_> = std::fs::read_dir(&house).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(repaired.len(), 1);
    let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_string();

    // a directory and a file: both wheels are checked, as one release
    let out = wheelfix(&["check", "--json", house.to_str().unwrap(), pure.to_str().unwrap()]);
    let doc = schema_checked(&out.stdout, "check");
    assert_eq!(doc["wheels"], serde_json::json!([name(&repaired[0]), name(&pure)]), "{doc}");
    // the second wheel is of version 1.0, the demo of 0.1: not one release
    assert_eq!(out.status.code(), Some(1), "{doc}");
    assert_eq!(doc["ok"], false);
    assert_eq!(
        doc["problems"],
        serde_json::json!([{"wheel": "-", "what": "the wheels belong to different projects or versions: demo 0.1, demo 1.0"}])
    );

    // files only (as a shell expands `dist/*.whl`); the same file twice counts once
    let r = repaired[0].to_str().unwrap();
    let out = wheelfix(&["check", "--json", r, r, "--expect-python", "cp311", "--expect-platform", "manylinux_x86_64"]);
    let doc = schema_checked(&out.stdout, "check");
    assert_eq!(doc["wheels"], serde_json::json!([name(&repaired[0])]), "{doc}");
    assert_eq!(doc["ok"], true, "{doc}");
    assert_eq!(doc["problems"], serde_json::json!([]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // the same wheel under a second name claims its tags twice: a problem, exit 1
    let copy = tmp.path().join(name(&repaired[0]));
    std::fs::copy(&repaired[0], &copy).unwrap();
    let out = wheelfix(&["check", "--json", house.to_str().unwrap(), copy.to_str().unwrap()]);
    let doc = schema_checked(&out.stdout, "check");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(doc["ok"], false);
    let problems = doc["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p["wheel"] == "-" && p["what"].as_str().unwrap().contains("claimed by 2 wheels")),
        "{doc}"
    );

    // the text table says the same
    let out = wheelfix(&["check", house.to_str().unwrap(), copy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("claimed by 2 wheels"), "{}", text(&out.stdout));
}

#[test]
fn show_json_has_one_shape_for_one_wheel_or_many() {
    let demo = root().join(DEMO);
    let d = demo.to_str().unwrap();
    let one = wheelfix(&["show", "--json", d]);
    assert_eq!(one.status.code(), Some(1));
    let one = schema_checked(&one.stdout, "show");
    assert_eq!(one["schema_version"], 2);
    assert_eq!(one["wheels"].as_array().unwrap().len(), 1);
    assert_eq!(one["wheels"][0]["wheel"], "demo-0.1-cp311-cp311-linux_x86_64.whl");

    // two wheels and a missing one: three objects in order, the missing one an error
    let missing = root().join("fixtures/demo/absent-1.0-py3-none-any.whl");
    let many = wheelfix(&["show", "--json", d, missing.to_str().unwrap(), d]);
    assert_eq!(many.status.code(), Some(2));
    let many = schema_checked(&many.stdout, "show");
    let wheels = many["wheels"].as_array().unwrap();
    assert_eq!(wheels.len(), 3);
    assert_eq!(wheels[0], one["wheels"][0]);
    assert_eq!(wheels[2], one["wheels"][0]);
    assert!(wheels[1]["error"].as_str().unwrap().contains("no such file or directory"), "{}", wheels[1]);
}

/// `error: …` then `hint: …`, nothing raw from the OS.
fn told(out: &std::process::Output, says: &str, hint: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with("error: ") && lines[0].contains(says), "{err}");
    assert!(lines[1].starts_with("hint: ") && lines[1].contains(hint), "{err}");
    assert!(!err.contains("os error"), "{err}");
}

#[test]
fn unusable_paths_are_told_in_words() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let demo = root().join(DEMO);
    let lib = root().join(DEMO_LIB);
    // a directory given as a wheel
    told(&wheelfix(&["show", dir]), "is a directory", "/*.whl`");
    told(&wheelfix(&["repair", dir, "-w", dir]), "is a directory", "/*.whl`");
    // a missing file, even with a name that is not a wheel's
    told(&wheelfix(&["show", "nope.whl"]), "`nope.whl`: no such file or directory", "check the path");
    told(&wheelfix(&["check", "nope"]), "`nope`: no such file or directory", "check the path");
    // `-w` that is a file: nothing is written, the file is left as it was
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"keep").unwrap();
    let out = wheelfix(&[
        "repair",
        demo.to_str().unwrap(),
        "--lib-path",
        lib.to_str().unwrap(),
        "-w",
        file.to_str().unwrap(),
    ]);
    told(&out, "is a file, not a directory", "give a directory");
    assert_eq!(std::fs::read(&file).unwrap(), b"keep");
}

#[test]
fn permission_denied_is_told_in_words() {
    let tmp = tempfile::tempdir().unwrap();
    let wheel = tmp.path().join("demo-0.1-cp311-cp311-linux_x86_64.whl");
    std::fs::copy(root().join(DEMO), &wheel).unwrap();
    std::fs::set_permissions(&wheel, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let w = wheel.to_str().unwrap();
    let out = if std::fs::File::open(&wheel).is_ok() {
        // root reads any file: run the command as `nobody` (util-linux's setpriv)
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_wheelfix"), "show", w])
            .env("NO_COLOR", "1")
            .output()
            .expect("setpriv (util-linux) runs the command as another user when the tests run as root")
    } else {
        wheelfix(&["show", w])
    };
    told(&out, "permission denied", "may read the file");
}

#[test]
fn show_promises_no_tag_a_repair_cannot_give() {
    let demo = root().join(DEMO);
    let d = demo.to_str().unwrap();
    // without --lib-path the demo's library is not found: no tag, the reason, the hint
    let out = wheelfix(&["show", d]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out.stdout);
    assert!(t.contains("  tag after repair: none, the repair would fail (see below)\n"), "{t}");
    assert!(!t.contains("manylinux"), "no tag may be promised:\n{t}");
    let repair = wheelfix(&["repair", d, "-w", tempfile::tempdir().unwrap().path().to_str().unwrap()]);
    let err = text(&repair.stderr);
    let reason = "required library `libdemocore.so.1` (needed by `demo/_native.cpython-311-x86_64-linux-gnu.so`) could not be located";
    assert!(err.contains(reason), "repair says: {err}");
    assert!(t.contains(&format!("  repair would fail: {reason}\n")), "{t}");
    let hint = err.lines().find(|l| l.starts_with("hint: ")).unwrap();
    assert!(t.contains(&format!("  {hint}\n")), "{t}");

    let doc = crate::util::one_wheel(schema_checked(&wheelfix(&["show", "--json", d]).stdout, "show"));
    assert_eq!(doc["tags"]["best"], serde_json::json!([]));
    assert_eq!(doc["repair_error"]["message"], reason);
    assert_eq!(format!("hint: {}", doc["repair_error"]["hint"].as_str().unwrap()), hint);

    // with it, the tag is there and nothing is said to fail
    let lib = root().join(DEMO_LIB);
    let out = wheelfix(&["show", d, "--lib-path", lib.to_str().unwrap()]);
    let t = text(&out.stdout);
    assert!(t.contains("  tag after repair: manylinux_"), "{t}");
    assert!(!t.contains("would fail"), "{t}");
    let doc = wheelfix(&["show", "--json", d, "--lib-path", lib.to_str().unwrap()]);
    let doc = crate::util::one_wheel(schema_checked(&doc.stdout, "show"));
    assert_eq!(doc["repair_error"], Value::Null);
    assert!(doc["tags"]["best"][0].as_str().unwrap().starts_with("manylinux_"), "{doc}");
}

#[test]
fn lddtree_finds_what_the_loader_finds() {
    let tmp = tempfile::tempdir().unwrap();
    let entries = crate::util::zip_entries(&root().join(DEMO));
    let ext = tmp.path().join("_native.so");
    std::fs::write(&ext, &entries["demo/_native.cpython-311-x86_64-linux-gnu.so"]).unwrap();
    let lib = std::fs::canonicalize(root().join(DEMO_LIB)).unwrap();
    let e = ext.to_str().unwrap();

    // not found without the library directory: said, exit 1
    let o = wheelfix(&["lddtree", e]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o.stdout), format!("{e}\n    libdemocore.so.1 => not found\n"));

    let o = wheelfix(&["lddtree", e, "--lib-path", lib.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let core = lib.join("libdemocore.so.1");
    let util = lib.join("libdemoutil.so.1");
    assert_eq!(
        text(&o.stdout),
        format!("{e}\n    libdemocore.so.1 => {}\n        libdemoutil.so.1 => {}\n", core.display(), util.display())
    );
    // ldd (glibc's loader) agrees, with the directory on LD_LIBRARY_PATH
    let ldd = std::process::Command::new("ldd").arg(&ext).env("LD_LIBRARY_PATH", &lib).output().unwrap();
    let ldd = text(&ldd.stdout);
    for p in [&core, &util] {
        assert!(ldd.contains(&p.display().to_string()), "ldd: {ldd}");
    }

    let o = wheelfix(&["lddtree", "--json", e, "--lib-path", lib.to_str().unwrap()]);
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["needed"], serde_json::json!(["libdemocore.so.1"]));
    assert_eq!(doc["libraries"]["libdemocore.so.1"]["needed"], serde_json::json!(["libdemoutil.so.1"]));
    assert_eq!(doc["libraries"]["libdemoutil.so.1"]["path"], util.to_str().unwrap());
    assert_eq!(doc["runpath"], serde_json::json!(["/opt/build/demo/lib"]));

    // a file that is not ELF, and a directory: errors in words
    let o = wheelfix(&["lddtree", root().join(DEMO).to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).starts_with("error: "), "{}", text(&o.stderr));
    let o = wheelfix(&["lddtree", tmp.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(text(&o.stderr), format!("error: `{}`: is a directory, not a file\n", tmp.path().display()));
}
