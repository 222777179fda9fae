//! `wheelfix show`.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{Printer, SearchArgs};

/// Arguments of `show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The wheels to analyse.
    #[arg(required = true, value_name = "WHEEL")]
    pub wheels: Vec<PathBuf>,
    /// Print a JSON document (schema: `schema/show.schema.json`) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Read every entry whole and check it against its CRC-32 and RECORD, as
    /// `check` and `repair` do. Without it, deflated ELF files of 32 MiB or
    /// more are read only where the report needs: their start and their end.
    #[arg(long)]
    pub verify: bool,
    /// Where libraries are searched for, and what is excluded.
    #[command(flatten)]
    pub search: SearchArgs,
}

/// Runs `show`; returns the exit code.
pub fn run(args: &ShowArgs, printer: &Printer) -> u8 {
    let mut options = args.search.analyze_options();
    if !args.verify {
        options.reading = crate::analyze::Reading::Skim;
    }
    let mut code = 0u8;
    let mut docs = Vec::new();
    let stdout = std::io::stdout();
    for path in &args.wheels {
        if let Some(problem) = super::paths::unreadable_input(path, false) {
            printer.path_problem(&problem);
            if args.json {
                docs.push(crate::report::error_json(path, &problem.0));
            }
            code = 2;
            continue;
        }
        match crate::analyze(path, &options) {
            Ok(a) => {
                if a.is_pure() && !args.search.allow_pure_python_wheel {
                    printer.info(&format!(
                        "`{}` is a pure Python wheel: no ELF, Mach-O or PE binary found",
                        path.display()
                    ));
                    code = code.max(1);
                }
                if crate::report::needs_repair(&a) || !a.audit.is_empty() {
                    code = code.max(1);
                }
                if args.json {
                    docs.push(crate::report::to_json(&a));
                } else {
                    let mut out = stdout.lock();
                    if crate::report::write_text(&a, &mut out).is_err() {
                        // a closed stdout (e.g. `| head`) ends the output quietly
                        return code;
                    }
                    let _ = writeln!(out);
                }
            }
            Err(e) => {
                printer.error(&e);
                if args.json {
                    docs.push(crate::report::error_json(path, &e));
                }
                code = 2;
            }
        }
    }
    if args.json {
        let value = crate::report::show_document(docs);
        let mut out = stdout.lock();
        let _ = serde_json::to_writer_pretty(&mut out, &value);
        let _ = writeln!(out);
    }
    code
}
