//! Reading a deflated entry in part with its block index: one streaming
//! pass that records where each deflate block starts (as
//! [`crate::wheel::deflate::inflate_indexed`] does), keeps only the ranges
//! asked for, and shows every piece to the caller, so that a patched copy
//! of a huge entry can be hashed and spliced without ever holding it whole.

use super::{Compression, WheelArchive};
use crate::wheel::deflate::{inflate_indexed_pieces, BlockIndex, Pieces, PIECE};
use crate::wheel::WheelError;

/// An entry read in part with its block index: a buffer of the length asked
/// for, the ranges of it that hold the entry's bytes (sorted, not
/// overlapping), and the block index.
pub(crate) type IndexedPartial = (memmap2::MmapMut, Vec<(u64, u64)>, BlockIndex);

/// One piece reused for the whole output: each full piece goes to `seen`
/// with its offset, then `release` is told how much of the stream was read.
struct Reused<'s> {
    piece: Vec<u8>,
    /// Offset of the current piece in the output, and its length.
    at: usize,
    len: usize,
    size: usize,
    seen: &'s mut dyn FnMut(u64, &[u8]),
    release: &'s mut dyn FnMut(usize),
}

impl Pieces for Reused<'_> {
    fn current(&mut self) -> &mut [u8] {
        &mut self.piece[..self.len]
    }

    fn next(&mut self, consumed: usize) -> bool {
        if self.at + self.len >= self.size {
            return false;
        }
        (self.seen)(self.at as u64, &self.piece[..self.len]);
        (self.release)(consumed);
        self.at += self.len;
        self.len = self.piece.len().min(self.size - self.at);
        true
    }

    fn last(&mut self, _consumed: usize) {
        (self.seen)(self.at as u64, &self.piece[..self.len]);
    }
}

/// Inflates the raw-deflate stream `raw`, which must produce exactly `size`
/// bytes, into one reused piece, recording where each block starts; every
/// full piece goes to `seen` with its offset. `release(consumed)` is told how
/// much of `raw` was read so far. `None` when the stream is too large for
/// one call (4 GiB or more in or out).
fn inflate_indexed_streaming(
    raw: &[u8],
    size: usize,
    seen: &mut dyn FnMut(u64, &[u8]),
    release: &mut dyn FnMut(usize),
) -> Result<Option<BlockIndex>, String> {
    if u32::try_from(raw.len()).is_err() || u32::try_from(size).is_err() {
        return Ok(None);
    }
    let piece = vec![0u8; PIECE.min(size.max(1))];
    let len = piece.len().min(size);
    inflate_indexed_pieces(raw, size, &mut Reused { piece, at: 0, len, size, seen, release })
}

impl WheelArchive {
    /// Reads deflated entry `index` in one streaming pass, checking its
    /// CRC-32, recording its block index, and keeping the parts of it that
    /// `want` names (sorted or not) in a buffer of `len` bytes (at least the
    /// entry's size; the bytes past it stay zero). Every piece inflated is
    /// shown to `seen` with its offset, in order. Memory: the parts kept,
    /// plus one piece. `None` when the entry cannot be read this way (stored,
    /// 4 GiB or more, a declared size the data cannot hold, no memory for
    /// the buffer).
    pub(crate) fn read_partial_indexed(
        &self,
        index: usize,
        len: u64,
        want: &[(u64, u64)],
        seen: &mut dyn FnMut(u64, &[u8]),
    ) -> Result<Option<IndexedPartial>, WheelError> {
        let (entry, loc) = self.located(index)?;
        if loc.compression != Compression::Deflated {
            return Ok(None);
        }
        let raw = self.raw_data(index)?;
        // deflate cannot expand more than 1032:1
        let bound = (raw.len() as u64).saturating_mul(1032).saturating_add(1024);
        let Some(size) = usize::try_from(entry.size).ok().filter(|&n| n > 0 && entry.size <= bound) else {
            return Ok(None);
        };
        let Some(len) = usize::try_from(len).ok().filter(|&n| n >= size) else { return Ok(None) };
        // anonymous pages: zero until written, and not resident until then
        let Ok(mut out) = memmap2::MmapMut::map_anon(len) else { return Ok(None) };
        let zerr = |what: String| WheelError::Zip(format!("entry `{}`: {what}", entry.name.escape_debug()));
        let mut crc = crc32fast::Hasher::new();
        let mut read = Vec::new();
        let mut wanted = want.to_vec();
        let mut fixed = |_: &[u8], _: &[(u64, u64)]| want.to_vec();
        let mut released = 0usize;
        let blocks = inflate_indexed_streaming(
            raw,
            size,
            &mut |start, piece| {
                crc.update(piece);
                super::keep_step(&mut out, &mut read, &mut wanted, start, piece, &mut fixed);
                seen(start, piece);
            },
            &mut |consumed| self.release_consumed(raw, &mut released, consumed),
        )
        .map_err(zerr)?;
        let Some(blocks) = blocks else { return Ok(None) };
        let crc = crc.finalize();
        if crc != entry.crc32 {
            return Err(zerr(format!("CRC-32 is {crc:08x}, the central directory declares {:08x}", entry.crc32)));
        }
        self.release(index);
        Ok(Some((out, read, blocks)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wheel::deflate::inflate_indexed;
    use crate::wheel::deflate::testdata::{deflate, sample};

    /// The streaming pass records the same block index as the whole indexed
    /// inflate (the splice's copies rest on it), and shows every byte once,
    /// in order; wrong sizes are errors.
    #[test]
    fn the_streaming_index_is_the_whole_one() {
        for (len, level) in [((3 << 20) + 12_345, 6), (PIECE, 1), (1000, 9)] {
            let data = sample(len, 7);
            let raw = deflate(&data, level);
            let (whole, index) = inflate_indexed(&raw, data.len()).unwrap().unwrap();
            assert!(whole == data);
            let mut seen = Vec::new();
            let mut released = 0;
            let streamed = inflate_indexed_streaming(
                &raw,
                data.len(),
                &mut |at, piece| {
                    assert_eq!(at as usize, seen.len());
                    seen.extend_from_slice(piece);
                },
                &mut |upto| {
                    assert!(upto >= released && upto <= raw.len());
                    released = upto;
                },
            )
            .unwrap()
            .unwrap();
            assert_eq!(streamed, index, "{len} bytes at level {level}");
            assert!(seen == data);
            for size in [data.len() - 1, data.len() + 1] {
                assert!(inflate_indexed_streaming(&raw, size, &mut |_, _| {}, &mut |_| {}).is_err(), "{size}");
            }
        }
    }
}
