//! Deterministic test data for the deflate, splice and writer tests.

/// Deterministic test data: `len` bytes, alternating runs of
/// pseudo-random (incompressible) and repetitive text (compressible).
pub(crate) fn mixed(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    let text = b"the quick brown fox jumps over the lazy dog; libfoo.so.1 GLIBC_2.17 ";
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let run = (x % 200_000) as usize + 1;
        let run = run.min(len - out.len());
        if x & 0x100 == 0 {
            for _ in 0..run {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                out.push((x >> 24) as u8);
            }
        } else {
            out.extend(text.iter().cycle().take(run));
        }
    }
    out
}

/// `raw`, a raw-deflate stream, inflated by flate2's reader (independently
/// of the code under test).
pub(crate) fn inflate(raw: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(raw).read_to_end(&mut out).expect("valid deflate stream");
    out
}

/// Half text, half noise: many blocks of both Huffman kinds.
pub(crate) fn sample(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let words: [&[u8]; 6] = [b"GLIBC_2.17 ", b"libfoo.so.1 ", b".dynsym ", b"PyInit_ext ", b"\0\0\0\0", b"__cxa "];
    let mut v = Vec::with_capacity(len + 16);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x % 3 == 0 {
            v.extend_from_slice(&x.to_le_bytes()[..3]);
        } else {
            v.extend_from_slice(words[(x % 6) as usize]);
        }
    }
    v.truncate(len);
    v
}

/// `data` deflated at `level` by flate2, independently of the code under test.
pub(crate) fn deflate(data: &[u8], level: u32) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(level));
    std::io::Write::write_all(&mut e, data).unwrap();
    e.finish().unwrap()
}
