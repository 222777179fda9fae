//! Any bytes → the ELF parser (and the whole-format sniffer): never panics.
//! A parse of part of the bytes (the ranges the read-ahead plan asks for,
//! streamed as the wheel reader does) gives up or equals the whole parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wheelfix::binary::elf;
use wheelfix::wheel::archive::keep_step;

fuzz_target!(|data: &[u8]| {
    let whole = elf::parse(data);
    let _ = elf::dump(data);
    let _ = wheelfix::binary::parse(data);
    // stream the bytes in small steps, keeping what the plan asks for
    let step = 256;
    let mut out = vec![0u8; data.len()];
    let mut read: Vec<(u64, u64)> = Vec::new();
    let mut want = elf::partial_wanted(&out, &read);
    for (k, piece) in data.chunks(step).enumerate() {
        keep_step(&mut out, &mut read, &mut want, (k * step) as u64, piece, &mut elf::partial_wanted);
    }
    if let Some(partial) = elf::parse_partial(&out, &read) {
        assert_eq!(partial, whole, "a partial parse differs from the whole parse");
    }
});
