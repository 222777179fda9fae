//! The allocator of the command and of the Python module: every block of
//! 128 KiB or more is mapped on its own and unmapped when freed; smaller
//! ones come from the system allocator.
//!
//! glibc maps large blocks too, but raises its threshold (up to 32 MiB)
//! each time one is freed, and keeps the later ones in its heaps once
//! freed: a repair that reads its bundled libraries a window at a time would
//! then hold all of them. The command could fix glibc's threshold for its
//! whole process; the Python module shares its process with its caller, so
//! it keeps the rule to its own blocks by being their allocator. Declare it
//! with `#[global_allocator] static A: wheelfix::alloc::Mapped = wheelfix::alloc::Mapped;`.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks of this size (128 KiB) or more are mapped on their own.
pub const LARGE: usize = 128 << 10;

/// The allocator: [`LARGE`] blocks mapped, the rest from [`System`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Mapped;

/// Whether a block of `layout` is mapped: large, and aligned no more than
/// a page (mappings start on a page).
pub fn mapped(layout: Layout) -> bool {
    cfg!(target_os = "linux") && layout.size() >= LARGE && layout.align() <= 4096
}

#[cfg(target_os = "linux")]
mod pages {
    /// `len` bytes of fresh zeroed pages, or null.
    pub(super) fn map(len: usize) -> *mut u8 {
        // SAFETY: a new private anonymous mapping; no existing memory is touched.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            p.cast()
        }
    }

    /// Unmaps the `len` bytes at `p`, made by [`map`] or [`remap`].
    ///
    /// # Safety
    /// `p` and `len` must be those of a mapping of this module, unused from now on.
    pub(super) unsafe fn unmap(p: *mut u8, len: usize) {
        // SAFETY: the caller's promise; the kernel rounds `len` up to whole pages.
        unsafe { libc::munmap(p.cast(), len) };
    }

    /// The mapping of `old` bytes at `p` grown or shrunk to `new`, moved if
    /// need be (its bytes with it), or null with `p` left as it was.
    ///
    /// # Safety
    /// `p` and `old` must be those of a mapping of this module; on success
    /// only the returned pointer is valid.
    pub(super) unsafe fn remap(p: *mut u8, old: usize, new: usize) -> *mut u8 {
        // SAFETY: the caller's promise; MREMAP_MAYMOVE keeps the contents.
        let q = unsafe { libc::mremap(p.cast(), old, new, libc::MREMAP_MAYMOVE) };
        if q == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            q.cast()
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod pages {
    // never called: `mapped` is false off Linux
    pub(super) fn map(_: usize) -> *mut u8 {
        std::ptr::null_mut()
    }
    pub(super) unsafe fn unmap(_: *mut u8, _: usize) {}
    pub(super) unsafe fn remap(_: *mut u8, _: usize, _: usize) -> *mut u8 {
        std::ptr::null_mut()
    }
}

// SAFETY: mapped blocks are page-aligned (alignment ≤ 4096 is asked for
// them), at least `size` long and zeroed; the layout given back to
// `dealloc` and `realloc` is the one they were made with, so whether a
// block is mapped is known from it; everything else is the system's.
unsafe impl GlobalAlloc for Mapped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match mapped(layout) {
            true => pages::map(layout.size()),
            // SAFETY: forwarded as given
            false => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match mapped(layout) {
            // fresh pages are zero: no pass over them
            true => pages::map(layout.size()),
            // SAFETY: forwarded as given
            false => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match mapped(layout) {
            // SAFETY: made by `map` or `remap` with this size (the layout says so)
            true => unsafe { pages::unmap(ptr, layout.size()) },
            // SAFETY: forwarded as given
            false => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the trait's promise: `new_size`, rounded to the alignment, does not overflow
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (mapped(layout), mapped(new)) {
            // SAFETY: a mapping of this module, of `layout.size()` bytes
            (true, true) => unsafe { pages::remap(ptr, layout.size(), new_size) },
            // SAFETY: forwarded as given
            (false, false) => unsafe { System.realloc(ptr, layout, new_size) },
            _ => {
                // SAFETY: `new` is a valid layout of non-zero size
                let moved = unsafe { self.alloc(new) };
                if !moved.is_null() {
                    // SAFETY: both blocks hold at least the smaller size and do not overlap
                    unsafe {
                        std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                moved
            }
        }
    }
}
