//! `wheelfix merge`: fuse an x86_64 and an arm64 macOS wheel into one `universal2` wheel.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::Printer;

/// Arguments of `merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The first wheel (its `WHEEL` file and other metadata are kept).
    #[arg(value_name = "WHEEL1")]
    pub first: PathBuf,
    /// The second wheel, of the same name and version.
    #[arg(value_name = "WHEEL2")]
    pub second: PathBuf,
    /// Directory to write the fused wheel to (default: the directory of the first wheel).
    #[arg(short = 'w', long = "wheel-dir", value_name = "DIR")]
    pub wheel_dir: Option<PathBuf>,
    /// Deflate level 0-9 for new and changed entries.
    #[arg(short = 'z', long = "zip-compression-level", value_name = "N",
          value_parser = clap::value_parser!(u32).range(0..=9))]
    pub zip_level: Option<u32>,
}

/// Runs `merge`; returns the exit code (0 done, 1 cannot fuse, 2 other error).
pub fn run(args: &MergeArgs, printer: &Printer) -> u8 {
    let options = crate::merge::MergeOptions {
        wheel_dir: args.wheel_dir.clone(),
        compression_level: args.zip_level,
        macos_target: std::env::var("MACOSX_DEPLOYMENT_TARGET").ok().filter(|s| !s.is_empty()),
    };
    match crate::merge::merge(&args.first, &args.second, &options) {
        Ok(outcome) => {
            for f in &outcome.fused {
                printer.debug(&format!("fused `{f}`"));
            }
            printer.info(&format!("fused wheel written to `{}`", outcome.output.display()));
            let _ = writeln!(std::io::stdout(), "{}", outcome.output.display());
            0
        }
        Err(e) => {
            printer.error(&e);
            match e {
                crate::error::Error::CannotRepair { .. } => 1,
                _ => 2,
            }
        }
    }
}
