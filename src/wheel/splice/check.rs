//! The checks a spliced stream passes before it is used: every copied run
//! bit for bit against the input's blocks, every segment inflated back.

use crate::wheel::deflate::word_at;
use crate::wheel::deflate::Inflater;

/// The error of a re-compressed stream that failed its check.
fn bad(what: &str) -> std::io::Error {
    std::io::Error::other(format!("the re-compressed stream {what}; nothing was written"))
}

/// Checks that `segment` (one copied run of a spliced stream, from its
/// first byte) is exactly the bits `from..to` of `old_raw` followed by an
/// empty stored block, final only when `last`, and nothing more.
pub(super) fn check_copied(segment: &[u8], old_raw: &[u8], from: u64, to: u64, last: bool) -> std::io::Result<()> {
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
pub(super) fn check_segment(bytes: &[u8], dict: &[u8], expected: &[u8], last: bool) -> std::io::Result<()> {
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
