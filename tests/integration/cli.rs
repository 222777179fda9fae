//! The `wheelfix` command end to end on Linux wheels built with cc:
//! `show` (text and JSON), `repair`, loading the result, idempotence, errors.
//! Messages whose text does not depend on this machine's compiler are
//! snapshots (`snapshots/*.snap`); the facts checked in output that does
//! (the best tag of a cc-built wheel) stay single assertions.

use std::path::Path;
use std::process::Command;

use sha2::Digest;

use crate::snap::Filter;
use crate::util::{self, build_chain, chain_wheel, check_schema, make_wheel, readelf_dynamic, text, wheelfix};

/// The glibc minor versions manylinux policies exist for.
const POLICY_MINORS: &[u32] = &[5, 12, 17, 24, 26, 27, 28, 31, 34, 35, 36, 37, 38, 39, 40, 41];

/// The best manylinux tag for a set of ELF files, computed from `readelf -V`
/// output (independently of wheelfix): the oldest policy at or above the
/// newest GLIBC_2.x any of them needs.
fn expected_manylinux(files: &[&Path]) -> String {
    let mut newest = 0u32;
    for f in files {
        let out = Command::new("readelf").arg("-VW").arg(f).output().unwrap();
        for word in text(&out.stdout).split_whitespace() {
            if let Some(v) = word.strip_prefix("GLIBC_2.") {
                let minor: u32 = v.split('.').next().unwrap().parse().unwrap_or(0);
                newest = newest.max(minor);
            }
        }
    }
    let minor = POLICY_MINORS.iter().find(|&&m| m >= newest).unwrap();
    format!("manylinux_2_{minor}_x86_64")
}

fn unzip(wheel: &Path, dest: &Path) {
    let archive = wheelfix::wheel::WheelArchive::open(wheel).unwrap();
    for (i, e) in archive.entries().iter().enumerate() {
        if e.is_dir {
            continue;
        }
        let p = dest.join(&e.name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, archive.read(i).unwrap()).unwrap();
    }
}

#[test]
fn show_reports_the_chain_and_the_best_tag() {
    let tmp = tempfile::tempdir().unwrap();
    let (wheel, chain) = chain_wheel(tmp.path());
    let w = wheel.to_str().unwrap();
    let libdir = chain.lib_dir.to_str().unwrap();

    let out = wheelfix(&["show", w]);
    assert_eq!(out.status.code(), Some(1), "needs repair: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("libfoo.so.1"), "{stdout}");
    assert!(stdout.contains("[bundle]"), "{stdout}");
    assert!(stdout.contains("tag as it is:     linux_x86_64"), "{stdout}");

    let out = wheelfix(&["show", "--json", w]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let schema: serde_json::Value = serde_json::from_str(include_str!("../../schema/show.schema.json")).unwrap();
    check_schema(&schema, &schema, &doc, "$").unwrap();
    let doc = util::one_wheel(doc);
    let want =
        expected_manylinux(&[&chain.ext, &chain.lib_dir.join("libfoo.so.1"), &chain.lib_dir.join("libbar.so.1")]);
    assert_eq!(doc["linux"]["best_tag"], want.as_str());
    assert_eq!(doc["linux"]["current_tag"], "linux_x86_64");
    let ext = doc["linux"]["external_libs"].as_object().unwrap();
    let names: Vec<&String> = ext.keys().collect();
    assert_eq!(names, ["libbar.so.1", "libfoo.so.1"]);
    let foo = std::fs::canonicalize(chain.lib_dir.join("libfoo.so.1")).unwrap();
    assert_eq!(ext["libfoo.so.1"], foo.to_str().unwrap());
    // RUNPATH resolution found them; --lib-path gives the same answer
    let out = wheelfix(&["show", "--json", "--lib-path", libdir, w]);
    let doc2 = util::one_wheel(serde_json::from_slice(&out.stdout).unwrap());
    assert_eq!(doc2["linux"]["external_libs"], doc["linux"]["external_libs"]);
}

#[test]
fn repair_bundles_rewrites_and_the_result_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let (wheel, chain) = chain_wheel(tmp.path());
    let house = tmp.path().join("house");
    let written = util::repair_ok(&wheel, &house, &[]);
    let want =
        expected_manylinux(&[&chain.ext, &chain.lib_dir.join("libfoo.so.1"), &chain.lib_dir.join("libbar.so.1")]);
    let name = written.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("chainpkg-1.0-cp311-cp311-"), "{name}");
    assert!(name.contains(&want), "{name} should carry {want}");
    assert!(!name.contains("linux_x86_64.") && !name.ends_with("-linux_x86_64.whl"), "{name}");

    // the output verifies against its own RECORD
    let archive = wheelfix::wheel::WheelArchive::open(&written).unwrap();
    archive.verify_all().unwrap();
    let hash8 = |p: &Path| {
        let d = sha2::Sha256::digest(std::fs::read(p).unwrap());
        d.iter().take(4).map(|b| format!("{b:02x}")).collect::<String>()
    };
    let foo_name = format!("libfoo-{}.so.1", hash8(&chain.lib_dir.join("libfoo.so.1")));
    let bar_name = format!("libbar-{}.so.1", hash8(&chain.lib_dir.join("libbar.so.1")));
    let names: Vec<&str> = archive.entries().iter().map(|e| e.name.as_str()).collect();
    assert!(names.contains(&format!("chainpkg.libs/{foo_name}").as_str()), "{names:?}");
    assert!(names.contains(&format!("chainpkg.libs/{bar_name}").as_str()), "{names:?}");
    let wheel_file = text(&archive.read(archive.entry_by_name("chainpkg-1.0.dist-info/WHEEL").unwrap().index).unwrap());
    assert!(wheel_file.contains(&format!("Tag: cp311-cp311-{want}")), "{wheel_file}");
    assert!(!wheel_file.contains("linux_x86_64\n"), "{wheel_file}");

    // install it (unzip) and check with readelf, an independent reader
    let site = tmp.path().join("site");
    unzip(&written, &site);
    let ext = readelf_dynamic(&site.join("chainpkg/ext.so"));
    assert!(ext.contains(&format!("Shared library: [{foo_name}]")), "{ext}");
    assert!(ext.contains("Library rpath: [$ORIGIN/../chainpkg.libs]"), "{ext}");
    assert!(!ext.contains("RUNPATH"), "the build machine's RUNPATH must be gone: {ext}");
    let foo = readelf_dynamic(&site.join("chainpkg.libs").join(&foo_name));
    assert!(foo.contains(&format!("Library soname: [{foo_name}]")), "{foo}");
    assert!(foo.contains(&format!("Shared library: [{bar_name}]")), "{foo}");
    assert!(foo.contains("Library rpath: [$ORIGIN]"), "{foo}");
    let bar = readelf_dynamic(&site.join("chainpkg.libs").join(&bar_name));
    assert!(bar.contains(&format!("Library soname: [{bar_name}]")), "{bar}");
    assert!(!bar.contains("rpath") && !bar.contains("runpath"), "{bar}");

    // it loads with the original libraries gone; the unrepaired one does not
    let orig = tmp.path().join("orig");
    unzip(&wheel, &orig);
    let harness = util::loads_with_libraries_gone(tmp.path(), &chain.lib_dir, &site.join("chainpkg/ext.so"));
    let run = util::load_pyinit(&harness, &orig.join("chainpkg/ext.so"));
    assert!(text(&run.stdout).contains("LOAD FAILED"), "{}", text(&run.stdout));
}

/// An extension linked against another distribution's libraries (an RPATH
/// into a sibling package of site-packages, as torch has into `nvidia/…`)
/// keeps those entries through a repair; the build machine's go.
#[test]
fn rpath_entries_into_sibling_packages_are_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let chain = util::build_chain(tmp.path());
    let libdir = chain.lib_dir.to_str().unwrap();
    let ext = tmp.path().join("sib.so");
    let rpath = format!("$ORIGIN/../../nvidia/cuda_runtime/lib:${{ORIGIN}}/../nvidia/cudnn/lib:{libdir}");
    util::cc(
        tmp.path(),
        "int foo(void);\nint PyInit_ext(void) { return foo(); }\n",
        &ext,
        &["-shared", "-L", libdir, "-l:libfoo.so.1", &format!("-Wl,-rpath,{rpath}"), "-Wl,--disable-new-dtags"],
    );
    let files =
        vec![("sibpkg/__init__.py".into(), b"".to_vec()), ("sibpkg/ext.so".into(), std::fs::read(&ext).unwrap())];
    let wheel = util::make_wheel(tmp.path(), "sibpkg", "linux_x86_64", files);
    let written = util::repair_ok(&wheel, &tmp.path().join("house"), &[]);
    let site = tmp.path().join("site");
    unzip(&written, &site);
    let dynamic = readelf_dynamic(&site.join("sibpkg/ext.so"));
    let want =
        "Library rpath: [$ORIGIN/../../nvidia/cuda_runtime/lib:${ORIGIN}/../nvidia/cudnn/lib:$ORIGIN/../sibpkg.libs]";
    assert!(dynamic.contains(want), "{dynamic}");
    assert!(!dynamic.contains(libdir), "the build machine's entry must be gone: {dynamic}");
}

/// More than 64 MiB of binaries to patch: repair does the wheel's own
/// binaries first, freeing each halfway through its splice (the bundled
/// libraries already in memory are patched and hashed meanwhile), and
/// deflates the bundled libraries after. The result must be as whole and as
/// loadable as ever.
#[test]
fn a_repair_of_large_binaries_done_in_stages_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let chain = build_chain(tmp.path());
    // the extension with 72 MiB of compressible data after its last byte,
    // which no loader reads
    let mut ext = std::fs::read(&chain.ext).unwrap();
    let chain_len = ext.len();
    let line = b"staged repair keeps memory down: wheel binaries first, bundled libraries after\n";
    while ext.len() < 72 << 20 {
        ext.extend_from_slice(line);
        ext.extend_from_slice(&(ext.len() as u64).to_le_bytes());
    }
    let wheel = make_wheel(
        tmp.path(),
        "bigpkg",
        "linux_x86_64",
        vec![("bigpkg/__init__.py".into(), b"".to_vec()), ("bigpkg/ext.so".into(), ext.clone())],
    );
    let house = tmp.path().join("house");
    let out = Command::new(env!("CARGO_BIN_EXE_wheelfix"))
        .args(["repair", "-v", wheel.to_str().unwrap(), "-w", house.to_str().unwrap()])
        .env("WHEELFIX_TIMINGS", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // the extension was spliced: most of its compressed bytes were kept
    let said = text(&out.stderr);
    assert!(said.contains("`bigpkg/ext.so`: ") && said.contains("kept as the input compressed them"), "{said}");
    // in two stages: the extension's splice stopped halfway before the
    // libraries were deflated (the first stage only hashed them)
    let at = |what: &str| said.find(what).unwrap_or_else(|| panic!("no `{what}` in: {said}"));
    for lib in ["libfoo-", "libbar-"] {
        assert!(at("halfway bigpkg/ext.so") < at(&format!("compressed bigpkg.libs/{lib}")), "{said}");
        // kept from the plan, they were patched in the first stage
        assert!(at(&format!("patched bigpkg.libs/{lib}")) < at("halfway bigpkg/ext.so"), "{said}");
    }
    let written = std::path::PathBuf::from(text(&out.stdout).trim());
    let archive = wheelfix::wheel::WheelArchive::open(&written).unwrap();
    archive.verify_all().unwrap();
    let names: Vec<&str> = archive.entries().iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names.iter().filter(|n| n.starts_with("bigpkg.libs/lib")).count(), 2, "{names:?}");
    // the patched extension holds the padding where it was
    let new_ext = archive.read(archive.entry_by_name("bigpkg/ext.so").unwrap().index).unwrap();
    let padding = chain_len..ext.len();
    assert!(new_ext.len() >= ext.len() && new_ext[padding.clone()] == ext[padding], "the padding moved");

    let site = tmp.path().join("site");
    unzip(&written, &site);
    util::loads_with_libraries_gone(tmp.path(), &chain.lib_dir, &site.join("bigpkg/ext.so"));
}

#[test]
fn repair_is_deterministic_and_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let (wheel, _chain) = chain_wheel(tmp.path());
    let w = wheel.to_str().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let out_a = wheelfix(&["repair", w, "-w", a.to_str().unwrap(), "-j", "1"]);
    let out_b = wheelfix(&["repair", w, "-w", b.to_str().unwrap()]);
    assert!(out_a.status.success() && out_b.status.success(), "{}", text(&out_a.stderr));
    let pa = std::path::PathBuf::from(text(&out_a.stdout).trim());
    let pb = std::path::PathBuf::from(text(&out_b.stdout).trim());
    assert_eq!(pa.file_name(), pb.file_name());
    assert!(std::fs::read(&pa).unwrap() == std::fs::read(&pb).unwrap(), "same input, same bytes, whatever -j");

    // repairing the output: nothing more to bundle, same name, same entries
    let c = tmp.path().join("c");
    let out_c = wheelfix(&["repair", pa.to_str().unwrap(), "-w", c.to_str().unwrap()]);
    assert!(out_c.status.success(), "{}", text(&out_c.stderr));
    let pc = std::path::PathBuf::from(text(&out_c.stdout).trim());
    assert_eq!(pc.file_name(), pa.file_name());
    let list = |p: &Path| {
        wheelfix::wheel::WheelArchive::open(p).unwrap().entries().iter().map(|e| e.name.clone()).collect::<Vec<_>>()
    };
    assert_eq!(list(&pc), list(&pa));
    assert!(
        std::fs::read(&pc).unwrap() == std::fs::read(&pa).unwrap(),
        "a no-op repair copies the wheel byte for byte"
    );
    let repaired = pa.file_name().unwrap().to_str().unwrap();
    let f = Filter::new().dir(tmp.path(), "[TMP]").value(repaired, "[THE REPAIRED WHEEL]");
    crate::snapshot!("repair-a-repaired-wheel", f.run(&out_c));
    let show = wheelfix(&["show", pa.to_str().unwrap()]);
    assert_eq!(show.status.code(), Some(0), "a repaired wheel needs nothing: {}", text(&show.stdout));
}

/// Two wheels that bundle the same libraries, repaired in one run: each
/// library is compressed once (the other repair says it reused the stream),
/// and each output is the same bytes as when that wheel is repaired alone,
/// whether the wheels run one after the other or at the same time.
#[test]
fn libraries_two_wheels_bundle_are_compressed_once_per_run() {
    let tmp = tempfile::tempdir().unwrap();
    let chain = build_chain(tmp.path());
    let ext = std::fs::read(&chain.ext).unwrap();
    let wheels: Vec<_> = ["chaina", "chainb"]
        .iter()
        .map(|name| {
            let files = vec![(format!("{name}/__init__.py"), b"".to_vec()), (format!("{name}/ext.so"), ext.clone())];
            make_wheel(tmp.path(), name, "linux_x86_64", files)
        })
        .collect();
    let alone: Vec<Vec<u8>> = wheels
        .iter()
        .enumerate()
        .map(|(i, w)| std::fs::read(util::repair_ok(w, &tmp.path().join(format!("alone{i}")), &[])).unwrap())
        .collect();
    for jobs in ["1", "2"] {
        let out = tmp.path().join(format!("batch-j{jobs}"));
        let o = wheelfix(&[
            "repair",
            "-v",
            "-j",
            jobs,
            "-w",
            out.to_str().unwrap(),
            wheels[0].to_str().unwrap(),
            wheels[1].to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        let err = text(&o.stderr);
        for lib in ["libfoo", "libbar"] {
            let reused = err.lines().filter(|l| l.contains(lib) && l.contains("that stream is reused")).count();
            assert_eq!(reused, 1, "-j {jobs}: {lib} compressed once, taken once:\n{err}");
        }
        let stdout = text(&o.stdout);
        let written: Vec<&str> = stdout.lines().collect();
        assert_eq!(written.len(), 2);
        for (path, want) in written.iter().zip(&alone) {
            assert!(std::fs::read(path).unwrap() == *want, "-j {jobs}: {path} as when repaired alone");
        }
    }
    let site = tmp.path().join("site");
    unzip(&tmp.path().join("batch-j2").read_dir().unwrap().next().unwrap().unwrap().path(), &site);
    let module = site.read_dir().unwrap().flatten().find(|e| e.path().join("ext.so").exists()).unwrap().path();
    util::loads_with_libraries_gone(tmp.path(), &chain.lib_dir, &module.join("ext.so"));
}

/// A library found outside the wheel under the name an earlier repair gave
/// it (a wheel whose bundled library was taken out, repaired again with
/// `--lib-path`): it is bundled again, and the binaries that ask for it by
/// that name, with the right RPATH already, are copied as the input
/// compressed them, not rewritten to the same bytes.
#[test]
fn a_library_bundled_again_under_its_own_name_leaves_its_users_as_they_were() {
    let tmp = tempfile::tempdir().unwrap();
    let (wheel, chain) = chain_wheel(tmp.path());
    let house = tmp.path().join("house");
    let repaired = util::repair_ok(&wheel, &house, &[]);
    let entries = util::zip_entries(&repaired);
    let foo = entries.keys().find(|n| n.starts_with("chainpkg.libs/libfoo-")).unwrap().clone();
    let foo_name = foo.rsplit('/').next().unwrap().to_string();

    // the repaired wheel without libfoo, retagged, at deflate level 1 and a
    // time of its own, so that a copy of its entries can be told from a rewrite
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join(&foo_name), &entries[&foo]).unwrap();
    let files: Vec<(String, Vec<u8>, u32)> = entries
        .iter()
        .filter(|(n, _)| **n != foo && !n.starts_with("chainpkg-1.0.dist-info/"))
        .map(|(n, d)| (n.clone(), d.clone(), if n.contains(".so") { 0o755 } else { 0o644 }))
        .chain([
            (
                "chainpkg-1.0.dist-info/METADATA".into(),
                b"Metadata-Version: 2.1\nName: chainpkg\nVersion: 1.0\n".to_vec(),
                0o644,
            ),
            (
                "chainpkg-1.0.dist-info/WHEEL".into(),
                b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: cp311-cp311-linux_x86_64\n"
                    .to_vec(),
                0o644,
            ),
        ])
        .collect();
    let again_dir = tmp.path().join("again");
    std::fs::create_dir_all(&again_dir).unwrap();
    let filename: wheelfix::wheel::WheelFilename = "chainpkg-1.0-cp311-cp311-linux_x86_64.whl".parse().unwrap();
    let options = wheelfix::wheel::writer::WriteOptions { compression_level: Some(1), timestamp: Some(1_577_836_800) };
    let input = wheelfix::wheel::writer::write_new_wheel(&again_dir, &filename, files, &options).unwrap();

    let house2 = tmp.path().join("house2");
    let fixed = util::repair_ok(&input, &house2, &["--lib-path", outside.to_str().unwrap()]);
    assert_eq!(fixed.file_name(), repaired.file_name());
    wheelfix::wheel::WheelArchive::open(&fixed).unwrap().verify_all().unwrap();
    let now = util::zip_entries(&fixed);
    assert_eq!(now.keys().collect::<Vec<_>>(), entries.keys().collect::<Vec<_>>());
    // bundled again under its name, with the same content as the first repair gave it
    assert!(now[&foo] == entries[&foo], "{foo} differs from the first repair's");
    // the extension: the input's entry, compressed bytes and time alike
    let raw = |path: &Path, name: &str| {
        let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
        let mut e = z.by_name_raw(name.as_bytes()).unwrap();
        let time = e.last_modified().map(|t| (t.year(), t.month(), t.day()));
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
        (bytes, time)
    };
    let (before, before_time) = raw(&input, "chainpkg/ext.so");
    let (after, after_time) = raw(&fixed, "chainpkg/ext.so");
    assert_eq!(before_time, Some((2020, 1, 1)));
    assert_eq!(after_time, before_time, "the extension was rewritten");
    assert!(after == before, "the extension was compressed again");
    assert!(now["chainpkg/ext.so"] == entries["chainpkg/ext.so"]);
    // and it loads with the build machine's libraries gone
    let site = tmp.path().join("site");
    unzip(&fixed, &site);
    util::loads_with_libraries_gone(tmp.path(), &chain.lib_dir, &site.join("chainpkg/ext.so"));
}

#[test]
fn missing_library_and_corrupt_wheel_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (wheel, chain) = chain_wheel(tmp.path());
    std::fs::rename(&chain.lib_dir, tmp.path().join("elsewhere")).unwrap();
    let house = tmp.path().join("house");
    let out = wheelfix(&["repair", wheel.to_str().unwrap(), "-w", house.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let f = Filter::new().dir(tmp.path(), "[TMP]");
    crate::snapshot!("repair-missing-library", f.run(&out));
    assert!(std::fs::read_dir(&house).map(|d| d.count()).unwrap_or(0) == 0, "nothing written");

    let bad = tmp.path().join("bad-1.0-py3-none-any.whl");
    std::fs::write(&bad, b"PK\x03\x04 this is not a zip").unwrap();
    let out = wheelfix(&["show", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    crate::snapshot!("show-corrupt-zip", f.run(&out));
}

#[test]
fn pure_wheels() {
    let tmp = tempfile::tempdir().unwrap();
    let wheel = make_wheel(tmp.path(), "purepkg", "any", vec![("purepkg/__init__.py".into(), b"x = 1\n".to_vec())]);
    let w = wheel.to_str().unwrap();
    let house = tmp.path().join("house");
    let out = wheelfix(&["repair", w, "-w", house.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    crate::snapshot!("repair-pure-wheel", Filter::new().dir(tmp.path(), "[TMP]").run(&out));
    let out = wheelfix(&["repair", "--allow-pure-python-wheel", w, "-w", house.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(house.join(wheel.file_name().unwrap()).exists());
}

fn entry_names(p: &Path) -> Vec<String> {
    wheelfix::wheel::WheelArchive::open(p).unwrap().entries().iter().map(|e| e.name.clone()).collect()
}

#[test]
fn plat_aliases_only_plat_and_exclude() {
    let tmp = tempfile::tempdir().unwrap();
    let (wheel, chain) = chain_wheel(tmp.path());
    let w = wheel.to_str().unwrap();
    let best =
        expected_manylinux(&[&chain.ext, &chain.lib_dir.join("libfoo.so.1"), &chain.lib_dir.join("libbar.so.1")]);
    // a lower tag than the best: both are written unless --only-plat
    let house = tmp.path().join("h1");
    let out = wheelfix(&["repair", w, "-w", house.to_str().unwrap(), "--plat", "manylinux2014_x86_64"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let name = text(&out.stdout).trim().rsplit('/').next().unwrap().to_string();
    assert!(name.contains("manylinux2014_x86_64") && name.contains("manylinux_2_17_x86_64"), "{name}");
    if best != "manylinux_2_17_x86_64" {
        assert!(name.contains(&best), "{name} should also carry {best}");
    }
    let house = tmp.path().join("h2");
    let out = wheelfix(&["repair", w, "-w", house.to_str().unwrap(), "--plat", "manylinux_2_17_x86_64", "--only-plat"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let name = text(&out.stdout).trim().rsplit('/').next().unwrap().to_string();
    assert_eq!(name, "chainpkg-1.0-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl");
    // an unknown tag is a clear error listing the choices
    let out = wheelfix(&["repair", w, "-w", house.to_str().unwrap(), "--plat", "manylinux_2_99_x86_64"]);
    assert_eq!(out.status.code(), Some(1));
    crate::snapshot!("repair-unknown-plat", Filter::new().dir(tmp.path(), "[TMP]").run(&out));
    // --exclude: libbar stays out, and is not walked (libfoo is still bundled)
    let house = tmp.path().join("h3");
    let out = wheelfix(&["repair", w, "-w", house.to_str().unwrap(), "--exclude", "libbar.so*"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let names = entry_names(Path::new(text(&out.stdout).trim()));
    assert!(names.iter().any(|n| n.starts_with("chainpkg.libs/libfoo-")), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("libbar")), "{names:?}");
    // --lib-sdir changes the directory suffix
    let house = tmp.path().join("h4");
    let out = wheelfix(&["repair", w, "-w", house.to_str().unwrap(), "-L", ".vendored"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let names = entry_names(Path::new(text(&out.stdout).trim()));
    assert!(names.iter().any(|n| n.starts_with("chainpkg.vendored/libfoo-")), "{names:?}");
}

#[test]
fn elf_scripts_move_and_strip_and_libpython() {
    let tmp = tempfile::tempdir().unwrap();
    let chain = build_chain(tmp.path());
    let libdir = chain.lib_dir.to_str().unwrap().to_string();
    // an executable in .data/scripts that needs libfoo
    let exe = tmp.path().join("tool");
    util::cc(
        tmp.path(),
        "int foo(void);\nint main(void) { return foo() == 42 ? 0 : 1; }\n",
        &exe,
        &["-L", &libdir, "-l:libfoo.so.1", &format!("-Wl,-rpath,{libdir}")],
    );
    // a fake libpython to link the extension against (removed on repair)
    let py = chain.lib_dir.join("libpython3.11.so.1.0");
    util::cc(
        tmp.path(),
        "int Py_IsInitialized(void) { return 1; }\n",
        &py,
        &["-shared", "-Wl,-soname,libpython3.11.so.1.0"],
    );
    let ext = tmp.path().join("ext2.so");
    util::cc(
        tmp.path(),
        "int foo(void);\nint Py_IsInitialized(void);\nint PyInit_ext2(void) { return foo() + Py_IsInitialized(); }\n",
        &ext,
        &["-shared", "-g", "-L", &libdir, "-l:libfoo.so.1", "-l:libpython3.11.so.1.0", &format!("-Wl,-rpath,{libdir}")],
    );
    let wheel = make_wheel(
        tmp.path(),
        "scriptpkg",
        "linux_x86_64",
        vec![
            ("scriptpkg/ext2.so".into(), std::fs::read(&ext).unwrap()),
            ("scriptpkg-1.0.data/scripts/tool".into(), std::fs::read(&exe).unwrap()),
        ],
    );
    let house = tmp.path().join("house");
    let out = wheelfix(&["repair", wheel.to_str().unwrap(), "-w", house.to_str().unwrap(), "--strip"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = std::path::PathBuf::from(text(&out.stdout).trim());
    let f = Filter::new().dir(tmp.path(), "[TMP]").value(written.file_name().unwrap().to_str().unwrap(), "[REPAIRED]");
    crate::snapshot!("repair-strip-scripts-libpython", f.run(&out));
    let site = tmp.path().join("site");
    unzip(&written, &site);
    // the script is now a shim that execs the moved binary
    let shim = std::fs::read_to_string(site.join("scriptpkg-1.0.data/scripts/tool")).unwrap();
    assert!(shim.starts_with("#!python") && shim.contains("scriptpkg.scripts/tool"), "{shim}");
    let moved = readelf_dynamic(&site.join("scriptpkg.scripts/tool"));
    assert!(moved.contains("Library rpath: [$ORIGIN/../scriptpkg.libs]"), "{moved}");
    let ext_dyn = readelf_dynamic(&site.join("scriptpkg/ext2.so"));
    assert!(!ext_dyn.contains("libpython"), "{ext_dyn}");
    // --strip removed the symbol table and debug info of the extension
    let sections = Command::new("readelf").arg("-SW").arg(site.join("scriptpkg/ext2.so")).output().unwrap();
    let sections = text(&sections.stdout);
    assert!(!sections.contains(".symtab") && !sections.contains(".debug_info"), "{sections}");
    // the moved executable runs with the original libraries gone
    std::fs::rename(&chain.lib_dir, tmp.path().join("gone")).unwrap();
    let tool = site.join("scriptpkg.scripts/tool");
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = Command::new(&tool).status().unwrap();
    assert!(run.success());
}

#[test]
fn check_is_a_release_gate() {
    let tmp = tempfile::tempdir().unwrap();
    let (wheel, chain) = chain_wheel(tmp.path());
    let good = tmp.path().join("good");
    let out = wheelfix(&["repair", wheel.to_str().unwrap(), "-w", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let g = good.to_str().unwrap();
    let out = wheelfix(&["check", g, "--expect-python", "cp311", "--expect-platform", "manylinux_x86_64"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    // an incomplete matrix is listed
    let out =
        wheelfix(&["check", g, "--expect-python", "cp310-cp311", "--expect-platform", "manylinux_x86_64,win_amd64"]);
    assert_eq!(out.status.code(), Some(1));
    crate::snapshot!("check-incomplete-matrix", Filter::new().dir(tmp.path(), "[TMP]").run(&out));

    // a wheel whose name claims manylinux but needs a library the platform lacks,
    // and one still tagged linux
    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::copy(&wheel, bad.join("chainpkg-1.0-cp311-cp311-linux_x86_64.whl")).unwrap();
    std::fs::copy(&wheel, bad.join("chainpkg-1.0-cp312-cp312-manylinux_2_17_x86_64.whl")).unwrap();
    let other = make_wheel(tmp.path(), "chainpkg", "any", vec![("chainpkg/__init__.py".into(), b"".to_vec())]);
    let renamed = bad.join("chainpkg-2.0-py3-none-any.whl");
    // same content as a 1.0 wheel under a 2.0 name: the dist-info does not match, an error for that wheel
    std::fs::copy(&other, &renamed).unwrap();
    let out = wheelfix(&["check", bad.to_str().unwrap(), "--lib-path", chain.lib_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let table = text(&out.stdout);
    let row = |wheel: &str, what: &str| table.lines().any(|l| l.starts_with(wheel) && l.contains(what));
    assert!(row("chainpkg-1.0-cp311-cp311-linux_x86_64.whl", "`linux_x86_64` cannot be uploaded"), "{table}");
    assert!(
        row("chainpkg-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", "not `manylinux_2_17_x86_64`: needs libfoo.so.1"),
        "{table}"
    );
    assert!(table.lines().any(|l| l.starts_with("chainpkg-2.0-py3-none-any.whl")), "{table}");
}

/// A library the repair reads again from disk (the library's step-by-step
/// path keeps nothing in memory) must still be what the plan hashed for its
/// bundled name: one that changed in between is refused, and nothing is written.
#[test]
fn a_library_changed_between_plan_and_patch_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (wheel, chain) = chain_wheel(tmp.path());
    let out_dir = tmp.path().join("out");
    let options = wheelfix::RepairOptions {
        apply: wheelfix::ApplyOptions { wheel_dir: out_dir.clone(), ..Default::default() },
        ..Default::default()
    };
    let input = wheelfix::wheel::WheelArchive::open(&wheel).unwrap();
    let analysis = wheelfix::analyze::analyze_archive(&input, &options.analyze).unwrap();
    let plan = wheelfix::repair::plan(&input, &analysis, &options).unwrap();
    let foo = chain.lib_dir.join("libfoo.so.1");
    assert!(plan.bundled.iter().any(|b| b.source.ends_with("libfoo.so.1")), "{:?}", plan.bundled);
    // the same library with a byte more at its end: it still parses and patches
    let mut changed = std::fs::read(&foo).unwrap();
    changed.push(0);
    std::fs::write(&foo, &changed).unwrap();
    let err = wheelfix::repair::apply(&input, plan, &options).unwrap_err().to_string();
    assert!(err.contains("libfoo.so.1") && err.contains("changed between planning and patching"), "{err}");
    let left: Vec<_> =
        std::fs::read_dir(&out_dir).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}
