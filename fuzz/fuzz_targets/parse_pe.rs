//! Any bytes → the PE parser: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wheelfix::binary::pe::parse(data);
    let _ = wheelfix::binary::parse(data);
});
