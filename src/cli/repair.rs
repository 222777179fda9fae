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
    /// Linux: the platform tag to repair to (e.g. `manylinux_2_28_x86_64`, `manylinux2014_x86_64`),
    /// or `auto` for the best one the wheel can get.
    #[arg(long, env = "AUDITWHEEL_PLAT", value_name = "PLATFORM", default_value = "auto")]
    pub plat: String,
    /// Linux: do not add a higher-priority tag the wheel is also eligible for.
    #[arg(long)]
    pub only_plat: bool,
    /// Name of the bundled-library directory: a suffix to the distribution name on Linux and
    /// Windows (`.libs`), a sub-directory of the package on macOS (`.dylibs`).
    #[arg(short = 'L', long = "lib-sdir", value_name = "NAME")]
    pub lib_sdir: Option<String>,
    /// Remove symbol tables and debug information from every binary, before patching.
    #[arg(long)]
    pub strip: bool,
    /// Deflate level 0-9 for new and changed entries (unchanged entries are copied as they are).
    #[arg(short = 'z', long = "zip-compression-level", env = "AUDITWHEEL_ZIP_COMPRESSION_LEVEL", value_name = "N",
          value_parser = clap::value_parser!(u32).range(0..=9))]
    pub zip_level: Option<u32>,
    /// Keep RPATH/RUNPATH entries that point outside the wheel (they are removed by default).
    #[arg(long)]
    pub keep_rpaths: bool,
    /// Keep the file name and `WHEEL` tags as they are.
    #[arg(long)]
    pub no_update_tags: bool,
    /// macOS: architectures every binary must have: `intel`, `universal2`, `x86_64`, `arm64`,
    /// or a comma-separated list (delocate).
    #[arg(long, value_name = "ARCHS")]
    pub require_archs: Option<String>,
    /// macOS: go on when a dependency cannot be found (delocate).
    #[arg(long)]
    pub ignore_missing_dependencies: bool,
    /// macOS: keep LC_RPATH entries that are not `@loader_path/…` or `@executable_path/…`.
    #[arg(long)]
    pub no_sanitize_rpaths: bool,
    /// Windows: bundle DLLs matching GLOB under their own names (repeatable; delvewheel).
    #[arg(long, value_name = "GLOB")]
    pub no_mangle: Vec<String>,
    /// Windows: bundle every DLL under its own name (delvewheel).
    #[arg(long)]
    pub no_mangle_all: bool,
    /// Windows: bundle this DLL even though nothing imports it (repeatable; delvewheel's
    /// `--include`/`--add-dll`).
    #[arg(long, visible_alias = "add-dll", value_name = "PATH")]
    pub include: Vec<PathBuf>,
    /// Windows: a namespace package (dotted name) whose `__init__.py` must not be created
    /// (repeatable; delvewheel).
    #[arg(long, value_name = "PKG")]
    pub namespace_pkg: Vec<String>,
    /// Number of threads (default: all cores).
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub search: SearchArgs,
}

/// Runs `repair`; returns the exit code.
pub fn run(args: &RepairArgs, printer: &Printer) -> u8 {
    if let Some(j) = args.jobs {
        let _ = rayon::ThreadPoolBuilder::new().num_threads(j.max(1)).build_global();
    }
    let mut options = wheelfix::RepairOptions {
        analyze: args.search.analyze_options(),
        wheel_dir: args.wheel_dir.clone(),
        plat: Some(args.plat.clone()),
        only_plat: args.only_plat,
        lib_sdir: args.lib_sdir.clone(),
        strip: args.strip,
        allow_pure: args.search.allow_pure_python_wheel,
        compression_level: args.zip_level,
        keep_rpaths: args.keep_rpaths,
        update_tags: !args.no_update_tags,
        require_archs: args.require_archs.clone(),
        ignore_missing: args.ignore_missing_dependencies,
        sanitize_rpaths: !args.no_sanitize_rpaths,
        no_mangle: args.no_mangle.clone(),
        no_mangle_all: args.no_mangle_all,
        include: args.include.clone(),
        namespace_pkgs: args
            .namespace_pkg
            .iter()
            .flat_map(|s| s.split(',').map(str::to_string).collect::<Vec<_>>())
            .collect(),
    };
    options.analyze.verify_record = true;
    let mut code = 0u8;
    for wheel in &args.wheels {
        printer.debug(&format!("repairing `{}`", wheel.display()));
        match wheelfix::repair(wheel, &options) {
            Ok(outcome) => {
                for m in &outcome.messages {
                    printer.info(m);
                }
                for (src, dest) in &outcome.bundled {
                    printer.debug(&format!("bundled `{}` as `{dest}`", src.display()));
                }
                if outcome.unchanged {
                    printer.info(&format!("`{}`: nothing to change, copied as it is", wheel.display()));
                }
                printer.info(&format!("fixed wheel written to `{}`", outcome.output.display()));
                println!("{}", outcome.output.display());
            }
            Err(e) => {
                printer.error(&e);
                let c = match e {
                    wheelfix::Error::CannotRepair { .. } | wheelfix::Error::MissingLibrary { .. } => 1,
                    _ => 2,
                };
                code = code.max(c);
            }
        }
    }
    code
}
