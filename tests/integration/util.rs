//! Shared helpers: compiling C with `cc`, making wheels, running `wheelfix`,
//! golden files, and a small JSON Schema checker.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// Compiles `source` (C text) into `out` with `cc` and extra `args`.
pub fn cc(dir: &Path, source: &str, out: &Path, args: &[&str]) {
    let src = dir.join(format!("{}.c", out.file_name().unwrap().to_string_lossy().replace('.', "_")));
    std::fs::write(&src, source).unwrap();
    let status = Command::new("cc")
        .args(["-O1", "-fPIC", "-g0"])
        .arg(&src)
        .arg("-o")
        .arg(out)
        .args(args)
        .output()
        .expect("cc must be installed to run the tests");
    assert!(status.status.success(), "cc failed for {}:\n{}", out.display(), String::from_utf8_lossy(&status.stderr));
}

/// A chain ext → libfoo.so.1 → libbar.so.1 built with cc: the libraries in
/// `dir/lib`, the extension in `dir/ext.so` (RUNPATH to `dir/lib`).
pub struct Chain {
    pub lib_dir: PathBuf,
    pub ext: PathBuf,
}

pub fn build_chain(dir: &Path) -> Chain {
    let lib = dir.join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    cc(dir, "int bar(void) { return 2; }\n", &lib.join("libbar.so.1"), &["-shared", "-Wl,-soname,libbar.so.1"]);
    let libdir = lib.to_str().unwrap();
    cc(
        dir,
        "int bar(void);\nint foo(void) { return 40 + bar(); }\n",
        &lib.join("libfoo.so.1"),
        &["-shared", "-Wl,-soname,libfoo.so.1", "-L", libdir, "-l:libbar.so.1"],
    );
    let ext = dir.join("ext.so");
    cc(
        dir,
        "int foo(void);\nint PyInit_ext(void) { return foo(); }\n",
        &ext,
        &["-shared", "-L", libdir, "-l:libfoo.so.1", &format!("-Wl,-rpath,{libdir}"), "-Wl,--enable-new-dtags"],
    );
    Chain { lib_dir: lib, ext }
}

/// Writes a wheel `{name}-1.0-cp311-cp311-{plat}.whl` into `dir` holding `files`
/// (arcname, content) plus dist-info, with a correct RECORD.
pub fn make_wheel(dir: &Path, name: &str, plat: &str, files: Vec<(String, Vec<u8>)>) -> PathBuf {
    let filename: wheelfix::wheel::WheelFilename = format!("{name}-1.0-cp311-cp311-{plat}.whl").parse().unwrap();
    let di = filename.dist_info_dir();
    let mut entries: Vec<(String, Vec<u8>, u32)> = files
        .into_iter()
        .map(|(n, d)| {
            let mode = if n.ends_with(".so") || n.contains(".so.") { 0o755 } else { 0o644 };
            (n, d, mode)
        })
        .collect();
    entries.push((
        format!("{di}/METADATA"),
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n").into_bytes(),
        0o644,
    ));
    entries.push((
        format!("{di}/WHEEL"),
        format!("Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: cp311-cp311-{plat}\n").into_bytes(),
        0o644,
    ));
    wheelfix::wheel::writer::write_new_wheel(dir, &filename, entries, &Default::default()).unwrap()
}

/// Runs the built `wheelfix` binary.
pub fn wheelfix(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wheelfix"))
        .args(args)
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("AUDITWHEEL_PLAT")
        .env_remove("MACOSX_DEPLOYMENT_TARGET")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// `wheelfix repair WHEEL -w OUT EXTRA...`, which must succeed; the wheel it wrote.
pub fn repair_ok(wheel: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec!["repair", wheel.to_str().unwrap(), "-w", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = wheelfix(&args);
    assert_eq!(o.status.code(), Some(0), "repair failed: {}", text(&o.stderr));
    PathBuf::from(text(&o.stdout).trim())
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `readelf -d` of a file (binutils, an independent reader).
pub fn readelf_dynamic(path: &Path) -> String {
    let out = Command::new("readelf").arg("-dW").arg(path).output().expect("readelf (binutils) must be installed");
    assert!(out.status.success(), "readelf failed on {}", path.display());
    assert!(out.stderr.is_empty(), "readelf warned on {}: {}", path.display(), text(&out.stderr));
    text(&out.stdout)
}

/// The per-wheel object of a `show --json` document of one wheel
/// (`{"schema_version": 2, "wheels": [one]}`).
pub fn one_wheel(doc: Value) -> Value {
    assert_eq!(doc["schema_version"], 2, "{doc}");
    let wheels = doc["wheels"].as_array().unwrap_or_else(|| panic!("no `wheels` array: {doc}"));
    assert_eq!(wheels.len(), 1, "{doc}");
    wheels[0].clone()
}

/// Checks `value` against a JSON Schema (the subset our schemas use: type,
/// const, enum, required, properties, additionalProperties, items, $ref to
/// `#/$defs/…`). Returns the first problem.
pub fn check_schema(schema: &Value, root: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/$defs/").ok_or(format!("unsupported $ref {r}"))?;
        let target = root.get("$defs").and_then(|d| d.get(name)).ok_or(format!("unknown $ref {r}"))?;
        return check_schema(target, root, value, at);
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            _ => false,
        });
        if !ok {
            return Err(format!("{at}: expected {types:?}, got {value}"));
        }
    }
    if let Some(c) = schema.get("const") {
        if c != value {
            return Err(format!("{at}: expected {c}, got {value}"));
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum") {
        if !options.contains(value) {
            return Err(format!("{at}: {value} not in {options:?}"));
        }
    }
    if let Value::Object(obj) = value {
        if let Some(Value::Array(req)) = schema.get("required") {
            for r in req.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    return Err(format!("{at}: missing `{r}`"));
                }
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        for (k, v) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(s) => check_schema(s, root, v, &format!("{at}.{k}"))?,
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => return Err(format!("{at}: unexpected `{k}`")),
                    Some(s @ Value::Object(_)) => check_schema(s, root, v, &format!("{at}.{k}"))?,
                    _ => {}
                },
            }
        }
    }
    if let (Value::Array(items), Some(s)) = (value, schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            check_schema(s, root, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// A bare C `dlopen(RTLD_NOW)` harness (not Python: an interpreter that
/// already loaded a library would hide a broken reference): `harness LIB FUNC`
/// loads LIB, calls `int FUNC(void)` and prints `FUNC() = N`, or `LOAD FAILED: …`.
const DLOPEN_HARNESS: &str = r#"
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) { printf("LOAD FAILED: %s\n", dlerror()); return 1; }
    int (*f)(void) = (int (*)(void))dlsym(h, argv[2]);
    if (!f) { printf("NO SYMBOL\n"); return 1; }
    printf("%s() = %d\n", argv[2], f());
    return 0;
}
"#;

/// Builds the dlopen harness into `dir`.
pub fn dlopen_harness(dir: &Path) -> PathBuf {
    let exe = dir.join("dlopen-harness");
    cc(dir, DLOPEN_HARNESS, &exe, &["-ldl"]);
    exe
}

/// Runs the dlopen harness on `module`, calling `PyInit_ext`, with no
/// `LD_LIBRARY_PATH`: only the module's own RPATH/RUNPATH can find its libraries.
pub fn load_pyinit(harness: &Path, module: &Path) -> Output {
    Command::new(harness).arg(module).arg("PyInit_ext").env_remove("LD_LIBRARY_PATH").output().unwrap()
}

/// Loads `module` (unzipped from a repaired wheel) through the dlopen
/// harness after moving `lib_dir` (the build machine's libraries) away: it
/// must find everything inside the wheel. Returns the harness, for more runs.
pub fn loads_with_libraries_gone(dir: &Path, lib_dir: &Path, module: &Path) -> PathBuf {
    let harness = dlopen_harness(dir);
    std::fs::rename(lib_dir, dir.join("lib-gone")).unwrap();
    let run = load_pyinit(&harness, module);
    assert_eq!(text(&run.stdout).trim(), "PyInit_ext() = 42", "{}", text(&run.stderr));
    harness
}

/// The chain of [`build_chain`] packed as `chainpkg-1.0-cp311-cp311-linux_x86_64.whl`
/// (`chainpkg/__init__.py`, `chainpkg/ext.so`).
pub fn chain_wheel(dir: &Path) -> (PathBuf, Chain) {
    let chain = build_chain(dir);
    let wheel = make_wheel(
        dir,
        "chainpkg",
        "linux_x86_64",
        vec![
            ("chainpkg/__init__.py".into(), b"".to_vec()),
            ("chainpkg/ext.so".into(), std::fs::read(&chain.ext).unwrap()),
        ],
    );
    (wheel, chain)
}

/// The wheel at `path` written again by the zip crate (zlib-rs at level 6,
/// zlib's block sizes), as pip, setuptools and maturin write wheels: same
/// entries, same order, same bytes.
pub fn rezip_with_zlib(path: &Path) {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let tmp = path.with_extension("rezip");
    let mut w = zip::ZipWriter::new(std::fs::File::create(&tmp).unwrap());
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(6))
            .unix_permissions(f.unix_mode().unwrap_or(0o644));
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        let name = f.name().unwrap().to_string();
        w.start_file(name, options).unwrap();
        std::io::Write::write_all(&mut w, &data).unwrap();
    }
    w.finish().unwrap();
    std::fs::rename(tmp, path).unwrap();
}

/// Every entry of a zip, name → bytes, read with the zip crate (not our reader).
pub fn zip_entries(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        out.insert(f.name().unwrap().to_string(), data);
    }
    out
}

/// Compares `text` with the golden file `tests/golden/{rel}.txt`; with
/// `WHEELFIX_UPDATE_GOLDEN=1` in the environment, writes it instead. A
/// missing file is a failure that says how to make it; a differing one
/// names the first line that differs.
pub fn golden(rel: &str, text: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{rel}.txt"));
    if std::env::var_os("WHEELFIX_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "golden file {} is missing ({e}); write it with `WHEELFIX_UPDATE_GOLDEN=1 cargo test`, read it, and commit it",
            path.display()
        )
    });
    if text != want {
        let (now, was): (Vec<&str>, Vec<&str>) = (text.lines().collect(), want.lines().collect());
        let line = now.iter().zip(&was).position(|(a, b)| a != b).unwrap_or(now.len().min(was.len()));
        let around = |lines: &[&str]| {
            let end = (line + 3).min(lines.len());
            lines[line.saturating_sub(2).min(end)..end].iter().map(|l| format!("    {l}\n")).collect::<String>()
        };
        panic!(
            "dump differs from {} at line {} ({} lines now, {} in the file)\n  golden:\n{}  now:\n{}\
             if the change is meant, rewrite the file with `WHEELFIX_UPDATE_GOLDEN=1 cargo test` and review the diff",
            path.display(),
            line + 1,
            now.len(),
            was.len(),
            around(&was),
            around(&now)
        );
    }
}

/// Compares a dump of the wheel at `wheel` with the golden file
/// `tests/golden/{rel}.txt` (see [`golden`]): its file name, the names of
/// its entries, then the dump of each Mach-O or PE entry, read with the zip
/// crate and dumped by the independent readers of `macho_dump.rs` and `pe_dump.rs`.
pub fn golden_wheel(rel: &str, wheel: &Path) {
    let entries = zip_entries(wheel);
    let mut text = format!("wheel: {}\n", wheel.file_name().unwrap().to_string_lossy());
    for name in entries.keys() {
        text.push_str(&format!("entry: {name}\n"));
    }
    for (name, data) in &entries {
        let dump = match data.get(..4) {
            Some([0xcf, 0xfa, 0xed, 0xfe] | [0xce, 0xfa, 0xed, 0xfe] | [0xca, 0xfe, 0xba, 0xbe]) => {
                crate::macho_dump::dump(data)
            }
            Some([b'M', b'Z', _, _]) => crate::pe_dump::dump(data),
            _ => continue,
        };
        text.push_str(&format!("\n=== {name}\n{dump}"));
    }
    golden(rel, &text);
}

/// Replaces every occurrence of `from` by `to` (same length) in zip bytes; at
/// least the local and the central header must hold it.
pub fn replace_all(data: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut hits = 0;
    let mut i = 0;
    while i + from.len() <= data.len() {
        if &data[i..i + from.len()] == from {
            data[i..i + from.len()].copy_from_slice(to);
            hits += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    assert!(hits >= 2, "expected the name in the local and the central header, found {hits}");
}

/// Incompressible bytes (xorshift) from `seed`.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `len` bytes of runs of symbol names between runs of noise from `seed`:
/// they deflate into many blocks.
fn text_and_noise(seed: u64, len: usize) -> Vec<u8> {
    const TEXT: &[u8] = b"GLIBC_2.17 PyInit_ext libfoo.so.1 GLIBC_2.17 PyInit_ext libfoo.so.1 ";
    let mut v = noise(seed, len);
    for chunk in v.chunks_mut(2 * TEXT.len()) {
        let n = chunk.len().min(TEXT.len());
        chunk[..n].copy_from_slice(&TEXT[..n]);
    }
    v
}

/// A wheel `bigpkg` holding a big extension, and what it was made from.
pub struct BigExtension {
    /// The chain the extension links against.
    pub chain: Chain,
    /// The blob inside the extension.
    pub data: Vec<u8>,
    /// The wheel.
    pub wheel: PathBuf,
    /// The extension's bytes, as in the wheel.
    pub ext_bytes: Vec<u8>,
}

/// A wheel `bigpkg` in `dir` whose `bigpkg/ext.so` is the chain's extension
/// (the chain built in `dir`) plus a read-only blob of `len` bytes of text
/// and noise from `seed`, linked against the chain's libfoo with a RUNPATH
/// to it, and deflated the way build tools do it, in zlib's blocks of some
/// 16 KiB of symbols (libdeflate, which wheelfix writes with, makes fewer).
pub fn big_extension_wheel(dir: &Path, seed: u64, len: usize) -> BigExtension {
    let chain = build_chain(dir);
    let data = text_and_noise(seed, len);
    let libdir = chain.lib_dir.to_str().unwrap();
    let blob_path = dir.join("blob.bin");
    std::fs::write(&blob_path, &data).unwrap();
    let src = format!(
        "int foo(void);\nint PyInit_ext(void) {{ return foo(); }}\n\
         __asm__(\".section .rodata\\n.globl big_blob\\nbig_blob:\\n.incbin \\\"{}\\\"\\n.previous\");\n",
        blob_path.display()
    );
    let ext = dir.join("bigext.so");
    let rpath = format!("-Wl,-rpath,{libdir}");
    cc(dir, &src, &ext, &["-shared", "-L", libdir, "-l:libfoo.so.1", &rpath, "-Wl,--enable-new-dtags"]);
    let ext_bytes = std::fs::read(&ext).unwrap();
    let wheel = make_wheel(
        dir,
        "bigpkg",
        "linux_x86_64",
        vec![("bigpkg/__init__.py".into(), Vec::new()), ("bigpkg/ext.so".into(), ext_bytes.clone())],
    );
    rezip_with_zlib(&wheel);
    BigExtension { chain, data, wheel, ext_bytes }
}
