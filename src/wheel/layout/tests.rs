use std::io::Write;

use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

use super::*;

const FILES: [(&str, &[u8]); 3] = [("a.txt", b"hello hello hello"), ("pkg/b.bin", &[7u8; 300]), ("pkg/c", b"")];

fn options(method: CompressionMethod) -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(method)
}

/// A zip written by the `zip` crate, seekable (no data descriptors).
fn plain() -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (i, (name, data)) in FILES.iter().enumerate() {
        let method = if i == 0 { CompressionMethod::Stored } else { CompressionMethod::Deflated };
        w.start_file(*name, options(method)).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// The same files written to a stream: every entry has a data descriptor.
fn streamed() -> Vec<u8> {
    let mut w = zip::ZipWriter::new_stream(Vec::new());
    for (name, data) in FILES {
        w.start_file(name, options(CompressionMethod::Deflated)).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn central_offset(z: &[u8]) -> usize {
    let (end, _) = find_end(z).unwrap();
    le32(z, end + 16).unwrap() as usize
}

/// Offset of the central directory record of entry `i` (in directory order).
fn central_record(z: &[u8], i: usize) -> usize {
    let mut pos = central_offset(z);
    for _ in 0..i {
        pos += CENTRAL_LEN + usize::from(le16(z, pos + 28).unwrap()) + usize::from(le16(z, pos + 30).unwrap());
        pos += usize::from(le16(z, pos + 32).unwrap_or(0));
    }
    pos
}

fn local_header(z: &[u8], i: usize) -> usize {
    le32(z, central_record(z, i) + 42).unwrap() as usize
}

fn put32(z: &mut [u8], at: usize, v: u32) {
    z[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put16(z: &mut [u8], at: usize, v: u16) {
    z[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

/// Adds `shift` to the end record's directory offset and to the local header
/// offsets of the directory records from `first` on: the directory then
/// still points at the entries after bytes inserted before them.
fn shift_offsets(z: &mut [u8], shift: u32, first: usize) {
    let (end, _) = find_end(z).unwrap();
    let cd = le32(z, end + 16).unwrap() + shift;
    put32(z, end + 16, cd);
    for i in first..FILES.len() {
        let c = central_record(z, i);
        let off = le32(z, c + 42).unwrap() + shift;
        put32(z, c + 42, off);
    }
}

fn refused(z: &[u8], wanted: &str) {
    match read(z, 1000) {
        Ok(_) => panic!("accepted an archive that should fail with `{wanted}`"),
        Err(e) => assert!(e.0.contains(wanted), "`{e}` does not say `{wanted}`"),
    }
}

#[test]
fn archives_from_a_zip_writer_are_read_as_the_zip_reader_reads_them() {
    for z in [plain(), streamed()] {
        let layout = read(&z, 1000).unwrap();
        let mut reader = zip::ZipArchive::new(std::io::Cursor::new(&z)).unwrap();
        assert_eq!(layout.entries.len(), reader.len());
        for (e, i) in layout.entries.iter().zip(0..) {
            let f = reader.by_index_raw(i).unwrap();
            assert_eq!(e.name, f.name_raw());
            assert_eq!(e.header, f.header_start());
            assert_eq!(e.data.start, f.data_start().unwrap());
            assert_eq!(e.data.end - e.data.start, f.compressed_size());
            assert_eq!((e.crc32, e.size), (f.crc32(), f.size()));
        }
        assert_eq!(layout.directory, central_offset(&z) as u64);
    }
}

#[test]
fn data_descriptors_are_read_and_reported_for_the_index() {
    let layout = read(&streamed(), 1000).unwrap();
    assert!(layout.entries.iter().all(|e| e.descriptor > 0));
    assert_eq!(layout.index_findings().len(), FILES.len());
    assert!(read(&plain(), 1000).unwrap().index_findings().is_empty());
}

#[test]
fn a_local_header_that_disagrees_is_refused() {
    let base = plain();
    let h = local_header(&base, 1);
    let mut crc = base.clone();
    crc[h + 14] ^= 1;
    refused(&crc, "the local header says CRC");
    let mut size = base.clone();
    put32(&mut size, h + 22, 301);
    refused(&size, "the local header says CRC");
    let mut method = base.clone();
    put16(&mut method, h + 8, 0);
    refused(&method, "method 0 in the local header");
    let mut flags = base.clone();
    put16(&mut flags, h + 6, le16(&base, h + 6).unwrap() | 0x800);
    refused(&flags, "flags");
    let mut name = base.clone();
    name[h + LOCAL_LEN] = b'X';
    refused(&name, "the local header names it `Xkg/b.bin`");
}

#[test]
fn a_data_descriptor_that_disagrees_is_refused() {
    let mut z = streamed();
    let c = central_record(&z, 0);
    let (name_len, extra_len) = (usize::from(le16(&z, c + 28).unwrap()), usize::from(le16(&z, c + 30).unwrap()));
    let h = local_header(&z, 0);
    let data_end = h
        + LOCAL_LEN
        + usize::from(le16(&z, h + 26).unwrap())
        + usize::from(le16(&z, h + 28).unwrap())
        + le32(&z, c + 20).unwrap() as usize;
    assert!(name_len > 0 && extra_len < 100);
    let crc_at = if le32(&z, data_end) == Some(DESCRIPTOR) { data_end + 4 } else { data_end };
    z[crc_at] ^= 0xff;
    refused(&z, "its data descriptor says CRC");
}

#[test]
fn an_end_record_that_miscounts_is_refused() {
    let base = plain();
    let (end, _) = find_end(&base).unwrap();
    let mut fewer = base.clone();
    put16(&mut fewer, end + 8, 2);
    put16(&mut fewer, end + 10, 2);
    refused(&fewer, "more records than the 2");
    let mut more = base.clone();
    put16(&mut more, end + 8, 4);
    put16(&mut more, end + 10, 4);
    refused(&more, "the end record counts 4 entries");
    let mut disks = base;
    put16(&mut disks, end + 8, 2);
    refused(&disks, "multi-disk");
}

#[test]
fn bytes_before_between_or_after_are_refused() {
    let base = plain();
    let mut before = b"MZ-self-extractor".to_vec();
    before.extend_from_slice(&base);
    // offsets unchanged: the directory is no longer where the end record says
    refused(&before, "does not end where the end records start");
    let mut after = base.clone();
    after.extend_from_slice(b"trailing");
    refused(&after, "data after the end of central directory record");
    // an entry the directory does not list, between two that it does: the
    // stream of a listed entry claims it, so a streaming reader and the
    // directory would see different files
    let h1 = local_header(&base, 1);
    let mut hidden = base.clone();
    let extra = plain();
    let smuggled = &extra[..local_header(&extra, 1)]; // the whole first entry
    hidden.splice(h1..h1, smuggled.iter().copied());
    // shift every later offset so that the directory still points at the real entries
    shift_offsets(&mut hidden, smuggled.len() as u32, 1);
    refused(&hidden, "bytes no entry owns after `a.txt` (before `pkg/b.bin`)");
}

#[test]
fn overlapping_entries_are_refused() {
    let mut z = plain();
    // entry 2 claims to start where entry 1 does
    let h1 = local_header(&z, 1) as u32;
    let c2 = central_record(&z, 2);
    put32(&mut z, c2 + 42, h1);
    refused(&z, "entry `pkg/c`: the local header names it `pkg/b.bin`");
}

#[test]
fn a_directory_inside_an_entry_is_refused() {
    // the end record points into the data of an entry that hides a whole
    // second archive: what the directory lists is not what the file holds
    let inner = plain();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("outer.bin", options(CompressionMethod::Stored)).unwrap();
    w.write_all(&inner).unwrap();
    let mut z = w.finish().unwrap().into_inner();
    let inner_at = z.windows(inner.len()).position(|w| w == inner.as_slice()).unwrap();
    // cut the outer directory and end record: the inner end record is now
    // the last thing in the file, and its offsets are relative to the inner zip
    z.truncate(inner_at + inner.len());
    refused(&z, "does not end where the end records start");
    // and with the inner offsets made absolute, so that the inner directory
    // is a consistent one: the outer entry's header is then owned by no
    // entry the directory lists
    shift_offsets(&mut z, inner_at as u32, 0);
    refused(&z, "bytes no entry owns at the start of the file (before `a.txt`)");
}

#[test]
fn every_truncation_and_flipped_byte_is_an_error_or_a_consistent_read() {
    let base = plain();
    for n in 0..base.len() {
        assert!(read(&base[..n], 1000).is_err(), "a truncated archive ({n} bytes) is never accepted");
    }
    for i in 0..base.len() {
        for bit in [0x01u8, 0x80] {
            let mut z = base.clone();
            z[i] ^= bit;
            if let Ok(layout) = read(&z, 1000) {
                // whatever is accepted tiles the file and agrees with itself
                assert!(layout.entries.iter().all(|e| e.data.end <= layout.directory));
            }
        }
    }
}

#[test]
fn entry_count_is_bounded_before_the_walk() {
    assert!(read(&plain(), 2).unwrap_err().0.contains("the limit is 2"));
}

#[test]
fn a_second_zip64_field_is_read_when_it_agrees() {
    let field = |values: &[u64]| {
        let mut f = vec![0x01, 0x00];
        f.extend_from_slice(&((values.len() * 8) as u16).to_le_bytes());
        for v in values {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f
    };
    let one = field(&[5_000_000_000, 4_999_000_000]);
    let mut two = one.clone();
    two.extend(field(&[5_000_000_000, 4_999_000_000, 77]));
    assert_eq!(zip64_values(&one, &[true, true]).unwrap(), [5_000_000_000, 4_999_000_000]);
    assert_eq!(zip64_values(&two, &[true, true]).unwrap(), [5_000_000_000, 4_999_000_000]);
    assert_eq!((zip64_fields(&one), zip64_fields(&two)), (1, 2));
    let mut disagree = one.clone();
    disagree.extend(field(&[5_000_000_001, 4_999_000_000]));
    assert_eq!(zip64_values(&disagree, &[true, true]).unwrap_err(), "two zip64 extra fields that disagree");
    assert_eq!(zip64_values(&[], &[true]).unwrap_err(), "zip64 sizes announced but no zip64 extra field");
}

/// One entry whose local header defers CRC and sizes to a signed data
/// descriptor: `raw` as its compressed bytes (method `method`), `data` as
/// what they hold.
fn deferred(method: u16, raw: &[u8], data: &[u8]) -> Vec<u8> {
    let crc = crc32fast::hash(data);
    let name = b"pkg/a.py";
    let mut z = Vec::new();
    z.extend_from_slice(&LOCAL.to_le_bytes());
    for v in [20u16, FLAG_DESCRIPTOR, method, 0, 0] {
        z.extend_from_slice(&v.to_le_bytes());
    }
    z.extend_from_slice(&[0; 12]); // CRC and sizes: in the descriptor
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(name);
    z.extend_from_slice(raw);
    for v in [DESCRIPTOR, crc, raw.len() as u32, data.len() as u32] {
        z.extend_from_slice(&v.to_le_bytes());
    }
    let cd = z.len() as u32;
    z.extend_from_slice(&CENTRAL.to_le_bytes());
    for v in [20u16, 20, FLAG_DESCRIPTOR, method, 0, 0] {
        z.extend_from_slice(&v.to_le_bytes());
    }
    for v in [crc, raw.len() as u32, data.len() as u32] {
        z.extend_from_slice(&v.to_le_bytes());
    }
    for v in [name.len() as u16, 0, 0, 0, 0] {
        z.extend_from_slice(&v.to_le_bytes());
    }
    z.extend_from_slice(&[0; 8]); // external attributes, local header offset
    z.extend_from_slice(name);
    let cd_len = z.len() as u32 - cd;
    z.extend_from_slice(&END.to_le_bytes());
    for v in [0u16, 0, 1, 1] {
        z.extend_from_slice(&v.to_le_bytes());
    }
    for v in [cd_len, cd] {
        z.extend_from_slice(&v.to_le_bytes());
    }
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

/// A streaming reader has only the local header: when it defers the sizes,
/// a stored entry's end is a guess, and a deflated entry ends where its
/// stream does. Bytes after the stream (a fake descriptor and a hidden
/// local header, say) are refused; a stream that fills its bytes is read.
#[test]
fn entries_a_streaming_reader_cannot_delimit_are_refused() {
    let data = b"print('hello')\n".repeat(20);
    let mut c = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    c.write_all(&data).unwrap();
    let deflated = c.finish().unwrap();
    let layout = read(&deferred(8, &deflated, &data), 10).unwrap();
    assert_eq!(layout.entries[0].data.end - layout.entries[0].data.start, deflated.len() as u64);
    refused(&deferred(0, &data, &data), "stored with its size in a data descriptor only");
    let mut smuggled = deflated.clone();
    smuggled.extend_from_slice(b"PK\x07\x08 then a hidden local header");
    let n = smuggled.len() - deflated.len();
    refused(&deferred(8, &smuggled, &data), &format!("its deflate stream ends {n} bytes before the end of its"));
    refused(&deferred(8, &deflated[..deflated.len() - 1], &data), "its deflate stream does not end within");
    let mut corrupt = deflated.clone();
    corrupt[0] |= 0x06; // block type 3 does not exist
    refused(&deferred(8, &corrupt, &data), "corrupt deflate data");
}

/// Python's zipfile refuses a directory record that needs a version of the
/// format above 6.3; so does the layout, and 6.3 itself is read.
#[test]
fn a_version_needed_above_6_3_is_refused() {
    let mut z = plain();
    let c = central_record(&z, 1);
    put16(&mut z, c + 6, 63);
    read(&z, 10).unwrap();
    put16(&mut z, c + 6, 64);
    refused(&z, "entry `pkg/b.bin` needs zip version 6.4 to be extracted");
}
