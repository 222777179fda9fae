//! Re-compressing a patched entry without deflating what did not change.
//!
//! A rewrite changes a few stretches of a binary (headers, `.dynamic`, an
//! appended segment, a signature) and leaves the rest — tens of megabytes
//! for a large extension — byte for byte where it was. Deflating the whole
//! file again is most of the cost of a repair. Instead:
//!
//! 1. the input entry is inflated with zlib's `Z_BLOCK` flush, which stops at
//!    every deflate block boundary: the [`BlockIndex`] records, for each
//!    block, where its output starts and at which *bit* of the compressed
//!    stream its header starts ([`inflate_indexed`], in [`super::deflate`]);
//! 2. a block of the input can be copied into the new stream, bit for bit,
//!    when the bytes it produces and the 32 KiB window before them are the
//!    same in the new file at the same offsets: decoding it there gives the
//!    same bytes. Stored blocks (whose padding depends on the bit position)
//!    and the final block are never copied;
//! 3. everything else is deflated anew, in pieces primed with the 32 KiB
//!    before them and ended by a sync flush (as [`super::deflate::deflate_chunked`]
//!    does); a run of copied blocks is followed by an empty stored block, which
//!    brings the stream back to a byte boundary for the next piece
//!    ([`deflate_spliced`]).
//!
//! The result is one ordinary raw-deflate stream. Before it is used, every
//! new piece is inflated again and compared with the new bytes, and every
//! copied run is compared bit for bit with the input blocks it came from
//! (whose compressed bytes must still have the CRC-32 they had when they were
//! indexed): a mistake here would corrupt a binary.

use rayon::prelude::*;
use sha2::Digest;

use super::deflate::{deflate_piece, Deflated, Inflater};
pub use super::deflate::{inflate_indexed, inflate_indexed_into, BlockIndex};

/// The deflate window: how far back a block may refer.
const WINDOW: u64 = 32 << 10;

/// Granularity of the comparison of old and new bytes.
const PAGE: usize = 4 << 10;

/// A run of copied blocks is cut into segments of about this many output
/// bytes, so that the check of the new stream runs in parallel.
const COPY_RUN: u64 = 4 << 20;

/// A bit writer in deflate's order.
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    /// Appends the low `count` (≤ 32) bits of `value`.
    fn put(&mut self, value: u64, count: u32) {
        debug_assert!(count <= 32 && self.n < 32);
        self.acc |= (value & ((1u64 << count) - 1)) << self.n;
        self.n += count;
        if self.n >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.n -= 32;
        }
    }

    fn aligned(&self) -> bool {
        self.n % 8 == 0
    }

    /// Writes out the whole bytes held in the accumulator (the stream must be
    /// at a byte boundary).
    fn flush_bytes(&mut self) {
        debug_assert!(self.aligned());
        while self.n > 0 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// Appends whole bytes at a byte boundary.
    fn bytes(&mut self, data: &[u8]) {
        self.flush_bytes();
        self.out.extend_from_slice(data);
    }

    /// Appends the bits `from..to` of `src`.
    fn copy(&mut self, src: &[u8], from: u64, to: u64) {
        let mut at = from;
        // to a byte boundary of the source, then whole source bytes, eight
        // at a time: each joins the bits held back and comes out whole
        let head = ((8 - at % 8) % 8).min(to.saturating_sub(at));
        if head > 0 {
            self.put(word_at(src, at), head as u32);
            at += head;
        }
        let mut byte = (at / 8) as usize;
        while to.saturating_sub(at) >= 64 {
            let Some(w) = src.get(byte..byte + 8) else { break };
            let w = u64::from_le_bytes(w.try_into().unwrap_or_default());
            let v = u128::from(self.acc) | (u128::from(w) << self.n);
            self.out.extend_from_slice(&(v as u64).to_le_bytes());
            self.acc = (v >> 64) as u64;
            at += 64;
            byte += 8;
        }
        while at < to {
            let k = (to - at).min(32) as u32;
            self.put(word_at(src, at), k);
            at += u64::from(k);
        }
    }

    /// An empty stored block: ends at a byte boundary.
    fn empty_stored(&mut self, last: bool) {
        self.put(u64::from(last), 1);
        self.put(0, 2);
        let pad = (8 - self.n % 8) % 8;
        self.put(0, pad);
        self.put(0xFFFF_0000, 32); // LEN 0, NLEN !0
    }

    fn finish(mut self) -> Vec<u8> {
        let pad = (8 - self.n % 8) % 8;
        self.put(0, pad);
        self.flush_bytes();
        self.out
    }
}

/// One stretch of the output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    /// Input blocks copied: bits `bits.0..bits.1` of the old stream, which
    /// give the bytes `start..end`.
    Copy { bits: (u64, u64), start: usize, end: usize },
    /// New bytes `start..end` deflated anew.
    Fresh { start: usize, end: usize },
}

impl Segment {
    fn range(&self) -> (usize, usize) {
        match *self {
            Segment::Copy { start, end, .. } | Segment::Fresh { start, end } => (start, end),
        }
    }
}

/// How a spliced stream was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpliceStats {
    /// Bytes of the new file covered by copied blocks.
    pub copied: u64,
    /// Bytes deflated anew.
    pub deflated: u64,
}

/// Which of `new`'s pages are the same as the old file's at the same offset:
/// a page must lie within the old length `old_len`, and equal `old_at(start,
/// len)`, the old bytes there, unless that says they are known untouched
/// (`None`).
fn same_pages<'a>(new: &[u8], old_len: usize, old_at: impl Fn(usize, usize) -> Option<&'a [u8]> + Sync) -> Vec<bool> {
    new.par_chunks(PAGE)
        .enumerate()
        .map(|(k, page)| {
            let start = k * PAGE;
            start + page.len() <= old_len && old_at(start, page.len()).is_none_or(|o| o == page)
        })
        .collect()
}

/// The segments of the new stream.
fn plan_segments(index: &BlockIndex, old_len: usize, new_len: usize, same: &[bool], chunk: usize) -> Vec<Segment> {
    let unchanged = |from: u64, to: u64| {
        let (a, b) = (from as usize / PAGE, (to as usize).div_ceil(PAGE));
        b <= same.len() && same[a..b].iter().all(|&s| s)
    };
    let limit = old_len.min(new_len) as u64;
    let mut segments: Vec<Segment> = Vec::new();
    let mut fresh_from = 0usize;
    let blocks = &index.blocks;
    // the last recorded block is the final one (or its end is unknown): never copied
    for w in blocks.windows(2) {
        let (b, next) = (w[0], w[1]);
        let copyable = b.kind != 0
            && b.kind != 3
            && next.out > b.out
            && next.out <= limit
            && unchanged(b.out.saturating_sub(WINDOW), next.out);
        if !copyable {
            continue;
        }
        if (fresh_from as u64) < b.out {
            segments.push(Segment::Fresh { start: fresh_from, end: b.out as usize });
        }
        match segments.last_mut() {
            Some(Segment::Copy { bits, start, end }) if bits.1 == b.bit && ((*end - *start) as u64) < COPY_RUN => {
                bits.1 = next.bit;
                *end = next.out as usize;
            }
            _ => {
                segments.push(Segment::Copy { bits: (b.bit, next.bit), start: b.out as usize, end: next.out as usize })
            }
        }
        fresh_from = next.out as usize;
    }
    if fresh_from < new_len || segments.is_empty() {
        segments.push(Segment::Fresh { start: fresh_from, end: new_len });
    }
    // fresh stretches are deflated `chunk` bytes at a time, in parallel
    let mut split = Vec::with_capacity(segments.len());
    for s in segments {
        match s {
            Segment::Fresh { start, end } if end - start > chunk => {
                let mut at = start;
                while at < end {
                    let to = (at + chunk).min(end);
                    split.push(Segment::Fresh { start: at, end: to });
                    at = to;
                }
            }
            s => split.push(s),
        }
    }
    split
}

/// Deflates `new` (a patched version of `old`) into one raw-deflate stream,
/// copying the blocks of `old_raw` (the deflate stream of `old`, indexed by
/// `index`) that still hold. New stretches are deflated at `level` in
/// `chunk`-byte pieces on the rayon pool. The result is inflated again and
/// checked against `new` before it is returned.
pub fn deflate_spliced(
    old: &[u8],
    old_raw: &[u8],
    index: &BlockIndex,
    new: &[u8],
    level: u32,
    chunk: usize,
) -> std::io::Result<(Deflated, SpliceStats)> {
    deflate_spliced_with(&Unchanged::compare(old, new), old_raw, index, new, level, chunk)
}

/// Which pages of a new file hold the same bytes as the old one at the same
/// offsets: all [`deflate_spliced_with`] needs of the old file, so that the
/// old bytes can be freed before the new stream is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unchanged {
    pages: Vec<bool>,
    old_len: usize,
    new_len: usize,
}

impl Unchanged {
    /// Compares `old` and `new` page by page, in parallel.
    pub fn compare(old: &[u8], new: &[u8]) -> Self {
        let pages = same_pages(new, old.len(), |start, len| Some(&old[start..start + len]));
        Unchanged { pages, old_len: old.len(), new_len: new.len() }
    }
}

/// The original bytes of the pages a patch made in place is about to write
/// to, captured before it writes: with them, [`PagesBefore::compare`] gives
/// the same [`Unchanged`] as comparing with a full copy of the old file,
/// without keeping one.
#[derive(Debug, Clone)]
pub struct PagesBefore {
    pages: std::collections::BTreeMap<usize, Vec<u8>>,
    old_len: usize,
}

impl PagesBefore {
    /// Copies the pages of `old` that the byte ranges `[start, end)` touch.
    pub fn capture(old: &[u8], written: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let mut pages = std::collections::BTreeMap::new();
        for (start, end) in written {
            let first = usize::try_from(start).unwrap_or(usize::MAX) / PAGE;
            let last = usize::try_from(end).unwrap_or(usize::MAX).div_ceil(PAGE).min(old.len().div_ceil(PAGE));
            for k in first..last {
                pages.entry(k).or_insert_with(|| old[k * PAGE..((k + 1) * PAGE).min(old.len())].to_vec());
            }
        }
        PagesBefore { pages, old_len: old.len() }
    }

    /// Which pages of `new`, the file once patched, hold the old bytes.
    pub fn compare(&self, new: &[u8]) -> Unchanged {
        // a captured page holds all the old bytes of its page
        let pages = same_pages(new, self.old_len, |start, len| self.pages.get(&(start / PAGE)).map(|p| &p[..len]));
        Unchanged { pages, old_len: self.old_len, new_len: new.len() }
    }
}

/// [`deflate_spliced`] from a comparison made beforehand; `new` must be the
/// file `unchanged` was computed for.
pub fn deflate_spliced_with(
    unchanged: &Unchanged,
    old_raw: &[u8],
    index: &BlockIndex,
    new: &[u8],
    level: u32,
    chunk: usize,
) -> std::io::Result<(Deflated, SpliceStats)> {
    let made = make_new_pieces(unchanged, index, new, level, chunk)?;
    join_spliced(made, old_raw, index, Some(new))
}

/// The first half of a splice that takes the new bytes ([`deflate_spliced_with`]
/// borrows them): what it needs of them, made and checked before the old
/// stream is read. The bytes are then freed, when this was their last holder,
/// so that the file and its new stream are never in memory at once (debug
/// builds keep them, to check the copied runs against them in
/// [`splice_join`]).
pub fn splice_new_pieces(
    unchanged: &Unchanged,
    index: &BlockIndex,
    new: std::sync::Arc<Vec<u8>>,
    level: u32,
    chunk: usize,
) -> std::io::Result<NewPieces> {
    let mut made = make_new_pieces(unchanged, index, &new, level, chunk)?;
    made.new = cfg!(debug_assertions).then_some(new);
    Ok(made)
}

/// The second half of a splice begun by [`splice_new_pieces`]: the new stream, from the
/// new pieces and the blocks of `old_raw`, the old stream `index` describes.
pub fn splice_join(made: NewPieces, old_raw: &[u8], index: &BlockIndex) -> std::io::Result<(Deflated, SpliceStats)> {
    let new = made.new.clone();
    join_spliced(made, old_raw, index, new.as_deref().map(Vec::as_slice))
}

/// What a splice needs of the new file, made before the old stream is read:
/// the segments, each with the CRC-32 of its bytes and, for a new stretch,
/// its deflated bytes (already checked); the sha256 of the whole.
pub struct NewPieces {
    segments: Vec<Segment>,
    pieces: Vec<(Option<Vec<u8>>, crc32fast::Hasher)>,
    sha256: [u8; 32],
    /// The new bytes, kept in debug builds only.
    new: Option<std::sync::Arc<Vec<u8>>>,
}

impl std::fmt::Debug for NewPieces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPieces").field("segments", &self.segments.len()).finish_non_exhaustive()
    }
}

/// The first half of a splice: plans the segments, deflates the new
/// stretches at `level` in `chunk`-byte pieces on the rayon pool, and checks
/// each by inflating it on its own (with the 32 KiB before it as
/// dictionary) back to exactly its bytes of `new`.
fn make_new_pieces(
    unchanged: &Unchanged,
    index: &BlockIndex,
    new: &[u8],
    level: u32,
    chunk: usize,
) -> std::io::Result<NewPieces> {
    if unchanged.new_len != new.len() {
        return Err(std::io::Error::other("the comparison was made for another file"));
    }
    let level = level.clamp(1, 9);
    let chunk = chunk.max(WINDOW as usize);
    let segments = plan_segments(index, unchanged.old_len, new.len(), &unchanged.pages, chunk);
    let last = segments.len() - 1;
    let (sha256, pieces) = rayon::join(
        || <[u8; 32]>::from(sha2::Sha256::digest(new)),
        || {
            segments
                .par_iter()
                .enumerate()
                .map(|(k, s)| {
                    let (start, end) = s.range();
                    let mut crc = crc32fast::Hasher::new();
                    crc.update(&new[start..end]);
                    match s {
                        Segment::Fresh { .. } => {
                            let d = deflate_piece(new, start, end, level, k == last)?;
                            let dict = &new[start.saturating_sub(WINDOW as usize)..start];
                            check_segment(&d, dict, &new[start..end], k == last)?;
                            Ok((Some(d), crc))
                        }
                        Segment::Copy { .. } => Ok((None, crc)),
                    }
                })
                .collect::<std::io::Result<Vec<_>>>()
        },
    );
    Ok(NewPieces { segments, pieces: pieces?, sha256, new: None })
}

/// The second half of a splice: puts the new stream together from the new
/// pieces and the old stream's blocks, and checks every copied run. With
/// `new`, copied runs are also inflated and compared with it.
fn join_spliced(
    made: NewPieces,
    old_raw: &[u8],
    index: &BlockIndex,
    new: Option<&[u8]>,
) -> std::io::Result<(Deflated, SpliceStats)> {
    if crc32fast::hash(old_raw) != index.raw_crc32 {
        return Err(std::io::Error::other(
            "the input's compressed bytes changed after they were read; nothing was written",
        ));
    }
    let NewPieces { segments, pieces, sha256, .. } = made;
    let last = segments.len() - 1;
    let mut bits = Bits { out: Vec::with_capacity(old_raw.len() + 1024), acc: 0, n: 0 };
    let mut crc = crc32fast::Hasher::new();
    let mut stats = SpliceStats::default();
    // where each segment starts in the new stream: always at a byte boundary
    let mut offsets = Vec::with_capacity(segments.len() + 1);
    for (k, (s, (fresh, c))) in segments.iter().zip(pieces).enumerate() {
        crc.combine(&c);
        bits.flush_bytes();
        offsets.push(bits.out.len());
        let (start, end) = s.range();
        match (*s, fresh) {
            (Segment::Fresh { .. }, Some(data)) => {
                bits.bytes(&data);
                stats.deflated += (end - start) as u64;
            }
            (Segment::Copy { bits: (from, to), .. }, None) => {
                // copied blocks are never final ones; an empty stored block
                // ends the run at a byte boundary (and ends the stream when
                // nothing follows)
                bits.copy(old_raw, from, to);
                bits.empty_stored(k == last);
                stats.copied += (end - start) as u64;
            }
            _ => unreachable!("pieces follow the segments"),
        }
    }
    let data = bits.finish();
    offsets.push(data.len());
    // Every segment, inflated on its own from its byte offset with the 32 KiB
    // before it as dictionary, must give exactly its bytes of `new` and end at
    // a block boundary (the last one: the end of the stream); by induction
    // the whole stream inflates to `new`.
    //
    // New pieces were inflated to show that before they were put in (they
    // sit at byte boundaries, unchanged). A copied run is shown bit for bit
    // instead: its bits are the input's bits of whole, non-final blocks (as
    // zlib reported their bounds while inflating the input, whose CRC-32
    // matched), and those blocks, with the same 32 KiB before them (compared
    // page by page), decode to the same bytes wherever they sit. Given the
    // new bytes (debug builds: tests, fuzzing), copied runs are inflated too.
    segments.par_iter().enumerate().try_for_each(|(k, s)| -> std::io::Result<()> {
        let (start, end) = s.range();
        let bytes = &data[offsets[k]..offsets[k + 1]];
        match *s {
            Segment::Copy { bits: (from, to), .. } => {
                check_copied(bytes, old_raw, from, to, k == last)?;
                if let Some(new) = new.filter(|_| cfg!(debug_assertions)) {
                    let dict = &new[start.saturating_sub(WINDOW as usize)..start];
                    check_segment(bytes, dict, &new[start..end], k == last)?;
                }
                Ok(())
            }
            Segment::Fresh { .. } => Ok(()),
        }
    })?;
    Ok((Deflated { data, crc32: crc.finalize(), sha256 }, stats))
}

/// The error of a re-compressed stream that failed its check.
fn bad(what: &str) -> std::io::Error {
    std::io::Error::other(format!("the re-compressed stream {what}; nothing was written"))
}

/// The little-endian 64-bit word of `src` that starts at bit `at` (bits past
/// the end read as zero).
fn word_at(src: &[u8], at: u64) -> u64 {
    let byte = (at / 8) as usize;
    if let Some(w) = src.get(byte..byte.saturating_add(16)) {
        // one unaligned 16-byte load, away from the end
        let w: [u8; 16] = w.try_into().unwrap_or_default();
        return (u128::from_le_bytes(w) >> (at % 8)) as u64;
    }
    let mut w = [0u8; 16];
    let avail = src.len().saturating_sub(byte).min(16);
    w[..avail].copy_from_slice(&src[byte..byte + avail]);
    let v = u128::from_le_bytes(w) >> (at % 8);
    v as u64
}

/// Checks that `segment` (one copied run of a spliced stream, from its
/// first byte) is exactly the bits `from..to` of `old_raw` followed by an
/// empty stored block, final only when `last`, and nothing more.
fn check_copied(segment: &[u8], old_raw: &[u8], from: u64, to: u64, last: bool) -> std::io::Result<()> {
    let n = to.checked_sub(from).ok_or_else(|| bad("has a copied run that ends before it starts"))?;
    if to > old_raw.len() as u64 * 8 {
        return Err(bad("has a copied run past the end of the input"));
    }
    // the run, 64 bits at a time, then the last few bits
    let words = n / 64;
    let same = (0..words).all(|w| word_at(segment, w * 64) == word_at(old_raw, from + w * 64));
    let tail = n % 64;
    let mask = (1u64 << tail) - 1;
    if !same || word_at(segment, words * 64) & mask != word_at(old_raw, from + words * 64) & mask {
        return Err(bad("has a copied run that differs from the input's blocks"));
    }
    // then BFINAL, BTYPE 00, zero padding to the byte, LEN 0 and NLEN 0xFFFF
    let header = word_at(segment, n) & 0b111;
    let aligned = (n + 3).div_ceil(8) * 8;
    let pad = if aligned > n + 3 { word_at(segment, n + 3) & ((1u64 << (aligned - n - 3)) - 1) } else { 0 };
    let len_nlen = segment.get((aligned / 8) as usize..).filter(|rest| rest.len() == 4);
    if header != u64::from(last) || pad != 0 || len_nlen != Some(&[0, 0, 0xFF, 0xFF][..]) {
        return Err(bad("has a copied run that does not end with an empty stored block"));
    }
    Ok(())
}

/// Inflates one segment of a spliced stream, primed with `dict`, and checks
/// that it gives exactly `expected`, uses all of `bytes`, and ends at a block
/// boundary (or, when `last`, at the end of the stream).
fn check_segment(bytes: &[u8], dict: &[u8], expected: &[u8], last: bool) -> std::io::Result<()> {
    let (Ok(avail_in), Ok(avail_out)) = (u32::try_from(bytes.len()), u32::try_from(expected.len() + 1)) else {
        return Err(bad("has a segment too large to check"));
    };
    let mut z = Inflater::new().map_err(|e| bad(&e))?;
    let strm = &mut *z.0;
    if !dict.is_empty() {
        // SAFETY: the stream is initialised; `dict` outlives the call.
        let rc = unsafe { libz_rs_sys::inflateSetDictionary(strm, dict.as_ptr(), dict.len() as u32) };
        if rc != libz_rs_sys::Z_OK {
            return Err(bad("cannot be checked (dictionary refused)"));
        }
    }
    let mut out = vec![0u8; expected.len() + 1];
    strm.next_in = bytes.as_ptr();
    strm.avail_in = avail_in;
    strm.next_out = out.as_mut_ptr();
    strm.avail_out = avail_out;
    let ended = loop {
        let before = (strm.avail_in, strm.avail_out, strm.data_type);
        // SAFETY: next_in/avail_in describe `bytes`, next_out/avail_out `out`.
        let rc = unsafe { libz_rs_sys::inflate(strm, libz_rs_sys::Z_BLOCK) };
        match rc {
            libz_rs_sys::Z_STREAM_END => break true,
            libz_rs_sys::Z_OK | libz_rs_sys::Z_BUF_ERROR => {}
            _ => return Err(bad("does not inflate")),
        }
        // all input used, no bit left over, and before the header of a block
        // that is not after the final one (there, one more call ends the stream)
        if strm.avail_in == 0 && strm.data_type & (128 | 64 | 63) == 128 {
            break false;
        }
        if (strm.avail_in, strm.avail_out, strm.data_type) == before {
            return Err(bad("ends early"));
        }
    };
    let produced = expected.len() + 1 - strm.avail_out as usize;
    if produced != expected.len() || out[..produced] != *expected {
        return Err(bad("does not give back the patched bytes"));
    }
    if ended != last || strm.avail_in != 0 {
        return Err(bad("has a segment that does not end where it should"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wheel::deflate::bit;
    use crate::wheel::deflate::testdata::{deflate, inflate, sample};

    /// `data` deflated at `level`, and the block index of that stream.
    fn indexed(data: &[u8], level: u32) -> (Vec<u8>, BlockIndex) {
        let raw = deflate(data, level);
        let (back, index) = inflate_indexed(&raw, data.len()).unwrap().unwrap();
        assert!(back == data, "inflate_indexed gives back the input");
        (raw, index)
    }

    #[test]
    fn index_records_every_block() {
        let data = sample(3 << 20, 7);
        let (raw, index) = indexed(&data, 6);
        assert!(index.len() > 20, "only {} blocks", index.len());
        // every recorded start has a valid block type and increasing offsets
        for w in index.blocks.windows(2) {
            assert!(w[0].out < w[1].out && w[0].bit < w[1].bit);
        }
        assert!(index.blocks.iter().all(|b| b.kind <= 2));
        // decoding from a recorded boundary with the right window gives the rest
        let b = index.blocks[index.len() / 2];
        let mut shifted = Bits { out: Vec::new(), acc: 0, n: 0 };
        shifted.copy(&raw, b.bit, raw.len() as u64 * 8);
        let tail = shifted.finish();
        let mut d = flate2::Decompress::new(false);
        d.set_dictionary(&data[(b.out as usize).saturating_sub(32 << 10)..b.out as usize]).ok();
        let mut out = vec![0u8; data.len() - b.out as usize];
        let _ = d.decompress(&tail, &mut out, flate2::FlushDecompress::Finish);
        assert!(out == data[b.out as usize..], "a block boundary is off");
    }

    #[test]
    fn pages_captured_before_writes_agree_with_a_full_comparison() {
        let mut x = 0x0005_DEEC_E66D_u64;
        let mut next = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for round in 0..60 {
            let old = sample(1 + next(9 * PAGE as u64) as usize, round + 3);
            let mut new = old.clone();
            new.resize(old.len() + next(3) as usize * next(2 * PAGE as u64) as usize, 0);
            let mut written = Vec::new();
            for _ in 0..next(6) {
                let start = next(new.len() as u64);
                let end = (start + 1 + next(3 * PAGE as u64)).min(new.len() as u64);
                // some writes put back the bytes that were there
                let same = next(3) == 0;
                for i in start..end {
                    let i = i as usize;
                    new[i] = if same && i < old.len() { old[i] } else { new[i] ^ (1 + next(255) as u8) };
                }
                written.push((start, end));
            }
            let captured = PagesBefore::capture(&old, written.iter().copied());
            assert_eq!(captured.compare(&new), Unchanged::compare(&old, &new), "round {round}");
        }
    }

    #[test]
    fn bit_copies_match_a_bit_by_bit_copy() {
        let src = sample(4096, 21);
        let mut x = 77u64;
        for _ in 0..300 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let lead = (x % 45) as u32; // bits already in the writer
            let from = (x >> 8) % (src.len() as u64 * 8);
            let to = (from + (x >> 24) % 5000).min(src.len() as u64 * 8);
            let mut fast = Bits { out: Vec::new(), acc: 0, n: 0 };
            let mut slow = Bits { out: Vec::new(), acc: 0, n: 0 };
            for b in [&mut fast, &mut slow] {
                b.put(0x16D_5A3C_u64, lead.min(32));
                b.put(0x2B, lead.saturating_sub(32));
            }
            fast.copy(&src, from, to);
            for at in from..to {
                slow.put(u64::from(bit(&src, at)), 1);
            }
            assert_eq!(fast.finish(), slow.finish(), "lead {lead}, bits {from}..{to}");
        }
    }
    /// Patches like a rewriter's: the header, a stretch in the middle and an
    /// appended tail.
    fn patched(old: &[u8]) -> Vec<u8> {
        let mut new = old.to_vec();
        new[16..64].fill(0xAB);
        let mid = old.len() / 2;
        new[mid..mid + 300].copy_from_slice(&[0x5A; 300]);
        new.extend_from_slice(b"\0libfoo-0123abcd.so.1\0$ORIGIN/../pkg.libs\0");
        new.extend_from_slice(&sample(70_000, 99));
        new
    }

    /// `new` spliced from `old`; the stream must inflate (flate2) to exactly `new`.
    fn spliced(
        old: &[u8],
        raw: &[u8],
        index: &BlockIndex,
        new: &[u8],
        level: u32,
        chunk: usize,
    ) -> (Deflated, SpliceStats) {
        let (d, stats) = deflate_spliced(old, raw, index, new, level, chunk).unwrap();
        assert!(inflate(&d.data) == new, "the spliced stream does not inflate to the new bytes");
        (d, stats)
    }

    #[test]
    fn spliced_stream_inflates_to_the_new_bytes_and_copies_most_blocks() {
        let old = sample(6 << 20, 11);
        let (raw, index) = indexed(&old, 6);
        let new = patched(&old);
        let (d, stats) = spliced(&old, &raw, &index, &new, 6, 512 << 10);
        assert_eq!(d.crc32, crc32fast::hash(&new));
        assert_eq!(d.sha256, <[u8; 32]>::from(sha2::Sha256::digest(&new)));
        assert_eq!(stats.copied + stats.deflated, new.len() as u64);
        assert!(stats.copied > new.len() as u64 * 9 / 10, "{stats:?}");
        // the same whatever the thread count
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let (d1, _) = pool.install(|| deflate_spliced(&old, &raw, &index, &new, 6, 512 << 10)).unwrap();
        assert!(d1 == d);
        // and the same when the splice takes the new bytes and frees them halfway
        let unchanged = Unchanged::compare(&old, &new);
        let made = splice_new_pieces(&unchanged, &index, std::sync::Arc::new(new.clone()), 6, 512 << 10).unwrap();
        let (d2, stats2) = splice_join(made, &raw, &index).unwrap();
        assert!(d2 == d && stats2 == stats);
        // an unchanged file: everything but the final block is copied
        let (_, stats) = spliced(&old, &raw, &index, &old, 6, 512 << 10);
        assert!(stats.deflated < 200 << 10, "{stats:?}");
    }

    #[test]
    fn shorter_files_stored_blocks_and_first_block_changes() {
        // stored blocks only (level 0): nothing can be copied, all is deflated
        let old = sample(1 << 20, 5);
        let (raw, index) = indexed(&old, 0);
        let new = patched(&old);
        let (_, stats) = spliced(&old, &raw, &index, &new, 6, 256 << 10);
        assert_eq!(stats.copied, 0);
        // a new file shorter than the old one, changed only at its end
        let (raw, index) = indexed(&old, 9);
        let short = old[..old.len() - 100_000].to_vec();
        let (_, stats) = spliced(&old, &raw, &index, &short, 6, 256 << 10);
        assert!(stats.copied > 0);
        // an empty new file
        let (d, _) = deflate_spliced(&old, &raw, &index, &[], 6, 256 << 10).unwrap();
        assert!(inflate(&d.data).is_empty());
    }

    /// Regression (found by the `splice` fuzz target): a final piece whose
    /// last block ends on a byte boundary was taken for a non-final segment.
    #[test]
    fn final_pieces_of_every_length_check() {
        let old = sample(200_000, 17);
        let (raw, index) = indexed(&old, 1);
        for extra in 0..40 {
            let mut new = old.clone();
            new.splice(100_000..100_000, std::iter::repeat_n(b'x', 300 + extra * 7)).for_each(drop);
            spliced(&old, &raw, &index, &new, 5, 32 << 10);
        }
    }

    #[test]
    fn copied_runs_are_checked_bit_for_bit() {
        let data = sample(1 << 20, 5);
        let (raw, index) = indexed(&data, 6);
        assert!(index.len() > 10);
        let (a, b) = (index.blocks[3], index.blocks[9]);
        for last in [false, true] {
            let mut w = Bits { out: Vec::new(), acc: 0, n: 0 };
            w.copy(&raw, a.bit, b.bit);
            w.empty_stored(last);
            let seg = w.finish();
            assert!(check_copied(&seg, &raw, a.bit, b.bit, last).is_ok());
            assert!(check_copied(&seg, &raw, a.bit, b.bit, !last).is_err(), "BFINAL of the stored block");
            assert!(check_copied(&seg, &raw, a.bit + 1, b.bit + 1, last).is_err(), "run shifted by a bit");
            // any flipped bit: copied bits, block header, padding, LEN/NLEN
            for at in (0..seg.len() * 8).step_by(97).chain(seg.len() * 8 - 40..seg.len() * 8) {
                let mut bad = seg.clone();
                bad[at / 8] ^= 1 << (at % 8);
                assert!(check_copied(&bad, &raw, a.bit, b.bit, last).is_err(), "bit {at} flipped");
            }
            let mut longer = seg.clone();
            longer.push(0);
            assert!(check_copied(&longer, &raw, a.bit, b.bit, last).is_err());
            assert!(check_copied(&seg[..seg.len() - 1], &raw, a.bit, b.bit, last).is_err());
            // a run that reaches past the input's end
            assert!(check_copied(&seg, &raw[..(b.bit / 8) as usize - 1], a.bit, b.bit, last).is_err());
        }
    }

    #[test]
    fn a_stream_that_does_not_match_its_index_is_caught() {
        let old = sample(2 << 20, 13);
        let (mut raw, index) = indexed(&old, 6);
        // the copied blocks no longer give the bytes the index promised
        let k = raw.len() / 4; // the patch leaves this part alone
        raw[k] ^= 0x10;
        let new = patched(&old);
        let Err(err) = deflate_spliced(&old, &raw, &index, &new, 6, 256 << 10) else {
            panic!("the check passed a stream that does not match its index")
        };
        assert!(err.to_string().contains("changed after they were read"), "{err}");
        // the segment check, over a whole stream, tells right from wrong bytes
        assert!(check_segment(&deflate(&new, 1), &[], &new, true).is_ok());
        assert!(check_segment(&deflate(&new, 1), &[], &old, true).is_err());
    }
}
