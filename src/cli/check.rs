//! `wheelfix check`: the release gate over a wheelhouse.

use std::path::PathBuf;

use clap::Args;

use super::{Printer, SearchArgs};

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The directory holding every wheel of the release.
    #[arg(value_name = "WHEELHOUSE")]
    pub dir: PathBuf,
    /// Python tags that must be covered: a comma-separated list and/or ranges (`cp310-cp313`).
    #[arg(long, value_name = "TAGS")]
    pub expect_python: Vec<String>,
    /// Platforms that must be covered, comma-separated: `manylinux_x86_64`, `musllinux_aarch64`,
    /// `macosx_arm64` (universal2 counts), `win_amd64`, `any`, …
    #[arg(long, value_name = "PLATFORMS")]
    pub expect_platform: Vec<String>,
    /// Where libraries are searched for, and what is excluded.
    #[command(flatten)]
    pub search: SearchArgs,
}

/// Runs `check`; returns the exit code (0 ready to upload, 1 problems, 2 error).
pub fn run(args: &CheckArgs, printer: &Printer) -> u8 {
    let options = crate::check::CheckOptions {
        analyze: args.search.analyze_options(),
        expect_python: args.expect_python.iter().flat_map(|s| crate::check::expand_python_range(s)).collect(),
        expect_platform: args
            .expect_platform
            .iter()
            .flat_map(|s| s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect::<Vec<_>>())
            .collect(),
    };
    match crate::check::check(&args.dir, &options) {
        Ok(report) => {
            if report.ok() {
                printer.info(&format!("{} wheels checked: ready to upload", report.wheels.len()));
                return 0;
            }
            let width = report.problems.iter().map(|p| p.wheel.len()).max().unwrap_or(5).max(5);
            println!("{:width$}  PROBLEM", "WHEEL");
            for p in &report.problems {
                println!("{:width$}  {}", p.wheel, p.what);
            }
            printer.info(&format!(
                "{} problem(s) in {} wheel(s): do not upload",
                report.problems.len(),
                report.wheels.len()
            ));
            1
        }
        Err(e) => {
            printer.error(&e);
            2
        }
    }
}
