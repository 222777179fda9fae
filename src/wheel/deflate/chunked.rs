//! Deflating large content in parallel chunks that join into one stream.

use rayon::prelude::*;
use sha2::Digest;

use super::fresh::deflate_fresh;
use super::{Deflated, WINDOW};

/// The chunk size of the parallel deflate.
pub const CHUNK: usize = 512 << 10;
/// The smallest chunk [`chunk_for`] picks.
const MIN_CHUNK: usize = 128 << 10;

/// The chunk size for new content of `len` bytes: [`CHUNK`], or, for content
/// of less than four chunks, a quarter of it (a multiple of 32 KiB, at least
/// 128 KiB: smaller chunks deflated apart lose on ratio), so that a library
/// of a few hundred KiB is still deflated in pieces that keep two to four
/// cores busy. A function of `len` alone.
pub fn chunk_for(len: usize) -> usize {
    len.div_ceil(4).next_multiple_of(WINDOW).clamp(MIN_CHUNK, CHUNK)
}

/// Deflates `data` at `level` (1–9; 0 is taken as 1) into one raw-deflate
/// stream, `chunk` bytes at a time in parallel on the rayon pool, with the
/// CRC-32 and the sha256 of `data` computed in the same pass.
///
/// Each chunk is deflated by libdeflate on its own (see
/// [`super::fresh`]): on binaries the stream comes out the size of one
/// serial zlib deflate at the same level, or smaller. The output depends
/// only on `data`, `level` and `chunk`, never on the thread count.
pub fn deflate_chunked(data: &[u8], level: u32, chunk: usize) -> std::io::Result<Deflated> {
    deflate_ranges(data, chunk_ranges(data.len(), chunk), level)
}

/// [`deflate_chunked`] of `data` cut into `ranges`.
fn deflate_ranges(data: &[u8], ranges: Vec<ChunkRange>, level: u32) -> std::io::Result<Deflated> {
    let (sha256, pieces) = rayon::join(
        || <[u8; 32]>::from(sha2::Sha256::digest(data)),
        || ranges.into_par_iter().map(|piece| deflate_chunk(data, piece, level)).collect::<std::io::Result<Vec<_>>>(),
    );
    Ok(join_chunks(pieces?, sha256))
}

/// One chunk of a chunked deflate: where it starts and ends in the content,
/// and whether it is the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRange {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// The last chunk (ended by the final block).
    pub last: bool,
}

/// The chunks [`deflate_chunked`] cuts `len` bytes into with chunks of
/// `chunk` bytes (at least 32 KiB): one, empty, for empty content.
pub fn chunk_ranges(len: usize, chunk: usize) -> Vec<ChunkRange> {
    let chunk = chunk.max(WINDOW);
    let n = len.div_ceil(chunk).max(1);
    (0..n).map(|i| ChunkRange { start: i * chunk, end: ((i + 1) * chunk).min(len), last: i + 1 == n }).collect()
}

/// One chunk of `data` deflated at `level` (1–9; 0 is taken as 1), with the
/// CRC-32 of its bytes: a piece of [`deflate_chunked`]'s stream.
pub fn deflate_chunk(data: &[u8], piece: ChunkRange, level: u32) -> std::io::Result<(Vec<u8>, crc32fast::Hasher)> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&data[piece.start..piece.end]);
    deflate_fresh(&data[piece.start..piece.end], level.clamp(1, 9), piece.last).map(|d| (d, crc))
}

/// The stream made of deflated chunks, in order, of content whose sha256 is
/// `sha256`.
pub fn join_chunks(pieces: Vec<(Vec<u8>, crc32fast::Hasher)>, sha256: [u8; 32]) -> Deflated {
    let mut out = Vec::with_capacity(pieces.iter().map(|(d, _)| d.len()).sum());
    let mut crc = crc32fast::Hasher::new();
    for (d, c) in pieces {
        out.extend_from_slice(&d);
        crc.combine(&c);
    }
    Deflated { data: out.into(), crc32: crc.finalize(), sha256 }
}

/// New content deflated in parallel chunks ([`deflate_chunked`]) whatever
/// its size, so that a caller can do it early, alongside other work, and
/// hand it to the writer pre-compressed (`Source::Deflated`). `None` when
/// the writer cannot take it pre-compressed: level 0, or content too large
/// for a one-entry zip (2 GiB or more).
pub fn deflate_early(data: &[u8], level: u32) -> std::io::Result<Option<Deflated>> {
    early_chunks(data.len(), level).map(|ranges| deflate_ranges(data, ranges, level)).transpose()
}

/// The chunks [`deflate_early`] deflates `len` bytes in at `level`, for a
/// caller that schedules them itself ([`deflate_chunk`], [`join_chunks`]);
/// `None` when [`deflate_early`] gives `None`.
pub fn early_chunks(len: usize, level: u32) -> Option<Vec<ChunkRange>> {
    let fits = u32::try_from(len).is_ok_and(|n| n < u32::MAX / 2);
    (level > 0 && fits).then(|| chunk_ranges(len, chunk_for(len)))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use sha2::Digest;

    use super::*;
    use crate::wheel::deflate::testdata::{inflate, mixed};

    #[test]
    fn chunked_deflate_round_trips() {
        let small = 64 << 10; // chunks of 64 KiB to cross many boundaries cheaply
        let sizes =
            [0, 1, 100, small - 1, small, small + 1, 3 * small + 17, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 1];
        for (k, &len) in sizes.iter().enumerate() {
            let data = mixed(len, k as u64 + 7);
            for chunk in [small, CHUNK] {
                let d = deflate_chunked(&data, 6, chunk).unwrap();
                assert_eq!(inflate(&d.data), data, "len {len} chunk {chunk}");
                assert_eq!(d.crc32, crc32fast::hash(&data), "len {len} chunk {chunk}");
                assert_eq!(d.sha256, <[u8; 32]>::from(sha2::Sha256::digest(&data)), "len {len}");
            }
        }
    }

    #[test]
    fn chunked_deflate_large_mix_and_ratio() {
        // 50 MB: incompressible and compressible runs
        let data = mixed(50_000_000, 99);
        let d = deflate_chunked(&data, 6, CHUNK).unwrap();
        assert_eq!(d.crc32, crc32fast::hash(&data));
        assert!(inflate(&d.data) == data, "inflated content differs");
        // chunks deflated apart cost little against one serial stream
        let mut serial = flate2::write::DeflateEncoder::new(Vec::new(), Compression::new(6));
        serial.write_all(&data).unwrap();
        let serial = serial.finish().unwrap();
        assert!(d.data.len() <= serial.len() + serial.len() / 100, "{} vs serial {}", d.data.len(), serial.len());
    }

    #[test]
    fn chunked_deflate_is_independent_of_threads() {
        let data = mixed(3 * CHUNK + 12_345, 3);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| deflate_chunked(&data, 6, CHUNK).unwrap())
        };
        let one = run(1);
        assert_eq!(one, run(4));
        assert_eq!(one, run(3));
    }

    #[test]
    fn chunk_sizes_cut_small_content_into_about_four_pieces() {
        for len in
            [0, 1, 100_000, MIN_CHUNK * 4 - 1, MIN_CHUNK * 4 + 1, 540_183, 775_087, 4 * CHUNK - 1, 4 * CHUNK, 37 << 20]
        {
            let c = chunk_for(len);
            assert!(c % WINDOW == 0 && (MIN_CHUNK..=CHUNK).contains(&c), "{len}: {c}");
            let pieces = len.div_ceil(c);
            if len >= 4 * CHUNK {
                assert_eq!(c, CHUNK, "{len}");
            } else if len > 4 * MIN_CHUNK {
                assert!((3..=4).contains(&pieces), "{len}: {pieces} pieces of {c}");
            } else {
                assert_eq!(c, MIN_CHUNK, "{len}");
            }
        }
        // a chunked stream of such content is one valid stream
        let data = mixed(540_183, 5);
        let d = deflate_early(&data, 6).unwrap().unwrap();
        assert!(inflate(&d.data) == data);
        assert_eq!(d.crc32, crc32fast::hash(&data));
    }

    /// Chunks deflated one by one, in any order, and joined give the same
    /// stream as [`deflate_early`]: what a repair that schedules the chunks
    /// itself writes.
    #[test]
    fn chunks_deflated_apart_and_joined_are_the_early_stream() {
        use sha2::Digest;
        for len in [0, 1000, 300_000, 775_087, 2 * CHUNK + 5] {
            let data = mixed(len, len as u64 + 1);
            let early = deflate_early(&data, 6).unwrap().unwrap();
            let chunks = early_chunks(len, 6).unwrap();
            let mut done: Vec<(usize, (Vec<u8>, crc32fast::Hasher))> =
                chunks.iter().rev().map(|&c| (c.start, deflate_chunk(&data, c, 6).unwrap())).collect();
            done.sort_by_key(|(start, _)| *start);
            let joined = join_chunks(done.into_iter().map(|(_, d)| d).collect(), sha2::Sha256::digest(&data).into());
            assert!(joined == early, "{len}");
            assert!(inflate(&joined.data) == data, "{len}");
        }
        assert!(early_chunks(10, 0).is_none(), "level 0 is stored by the writer");
    }
}
