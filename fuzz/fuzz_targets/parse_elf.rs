//! Any bytes → the ELF parser (and the whole-format sniffer): never panics.
//! A parse of part of the bytes (the ranges the read-ahead plan asks for,
//! streamed as the wheel reader does) gives up or equals the whole parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wheelfix::binary::elf;

fuzz_target!(|data: &[u8]| {
    let whole = elf::parse(data);
    let _ = elf::dump(data);
    let _ = wheelfix::binary::parse(data);
    // stream the bytes in small steps, keeping what the plan asks for
    let step = 256;
    let mut out = vec![0u8; data.len()];
    let mut read: Vec<(u64, u64)> = Vec::new();
    for (k, piece) in data.chunks(step).enumerate() {
        let start = (k * step) as u64;
        loop {
            let want = elf::partial_wanted(&out, &read);
            let before = read.clone();
            for (a, b) in want {
                let (a, b) = (a.max(start), b.min(start + piece.len() as u64));
                if a < b {
                    out[a as usize..b as usize].copy_from_slice(&piece[(a - start) as usize..(b - start) as usize]);
                    read.push((a, b));
                }
            }
            read.sort_unstable();
            let mut merged: Vec<(u64, u64)> = Vec::new();
            for &(a, b) in &read {
                match merged.last_mut() {
                    Some(last) if last.1 >= a => last.1 = last.1.max(b),
                    _ => merged.push((a, b)),
                }
            }
            read = merged;
            if read == before {
                break;
            }
        }
    }
    if let Some(partial) = elf::parse_partial(&out, &read) {
        assert_eq!(partial, whole, "a partial parse differs from the whole parse");
    }
});
