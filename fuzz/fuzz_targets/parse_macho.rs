//! Any bytes → the Mach-O parser (thin and fat) and the signature reader: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wheelfix::binary::macho::parse(data);
    let _ = wheelfix::patch::codesign::verify_slice(data);
    let _ = wheelfix::patch::codesign::signature_identifier(data);
});
