//! Hostile wheels through the real command line: every malformed archive,
//! RECORD or binary is one clear `error: …` line naming the file and the
//! reason (exit code 2), in bounded time, with nothing written and the input
//! untouched. Dependency cycles are not errors: `show` and `repair` finish.
//! The messages themselves are snapshots (`snapshots/hostile-*.snap`).

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::Digest;
use wheelfix::wheel::record;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::snap::Filter;
use crate::util::{cc, make_wheel, text};

// Dependency cycles, and libraries on the search path the loader cannot use.
mod search;

pub(crate) const NAME: &str = "demo-0.1-cp311-cp311-linux_x86_64.whl";
pub(crate) const WHEEL_TXT: &str = "Wheel-Version: 1.0\nGenerator: wheelfix-tests\nRoot-Is-Purelib: false\n\
                         Tag: cp311-cp311-linux_x86_64\n";
/// Longest any hostile case may take (the real figure is well under a second).
const LIMIT: Duration = Duration::from_secs(60);

/// What a run of the command left behind.
pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) elapsed: Duration,
}

/// Runs `wheelfix args`, killing it if it takes longer than [`LIMIT`]
/// (output goes to files, so a chatty child cannot block on a full pipe).
pub(crate) fn run(dir: &Path, args: &[&str]) -> Run {
    let out = dir.join(".stdout");
    let err = dir.join(".stderr");
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wheelfix"))
        .args(args)
        .env_remove("LD_LIBRARY_PATH")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > LIMIT {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("`wheelfix {}` did not finish in {LIMIT:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    let r = Run {
        code: status.code(),
        stdout: text(&std::fs::read(&out).unwrap()),
        stderr: text(&std::fs::read(&err).unwrap()),
        elapsed,
    };
    std::fs::remove_file(out).unwrap();
    std::fs::remove_file(err).unwrap();
    r
}

pub(crate) fn sha(path: &Path) -> Vec<u8> {
    sha2::Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

/// `show` and `repair -w DIR` must both refuse `wheel` with exit code 2 and
/// one `error:` line (plus an optional `hint:`) naming the wheel and
/// containing `reason`; nothing is written and the wheel is unchanged.
/// Returns what `show` printed on stderr, or the first broken promise.
fn check_refused(wheel: &Path, reason: &str) -> Result<String, String> {
    let dir = wheel.parent().unwrap();
    let before = sha(wheel);
    let house = dir.join("house");
    let w = wheel.to_str().unwrap();
    let mut said = String::new();
    for args in [vec!["show", w], vec!["show", "--json", w], vec!["repair", w, "-w", house.to_str().unwrap()]] {
        let r = run(dir, &args);
        if args.len() == 2 {
            said.clone_from(&r.stderr);
        }
        let what = format!("`wheelfix {}`", args.join(" "));
        if r.code != Some(2) {
            return Err(format!("{what}: exit code {:?}, expected 2; stderr: {}", r.code, r.stderr));
        }
        let lines: Vec<&str> = r.stderr.lines().collect();
        if !(lines.len() == 1 || (lines.len() == 2 && lines[1].starts_with("hint: "))) {
            return Err(format!("{what}: one error line (and a hint) expected:\n{}", r.stderr));
        }
        if !lines[0].starts_with("error: ") || !lines[0].contains(w) || !lines[0].contains(reason) {
            return Err(format!("{what}: the error must name the wheel and say `{reason}`: {}", lines[0]));
        }
        if args[1] == "--json" {
            let doc: serde_json::Value = serde_json::from_str(&r.stdout).map_err(|e| format!("{what}: {e}"))?;
            let doc = crate::util::one_wheel(doc);
            if !doc["error"].as_str().unwrap_or("").contains(reason) {
                return Err(format!("{what}: JSON error: {doc}"));
            }
        } else if !r.stdout.is_empty() {
            return Err(format!("{what}: nothing on stdout expected: {}", r.stdout));
        }
        assert!(r.elapsed < LIMIT, "{what} took {:?}", r.elapsed);
    }
    let left: Vec<_> =
        std::fs::read_dir(&house).map(|d| d.map(|e| e.unwrap().file_name()).collect()).unwrap_or_default();
    if !left.is_empty() {
        return Err(format!("{w}: repair wrote {left:?} for a refused wheel"));
    }
    if sha(wheel) != before {
        return Err(format!("{w}: the input wheel changed"));
    }
    Ok(said)
}

/// Checks every case and fails with the list of those that broke a promise;
/// returns, case by case, the directory the case is in and what `show` said.
pub(crate) fn assert_all_refused<R: AsRef<str>>(cases: &[(PathBuf, R)]) -> Vec<(String, String)> {
    let results: Vec<_> = cases.iter().map(|(w, reason)| (w, check_refused(w, reason.as_ref()))).collect();
    let failures: Vec<&String> = results.iter().filter_map(|(_, r)| r.as_ref().err()).collect();
    let failed: Vec<&str> = failures.iter().map(|s| s.as_str()).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failed.join("\n"));
    results
        .into_iter()
        .map(|(w, r)| {
            let label = w.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
            (label, r.unwrap())
        })
        .collect()
}

/// The messages of `cases` (label and `show`'s stderr), temporary paths filtered, as one text.
pub(crate) fn messages(root: &Path, said: &[(String, String)]) -> String {
    let f = Filter::new().dir(root, "[TMP]");
    said.iter().map(|(label, err)| format!("{label}:\n{}", f.apply(err))).collect()
}

/// A fresh directory `name` under `root` holding the wheel path `NAME`.
pub(crate) fn slot(root: &Path, name: &str) -> PathBuf {
    let d = root.join(name);
    std::fs::create_dir_all(&d).unwrap();
    d.join(NAME)
}

/// Zip bytes for `files` (deflated), plus WHEEL and, when `record`, a
/// correct RECORD.
pub(crate) fn zip_bytes(files: &[(&str, &[u8])], record: bool) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let o = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated).unix_permissions(0o644);
    let mut rows = String::new();
    let wheel_file = ("demo-0.1.dist-info/WHEEL", WHEEL_TXT.as_bytes());
    for (name, data) in files.iter().chain([&wheel_file]) {
        zip.start_file(*name, o).unwrap();
        zip.write_all(data).unwrap();
        rows.push_str(&format!("{name},{},{}\n", record::hash(data), data.len()));
    }
    if record {
        rows.push_str("demo-0.1.dist-info/RECORD,,\n");
        zip.start_file("demo-0.1.dist-info/RECORD", o).unwrap();
        zip.write_all(rows.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// Offset of the central directory record of `name`.
fn central_record(data: &[u8], name: &str) -> usize {
    (0..data.len().saturating_sub(46))
        .find(|&i| {
            data[i..i + 4] == [0x50, 0x4b, 0x01, 0x02] && {
                let n = u16::from_le_bytes([data[i + 28], data[i + 29]]) as usize;
                data.get(i + 46..i + 46 + n) == Some(name.as_bytes())
            }
        })
        .unwrap_or_else(|| panic!("no central record for {name}"))
}

fn put_u16(data: &mut [u8], at: usize, v: u16) {
    data[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(data: &mut [u8], at: usize, v: u32) {
    data[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(data: &mut [u8], at: usize, v: u64) {
    data[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn get_u16(data: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([data[at], data[at + 1]])
}

fn get_u32(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(data[at..at + 4].try_into().unwrap())
}

fn get_u64(data: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(data[at..at + 8].try_into().unwrap())
}

#[test]
fn hostile_archives_are_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut cases: Vec<(PathBuf, &str)> = Vec::new();

    // Zip slip and other unsafe names, written under a same-length
    // placeholder and patched in (a sane writer refuses them).
    for (i, bad) in [&b"../x"[..], b"/abs", b"C:/x", b"a\\..\\b", b"p/\xff"].iter().enumerate() {
        let placeholder: String = (0..bad.len()).map(|k| (b'k' + k as u8) as char).collect();
        let mut bytes = zip_bytes(&[(placeholder.as_str(), b"payload")], true);
        crate::util::replace_all(&mut bytes, placeholder.as_bytes(), bad);
        let path = slot(root, &format!("name{i}"));
        std::fs::write(&path, bytes).unwrap();
        cases.push((path, "unsafe entry name"));
    }

    // A symbolic link.
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    zip.add_symlink("demo/link", "/etc/passwd", SimpleFileOptions::default()).unwrap();
    zip.start_file("demo-0.1.dist-info/WHEEL", SimpleFileOptions::default()).unwrap();
    zip.write_all(WHEEL_TXT.as_bytes()).unwrap();
    let path = slot(root, "symlink");
    std::fs::write(&path, zip.finish().unwrap().into_inner()).unwrap();
    cases.push((path, "`demo/link` is a symbolic link"));

    // Two entries with the same name.
    let mut bytes = zip_bytes(&[("demo/a.py", b"1"), ("demo/b.py", b"2")], true);
    crate::util::replace_all(&mut bytes, b"demo/b.py", b"demo/a.py");
    let path = slot(root, "duplicate");
    std::fs::write(&path, bytes).unwrap();
    cases.push((path, "duplicate entry `demo/a.py`"));

    // Zip bomb by ratio: 16 MiB of zeros deflate to ~16 KiB.
    let zeros = vec![0u8; 16 << 20];
    let path = slot(root, "bomb-ratio");
    std::fs::write(&path, zip_bytes(&[("demo/zeros.bin", &zeros)], true)).unwrap();
    cases.push((path, "compression ratio"));

    // Zip bomb by declared size: a 4 GiB entry declared for 1 KiB.
    let mut bytes = zip_bytes(&[("demo/x.bin", &[7u8; 1024])], true);
    let at = central_record(&bytes, "demo/x.bin") + 24;
    put_u32(&mut bytes, at, 0xFFFF_0000);
    let path = slot(root, "bomb-declared");
    std::fs::write(&path, bytes).unwrap();
    cases.push((path, "entry `demo/x.bin` is too large"));

    // Truncated: the second half (with the central directory) is gone.
    let data: Vec<u8> = (0..40_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let bytes = zip_bytes(&[("demo/m.bin", &data)], true);
    let path = slot(root, "truncated");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    cases.push((path, "corrupt zip archive"));

    // A central directory that lies: about the local header's name, about
    // the compressed size, about the CRC, about the uncompressed size.
    let mut bytes = zip_bytes(&[("demo/a.py", b"1")], true);
    let local = bytes.windows(9).position(|w| w == b"demo/a.py").unwrap();
    bytes[local + 5] = b'z';
    let path = slot(root, "lie-local-name");
    std::fs::write(&path, bytes).unwrap();
    cases.push((path, "the local header names it `demo/z.py`"));
    // Both headers tell the same lie: every reader agrees on it, and the
    // content check finds it when the entry is read.
    for (label, field, value, reason) in [
        ("lie-csize", 20, Some(0x7FFF_FFFF), "demo/m.bin"),
        ("lie-crc", 16, None, "CRC-32 is"),
        ("lie-size", 24, Some(39_000), "inflates to more than the 39000 bytes"),
    ] {
        let mut bytes = zip_bytes(&[("demo/m.bin", &data)], true);
        let central = central_record(&bytes, "demo/m.bin");
        let local = get_u32(&bytes, central + 42) as usize;
        let v = value.unwrap_or_else(|| get_u32(&bytes, central + field) ^ 1);
        put_u32(&mut bytes, central + field, v);
        // the local header holds CRC and sizes 2 bytes earlier than the directory record
        put_u32(&mut bytes, local + field - 2, v);
        let path = slot(root, label);
        std::fs::write(&path, bytes).unwrap();
        cases.push((path, reason));
    }
    // Only the central directory lies: a streaming reader (the local
    // headers) and the directory would see different files.
    for (label, field) in [("cd-lie-crc", 16), ("cd-lie-size", 24)] {
        let mut bytes = zip_bytes(&[("demo/m.bin", &data)], true);
        let at = central_record(&bytes, "demo/m.bin") + field;
        let v = get_u32(&bytes, at) ^ 1;
        put_u32(&mut bytes, at, v);
        let path = slot(root, label);
        std::fs::write(&path, bytes).unwrap();
        cases.push((path, "inconsistent zip archive: entry `demo/m.bin`: the local header says CRC"));
    }
    // The end record counts one entry fewer than the directory holds: one
    // reader would install a file the other never saw.
    let mut bytes = zip_bytes(&[("demo/a.py", b"1"), ("demo/b.py", b"2")], true);
    let end = bytes.len() - 22;
    let count = get_u32(&bytes, end + 8) - 0x0001_0001;
    put_u32(&mut bytes, end + 8, count);
    let path = slot(root, "eocd-count");
    std::fs::write(&path, bytes).unwrap();
    cases.push((path, "inconsistent zip archive: the central directory holds more records than the 3"));
    // Bytes after the end record (a second archive could start there).
    let good = zip_bytes(&[("demo/a.py", b"1")], true);
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"PK\x03\x04 trailing bytes");
    let path = slot(root, "trailing");
    std::fs::write(&path, trailing).unwrap();
    cases.push((path, "inconsistent zip archive: data after the end of central directory record"));

    // RECORD: missing, wrong hash, wrong size, a file it does not list.
    let path = slot(root, "record-missing");
    std::fs::write(&path, zip_bytes(&[("demo/a.py", b"a")], false)).unwrap();
    cases.push((path, "missing `demo-0.1.dist-info/RECORD`"));
    let wheel_row = format!("demo-0.1.dist-info/WHEEL,{},{}\n", record::hash(WHEEL_TXT.as_bytes()), WHEEL_TXT.len());
    for (label, rows, reason) in [
        ("record-hash", format!("demo/a.py,{},3\n", record::hash(b"aab")), "RECORD mismatch for `demo/a.py`: hash"),
        ("record-size", format!("demo/a.py,{},4\n", record::hash(b"aaa")), "RECORD mismatch for `demo/a.py`: size"),
        ("record-unlisted", String::new(), "RECORD mismatch for `demo/a.py`: not listed in RECORD"),
    ] {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        let record = format!("{rows}{wheel_row}demo-0.1.dist-info/RECORD,,\n");
        for (n, d) in [
            ("demo/a.py", &b"aaa"[..]),
            ("demo-0.1.dist-info/WHEEL", WHEEL_TXT.as_bytes()),
            ("demo-0.1.dist-info/RECORD", record.as_bytes()),
        ] {
            zip.start_file(n, SimpleFileOptions::default()).unwrap();
            zip.write_all(d).unwrap();
        }
        let path = slot(root, label);
        std::fs::write(&path, zip.finish().unwrap().into_inner()).unwrap();
        cases.push((path, reason));
    }

    // Not a wheel file name (the content is a good wheel).
    let good = zip_bytes(&[("demo/a.py", b"a")], true);
    for (i, bad) in ["demo.zip", "demo-0.1-py3-none.whl", "demo-0.1-x-py3-none-any.whl"].iter().enumerate() {
        let d = root.join(format!("filename{i}"));
        std::fs::create_dir_all(&d).unwrap();
        let path = d.join(bad);
        std::fs::write(&path, &good).unwrap();
        cases.push((path, "invalid wheel file name"));
    }

    let said = assert_all_refused(&cases);
    crate::snapshot!("hostile-archives", messages(root, &said));
    // the good wheel of the same shape passes, so the checks above can fail
    let path = slot(root, "good");
    std::fs::write(&path, &good).unwrap();
    let r = run(path.parent().unwrap(), &["show", path.to_str().unwrap(), "--allow-pure-python-wheel"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
}

/// A wheel holding `data` as `entry` (correct RECORD), in its own directory.
fn binary_wheel(root: &Path, label: &str, plat: &str, entry: &str, data: Vec<u8>) -> PathBuf {
    let d = root.join(label);
    std::fs::create_dir_all(&d).unwrap();
    make_wheel(&d, "hostile", plat, vec![(entry.to_string(), data)])
}

/// File offset of `rva` in a PE image, from its section table.
fn rva_to_offset(pe: &[u8], rva: u32) -> Option<usize> {
    let lfanew = get_u32(pe, 0x3c) as usize;
    let nsections = get_u16(pe, lfanew + 6) as usize;
    let table = lfanew + 24 + get_u16(pe, lfanew + 20) as usize;
    (0..nsections).map(|i| table + i * 40).find_map(|s| {
        let (vsize, va, raw) = (get_u32(pe, s + 8), get_u32(pe, s + 12), get_u32(pe, s + 20));
        (rva >= va && rva < va + vsize).then(|| (raw + (rva - va)) as usize)
    })
}

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(rel)).unwrap()
}

#[test]
fn hostile_binaries_are_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let so = root.join("libx.so");
    cc(root, "int PyInit_x(void) { return 1; }\n", &so, &["-shared", "-Wl,-soname,libx.so"]);
    let elf = std::fs::read(&so).unwrap();
    let phoff = get_u64(&elf, 0x20) as usize;
    let phentsize = get_u16(&elf, 0x36) as usize;
    let phnum = get_u16(&elf, 0x38) as usize;
    let loads: Vec<usize> = (0..phnum).map(|i| phoff + i * phentsize).filter(|&p| get_u32(&elf, p) == 1).collect();
    assert!(loads.len() >= 2, "cc made {} PT_LOADs", loads.len());
    let dynamic = (0..phnum).map(|i| phoff + i * phentsize).find(|&p| get_u32(&elf, p) == 2).unwrap();

    let mut cases: Vec<(PathBuf, String)> = Vec::new();
    let mut elf_case = |label: &str, reason: &str, edit: &dyn Fn(&mut Vec<u8>)| {
        let mut data = elf.clone();
        edit(&mut data);
        let w = binary_wheel(root, label, "linux_x86_64", "hostile/x.so", data);
        let said = format!("{}!hostile/x.so`: {reason}", w.display());
        cases.push((w, said));
    };
    let shoff = get_u64(&elf, 0x28);
    let shtable = u64::from(get_u16(&elf, 0x3a)) * u64::from(get_u16(&elf, 0x3c));
    let len = elf.len() as u64;
    assert!(shoff + shtable <= len && shoff > 0, "cc wrote section headers");
    // headers that lie: the loader maps such a file and crashes in `dlopen`
    elf_case("elf-shoff-past", "the section header table", &|d| put_u64(d, 0x28, len + 0x40));
    elf_case("elf-shoff-partly", "the section header table", &|d| put_u64(d, 0x28, len - shtable + 8));
    elf_case("elf-dynamic-unmapped", "PT_DYNAMIC at 0x7fff0000 is outside every PT_LOAD", &|d| {
        put_u64(d, dynamic + 16, 0x7fff_0000)
    });
    let dyn_off = get_u64(&elf, dynamic + 8);
    elf_case("elf-dynamic-elsewhere", "PT_DYNAMIC at 0x", &|d| put_u64(d, dynamic + 8, dyn_off - 0x100));
    // program headers past the end of the file
    elf_case("elf-phoff", "", &|d| put_u64(d, 0x20, 0xFFFF_FFFF_0000));
    // a huge program header count
    elf_case("elf-phnum", "", &|d| put_u16(d, 0x38, 0xFFFF));
    // PT_DYNAMIC past the end
    elf_case("elf-dynamic", "", &|d| put_u64(d, dynamic + 8, 0x7FFF_FFFF_0000));
    // a PT_LOAD whose file range runs past the end
    elf_case("elf-load-size", "", &|d| put_u64(d, loads[1] + 32, 0x7FFF_FFFF_0000));
    // overlapping PT_LOADs: the second maps the same addresses as the first
    elf_case("elf-overlap", "", &|d| {
        let (a, b) = (loads[0], loads[1]);
        let (off, vaddr, paddr) = (get_u64(d, a + 8), get_u64(d, a + 16), get_u64(d, a + 24));
        put_u64(d, b + 8, off);
        put_u64(d, b + 16, vaddr);
        put_u64(d, b + 24, paddr);
    });
    // names that promise a binary, over bytes that are none
    for (label, entry, plat, reason) in [
        ("named-so", "hostile/x.cpython-311-x86_64-linux-gnu.so", "linux_x86_64", "(`.so`) but not an ELF file"),
        ("named-versioned", "hostile.libs/libz.so.1.2", "linux_x86_64", "(`.so`) but not an ELF file"),
        ("named-abi3", "hostile/x.abi3.so", "macosx_11_0_arm64", "(`.so`) but not a Mach-O file"),
        ("named-dylib", "hostile/.dylibs/libz.dylib", "macosx_11_0_arm64", "(`.dylib`) but not a Mach-O file"),
        ("named-pyd", "hostile/x.pyd", "win_amd64", "(`.pyd`) but not a PE image"),
        ("named-empty", "hostile/empty.so", "linux_x86_64", "(`.so`) but not an ELF file"),
    ] {
        let data = if label == "named-empty" { Vec::new() } else { b"INPUTS(-lz)\n".to_vec() };
        let w = binary_wheel(root, label, plat, entry, data);
        let said = format!("{}!{entry}`: named as a binary {reason}", w.display());
        cases.push((w, said));
    }

    // Mach-O: load commands past the header / the file, a huge count.
    let macho = fixture("macho/arm64/ext.cpython-312-darwin.so");
    let mut macho_case = |label: &str, edit: &dyn Fn(&mut Vec<u8>)| {
        let mut data = macho.clone();
        edit(&mut data);
        let w = binary_wheel(root, label, "macosx_11_0_arm64", "hostile/ext.cpython-312-darwin.so", data);
        let file = format!("{}!hostile/ext.cpython-312-darwin.so", w.display());
        cases.push((w, file));
    };
    macho_case("macho-sizeofcmds", &|d| put_u32(d, 20, 0x00FF_FFFF));
    macho_case("macho-ncmds", &|d| put_u32(d, 16, 0xFFFF_FFFF));
    macho_case("macho-cmdsize", &|d| put_u32(d, 32 + 4, 0x7FFF_FFF8));

    // PE: a bogus import RVA, a huge section count.
    let pe = fixture("pe/msvc-x64/ext.pyd");
    let lfanew = get_u32(&pe, 0x3c) as usize;
    let opt = lfanew + 24;
    assert_eq!(get_u16(&pe, opt), 0x20b, "PE32+ expected");
    let import_dir = opt + 112 + 8;
    assert_ne!(get_u32(&pe, import_dir), 0, "the fixture imports DLLs");
    let mut pe_case = |label: &str, edit: &dyn Fn(&mut Vec<u8>)| {
        let mut data = pe.clone();
        edit(&mut data);
        let w = binary_wheel(root, label, "win_amd64", "hostile/ext.pyd", data);
        let file = format!("{}!hostile/ext.pyd", w.display());
        cases.push((w, file));
    };
    pe_case("pe-import-rva", &|d| put_u32(d, import_dir, 0x7FFF_0000));
    pe_case("pe-nsections", &|d| put_u16(d, lfanew + 6, 0xFFFF));
    // the first import descriptor's DLL name RVA points nowhere
    let descriptor = rva_to_offset(&pe, get_u32(&pe, import_dir)).expect("import directory in a section");
    pe_case("pe-import-name-rva", &|d| put_u32(d, descriptor + 12, 0x7FFF_0000));

    let said = assert_all_refused(&cases);
    // the release gate names the entry and the reason too, as a problem of the wheel
    let check_dir = root.join("elf-shoff-past");
    let check = run(&check_dir, &["check", check_dir.to_str().unwrap()]);
    assert_eq!(check.code, Some(1), "{}", check.stderr);
    assert!(check.stdout.contains("!hostile/x.so`: the section header table"), "{}", check.stdout);
    // data files whose names merely hold `.so` stay data files
    let script = b"/* GNU ld script */\nGROUP ( libz.so.1 )\n".to_vec();
    let data = vec![
        ("hostile/x.so.txt".to_string(), b"INPUTS(-lz)\n".to_vec()),
        ("hostile/y.sort".into(), vec![]),
        ("hostile/lib/libz.so".into(), script),
    ];
    std::fs::create_dir_all(root.join("data-names")).unwrap();
    let plain = make_wheel(&root.join("data-names"), "hostile", "linux_x86_64", data);
    let r = run(&root.join("data-names"), &["show", plain.to_str().unwrap(), "--allow-pure-python-wheel"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    // the ELF cases are built by cc here, so their offsets are this machine's
    let fixtures: Vec<_> = said.into_iter().filter(|(label, _)| !label.starts_with("elf-")).collect();
    crate::snapshot!("hostile-binaries", messages(root, &fixtures));
}

/// A wheel every reader agrees on but that the package index refuses (its
/// entries carry data descriptors, as a streaming zip writer makes them):
/// it opens and shows as any wheel, and the release gate names each entry.
#[test]
fn the_release_gate_reports_what_the_index_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let house = tmp.path().join("house");
    std::fs::create_dir_all(&house).unwrap();
    let mut zip = ZipWriter::new_stream(Vec::new());
    let o = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    let mut rows = String::new();
    for (name, data) in [("demo/a.py", &b"print(1)\n"[..]), ("demo-0.1.dist-info/WHEEL", WHEEL_TXT.as_bytes())] {
        zip.start_file(name, o).unwrap();
        zip.write_all(data).unwrap();
        rows.push_str(&format!("{name},{},{}\n", record::hash(data), data.len()));
    }
    rows.push_str("demo-0.1.dist-info/RECORD,,\n");
    zip.start_file("demo-0.1.dist-info/RECORD", o).unwrap();
    zip.write_all(rows.as_bytes()).unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    std::fs::write(house.join("demo-0.1-py3-none-any.whl"), bytes).unwrap();

    let show = crate::util::wheelfix(&["show", house.join("demo-0.1-py3-none-any.whl").to_str().unwrap()]);
    assert_ne!(show.status.code(), Some(2), "every reader agrees: it opens: {}", crate::util::text(&show.stderr));
    let check = crate::util::wheelfix(&["check", house.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(1), "{}", crate::util::text(&check.stdout));
    let out = crate::util::text(&check.stdout);
    for entry in ["demo/a.py", "demo-0.1.dist-info/WHEEL", "demo-0.1.dist-info/RECORD"] {
        let line = format!("the package index refuses it: entry `{entry}` has a data descriptor");
        assert!(out.contains(&line), "{line} in {out}");
    }
}
