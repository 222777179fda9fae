//! Reading a huge deflated entry sparsely: only the parts a plan asks for,
//! its start inflated in order, its end from a deflate block found in the
//! middle of the stream, nothing in between.
//!
//! The end is reached in two steps. First, from a block header found near
//! where the wanted bytes should start ([`find_dynamic_header`]), the rest
//! of the stream is inflated, twice in step with two different stand-in
//! windows ([`Midstream`]) until 32 KiB in a row agree: from there on every
//! byte is known (before, only the bytes both make alike are). The stream
//! must then end exactly where the entry does, which places everything
//! inflated: the entry's declared size minus what is left. On the way, the
//! windows at a block boundary every 4 MiB are kept. Second, each wanted
//! part is inflated from the windows kept before it.
//!
//! Neither the CRC-32 nor the RECORD hash can be checked this way: `show`
//! reads so, `check` and `repair` read every byte.

use super::partial::{keep_step, PartialEntry, PartialPlan};
use super::{Compression, WheelArchive};
use crate::bytes::first_gap;
use crate::wheel::deflate::{find_dynamic_header, Midstream, WINDOW};
use crate::wheel::WheelError;

/// A wanted part this far past the inflated start is reached from the end.
const JUMP: u64 = 16 << 20;
/// A window is kept every this many bytes of the end's output.
const SNAPSHOT_EVERY: u64 = 4 << 20;
/// Output of the end's inflate before its first window is kept. A header
/// found by search that is not one fails to inflate within a few blocks
/// almost always; should its garbage ever run into the stream's real
/// blocks, what it made lies far inside this margin.
const MARGIN: u64 = 1 << 20;
/// Bytes inflated per step.
const STEP: usize = 256 << 10;

/// A window kept at a block boundary of the stream's end.
struct Snapshot {
    /// Offset in the entry where the block's output starts.
    out: u64,
    /// Bit of the stream where the block's header starts.
    bit: u64,
    /// The 32 KiB of output before `out`, as inflated with the first
    /// stand-in window.
    window: Vec<u8>,
    /// The same with the second stand-in window, while the two still differ.
    other: Option<Vec<u8>>,
}

/// The stream's end, placed: windows to start inflating from.
struct Tail {
    snapshots: Vec<Snapshot>,
}

impl Tail {
    /// The snapshot to inflate `at` from, if the end reaches that far back.
    fn before(&self, at: u64) -> Option<&Snapshot> {
        self.snapshots.iter().rev().find(|s| s.out <= at)
    }
}

/// One inflater, or two in step with stand-in windows ([`Midstream`] docs)
/// of which only the bytes both make alike are known; the second is dropped
/// once 32 KiB in a row agree.
struct Reader<'a> {
    a: Midstream<'a>,
    b: Option<Midstream<'a>>,
    /// Offset in the entry of the next byte made.
    at: u64,
    /// How many bytes in a row the two made alike so far.
    agree: u64,
    bufs: (Vec<u8>, Vec<u8>),
}

impl<'a> Reader<'a> {
    fn new(raw: &'a [u8], bit: u64, windows: (&[u8], Option<&[u8]>), at: u64) -> Option<Self> {
        let a = Midstream::new(raw, bit, windows.0).ok()?;
        let b = match windows.1 {
            Some(w) => Some(Midstream::new(raw, bit, w).ok()?),
            None => None,
        };
        // the second buffer only for a second inflater
        let other = vec![0u8; if b.is_some() { STEP } else { 0 }];
        Some(Reader { a, b, at, agree: 0, bufs: (vec![0u8; STEP], other) })
    }

    /// Inflates one step; hands each run of known bytes to `keep` with its
    /// offset. Returns the bit of the next block's header when the step
    /// stopped there; `None` in the outer option when the bits do not
    /// inflate or the two inflaters part ways.
    fn step(&mut self, keep: &mut dyn FnMut(u64, &[u8])) -> Option<Option<u64>> {
        let (n, boundary) = self.a.step(&mut self.bufs.0).ok()?;
        let a = &self.bufs.0[..n];
        match self.b.as_mut() {
            None => keep(self.at, a),
            Some(other) => {
                if other.step(&mut self.bufs.1).ok()? != (n, boundary) {
                    return None;
                }
                let b = &self.bufs.1[..n];
                // the runs of bytes made alike, each ended by one that is not
                let mut run = 0;
                for i in 0..n {
                    if a[i] == b[i] {
                        self.agree += 1;
                        continue;
                    }
                    if run < i {
                        keep(self.at + run as u64, &a[run..i]);
                    }
                    run = i + 1;
                    self.agree = 0;
                }
                if run < n {
                    keep(self.at + run as u64, &a[run..n]);
                }
                if self.agree >= WINDOW as u64 {
                    self.b = None;
                }
            }
        }
        self.at += n as u64;
        Some(boundary)
    }

    /// Inflates until `to` or the stream's end, handing known bytes to `keep`.
    fn read_to(&mut self, to: u64, keep: &mut dyn FnMut(u64, &[u8])) -> Option<()> {
        while self.at < to && !self.a.ended() {
            self.step(keep)?;
        }
        Some(())
    }
}

/// Where [`read_sparse`](WheelArchive::read_sparse) keeps what it reads:
/// the buffer of the entry's full length, the ranges it holds, the plan
/// and what it asks for now.
struct Keeper<'p, 'q> {
    out: memmap2::MmapMut,
    read: Vec<(u64, u64)>,
    want: Vec<(u64, u64)>,
    plan: &'p mut PartialPlan<'q>,
}

impl Keeper<'_, '_> {
    fn keep(&mut self, start: u64, piece: &[u8]) {
        keep_step(&mut self.out, &mut self.read, &mut self.want, start, piece, self.plan);
    }

    /// The first wanted range (its start, and the end of the want it is in)
    /// not held yet.
    fn first_unread(&self) -> Option<(u64, u64)> {
        self.want.iter().filter_map(|&(a, b)| first_gap(&self.read, a, b).map(|gap| (gap, b))).min()
    }
}

impl WheelArchive {
    /// Reads the parts of entry `index` that `plan` asks for, like
    /// [`read_partial`](WheelArchive::read_partial), without inflating the
    /// stretches between them that lie more than 16 MiB past the start
    /// ([`module`](self) docs). Nothing is checked against the CRC-32 or
    /// RECORD. `None` when the entry cannot be read this way (not deflated,
    /// no block found where needed, data that does not inflate): read it
    /// the ordinary way then, which also words any error.
    pub(crate) fn read_sparse(
        &self,
        index: usize,
        plan: &mut PartialPlan<'_>,
    ) -> Result<Option<PartialEntry>, WheelError> {
        let (entry, loc) = self.located(index)?;
        let raw = self.raw_data(index)?;
        let size = entry.size;
        let Some(len) = usize::try_from(size).ok().filter(|&n| n > 0 && loc.compression == Compression::Deflated)
        else {
            return Ok(None);
        };
        let Ok(out) = memmap2::MmapMut::map_anon(len) else { return Ok(None) };
        let want = plan(&out, &[]);
        let mut k = Keeper { out, read: Vec::new(), want, plan };
        let read = sparse_inflate(raw, size, &mut k, JUMP);
        self.release(index);
        Ok(read.map(|()| (k.out, k.read)))
    }
}

/// The loop of [`WheelArchive::read_sparse`]: the start inflated in order
/// as far as the wanted parts within `jump` of it go, the end placed once
/// (or again, from further back, when a wanted part lies before it), every
/// other wanted part inflated from the window before it (or on from the
/// last one, when that is nearer). `None` when any step fails.
fn sparse_inflate(raw: &[u8], size: u64, k: &mut Keeper<'_, '_>, jump: u64) -> Option<()> {
    let mut head = Reader::new(raw, 0, (&[], None), 0)?;
    let mut tail: Option<Tail> = None;
    // the reader of the end now
    let mut reading: Option<Reader<'_>> = None;
    let mut placed = 0;
    let mut last = None;
    while let Some((from, to)) = k.first_unread() {
        // every turn reads what it set out to read, or the loop ends
        if last == Some((from, to)) {
            return None;
        }
        last = Some((from, to));
        if from < head.at + jump {
            if from < head.at {
                // named once the start was passed: from the start again
                head = Reader::new(raw, 0, (&[], None), 0)?;
            }
            head.read_to(to, &mut |at, piece| k.keep(at, piece))?;
            continue;
        }
        if let Some(s) = tail.as_ref().and_then(|t| t.before(from)) {
            let on = reading.as_ref().is_some_and(|r| r.at <= from && r.at >= s.out);
            if !on {
                reading = Some(Reader::new(raw, s.bit, (&s.window, s.other.as_deref()), s.out)?);
            }
            reading.as_mut()?.read_to(to, &mut |at, piece| k.keep(at, piece))?;
            continue;
        }
        placed += 1;
        if placed > 2 {
            return None;
        }
        tail = Some(place_tail(raw, size, from, (head.a.bits_read(), head.at))?);
        reading = None;
        // placing the end is this turn's progress
        last = None;
    }
    Some(())
}

/// The stream's end, placed so that it reaches back to offset `target`:
/// tried from a guessed bit (the compression of what lies between `head`,
/// the bits and bytes inflated from the start, and the end taken as even),
/// then from twice as far back, and so on, three times.
fn place_tail(raw: &[u8], size: u64, target: u64, head: (u64, u64)) -> Option<Tail> {
    let left_out = size.saturating_sub(head.1).max(1);
    let mut back = first_back(size, target);
    for _ in 0..3 {
        if let Some(tail) = tail_from(raw, size, guess(raw, size, head, back)) {
            if tail.before(target).is_some() {
                return Some(tail);
            }
        }
        if back >= left_out {
            return None;
        }
        back = back.saturating_mul(2);
    }
    None
}

/// How many bytes before the entry's end the first guess of [`place_tail`]
/// aims at, for a wanted part at `target`: that far, and a margin.
fn first_back(size: u64, target: u64) -> u64 {
    size.saturating_sub(target) + 4 * MARGIN
}

/// The bit of `raw` that lies `back` bytes of output before the entry's
/// end, guessed from the compression of what lies after `head` (the bits
/// and bytes inflated from the start), taken as even.
fn guess(raw: &[u8], size: u64, head: (u64, u64), back: u64) -> u64 {
    let bits = raw.len() as u64 * 8;
    let (left_bits, left_out) = (bits.saturating_sub(head.0), size.saturating_sub(head.1).max(1));
    bits - (u128::from(back.min(left_out)) * u128::from(left_bits) / u128::from(left_out)) as u64
}

/// The stream's end from the first block header at or after bit `guess`
/// that inflates to the stream's end (of up to eight tried, in the next
/// 8 MiB of the stream).
fn tail_from(raw: &[u8], size: u64, guess: u64) -> Option<Tail> {
    let bits = raw.len() as u64 * 8;
    let limit = guess.saturating_add(8 << 23).min(bits);
    let mut from = guess;
    for _ in 0..8 {
        let bit = find_dynamic_header(raw, from, limit)?;
        if let Some(tail) = inflate_tail(raw, size, bit) {
            return Some(tail);
        }
        from = bit + 1;
    }
    None
}

/// Inflates the stream from the block header at `bit` to its end with two
/// stand-in windows ([`Reader`]), and keeps the windows every 4 MiB, from
/// 1 MiB on. `None` when the bits do not inflate, or the stream does not
/// end exactly at the end of `raw` within the entry's `size`.
fn inflate_tail(raw: &[u8], size: u64, bit: u64) -> Option<Tail> {
    let mut r = Reader::new(raw, bit, (&[0u8; WINDOW], Some(&[0xFFu8; WINDOW])), 0)?;
    let mut kept: Vec<Snapshot> = Vec::new();
    while !r.a.ended() {
        let boundary = r.step(&mut |_, _| {})?;
        let due = kept.last().map_or(MARGIN, |s| s.out + SNAPSHOT_EVERY);
        if let Some(bit) = boundary.filter(|_| r.at >= due) {
            let other = match r.b.as_ref() {
                Some(b) => Some(b.window().ok()?),
                None => None,
            };
            kept.push(Snapshot { out: r.at, bit, window: r.a.window().ok()?, other });
        }
    }
    if !r.a.all_read() || r.at > size {
        return None;
    }
    let start = size - r.at;
    for s in &mut kept {
        s.out += start;
    }
    Some(Tail { snapshots: kept })
}

#[cfg(test)]
mod tests;
