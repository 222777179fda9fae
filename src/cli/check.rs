//! `wheelfix check`: the release gate over a wheelhouse.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{Printer, SearchArgs};

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The wheels of the release: wheel files and directories in any mix (a directory stands
    /// for every `*.whl` directly inside it), e.g. `wheelhouse` or `dist/*.whl`.
    #[arg(required = true, value_name = "WHEEL_OR_DIR")]
    pub inputs: Vec<PathBuf>,
    /// Python tags that must be covered: a comma-separated list and/or ranges (`cp310-cp313`).
    #[arg(long, value_name = "TAGS")]
    pub expect_python: Vec<String>,
    /// Platforms that must be covered, comma-separated: `manylinux_x86_64`, `musllinux_aarch64`,
    /// `macosx_arm64` (universal2 counts), `win_amd64`, `any`, …
    #[arg(long, value_name = "PLATFORMS")]
    pub expect_platform: Vec<String>,
    /// Print a JSON document (schema: `schema/check.schema.json`) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Where libraries are searched for, and what is excluded.
    #[command(flatten)]
    pub search: SearchArgs,
}

/// `--expect-platform` values: comma-separated lists, split and trimmed.
pub fn expand_platforms(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|s| s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect::<Vec<_>>())
        .collect()
}

impl CheckArgs {
    /// The library options these flags mean (ranges and comma-separated lists expanded).
    pub fn options(&self) -> crate::check::CheckOptions {
        crate::check::CheckOptions {
            analyze: self.search.analyze_options(),
            expect_python: self.expect_python.iter().flat_map(|s| crate::check::expand_python_range(s)).collect(),
            expect_platform: expand_platforms(&self.expect_platform),
        }
    }
}

/// Runs `check`; returns the exit code (0 ready to upload, 1 problems, 2 error).
pub fn run(args: &CheckArgs, printer: &Printer) -> u8 {
    let options = args.options();
    for input in &args.inputs {
        if let Some(problem) = super::paths::unreadable_input(input, true) {
            printer.path_problem(&problem);
            return 2;
        }
    }
    match crate::check::check(&args.inputs, &options) {
        Ok(report) => {
            let code = if report.ok() { 0 } else { 1 };
            if args.json {
                let mut out = std::io::stdout().lock();
                let _ = serde_json::to_writer_pretty(&mut out, &report.to_json());
                let _ = writeln!(out);
            } else if !report.ok() {
                let width = report.problems.iter().map(|p| p.wheel.len()).max().unwrap_or(5).max(5);
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{:width$}  PROBLEM", "WHEEL");
                for p in &report.problems {
                    let _ = writeln!(out, "{:width$}  {}", p.wheel, p.what);
                }
            }
            if report.ok() {
                printer.info(&format!("{} wheels checked: ready to upload", report.wheels.len()));
            } else {
                printer.info(&format!(
                    "{} problem(s) in {} wheel(s): do not upload",
                    report.problems.len(),
                    report.wheels.len()
                ));
            }
            code
        }
        Err(e) => {
            printer.error(&e);
            2
        }
    }
}
