//! Writing a deflate stream bit by bit, and copying bits of another one.

use crate::wheel::deflate::word_at;

/// A bit writer in deflate's order.
pub(super) struct Bits {
    pub(super) out: Vec<u8>,
    pub(super) acc: u64,
    pub(super) n: u32,
}

impl Bits {
    /// Appends the low `count` (≤ 32) bits of `value`.
    pub(super) fn put(&mut self, value: u64, count: u32) {
        debug_assert!(count <= 32 && self.n < 32);
        self.acc |= (value & ((1u64 << count) - 1)) << self.n;
        self.n += count;
        if self.n >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.n -= 32;
        }
    }

    pub(super) fn aligned(&self) -> bool {
        self.n % 8 == 0
    }

    /// Writes out the whole bytes held in the accumulator (the stream must be
    /// at a byte boundary).
    pub(super) fn flush_bytes(&mut self) {
        debug_assert!(self.aligned());
        while self.n > 0 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// Appends whole bytes at a byte boundary.
    pub(super) fn bytes(&mut self, data: &[u8]) {
        self.flush_bytes();
        self.out.extend_from_slice(data);
    }

    /// Appends the bits `from..to` of `src`.
    pub(super) fn copy(&mut self, src: &[u8], from: u64, to: u64) {
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
    pub(super) fn empty_stored(&mut self, last: bool) {
        self.put(u64::from(last), 1);
        self.put(0, 2);
        let pad = (8 - self.n % 8) % 8;
        self.put(0, pad);
        self.put(0xFFFF_0000, 32); // LEN 0, NLEN !0
    }

    pub(super) fn finish(mut self) -> Vec<u8> {
        let pad = (8 - self.n % 8) % 8;
        self.put(0, pad);
        self.flush_bytes();
        self.out
    }
}
