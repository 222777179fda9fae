//! `wheelfix._native`: the library's entry points and the command, callable
//! from Python without a subprocess. Keyword arguments are the command's
//! flags (`--lib-path` is `lib_path`); results are the documents the
//! command prints with `--json` (`docs/json.md`) as plain dicts and lists.
//! Work runs with the GIL released. Typed in `wheelfix/_native.pyi`.

mod args;
mod errors;

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use args::{paths, strings, Search};
use errors::to_py_err;

/// The module's own blocks of 128 KiB or more are mapped on their own and
/// unmapped when freed ([`wheelfix::alloc`]), as in the command, without
/// changing how the rest of the Python process allocates.
#[global_allocator]
static ALLOCATOR: wheelfix::alloc::Mapped = wheelfix::alloc::Mapped;

/// Converts a JSON value into Python objects with the `json` module (plain dicts and lists).
fn json_to_py(py: Python<'_>, v: &serde_json::Value) -> PyResult<PyObject> {
    let text = serde_json::to_string(v).map_err(|e| errors::WheelfixError::new_err(e.to_string()))?;
    Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
}

/// The error a path given as an input wheel gives, as the command words it.
fn unreadable(py: Python<'_>, wheel: &std::path::Path) -> PyResult<()> {
    match wheelfix::cli::paths::unreadable_input(wheel, false) {
        Some((e, hint)) => Err(to_py_err(py, e, hint)),
        None => Ok(()),
    }
}

/// Analyses one wheel; returns its object of the `show --json` document.
#[pyfunction]
#[pyo3(signature = (wheel, *, lib_path=None, sysroot=None, ldpaths=None, policy=None, exclude=None,
                    disable_isa_ext_check=false, executable_path=None, allow_pure_python_wheel=false,
                    ignore_existing=false, analyze_existing=false, analyze_existing_exes=false, site_packages=None))]
#[allow(clippy::too_many_arguments)]
fn analyze<'py>(
    py: Python<'py>,
    wheel: PathBuf,
    lib_path: Option<Bound<'py, PyAny>>,
    sysroot: Option<PathBuf>,
    ldpaths: Option<Bound<'py, PyAny>>,
    policy: Option<PathBuf>,
    exclude: Option<Bound<'py, PyAny>>,
    disable_isa_ext_check: bool,
    executable_path: Option<PathBuf>,
    allow_pure_python_wheel: bool,
    ignore_existing: bool,
    analyze_existing: bool,
    analyze_existing_exes: bool,
    site_packages: Option<Bound<'py, PyAny>>,
) -> PyResult<PyObject> {
    let search = Search {
        lib_path,
        sysroot,
        ldpaths,
        policy,
        exclude,
        disable_isa_ext_check,
        executable_path,
        allow_pure_python_wheel,
        ignore_existing,
        analyze_existing,
        analyze_existing_exes,
        site_packages,
    };
    let options = search.args()?.analyze_options();
    unreadable(py, &wheel)?;
    let value = py
        .allow_threads(|| wheelfix::analyze(&wheel, &options).map(|a| wheelfix::report::to_json(&a)))
        .map_err(|e| to_py_err(py, e, None))?;
    json_to_py(py, &value)
}

/// Analyses wheels; returns the `show --json` document (a wheel that cannot be
/// read is `{"wheel", "error"}` in it, as in the command). Like the command,
/// it reads a huge ELF file only at its start and its end unless `verify`.
#[pyfunction]
#[pyo3(signature = (wheels, *, lib_path=None, sysroot=None, ldpaths=None, policy=None, exclude=None,
                    disable_isa_ext_check=false, executable_path=None, allow_pure_python_wheel=false,
                    ignore_existing=false, analyze_existing=false, analyze_existing_exes=false, site_packages=None,
                    verify=false))]
#[allow(clippy::too_many_arguments)]
fn show<'py>(
    py: Python<'py>,
    wheels: Bound<'py, PyAny>,
    lib_path: Option<Bound<'py, PyAny>>,
    sysroot: Option<PathBuf>,
    ldpaths: Option<Bound<'py, PyAny>>,
    policy: Option<PathBuf>,
    exclude: Option<Bound<'py, PyAny>>,
    disable_isa_ext_check: bool,
    executable_path: Option<PathBuf>,
    allow_pure_python_wheel: bool,
    ignore_existing: bool,
    analyze_existing: bool,
    analyze_existing_exes: bool,
    site_packages: Option<Bound<'py, PyAny>>,
    verify: bool,
) -> PyResult<PyObject> {
    let wheels = paths(Some(&wheels), "wheels")?;
    let search = Search {
        lib_path,
        sysroot,
        ldpaths,
        policy,
        exclude,
        disable_isa_ext_check,
        executable_path,
        allow_pure_python_wheel,
        ignore_existing,
        analyze_existing,
        analyze_existing_exes,
        site_packages,
    };
    let mut options = search.args()?.analyze_options();
    if !verify {
        options.reading = wheelfix::Reading::Skim;
    }
    let doc = py.allow_threads(|| {
        let docs = wheels
            .iter()
            .map(|w| {
                let result = match wheelfix::cli::paths::unreadable_input(w, false) {
                    Some((e, _)) => Err(e),
                    None => wheelfix::analyze(w, &options),
                };
                match result {
                    Ok(a) => wheelfix::report::to_json(&a),
                    Err(e) => wheelfix::report::error_json(w, &e),
                }
            })
            .collect();
        wheelfix::report::show_document(docs)
    });
    json_to_py(py, &doc)
}

/// Repairs one wheel into `wheel_dir`; returns what was done.
#[pyfunction]
#[pyo3(signature = (wheel, wheel_dir="wheelhouse".into(), *, plat=None, only_plat=false, lib_sdir=None, strip=false,
                    zip_compression_level=None, keep_rpaths=false, no_update_tags=false, require_archs=None,
                    check_archs=false, ignore_missing_dependencies=false, sanitize_rpaths=true,
                    require_target_macos_version=None, no_mangle=None, no_mangle_all=false, include=None,
                    namespace_pkg=None, lib_path=None, sysroot=None, ldpaths=None, policy=None, exclude=None,
                    disable_isa_ext_check=false, executable_path=None, allow_pure_python_wheel=false,
                    ignore_existing=false, analyze_existing=false, analyze_existing_exes=false, site_packages=None, allow_abi3_violations=false,
                    allow_exec_stack=false, no_add_requires=false, no_licenses=false))]
#[allow(clippy::too_many_arguments)]
fn repair<'py>(
    py: Python<'py>,
    wheel: PathBuf,
    wheel_dir: PathBuf,
    plat: Option<String>,
    only_plat: bool,
    lib_sdir: Option<String>,
    strip: bool,
    zip_compression_level: Option<u32>,
    keep_rpaths: bool,
    no_update_tags: bool,
    require_archs: Option<Bound<'py, PyAny>>,
    check_archs: bool,
    ignore_missing_dependencies: bool,
    sanitize_rpaths: bool,
    require_target_macos_version: Option<String>,
    no_mangle: Option<Bound<'py, PyAny>>,
    no_mangle_all: bool,
    include: Option<Bound<'py, PyAny>>,
    namespace_pkg: Option<Bound<'py, PyAny>>,
    lib_path: Option<Bound<'py, PyAny>>,
    sysroot: Option<PathBuf>,
    ldpaths: Option<Bound<'py, PyAny>>,
    policy: Option<PathBuf>,
    exclude: Option<Bound<'py, PyAny>>,
    disable_isa_ext_check: bool,
    executable_path: Option<PathBuf>,
    allow_pure_python_wheel: bool,
    ignore_existing: bool,
    analyze_existing: bool,
    analyze_existing_exes: bool,
    site_packages: Option<Bound<'py, PyAny>>,
    allow_abi3_violations: bool,
    allow_exec_stack: bool,
    no_add_requires: bool,
    no_licenses: bool,
) -> PyResult<PyObject> {
    if zip_compression_level.is_some_and(|z| z > 9) {
        return Err(pyo3::exceptions::PyValueError::new_err("`zip_compression_level` must be 0 to 9"));
    }
    let search = Search {
        lib_path,
        sysroot,
        ldpaths,
        policy,
        exclude,
        disable_isa_ext_check,
        executable_path,
        allow_pure_python_wheel,
        ignore_existing,
        analyze_existing,
        analyze_existing_exes,
        site_packages,
    };
    let require_archs = match require_archs.as_ref().filter(|o| !o.is_none()) {
        None => None,
        Some(o) => Some(strings(Some(o), "require_archs")?.join(",")),
    };
    let args = wheelfix::cli::RepairArgs {
        wheels: vec![wheel.clone()],
        wheel_dir,
        plat: plat.unwrap_or_else(|| "auto".to_string()),
        only_plat,
        lib_sdir,
        strip,
        zip_level: zip_compression_level,
        keep_rpaths,
        no_update_tags,
        no_licenses,
        no_add_requires,
        allow_abi3_violations,
        allow_exec_stack,
        require_archs,
        ignore_missing_dependencies,
        no_sanitize_rpaths: !sanitize_rpaths,
        no_mangle: strings(no_mangle.as_ref(), "no_mangle")?,
        no_mangle_all,
        include: paths(include.as_ref(), "include")?,
        namespace_pkg: strings(namespace_pkg.as_ref(), "namespace_pkg")?,
        patcher: None,
        check_archs,
        require_target_macos_version,
        sanitize_rpaths,
        dylibs_only: false,
        unsupported: Default::default(),
        jobs: None,
        search: search.args()?,
    };
    if let Some(e) = args.invalid() {
        return Err(to_py_err(py, e, None));
    }
    if let Some((e, hint)) = wheelfix::cli::paths::unusable_output_dir(&args.wheel_dir) {
        return Err(to_py_err(py, e, hint));
    }
    unreadable(py, &wheel)?;
    let options = args.options();
    let out = py.allow_threads(|| wheelfix::repair(&wheel, &options)).map_err(|e| to_py_err(py, e, None))?;
    let d = PyDict::new(py);
    d.set_item("output", py.import("pathlib")?.getattr("Path")?.call1((out.output.clone(),))?)?;
    d.set_item("platform_tags", out.platform_tags)?;
    let bundled: Vec<(String, String)> =
        out.bundled.iter().map(|(s, e)| (s.to_string_lossy().into_owned(), e.clone())).collect();
    d.set_item("bundled", bundled)?;
    d.set_item("patched", out.patched)?;
    d.set_item("unchanged", out.unchanged)?;
    d.set_item("messages", out.messages)?;
    Ok(d.into_any().unbind())
}

/// Checks the wheels of a release (wheel files and directories in any mix);
/// returns the `check --json` document, or raises `CheckFailed` (its
/// `report` attribute the document) when `raise_on_problems` and there are problems.
#[pyfunction]
#[pyo3(signature = (inputs, *, expect_python=None, expect_platform=None, raise_on_problems=false, lib_path=None,
                    sysroot=None, ldpaths=None, policy=None, exclude=None, disable_isa_ext_check=false,
                    executable_path=None, allow_pure_python_wheel=false, ignore_existing=false,
                    analyze_existing=false, analyze_existing_exes=false, site_packages=None))]
#[allow(clippy::too_many_arguments)]
fn check<'py>(
    py: Python<'py>,
    inputs: Bound<'py, PyAny>,
    expect_python: Option<Bound<'py, PyAny>>,
    expect_platform: Option<Bound<'py, PyAny>>,
    raise_on_problems: bool,
    lib_path: Option<Bound<'py, PyAny>>,
    sysroot: Option<PathBuf>,
    ldpaths: Option<Bound<'py, PyAny>>,
    policy: Option<PathBuf>,
    exclude: Option<Bound<'py, PyAny>>,
    disable_isa_ext_check: bool,
    executable_path: Option<PathBuf>,
    allow_pure_python_wheel: bool,
    ignore_existing: bool,
    analyze_existing: bool,
    analyze_existing_exes: bool,
    site_packages: Option<Bound<'py, PyAny>>,
) -> PyResult<PyObject> {
    let search = Search {
        lib_path,
        sysroot,
        ldpaths,
        policy,
        exclude,
        disable_isa_ext_check,
        executable_path,
        allow_pure_python_wheel,
        ignore_existing,
        analyze_existing,
        analyze_existing_exes,
        site_packages,
    };
    let args = wheelfix::cli::CheckArgs {
        inputs: paths(Some(&inputs), "inputs")?,
        expect_python: strings(expect_python.as_ref(), "expect_python")?,
        expect_platform: strings(expect_platform.as_ref(), "expect_platform")?,
        json: true,
        search: search.args()?,
    };
    for input in &args.inputs {
        if let Some((e, hint)) = wheelfix::cli::paths::unreadable_input(input, true) {
            return Err(to_py_err(py, e, hint));
        }
    }
    let options = args.options();
    let report =
        py.allow_threads(|| wheelfix::check::check(&args.inputs, &options)).map_err(|e| to_py_err(py, e, None))?;
    let doc = json_to_py(py, &report.to_json())?;
    if raise_on_problems && !report.ok() {
        let lines: Vec<String> = report.problems.iter().map(|p| format!("{}: {}", p.wheel, p.what)).collect();
        let err = errors::CheckFailed::new_err(format!(
            "{} problem(s) in {} wheel(s): do not upload\n{}",
            report.problems.len(),
            report.wheels.len(),
            lines.join("\n")
        ));
        err.value(py).setattr("report", doc)?;
        err.value(py).setattr("hint", py.None())?;
        return Err(err);
    }
    Ok(doc)
}

/// `cp310-cp312` as `["cp310", "cp311", "cp312"]` (comma-separated lists too):
/// the expansion `check --expect-python` makes.
#[pyfunction]
fn expand_python_range(spec: &str) -> Vec<String> {
    wheelfix::check::expand_python_range(spec)
}

/// Runs the `wheelfix` command with `argv` (without the program name) and returns its exit code.
#[pyfunction]
#[pyo3(signature = (argv))]
fn main(py: Python<'_>, argv: Bound<'_, PyAny>) -> PyResult<u8> {
    let mut args = vec![std::ffi::OsString::from("wheelfix")];
    args.extend(paths(Some(&argv), "argv")?.into_iter().map(PathBuf::into_os_string));
    Ok(py.allow_threads(|| wheelfix::cli::main(args)))
}

/// The module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(show, m)?)?;
    m.add_function(wrap_pyfunction!(repair, m)?)?;
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add_function(wrap_pyfunction!(expand_python_range, m)?)?;
    m.add_function(wrap_pyfunction!(main, m)?)?;
    errors::register(m)?;
    m.add("SHOW_SCHEMA_VERSION", wheelfix::report::JSON_VERSION)?;
    m.add("CHECK_SCHEMA_VERSION", wheelfix::check::JSON_SCHEMA_VERSION)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
