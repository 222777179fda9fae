//! The `wheelfix` command: everything lives in [`wheelfix::cli`], so the
//! Python package can run the same command in-process.

use std::process::ExitCode;

/// Every block of 128 KiB or more is mapped on its own and unmapped when
/// freed ([`wheelfix::alloc`]): a repair that reads its bundled libraries a
/// window at a time holds one window, not all of them.
#[global_allocator]
static ALLOCATOR: wheelfix::alloc::Mapped = wheelfix::alloc::Mapped;

fn main() -> ExitCode {
    // a mapped input truncated by another process: one line and exit 2, not a crash
    wheelfix::sigbus::install();
    ExitCode::from(wheelfix::cli::main(std::env::args_os()))
}
