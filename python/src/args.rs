//! Python arguments into the command's own argument structs: a path is a
//! `str` or an `os.PathLike`; a list is a sequence of them or a single one
//! (a string is one item, never split into characters). The structs are the
//! CLI's, so a keyword argument means exactly what its flag means, and a flag
//! added to the CLI does not compile here until it is given a keyword.

use std::path::PathBuf;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyString;

/// One path, or a sequence of paths; `None` is empty.
pub fn paths(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Vec<PathBuf>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else { return Ok(Vec::new()) };
    if let Ok(p) = obj.extract::<PathBuf>() {
        return Ok(vec![p]);
    }
    let iter = obj
        .try_iter()
        .map_err(|_| PyTypeError::new_err(format!("`{what}`: expected a path or a sequence of paths")))?;
    iter.map(|item| {
        item?
            .extract::<PathBuf>()
            .map_err(|_| PyTypeError::new_err(format!("`{what}`: every item must be a str or os.PathLike")))
    })
    .collect()
}

/// One string (or path), or a sequence of them; `None` is empty.
pub fn strings(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Vec<String>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else { return Ok(Vec::new()) };
    if obj.is_instance_of::<PyString>() {
        return Ok(vec![obj.extract()?]);
    }
    if obj.extract::<PathBuf>().is_ok() {
        return Ok(paths(Some(obj), what)?.into_iter().map(lossy).collect());
    }
    let iter =
        obj.try_iter().map_err(|_| PyTypeError::new_err(format!("`{what}`: expected a str or a sequence of str")))?;
    iter.map(|item| {
        let item = item?;
        if item.is_instance_of::<PyString>() {
            item.extract::<String>()
        } else {
            item.extract::<PathBuf>()
                .map(lossy)
                .map_err(|_| PyTypeError::new_err(format!("`{what}`: every item must be a str")))
        }
    })
    .collect()
}

fn lossy(p: PathBuf) -> String {
    p.to_string_lossy().into_owned()
}

/// The search keywords shared by `analyze`, `show`, `repair` and `check`.
pub struct Search<'py> {
    pub lib_path: Option<Bound<'py, PyAny>>,
    pub sysroot: Option<PathBuf>,
    pub ldpaths: Option<Bound<'py, PyAny>>,
    pub policy: Option<PathBuf>,
    pub exclude: Option<Bound<'py, PyAny>>,
    pub disable_isa_ext_check: bool,
    pub executable_path: Option<PathBuf>,
    pub allow_pure_python_wheel: bool,
    pub ignore_existing: bool,
    pub analyze_existing: bool,
    pub analyze_existing_exes: bool,
    pub site_packages: Option<Bound<'py, PyAny>>,
}

impl Search<'_> {
    /// The CLI's `SearchArgs` for these keywords.
    pub fn args(self) -> PyResult<wheelfix::cli::SearchArgs> {
        let ldpaths = match self.ldpaths.as_ref().filter(|o| !o.is_none()) {
            None => None,
            Some(o) => Some(paths(Some(o), "ldpaths")?.into_iter().map(lossy).collect::<Vec<_>>().join(":")),
        };
        Ok(wheelfix::cli::SearchArgs {
            lib_path: paths(self.lib_path.as_ref(), "lib_path")?.into_iter().map(lossy).collect(),
            sysroot: self.sysroot,
            ldpaths,
            policy: self.policy,
            exclude: strings(self.exclude.as_ref(), "exclude")?,
            disable_isa_check: self.disable_isa_ext_check,
            executable_path: self.executable_path,
            allow_pure_python_wheel: self.allow_pure_python_wheel,
            ignore_existing: self.ignore_existing,
            analyze_existing: self.analyze_existing,
            analyze_existing_exes: self.analyze_existing_exes,
            site_packages: paths(self.site_packages.as_ref(), "site_packages")?.into_iter().map(lossy).collect(),
        })
    }
}
