//! One chunk of new content deflated by libdeflate, made into a piece of a
//! longer stream.
//!
//! libdeflate compresses a whole buffer into a complete raw-deflate stream
//! and, at the same level, a few percent smaller than zlib-rs (and a little
//! smaller than the zlib that auditwheel's `zipfile` uses). It takes no
//! preset dictionary and ends every stream with a final block, so a chunk
//! that is not the last is mended here: its stream is inflated once to find
//! where the final block starts and ends (which also checks what libdeflate
//! wrote), the BFINAL bit is cleared, and an empty stored block (what a
//! sync flush writes) brings the stream to a byte boundary, where the next
//! chunk's stream starts.

use std::cell::RefCell;

use super::indexed::{bits_used, Inflater};

/// What each thread keeps from one chunk to the next: its libdeflate
/// compressor (and its level) and the buffer the checks inflate into. A
/// compressor's output depends only on the input and the level, and the
/// buffer is written before it is read, so reusing them changes no byte;
/// it spares clearing fresh memory (the compressor's tables, a chunk's
/// worth of buffer) for every chunk.
#[derive(Default)]
struct Scratch {
    compressor: Option<(i32, libdeflater::Compressor)>,
    inflated: Vec<u8>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// `input` deflated at `level` (1–12) into a raw-deflate stream that is
/// complete when `last`, and otherwise ends byte-aligned without a final
/// block, so the next chunk's stream can follow it.
pub(super) fn deflate_fresh(input: &[u8], level: u32, last: bool) -> std::io::Result<Vec<u8>> {
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => deflate_with(&mut scratch, input, level, last),
        // only if a chunk were deflated inside another on this thread
        Err(_) => deflate_with(&mut Scratch::default(), input, level, last),
    })
}

/// [`deflate_fresh`] with `scratch`'s compressor and buffer.
fn deflate_with(scratch: &mut Scratch, input: &[u8], level: u32, last: bool) -> std::io::Result<Vec<u8>> {
    let lvl = level.clamp(1, 12) as i32;
    if scratch.compressor.as_ref().is_none_or(|(l, _)| *l != lvl) {
        let level = libdeflater::CompressionLvl::new(lvl)
            .map_err(|e| std::io::Error::other(format!("libdeflate level {level}: {e:?}")))?;
        scratch.compressor = Some((lvl, libdeflater::Compressor::new(level)));
    }
    let Some((_, compressor)) = scratch.compressor.as_mut() else { unreachable!("made above") };
    let mut out = vec![0u8; compressor.deflate_compress_bound(input.len())];
    let n = compressor.deflate_compress(input, &mut out).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    out.truncate(n);
    if last {
        return Ok(out);
    }
    let inflated = &mut scratch.inflated;
    inflated.resize(inflated.len().max(input.len()), 0);
    let (final_header, end) = final_block(&out, &mut inflated[..input.len()])?;
    out[(final_header / 8) as usize] &= !(1u8 << (final_header % 8));
    Ok(not_final(out, end))
}

/// Where the final block of the complete stream `raw`, which must produce
/// `out.len()` bytes (inflated into `out`), starts, and the bit just after
/// its end-of-block code: one pass that stops at every block boundary (as
/// the block index does) and checks what libdeflate wrote.
fn final_block(raw: &[u8], out: &mut [u8]) -> std::io::Result<(u64, u64)> {
    let bad = |why: &str| std::io::Error::other(format!("a deflate chunk does not mend: {why}"));
    let avail_in = u32::try_from(raw.len()).map_err(|_| bad("4 GiB or more"))?;
    let size = out.len();
    let mut z = Inflater::new().map_err(std::io::Error::other)?;
    let strm = &mut *z.0;
    strm.next_in = raw.as_ptr();
    strm.avail_in = avail_in;
    strm.next_out = out.as_mut_ptr();
    strm.avail_out = u32::try_from(size).map_err(|_| bad("4 GiB or more"))?;
    // the start of the block being decoded (the last boundary passed), and
    // the boundary after the final block's end-of-block code
    let (mut start, mut end) = (0u64, None);
    let at = |strm: &libz_rs_sys::z_stream| bits_used(strm, u64::from(avail_in - strm.avail_in));
    loop {
        let before = (strm.avail_in, strm.avail_out, strm.data_type);
        // SAFETY: next_in/avail_in describe `raw` (minus what was consumed),
        // next_out/avail_out the rest of `out`; both outlive the call.
        let rc = unsafe { libz_rs_sys::inflate(strm, libz_rs_sys::Z_BLOCK) };
        match rc {
            libz_rs_sys::Z_STREAM_END => {
                return match (strm.avail_out, end) {
                    (0, Some(end)) => Ok((start, end)),
                    _ => Err(bad("its blocks do not hold the chunk")),
                }
            }
            libz_rs_sys::Z_OK | libz_rs_sys::Z_BUF_ERROR => {}
            _ => return Err(bad(&format!("zlib code {rc}"))),
        }
        // a boundary: before the next block's header, or (in the final
        // block) after its end-of-block code
        if strm.data_type & 128 != 0 {
            match strm.data_type & 64 {
                0 => start = at(strm),
                _ => end = Some(at(strm)),
            }
        }
        if (strm.avail_in, strm.avail_out, strm.data_type) == before {
            return Err(bad("it ends early"));
        }
    }
}

/// The stream `raw`, which has no final block and ends at bit `end`,
/// followed by an empty stored block: its 3 header bits (not final, stored),
/// zero bits to the byte boundary, then LEN 0 and NLEN 0xffff.
fn not_final(mut raw: Vec<u8>, end: u64) -> Vec<u8> {
    let bytes = (end + 3).div_ceil(8) as usize;
    raw.resize(bytes, 0);
    // the bits from `end` on are the stored block's header and its padding
    let (byte, bit) = ((end / 8) as usize, end % 8);
    if bit != 0 {
        raw[byte] &= (1u8 << bit) - 1;
    }
    for b in &mut raw[byte + usize::from(bit != 0)..] {
        *b = 0;
    }
    raw.extend_from_slice(&[0, 0, 0xff, 0xff]);
    raw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wheel::deflate::indexed::inflate_indexed;
    use crate::wheel::deflate::testdata::{inflate, mixed};

    /// A thread's compressor and buffer, kept from chunk to chunk (and
    /// level to level), give the bytes new ones give.
    #[test]
    fn kept_scratch_writes_what_new_scratch_writes() {
        for (k, level) in [6u32, 6, 1, 6, 9, 6].into_iter().enumerate() {
            let data = mixed(150_000 + k * 40_999, k as u64);
            for last in [false, true] {
                let kept = deflate_fresh(&data, level, last).unwrap();
                let new = deflate_with(&mut Scratch::default(), &data, level, last).unwrap();
                assert!(kept == new, "chunk {k} level {level} last {last}");
            }
        }
    }

    /// Pieces of many sizes and contents (empty, one byte, incompressible,
    /// compressible, stored blocks) joined end to end inflate to the input,
    /// at every level; the end of the final block is found exactly, whatever
    /// bit of its last byte it falls on.
    #[test]
    fn pieces_join_into_one_stream() {
        let mut ends = std::collections::HashSet::new();
        for (k, len) in [0usize, 1, 2, 7, 100, 4096, 65_537, 300_001].into_iter().enumerate() {
            for level in [1, 6, 9, 12] {
                let data = mixed(len * 3, k as u64 + u64::from(level));
                let cuts = [0, len, 2 * len, 3 * len];
                let mut stream = Vec::new();
                for w in cuts.windows(2) {
                    let last = w[1] == 3 * len;
                    let piece = deflate_fresh(&data[w[0]..w[1]], level, last).unwrap();
                    if !last {
                        assert_eq!(piece[piece.len() - 4..], [0, 0, 0xff, 0xff], "len {len} level {level}");
                        let raw = {
                            let mut c =
                                libdeflater::Compressor::new(libdeflater::CompressionLvl::new(level as i32).unwrap());
                            let mut o = vec![0u8; c.deflate_compress_bound(len)];
                            let n = c.deflate_compress(&data[w[0]..w[1]], &mut o).unwrap();
                            o.truncate(n);
                            o
                        };
                        let header = inflate_indexed(&raw, len).unwrap().unwrap().1.blocks.last().unwrap().bit;
                        let (start, end) = final_block(&raw, &mut vec![0; len]).unwrap();
                        assert_eq!(start, header, "the final block's start, as the block index finds it");
                        assert!(end > (raw.len() as u64 - 1) * 8 && end <= raw.len() as u64 * 8);
                        ends.insert(end % 8);
                    }
                    stream.extend_from_slice(&piece);
                }
                assert!(inflate(&stream) == data, "len {len} level {level}");
            }
        }
        assert!(ends.len() >= 4, "the final blocks ended on too few bit positions to test: {ends:?}");
    }
}
