//! Whole wheels written and read back: chunked entries, content that comes
//! later, and inputs changed under the writer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use zip::{CompressionMethod, ZipArchive};

use super::*;
use crate::wheel::deflate::testdata::mixed;
use crate::wheel::record::RecordRow;

#[test]
fn large_entries_are_written_chunked_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let big = mixed(CHUNKED_MIN + 3 * CHUNK + 5, 11);
    let entries = vec![
        OutputEntry::bytes("pkg/__init__.py", b"x = 1\n".to_vec(), None),
        OutputEntry::bytes("pkg/big.so", big.clone(), Some(0o755)),
        OutputEntry::bytes("pkg/é.bin", big[..CHUNKED_MIN].to_vec(), None),
        OutputEntry::bytes("pkg-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n".to_vec(), None),
    ];
    let out = dir.path().join("pkg-1.0-py3-none-any.whl");
    let options = WriteOptions { compression_level: None, timestamp: Some(1_700_000_000) };
    write_wheel_for_test(entries.clone(), &out, &options);
    let first = std::fs::read(&out).unwrap();
    let mut z = ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    let mut f = z.by_name("pkg/big.so").unwrap();
    assert_eq!(f.compression(), CompressionMethod::Deflated);
    assert_eq!(f.unix_mode().map(|m| m & 0o170_777), Some(0o100_755));
    let t = f.last_modified().unwrap();
    assert_eq!((t.year(), t.month(), t.day(), t.hour()), (2023, 11, 14, 22));
    let mut content = Vec::new();
    std::io::Read::read_to_end(&mut f, &mut content).unwrap(); // checks the CRC
    assert!(content == big);
    drop(f);
    let f = z.by_name("pkg/é.bin").unwrap();
    assert_eq!(f.size(), CHUNKED_MIN as u64);
    assert_eq!(f.unix_mode().map(|m| m & 0o777), Some(0o644));
    drop(f);
    let mut rec = String::new();
    std::io::Read::read_to_string(&mut z.by_name("pkg-1.0.dist-info/RECORD").unwrap(), &mut rec).unwrap();
    let row = RecordRow::for_data("pkg/big.so", &big);
    assert!(rec.contains(&format!("pkg/big.so,{},{}", row.hash.unwrap(), big.len())), "{rec}");
    // deterministic
    write_wheel_for_test(entries, &out, &options);
    assert!(std::fs::read(&out).unwrap() == first);
}

#[test]
fn entries_whose_content_comes_later_are_written_as_if_given_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let big = mixed(CHUNKED_MIN + CHUNK + 3, 5);
    let deflated = Arc::new(deflate_chunked(&big, 6, CHUNK).unwrap());
    let up_front = vec![
        OutputEntry::bytes("pkg/__init__.py", b"x = 1\n".to_vec(), None),
        OutputEntry {
            name: "pkg/big.so".into(),
            source: Source::Deflated(deflated.clone(), big.len() as u64),
            unix_mode: Some(0o755),
        },
        OutputEntry::bytes("pkg/small.txt", b"small".to_vec(), None),
        OutputEntry::bytes("pkg-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n".to_vec(), None),
    ];
    let options = WriteOptions { compression_level: None, timestamp: Some(1_700_000_000) };
    let a = dir.path().join("a.whl");
    write_wheel_for_test(up_front.clone(), &a, &options);
    // the same entries, two of them handed over while the writer runs
    let (big_promise, big_later) = later();
    let (small_promise, small_later) = later();
    let mut late = up_front.clone();
    late[1].source = big_later;
    late[2].source = small_later;
    let b = dir.path().join("b.whl");
    std::thread::scope(|s| {
        let writer = s.spawn(|| write_entries(None, "pkg-1.0.dist-info", late, &b, &options));
        std::thread::sleep(std::time::Duration::from_millis(20));
        // the writer waits: nothing is in place yet
        assert!(!b.exists());
        small_promise.keep(Source::Bytes(Arc::new(b"small".to_vec())));
        big_promise.keep(Source::Deflated(deflated, big.len() as u64));
        writer.join().unwrap().unwrap();
    });
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "same bytes, RECORD included");
}

#[test]
fn a_promise_dropped_unkept_stops_the_writer_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (promise, source) = later();
    let entries = vec![
        OutputEntry::bytes("pkg/__init__.py", b"x = 1\n".to_vec(), None),
        OutputEntry { name: "pkg/ext.so".into(), source, unix_mode: None },
    ];
    let out = dir.path().join("pkg-1.0-py3-none-any.whl");
    let err = std::thread::scope(|s| {
        let writer = s.spawn(|| write_entries(None, "pkg-1.0.dist-info", entries, &out, &WriteOptions::default()));
        std::thread::sleep(std::time::Duration::from_millis(10));
        drop(promise);
        writer.join().unwrap().unwrap_err()
    });
    let said = err.to_string();
    assert!(said.contains("pkg/ext.so") && said.contains("not made"), "{said}");
    // no output and no temporary file left behind
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// A wheel truncated by another process while the writer copies it: the
/// command-line tool prints one line naming it, exits 2 and leaves no
/// temporary file. Run in a child process (this test binary again),
/// since the process exits. A first child without the handler shows
/// that the fault comes while the temporary file exists: it dies by
/// SIGBUS and leaves that file behind.
#[cfg(target_os = "linux")]
#[test]
fn a_wheel_truncated_while_copied_exits_cleanly_and_leaves_nothing() {
    let name = "pkg-1.0-py3-none-any.whl";
    if let Some(dir) = std::env::var_os("WHEELFIX_TEST_CHILD") {
        let dir = PathBuf::from(dir);
        let input = dir.join(name);
        let archive = WheelArchive::open(&input).unwrap();
        if !dir.join("no-handler").exists() {
            crate::sigbus::install();
        }
        // what another process does after we opened the wheel
        std::fs::OpenOptions::new().write(true).open(&input).unwrap().set_len(100).unwrap();
        let result =
            write_wheel(&archive, raw_entries(&archive), &dir.join("out").join(name), &WriteOptions::default());
        panic!("the copy of a truncated wheel went on: {result:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join(name);
    write_wheel_for_test(pkg_entries(mixed(4 << 20, 5)), &input, &WriteOptions::default());
    let test = "wheel::writer::tests::a_wheel_truncated_while_copied_exits_cleanly_and_leaves_nothing";
    // without the handler
    let control = tempfile::tempdir().unwrap();
    std::fs::copy(&input, control.path().join(name)).unwrap();
    std::fs::create_dir(control.path().join("out")).unwrap();
    std::fs::write(control.path().join("no-handler"), b"").unwrap();
    let out = crate::sigbus::tests::run_child(test, control.path());
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&out.status), Some(libc::SIGBUS), "{out:?}");
    let left: Vec<String> = std::fs::read_dir(control.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(matches!(&left[..], [t] if t.starts_with(".wheelfix-") && t.ends_with(".whl.tmp")), "{left:?}");
    // with it
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let out = crate::sigbus::tests::run_child(test, dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let expected = format!("error: `{}`: the file was truncated while it was being read\n", input.display());
    assert_eq!(stderr, expected);
    let left: Vec<_> = std::fs::read_dir(dir.path().join("out")).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A wheel written over in place after it was opened (same size, one
/// byte of an entry changed): raw copies would take the new byte under
/// the old CRC-32. Both writers refuse it, naming the input, and leave
/// nothing behind; before the write, the same copy succeeds.
#[test]
fn a_wheel_written_over_in_place_while_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let name = "pkg-1.0-py3-none-any.whl";
    let input = dir.path().join(name);
    let data = mixed(256 << 10, 9);
    let stored = WriteOptions { compression_level: Some(0), ..Default::default() };
    write_wheel_for_test(pkg_entries(data.clone()), &input, &stored);
    let archive = WheelArchive::open(&input).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    write_wheel(&archive, raw_entries(&archive), &out.join("before.whl"), &WriteOptions::default()).unwrap();
    copy_wheel(&archive, &out.join("copy.whl")).unwrap();
    for f in ["before.whl", "copy.whl"] {
        std::fs::remove_file(out.join(f)).unwrap();
    }

    // another process writes one byte of the stored entry, in place
    std::thread::sleep(std::time::Duration::from_millis(20));
    let bytes = std::fs::read(&input).unwrap();
    let at = bytes.windows(64).position(|w| w == &data[1000..1064]).unwrap() + 10;
    {
        use std::io::{Seek, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&input).unwrap();
        f.seek(std::io::SeekFrom::Start(at as u64)).unwrap();
        f.write_all(&[!bytes[at]]).unwrap();
    }
    assert_eq!(std::fs::metadata(&input).unwrap().len(), bytes.len() as u64);
    // the mapping now shows the new byte under the old CRC-32
    assert!(archive.verify_all().is_err());
    let expected = format!("`{}`: the file was changed while it was being read", input.display());
    let err =
        write_wheel(&archive, raw_entries(&archive), &out.join("after.whl"), &WriteOptions::default()).unwrap_err();
    assert!(err.to_string().contains(&expected), "{err}");
    let err = copy_wheel(&archive, &out.join("copy.whl")).unwrap_err();
    assert!(err.to_string().contains(&expected), "{err}");
    let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// `pkg-1.0`'s entries: `pkg/data.bin` holding `data`, and its WHEEL and METADATA.
fn pkg_entries(data: Vec<u8>) -> Vec<OutputEntry> {
    vec![
        OutputEntry::bytes("pkg/data.bin", data, None),
        OutputEntry::bytes(
            "pkg-1.0.dist-info/WHEEL",
            b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_vec(),
            None,
        ),
        OutputEntry::bytes(
            "pkg-1.0.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n".to_vec(),
            None,
        ),
    ]
}

/// Every entry of `archive`, copied raw.
fn raw_entries(archive: &WheelArchive) -> Vec<OutputEntry> {
    (0..archive.entries().len())
        .map(|i| OutputEntry { name: archive.entries()[i].name.clone(), source: Source::Raw(i), unix_mode: None })
        .collect()
}

fn write_wheel_for_test(entries: Vec<OutputEntry>, out: &Path, options: &WriteOptions) {
    write_entries(None, "pkg-1.0.dist-info", entries, out, options).unwrap();
}

/// An entry of 4 GiB or more copied unchanged from a zip64 input comes out
/// with one zip64 extra field in each header, at its new offset: the zip
/// crate's raw copy would keep the input's field beside the one it writes.
/// The entry declares 5 GiB for a few bytes (nothing inflates it here).
#[test]
fn huge_raw_copies_carry_one_zip64_field() {
    use std::io::{Cursor, Write};
    use zip::write::SimpleFileOptions;
    use zip::{DateTime, ZipWriter};

    use super::one_entry::single_entry_zip_raw;
    use crate::wheel::layout;

    let dir = tempfile::tempdir().unwrap();
    let huge: u64 = 5 << 30;
    let (name, crc) = ("pkg/huge.bin", 0x1234_5678);
    let one = || single_entry_zip_raw(name, 8, b"\x03\x00", crc, huge, 0o644, DateTime::default()).unwrap();
    assert!(one().zip64);
    let wheel_txt = b"Wheel-Version: 1.0\n";
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file("pkg/a.py", SimpleFileOptions::default()).unwrap();
    zip.write_all(b"a = 1\n").unwrap();
    zip.merge_archive(ZipArchive::new(one()).unwrap()).unwrap();
    zip.start_file("pkg-1.0.dist-info/WHEEL", SimpleFileOptions::default()).unwrap();
    zip.write_all(wheel_txt).unwrap();
    let record = format!(
        "{}\n{}\n{name},sha256=unchecked,{huge}\npkg-1.0.dist-info/RECORD,,\n",
        RecordRow::for_data("pkg/a.py", b"a = 1\n"),
        RecordRow::for_data("pkg-1.0.dist-info/WHEEL", wheel_txt),
    );
    zip.start_file("pkg-1.0.dist-info/RECORD", SimpleFileOptions::default()).unwrap();
    zip.write_all(record.as_bytes()).unwrap();
    let input_path = dir.path().join("pkg-1.0-py3-none-any.whl");
    std::fs::write(&input_path, zip.finish().unwrap().into_inner()).unwrap();

    let limits = crate::wheel::Limits {
        max_entry_size: u64::MAX,
        max_total_size: u64::MAX,
        max_ratio: u64::MAX,
        ..Default::default()
    };
    let input = WheelArchive::open_with_limits(&input_path, &limits).unwrap();
    let fields = |bytes: &[u8]| {
        let laid = layout::read(bytes, 16).unwrap();
        let e = laid.entries.iter().find(|e| e.name == name.as_bytes()).unwrap();
        assert_eq!((e.size, e.crc32), (huge, crc));
        (e.zip64_fields, laid.index_findings())
    };
    assert_eq!(fields(input.as_bytes()), (1, vec![]));

    // copied behind a new entry (another offset), then under a new name
    let out = dir.path().join("out").join("pkg-1.0-py3-none-any.whl");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let mut entries = vec![OutputEntry::bytes("pkg/new.py", b"new = 1\n".repeat(40), None)];
    entries.extend((0..input.entries().len()).filter_map(|i| OutputEntry::raw(&input, i)));
    write_wheel(&input, entries.clone(), &out, &WriteOptions::default()).unwrap();
    let written = std::fs::read(&out).unwrap();
    assert_eq!(fields(&written), (1, vec![]));
    let mut z = ZipArchive::new(Cursor::new(&written)).unwrap();
    assert_eq!(z.by_name(name).unwrap().size(), huge);
    let renamed = entries.iter_mut().find(|e| e.name == name).unwrap();
    renamed.name = "pkg/moved.bin".into();
    write_wheel(&input, entries, &out, &WriteOptions::default()).unwrap();
    let laid = layout::read(&std::fs::read(&out).unwrap(), 16).unwrap();
    let moved = laid.entries.iter().find(|e| e.name == b"pkg/moved.bin").unwrap();
    assert_eq!((moved.zip64_fields, moved.size), (1, huge));
    assert_eq!(laid.index_findings(), Vec::<String>::new());

    // what the zip crate's raw copy alone gives, which the writer avoids
    let mut source = ZipArchive::new(one()).unwrap();
    let mut copy = ZipWriter::new(Cursor::new(Vec::new()));
    copy.raw_copy_file(source.by_index_raw(0).unwrap()).unwrap();
    let copied = copy.finish().unwrap().into_inner();
    assert_eq!(fields(&copied).0, 2);
}
