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
//!
//! The parts: `bits` writes and copies bits, `check` checks the result.

mod bits;
mod check;
#[cfg(test)]
mod tests;

use rayon::prelude::*;
use sha2::Digest;

use super::deflate::{deflate_piece, Deflated, Spill};
pub use super::deflate::{inflate_indexed, inflate_indexed_into, BlockIndex};
use bits::Bits;
use check::{check_copied, check_segment};

/// The deflate window: how far back a block may refer.
const WINDOW: u64 = 32 << 10;

/// Granularity of the comparison of old and new bytes.
const PAGE: usize = 4 << 10;

/// A run of copied blocks is cut into segments of about this many output
/// bytes, so that the check of the new stream runs in parallel.
const COPY_RUN: u64 = 4 << 20;

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
    join_spliced(made, old_raw, index, Some(new), &mut |_| {}, None)
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
    splice_join_releasing(made, old_raw, index, &mut |_| {}, None)
}

/// [`splice_join`] that tells `release` how far (in bytes) it is done with
/// `old_raw` as it goes, so that the pages of a huge input stream need not
/// all stay resident until the end; and, with `spill`, writes the new stream
/// out to an unlinked file in that directory as it is made, so that it is
/// never held whole either (the result maps the file).
pub fn splice_join_releasing(
    made: NewPieces,
    old_raw: &[u8],
    index: &BlockIndex,
    release: &mut dyn FnMut(usize),
    spill: Option<&std::path::Path>,
) -> std::io::Result<(Deflated, SpliceStats)> {
    let new = made.new.clone();
    let spill = spill.map(Spill::new).transpose()?;
    join_spliced(made, old_raw, index, new.as_deref().map(Vec::as_slice), release, spill)
}

/// The byte ranges of the new file (of `unchanged.new_len` bytes) that the
/// first half of a splice reads: each new stretch and the 32 KiB before it.
pub fn splice_reads(unchanged: &Unchanged, index: &BlockIndex, chunk: usize) -> Vec<(u64, u64)> {
    let chunk = chunk.max(WINDOW as usize);
    let segments = plan_segments(index, unchanged.old_len, unchanged.new_len, &unchanged.pages, chunk);
    segments
        .iter()
        .filter_map(|s| match *s {
            Segment::Fresh { start, end } => Some(((start as u64).saturating_sub(WINDOW), end as u64)),
            Segment::Copy { .. } => None,
        })
        .collect()
}

/// [`splice_new_pieces`] of a new file of which `new` holds only the ranges
/// [`splice_reads`] names (the rest is never read), with its sha256 and
/// CRC-32 worked out elsewhere: for a file too large to hold whole.
pub fn splice_new_pieces_partial(
    unchanged: &Unchanged,
    index: &BlockIndex,
    new: &[u8],
    (sha256, crc32): ([u8; 32], u32),
    level: u32,
    chunk: usize,
) -> std::io::Result<NewPieces> {
    make_pieces(unchanged, index, new, Some((sha256, crc32)), level, chunk)
}

/// What a splice needs of the new file, made before the old stream is read:
/// the segments, each with the CRC-32 of its bytes and, for a new stretch,
/// its deflated bytes (already checked); the sha256 of the whole.
pub struct NewPieces {
    segments: Vec<Segment>,
    pieces: Vec<(Option<Vec<u8>>, crc32fast::Hasher)>,
    sha256: [u8; 32],
    /// The CRC-32 of the whole, when given rather than combined from the pieces'.
    crc32: Option<u32>,
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
    make_pieces(unchanged, index, new, None, level, chunk)
}

/// [`make_new_pieces`]; with `given` (the sha256 and CRC-32 of the new file,
/// worked out elsewhere), `new` need only hold the bytes of the new
/// stretches and the 32 KiB before each.
fn make_pieces(
    unchanged: &Unchanged,
    index: &BlockIndex,
    new: &[u8],
    given: Option<([u8; 32], u32)>,
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
        || given.map_or_else(|| <[u8; 32]>::from(sha2::Sha256::digest(new)), |(sha256, _)| sha256),
        || {
            segments
                .par_iter()
                .enumerate()
                .map(|(k, s)| {
                    let (start, end) = s.range();
                    let mut crc = crc32fast::Hasher::new();
                    if given.is_none() {
                        crc.update(&new[start..end]);
                    }
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
    Ok(NewPieces { segments, pieces: pieces?, sha256, crc32: given.map(|(_, crc)| crc), new: None })
}

/// The second half of a splice: puts the new stream together from the new
/// pieces and the old stream's blocks, and checks every copied run. With
/// `new`, copied runs are also inflated and compared with it.
fn join_spliced(
    made: NewPieces,
    old_raw: &[u8],
    index: &BlockIndex,
    new: Option<&[u8]>,
    release: &mut dyn FnMut(usize),
    mut spill: Option<Spill>,
) -> std::io::Result<(Deflated, SpliceStats)> {
    // the input's CRC-32 is taken as the copy goes on, and must match before
    // the result is used
    let mut raw_crc = crc32fast::Hasher::new();
    let mut hashed = 0usize;
    let mut hash_to = |upto: usize| {
        let upto = upto.min(old_raw.len());
        if upto > hashed {
            raw_crc.update(&old_raw[hashed..upto]);
            hashed = upto;
        }
    };
    let NewPieces { segments, pieces, sha256, crc32, .. } = made;
    let last = segments.len() - 1;
    let held = if spill.is_some() { 16 << 20 } else { old_raw.len() + 1024 };
    let mut bits = Bits { out: Vec::with_capacity(held), acc: 0, n: 0 };
    // bytes of the new stream written to the spill file: `bits.out` holds
    // what follows them
    let mut spilled = 0usize;
    let mut crc = crc32fast::Hasher::new();
    let mut stats = SpliceStats::default();
    // where each segment starts in the new stream: always at a byte boundary
    let mut offsets = Vec::with_capacity(segments.len() + 1);
    for (k, (s, (fresh, c))) in segments.iter().zip(pieces).enumerate() {
        crc.combine(&c);
        bits.flush_bytes();
        offsets.push(spilled + bits.out.len());
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
                hash_to(usize::try_from(to.div_ceil(8)).unwrap_or(usize::MAX));
                bits.copy(old_raw, from, to);
                bits.empty_stored(k == last);
                bits.flush_bytes();
                check_copied(&bits.out[offsets[k] - spilled..], old_raw, from, to, k == last)?;
                release(usize::try_from(from / 8).unwrap_or(0));
                stats.copied += (end - start) as u64;
            }
            _ => unreachable!("pieces follow the segments"),
        }
        // every segment ends at a byte boundary, all its bytes in `out`
        if let Some(spill) = spill.as_mut() {
            spill.take(&mut bits.out, false)?;
            spilled = spill.written();
        }
    }
    let mut rest = bits.finish();
    let data = match spill {
        Some(spill) => spill.finish(&mut rest)?,
        None => rest.into(),
    };
    offsets.push(data.len());
    hash_to(old_raw.len());
    release(old_raw.len());
    if raw_crc.finalize() != index.raw_crc32 {
        return Err(std::io::Error::other(
            "the input's compressed bytes changed after they were read; nothing was written",
        ));
    }
    // Every segment, inflated on its own from its byte offset with the 32 KiB
    // before it as dictionary, must give exactly its bytes of `new` and end at
    // a block boundary (the last one: the end of the stream); by induction
    // the whole stream inflates to `new`.
    //
    // New pieces were inflated to show that before they were put in (they
    // sit at byte boundaries, unchanged). A copied run was shown bit for
    // bit as it was put in: its bits are the input's bits of whole,
    // non-final blocks (as zlib reported their bounds while inflating the input, whose CRC-32
    // matched), and those blocks, with the same 32 KiB before them (compared
    // page by page), decode to the same bytes wherever they sit. Given the
    // new bytes (debug builds: tests, fuzzing), copied runs are inflated too.
    segments.par_iter().enumerate().try_for_each(|(k, s)| -> std::io::Result<()> {
        let (start, end) = s.range();
        let bytes = &data[offsets[k]..offsets[k + 1]];
        match *s {
            Segment::Copy { .. } => {
                if let Some(new) = new.filter(|_| cfg!(debug_assertions)) {
                    let dict = &new[start.saturating_sub(WINDOW as usize)..start];
                    check_segment(bytes, dict, &new[start..end], k == last)?;
                }
                Ok(())
            }
            Segment::Fresh { .. } => Ok(()),
        }
    })?;
    Ok((Deflated { data, crc32: crc32.unwrap_or_else(|| crc.finalize()), sha256 }, stats))
}
