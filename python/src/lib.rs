//! `wheelfix._native`: the library's three entry points and the command,
//! callable from Python without a subprocess. Results are plain Python
//! values (dicts, lists, strings); the `wheelfix` package wraps them
//! (paths become `pathlib.Path`). Work runs with the GIL released.

use std::path::PathBuf;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyDict;

create_exception!(_native, WheelfixError, PyException, "A wheel could not be analysed, repaired or checked.");

fn to_py_err(e: wheelfix::Error) -> PyErr {
    let mut msg = e.to_string();
    if let Some(h) = e.hint() {
        msg.push_str("\nhint: ");
        msg.push_str(&h);
    }
    WheelfixError::new_err(msg)
}

/// Converts a JSON value into Python objects with the `json` module (plain dicts and lists).
fn json_to_py(py: Python<'_>, v: &serde_json::Value) -> PyResult<PyObject> {
    let text = serde_json::to_string(v).map_err(|e| WheelfixError::new_err(e.to_string()))?;
    Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
}

fn analyze_options(
    lib_path: Vec<PathBuf>,
    exclude: Vec<String>,
    sysroot: Option<PathBuf>,
    ldpaths: Option<Vec<PathBuf>>,
) -> wheelfix::AnalyzeOptions {
    wheelfix::AnalyzeOptions { lib_path, exclude, sysroot, ld_paths: ldpaths, ..Default::default() }
}

/// Analyses a wheel; returns the document `wheelfix show --json` prints.
#[pyfunction]
#[pyo3(signature = (wheel, *, lib_path=Vec::new(), exclude=Vec::new(), sysroot=None, ldpaths=None))]
fn analyze(
    py: Python<'_>,
    wheel: PathBuf,
    lib_path: Vec<PathBuf>,
    exclude: Vec<String>,
    sysroot: Option<PathBuf>,
    ldpaths: Option<Vec<PathBuf>>,
) -> PyResult<PyObject> {
    let options = analyze_options(lib_path, exclude, sysroot, ldpaths);
    let value = py
        .allow_threads(|| wheelfix::analyze(&wheel, &options).map(|a| wheelfix::report::to_json(&a)))
        .map_err(to_py_err)?;
    json_to_py(py, &value)
}

/// Repairs a wheel into `wheel_dir`; returns what was done.
#[pyfunction]
#[pyo3(signature = (wheel, wheel_dir, *, plat=None, lib_path=Vec::new(), exclude=Vec::new(), sysroot=None,
                    ldpaths=None, lib_sdir=None, only_plat=false, strip=false, allow_pure=false,
                    require_archs=None, no_mangle=Vec::new(), no_mangle_all=false))]
#[allow(clippy::too_many_arguments)]
fn repair(
    py: Python<'_>,
    wheel: PathBuf,
    wheel_dir: PathBuf,
    plat: Option<String>,
    lib_path: Vec<PathBuf>,
    exclude: Vec<String>,
    sysroot: Option<PathBuf>,
    ldpaths: Option<Vec<PathBuf>>,
    lib_sdir: Option<String>,
    only_plat: bool,
    strip: bool,
    allow_pure: bool,
    require_archs: Option<String>,
    no_mangle: Vec<String>,
    no_mangle_all: bool,
) -> PyResult<PyObject> {
    let mut analyze = analyze_options(lib_path, exclude, sysroot, ldpaths);
    analyze.verify_record = true;
    let plan = wheelfix::plan::PlanOptions {
        lib_sdir,
        strip,
        allow_pure,
        linux: wheelfix::plan::LinuxOptions { plat, only_plat, ..Default::default() },
        macos: wheelfix::plan::MacosOptions { require_archs, ..Default::default() },
        windows: wheelfix::plan::WindowsOptions { no_mangle, no_mangle_all, ..Default::default() },
        ..Default::default()
    };
    let apply = wheelfix::ApplyOptions { wheel_dir, ..Default::default() };
    let options = wheelfix::RepairOptions { analyze, plan, apply };
    let out = py.allow_threads(|| wheelfix::repair(&wheel, &options)).map_err(to_py_err)?;
    let d = PyDict::new(py);
    d.set_item("output", out.output.to_string_lossy().into_owned())?;
    d.set_item("platform_tags", out.platform_tags)?;
    let bundled: Vec<(String, String)> =
        out.bundled.iter().map(|(s, e)| (s.to_string_lossy().into_owned(), e.clone())).collect();
    d.set_item("bundled", bundled)?;
    d.set_item("patched", out.patched)?;
    d.set_item("unchanged", out.unchanged)?;
    d.set_item("messages", out.messages)?;
    Ok(d.into_any().unbind())
}

/// Checks a wheelhouse before upload; returns `{"ok", "wheels", "problems": [{"wheel", "what"}]}`.
#[pyfunction]
#[pyo3(signature = (directory, *, expect_python=Vec::new(), expect_platform=Vec::new(), lib_path=Vec::new()))]
fn check(
    py: Python<'_>,
    directory: PathBuf,
    expect_python: Vec<String>,
    expect_platform: Vec<String>,
    lib_path: Vec<PathBuf>,
) -> PyResult<PyObject> {
    let options = wheelfix::check::CheckOptions {
        analyze: analyze_options(lib_path, Vec::new(), None, None),
        expect_python,
        expect_platform,
    };
    let report = py.allow_threads(|| wheelfix::check::check(&[&directory], &options)).map_err(to_py_err)?;
    let d = PyDict::new(py);
    d.set_item("ok", report.ok())?;
    d.set_item("wheels", report.wheels.clone())?;
    let problems = pyo3::types::PyList::empty(py);
    for p in &report.problems {
        let pd = PyDict::new(py);
        pd.set_item("wheel", &p.wheel)?;
        pd.set_item("what", &p.what)?;
        problems.append(pd)?;
    }
    d.set_item("problems", problems)?;
    Ok(d.into_any().unbind())
}

/// Runs the `wheelfix` command with `argv` (without the program name) and returns its exit code.
#[pyfunction]
#[pyo3(signature = (argv))]
fn main(py: Python<'_>, argv: Vec<String>) -> u8 {
    let mut args = vec!["wheelfix".to_string()];
    args.extend(argv);
    py.allow_threads(|| wheelfix::cli::main(args))
}

/// The module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(repair, m)?)?;
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add("WheelfixError", m.py().get_type::<WheelfixError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
