//! Command-line interface: clap definitions (their doc comments are the
//! `--help` text) and one function per subcommand. No platform rule lives
//! here: flags become options of the library, results become output.
//!
//! It is part of the library so that the Python package can run the very
//! same command in-process ([`main`]); the `wheelfix` binary is a one-line
//! call to it.
//!
//! Output habits: data (reports, JSON, written paths) goes to stdout,
//! messages to stderr through [`Printer`] (`-q` keeps only errors, `-v` adds
//! detail). Colour is used on stderr when it is a terminal, never when
//! `NO_COLOR` is set, and every message reads the same without it.
//!
//! Each subcommand is a thin layer over one library call; a publisher tool
//! can make the same calls (the Python package does, in `python/src/lib.rs`):
//!
//! ```
//! use std::path::Path;
//!
//! let wheel = Path::new("fixtures/demo/demo-0.1-cp311-cp311-linux_x86_64.whl");
//! let analyze = wheelfix::AnalyzeOptions { lib_path: vec!["fixtures/demo/lib".into()], ..Default::default() };
//!
//! // `wheelfix show`
//! let analysis = wheelfix::analyze(wheel, &analyze)?;
//! assert!(wheelfix::report::needs_repair(&analysis));
//!
//! // `wheelfix repair -w DIR`
//! let dir = tempfile::tempdir().map_err(|e| wheelfix::Error::io("tempdir", e))?;
//! let apply = wheelfix::ApplyOptions { wheel_dir: dir.path().into(), ..Default::default() };
//! let options = wheelfix::RepairOptions { analyze: analyze.clone(), apply, ..Default::default() };
//! let fixed = wheelfix::repair(wheel, &options)?;
//! assert!(fixed.output.file_name().unwrap().to_str().unwrap().contains("manylinux"));
//!
//! // `wheelfix check DIR --expect-python cp311`: the repaired wheel is ready to upload
//! let gate = wheelfix::check::check(
//!     &[dir.path()],
//!     &wheelfix::check::CheckOptions { analyze, expect_python: vec!["cp311".into()], ..Default::default() },
//! )?;
//! assert!(gate.ok(), "{:?}", gate.problems);
//! assert_eq!(gate.wheels.len(), 1);
//!
//! // or the command itself, in-process: `wheelfix --version` exits 0
//! assert_eq!(wheelfix::cli::main(["wheelfix", "--version"]), 0);
//! # Ok::<(), wheelfix::Error>(())
//! ```

mod check;
mod lddtree;
mod merge;
pub mod paths;
pub mod platform_flags;
mod repair;
mod show;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

pub use check::CheckArgs;
pub use merge::MergeArgs;
pub use repair::RepairArgs;
pub use show::ShowArgs;

/// Repair Python wheels: bundle external shared libraries and fix the platform tag,
/// for Linux (manylinux/musllinux), macOS and Windows wheels, on any host.
#[derive(Debug, Parser)]
#[command(name = "wheelfix", version, propagate_version = true, about, long_about = None, after_help = EXAMPLES)]
pub struct Cli {
    /// Print more: every library bundled, binary patched and entry re-compressed (`-vv` is `-v`).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// When to colour messages: `auto` (stderr is a terminal and `NO_COLOR` is not set), `always`, `never`.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "Examples:
  wheelfix show dist/demo-0.1-cp312-cp312-linux_x86_64.whl
  wheelfix repair dist/*.whl -w wheelhouse
  wheelfix repair dist/*.whl -w wheelhouse --plat manylinux_2_28_x86_64 --exclude 'libcuda.so*'
  wheelfix repair dist/*.whl -w wheelhouse --add-path C:/deps/bin        (a Windows wheel)
  wheelfix check wheelhouse --expect-python cp310-cp313
  wheelfix completions bash > /etc/bash_completion.d/wheelfix
  wheelfix man --all /usr/local/share/man/man1";

const REPAIR_EXAMPLES: &str = "Examples:
  wheelfix repair dist/*.whl -w wheelhouse
  wheelfix repair demo-0.1-cp312-cp312-linux_x86_64.whl --plat manylinux_2_28_x86_64 --lib-path build/lib
  wheelfix repair demo-0.1-cp312-cp312-macosx_11_0_arm64.whl --require-archs arm64 -w dist
  wheelfix repair demo-0.1-cp312-cp312-win_amd64.whl --add-path deps/bin --no-mangle 'vcruntime*'
cibuildwheel, on every platform:
  repair-wheel-command = \"wheelfix repair -w {dest_dir} {wheel}\"";

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when stderr is a terminal and `NO_COLOR` is not set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the dependency tree of every binary, what must be bundled, and the best tag.
    ///
    /// Also what no repair fixes, whatever the tag (`problem:`): in an `abi3`/`abi3t` wheel,
    /// each Python symbol an extension uses outside the Stable ABI of the version its tag names
    /// (or added later), a version-specific suffix, an import from `python3X.dll`; a Linux
    /// shared library that needs an executable stack (glibc 2.41+ refuses to dlopen it). Link
    /// lint (`link:`): a `.gnu.version_r` entry no DT_NEEDED names, an RPATH/RUNPATH/LC_RPATH
    /// that is absolute, relative to the working directory or climbs above site-packages, a
    /// Mach-O install name outside the wheel and the system. A bundled OpenMP runtime is a
    /// `warning:` (two in one process crash it).
    ///
    /// Exit code: 0 when the wheel is fine as it is, 1 when it needs repair, cannot get
    /// a portable tag or has a `problem:`, 2 on error.
    #[command(
        after_help = "Examples:\n  wheelfix show dist/*.whl\n  wheelfix show --json demo.whl | jq .wheels[0].linux"
    )]
    Show(show::ShowArgs),
    /// Bundle external libraries into the wheel and rewrite its tag.
    #[command(after_help = REPAIR_EXAMPLES)]
    Repair(Box<repair::RepairArgs>),
    /// Check a wheelhouse before upload: every wheel compliant with its tags, RECORDs verify,
    /// one project version, no tag claimed twice, the expected matrix complete.
    ///
    /// Every `problem:` and `link:` finding of `show` (Stable ABI violations, executable
    /// stacks, link lint) is a problem, one row naming the file.
    ///
    /// Exit code: 0 ready to upload, 1 problems (listed as a table on stdout), 2 error.
    Check(check::CheckArgs),
    /// Fuse an x86_64 and an arm64 macOS wheel of one release into a `universal2` wheel.
    Merge(merge::MergeArgs),
    /// Show the libraries one ELF file needs, as a tree (auditwheel's `lddtree`).
    ///
    /// Exit code: 0 every library found, 1 one is missing, 2 error.
    #[command(after_help = "Examples:\n  wheelfix lddtree build/lib/demo/_native.so\n  \
                            wheelfix lddtree --json --lib-path build/lib demo/_native.so")]
    Lddtree(lddtree::LddtreeArgs),
    /// Print a shell completion script to stdout.
    #[command(
        after_help = "Examples:\n  wheelfix completions bash > ~/.local/share/bash-completion/completions/wheelfix\n  \
                            wheelfix completions zsh > ~/.zfunc/_wheelfix"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff) to stdout: `wheelfix`'s, or a subcommand's (`wheelfix-repair`);
    /// or write them all into a directory with `--all DIR`.
    #[command(after_help = "Examples:\n  wheelfix man | man -l -\n  wheelfix man repair | man -l -\n  \
                            wheelfix man --all ~/.local/share/man/man1")]
    Man(ManArgs),
}

/// Arguments of `man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The subcommand whose page to print (default: the page of `wheelfix` itself).
    #[arg(value_name = "SUBCOMMAND", conflicts_with = "all")]
    pub subcommand: Option<String>,
    /// Write every page (`wheelfix.1`, `wheelfix-show.1`, …) into DIR instead.
    #[arg(long, value_name = "DIR")]
    pub all: Option<PathBuf>,
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
    /// own dependencies are not walked (repeatable; `:` separated lists are split, as
    /// delvewheel). Also `-e` (delocate) and `--no-dll` (delvewheel).
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
    /// A site-packages directory whose installed distributions provide libraries (CUDA, MKL…):
    /// a library one of them ships is linked there, not bundled, and the wheel requires it
    /// (repeatable; `:` or `;` separated lists are split).
    #[arg(long, env = "WHEELFIX_SITE_PACKAGES", value_name = "DIR")]
    pub site_packages: Vec<String>,
    /// Windows: a DLL anywhere in the wheel satisfies an import of its name, and is neither
    /// copied nor renamed (delvewheel); without it, only one beside the importing module does.
    #[arg(long, visible_alias = "ignore-in-wheel")]
    pub ignore_existing: bool,
    /// Windows: also bundle what the wheel's own DLLs need, DLLs no extension loads
    /// included (delvewheel).
    #[arg(long)]
    pub analyze_existing: bool,
    /// Windows: accepted for delvewheel's sake; the dependencies of the wheel's EXEs are
    /// always bundled.
    #[arg(long)]
    pub analyze_existing_exes: bool,
}

impl SearchArgs {
    /// The library options these flags mean.
    pub fn analyze_options(&self) -> crate::AnalyzeOptions {
        crate::AnalyzeOptions {
            lib_path: self
                .lib_path
                .iter()
                .flat_map(|s| split_paths(s).into_iter().map(PathBuf::from).collect::<Vec<_>>())
                .collect(),
            sysroot: self.sysroot.clone(),
            ld_paths: self.ldpaths.as_ref().map(|s| crate::resolve::split_paths(s)),
            policy_file: self.policy.clone(),
            exclude: self.exclude.iter().flat_map(|s| split_list(s)).collect(),
            disable_isa_check: self.disable_isa_check,
            executable_path: self.executable_path.clone(),
            site_packages: self.site_packages.iter().flat_map(|s| split_paths(s)).map(PathBuf::from).collect(),
            pe_find_in_wheel: self.ignore_existing,
            pe_analyze_dlls: self.analyze_existing,
            ..crate::AnalyzeOptions::default()
        }
    }
}

/// Splits a `:`/`;` separated list, keeping Windows drive letters (`C:\x`, `C:/x`) whole.
pub fn split_paths(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in s.split(';') {
        let mut pending: Option<String> = None;
        for piece in part.split(':') {
            if let Some(drive) = pending.take() {
                out.push(format!("{drive}:{piece}"));
                continue;
            }
            let next_is_path = piece.len() == 1 && piece.as_bytes()[0].is_ascii_alphabetic();
            if next_is_path {
                pending = Some(piece.to_string());
            } else if !piece.is_empty() {
                out.push(piece.to_string());
            }
        }
        if let Some(p) = pending {
            out.push(p);
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

/// Splits a `:` or `,` separated list of names or globs (delvewheel's lists).
pub fn split_list(s: &str) -> Vec<String> {
    s.split([':', ',']).map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect()
}

/// Runs the `wheelfix` command with these arguments (the first is the
/// program name) and returns the exit code: 0 fine, 1 needs repair / not
/// compliant, 2 error (also for a usage error). `--help` and `--version`
/// print and return 0.
pub fn main<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    crate::timing::init();
    match Cli::try_parse_from(args) {
        Ok(cli) => run(cli),
        Err(e) => {
            let _ = e.print();
            if e.use_stderr() {
                2
            } else {
                0
            }
        }
    }
}

/// Runs the command and returns the exit code.
pub fn run(cli: Cli) -> u8 {
    let color = use_color(cli.color, std::io::stderr().is_terminal(), |k| std::env::var_os(k));
    let printer = Printer::new(cli.quiet, cli.verbose, color);
    match cli.command {
        Command::Show(args) => show::run(&args, &printer),
        Command::Repair(args) => repair::run(&args, &printer),
        Command::Check(args) => check::run(&args, &printer),
        Command::Merge(args) => merge::run(&args, &printer),
        Command::Lddtree(args) => lddtree::run(&args, &printer),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            // written whole, so that a closed pipe (`| head`) ends it quietly
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "wheelfix", &mut script);
            write_stdout(&script, &printer)
        }
        Command::Man(args) => man(&args, &printer),
    }
}

/// `wheelfix man`: one page to stdout, or every page into a directory.
fn man(args: &ManArgs, printer: &Printer) -> u8 {
    // built as the pages name each other: `wheelfix-repair`, no `help` subcommand
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    if let Some(dir) = &args.all {
        if let Some(problem) = paths::unusable_output_dir(dir) {
            printer.path_problem(&problem);
            return 2;
        }
        let written = std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(cmd, dir));
        return match written {
            Ok(()) => {
                printer.info(&format!("man pages written to `{}`", dir.display()));
                0
            }
            Err(e) => {
                printer.error(&crate::error::Error::io(dir, e));
                2
            }
        };
    }
    let page = match &args.subcommand {
        None => cmd,
        Some(name) => match cmd.find_subcommand(name) {
            Some(sub) => sub.clone(),
            None => {
                let names: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
                printer.error_with_hint(
                    &crate::error::Error::Usage(format!("no subcommand `{name}`")),
                    &format!("the subcommands are {}", names.join(", ")),
                );
                return 2;
            }
        },
    };
    let mut roff = Vec::new();
    match clap_mangen::Man::new(page).render(&mut roff) {
        Ok(()) => write_stdout(&roff, printer),
        Err(e) => {
            printer.error(&crate::error::Error::io("<stdout>", e));
            2
        }
    }
}

/// Writes `bytes` to stdout: 0, also when the reader went away (`| head`), 2 on another error.
fn write_stdout(bytes: &[u8], printer: &Printer) -> u8 {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            printer.error(&crate::error::Error::io("<stdout>", e));
            2
        }
    }
}

/// Whether messages are coloured: `--color`, then `NO_COLOR` (set and not
/// empty: never), `CLICOLOR_FORCE` (always), `TERM=dumb` (never), and
/// whether stderr is a terminal.
pub fn use_color(choice: ColorChoice, stderr_is_tty: bool, env: impl Fn(&str) -> Option<OsString>) -> bool {
    let set = |k: &str| env(k).is_some_and(|v| !v.is_empty());
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            if set("NO_COLOR") {
                false
            } else if set("CLICOLOR_FORCE") {
                true
            } else {
                stderr_is_tty && env("TERM").is_none_or(|t| t != "dumb")
            }
        }
    }
}

/// Where messages go: stderr, filtered by `-q`/`-v`, coloured or not, with
/// an optional one-line progress indicator. Data goes to stdout.
#[derive(Debug)]
pub struct Printer {
    quiet: bool,
    verbose: u8,
    color: bool,
    /// Whether a progress line is on screen (it is cleared before a message).
    progress_shown: AtomicBool,
}

const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const CYAN: &str = "\x1b[36m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

impl Printer {
    /// A printer; `color` says whether ANSI colours are used.
    pub fn new(quiet: bool, verbose: u8, color: bool) -> Printer {
        Printer { quiet, verbose, color, progress_shown: AtomicBool::new(false) }
    }

    fn paint(&self, style: &str, text: &str) -> String {
        if self.color {
            format!("{style}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    fn emit(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        if self.progress_shown.swap(false, Ordering::Relaxed) {
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = err.write_all(text.as_bytes());
    }

    /// An informational message.
    pub fn info(&self, msg: &str) {
        if !self.quiet {
            self.emit(&format!("{msg}\n"));
        }
    }

    /// A message shown with `-v`.
    pub fn debug(&self, msg: &str) {
        if self.verbose > 0 && !self.quiet {
            self.emit(&format!("{}\n", self.paint(DIM, msg)));
        }
    }

    /// A warning.
    pub fn warn(&self, msg: &str) {
        if !self.quiet {
            self.emit(&format!("{} {msg}\n", self.paint(YELLOW, "warning:")));
        }
    }

    /// An error, rendered once with its causes and hint.
    pub fn error(&self, err: &crate::error::Error) {
        let mut s = String::new();
        let _ = crate::error::render(err, err.hint().as_deref(), &mut s);
        self.emit(&self.paint_prefixes(&s));
    }

    /// An error with a hint of the caller's.
    pub fn error_with_hint(&self, err: &crate::error::Error, hint: &str) {
        let mut s = String::new();
        let _ = crate::error::render(err, Some(hint), &mut s);
        self.emit(&self.paint_prefixes(&s));
    }

    /// A problem with a path given on the command line (see [`paths`]).
    pub fn path_problem(&self, (err, hint): &paths::PathProblem) {
        match hint {
            Some(h) => self.error_with_hint(err, h),
            None => self.error(err),
        }
    }

    /// Colours the `error:`, `caused by:` and `hint:` prefixes of rendered text.
    fn paint_prefixes(&self, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        let mut out = String::new();
        for line in text.split_inclusive('\n') {
            let painted = [("error:", RED), ("caused by:", YELLOW), ("hint:", CYAN)]
                .iter()
                .find_map(|(p, style)| line.strip_prefix(p).map(|rest| format!("{}{rest}", self.paint(style, p))));
            out.push_str(&painted.unwrap_or_else(|| line.to_string()));
        }
        out
    }

    /// Whether a progress indicator is shown for `total` items: more than one,
    /// not `-q`, and stderr is a terminal.
    pub fn progress_enabled(&self, total: usize) -> bool {
        total > 1 && !self.quiet && std::io::stderr().is_terminal()
    }

    /// Shows `[i/total] what` on one line of the terminal, replaced by the next call
    /// or cleared before the next message.
    pub fn progress(&self, i: usize, total: usize, what: &str) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{} {what}", self.paint(CYAN, &format!("[{i}/{total}]")));
        let _ = err.flush();
        self.progress_shown.store(true, Ordering::Relaxed);
    }

    /// Clears the progress line, if any.
    pub fn finish_progress(&self) {
        if self.progress_shown.swap(false, Ordering::Relaxed) {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_rules() {
        let none = |_: &str| None;
        assert!(use_color(ColorChoice::Auto, true, none));
        assert!(!use_color(ColorChoice::Auto, false, none));
        let no_color = |k: &str| (k == "NO_COLOR").then(|| OsString::from("1"));
        assert!(!use_color(ColorChoice::Auto, true, no_color));
        assert!(use_color(ColorChoice::Always, false, no_color));
        let empty_no_color = |k: &str| (k == "NO_COLOR").then(OsString::new);
        assert!(use_color(ColorChoice::Auto, true, empty_no_color), "an empty NO_COLOR does not count");
        let dumb = |k: &str| (k == "TERM").then(|| OsString::from("dumb"));
        assert!(!use_color(ColorChoice::Auto, true, dumb));
        let force = |k: &str| (k == "CLICOLOR_FORCE").then(|| OsString::from("1"));
        assert!(use_color(ColorChoice::Auto, false, force));
        assert!(!use_color(ColorChoice::Never, true, force));
    }

    #[test]
    fn lists_split() {
        assert_eq!(split_paths("/a:/b;C:\\x;D:/y:/c"), ["/a", "/b", "C:\\x", "D:/y", "/c"]);
        assert_eq!(split_paths("::"), Vec::<String>::new());
        assert_eq!(split_list("libfoo*:libbar.dll, x"), ["libfoo*", "libbar.dll", "x"]);
    }

    #[test]
    fn prefixes_painted_only_with_color() {
        let text = "error: bad `x.whl`\nhint: do y\n";
        assert_eq!(Printer::new(false, 0, false).paint_prefixes(text), text);
        let painted = Printer::new(false, 0, true).paint_prefixes(text);
        assert_eq!(painted, format!("{RED}error:{RESET} bad `x.whl`\n{CYAN}hint:{RESET} do y\n"));
    }

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }
}
