//! Any bytes → a `.whl` file → `WheelArchive::open` → read every entry →
//! `verify_all`. Never panics; every failure is a one-line error.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// One directory per fuzzing process, reused by every run.
fn wheel_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("wheelfix-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("demo-0.1-cp311-cp311-linux_x86_64.whl")
    })
}

fuzz_target!(|data: &[u8]| {
    let path = wheel_path();
    std::fs::write(path, data).unwrap();
    let archive = match wheelfix::wheel::WheelArchive::open(path) {
        Ok(a) => a,
        Err(e) => {
            assert!(!e.to_string().contains('\n'), "multi-line error: {e}");
            return;
        }
    };
    for entry in archive.entries() {
        if let Ok(bytes) = archive.read(entry.index) {
            assert_eq!(bytes.len() as u64, entry.size, "read returned a size other than the declared one");
            let _ = archive.verify_record(entry.index, &bytes);
        }
        let _ = archive.read_prefix(entry.index, 64);
    }
    if let Err(e) = archive.verify_all() {
        assert!(!e.to_string().contains('\n'), "multi-line error: {e}");
    }
});
