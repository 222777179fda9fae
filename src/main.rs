//! The `wheelfix` command: everything lives in [`wheelfix::cli`], so the
//! Python package can run the same command in-process.

use std::process::ExitCode;

fn main() -> ExitCode {
    // a mapped input truncated by another process: one line and exit 2, not a crash
    wheelfix::sigbus::install();
    large_blocks_mapped();
    ExitCode::from(wheelfix::cli::main(std::env::args_os()))
}

/// Every block of 128 KiB or more is mapped on its own and unmapped when
/// freed. By default glibc raises that threshold (up to 32 MiB) each time a
/// large block is freed, and keeps later ones in its heaps once freed: a
/// repair that reads its bundled libraries a window at a time would then
/// hold all of them (peak RSS 133 MiB against 87 MiB on a wheel with
/// 150 MiB of libraries). Fixing the threshold turns the adjustment off.
fn large_blocks_mapped() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; nothing is allocated yet on another thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
    }
}
