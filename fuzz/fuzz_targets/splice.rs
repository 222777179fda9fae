//! Deflate streams and the splice of a patched entry.
//!
//! Input: 4 plan bytes, then a body. The body is first given, as it is, to
//! `inflate_indexed` as a (hostile) deflate stream: it may fail, never panic.
//! Then the body, spread over about 100 KB with variation (so that deflate cuts
//! it into several blocks), is deflated at a level from the plan, indexed, and
//! patched the way a rewrite would (bytes changed at plan-chosen places, a tail
//! appended or cut); `deflate_spliced` must give a stream that inflates to
//! exactly the patched bytes.
#![no_main]

use std::io::{Read, Write};

use libfuzzer_sys::fuzz_target;
use wheelfix::wheel::splice::{deflate_spliced, inflate_indexed};

fuzz_target!(|data: &[u8]| {
    let Some((plan, body)) = data.split_first_chunk::<4>() else { return };
    let _ = inflate_indexed(body, usize::from(plan[1]) << 8 | usize::from(plan[2]));
    if body.is_empty() {
        return;
    }
    let len = 100_000 + usize::from(plan[3]) * 64;
    let old: Vec<u8> =
        (0..len).map(|i| body[i % body.len()] ^ ((i / body.len()) as u8).wrapping_mul(plan[1] | 1)).collect();
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(u32::from(plan[0] % 10)));
    e.write_all(&old).unwrap();
    let raw = e.finish().unwrap();
    let (back, index) = inflate_indexed(&raw, old.len()).expect("a valid stream inflates").expect("small enough");
    assert!(back == old, "inflate_indexed gave other bytes");

    let mut new = old.clone();
    let step = usize::from(plan[2]).max(1) * 397;
    let mut at = usize::from(plan[1]) * 131 % len;
    for _ in 0..(plan[3] % 5) {
        new[at] ^= 0xA5;
        at = (at + step) % len;
    }
    match plan[0] / 10 % 4 {
        1 => new.extend_from_slice(&body[..body.len().min(5000)]),
        2 => new.truncate(len - usize::from(plan[2]) * 37),
        3 => new.splice(len / 2..len / 2, body.iter().copied().take(300)).for_each(drop),
        _ => {}
    }
    let (d, stats) = deflate_spliced(&old, &raw, &index, &new, 1 + u32::from(plan[0] % 9), 32 << 10)
        .expect("a splice of a valid stream succeeds");
    assert_eq!(stats.copied + stats.deflated, new.len() as u64);
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(&d.data[..]).read_to_end(&mut out).expect("the spliced stream inflates");
    assert!(out == new, "the spliced stream gives other bytes");
    assert_eq!(d.crc32, crc32fast::hash(&new));
});
