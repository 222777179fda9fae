//! Any bytes → a `.whl` file → `WheelArchive::open` → read every entry →
//! `verify_all`. Never panics; every failure is a one-line error. When open
//! succeeds, a streaming reader (a walk of the local headers from the first
//! byte, written here and sharing nothing with the library) lists the same
//! names with the same sizes.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// One directory per fuzzing process, reused by every run.
fn wheel_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("wheelfix-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("demo-0.1-cp311-cp311-linux_x86_64.whl")
    })
}

fn le16(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u16::from_le_bytes(d.get(at..at.checked_add(2)?)?.try_into().ok()?)))
}

fn le32(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u32::from_le_bytes(d.get(at..at.checked_add(4)?)?.try_into().ok()?)))
}

fn le64(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

/// The size and compressed size in a zip64 extra field, if there is one.
fn zip64_sizes(extra: &[u8]) -> Option<(u64, u64)> {
    let mut pos = 0;
    while let (Some(id), Some(len)) = (le16(extra, pos), le16(extra, pos + 2)) {
        if id == 1 {
            return Some((le64(extra, pos + 4)?, le64(extra, pos + 12)?));
        }
        pos += 4 + len as usize;
    }
    None
}

/// Inflates the raw deflate stream at the start of `raw`: the bytes it
/// takes and the bytes it makes (at most 1 GiB), or `None`.
fn inflate_len(raw: &[u8]) -> Option<(u64, u64)> {
    let mut d = flate2::Decompress::new(false);
    let mut scratch = vec![0u8; 64 << 10];
    loop {
        let (i, o) = (d.total_in(), d.total_out());
        let status = d.decompress(raw.get(i as usize..)?, &mut scratch, flate2::FlushDecompress::None).ok()?;
        if status == flate2::Status::StreamEnd {
            return Some((d.total_in(), d.total_out()));
        }
        if (d.total_in(), d.total_out()) == (i, o) || d.total_out() > 1 << 30 {
            return None;
        }
    }
}

/// The entries a streaming unzipper finds, walking the local headers from
/// offset 0 to the first central directory record: name and size of each.
/// A header that defers its sizes to a data descriptor is delimited as
/// such a reader does: a deflated entry by its stream, a stored one by the
/// size its header gives (or not at all).
fn walk(data: &[u8]) -> Option<Vec<(Vec<u8>, u64)>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    loop {
        match le32(data, pos)? {
            0x0201_4b50 => return Some(out),
            0x0403_4b50 => {}
            _ => return None,
        }
        let (flags, method) = (le16(data, pos + 6)?, le16(data, pos + 8)?);
        let (mut csize, mut size) = (le32(data, pos + 18)?, le32(data, pos + 22)?);
        let (n, m) = (le16(data, pos + 26)? as usize, le16(data, pos + 28)? as usize);
        let name = data.get(pos + 30..pos + 30 + n)?.to_vec();
        let extra = data.get(pos + 30 + n..pos + 30 + n + m)?;
        let start = pos + 30 + n + m;
        let wide = zip64_sizes(extra);
        if let (Some((s, c)), true) = (wide, csize == 0xffff_ffff || size == 0xffff_ffff) {
            (size, csize) = (s, c);
        }
        let mut end = start.checked_add(usize::try_from(csize).ok()?)?;
        if flags & 8 != 0 {
            if method == 8 {
                let (taken, made) = inflate_len(data.get(start..)?)?;
                (csize, size) = (taken, made);
                end = start + taken as usize;
            } else if csize == 0 {
                return None;
            }
            let mut p = end;
            if le32(data, p)? == 0x0807_4b50 {
                p += 4;
            }
            let (d_csize, d_size, len) = match wide {
                Some(_) => (le64(data, p + 4)?, le64(data, p + 12)?, 20),
                None => (le32(data, p + 4)?, le32(data, p + 8)?, 12),
            };
            if d_csize != csize || d_size != size {
                return None;
            }
            end = p + len;
        }
        if end > data.len() {
            return None;
        }
        out.push((name, size));
        pos = end;
    }
}

fuzz_target!(|data: &[u8]| {
    let path = wheel_path();
    std::fs::write(path, data).unwrap();
    let archive = match wheelfix::wheel::WheelArchive::open(path) {
        Ok(a) => a,
        Err(e) => {
            assert!(!e.to_string().contains('\n'), "multi-line error: {e}");
            return;
        }
    };
    let mut walked = walk(data).unwrap_or_else(|| panic!("opened, but a walk of the local headers fails"));
    let mut listed: Vec<(Vec<u8>, u64)> =
        archive.entries().iter().map(|e| (e.name.as_bytes().to_vec(), e.size)).collect();
    walked.sort();
    listed.sort();
    assert_eq!(walked, listed, "the local headers and the archive list different entries");
    for entry in archive.entries() {
        if let Ok(bytes) = archive.read(entry.index) {
            assert_eq!(bytes.len() as u64, entry.size, "read returned a size other than the declared one");
            let _ = archive.verify_record(entry.index, &bytes);
        }
        let _ = archive.read_prefix(entry.index, 64);
    }
    if let Err(e) = archive.verify_all() {
        assert!(!e.to_string().contains('\n'), "multi-line error: {e}");
    }
});
