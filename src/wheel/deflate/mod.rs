//! Raw deflate streams (no zlib header), the one floor the writer, the
//! splice and the archive reader stand on.
//!
//! Large new content is deflated in parallel, cut into chunks (see
//! [`chunk_for`]), each compressed on its own by libdeflate and ended like
//! a sync flush (the last one by the final block), so the concatenation is
//! one ordinary raw-deflate stream that any inflater reads. The CRC-32 of
//! each chunk is computed alongside and combined; the sha256 in the same
//! pass. See [`deflate_chunked`]. The new pieces of a splice are deflated
//! by zlib-rs with the 32 KiB before them as preset dictionary
//! ([`deflate_piece`]): they are often small, and the bytes before them are
//! what they repeat.
//!
//! Inflating, [`inflate_indexed`] records where each deflate block of a
//! stream starts ([`BlockIndex`]), for the splice that re-compresses a
//! patched entry by copying the blocks the patch left alone.

mod chunked;
mod find;
mod fresh;
mod indexed;
mod midstream;
mod spill;
#[cfg(test)]
pub(crate) mod testdata;

pub use chunked::{
    chunk_for, chunk_ranges, deflate_chunk, deflate_chunked, deflate_early, early_chunks, join_chunks, ChunkRange,
    CHUNK,
};
pub(crate) use find::find_dynamic_header;
#[cfg(test)]
pub(crate) use indexed::bit;
pub use indexed::{inflate_indexed, inflate_indexed_into, BlockIndex};
pub(crate) use indexed::{inflate_indexed_pieces, word_at, Inflater, Pieces, PIECE};
pub(crate) use midstream::Midstream;
pub use spill::{Spill, StreamBytes};

use flate2::{Compress, Compression, FlushCompress, Status};

/// The deflate window: how much of the bytes before a piece it may refer to.
pub(crate) const WINDOW: usize = 32 << 10;

/// The result of [`deflate_chunked`].
#[derive(Debug, PartialEq, Eq)]
pub struct Deflated {
    /// One raw-deflate stream (no zlib header), ending with a final block.
    pub data: StreamBytes,
    /// CRC-32 of the input.
    pub crc32: u32,
    /// sha256 of the input.
    pub sha256: [u8; 32],
}

/// Deflates `chunk` (the input bytes `data[start..end]`) as one piece of a
/// raw-deflate stream: primed with the window before `start`, ended with a
/// sync flush, or with the final block when `last`.
pub(crate) fn deflate_piece(data: &[u8], start: usize, end: usize, level: u32, last: bool) -> std::io::Result<Vec<u8>> {
    let mut c = Compress::new(Compression::new(level.min(9)), false);
    if start > 0 {
        c.set_dictionary(&data[start.saturating_sub(WINDOW)..start]).map_err(std::io::Error::other)?;
    }
    let input = &data[start..end];
    let flush = if last { FlushCompress::Finish } else { FlushCompress::Sync };
    // deflate's worst case is a little over the input size: stored blocks.
    let mut out = Vec::with_capacity(input.len() + input.len() / 64 + 64);
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(1024));
        }
        let consumed = usize::try_from(c.total_in()).unwrap_or(usize::MAX);
        let rest = input.get(consumed..).unwrap_or_default();
        let status = c.compress_vec(rest, &mut out, flush).map_err(std::io::Error::other)?;
        let all_in = usize::try_from(c.total_in()).is_ok_and(|n| n == input.len());
        let room_left = out.len() < out.capacity();
        match status {
            Status::StreamEnd => return Ok(out),
            // a sync flush is complete once all input is in and output room is left over
            Status::Ok | Status::BufError if !last && all_in && room_left => return Ok(out),
            Status::Ok | Status::BufError => {}
        }
    }
}
