//! `wheelfix repair`.

use std::path::PathBuf;

use clap::Args;

use super::{Printer, SearchArgs};

/// Arguments of `repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The wheels to repair.
    #[arg(required = true, value_name = "WHEEL")]
    pub wheels: Vec<PathBuf>,
    /// Directory to write the repaired wheels to.
    #[arg(short = 'w', long = "wheel-dir", value_name = "DIR", default_value = "wheelhouse")]
    pub wheel_dir: PathBuf,
    #[command(flatten)]
    pub search: SearchArgs,
}

/// Runs `repair`; returns the exit code.
pub fn run(args: &RepairArgs, printer: &Printer) -> u8 {
    let _ = (args, printer);
    2
}
