//! The `wheelfix` command: parses the command line, runs one subcommand,
//! prints errors once and turns the outcome into an exit code
//! (0 fine, 1 needs repair / not compliant, 2 error).

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = <cli::Cli as clap::Parser>::parse();
    ExitCode::from(cli::run(args))
}
