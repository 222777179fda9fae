//! The allocator of the command and the Python module
//! (`wheelfix::alloc::Mapped`), in a test binary of its own: with no other
//! test running beside it, an address it freed is not mapped again by
//! another thread before `/proc/self/maps` is read.

#![cfg(target_os = "linux")]

use std::alloc::{GlobalAlloc, Layout};

use wheelfix::alloc::{mapped, Mapped, LARGE};

/// Whether `p` lies in a mapping of this process (`/proc/self/maps`).
fn is_mapped(p: *const u8) -> bool {
    let at = p as usize;
    std::fs::read_to_string("/proc/self/maps").unwrap().lines().any(|line| {
        let (a, b) = line.split(' ').next().unwrap().split_once('-').unwrap();
        let (a, b) = (usize::from_str_radix(a, 16).unwrap(), usize::from_str_radix(b, 16).unwrap());
        a <= at && at < b
    })
}

/// The bytes `(i % 251)` for `i` in `0..len` are at `p`.
///
/// # Safety
/// `p` must hold `len` readable bytes.
unsafe fn holds_pattern(p: *const u8, len: usize) -> bool {
    // SAFETY: the caller's promise
    unsafe { std::slice::from_raw_parts(p, len) }.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8)
}

#[test]
fn large_blocks_are_mapped_zeroed_moved_with_their_bytes_and_unmapped() {
    let a = Mapped;
    let layout = |size: usize| Layout::from_size_align(size, 8).unwrap();
    assert!(mapped(layout(LARGE)) && !mapped(layout(LARGE - 1)));
    assert!(!mapped(Layout::from_size_align(1 << 20, 8192).unwrap()), "over-aligned: the system's");
    // SAFETY: valid layouts; each block is used within its size and freed with its layout
    unsafe {
        let p = a.alloc_zeroed(layout(3 << 20));
        assert!(!p.is_null() && p as usize % 4096 == 0 && is_mapped(p));
        let bytes = std::slice::from_raw_parts_mut(p, 3 << 20);
        assert!(bytes.iter().all(|&b| b == 0));
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        // grown as a mapping
        let q = a.realloc(p, layout(3 << 20), 9 << 20);
        assert!(!q.is_null() && holds_pattern(q, 3 << 20));
        // shrunk below the threshold: moved to the heap, the mapping gone
        let r = a.realloc(q, layout(9 << 20), 1000);
        assert!(!r.is_null() && holds_pattern(r, 1000));
        assert!(!is_mapped(q), "the mapping stayed after its block moved to the heap");
        // grown back to the threshold: mapped again
        let s = a.realloc(r, layout(1000), LARGE);
        assert!(!s.is_null() && s as usize % 4096 == 0 && holds_pattern(s, 1000));
        a.dealloc(s, layout(LARGE));
        assert!(!is_mapped(s), "freed, the mapping stayed");
        // an over-aligned block comes from the system, aligned
        let over = Layout::from_size_align(1 << 20, 8192).unwrap();
        let o = a.alloc(over);
        assert!(!o.is_null() && o as usize % 8192 == 0);
        a.dealloc(o, over);
    }
}
