//! Hostile and broken archives: unsafe names, links, duplicates, header
//! mismatches, bombs, lying and truncated archives, broken RECORDs and
//! names that do not fit; each refused with an error naming the entry.

use super::*;

#[test]
fn unsafe_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Written under a placeholder of the same length, then patched in place,
    // since a well-behaved writer would refuse or rewrite these names.
    let cases: &[(&[u8], &str)] = &[
        (b"../x", "../x"),
        (b"/abs", "/abs"),
        (b"C:/x", "C:/x"),
        (b"a\\..\\b", "a\\\\..\\\\b"),
        (b"a\0b", "a\\0b"),
        (b"p//q", "p//q"),
        (b"p/\xff", "p/\u{fffd}"),
    ];
    for (i, (bad, shown)) in cases.iter().enumerate() {
        let placeholder: String = (0..bad.len()).map(|k| (b'k' + k as u8) as char).collect();
        let path = dir.path().join(i.to_string()).join(NAME);
        std::fs::create_dir(path.parent().unwrap()).unwrap();
        write_zip(&path, &with_metadata(&[(placeholder.as_str(), b"payload")]), true);
        patch_bytes(&path, placeholder.as_bytes(), bad);
        let err = open_err(&path);
        assert_eq!(err, WheelError::UnsafeName(shown.to_string()), "{bad:?}");
        assert!(err.to_string().contains(&format!("`{shown}`")), "{err}");
    }
}

#[test]
fn symlinks_duplicates_and_header_mismatches_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sub = |n: &str| {
        let p = dir.path().join(n).join(NAME);
        std::fs::create_dir(p.parent().unwrap()).unwrap();
        p
    };
    // Symbolic link.
    let path = sub("link");
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    zip.add_symlink("demo/link", "/etc/passwd", SimpleFileOptions::default()).unwrap();
    zip.start_file("demo-0.1.dist-info/WHEEL", SimpleFileOptions::default()).unwrap();
    zip.write_all(WHEEL_TXT.as_bytes()).unwrap();
    std::fs::write(&path, zip.finish().unwrap().into_inner()).unwrap();
    let err = open_err(&path);
    assert_eq!(err, WheelError::Symlink("demo/link".into()));
    assert!(err.to_string().contains("`demo/link` is a symbolic link"));

    // Duplicate names.
    let path = sub("dup");
    write_zip(&path, &with_metadata(&[("demo/a.py", b"1"), ("demo/b.py", b"2")]), true);
    patch_bytes(&path, b"demo/b.py", b"demo/a.py");
    let err = open_err(&path);
    assert_eq!(err, WheelError::Duplicate("demo/a.py".into()));
    assert!(err.to_string().contains("duplicate entry `demo/a.py`"));

    // Overlapping entries: `demo/b.py`'s central record points at a copy of
    // its local header hidden inside `demo/a.bin`'s data (the trick that lets
    // small archives expand to huge ones).
    let path = sub("overlap");
    let mut fake = Vec::new();
    fake.extend_from_slice(&[0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    fake.extend_from_slice(&crc32fast::hash(b"bbb").to_le_bytes());
    fake.extend_from_slice(&3u32.to_le_bytes());
    fake.extend_from_slice(&3u32.to_le_bytes());
    fake.extend_from_slice(&9u16.to_le_bytes());
    fake.extend_from_slice(&0u16.to_le_bytes());
    fake.extend_from_slice(b"demo/b.pybbb");
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for (n, d) in
        [("demo/a.bin", fake.as_slice()), ("demo/b.py", b"bbb"), ("demo-0.1.dist-info/WHEEL", WHEEL_TXT.as_bytes())]
    {
        zip.start_file(n, stored).unwrap();
        zip.write_all(d).unwrap();
    }
    let mut bytes = zip.finish().unwrap().into_inner();
    let a_data = bytes.windows(fake.len()).position(|w| w == fake.as_slice()).unwrap();
    let at = central_record(&bytes, "demo/b.py") + 42;
    bytes[at..at + 4].copy_from_slice(&(a_data as u32).to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let err = open_err(&path);
    assert_eq!(err, WheelError::Zip("entries `demo/a.bin` and `demo/b.py` overlap".into()));

    // Local header disagrees with the central directory about the name.
    let path = sub("local");
    write_zip(&path, &with_metadata(&[("demo/a.py", b"1")]), true);
    let mut data = std::fs::read(&path).unwrap();
    let local = data.windows(9).position(|w| w == b"demo/a.py").unwrap();
    data[local + 5] = b'z';
    std::fs::write(&path, data).unwrap();
    let err = open_err(&path);
    assert!(matches!(err, WheelError::Zip(_)), "{err:?}");
    assert!(err.to_string().contains("entry `demo/a.py`: the local header names it `demo/z.py`"), "{err}");
}

#[test]
fn zip_bombs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sub = |n: &str| {
        let p = dir.path().join(n).join(NAME);
        std::fs::create_dir(p.parent().unwrap()).unwrap();
        p
    };
    // A real high-ratio entry: 16 MiB of zeros deflate to about 16 KiB.
    let path = sub("ratio");
    let zeros = vec![0u8; 16 << 20];
    write_zip(&path, &with_metadata(&[("demo/zeros.bin", &zeros)]), true);
    let err = open_err(&path);
    let WheelError::TooLarge { name, reason } = &err else { panic!("{err:?}") };
    assert_eq!(name, "demo/zeros.bin");
    assert!(reason.contains("compression ratio") && reason.contains("above the 1000:1 limit"), "{reason}");
    // The same wheel passes when the limit allows it, and reads back.
    let lax = Limits { max_ratio: 5000, ..Limits::default() };
    let w = WheelArchive::open_with_limits(&path, &lax).unwrap();
    assert_eq!(w.read(0).unwrap().len(), 16 << 20);

    // A central directory declaring a huge size for a small entry.
    let path = sub("declared");
    write_zip(&path, &with_metadata(&[("demo/x.bin", &content(4, 10_000))]), true);
    patch_central_u32(&path, "demo/x.bin", 24, 0xFFFF_0000);
    let err = open_err(&path);
    assert!(matches!(&err, WheelError::TooLarge { name, .. } if name == "demo/x.bin"), "{err:?}");
    assert!(err.to_string().contains("entry `demo/x.bin` is too large"), "{err}");

    // The per-entry size limit.
    let path = sub("size");
    write_zip(&path, &with_metadata(&[("demo/x.bin", &content(5, 3 << 20))]), true);
    let small = Limits { max_entry_size: 1 << 20, ..Limits::default() };
    let err = match WheelArchive::open_with_limits(&path, &small).unwrap_err() {
        wheelfix::wheel::WheelFileError::Wheel { source, .. } => source,
        other => panic!("{other:?}"),
    };
    assert!(
        matches!(&err, WheelError::TooLarge { name, reason }
        if name == "demo/x.bin" && reason.contains("the limit is 1048576")),
        "{err:?}"
    );
}

#[test]
fn lying_and_truncated_archives_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let sub = |n: &str| {
        let p = dir.path().join(n).join(NAME);
        std::fs::create_dir(p.parent().unwrap()).unwrap();
        p
    };
    let data = content(6, 40_000);
    let files = with_metadata(&[("demo/m.so", &data)]);
    let read_err = |path: &Path| {
        let w = WheelArchive::open(path).unwrap();
        let e = w.read(w.entry_by_name("demo/m.so").unwrap().index).unwrap_err();
        assert!(matches!(e, WheelError::Zip(_)), "{e:?}");
        assert!(e.to_string().contains("entry `demo/m.so`"), "names the entry: {e}");
        e.to_string()
    };
    // Declared size too small: inflation stops at the declared size.
    let path = sub("small");
    write_zip(&path, &files, true);
    patch_both_u32(&path, "demo/m.so", 24, 39_000);
    assert!(read_err(&path).contains("inflates to more than the 39000 bytes"));
    // Declared size too large.
    let path = sub("large");
    write_zip(&path, &files, true);
    patch_both_u32(&path, "demo/m.so", 24, 41_000);
    assert!(read_err(&path).contains("inflates to 40000 bytes, the central directory declares 41000"));
    // Wrong CRC.
    let path = sub("crc");
    write_zip(&path, &files, true);
    let crc = central_u32(&path, "demo/m.so", 16);
    patch_both_u32(&path, "demo/m.so", 16, crc ^ 1);
    assert!(read_err(&path).contains("CRC-32 is"));
    // The same lie in the central directory alone: refused at open, as the
    // local header says otherwise.
    let path = sub("crc-central-only");
    write_zip(&path, &files, true);
    patch_central_u32(&path, "demo/m.so", 16, crc ^ 1);
    let err = open_err(&path);
    assert!(matches!(err, WheelError::Inconsistent(_)), "{err:?}");
    assert!(err.to_string().contains("entry `demo/m.so`: the local header says CRC"), "{err}");
    // Compressed size past the central directory.
    let path = sub("csize");
    write_zip(&path, &files, true);
    patch_central_u32(&path, "demo/m.so", 20, 0x7FFF_FFFF);
    let err = open_err(&path);
    assert!(matches!(err, WheelError::Zip(_) | WheelError::TooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains("demo/m.so"), "{err}");
    // Truncated file: the end of central directory is gone.
    let path = sub("trunc");
    write_zip(&path, &files, true);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(open_err(&path), WheelError::Zip(_)));
    // Empty file.
    let path = sub("empty");
    std::fs::write(&path, b"").unwrap();
    assert_eq!(open_err(&path), WheelError::Zip("the file is empty".into()));
}

#[test]
fn record_problems_name_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let sub = |n: &str| {
        let p = dir.path().join(n).join(NAME);
        std::fs::create_dir(p.parent().unwrap()).unwrap();
        p
    };
    // RECORD missing.
    let path = sub("missing");
    write_zip(&path, &with_metadata(&[("demo/a.py", b"a")]), false);
    let err = open_err(&path);
    assert_eq!(err, WheelError::Missing("`demo-0.1.dist-info/RECORD`".into()));
    // WHEEL missing.
    let path = sub("nowheel");
    write_zip(&path, &[("demo/a.py", b"a")], true);
    assert_eq!(open_err(&path), WheelError::Missing("`demo-0.1.dist-info/WHEEL`".into()));

    let with_record = |n: &str, record: &str| {
        let path = sub(n);
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, d) in [
            ("demo/a.py", b"aaa".as_slice()),
            ("demo/b.py", b"bbb"),
            ("demo-0.1.dist-info/WHEEL", WHEEL_TXT.as_bytes()),
            ("demo-0.1.dist-info/RECORD", record.as_bytes()),
        ] {
            zip.start_file(name, SimpleFileOptions::default()).unwrap();
            zip.write_all(d).unwrap();
        }
        std::fs::write(&path, zip.finish().unwrap().into_inner()).unwrap();
        WheelArchive::open(&path).unwrap()
    };
    let wheel_row = format!("demo-0.1.dist-info/WHEEL,{},{}\n", record::hash(WHEEL_TXT.as_bytes()), WHEEL_TXT.len());
    let good_a = format!("demo/a.py,{},3\n", record::hash(b"aaa"));
    let good_b = format!("demo/b.py,{},3\n", record::hash(b"bbb"));
    let tail = "demo-0.1.dist-info/RECORD,,\n";
    let cases = [
        (format!("{good_a}{good_b}{wheel_row}{tail}"), None),
        (format!("{good_a}demo/b.py,{},3\n{wheel_row}{tail}", record::hash(b"bbc")), Some(("demo/b.py", "hash is"))),
        (format!("{good_a}demo/b.py,{},4\n{wheel_row}{tail}", record::hash(b"bbb")), Some(("demo/b.py", "size is 3"))),
        (format!("{good_a}{wheel_row}{tail}"), Some(("demo/b.py", "not listed in RECORD"))),
        (
            format!("{good_a}{good_b}demo/gone.py,{},1\n{wheel_row}{tail}", record::hash(b"x")),
            Some(("demo/gone.py", "listed in RECORD but not in the archive")),
        ),
    ];
    for (i, (rec, expected)) in cases.iter().enumerate() {
        let w = with_record(&format!("rec{i}"), rec);
        match (w.verify_all(), expected) {
            (Ok(()), None) => {}
            (Err(WheelError::RecordMismatch { entry, reason }), Some((name, why))) => {
                assert_eq!(entry, *name);
                assert!(reason.contains(why), "{reason}");
            }
            (other, _) => panic!("case {i}: {other:?}"),
        }
    }
    // verify_record on one entry, with the bytes a caller holds.
    let w = with_record("single", &format!("{good_a}{good_b}{wheel_row}{tail}"));
    let b = w.entry_by_name("demo/b.py").unwrap().index;
    w.verify_record(b, b"bbb").unwrap();
    let e = w.verify_record(b, b"bbbb").unwrap_err();
    assert!(e.to_string().starts_with("RECORD mismatch for `demo/b.py`: size is 4 bytes"), "{e}");
    // Malformed RECORD text is an open error.
    let path = sub("badcsv");
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, d) in [("demo-0.1.dist-info/WHEEL", WHEEL_TXT.as_bytes()), ("demo-0.1.dist-info/RECORD", b"a,b=c,x\n")] {
        zip.start_file(name, SimpleFileOptions::default()).unwrap();
        zip.write_all(d).unwrap();
    }
    std::fs::write(&path, zip.finish().unwrap().into_inner()).unwrap();
    assert!(matches!(open_err(&path), WheelError::Record(m) if m.contains("size `x` of `a` is not a number")));
}

#[test]
fn file_names_and_dist_info_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["demo.zip", "demo-0.1-py3-none.whl", "demo-0.1-x-py3-none-any.whl"] {
        let path = dir.path().join(bad);
        write_zip(&path, &with_metadata(&[]), true);
        let err = open_err(&path);
        assert!(matches!(&err, WheelError::Filename(m) if m.contains(&format!("`{bad}`"))), "{err:?}");
    }
    let sub = |n: &str, file: &str| {
        let p = dir.path().join(n).join(file);
        std::fs::create_dir(p.parent().unwrap()).unwrap();
        p
    };
    let wheel = |dist: &str| format!("{dist}/WHEEL");
    // Case and `-`/`_`/`.` spelling differences are accepted, as pip does.
    let path = sub("norm", "Demo_Pkg-1.0-py3-none-any.whl");
    let w = wheel("demo.pkg-1.0.dist-info");
    write_zip(&path, &[(w.as_str(), WHEEL_TXT.as_bytes())], false);
    // (no RECORD: the dist-info check passes, then RECORD is missing)
    assert_eq!(open_err(&path), WheelError::Missing("`demo.pkg-1.0.dist-info/RECORD`".into()));
    // Another project's dist-info is not.
    let path = sub("other", NAME);
    let w = wheel("other-0.1.dist-info");
    write_zip(&path, &[(w.as_str(), WHEEL_TXT.as_bytes())], false);
    let err = open_err(&path);
    assert!(matches!(&err, WheelError::DistInfo(m) if m.contains("`other-0.1.dist-info` belongs to project `other`")));
    // Another version.
    let path = sub("ver", NAME);
    let w = wheel("demo-0.2.dist-info");
    write_zip(&path, &[(w.as_str(), WHEEL_TXT.as_bytes())], false);
    assert!(matches!(open_err(&path), WheelError::DistInfo(m) if m.contains("is for version `0.2`")));
    // Two dist-info directories.
    let path = sub("two", NAME);
    let w2 = wheel("demo_x-0.1.dist-info");
    write_zip(&path, &with_metadata(&[(w2.as_str(), WHEEL_TXT.as_bytes())]), true);
    assert!(matches!(open_err(&path), WheelError::DistInfo(m) if m.starts_with("2 `.dist-info` directories")));
    // None at all.
    let path = sub("none", NAME);
    write_zip(&path, &[("demo/a.py", b"a")], false);
    assert_eq!(open_err(&path), WheelError::Missing("`.dist-info` directory".into()));
    // Unsupported Wheel-Version.
    let path = sub("v2", NAME);
    write_zip(&path, &[("demo-0.1.dist-info/WHEEL", b"Wheel-Version: 2.0\n")], true);
    assert!(matches!(open_err(&path), WheelError::Metadata(m) if m.contains("`Wheel-Version: 2.0` is not supported")));
    // Missing file.
    let missing = dir.path().join("nope").join(NAME);
    assert!(matches!(WheelArchive::open(&missing).unwrap_err(), wheelfix::wheel::WheelFileError::Io { .. }));
}
