//! Command-line interface: clap definitions (their doc comments are the
//! `--help` text) and one function per subcommand. No platform rule lives
//! here: flags become options of the library, results become output.

mod check;
mod merge;
mod repair;
mod show;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Repair Python wheels: bundle external shared libraries and fix the platform tag,
/// for Linux (manylinux/musllinux), macOS and Windows wheels, on any host.
#[derive(Debug, Parser)]
#[command(name = "wheelfix", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Cli {
    /// Print more (repeatable).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "Examples:
  wheelfix show dist/demo-0.1-cp312-cp312-linux_x86_64.whl
  wheelfix repair dist/*.whl -w wheelhouse
  wheelfix repair dist/*.whl -w wheelhouse --plat manylinux_2_28_x86_64 --exclude 'libcuda.so*'";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the dependency tree of every binary, what must be bundled, and the best tag.
    ///
    /// Exit code: 0 when the wheel is fine as it is, 1 when it needs repair or
    /// cannot get a portable tag, 2 on error.
    Show(show::ShowArgs),
    /// Bundle external libraries into the wheel and rewrite its tag.
    Repair(repair::RepairArgs),
    /// Check a wheelhouse before upload: every wheel compliant with its tags, RECORDs verify,
    /// one project version, no tag claimed twice, the expected matrix complete.
    ///
    /// Exit code: 0 ready to upload, 1 problems (listed as a table on stdout), 2 error.
    Check(check::CheckArgs),
    /// Fuse an x86_64 and an arm64 macOS wheel of one release into a `universal2` wheel.
    Merge(merge::MergeArgs),
}

/// Search options shared by `show` and `repair`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Search DIR for libraries before anything else (repeatable; `:` or `;` separated lists
    /// are split). Also spelled `--add-path` (delvewheel) and `--lib-dir` (repairwheel).
    #[arg(long = "lib-path", visible_aliases = ["add-path", "lib-dir"], value_name = "DIR")]
    pub lib_path: Vec<String>,
    /// Root of the target file system, to analyse a wheel for another architecture or libc.
    #[arg(long, value_name = "DIR")]
    pub sysroot: Option<PathBuf>,
    /// Colon-separated directories that replace ld.so.conf and the trusted directories (auditwheel).
    #[arg(long, value_name = "PATHS")]
    pub ldpaths: Option<String>,
    /// A policy file in auditwheel's JSON format, instead of the built-in policies.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Never bundle libraries matching GLOB (soname, install name, DLL name or path); their
    /// own dependencies are not walked (repeatable). Also `-e` (delocate) and `--no-dll` (delvewheel).
    #[arg(long, short = 'e', visible_alias = "no-dll", value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Do not check the x86-64 ISA level (x86-64-v2/v3/v4) of the binaries.
    #[arg(long = "disable-isa-ext-check")]
    pub disable_isa_check: bool,
    /// What `@executable_path` means in Mach-O install names.
    #[arg(long, value_name = "DIR")]
    pub executable_path: Option<PathBuf>,
    /// A pure-Python wheel is not an error: `show` reports it, `repair` copies it.
    #[arg(long)]
    pub allow_pure_python_wheel: bool,
}

impl SearchArgs {
    /// The library options these flags mean.
    pub fn analyze_options(&self) -> wheelfix::AnalyzeOptions {
        wheelfix::AnalyzeOptions {
            lib_path: self
                .lib_path
                .iter()
                .flat_map(|s| s.split([':', ';']).filter(|p| !p.is_empty()).map(PathBuf::from).collect::<Vec<_>>())
                .collect(),
            sysroot: self.sysroot.clone(),
            ld_paths: self.ldpaths.as_ref().map(|s| wheelfix::resolve::split_paths(s)),
            policy_file: self.policy.clone(),
            exclude: self.exclude.clone(),
            disable_isa_check: self.disable_isa_check,
            executable_path: self.executable_path.clone(),
            ..wheelfix::AnalyzeOptions::default()
        }
    }
}

/// Runs the command and returns the exit code.
pub fn run(cli: Cli) -> u8 {
    let printer = Printer { quiet: cli.quiet, verbose: cli.verbose };
    match cli.command {
        Command::Show(args) => show::run(&args, &printer),
        Command::Repair(args) => repair::run(&args, &printer),
        Command::Check(args) => check::run(&args, &printer),
        Command::Merge(args) => merge::run(&args, &printer),
    }
}

/// Where messages go: stderr, filtered by `-q`/`-v`. Data goes to stdout.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    quiet: bool,
    verbose: u8,
}

impl Printer {
    /// An informational message.
    pub fn info(&self, msg: &str) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }

    /// A message shown with `-v`.
    pub fn debug(&self, msg: &str) {
        if self.verbose > 0 && !self.quiet {
            eprintln!("{msg}");
        }
    }

    /// A warning.
    #[allow(dead_code)]
    pub fn warn(&self, msg: &str) {
        if !self.quiet {
            eprintln!("warning: {msg}");
        }
    }

    /// An error, rendered once with its causes and hint.
    pub fn error(&self, err: &wheelfix::Error) {
        let mut s = String::new();
        let _ = wheelfix::error::render(err, err.hint().as_deref(), &mut s);
        eprint!("{s}");
    }
}
