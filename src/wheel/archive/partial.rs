//! Reading an entry in part: one streaming pass that keeps only the ranges
//! a plan asks for, in a buffer of the entry's full length.

use super::verify::check_streamed;
use super::{Compression, WheelArchive};
use crate::bytes::{merge_ranges, ranges_cover};
use crate::wheel::WheelError;

/// What `WheelArchive::read_partial` keeps of an entry is up to this: it
/// gets the buffer and the ranges read so far, and gives the ranges wanted.
pub type PartialPlan<'a> = dyn FnMut(&[u8], &[(u64, u64)]) -> Vec<(u64, u64)> + 'a;

/// An entry read in part: a buffer of its full length, and the ranges of it
/// that hold its bytes (sorted, not overlapping).
pub(crate) type PartialEntry = (memmap2::MmapMut, Vec<(u64, u64)>);

/// One step of reading a file in part, in order: of `piece` (the file's
/// bytes at `start`), copies into `out` the parts of `want` that `read` does
/// not hold yet, and adds them to `read` (sorted, not overlapping). After
/// anything new, `plan` gives the new `want`, and the same piece is looked
/// at again: it may hold what was just named.
pub fn keep_step(
    out: &mut [u8],
    read: &mut Vec<(u64, u64)>,
    want: &mut Vec<(u64, u64)>,
    start: u64,
    piece: &[u8],
    plan: &mut PartialPlan<'_>,
) {
    let end = (start + piece.len() as u64).min(out.len() as u64);
    loop {
        let mut new = false;
        for &(ws, we) in want.iter() {
            let (a, b) = (ws.max(start), we.min(end));
            if a >= b || ranges_cover(read, a, b) {
                continue;
            }
            // bytes held already are written again with the same values
            out[a as usize..b as usize].copy_from_slice(&piece[(a - start) as usize..(b - start) as usize]);
            read.push((a, b));
            *read = merge_ranges(std::mem::take(read));
            new = true;
        }
        if !new {
            return;
        }
        *want = plan(out, read);
    }
}

impl WheelArchive {
    /// Reads entry `index` in one streaming pass, checking its CRC-32 and
    /// (with `verify`) its RECORD row, like [`WheelArchive::verify_streaming`],
    /// but keeps the parts that `plan` asks for ([`keep_step`]) in a buffer
    /// of the entry's full length. Memory: the parts kept, plus one step.
    /// Returns the buffer and the ranges it holds (sorted, not overlapping).
    /// `None` when the entry cannot be read this way (a RECORD row that is
    /// not a sha256 with a size, a declared size the data cannot hold, no
    /// memory for the buffer): read it whole then.
    pub(crate) fn read_partial(
        &self,
        index: usize,
        verify: bool,
        plan: &mut PartialPlan<'_>,
    ) -> Result<Option<PartialEntry>, WheelError> {
        let (entry, loc) = self.located(index)?;
        let row = self.streamed_row(entry);
        if verify && row.is_none() {
            return Ok(None);
        }
        let raw = self.raw_data(index)?.len() as u64;
        let fits = match loc.compression {
            Compression::Stored => entry.size == raw,
            Compression::Deflated => entry.size <= raw.saturating_mul(1032).saturating_add(1024),
        };
        let Some(len) = usize::try_from(entry.size).ok().filter(|&n| n > 0 && fits) else {
            return Ok(None);
        };
        // anonymous pages: zero until written, and not resident until then
        let Ok(mut out) = memmap2::MmapMut::map_anon(len) else { return Ok(None) };
        let mut read = Vec::new();
        let mut want = plan(&out, &read);
        let mut keep = |start: u64, piece: &[u8]| {
            keep_step(&mut out, &mut read, &mut want, start, piece, plan);
            true
        };
        let (_, size, digest) = self.inflate_into(index, verify, false, &mut keep)?;
        if let (Some(row), Some(digest)) = (row, digest) {
            check_streamed(row, size, &digest)?;
        }
        Ok(Some((out, read)))
    }
}
