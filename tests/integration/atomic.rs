//! Atomic, deterministic output.
//!
//! `wheelfix repair` killed with SIGKILL at random points never leaves a
//! partial `.whl` in the output directory (at most its hidden temporary file,
//! `.wheelfix-*.whl.tmp`, which nothing can clean up after a SIGKILL and the
//! next run ignores), and a failed write leaves nothing at all. The same
//! input gives the same bytes whatever `-j`, repairing a repaired wheel
//! changes nothing, and `show --json` is stable.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime};

use crate::util::{build_chain, cc, make_wheel, noise, text, wheelfix};

/// A wheel of ~48 MB of incompressible data plus an extension that needs
/// an external library (so repair rewrites a binary and grafts a library).
fn big_wheel(dir: &Path) -> PathBuf {
    let chain = build_chain(dir);
    let mut files = vec![
        ("atompkg/__init__.py".to_string(), b"".to_vec()),
        ("atompkg/ext.so".to_string(), std::fs::read(&chain.ext).unwrap()),
    ];
    for i in 0..6 {
        files.push((format!("atompkg/data/blob{i}.bin"), noise(i + 1, 8 << 20)));
    }
    make_wheel(dir, "atompkg", "linux_x86_64", files)
}

/// What is in `dir`: (complete wheels, hidden temporary files, anything else).
fn survey(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>, Vec<PathBuf>) {
    let (mut wheels, mut temps, mut other) = (vec![], vec![], vec![]);
    let Ok(rd) = std::fs::read_dir(dir) else { return (wheels, temps, other) };
    for e in rd {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with(".wheelfix-") && name.ends_with(".whl.tmp") {
            temps.push(p);
        } else if name.ends_with(".whl") {
            wheels.push(p);
        } else {
            other.push(p);
        }
    }
    (wheels, temps, other)
}

/// A `.whl` in the output directory must be whole: it opens and every entry
/// matches RECORD.
fn assert_whole(wheel: &Path, reference: &[u8]) {
    let a = wheelfix::wheel::WheelArchive::open(wheel).unwrap_or_else(|e| panic!("partial wheel left: {e}"));
    a.verify_all().unwrap_or_else(|e| panic!("partial wheel left: {e}"));
    assert!(std::fs::read(wheel).unwrap() == reference, "{} differs from an uninterrupted run", wheel.display());
}

#[test]
fn killed_repairs_never_leave_a_partial_wheel() {
    let tmp = tempfile::tempdir().unwrap();
    let wheel = big_wheel(tmp.path());
    let w = wheel.to_str().unwrap();

    // an uninterrupted run: its duration sets the range of the kill points;
    // the estimate shrinks whenever a later run finishes sooner (the first
    // run pays for a cold page cache)
    let reference_dir = tmp.path().join("reference");
    let start = Instant::now();
    let out = wheelfix(&["repair", w, "-w", reference_dir.to_str().unwrap()]);
    let mut full = start.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let reference_path = PathBuf::from(text(&out.stdout).trim());
    let reference = std::fs::read(&reference_path).unwrap();
    let out_name = reference_path.file_name().unwrap().to_owned();

    // random kill points, from a printed seed: even rounds at a random time
    // over the whole run, odd rounds at a random time after the temporary
    // output file has appeared (that is, while the wheel is being written)
    let seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    println!("uninterrupted repair: {full:?}; kill seed {seed}");
    let mut x = seed;
    let mut killed_midway = 0;
    let mut killed_writing = 0;
    let house = tmp.path().join("house");
    std::fs::create_dir_all(&house).unwrap();
    let mut round = 0;
    // more rounds, up to 40, until enough were killed midway and one of
    // them while it wrote (on a loaded machine a round may finish first)
    while round < 8 || ((killed_midway < 4 || killed_writing < 1) && round < 40) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let while_writing = round % 2 == 1;
        let mut child = Command::new(env!("CARGO_BIN_EXE_wheelfix"))
            .args(["repair", w, "-w", house.to_str().unwrap()])
            .env_remove("LD_LIBRARY_PATH")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let temps_before = survey(&house).1.len();
        let mut finished = false;
        let mut wait_until = |deadline: &dyn Fn() -> bool| {
            while !deadline() {
                if child.try_wait().unwrap().is_some() {
                    return true;
                }
                std::thread::sleep(std::time::Duration::from_micros(500));
            }
            false
        };
        let delay;
        if while_writing {
            // wait for a new temporary file, then up to half a run more
            finished = wait_until(&|| survey(&house).1.len() > temps_before);
            delay = full.mul_f64((x % 500) as f64 / 1000.0);
        } else {
            // anywhere over 0..110% of an uninterrupted run
            delay = full.mul_f64((x % 1100) as f64 / 1000.0);
        }
        if !finished {
            let from = Instant::now();
            finished = wait_until(&|| from.elapsed() >= delay);
        }
        if finished {
            full = full.min(started.elapsed());
        }
        child.kill().unwrap(); // SIGKILL: no destructor, no cleanup runs
        let status = child.wait().unwrap();
        if !finished && status.code().is_none() {
            killed_midway += 1;
            killed_writing += while_writing as usize;
        }
        let (wheels, temps, other) = survey(&house);
        println!(
            "round {round}: {} + {delay:?}, finished: {finished}, left {} wheel(s), {} temp(s)",
            if while_writing { "temp file seen" } else { "start" },
            wheels.len(),
            temps.len()
        );
        assert!(other.is_empty(), "unexpected files: {other:?}");
        for wh in &wheels {
            assert_eq!(wh.file_name().unwrap(), out_name.as_os_str());
            assert_whole(wh, &reference);
        }
        // the next round starts from an empty output directory, except for
        // the temporary files a SIGKILL may leave
        for wh in wheels {
            std::fs::remove_file(wh).unwrap();
        }
        round += 1;
    }
    assert!(killed_midway >= 4, "only {killed_midway} of {round} runs were killed before they finished");
    assert!(killed_writing >= 1, "no run was killed while it wrote its output");

    // a later run into the same directory (temp files and all) still works
    let out = wheelfix(&["repair", w, "-w", house.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (wheels, _temps, other) = survey(&house);
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(wheels.len(), 1);
    assert_whole(&wheels[0], &reference);
}

#[test]
fn a_failed_write_leaves_no_temporary_file() {
    let tmp = tempfile::tempdir().unwrap();
    let chain = build_chain(tmp.path());
    let wheel = make_wheel(
        tmp.path(),
        "failpkg",
        "linux_x86_64",
        vec![
            ("failpkg/ext.so".into(), std::fs::read(&chain.ext).unwrap()),
            ("failpkg/d.bin".into(), noise(9, 1 << 20)),
        ],
    );
    let w = wheel.to_str().unwrap();
    let first = tmp.path().join("first");
    let out = wheelfix(&["repair", w, "-w", first.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let name = PathBuf::from(text(&out.stdout).trim()).file_name().unwrap().to_owned();

    // the final rename fails: a directory holds the output's name
    let house = tmp.path().join("house");
    std::fs::create_dir_all(house.join(&name)).unwrap();
    let out = wheelfix(&["repair", w, "-w", house.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: ") && err.contains(&name.to_string_lossy().into_owned()), "{err}");
    let left: Vec<_> = std::fs::read_dir(&house).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, std::slice::from_ref(&name), "only the blocking directory may remain");
    assert_eq!(std::fs::read_dir(house.join(&name)).unwrap().count(), 0);

    // an output directory that cannot be created: nothing, and one line
    let blocker = tmp.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let out = wheelfix(&["repair", w, "-w", blocker.join("sub").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr).lines().count(), 1, "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&blocker).unwrap(), b"x");
}

#[test]
fn output_is_deterministic_whatever_the_threads_and_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let chain = build_chain(dir);
    let libdir = chain.lib_dir.to_str().unwrap();
    let rpath = format!("-Wl,-rpath,{libdir}");
    let mut files = vec![("multipkg/__init__.py".to_string(), b"".to_vec())];
    files.push(("multipkg/ext.so".into(), std::fs::read(&chain.ext).unwrap()));
    for (name, needs) in [("a", "foo"), ("b", "bar"), ("c", "foo"), ("d", "bar")] {
        let so = dir.join(format!("{name}.so"));
        let src = format!("int {needs}(void);\nint PyInit_{name}(void) {{ return {needs}(); }}\n");
        cc(dir, &src, &so, &["-shared", "-L", libdir, &format!("-l:lib{needs}.so.1"), &rpath]);
        files.push((format!("multipkg/sub{name}/{name}.so"), std::fs::read(&so).unwrap()));
    }
    files.push(("multipkg/data.bin".into(), noise(3, 2 << 20)));
    let wheel = make_wheel(dir, "multipkg", "linux_x86_64", files);
    let w = wheel.to_str().unwrap();

    let repair = |label: &str, extra: &[&str]| {
        let out_dir = dir.join(label);
        let mut args = vec!["repair", w, "-w", out_dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = wheelfix(&args);
        assert_eq!(out.status.code(), Some(0), "{label}: {}", text(&out.stderr));
        PathBuf::from(text(&out.stdout).trim())
    };
    let one = repair("j1", &["-j", "1"]);
    let two = repair("j2", &["-j", "2"]);
    let all = repair("jall", &[]);
    let again = repair("j1-again", &["-j", "1"]);
    let bytes = std::fs::read(&one).unwrap();
    for other in [&two, &all, &again] {
        assert_eq!(other.file_name(), one.file_name());
        assert!(std::fs::read(other).unwrap() == bytes, "{} differs from {}", other.display(), one.display());
    }
    // every binary was rewritten: five extensions and two grafted libraries
    let archive = wheelfix::wheel::WheelArchive::open(&one).unwrap();
    archive.verify_all().unwrap();
    let libs = archive.entries().iter().filter(|e| e.name.starts_with("multipkg.libs/")).count();
    assert_eq!(libs, 2);

    // repairing the output changes nothing, byte for byte
    let house = dir.join("twice");
    let out = wheelfix(&["repair", one.to_str().unwrap(), "-w", house.to_str().unwrap(), "-j", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let twice = PathBuf::from(text(&out.stdout).trim());
    assert_eq!(twice.file_name(), one.file_name());
    assert!(std::fs::read(&twice).unwrap() == bytes, "repairing a repaired wheel changed it");

    // show --json: the same document on every run, before and after repair
    for target in [w, one.to_str().unwrap()] {
        let runs: Vec<Vec<u8>> = (0..3).map(|_| wheelfix(&["show", "--json", target]).stdout).collect();
        assert!(!runs[0].is_empty());
        assert!(runs.iter().all(|r| *r == runs[0]), "show --json differs between runs of {target}");
    }
}
