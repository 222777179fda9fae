//! The `wheelfix` command: everything lives in [`wheelfix::cli`], so the
//! Python package can run the same command in-process.

use std::process::ExitCode;

fn main() -> ExitCode {
    // a mapped input truncated by another process: one line and exit 2, not a crash
    wheelfix::sigbus::install();
    ExitCode::from(wheelfix::cli::main(std::env::args_os()))
}
