//! Inflating a raw-deflate stream from a block in its middle: zlib-rs
//! primed with a window (the stream's real one, or a stand-in) and fed
//! from the bit where the block's header starts.
//!
//! A stand-in window of one constant byte value tells which of the bytes
//! made depend on the unknown real window: inflated twice, with two
//! different constants, those bytes differ and all the others agree. Once
//! 32 KiB in a row agree, everything after them is known: no deflate
//! reference reaches further back.

use std::ffi::c_int;

use super::indexed::{before_header, bits_used, Inflater};
use super::WINDOW;

/// A raw inflater started at a block boundary in the middle of a stream.
pub(crate) struct Midstream<'a> {
    z: Inflater,
    raw: &'a [u8],
    ended: bool,
}

impl<'a> Midstream<'a> {
    /// An inflater that reads `raw` from bit `bit` (a block header), with
    /// `window` (at most 32 KiB) as the bytes made before it. An error when
    /// zlib refuses the start, or when `raw` is 4 GiB or more.
    pub(crate) fn new(raw: &'a [u8], bit: u64, window: &[u8]) -> Result<Self, String> {
        let byte = usize::try_from(bit / 8).ok().filter(|&b| b < raw.len()).ok_or("a start past the stream's end")?;
        let rest = &raw[byte..];
        let avail_in =
            u32::try_from(rest.len() - usize::from(bit % 8 != 0)).map_err(|_| "a stream of 4 GiB or more")?;
        let mut z = Inflater::new()?;
        let strm = &mut *z.0;
        let window = &window[window.len().saturating_sub(WINDOW)..];
        if !window.is_empty() {
            // SAFETY: the stream is initialised; `window` outlives the call.
            let rc = unsafe { libz_rs_sys::inflateSetDictionary(strm, window.as_ptr(), window.len() as u32) };
            if rc != libz_rs_sys::Z_OK {
                return Err(format!("the window was refused (zlib code {rc})"));
            }
        }
        let skip = (bit % 8) as u32;
        if skip != 0 {
            // the rest of the first byte, whose low bits belong to the block before
            let bits = 8 - skip;
            let value = c_int::from(rest[0] >> skip);
            // SAFETY: the stream is initialised; fewer than 16 bits are primed.
            let rc = unsafe { libz_rs_sys::inflatePrime(strm, bits as c_int, value) };
            if rc != libz_rs_sys::Z_OK {
                return Err(format!("the first bits were refused (zlib code {rc})"));
            }
        }
        let first = &rest[usize::from(skip != 0)..];
        strm.next_in = first.as_ptr();
        strm.avail_in = avail_in;
        Ok(Midstream { z, raw, ended: false })
    }

    /// Inflates into `buf` until it is full, a block ends or the stream
    /// ends. Returns the bytes made and, when it stopped just before the
    /// header of a block that is not the final one's successor, the bit of
    /// `raw` where that header starts. An error for data that does not
    /// inflate, and for a call that could make no progress.
    pub(crate) fn step(&mut self, buf: &mut [u8]) -> Result<(usize, Option<u64>), String> {
        if self.ended || buf.is_empty() {
            return Ok((0, None));
        }
        let strm = &mut *self.z.0;
        let room = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        strm.next_out = buf.as_mut_ptr();
        strm.avail_out = room;
        let before = (strm.avail_in, strm.data_type);
        // SAFETY: next_in/avail_in describe the unread rest of `raw`, which
        // outlives `self`; next_out/avail_out describe `buf`.
        let rc = unsafe { libz_rs_sys::inflate(strm, libz_rs_sys::Z_BLOCK) };
        let made = (room - strm.avail_out) as usize;
        match rc {
            libz_rs_sys::Z_STREAM_END => self.ended = true,
            libz_rs_sys::Z_OK | libz_rs_sys::Z_BUF_ERROR => {}
            rc => return Err(format!("corrupt deflate data (zlib code {rc})")),
        }
        if made == 0 && !self.ended && (strm.avail_in, strm.data_type) == before {
            return Err("the deflate stream ends early".into());
        }
        let at_block = before_header(strm) && !self.ended;
        Ok((made, at_block.then(|| self.bits_read())))
    }

    /// Whether the stream's final block has ended.
    pub(crate) fn ended(&self) -> bool {
        self.ended
    }

    /// The bit of `raw` up to which the stream is read after a step: the
    /// bits zlib took but has not used yet (primed ones included) are not
    /// counted.
    pub(crate) fn bits_read(&self) -> u64 {
        let strm = &*self.z.0;
        bits_used(strm, self.raw.len() as u64 - u64::from(strm.avail_in))
    }

    /// Whether every byte of `raw` is read: for a stream that ended, that
    /// nothing follows it.
    pub(crate) fn all_read(&self) -> bool {
        self.z.0.avail_in == 0
    }

    /// The window: the last (up to) 32 KiB made, with the primed window in
    /// front while fewer were made.
    pub(crate) fn window(&self) -> Result<Vec<u8>, String> {
        let mut window = vec![0u8; WINDOW];
        let mut len: libz_rs_sys::uInt = 0;
        // SAFETY: the stream is initialised; `window` has room for the 32 KiB
        // zlib keeps at most.
        let rc = unsafe { libz_rs_sys::inflateGetDictionary(&*self.z.0, window.as_mut_ptr(), &mut len) };
        if rc != libz_rs_sys::Z_OK {
            return Err(format!("the window could not be read (zlib code {rc})"));
        }
        window.truncate(len as usize);
        Ok(window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wheel::deflate::inflate_indexed;
    use crate::wheel::deflate::testdata::{deflate, sample};

    /// Everything `m` makes from here to the stream's end.
    fn drain(m: &mut Midstream<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 100_000];
        while !m.ended() {
            let (n, _) = m.step(&mut buf).unwrap();
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    /// From any block boundary of a real stream, primed with the real
    /// window, the inflater gives exactly the rest of the data; the block
    /// boundaries it reports are the index's.
    #[test]
    fn starts_at_any_block_with_the_real_window() {
        let data = sample((2 << 20) + 777, 5);
        let raw = deflate(&data, 6);
        let (_, index) = inflate_indexed(&raw, data.len()).unwrap().unwrap();
        assert!(index.blocks.len() > 8);
        for b in index.blocks.iter().skip(1).step_by(3) {
            let out = b.out as usize;
            let mut m = Midstream::new(&raw, b.bit, &data[out.saturating_sub(WINDOW)..out]).unwrap();
            let mut rest = Vec::new();
            let mut buf = vec![0u8; 50_000];
            let mut bits = Vec::new();
            while !m.ended() {
                let (n, boundary) = m.step(&mut buf).unwrap();
                rest.extend_from_slice(&buf[..n]);
                bits.extend(boundary);
            }
            assert!(m.all_read());
            assert!(rest == data[out..], "from bit {}", b.bit);
            let later: Vec<u64> = index.blocks.iter().filter(|x| x.bit > b.bit).map(|x| x.bit).collect();
            assert_eq!(bits, later);
        }
    }

    /// Two stand-in windows tell the bytes that depend on the real window:
    /// where the two runs agree, they agree with the data.
    #[test]
    fn two_stand_in_windows_tell_the_unknown_bytes() {
        let data = sample(3 << 20, 9);
        let raw = deflate(&data, 6);
        let (_, index) = inflate_indexed(&raw, data.len()).unwrap().unwrap();
        let b = index.blocks[index.blocks.len() / 2];
        let zeros = drain(&mut Midstream::new(&raw, b.bit, &[0u8; WINDOW]).unwrap());
        let ones = drain(&mut Midstream::new(&raw, b.bit, &[0xFFu8; WINDOW]).unwrap());
        let real = &data[b.out as usize..];
        assert_eq!(zeros.len(), real.len());
        let unknown = zeros.iter().zip(&ones).filter(|(a, b)| a != b).count();
        assert!(unknown > 0, "the sample repeats what came before the block");
        for ((a, o), r) in zeros.iter().zip(&ones).zip(real) {
            if a == o {
                assert_eq!(a, r);
            }
        }
    }

    #[test]
    fn a_wrong_start_is_an_error_not_a_panic() {
        let data = sample(1 << 20, 2);
        let raw = deflate(&data, 6);
        assert!(Midstream::new(&raw, raw.len() as u64 * 8, &[]).is_err());
        let mut failed = 0;
        for bit in (3..4000).step_by(97) {
            let Ok(mut m) = Midstream::new(&raw, bit, &[0u8; WINDOW]) else { continue };
            let mut buf = vec![0u8; 1 << 16];
            failed += (0..64).any(|_| m.step(&mut buf).is_err()) as usize;
        }
        assert!(failed > 0);
    }
}
