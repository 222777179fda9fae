//! Reading a deflated entry in part with its block index: one streaming
//! pass that records where each deflate block starts (as
//! [`crate::wheel::deflate::inflate_indexed`] does), keeps only the ranges
//! asked for, and shows every piece to the caller, so that a patched copy
//! of a huge entry can be hashed and spliced without ever holding it whole.

use super::{Compression, WheelArchive};
use crate::wheel::deflate::{Block, BlockIndex, Inflater};
use crate::wheel::WheelError;

/// Output is made in pieces of this size (256 KiB, as the whole indexed read).
const PIECE: usize = 256 << 10;

/// An entry read in part with its block index: a buffer of the length asked
/// for, the ranges of it that hold the entry's bytes (sorted, not
/// overlapping), and the block index.
pub(crate) type IndexedPartial = (memmap2::MmapMut, Vec<(u64, u64)>, BlockIndex);

/// Bit `at` of `bytes`, least significant bit first.
fn bit(bytes: &[u8], at: u64) -> u8 {
    bytes.get((at / 8) as usize).map_or(0, |b| (b >> (at % 8)) & 1)
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
    let (Ok(avail_in), Ok(_)) = (u32::try_from(raw.len()), u32::try_from(size)) else {
        return Ok(None);
    };
    let mut z = Inflater::new()?;
    let strm = &mut *z.0;
    strm.next_in = raw.as_ptr();
    strm.avail_in = avail_in;
    let mut blocks = vec![Block { out: 0, bit: 0, kind: (bit(raw, 1) | (bit(raw, 2) << 1)) }];
    // the CRC-32 of the raw bytes, taken before they are released
    let mut raw_crc = crc32fast::Hasher::new();
    let mut crc_at = 0usize;
    let mut piece = vec![0u8; PIECE.min(size.max(1))];
    // bytes made in the pieces before the current one
    let mut before_piece = 0usize;
    let mut piece_len = piece.len().min(size);
    strm.next_out = piece.as_mut_ptr();
    strm.avail_out = piece_len as u32;
    let ended = loop {
        let before = (strm.avail_in, strm.avail_out, strm.data_type);
        // SAFETY: next_in/avail_in describe `raw` (minus what was consumed),
        // next_out/avail_out the rest of `piece`; both outlive the call.
        let rc = unsafe { libz_rs_sys::inflate(strm, libz_rs_sys::Z_BLOCK) };
        let done = before_piece + piece_len - strm.avail_out as usize;
        match rc {
            libz_rs_sys::Z_STREAM_END => break true,
            libz_rs_sys::Z_OK | libz_rs_sys::Z_BUF_ERROR => {}
            libz_rs_sys::Z_DATA_ERROR => return Err("corrupt deflate data".into()),
            rc => return Err(format!("inflate failed (zlib code {rc})")),
        }
        // stopped just before the header of the next block
        if strm.data_type & 128 != 0 && strm.data_type & 64 == 0 {
            let consumed = u64::from(avail_in - strm.avail_in);
            let unused = (strm.data_type & 63) as u64;
            let at = consumed * 8 - unused;
            if blocks.last().is_some_and(|b| b.bit < at) {
                blocks.push(Block { out: done as u64, bit: at, kind: bit(raw, at + 1) | (bit(raw, at + 2) << 1) });
            }
        }
        // the piece is full: hand it on and go on with it again
        if strm.avail_out == 0 && before_piece + piece_len < size {
            seen(before_piece as u64, &piece[..piece_len]);
            let consumed = (avail_in - strm.avail_in) as usize;
            raw_crc.update(&raw[crc_at..consumed]);
            crc_at = consumed;
            release(consumed);
            before_piece += piece_len;
            piece_len = piece.len().min(size - before_piece);
            strm.next_out = piece.as_mut_ptr();
            strm.avail_out = piece_len as u32;
            continue;
        }
        // no input used, no output made and no change of state: stuck
        if (strm.avail_in, strm.avail_out, strm.data_type) == before {
            return Err(if strm.avail_out == 0 {
                format!("the deflate stream holds more than the declared {size} bytes")
            } else {
                "the deflate stream ends early".into()
            });
        }
    };
    let produced = before_piece + piece_len - strm.avail_out as usize;
    drop(z);
    if !ended || produced != size {
        return Err(format!("the deflate stream holds {produced} bytes, not the declared {size}"));
    }
    seen(before_piece as u64, &piece[..piece_len]);
    raw_crc.update(&raw[crc_at..]);
    Ok(Some(BlockIndex { blocks, raw_crc32: raw_crc.finalize() }))
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
