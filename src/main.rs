//! The `wheelfix` command: everything lives in [`wheelfix::cli`], so the
//! Python package can run the same command in-process.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(wheelfix::cli::main(std::env::args_os()))
}
