//! Any bytes → the ELF parser (and the whole-format sniffer): never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wheelfix::binary::elf::parse(data);
    let _ = wheelfix::binary::elf::dump(data);
    let _ = wheelfix::binary::parse(data);
});
