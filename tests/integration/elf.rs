//! ELF tests: parsing checked against binutils' `readelf`, and the native
//! rewriter checked by golden dumps, `readelf` warnings, the PT_LOAD layout
//! rules and a bare C `dlopen` harness run as a fresh process.
//!
//! Fixtures are compiled with `cc` at test time from `fixtures/elf/src`;
//! what a plain x86-64 box cannot build (lld output, other architectures,
//! a patchelf-touched library) is committed in `fixtures/elf/prebuilt`,
//! rebuilt by `fixtures/elf/build-prebuilt.sh`. Golden dumps live in
//! `tests/golden/elf`; `WHEELFIX_UPDATE_GOLDEN=1` rewrites them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use wheelfix::binary::elf::{dump, dump_dynamic, parse, ElfClass, Endian};
use wheelfix::patch::elf::{apply, layout_violations, strip, ElfEdits, RpathEdit};
use wheelfix::patch::PatchError;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

mod notes;
mod rewrite;
mod sweep;

// ---------------------------------------------------------------------------
// Helpers.

fn src(name: &str) -> PathBuf {
    Path::new(ROOT).join("fixtures/elf/src").join(name)
}

fn prebuilt(name: &str) -> PathBuf {
    Path::new(ROOT).join("fixtures/elf/prebuilt").join(name)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?} (is it installed?): {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cc(dir: &Path, args: &[&str]) {
    run(Command::new("cc").current_dir(dir).args(args));
}

/// The C fixtures, compiled once per test process.
struct Fixtures {
    dir: PathBuf,
}

impl Fixtures {
    fn get() -> &'static Fixtures {
        static F: OnceLock<Fixtures> = OnceLock::new();
        F.get_or_init(|| {
            let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
            // Remove what dead earlier runs left behind.
            if let Ok(rd) = fs::read_dir(base) {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if let Some(pid) = name.strip_prefix("elf-fixtures-") {
                        if !Path::new("/proc").join(pid).exists() {
                            let _ = fs::remove_dir_all(e.path());
                        }
                    }
                }
            }
            let dir = base.join(format!("elf-fixtures-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            let s = |n: &str| src(n).to_string_lossy().into_owned();
            let bar_map = format!("-Wl,--version-script={}", s("bar.map"));
            cc(&dir, &["-shared", "-fPIC", "-o", "libbar.so", "-Wl,-soname,libbar.so", &bar_map, &s("bar.c")]);
            cc(
                &dir,
                &[
                    "-shared",
                    "-fPIC",
                    "-o",
                    "libfoo.so",
                    "-Wl,-soname,libfoo.so",
                    &s("foo.c"),
                    "-L.",
                    "-lbar",
                    "-Wl,--disable-new-dtags,-rpath,$ORIGIN",
                ],
            );
            cc(
                &dir,
                &[
                    "-shared",
                    "-fPIC",
                    "-o",
                    "libfoo2m.so",
                    "-Wl,-soname,libfoo2m.so",
                    "-Wl,-z,max-page-size=0x200000",
                    &s("foo.c"),
                    "-L.",
                    "-lbar",
                    "-Wl,--disable-new-dtags,-rpath,$ORIGIN",
                ],
            );
            cc(
                &dir,
                &[
                    "-shared",
                    "-fPIC",
                    "-o",
                    "ext.so",
                    &s("ext.c"),
                    "-L.",
                    "-lfoo",
                    "-Wl,--enable-new-dtags,-rpath,$ORIGIN",
                ],
            );
            cc(&dir, &["-shared", "-fPIC", "-o", "libisa.so", "-Wl,-z,x86-64-v3", &s("bar.c")]);
            cc(&dir, &["-o", "musl-exe", "-Wl,--dynamic-linker=/lib/ld-musl-x86_64.so.1", &s("main.c")]);
            cc(&dir, &["-static", "-o", "static-exe", &s("main.c")]);
            cc(&dir, &["-o", "dl", &s("dl.c"), "-ldl"]);
            Fixtures { dir }
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        fs::read(self.path(name)).unwrap()
    }
}

fn write_exec(path: &Path, data: &[u8]) {
    fs::write(path, data).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Loads `lib` with the bare C harness in a fresh process and calls `sym`.
/// `Ok(stdout)` or `Err(stderr)`; a load that hangs for 30 s is an error.
fn dlopen(lib: &Path, sym: Option<&str>) -> Result<String, String> {
    let mut cmd = Command::new(Fixtures::get().path("dl"));
    cmd.arg(lib).args(sym).stdout(Stdio::piped()).stderr(Stdio::piped()).env_remove("LD_LIBRARY_PATH");
    let mut child = cmd.spawn().map_err(|e| format!("cannot run the dlopen harness: {e}"))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > Duration::from_secs(30) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("timed out".into());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(e.to_string()),
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Runs `readelf` with `args` and fails the test on any warning or error.
fn readelf_clean(path: &Path, args: &[&str]) -> String {
    let out = Command::new("readelf")
        .args(args)
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("readelf (binutils) is required for the ELF tests: {e}"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.trim().is_empty(), "readelf {args:?} {} printed: {err}", path.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn golden(name: &str, text: &str) {
    crate::util::golden(&format!("elf/{name}"), text);
}

/// The dump of a file compiled at test time: glibc's own symbol versions
/// vary with the C library, so verneed lines for libc are left out.
fn stable_dump(data: &[u8]) -> String {
    dump_dynamic(data)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("verneed: libc.so.6"))
        .map(|l| format!("{l}\n"))
        .collect()
}

// ---------------------------------------------------------------------------
// readelf as the independent reader.

#[derive(Debug, Default, PartialEq)]
struct Readelf {
    class: String,
    data: String,
    osabi: String,
    elf_type: String,
    machine: String,
    flags: u32,
    interp: Option<String>,
    soname: Option<String>,
    needed: Vec<String>,
    rpath: Vec<String>,
    runpath: Vec<String>,
    verneed: Vec<(String, Vec<String>)>,
    imported: Vec<String>,
    py_init: Vec<String>,
    isa: Option<u32>,
}

fn bracketed(line: &str) -> Option<String> {
    let s = line.find('[')?;
    let e = line.rfind(']')?;
    Some(line[s + 1..e].to_string())
}

fn readelf(path: &Path) -> Readelf {
    let mut r = Readelf::default();
    for line in readelf_clean(path, &["-h", "-W"]).lines() {
        let Some((k, v)) = line.split_once(':') else { continue };
        let v = v.trim().to_string();
        match k.trim() {
            "Class" => r.class = v,
            "Data" => r.data = v,
            "OS/ABI" => r.osabi = v,
            "Type" => r.elf_type = v.split_whitespace().next().unwrap_or("").to_string(),
            "Machine" => r.machine = v,
            "Flags" => {
                r.flags = u32::from_str_radix(v.split(',').next().unwrap().trim_start_matches("0x"), 16).unwrap()
            }
            _ => {}
        }
    }
    for line in readelf_clean(path, &["-l", "-W"]).lines() {
        if let Some(i) = line.trim().strip_prefix("[Requesting program interpreter: ") {
            r.interp = Some(i.trim_end_matches(']').to_string());
        }
    }
    for line in readelf_clean(path, &["-d", "-W"]).lines() {
        let split = |v: String| v.split(':').map(str::to_owned).collect::<Vec<_>>();
        if line.contains("(NEEDED)") {
            r.needed.push(bracketed(line).unwrap());
        } else if line.contains("(SONAME)") {
            r.soname = bracketed(line);
        } else if line.contains("(RPATH)") {
            r.rpath = split(bracketed(line).unwrap());
        } else if line.contains("(RUNPATH)") {
            r.runpath = split(bracketed(line).unwrap());
        }
    }
    let mut in_needs = false;
    for line in readelf_clean(path, &["-V", "-W"]).lines() {
        if line.starts_with("Version needs section") {
            in_needs = true;
        } else if line.starts_with("Version ") {
            in_needs = false;
        } else if in_needs {
            if let Some(p) = line.find("File: ") {
                let file = line[p + 6..].split_whitespace().next().unwrap().to_string();
                r.verneed.push((file, Vec::new()));
            } else if let Some(p) = line.find("Name: ") {
                let name = line[p + 6..].split_whitespace().next().unwrap().to_string();
                r.verneed.last_mut().unwrap().1.push(name);
            }
        }
    }
    let mut imported = BTreeSet::new();
    let mut py_init = BTreeSet::new();
    for line in readelf_clean(path, &["--dyn-syms", "-W"]).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 || !f[0].ends_with(':') || f[0] == "Num:" {
            continue;
        }
        let name = f[7].split('@').next().unwrap().to_string();
        let (typ, bind, ndx) = (f[3], f[4], f[6]);
        if ndx == "UND" && bind == "GLOBAL" && !name.is_empty() {
            imported.insert(name);
        } else if ndx != "UND"
            && typ == "FUNC"
            && bind != "LOCAL"
            && (name.starts_with("PyInit_") || name.starts_with("_cffi_pypyinit_"))
        {
            py_init.insert(name);
        }
    }
    r.imported = imported.into_iter().collect();
    r.py_init = py_init.into_iter().collect();
    for line in readelf_clean(path, &["-n", "-W"]).lines() {
        if let Some(p) = line.find("x86 ISA needed: ") {
            let mut bits = 0;
            for level in line[p + 16..].split(',').map(str::trim) {
                bits |= match level {
                    "x86-64-baseline" => 1,
                    "x86-64-v2" => 2,
                    "x86-64-v3" => 4,
                    "x86-64-v4" => 8,
                    other => panic!("unknown ISA level `{other}` in readelf output"),
                };
            }
            r.isa = Some(r.isa.unwrap_or(0) | bits);
        }
    }
    r
}

/// Parses `path` with wheelfix and with readelf and compares every field.
fn assert_parse_matches_readelf(path: &Path) {
    let data = fs::read(path).unwrap();
    let info = parse(&data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let r = readelf(path);
    let ctx = path.display();
    let class = match info.class {
        Some(ElfClass::Elf64) => "ELF64",
        Some(ElfClass::Elf32) => "ELF32",
        None => "?",
    };
    assert_eq!(class, r.class, "{ctx}: class");
    let endian = if info.endian == Some(Endian::Big) { "big endian" } else { "little endian" };
    assert!(r.data.ends_with(endian), "{ctx}: data `{}` vs {endian}", r.data);
    let machine = match r.machine.as_str() {
        "Advanced Micro Devices X86-64" => 62,
        "AArch64" => 183,
        "Intel 80386" => 3,
        "IBM S/390" => 22,
        "PowerPC64" => 21,
        m => panic!("{ctx}: machine `{m}` not in the test's table"),
    };
    assert_eq!(info.machine, machine, "{ctx}: machine");
    let osabi = match r.osabi.as_str() {
        "UNIX - System V" => 0,
        "UNIX - GNU" => 3,
        o => panic!("{ctx}: OS/ABI `{o}` not in the test's table"),
    };
    assert_eq!(info.osabi, osabi, "{ctx}: osabi");
    let elf_type = match r.elf_type.as_str() {
        "EXEC" => 2,
        "DYN" => 3,
        t => panic!("{ctx}: type `{t}`"),
    };
    assert_eq!(info.elf_type, elf_type, "{ctx}: type");
    assert_eq!(info.flags, r.flags, "{ctx}: flags");
    assert_eq!(info.interp, r.interp, "{ctx}: interp");
    assert_eq!(info.soname, r.soname, "{ctx}: soname");
    assert_eq!(info.needed, r.needed, "{ctx}: needed");
    assert_eq!(info.rpath, r.rpath, "{ctx}: rpath");
    assert_eq!(info.runpath, r.runpath, "{ctx}: runpath");
    let verneed: Vec<(String, Vec<String>)> =
        info.version_needs.iter().map(|v| (v.file.clone(), v.versions.clone())).collect();
    assert_eq!(verneed, r.verneed, "{ctx}: verneed");
    assert_eq!(info.imported_symbols, r.imported, "{ctx}: imported symbols");
    assert_eq!(info.py_init, r.py_init, "{ctx}: py_init");
    assert_eq!(info.x86_isa_needed, r.isa, "{ctx}: x86 ISA needed");
}

const PREBUILT: &[&str] = &[
    "libsmall-lld.so",
    "libsmall-aarch64.so",
    "libsmall-i686.so",
    "libsmall-s390x.so",
    "libsmall-ppc64.so",
    "libsmall-patchelf.so",
];

// ---------------------------------------------------------------------------
// Parsing.

#[test]
fn parse_compiled_fixtures_matches_readelf() {
    let fx = Fixtures::get();
    for name in ["libbar.so", "libfoo.so", "libfoo2m.so", "ext.so", "libisa.so", "musl-exe", "static-exe", "dl"] {
        assert_parse_matches_readelf(&fx.path(name));
    }
    // Spot checks on what the fixtures were built to contain, so that the
    // comparison above is known to cover non-empty fields.
    let ext = parse(&fx.read("ext.so")).unwrap();
    assert_eq!(ext.py_init, ["PyInit_ext"]);
    assert!(ext.imported_symbols.contains(&"__cxa_thread_atexit_impl".to_string()));
    assert!(ext.imported_symbols.contains(&"foo_value".to_string()));
    assert_eq!(ext.runpath, ["$ORIGIN"]);
    let foo = parse(&fx.read("libfoo.so")).unwrap();
    assert_eq!(foo.rpath, ["$ORIGIN"]);
    assert_eq!(foo.soname.as_deref(), Some("libfoo.so"));
    assert!(foo.version_needs.iter().any(|v| v.file == "libbar.so" && v.versions == ["BAR_1.0"]));
    assert_eq!(parse(&fx.read("libisa.so")).unwrap().x86_isa_needed.map(|b| b & 4), Some(4));
    let musl = parse(&fx.read("musl-exe")).unwrap();
    assert_eq!(musl.interp.as_deref(), Some("/lib/ld-musl-x86_64.so.1"));
    assert!(musl.is_musl());
    let stat = parse(&fx.read("static-exe")).unwrap();
    assert!(stat.needed.is_empty() && stat.imported_symbols.is_empty());
}

#[test]
fn parse_prebuilt_fixtures_matches_readelf() {
    for name in PREBUILT {
        assert_parse_matches_readelf(&prebuilt(name));
    }
    let arches: Vec<_> = PREBUILT.iter().map(|n| parse(&fs::read(prebuilt(n)).unwrap()).unwrap().arch()).collect();
    assert_eq!(
        arches,
        [Some("x86_64"), Some("aarch64"), Some("i686"), Some("s390x"), Some("ppc64"), Some("x86_64")],
        "fixture architectures"
    );
}

#[test]
fn parse_system_libraries_matches_readelf() {
    let dir = Path::new("/usr/lib/x86_64-linux-gnu");
    let mut checked = 0;
    for name in ["libz.so.1", "libstdc++.so.6", "libpng16.so.16", "libcrypto.so.3", "libgcc_s.so.1", "libm.so.6"] {
        let path = dir.join(name);
        if path.exists() {
            assert_parse_matches_readelf(&path);
            checked += 1;
        }
    }
    assert!(checked >= 3, "expected at least 3 of the sample system libraries in {}", dir.display());
}

// ---------------------------------------------------------------------------
// Rewriting.

fn edits(f: impl FnOnce(&mut ElfEdits)) -> ElfEdits {
    let mut e = ElfEdits::default();
    f(&mut e);
    e
}

/// Checks every rewritten file: readelf prints no warning, the PT_LOAD
/// layout rules hold, and the file grew by at most one page (plus the
/// copied string table and dynamic section).
fn check_output(input: &[u8], output: &[u8], dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    write_exec(&path, output);
    readelf_clean(&path, &["-a", "-W"]);
    let violations = layout_violations(output).unwrap();
    assert!(violations.is_empty(), "{name}: {violations:?}");
    notes::assert_program_headers_kept(input, output, name);
    let info = parse(output).unwrap();
    let dynstr = info.needed.iter().chain(&info.soname).map(|s| s.len() + 1).sum::<usize>();
    let page = 0x10000; // the largest page size of the fixtures' architectures
    let old_strsz = strsz(input);
    let bound = page + old_strsz + dynstr + info.rpath.join(":").len() + info.runpath.join(":").len() + 64 * 16;
    assert!(output.len() <= input.len() + bound, "{name}: grew from {} to {} bytes", input.len(), output.len());
    // a string table that moved leaves no copy behind (it would be
    // compressed twice): the input's `.dynstr` is in the output once
    if let Some(old) = section_bytes(input, ".dynstr").filter(|b| b.len() > 16) {
        let copies = output.windows(old.len()).filter(|w| *w == &old[..]).count();
        assert_eq!(copies, 1, "{name}: the input's .dynstr is in the output {copies} times");
    }
    path
}

/// The bytes of section `section` of an ELF file, found by readelf.
fn section_bytes(data: &[u8], section: &str) -> Option<Vec<u8>> {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    fs::write(tmp.path(), data).unwrap();
    let out = readelf_clean(tmp.path(), &["-S", "-W"]);
    let line = out.lines().find(|l| l.split_whitespace().any(|w| w == section))?;
    let after: Vec<&str> = line.split(section).nth(1)?.split_whitespace().collect();
    // type, address, offset, size
    let off = usize::from_str_radix(after.get(2)?, 16).ok()?;
    let size = usize::from_str_radix(after.get(3)?, 16).ok()?;
    data.get(off..off + size).map(<[u8]>::to_vec)
}

/// DT_STRSZ, read from readelf.
fn strsz(data: &[u8]) -> usize {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    fs::write(tmp.path(), data).unwrap();
    let out = readelf_clean(tmp.path(), &["-d", "-W"]);
    let line = out.lines().find(|l| l.contains("(STRSZ)")).expect("DT_STRSZ");
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

fn ops_for(soname: &str, old_needed: &str, new_needed: &str, removable: Option<&str>) -> Vec<(&'static str, ElfEdits)> {
    let long_rpath = "$ORIGIN/../wheelfix_demo.libs:$ORIGIN/a/longer/search/path";
    let mut ops = vec![
        ("set-soname", edits(|e| e.set_soname = Some(soname.into()))),
        ("replace-needed", edits(|e| e.replace_needed = vec![(old_needed.into(), new_needed.into())])),
        ("set-rpath", edits(|e| e.rpath = Some(RpathEdit::SetRpath(long_rpath.into())))),
        ("set-runpath", edits(|e| e.rpath = Some(RpathEdit::SetRunpath(long_rpath.into())))),
        ("remove-rpath", edits(|e| e.rpath = Some(RpathEdit::Remove))),
        (
            "all",
            edits(|e| {
                e.set_soname = Some(soname.into());
                e.replace_needed = vec![(old_needed.into(), new_needed.into())];
                e.rpath = Some(RpathEdit::SetRpath(long_rpath.into()));
            }),
        ),
    ];
    if let Some(r) = removable {
        ops.push(("remove-needed", edits(|e| e.remove_needed = vec![r.into()])));
    }
    ops
}
