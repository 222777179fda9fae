//! Linker-style ad-hoc code signature for Mach-O slices (SHA-256, 4 KiB pages).
