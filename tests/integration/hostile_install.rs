//! Wheels every zip reader agrees on but that cannot be installed or
//! repaired as they are, and RECORD rows without a file, through the real
//! command line: one `error:` line naming the wheel, nothing written, the
//! input untouched (the promises of `hostile.rs`, whose helpers these are).

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use wheelfix::wheel::record;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::hostile::{assert_all_refused, messages, run, sha, slot, zip_bytes, WHEEL_TXT};

/// Zip bytes for `files` (names ending in `/` are directory entries), WHEEL,
/// and a RECORD listing every file and then `extra_rows`.
fn wheel_bytes(dist_info: &str, files: &[(&str, &[u8])], extra_rows: &str) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let o = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated).unix_permissions(0o644);
    let mut rows = String::new();
    let wheel_name = format!("{dist_info}/WHEEL");
    let wheel_file = (wheel_name.as_str(), WHEEL_TXT.as_bytes());
    for (name, data) in files.iter().chain([&wheel_file]) {
        if name.ends_with('/') {
            zip.add_directory(*name, o).unwrap();
            continue;
        }
        zip.start_file(*name, o).unwrap();
        zip.write_all(data).unwrap();
        rows.push_str(&format!("{name},{},{}\n", record::hash(data), data.len()));
    }
    rows.push_str(extra_rows);
    rows.push_str(&format!("{dist_info}/RECORD,,\n"));
    zip.start_file(format!("{dist_info}/RECORD"), o).unwrap();
    zip.write_all(rows.as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}

#[test]
fn uninstallable_archives_and_orphan_record_rows_are_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut cases: Vec<(PathBuf, String)> = Vec::new();
    let mut add = |label: &str, bytes: Vec<u8>, reason: &str| {
        let path = slot(root, label);
        std::fs::write(&path, bytes).unwrap();
        cases.push((path, reason.to_string()));
    };
    let conflict = |entry: &str, file: &str| {
        format!("entry `{entry}` needs `{file}` to be a directory, but the wheel holds a file `{file}`")
    };
    let di = "demo-0.1.dist-info";

    // A name that is a file and the directory of another file, in both orders.
    let files: [(&str, &[u8]); 2] = [("demo/a.py", b"1"), ("demo/a.py/b.py", b"2")];
    add("file-and-dir", wheel_bytes(di, &files, ""), &conflict("demo/a.py/b.py", "demo/a.py"));
    let files: [(&str, &[u8]); 2] = [("demo/a.py/b.py", b"2"), ("demo/a.py", b"1")];
    add("dir-and-file", wheel_bytes(di, &files, ""), &conflict("demo/a.py/b.py", "demo/a.py"));
    // A file deeper under a file: the parent's parent is the file.
    let files: [(&str, &[u8]); 2] = [("demo/x", b"1"), ("demo/x/y/z.py", b"2")];
    add("file-under-file", wheel_bytes(di, &files, ""), &conflict("demo/x/y/z.py", "demo/x"));
    // A directory entry with the name of a file.
    let files: [(&str, &[u8]); 2] = [("demo/sub", b"1"), ("demo/sub/", b"")];
    add("dir-entry-and-file", wheel_bytes(di, &files, ""), &conflict("demo/sub/", "demo/sub"));
    // Names that install to the same path as another (`./`, `//`) are unsafe names.
    for (label, bad) in [("dot-segment", "demo/./a.py"), ("empty-segment", "demo//a.py")] {
        let placeholder: String = (0..bad.len()).map(|k| (b'k' + k as u8) as char).collect();
        let mut bytes = zip_bytes(&[("demo/a.py", b"1"), (placeholder.as_str(), b"2")], true);
        crate::util::replace_all(&mut bytes, placeholder.as_bytes(), bad.as_bytes());
        add(label, bytes, "unsafe entry name");
    }
    // A RECORD row naming a file the archive does not hold.
    let orphan = format!("demo/gone.py,{},1\n", record::hash(b"x"));
    add(
        "record-orphan-row",
        wheel_bytes(di, &[("demo/a.py", b"1")], &orphan),
        "RECORD mismatch for `demo/gone.py`: listed in RECORD but not in the archive",
    );

    let said = assert_all_refused(&cases);
    crate::snapshot!("hostile-install", messages(root, &said));
    // the same shapes without the conflict pass, so the checks above can fail
    let files: [(&str, &[u8]); 3] = [("demo/a.py", b"1"), ("demo/a_py/b.py", b"2"), ("demo/sub/", b"")];
    let path = slot(root, "good");
    std::fs::write(&path, wheel_bytes(di, &files, "")).unwrap();
    let r = run(path.parent().unwrap(), &["show", path.to_str().unwrap(), "--allow-pure-python-wheel"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
}

fn demo_fixture() -> (PathBuf, PathBuf) {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    (demo.join("demo-0.1-cp311-cp311-linux_x86_64.whl"), demo.join("lib"))
}

/// The demo wheel (an extension that needs two libraries outside it) with
/// `extra` files added, written to `dir`.
fn demo_with(dir: &Path, extra: &[(&str, &[u8])]) -> PathBuf {
    let (fixture, _) = demo_fixture();
    let mut input = zip::ZipArchive::new(std::fs::File::open(fixture).unwrap()).unwrap();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..input.len() {
        let mut f = input.by_index(i).unwrap();
        let name = f.name().unwrap().to_string();
        if name.ends_with("/RECORD") || name.ends_with("/WHEEL") {
            continue;
        }
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut data).unwrap();
        files.push((name, data));
    }
    files.extend(extra.iter().map(|(n, d)| (n.to_string(), d.to_vec())));
    let borrowed: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("demo-0.1-cp311-cp311-linux_x86_64.whl");
    std::fs::write(&path, wheel_bytes("demo-0.1.dist-info", &borrowed, "")).unwrap();
    path
}

/// A file named like the directory a repair puts its libraries in: the
/// wheel installs, but `repair` refuses it before writing anything (one
/// line, exit 1) and `check` reports it; elsewhere (`--lib-sdir`) it is fine.
#[test]
fn a_file_named_like_the_libraries_directory_stops_a_repair() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, lib) = demo_fixture();
    let lib = lib.to_str().unwrap();
    for (label, file, sdir) in [("default", "demo.libs", None), ("sdir", "demo.mine", Some(".mine"))] {
        let dir = tmp.path().join(label);
        let wheel = demo_with(&dir, &[(file, b"not a directory\n")]);
        let w = wheel.to_str().unwrap();
        let before = sha(&wheel);
        let out = dir.join("out");
        let mut args = vec!["repair", w, "--lib-path", lib, "-w", out.to_str().unwrap()];
        args.extend(sdir.iter().flat_map(|s| ["--lib-sdir", *s]));
        let r = run(&dir, &args);
        assert_eq!(r.code, Some(1), "{label}: {}", r.stderr);
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{label}: one error and a hint: {}", r.stderr);
        let prefix = format!("error: `{w}`: `{file}/libdemo");
        assert!(lines[0].starts_with(&prefix), "{label}: {}", lines[0]);
        let tail = format!("` cannot be added: the wheel holds a file `{file}` where it needs a directory");
        assert!(lines[0].ends_with(&tail), "{label}: {}", lines[0]);
        assert!(lines[1].starts_with("hint: "), "{label}: {}", lines[1]);
        let left: Vec<_> =
            std::fs::read_dir(&out).map(|d| d.map(|e| e.unwrap().file_name()).collect()).unwrap_or_default();
        assert!(left.is_empty(), "{label}: repair wrote {left:?}");
        assert_eq!(sha(&wheel), before, "{label}: the input changed");
        // elsewhere the libraries do not meet the file
        let r = run(&dir, &["repair", w, "--lib-path", lib, "--lib-sdir", ".elsewhere", "-w", out.to_str().unwrap()]);
        assert_eq!(r.code, Some(0), "{label}: {}", r.stderr);
    }

    // `check` names the file; the repaired demo wheel, without it, passes
    let house = tmp.path().join("house");
    let wheel = demo_with(&house, &[("demo.libs", b"not a directory\n")]);
    let check = crate::util::wheelfix(&["check", house.to_str().unwrap()]);
    let out = crate::util::text(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{out}");
    assert!(out.contains("entry `demo.libs` is a file where a repair puts its libraries (`demo.libs/`)"), "{out}");
    std::fs::remove_file(wheel).unwrap();
    let plain = demo_with(&tmp.path().join("plain"), &[]);
    let r = run(tmp.path(), &["repair", plain.to_str().unwrap(), "--lib-path", lib, "-w", house.to_str().unwrap()]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let check = crate::util::wheelfix(&["check", house.to_str().unwrap()]);
    let out = crate::util::text(&check.stdout);
    assert!(!out.contains("libraries (`"), "{out}");
}
