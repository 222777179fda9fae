//! Inflating a raw-deflate stream while recording where its blocks start.
//!
//! zlib's `Z_BLOCK` flush stops the inflater at every deflate block
//! boundary: the [`BlockIndex`] records, for each block, where its output
//! starts and at which *bit* of the compressed stream its header starts, so
//! that the splice can later copy unchanged blocks bit for bit.

use std::ffi::c_int;

/// One deflate block of an indexed stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Block {
    /// Offset in the inflated bytes where the block's output starts.
    pub(crate) out: u64,
    /// Bit offset in the compressed stream of the block's 3-bit header.
    pub(crate) bit: u64,
    /// BTYPE: 0 stored, 1 fixed Huffman, 2 dynamic Huffman.
    pub(crate) kind: u8,
}

/// Where the deflate blocks of a stream start. Block `k` produces the bytes
/// `blocks[k].out .. blocks[k + 1].out` from the bits `blocks[k].bit ..
/// blocks[k + 1].bit`; the final block (whose end is not recorded) is never
/// copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockIndex {
    pub(crate) blocks: Vec<Block>,
    /// CRC-32 of the compressed stream that was indexed: the copied bits are
    /// taken from it again later, and must still be the same.
    pub(crate) raw_crc32: u32,
}

impl BlockIndex {
    /// Number of blocks recorded.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// True when no block was recorded.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

/// Bit `at` of `bytes` (deflate's order: least significant bit first).
pub(crate) fn bit(bytes: &[u8], at: u64) -> u8 {
    bytes.get((at / 8) as usize).map_or(0, |b| (b >> (at % 8)) & 1)
}

/// The bits of `bytes` from bit `at` on, in deflate's order, from one load
/// of 16 whole bytes: the low 121 of them at least are the stream's. Bits
/// past the end read as zero.
pub(crate) fn bits_at(bytes: &[u8], at: u64) -> u128 {
    let Ok(byte) = usize::try_from(at / 8) else { return 0 };
    let mut w = [0u8; 16];
    match bytes.get(byte..byte.saturating_add(16)) {
        Some(s) => w.copy_from_slice(s),
        None => {
            let rest = bytes.get(byte..).unwrap_or_default();
            w[..rest.len()].copy_from_slice(rest);
        }
    }
    u128::from_le_bytes(w) >> (at % 8)
}

/// The 64 bits of `bytes` from bit `at` on ([`bits_at`]).
pub(crate) fn word_at(bytes: &[u8], at: u64) -> u64 {
    bits_at(bytes, at) as u64
}

/// The bit of the input up to which zlib has used it after a `Z_BLOCK`
/// call, `consumed` bytes having been taken: the bits it holds but has not
/// used yet (`data_type`'s low 6 bits) are not counted.
pub(crate) fn bits_used(strm: &libz_rs_sys::z_stream, consumed: u64) -> u64 {
    (consumed * 8).saturating_sub((strm.data_type & 63) as u64)
}

/// Whether the last `Z_BLOCK` call stopped just before a block's header
/// (`data_type` 128), one that does not follow the final block (64).
pub(crate) fn before_header(strm: &libz_rs_sys::z_stream) -> bool {
    strm.data_type & 128 != 0 && strm.data_type & 64 == 0
}

/// A zlib stream for raw inflate, ended on drop.
pub(crate) struct Inflater(pub(crate) Box<libz_rs_sys::z_stream>);

impl Inflater {
    /// A raw inflater (no zlib header), or why zlib could not start one.
    pub(crate) fn new() -> Result<Self, String> {
        let mut strm = Box::<libz_rs_sys::z_stream>::default();
        // SAFETY: `strm` is a zeroed z_stream with the default allocator; the
        // version string and the struct size are the library's own.
        let rc = unsafe {
            libz_rs_sys::inflateInit2_(
                &mut *strm,
                -15,
                libz_rs_sys::zlibVersion(),
                std::mem::size_of::<libz_rs_sys::z_stream>() as c_int,
            )
        };
        if rc == libz_rs_sys::Z_OK {
            Ok(Inflater(strm))
        } else {
            Err(format!("the inflater could not start (zlib code {rc})"))
        }
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: the stream was initialised by `inflateInit2_`.
        unsafe {
            libz_rs_sys::inflateEnd(&mut *self.0);
        }
    }
}

/// Inflates the raw-deflate stream `raw`, which must produce exactly `size`
/// bytes, recording where each deflate block starts. `None` when the stream
/// is too large for one call (4 GiB or more in or out); the caller then reads
/// the entry the ordinary way.
pub fn inflate_indexed(raw: &[u8], size: usize) -> Result<Option<(Vec<u8>, BlockIndex)>, String> {
    let mut out = vec![0u8; size];
    Ok(inflate_indexed_into(raw, &mut out, |_, _| {})?.map(|blocks| (out, blocks)))
}

/// Output is handed on in pieces of this size (256 KiB: fits in L2).
pub(crate) const PIECE: usize = 256 << 10;

/// Where an indexed inflate puts its output: one piece at a time, each
/// handed on once it is full. The pieces together must be exactly as long
/// as the stream's declared size, and each shorter than 4 GiB.
pub(crate) trait Pieces {
    /// The piece being filled now (the same one until [`Pieces::next`]).
    fn current(&mut self) -> &mut [u8];
    /// The current piece is full and `consumed` bytes of the stream are read
    /// (they are not read again): hand the piece on and go on with the next
    /// one. False, and nothing handed on, when the current piece is the last.
    fn next(&mut self, consumed: usize) -> bool;
    /// The stream ended and filled the last piece: hand it on. `consumed` is
    /// the whole stream's length.
    fn last(&mut self, consumed: usize);
}

/// Successive pieces of a caller's buffer, handed on for good.
struct Split<'a, F> {
    rest: std::slice::ChunksMut<'a, u8>,
    piece: &'a mut [u8],
    seen: F,
}

impl<'a, F: FnMut(&'a [u8], usize)> Pieces for Split<'a, F> {
    fn current(&mut self) -> &mut [u8] {
        self.piece
    }

    fn next(&mut self, consumed: usize) -> bool {
        let Some(next) = self.rest.next() else { return false };
        let full: &'a mut [u8] = std::mem::replace(&mut self.piece, next);
        (self.seen)(full, consumed);
        true
    }

    fn last(&mut self, consumed: usize) {
        let last: &'a mut [u8] = std::mem::take(&mut self.piece);
        (self.seen)(last, consumed);
    }
}

/// [`inflate_indexed`] into `out`, whose length is the size the stream must
/// produce, handing every finished piece of `out` to `seen` in order, as
/// soon as it is made: for checksums, which may then run on another thread
/// while later pieces are inflated (a piece is never written again). `seen`
/// also gets how many bytes of `raw` are consumed so far: they are not read
/// again, so the caller may release them.
pub fn inflate_indexed_into<'a>(
    raw: &[u8],
    out: &'a mut [u8],
    seen: impl FnMut(&'a [u8], usize),
) -> Result<Option<BlockIndex>, String> {
    let size = out.len();
    let mut rest = out.chunks_mut(PIECE);
    let piece = rest.next().unwrap_or_default();
    inflate_indexed_pieces(raw, size, &mut Split { rest, piece, seen })
}

/// The one indexed inflate loop: inflates the raw-deflate stream `raw`,
/// which must produce exactly `size` bytes, into `pieces`, recording where
/// each deflate block starts and the CRC-32 of `raw`, taken as it is
/// consumed (before [`Pieces::next`] is told so). `None` when the stream is
/// too large for one call (4 GiB or more in or out).
pub(crate) fn inflate_indexed_pieces(
    raw: &[u8],
    size: usize,
    pieces: &mut impl Pieces,
) -> Result<Option<BlockIndex>, String> {
    let (Ok(avail_in), Ok(_)) = (u32::try_from(raw.len()), u32::try_from(size)) else {
        return Ok(None);
    };
    let mut z = Inflater::new()?;
    let strm = &mut *z.0;
    strm.next_in = raw.as_ptr();
    strm.avail_in = avail_in;
    let mut blocks = vec![Block { out: 0, bit: 0, kind: (bit(raw, 1) | (bit(raw, 2) << 1)) }];
    // the CRC-32 of the raw bytes, taken as they are consumed
    let mut raw_crc = crc32fast::Hasher::new();
    let mut crc_at = 0usize;
    // bytes made in the pieces before the current one, and in the current one
    let (mut before_piece, mut filled) = (0usize, 0usize);
    let ended = loop {
        let piece = pieces.current();
        let piece_len = piece.len();
        let room = &mut piece[filled..];
        strm.next_out = room.as_mut_ptr();
        // no piece is longer than `size`, which fits in 32 bits
        strm.avail_out = room.len() as u32;
        let before = (strm.avail_in, strm.avail_out, strm.data_type);
        // SAFETY: next_in/avail_in describe `raw` (minus what was consumed),
        // next_out/avail_out the unfilled rest of the current piece, which is
        // borrowed mutably here and nothing else holds until it is handed
        // on; both outlive the call.
        let rc = unsafe { libz_rs_sys::inflate(strm, libz_rs_sys::Z_BLOCK) };
        filled = piece_len - strm.avail_out as usize;
        let done = before_piece + filled;
        match rc {
            libz_rs_sys::Z_STREAM_END => break true,
            libz_rs_sys::Z_OK | libz_rs_sys::Z_BUF_ERROR => {}
            libz_rs_sys::Z_DATA_ERROR => return Err("corrupt deflate data".into()),
            rc => return Err(format!("inflate failed (zlib code {rc})")),
        }
        // stopped just before the header of the next block
        if before_header(strm) {
            let at = bits_used(strm, u64::from(avail_in - strm.avail_in));
            if blocks.last().is_some_and(|b| b.bit < at) {
                blocks.push(Block { out: done as u64, bit: at, kind: bit(raw, at + 1) | (bit(raw, at + 2) << 1) });
            }
        }
        // the piece is full: take the CRC of what was read (the caller may
        // release it), hand the piece on and go on in the next one
        if strm.avail_out == 0 {
            let consumed = (avail_in - strm.avail_in) as usize;
            raw_crc.update(&raw[crc_at..consumed]);
            crc_at = consumed;
            if pieces.next(consumed) {
                before_piece += piece_len;
                filled = 0;
                continue;
            }
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
    let produced = before_piece + filled;
    drop(z);
    if !ended || produced != size {
        return Err(format!("the deflate stream holds {produced} bytes, not the declared {size}"));
    }
    raw_crc.update(&raw[crc_at..]);
    pieces.last(raw.len());
    Ok(Some(BlockIndex { blocks, raw_crc32: raw_crc.finalize() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wheel::deflate::testdata::{deflate, sample};

    /// The indexed inflate hands on its output in full pieces, in order, that
    /// together are the output; a stream shorter or longer than the declared
    /// size is refused.
    #[test]
    fn indexed_inflate_hands_on_every_piece_in_order() {
        let data = sample((3 << 20) + 12_345, 11);
        let raw = deflate(&data, 6);
        let mut out = vec![0u8; data.len()];
        let mut pieces: Vec<Vec<u8>> = Vec::new();
        let index = inflate_indexed_into(&raw, &mut out, |p, _| pieces.push(p.to_vec())).unwrap().unwrap();
        assert!(index.len() > 20);
        assert!(out == data);
        assert_eq!(pieces.len(), data.len().div_ceil(PIECE));
        assert!(pieces[..pieces.len() - 1].iter().all(|p| p.len() == PIECE));
        assert!(pieces.concat() == data);
        for size in [data.len() - 1, data.len() + 1, PIECE, 0] {
            let mut out = vec![0u8; size];
            let got = inflate_indexed_into(&raw, &mut out, |_, _| {});
            assert!(got.is_err(), "declared {size} of {}", data.len());
        }
        let mut out = vec![0u8; data.len()];
        assert!(inflate_indexed_into(&raw[..raw.len() / 2], &mut out, |_, _| {}).is_err(), "truncated stream");
    }

    #[test]
    fn wrong_sizes_and_corrupt_streams_are_errors() {
        let data = sample(1 << 20, 3);
        let raw = deflate(&data, 6);
        assert!(inflate_indexed(&raw, data.len() - 1).unwrap_err().contains("more than the declared"));
        assert!(inflate_indexed(&raw, data.len() + 1).unwrap_err().contains("not the declared"));
        assert!(inflate_indexed(&raw[..raw.len() / 2], data.len()).unwrap_err().contains("ends early"));
        let mut bad = raw.clone();
        bad[0] |= 0b110; // BTYPE 3: reserved
        assert!(inflate_indexed(&bad, data.len()).is_err());
    }
}
