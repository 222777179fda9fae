//! Libraries that other distributions provide (`--site-packages`): a fake
//! CUDA runtime distribution (a dist-info with METADATA and RECORD, and a
//! library built with cc) installed in a temporary site-packages; an
//! extension that links it is repaired to link it there, not to bundle it,
//! and really loads from a layout that mimics site-packages. Also `show`'s
//! report of RPATH entries into sibling packages, and `--exclude` hygiene.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{self, cc, check_schema, make_wheel, readelf_dynamic, text, wheelfix, zip_entries};

const PROVIDER_C: &str = "int cudaRuntimeGetVersion(int *v) { *v = 12090; return 0; }\n";
const EXT_C: &str =
    "int cudaRuntimeGetVersion(int *v);\nint PyInit_ext(void) { int v = 0; cudaRuntimeGetVersion(&v); return v; }\n";

/// A site-packages at `dir/site` with `fake_cuda_rt-12.9.79.dist-info`
/// (`Name: Fake_CUDA.rt`) shipping `nvidia/cuda_runtime/lib/libcudart.so.12`,
/// plus a copy of the library in `dir/build` (the build machine's).
fn provider(dir: &Path) -> (PathBuf, PathBuf) {
    let site = dir.join("site");
    let lib_dir = site.join("nvidia/cuda_runtime/lib");
    let info = site.join("fake_cuda_rt-12.9.79.dist-info");
    std::fs::create_dir_all(&lib_dir).unwrap();
    std::fs::create_dir_all(&info).unwrap();
    // versioned as the real runtime is: its users need version `libcudart.so.12`
    let script = dir.join("cudart.map");
    std::fs::write(&script, "libcudart.so.12 { global: cudaRuntimeGetVersion; local: *; };\n").unwrap();
    let version_script = format!("-Wl,--version-script,{}", script.display());
    let args = ["-shared", "-Wl,-soname,libcudart.so.12", version_script.as_str()];
    cc(dir, PROVIDER_C, &lib_dir.join("libcudart.so.12"), &args);
    std::fs::write(info.join("METADATA"), "Metadata-Version: 2.1\nName: Fake_CUDA.rt\nVersion: 12.9.79\n\nbody\n")
        .unwrap();
    std::fs::write(
        info.join("RECORD"),
        "nvidia/cuda_runtime/lib/libcudart.so.12,sha256=x,1\nnvidia/__init__.py,,\n\
         fake_cuda_rt-12.9.79.dist-info/METADATA,,\nfake_cuda_rt-12.9.79.dist-info/RECORD,,\n",
    )
    .unwrap();
    let build = dir.join("build");
    std::fs::create_dir_all(&build).unwrap();
    std::fs::copy(lib_dir.join("libcudart.so.12"), build.join("libcudart.so.12")).unwrap();
    (site, build)
}

/// `cudapkg/ext.so` linking `libcudart.so.12` with an absolute build RPATH
/// (plus `extra_rpath`), packed with `metadata_extra` header lines.
fn cuda_wheel(dir: &Path, build: &Path, extra_rpath: &str, metadata_extra: &str) -> PathBuf {
    let ext = dir.join("ext.so");
    let b = build.to_str().unwrap();
    let rpath = format!("{b}{extra_rpath}");
    cc(dir, EXT_C, &ext, &["-shared", "-L", b, "-l:libcudart.so.12", &format!("-Wl,-rpath,{rpath}")]);
    let files =
        vec![("cudapkg/__init__.py".into(), b"".to_vec()), ("cudapkg/ext.so".into(), std::fs::read(&ext).unwrap())];
    let wheel = make_wheel(dir, "cudapkg", "linux_x86_64", files);
    if metadata_extra.is_empty() {
        return wheel;
    }
    // the same wheel with more METADATA headers, RECORD rewritten by the writer
    let mut entries: Vec<(String, Vec<u8>, u32)> = zip_entries(&wheel)
        .into_iter()
        .filter(|(n, _)| !n.ends_with("/RECORD"))
        .map(|(n, mut d)| {
            if n.ends_with("/METADATA") {
                d.extend_from_slice(metadata_extra.as_bytes());
            }
            let mode = if n.ends_with(".so") { 0o755 } else { 0o644 };
            (n, d, mode)
        })
        .collect();
    entries.sort();
    std::fs::remove_file(&wheel).unwrap();
    let filename: wheelfix::wheel::WheelFilename = "cudapkg-1.0-cp311-cp311-linux_x86_64.whl".parse().unwrap();
    wheelfix::wheel::writer::write_new_wheel(dir, &filename, entries, &Default::default()).unwrap()
}

fn unzip_into(wheel: &Path, dest: &Path) {
    for (name, data) in zip_entries(wheel) {
        let p = dest.join(&name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
    }
}

#[test]
fn a_provided_library_is_linked_not_bundled_and_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let (site, build) = provider(tmp.path());
    let wheel = cuda_wheel(tmp.path(), &build, "", "");
    let house = tmp.path().join("house");
    let site_arg = site.to_str().unwrap();
    let o = wheelfix(&["repair", wheel.to_str().unwrap(), "-w", house.to_str().unwrap(), "--site-packages", site_arg]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let said = text(&o.stderr);
    assert!(
        said.contains(
            "warning: added `Requires-Dist: Fake_CUDA.rt>=12.9.79` to METADATA: the wheel links libcudart.so.12 from it"
        ),
        "{said}"
    );
    let written = PathBuf::from(text(&o.stdout).trim());
    let entries = zip_entries(&written);
    assert!(!entries.keys().any(|n| n.contains(".libs/") || n.contains("libcudart")), "{:?}", entries.keys());
    let metadata = text(&entries["cudapkg-1.0.dist-info/METADATA"]);
    assert_eq!(metadata, "Metadata-Version: 2.1\nName: cudapkg\nVersion: 1.0\nRequires-Dist: Fake_CUDA.rt>=12.9.79\n");
    // the RECORD agrees with the new METADATA
    let check = wheelfix(&["show", written.to_str().unwrap(), "--site-packages", site_arg]);
    assert_eq!(check.status.code(), Some(0), "repaired: nothing left to do\n{}", text(&check.stdout));

    // installed into the provider's site-packages, it loads with the build copy gone
    unzip_into(&written, &site);
    let ext = site.join("cudapkg/ext.so");
    let dynamic = readelf_dynamic(&ext);
    assert!(dynamic.contains("Library runpath: [$ORIGIN/../nvidia/cuda_runtime/lib]"), "{dynamic}");
    assert!(!dynamic.contains(build.to_str().unwrap()), "the build path must be gone: {dynamic}");
    std::fs::remove_dir_all(&build).unwrap();
    let harness = util::dlopen_harness(tmp.path());
    let run = util::load_pyinit(&harness, &ext);
    assert_eq!(text(&run.stdout).trim(), "PyInit_ext() = 12090", "{}", text(&run.stderr));
    // and not without the provider
    std::fs::rename(site.join("nvidia"), tmp.path().join("nvidia-gone")).unwrap();
    let run = util::load_pyinit(&harness, &ext);
    assert!(text(&run.stdout).contains("LOAD FAILED"), "{}", text(&run.stdout));
}

#[test]
fn requirements_are_added_kept_or_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (site, build) = provider(tmp.path());
    let site_arg = site.to_str().unwrap();
    // already required under another spelling and specifier: left as written, no warning
    let dir = tmp.path().join("have");
    std::fs::create_dir_all(&dir).unwrap();
    let wheel = cuda_wheel(&dir, &build, "", "Requires-Dist: fake-cuda-rt (>=11) ; sys_platform == 'linux'\n");
    let house = dir.join("house");
    let o = wheelfix(&["repair", wheel.to_str().unwrap(), "-w", house.to_str().unwrap(), "--site-packages", site_arg]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(!text(&o.stderr).contains("Requires-Dist"), "{}", text(&o.stderr));
    let written = PathBuf::from(text(&o.stdout).trim());
    let metadata = text(&zip_entries(&written)["cudapkg-1.0.dist-info/METADATA"]);
    assert!(metadata.ends_with("Requires-Dist: fake-cuda-rt (>=11) ; sys_platform == 'linux'\n"), "{metadata}");
    assert_eq!(metadata.matches("Requires-Dist").count(), 1, "{metadata}");

    // --no-add-requires: an error that prints the line to add; nothing written
    let dir = tmp.path().join("refuse");
    std::fs::create_dir_all(&dir).unwrap();
    let wheel = cuda_wheel(&dir, &build, "", "");
    let house = dir.join("house");
    let args = ["repair", wheel.to_str().unwrap(), "-w", house.to_str().unwrap(), "--no-add-requires"];
    let o = Command::new(env!("CARGO_BIN_EXE_wheelfix"))
        .args(args)
        .env("WHEELFIX_SITE_PACKAGES", format!("{}:{site_arg}", tmp.path().join("empty-nothing").display()))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    // the first directory of the list does not exist: an error naming it
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("empty-nothing"), "{}", text(&o.stderr));
    let o = Command::new(env!("CARGO_BIN_EXE_wheelfix"))
        .args(args)
        .env("WHEELFIX_SITE_PACKAGES", site_arg)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let said = text(&o.stderr);
    assert!(said.contains("its METADATA needs:\nRequires-Dist: Fake_CUDA.rt>=12.9.79\n"), "{said}");
    assert!(said.contains("hint: "), "{said}");
    assert!(!house.exists() || std::fs::read_dir(&house).unwrap().next().is_none());
}

#[test]
fn show_marks_provided_libraries_and_sibling_links() {
    let tmp = tempfile::tempdir().unwrap();
    let (site, build) = provider(tmp.path());
    let wheel = cuda_wheel(tmp.path(), &build, ":$ORIGIN/../nvidia/cuda_runtime/lib", "");
    std::fs::remove_dir_all(&build).unwrap();
    let w = wheel.to_str().unwrap();

    // without --site-packages: the library the sibling link expects, told apart, with a hint
    let o = wheelfix(&["show", w]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    for line in [
        "  RPATH entries kept as links to sibling packages:\n    cudapkg/ext.so:\n      $ORIGIN/../nvidia/cuda_runtime/lib (site-packages/nvidia/cuda_runtime/lib)\n",
        "  expected from those sibling packages, not found (1):\n    libcudart.so.12 (needed by cudapkg/ext.so)\n",
        "  hint: pass --site-packages DIR of an environment that has the provider installed\n",
    ] {
        assert!(out.contains(line), "no {line:?} in:\n{out}");
    }
    let schema: serde_json::Value = serde_json::from_str(include_str!("../../schema/show.schema.json")).unwrap();
    let o = wheelfix(&["show", "--json", w]);
    let full: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    check_schema(&schema, &schema, &full, "$").unwrap();
    let doc = crate::util::one_wheel(full);
    assert_eq!(doc["binaries"][0]["sibling_rpaths"][0]["dir"], "nvidia/cuda_runtime/lib");
    let lib = &doc["libraries"][0];
    assert_eq!((lib["name"].as_str(), lib["status"].as_str()), (Some("libcudart.so.12"), Some("missing")));
    assert_eq!(lib["expected_in_sibling_package"], true);

    // with it: provided, with the distribution's name and version
    let site_arg = site.to_str().unwrap();
    let o = wheelfix(&["show", w, "--site-packages", site_arg]);
    let out = text(&o.stdout);
    assert!(out.contains("└── libcudart.so.12 => "), "{out}");
    assert!(out.contains("/nvidia/cuda_runtime/lib/libcudart.so.12 [provided by Fake_CUDA.rt 12.9.79]\n"), "{out}");
    assert!(out.contains("  no external libraries to bundle\n"), "{out}");
    assert!(!out.contains("expected from those sibling packages"), "{out}");
    // the link is already in the RPATH and nothing is bundled: nothing stands in the way
    assert_eq!(o.status.code(), Some(0), "{out}");
    let o = wheelfix(&["show", "--json", w, "--site-packages", site_arg]);
    let full: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    check_schema(&schema, &schema, &full, "$").unwrap();
    let doc = crate::util::one_wheel(full);
    let lib = &doc["libraries"][0];
    assert_eq!(lib["status"], "provided");
    assert_eq!(lib["provider"]["name"], "Fake_CUDA.rt");
    assert_eq!(lib["provider"]["version"], "12.9.79");
    assert_eq!(lib["provider"]["path"], "nvidia/cuda_runtime/lib/libcudart.so.12");
    assert_eq!(doc["linux"]["external_libs"], serde_json::json!({}));
    // not counted against the policy, but the symbol versions asked of it are reported
    assert_eq!(doc["linux"]["versioned_symbols"]["libcudart.so.12"], serde_json::json!(["libcudart.so.12"]));
    assert_eq!(doc["linux"]["best_tag"], "manylinux_2_5_x86_64");
}

#[test]
fn exclude_patterns_match_versioned_names_and_unused_ones_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, build) = provider(tmp.path());
    let wheel = cuda_wheel(tmp.path(), &build, "", "");
    let w = wheel.to_str().unwrap();
    // `libcudart*` matches `libcudart.so.12`: excluded, nothing to bundle
    let o = wheelfix(&["show", w, "--exclude", "libcudart*"]);
    let out = text(&o.stdout);
    assert!(out.contains("└── libcudart.so.12 [excluded]"), "{out}");
    assert!(!out.contains("warning:"), "{out}");
    // `libcudart.so` does not (auditwheel's fnmatch): bundled, and the pattern is named
    let house = tmp.path().join("house");
    let o = wheelfix(&["repair", w, "-w", house.to_str().unwrap(), "--exclude", "libcudart.so", "-e", "nothing*"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let said = text(&o.stderr);
    assert!(
        said.contains(
            "warning: --exclude pattern `libcudart.so` matches no library (it does not match versioned names such as \
             `libcudart.so.9`: use `libcudart.so*`)\n"
        ),
        "{said}"
    );
    assert!(said.contains("warning: --exclude pattern `nothing*` matches no library\n"), "{said}");
    let written = PathBuf::from(text(&o.stdout).trim());
    assert!(zip_entries(&written).keys().any(|n| n.starts_with("cudapkg.libs/libcudart-")));
    let o = wheelfix(&["show", w, "--exclude", "libcudart.so"]);
    assert!(text(&o.stdout).contains("  warning: --exclude pattern `libcudart.so` matches no library"));
}

/// A library the repair bundles that itself needs a provided library: the
/// grafted copy links the provider from `<dist>.libs/`, and the whole loads.
#[test]
fn a_bundled_library_links_the_provider_too() {
    let tmp = tempfile::tempdir().unwrap();
    let (site, build) = provider(tmp.path());
    let b = build.to_str().unwrap();
    let dir = tmp.path();
    cc(
        dir,
        "int cudaRuntimeGetVersion(int *v);\nint foo(void) { int v = 0; cudaRuntimeGetVersion(&v); return v + 1; }\n",
        &build.join("libfoo.so.1"),
        &["-shared", "-Wl,-soname,libfoo.so.1", "-L", b, "-l:libcudart.so.12"],
    );
    let ext = dir.join("ext.so");
    let rpath = format!("-Wl,-rpath,{b}");
    cc(
        dir,
        "int foo(void);\nint PyInit_ext(void) { return foo(); }\n",
        &ext,
        &["-shared", "-L", b, "-l:libfoo.so.1", &rpath],
    );
    let files =
        vec![("cudapkg/__init__.py".into(), b"".to_vec()), ("cudapkg/ext.so".into(), std::fs::read(&ext).unwrap())];
    let wheel = make_wheel(dir, "cudapkg", "linux_x86_64", files);
    let house = dir.join("house");
    let site_arg = site.to_str().unwrap();
    let o = wheelfix(&["repair", wheel.to_str().unwrap(), "-w", house.to_str().unwrap(), "--site-packages", site_arg]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let written = PathBuf::from(text(&o.stdout).trim());
    let entries = zip_entries(&written);
    let grafted: Vec<&String> = entries.keys().filter(|n| n.starts_with("cudapkg.libs/")).collect();
    assert_eq!(grafted.len(), 1, "only libfoo is bundled: {grafted:?}");
    assert!(grafted[0].starts_with("cudapkg.libs/libfoo-"), "{grafted:?}");
    unzip_into(&written, &site);
    let foo = readelf_dynamic(&site.join(grafted[0]));
    assert!(foo.contains("Library rpath: [$ORIGIN/../nvidia/cuda_runtime/lib]"), "{foo}");
    let ext_dynamic = readelf_dynamic(&site.join("cudapkg/ext.so"));
    assert!(
        ext_dynamic.contains("Library rpath: [$ORIGIN/../cudapkg.libs]"),
        "the extension needs no link: {ext_dynamic}"
    );
    std::fs::remove_dir_all(&build).unwrap();
    let harness = util::dlopen_harness(dir);
    let run = util::load_pyinit(&harness, &site.join("cudapkg/ext.so"));
    assert_eq!(text(&run.stdout).trim(), "PyInit_ext() = 12091", "{}", text(&run.stderr));
}
