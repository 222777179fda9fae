//! Reads of whole entries, in one pass with RECORD, indexed and in part,
//! against each other.

use std::fs::File;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::*;

/// A wheel with `files` and a RECORD of `rows` (written as given).
fn wheel(dir: &Path, files: &[(&str, &[u8])], rows: &str) -> WheelArchive {
    use std::io::Write;
    let path = dir.join("demo-0.1-py3-none-any.whl");
    let mut z = zip::ZipWriter::new(File::create(&path).unwrap());
    let o = zip::write::SimpleFileOptions::default();
    for (name, data) in files {
        z.start_file(*name, o).unwrap();
        z.write_all(data).unwrap();
    }
    z.start_file("demo-0.1.dist-info/WHEEL", o).unwrap();
    z.write_all(b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n").unwrap();
    z.start_file("demo-0.1.dist-info/METADATA", o).unwrap();
    z.write_all(b"Metadata-Version: 2.1\nName: demo\nVersion: 0.1\n").unwrap();
    z.start_file("demo-0.1.dist-info/RECORD", o).unwrap();
    z.write_all(rows.as_bytes()).unwrap();
    z.finish().unwrap();
    WheelArchive::open(&path).unwrap()
}

/// `read_verified` agrees with `read` + `verify_record`, result and error
/// alike, for entries of one step, many steps, and rows of every kind.
#[test]
fn partial_reads_keep_what_the_plan_asks_and_check_like_whole_reads() {
    let dir = tempfile::tempdir().unwrap();
    let elf = crate::binary::elf::late_layout();
    let row = |n: &str, d: &[u8]| super::super::RecordRow::for_data(n, d).to_string();
    let rows = [
        row("demo.libs/libbig.so", &elf),
        row("demo.libs/libbad.so", &elf[1..]).replace(&format!(",{}", elf.len() - 1), &format!(",{}", elf.len())),
        "demo.libs/libnohash.so,,".to_string(),
        "demo-0.1.dist-info/RECORD,,".to_string(),
    ]
    .join("\n");
    let files: &[(&str, &[u8])] =
        &[("demo.libs/libbig.so", &elf), ("demo.libs/libbad.so", &elf), ("demo.libs/libnohash.so", &elf)];
    let w = wheel(dir.path(), files, &rows);
    let index = |name: &str| w.entries().iter().position(|e| e.name == name).unwrap();
    let plans = std::cell::Cell::new(0);
    let mut plan = |d: &[u8], r: &[(u64, u64)]| {
        plans.set(plans.get() + 1);
        crate::binary::elf::partial_wanted(d, r)
    };
    let (data, read) = w.read_partial(index("demo.libs/libbig.so"), true, &mut plan).unwrap().unwrap();
    assert!(plans.get() > 1);
    assert_eq!(data.len(), elf.len());
    let kept: u64 = read.iter().map(|(a, b)| b - a).sum();
    assert!(kept < elf.len() as u64 / 2, "kept {kept} of {}", elf.len());
    for &(a, b) in &read {
        assert!(data[a as usize..b as usize] == elf[a as usize..b as usize]);
    }
    let whole = crate::binary::elf::parse(&elf).unwrap();
    assert_eq!(crate::binary::elf::parse_partial(&data, &read), Some(Ok(whole)));
    // a wrong hash is refused with the words of a whole read
    let bad = index("demo.libs/libbad.so");
    let partial = w.read_partial(bad, true, &mut plan).unwrap_err().to_string();
    assert_eq!(partial, w.read_verified(bad).unwrap_err().to_string());
    // a row that cannot be checked while streaming goes the ordinary way
    assert!(w.read_partial(index("demo.libs/libnohash.so"), true, &mut plan).unwrap().is_none());
    assert!(w.read_partial(index("demo.libs/libnohash.so"), false, &mut plan).unwrap().is_some());
    // a stored entry is read in part the same way
    let stored_dir = tempfile::tempdir().unwrap();
    let path = stored_dir.path().join("demo-0.1-py3-none-any.whl");
    let mut z = zip::ZipWriter::new(File::create(&path).unwrap());
    let o = zip::write::SimpleFileOptions::default();
    let stored = o.compression_method(zip::CompressionMethod::Stored);
    z.start_file("demo.libs/libbig.so", stored).unwrap();
    std::io::Write::write_all(&mut z, &elf).unwrap();
    z.start_file("demo-0.1.dist-info/WHEEL", o).unwrap();
    std::io::Write::write_all(&mut z, b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n").unwrap();
    z.start_file("demo-0.1.dist-info/METADATA", o).unwrap();
    std::io::Write::write_all(&mut z, b"Metadata-Version: 2.1\nName: demo\nVersion: 0.1\n").unwrap();
    z.start_file("demo-0.1.dist-info/RECORD", o).unwrap();
    let rows = format!("{}\ndemo-0.1.dist-info/RECORD,,\n", row("demo.libs/libbig.so", &elf));
    std::io::Write::write_all(&mut z, rows.as_bytes()).unwrap();
    z.finish().unwrap();
    let w = WheelArchive::open(&path).unwrap();
    assert_eq!(w.compression(0).unwrap(), Compression::Stored);
    let (data, read) = w.read_partial(0, true, &mut plan).unwrap().unwrap();
    let kept: u64 = read.iter().map(|(a, b)| b - a).sum();
    assert!(kept < elf.len() as u64 / 2, "kept {kept} of {}", elf.len());
    assert_eq!(crate::binary::elf::parse_partial(&data, &read), Some(crate::binary::elf::parse(&elf)));
}

#[test]
fn read_verified_agrees_with_read_then_verify() {
    let dir = tempfile::tempdir().unwrap();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if i % 3 == 0 {
                b'a'
            } else {
                (x >> 33) as u8
            }
        })
        .collect();
    let row = |n: &str, d: &[u8]| super::super::RecordRow::for_data(n, d).to_string();
    let sha384 = {
        use sha2::Digest;
        format!("demo/c.bin,sha384={},3", URL_SAFE_NO_PAD.encode(sha2::Sha384::digest(b"abc")))
    };
    let rows = [
        row("demo/big.so", &big),
        // large enough to be hashed alongside, with the hash of other bytes
        row("demo/bad-big.so", &big[1..]).replace(",2999999", ",3000000"),
        row("demo/a.py", b"wrong content"),
        "demo/b.py,sha256=AAAA,5".to_string(),
        sha384,
        "demo/d.py,,".to_string(),
        format!("demo/e.py,{},99", crate::wheel::record::hash(b"short")),
        "demo-0.1.dist-info/RECORD,,".to_string(),
    ]
    .join("\n");
    let files: &[(&str, &[u8])] = &[
        ("demo/big.so", &big),
        ("demo/bad-big.so", &big),
        ("demo/a.py", b"print(1)\n"),
        ("demo/b.py", b"x = 1"),
        ("demo/c.bin", b"abc"),
        ("demo/d.py", b"no hash"),
        ("demo/e.py", b"short"),
        ("demo/unlisted.py", b""),
    ];
    let w = wheel(dir.path(), files, &rows);
    let mut errors = Vec::new();
    for i in 0..w.entries().len() {
        let two_pass = w.read(i).and_then(|d| w.verify_record(i, &d).map(|()| d));
        let one_pass = w.read_verified(i);
        assert_eq!(one_pass, two_pass, "{}", w.entries()[i].name);
        // the indexed read (every deflated entry indexed) agrees too, and
        // indexes exactly the deflated entries
        let indexed = w.read_verified_indexed(i, 0);
        assert_eq!(indexed.as_ref().map(|(d, _)| d).ok(), one_pass.as_ref().ok(), "{}", w.entries()[i].name);
        assert_eq!(indexed.as_ref().err(), one_pass.as_ref().err(), "{}", w.entries()[i].name);
        if let Ok((_, index)) = &indexed {
            assert_eq!(index.is_some(), w.compression(i) == Ok(Compression::Deflated));
        }
        if one_pass.is_err() {
            errors.push(w.entries()[i].name.as_str());
        }
    }
    let expected = [
        "demo/bad-big.so",
        "demo/a.py",
        "demo/b.py",
        "demo/d.py",
        "demo/e.py",
        "demo/unlisted.py",
        "demo-0.1.dist-info/WHEEL",
        "demo-0.1.dist-info/METADATA",
    ];
    assert_eq!(errors, expected, "mismatched, unhashed, unsized and unlisted entries");
    assert!(w.read_verified(w.entry_by_name("demo/big.so").unwrap().index).unwrap() == big);
    assert!(w.read_verified(w.entry_by_name("demo/c.bin").unwrap().index).is_ok(), "sha384 rows are checked");
}

/// A check aside gives what the in-line check gives, is waited for by
/// `check_input`, and, once stopped, ends at its next step with an
/// error of its own instead of an answer.
#[test]
fn checks_aside_answer_like_in_line_ones_and_stop_when_told() {
    let dir = tempfile::tempdir().unwrap();
    // 3 MB that deflate into many steps of output
    let big: Vec<u8> =
        (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | (i % 7 == 0) as u8).collect();
    let row = |n: &str, d: &[u8]| super::super::RecordRow::for_data(n, d).to_string();
    let rows = [row("demo/good.bin", &big), row("demo/bad.bin", &big[1..]), "demo-0.1.dist-info/RECORD,,".into()];
    let files: &[(&str, &[u8])] = &[("demo/good.bin", &big), ("demo/bad.bin", &big)];
    let w = wheel(dir.path(), files, &rows.join("\n"));
    let (good, bad) = (w.entry_by_name("demo/good.bin").unwrap().index, w.entry_by_name("demo/bad.bin").unwrap().index);
    let in_line = w.verify_streaming(bad).unwrap_err().to_string();

    std::thread::scope(|scope| {
        assert!(w.verify_aside(good, scope));
        assert!(!w.verify_aside(good, scope), "started twice");
        assert!(w.verified_aside(good) && !w.verified_aside(bad));
        w.check_input().unwrap();
        assert!(w.verify_aside(bad, scope));
        assert_eq!(w.check_input().unwrap_err().to_string(), in_line);
        // every check was waited for: nothing is left to fail
        w.check_input().unwrap();
    });

    let stopped = w.verify_streaming_while(good, &|| false).unwrap_err().to_string();
    assert!(stopped.contains(inflate::STOPPED), "{stopped}");
    let w2 = WheelArchive::open(w.path()).unwrap();
    std::thread::scope(|scope| {
        w2.stop_aside();
        assert!(w2.verify_aside(good, scope));
        assert_eq!(w2.check_input().unwrap_err().to_string(), stopped);
    });
}
