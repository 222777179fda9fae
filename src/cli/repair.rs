//! `wheelfix repair`.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{split_list, split_paths, Printer, SearchArgs};

/// Arguments of `repair`: every flag of `auditwheel repair`, `delocate-wheel` and
/// `delvewheel repair` is accepted under its own spelling (see `docs/ci.md`).
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
    /// Do not copy the licence files of the OS packages (dpkg, rpm, apk, Homebrew, vcpkg) that
    /// own bundled libraries into `<dist-info>/licenses/` (see `docs/licenses.md`).
    #[arg(long)]
    pub no_licenses: bool,
    /// Do not add `Requires-Dist` for a distribution that provides a linked library
    /// (`--site-packages`): a missing requirement is then an error that prints the line to add.
    #[arg(long)]
    pub no_add_requires: bool,
    /// Write the wheel although an extension of an `abi3`/`abi3t` wheel uses Python symbols
    /// outside the Stable ABI of the version its tag names (or has a version-specific suffix);
    /// refused by default.
    #[arg(long)]
    pub allow_abi3_violations: bool,
    /// Linux: write the wheel although a shared library needs an executable stack (no
    /// PT_GNU_STACK, or PF_X on it), which glibc 2.41 and later refuse to dlopen; refused by
    /// default.
    #[arg(long)]
    pub allow_exec_stack: bool,
    /// macOS: architectures every binary must have: `intel`, `universal2`, `x86_64`, `arm64`,
    /// or a comma-separated list (delocate).
    #[arg(long, value_name = "ARCHS")]
    pub require_archs: Option<String>,
    /// macOS: go on when a dependency cannot be found (delocate).
    #[arg(long)]
    pub ignore_missing_dependencies: bool,
    /// macOS: keep LC_RPATH entries that are not `@loader_path/…` or `@executable_path/…`.
    #[arg(long, overrides_with = "sanitize_rpaths")]
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
    /// auditwheel's ELF patcher choice: wheelfix rewrites ELF files natively, so only
    /// `patchelf` is accepted, and nothing is run.
    #[arg(long, value_name = "PATCHER", value_parser = ["patchelf"])]
    pub patcher: Option<String>,
    /// macOS: check that every copied library has the architectures of the binaries that
    /// load it (delocate's `-k`; always done with `--require-archs`).
    #[arg(short = 'k', long)]
    pub check_archs: bool,
    /// macOS: the deployment target to check and tag with (delocate's deprecated spelling of
    /// `MACOSX_DEPLOYMENT_TARGET`, which it overrides).
    #[arg(long, value_name = "VERSION")]
    pub require_target_macos_version: Option<String>,
    /// macOS: remove LC_RPATH entries that are not `@loader_path/…` or `@executable_path/…`
    /// (the default; delocate).
    #[arg(long, overrides_with = "no_sanitize_rpaths")]
    pub sanitize_rpaths: bool,
    /// delocate's `-d/--dylibs-only`: not supported (wheelfix analyses every Mach-O file of the
    /// wheel); given, it is an error rather than ignored.
    #[arg(short = 'd', long, hide_short_help = true)]
    pub dylibs_only: bool,
    /// delvewheel options wheelfix does not support (an error rather than ignored):
    /// `--with-mangle`, `--custom-patch`, `--include-symbols`, `--include-imports`.
    #[command(flatten)]
    pub unsupported: UnsupportedArgs,
    /// Number of threads, and of wheels repaired at once (default: all cores).
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Where libraries are searched for, and what is excluded.
    #[command(flatten)]
    pub search: SearchArgs,
}

/// delvewheel flags that wheelfix accepts only to refuse them by name.
#[derive(Debug, Default, Args)]
pub struct UnsupportedArgs {
    /// Not supported (delvewheel): mangle direct dependencies of DLLs already in the wheel.
    #[arg(long, hide = true)]
    pub with_mangle: bool,
    /// Not supported (delvewheel): choose where the DLL search path patch goes.
    #[arg(long, hide = true)]
    pub custom_patch: bool,
    /// Not supported (delvewheel): bundle `.pdb` files with the DLLs.
    #[arg(long, hide = true)]
    pub include_symbols: bool,
    /// Not supported (delvewheel): bundle `.lib` import libraries with the DLLs.
    #[arg(long, hide = true)]
    pub include_imports: bool,
}

/// The architecture names `--require-archs` takes (delocate's).
pub const REQUIRE_ARCHS: [&str; 5] = ["intel", "universal2", "x86_64", "arm64", "i386"];

impl RepairArgs {
    /// A value no flag can take (an unknown `--require-archs` name), as an error.
    pub fn invalid(&self) -> Option<crate::error::Error> {
        let spec = self.require_archs.as_deref()?;
        let parts: Vec<&str> = spec.split(',').map(str::trim).collect();
        let bad = parts.iter().find(|p| !REQUIRE_ARCHS.contains(p))?;
        Some(crate::error::Error::Usage(format!(
            "`--require-archs {spec}`: unknown architecture `{bad}`; expected {} or a comma-separated list of them",
            REQUIRE_ARCHS.join(", ")
        )))
    }

    /// The first flag given that wheelfix accepts only to refuse.
    pub fn unsupported_flag(&self) -> Option<&'static str> {
        let u = &self.unsupported;
        [
            (self.dylibs_only, "--dylibs-only"),
            (u.with_mangle, "--with-mangle"),
            (u.custom_patch, "--custom-patch"),
            (u.include_symbols, "--include-symbols"),
            (u.include_imports, "--include-imports"),
        ]
        .into_iter()
        .find_map(|(on, name)| on.then_some(name))
    }
}

impl RepairArgs {
    /// The library options these flags mean (the Python package builds the
    /// same struct, so a keyword argument means what its flag means).
    pub fn options(&self) -> crate::RepairOptions {
        let args = self;
        let mut options = crate::RepairOptions {
            analyze: args.search.analyze_options(),
            plan: crate::plan::PlanOptions {
                lib_sdir: args.lib_sdir.clone(),
                strip: args.strip,
                update_tags: !args.no_update_tags,
                allow_pure: args.search.allow_pure_python_wheel,
                add_requires: !args.no_add_requires,
                allow_abi3_violations: args.allow_abi3_violations,
                allow_exec_stack: args.allow_exec_stack,
                linux: crate::plan::LinuxOptions {
                    plat: Some(args.plat.clone()),
                    only_plat: args.only_plat,
                    keep_rpaths: args.keep_rpaths,
                },
                macos: crate::plan::MacosOptions {
                    require_archs: match (&args.require_archs, args.check_archs) {
                        (Some(r), _) => Some(r.clone()),
                        // no required arch, but delocate's library-vs-loader check
                        (None, true) => Some(String::new()),
                        (None, false) => None,
                    },
                    ignore_missing: args.ignore_missing_dependencies,
                    sanitize_rpaths: !args.no_sanitize_rpaths,
                },
                windows: crate::plan::WindowsOptions {
                    no_mangle: args.no_mangle.iter().flat_map(|s| split_list(s)).collect(),
                    no_mangle_all: args.no_mangle_all,
                    include: args
                        .include
                        .iter()
                        .flat_map(|p| split_paths(&p.to_string_lossy()))
                        .map(PathBuf::from)
                        .collect(),
                    namespace_pkgs: args.namespace_pkg.iter().flat_map(|s| split_list(s)).collect(),
                },
            },
            apply: crate::apply::ApplyOptions {
                wheel_dir: args.wheel_dir.clone(),
                compression_level: args.zip_level,
                licenses: !args.no_licenses,
            },
        };
        options.analyze.verify_record = true;
        if let Some(v) = &args.require_target_macos_version {
            options.analyze.macos_target = Some(v.clone());
        }
        options
    }
}

/// Runs `repair`; returns the exit code.
pub fn run(args: &RepairArgs, printer: &Printer) -> u8 {
    if let Some(flag) = args.unsupported_flag() {
        printer.error_with_hint(
            &crate::error::Error::Usage(format!("`{flag}` is not supported by wheelfix")),
            "docs/ci.md lists the flags of auditwheel, delocate and delvewheel and their wheelfix equivalents",
        );
        return 2;
    }
    if let Some(e) = args.invalid() {
        printer.error(&e);
        return 2;
    }
    if let Some(problem) = super::paths::unusable_output_dir(&args.wheel_dir) {
        printer.path_problem(&problem);
        return 2;
    }
    let flags = super::platform_flags::platform_flags(args);
    for wheel in &args.wheels {
        if let Some(w) = super::platform_flags::foreign_flags_warning(wheel, &flags) {
            printer.warn(&w);
        }
    }
    if args.patcher.is_some() {
        printer.debug("`--patcher`: wheelfix rewrites ELF files itself; patchelf is not run");
    }
    if let Some(j) = args.jobs {
        let _ = rayon::ThreadPoolBuilder::new().num_threads(j.max(1)).build_global();
    }
    let options = args.options();
    // Wheels are repaired concurrently, `-j` (default: one per core) at a
    // time, each also using the shared thread pool inside; results are
    // printed in the order the wheels were given, as soon as all earlier
    // ones are done.
    let total = args.wheels.len();
    let progress = printer.progress_enabled(total);
    let workers = args.jobs.unwrap_or_else(rayon::current_num_threads).clamp(1, total.max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let state = std::sync::Mutex::new(Ordered { results: (0..total).map(|_| None).collect(), printed: 0, code: 0 });
    // a library several of the wheels bundle with the same bytes is deflated once
    let shared = crate::repair::SharedLibraries::new();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(wheel) = args.wheels.get(i) else { break };
                printer.debug(&format!("repairing `{}`", wheel.display()));
                let result = match super::paths::unreadable_input(wheel, false) {
                    Some((err, hint)) => (Err(err), hint),
                    None if total > 1 => (crate::repair::repair_sharing(wheel, &options, &shared), None),
                    None => (crate::repair(wheel, &options), None),
                };
                let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                st.results[i] = Some(result);
                let finished = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                loop {
                    let at = st.printed;
                    let Some((r, hint)) = st.results.get_mut(at).and_then(Option::take) else { break };
                    let c = report_outcome(printer, &args.wheels[at], r, hint.as_deref());
                    st.code = st.code.max(c);
                    st.printed += 1;
                }
                if progress && finished < total {
                    let name = wheel
                        .file_name()
                        .map_or_else(|| wheel.display().to_string(), |n| n.to_string_lossy().into_owned());
                    printer.progress(finished, total, &name);
                }
            });
        }
    });
    let code = state.into_inner().unwrap_or_else(|e| e.into_inner()).code;
    printer.finish_progress();
    code
}

/// Results of concurrent repairs, printed in input order.
struct Ordered {
    /// Each wheel's result, and a hint of the command's for its error.
    results: Vec<Option<(crate::error::Result<crate::RepairOutcome>, Option<String>)>>,
    printed: usize,
    code: u8,
}

/// Prints what the repair of `wheel` gave (an error with `hint` when given,
/// else its own); returns its exit code.
fn report_outcome(
    printer: &Printer,
    wheel: &std::path::Path,
    result: crate::error::Result<crate::RepairOutcome>,
    hint: Option<&str>,
) -> u8 {
    match result {
        Ok(outcome) => {
            for m in &outcome.messages {
                printer.info(m);
            }
            for d in &outcome.details {
                printer.debug(d);
            }
            for (src, dest) in &outcome.bundled {
                printer.debug(&format!("bundled `{}` as `{dest}`", src.display()));
            }
            if outcome.unchanged {
                printer.info(&format!("`{}`: nothing to change, copied as it is", wheel.display()));
            }
            printer.info(&format!("fixed wheel written to `{}`", outcome.output.display()));
            let _ = writeln!(std::io::stdout(), "{}", outcome.output.display());
            0
        }
        Err(e) => {
            match hint {
                Some(h) => printer.error_with_hint(&e, h),
                None => printer.error(&e),
            }
            match e {
                crate::error::Error::CannotRepair { .. } | crate::error::Error::MissingLibrary { .. } => 1,
                _ => 2,
            }
        }
    }
}
