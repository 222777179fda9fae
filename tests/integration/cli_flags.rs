//! Flags checked before work starts: values no flag takes are errors, flags
//! of another platform's wheels are warnings naming them, `-v` prints what
//! `--help` says it prints.

use std::path::Path;

use crate::util::{text, wheelfix};

const DEMO: &str = "fixtures/demo/demo-0.1-cp311-cp311-linux_x86_64.whl";
const DEMO_LIB: &str = "fixtures/demo/lib";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `repair` of the demo wheel with `extra` flags into `out`: (exit code, stdout, stderr).
fn repair_demo(out: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let demo = root().join(DEMO);
    let lib = root().join(DEMO_LIB);
    let mut args =
        vec!["repair", demo.to_str().unwrap(), "--lib-path", lib.to_str().unwrap(), "-w", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = wheelfix(&args);
    (o.status.code(), text(&o.stdout), text(&o.stderr))
}

#[test]
fn unknown_require_archs_values_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in ["arm64,pdp11", "x86-64", ""] {
        let (code, stdout, stderr) = repair_demo(&tmp.path().join("out"), &["--require-archs", bad]);
        assert_eq!(code, Some(2), "{bad}: {stderr}");
        assert!(stdout.is_empty());
        assert!(stderr.starts_with(&format!("error: `--require-archs {bad}`: unknown architecture")), "{stderr}");
        assert!(stderr.contains("expected intel, universal2, x86_64, arm64, i386"), "{stderr}");
        assert!(!tmp.path().join("out").exists(), "nothing is written");
    }
    // every documented name is accepted (on a Linux wheel: a warning, not an error)
    let (code, _, stderr) =
        repair_demo(&tmp.path().join("ok"), &["--require-archs", "intel, universal2,x86_64,arm64,i386"]);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn another_platforms_flags_are_named_in_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, plain_out, plain_err) = repair_demo(&tmp.path().join("plain"), &[]);
    assert_eq!(code, Some(0), "{plain_err}");
    assert!(!plain_err.contains("warning:"), "{plain_err}");
    let (code, out, err) = repair_demo(
        &tmp.path().join("flags"),
        &["--no-mangle", "vcruntime*", "--namespace-pkg", "ns", "--require-archs", "arm64", "--keep-rpaths"],
    );
    assert_eq!(code, Some(0), "{err}");
    let want = "warning: `demo-0.1-cp311-cp311-linux_x86_64.whl` is a Linux wheel: `--require-archs` (macOS), \
                `--no-mangle` (Windows), `--namespace-pkg` (Windows) do nothing for it\n";
    assert!(err.starts_with(want), "{err}");
    assert_eq!(err.matches("warning:").count(), 1, "{err}");
    // and they did nothing: the same bytes as without them (bar --keep-rpaths, a Linux flag,
    // which the demo's build-tree RUNPATH makes a difference for)
    let (_, again, _) = repair_demo(&tmp.path().join("again"), &["--no-mangle", "x", "--require-archs", "arm64"]);
    let bytes = |s: &str| std::fs::read(s.trim()).unwrap();
    assert_eq!(bytes(&plain_out), bytes(&again));
    assert_ne!(bytes(&plain_out), bytes(&out), "--keep-rpaths is a Linux flag and took effect");
    // -q keeps only errors
    let (code, _, err) = repair_demo(&tmp.path().join("quiet"), &["-q", "--no-mangle-all"]);
    assert_eq!((code, err.as_str()), (Some(0), ""));
}

#[test]
fn verbose_prints_what_help_says() {
    let help = text(&wheelfix(&["--help"]).stdout);
    assert!(help.contains("--verbose"), "{help}");
    assert!(help.contains("every library bundled, binary patched and entry re-compressed"), "{help}");
    assert!(!help.contains("repeatable)"), "{help}");
    let tmp = tempfile::tempdir().unwrap();
    let (_, _, quiet) = repair_demo(&tmp.path().join("a"), &[]);
    for v in ["-v", "-vv"] {
        let (code, _, err) = repair_demo(&tmp.path().join(v), &[v]);
        assert_eq!(code, Some(0), "{err}");
        assert!(!quiet.contains("bundled `"), "{quiet}");
        for lib in ["libdemocore.so.1", "libdemoutil.so.1"] {
            assert!(err.lines().any(|l| l.starts_with("bundled `") && l.contains(lib)), "{v}: {err}");
        }
    }
}
