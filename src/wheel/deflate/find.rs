//! Finding where a dynamic-Huffman deflate block starts in the middle of a
//! raw-deflate stream, without inflating what comes before it.
//!
//! A block header is recognised only when zlib's inflate would accept it:
//! the same limits on the numbers of codes, the same code-length code
//! (complete, as zlib wants it), the code lengths decoded exactly as zlib
//! decodes them, and the literal/length and distance codes checked by
//! zlib's rules for over-subscribed and incomplete codes. Most bit
//! positions fail one of the cheap checks, made on many positions at once
//! or on one 128-bit load; only the few left decode their code lengths.
//!
//! This is what inflating from the middle of a stream starts from (the
//! sparse read of a huge entry, `wheel::archive::sparse`).

use super::indexed::{bits_at, word_at};

/// The order in which a header lists the code lengths of the code-length
/// alphabet.
const ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/// Bits of a header before the code lengths of the code-length alphabet:
/// BFINAL, BTYPE, HLIT, HDIST and HCLEN.
const FIXED_BITS: u64 = 17;

/// The Kraft sum, in units of 2^-7, of four 3-bit code lengths packed as
/// they come in a header (a length of 0 adds nothing), 255 for 256: a
/// code-length code is complete exactly when its sum is 128.
const KRAFT4: [u8; 4096] = kraft4();

/// Builds [`KRAFT4`].
const fn kraft4() -> [u8; 4096] {
    let mut t = [0u8; 4096];
    let mut i = 0;
    while i < 4096 {
        let mut sum = 0u16;
        let mut k = 0;
        while k < 4 {
            let len = (i >> (3 * k)) & 7;
            if len != 0 {
                sum += 1 << (7 - len);
            }
            k += 1;
        }
        t[i] = if sum > 255 { 255 } else { sum as u8 };
        i += 1;
    }
    t
}

/// One bit per position `k` (0..48) of the word `w`, set where the bits
/// from `k` on could start a dynamic header: BTYPE 2, HLIT ≤ 29 and
/// HDIST ≤ 29 (a field of 5 bits is 30 or 31 exactly when its top 4 bits
/// are all set).
fn candidates(w: u64) -> u64 {
    let btype2 = !(w >> 1) & (w >> 2);
    let hlit_over = (w >> 4) & (w >> 5) & (w >> 6) & (w >> 7);
    let hdist_over = (w >> 9) & (w >> 10) & (w >> 11) & (w >> 12);
    btype2 & !hlit_over & !hdist_over & ((1 << 48) - 1)
}

/// The cheap checks on the first 121 bits `v` of a candidate header: BTYPE
/// 2, the numbers of codes within zlib's limits, and a complete code-length
/// code. (The search makes the same checks on many positions at once.)
#[cfg(test)]
fn plausible(v: u128) -> bool {
    let w = v as u64;
    w & 0b110 == 0b100 && (w >> 3) & 31 <= 29 && (w >> 8) & 31 <= 29 && code_length_code_complete(v)
}

/// Whether the code-length code of the header whose first bits are `v` is
/// complete, the only kind zlib accepts: not over-subscribed, nor
/// incomplete (an empty one gives no code length at all, so no end-of-block
/// code either).
fn code_length_code_complete(v: u128) -> bool {
    let ncode = ((v as u32 >> 13) & 15) + 4;
    // at most 19 * 3 = 57 bits of lengths
    let f = (v >> FIXED_BITS) as u64 & ((1u64 << (3 * ncode)) - 1);
    let sum = u32::from(KRAFT4[(f & 0xfff) as usize])
        + u32::from(KRAFT4[((f >> 12) & 0xfff) as usize])
        + u32::from(KRAFT4[((f >> 24) & 0xfff) as usize])
        + u32::from(KRAFT4[((f >> 36) & 0xfff) as usize])
        + u32::from(KRAFT4[(f >> 48) as usize]);
    sum == 128
}

/// The decoding table of a complete code-length code: for each 7 next bits
/// of the stream (least significant first), the symbol in the high bits
/// and the length of its code in the low 4.
fn code_length_table(lens: &[u8; 19]) -> [u16; 128] {
    let mut count = [0u16; 8];
    for &l in lens {
        count[usize::from(l)] += 1;
    }
    let mut next = [0u16; 8];
    let mut code = 0u16;
    for len in 1..8 {
        code = (code + count[len - 1] * u16::from(len > 1)) << 1;
        next[len] = code;
    }
    let mut table = [0u16; 128];
    for (sym, &len) in lens.iter().enumerate() {
        if len == 0 {
            continue;
        }
        let len = usize::from(len);
        let c = next[len];
        next[len] += 1;
        // the code is sent most significant bit first: reverse it
        let rev = (c.reverse_bits() >> (16 - len)) as usize;
        for i in (rev..128).step_by(1 << len) {
            table[i] = ((sym as u16) << 4) | len as u16;
        }
    }
    table
}

/// Whether a literal/length or distance code with these lengths passes
/// zlib's `inflate_table`: not over-subscribed, and incomplete only when
/// it is a single code of length 1; a code with no lengths at all passes
/// (it can only be a distance code: the literal/length code has its
/// end-of-block code).
fn zlib_code_ok(lens: &[u8]) -> bool {
    let (mut sum, mut max) = (0u32, 0u8);
    for &l in lens.iter().filter(|&&l| l != 0) {
        sum += 1 << (15 - u32::from(l));
        max = max.max(l);
    }
    match sum.cmp(&(1 << 15)) {
        std::cmp::Ordering::Equal => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Less => max <= 1,
    }
}

/// The rest of the check of a header at bit `at` of `raw` whose first bits
/// `v` are [`plausible`]: decodes the code lengths of both codes exactly as
/// zlib does, then checks the two codes; false when the header runs past
/// the end of `raw`. A code is refused as soon as zlib's refusal is
/// certain: once it is over-subscribed, or once the end-of-block code is
/// known to have no length.
fn decodes(raw: &[u8], at: u64, v: u128) -> bool {
    let w = v as u64;
    let nlen = ((w >> 3) & 31) as usize + 257;
    let total = nlen + ((w >> 8) & 31) as usize + 1;
    let ncode = ((w >> 13) & 15) as usize + 4;
    let mut cl = [0u8; 19];
    for (i, &sym) in ORDER.iter().enumerate().take(ncode) {
        cl[sym] = ((v >> (FIXED_BITS as usize + 3 * i)) & 7) as u8;
    }
    let table = code_length_table(&cl);
    let mut pos = at + FIXED_BITS + 3 * ncode as u64;
    // the next `avail` bits from `pos` on, refilled before a code and its
    // extra bits (at most 7 + 7) could run out
    let (mut bits, mut avail) = (word_at(raw, pos), 56);
    let mut lens = [0u8; 286 + 30];
    let mut have = 0;
    // the Kraft sums of both codes so far, in units of 2^-15: once one is
    // over 1 that code is over-subscribed, and zlib refuses it in the end
    let mut kraft = [0u32; 2];
    while have < total {
        if avail < 14 {
            (bits, avail) = (word_at(raw, pos), 56);
        }
        let entry = table[(bits & 127) as usize];
        let (sym, len) = (entry >> 4, u32::from(entry & 15));
        let extra = bits >> len;
        let (value, run, used) = match sym {
            0..=15 => (sym as u8, 1, 0),
            16 if have == 0 => return false,
            16 => (lens[have - 1], 3 + (extra & 3) as usize, 2),
            17 => (0, 3 + (extra & 7) as usize, 3),
            _ => (0, 11 + (extra & 127) as usize, 7),
        };
        if have + run > total {
            return false;
        }
        // the lengths start at zero: only the others are written
        if value != 0 {
            lens[have..have + run].fill(value);
            let in_lit = (have + run).min(nlen).saturating_sub(have);
            kraft[0] += (in_lit as u32) << (15 - value);
            kraft[1] += ((run - in_lit) as u32) << (15 - value);
            if kraft[0] > 1 << 15 || kraft[1] > 1 << 15 {
                return false;
            }
        }
        have += run;
        if have > 256 && lens[256] == 0 {
            return false;
        }
        bits >>= len + used;
        avail -= len + used;
        pos += u64::from(len + used);
    }
    pos <= raw.len() as u64 * 8 && zlib_code_ok(&lens[..nlen]) && zlib_code_ok(&lens[nlen..total])
}

/// Whether bits `at..` of `raw` start a dynamic-Huffman block header zlib
/// would accept: the search's verdict on one position, which its tests hold
/// it to.
#[cfg(test)]
pub(crate) fn is_dynamic_header(raw: &[u8], at: u64) -> bool {
    let v = bits_at(raw, at);
    plausible(v) && decodes(raw, at, v)
}

/// The bit offset of the first place at or after bit `from` and before bit
/// `to` of `raw` (a raw-deflate stream, bits least-significant first) where
/// a dynamic-Huffman block header (BTYPE 2, BFINAL 0 or 1) that zlib would
/// accept starts, or `None`.
pub(crate) fn find_dynamic_header(raw: &[u8], from: u64, to: u64) -> Option<u64> {
    let to = to.min(raw.len() as u64 * 8);
    let mut base = from / 8 * 8;
    while base < to {
        // 48 positions per load: each needs its first 13 bits for the
        // candidate mask (BTYPE, HLIT, HDIST: the rest of what `plausible`
        // checks) and 74 for the code-length code (47 + 74 ≤ 121)
        let x = bits_at(raw, base);
        let mut mask = candidates(x as u64);
        if from > base {
            mask &= !0 << (from - base);
        }
        if to - base < 48 {
            mask &= (1 << (to - base)) - 1;
        }
        while mask != 0 {
            let k = mask.trailing_zeros();
            let v = x >> k;
            let at = base + u64::from(k);
            if code_length_code_complete(v) && decodes(raw, at, v) {
                return Some(at);
            }
            mask &= mask - 1;
        }
        base += 48;
    }
    None
}

#[cfg(test)]
mod tests;
