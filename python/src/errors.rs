//! The exception hierarchy: one Python class per kind of `wheelfix::Error`,
//! all under `WheelfixError`, each carrying the `hint` the command prints.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(_native, WheelfixError, PyException, "A wheel could not be analysed, repaired or checked.");
create_exception!(_native, FileError, WheelfixError, "A file could not be read or written (`path`: which one).");
create_exception!(_native, WheelError, WheelfixError, "The wheel archive or its metadata is malformed.");
create_exception!(_native, BinaryError, WheelfixError, "A binary in the wheel could not be parsed.");
create_exception!(_native, PatchError, WheelfixError, "A binary could not be rewritten safely.");
create_exception!(_native, PolicyError, WheelfixError, "A policy file is malformed or lacks the requested tag.");
create_exception!(
    _native,
    MissingLibrary,
    WheelfixError,
    "A library that must be bundled was not found (`library`, `needed_by`, `wheel`)."
);
create_exception!(
    _native,
    CorruptLibrary,
    MissingLibrary,
    "A library that must be bundled was found only as a file that does not parse (`path`)."
);
create_exception!(_native, CannotRepair, WheelfixError, "The wheel cannot be repaired to what was asked (`wheel`).");
create_exception!(_native, UsageError, WheelfixError, "An option is unknown, refused or contradicts another.");
create_exception!(
    _native,
    CheckFailed,
    WheelfixError,
    "`check(..., raise_on_problems=True)` found problems (`report`)."
);

/// The Python exception for `e`: its class by kind, `str()` the command's
/// error line (and `hint: …`), attributes `hint` and the kind's own.
pub fn to_py_err(py: Python<'_>, e: wheelfix::Error, hint: Option<String>) -> PyErr {
    let hint = hint.or_else(|| e.hint());
    let mut msg = e.to_string();
    if let Some(h) = &hint {
        msg.push_str("\nhint: ");
        msg.push_str(h);
    }
    let mut attrs: Vec<(&str, PyObject)> = Vec::new();
    let err = match &e {
        wheelfix::Error::Io { path, .. } => {
            attrs.push(("path", string(py, &path.to_string_lossy())));
            FileError::new_err(msg)
        }
        wheelfix::Error::Wheel { .. } => WheelError::new_err(msg),
        wheelfix::Error::Binary { .. } => BinaryError::new_err(msg),
        wheelfix::Error::Patch { .. } => PatchError::new_err(msg),
        wheelfix::Error::Policy(_) => PolicyError::new_err(msg),
        wheelfix::Error::MissingLibrary { wheel, name, needed_by, .. } => {
            for (k, v) in [("library", name), ("needed_by", needed_by), ("wheel", wheel)] {
                attrs.push((k, string(py, v)));
            }
            MissingLibrary::new_err(msg)
        }
        wheelfix::Error::CorruptLibrary { wheel, name, needed_by, path, .. } => {
            for (k, v) in [("library", name), ("needed_by", needed_by), ("wheel", wheel), ("path", path)] {
                attrs.push((k, string(py, v)));
            }
            CorruptLibrary::new_err(msg)
        }
        wheelfix::Error::CannotRepair { wheel, .. } => {
            attrs.push(("wheel", string(py, wheel)));
            CannotRepair::new_err(msg)
        }
        wheelfix::Error::Usage(_) => UsageError::new_err(msg),
        _ => WheelfixError::new_err(msg),
    };
    attrs.push(("hint", hint.map_or_else(|| py.None(), |h| string(py, &h))));
    let value = err.value(py);
    for (k, v) in attrs {
        let _ = value.setattr(k, v);
    }
    err
}

fn string(py: Python<'_>, s: &str) -> PyObject {
    pyo3::types::PyString::new(py, s).into_any().unbind()
}

/// Adds the classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("WheelfixError", py.get_type::<WheelfixError>())?;
    m.add("FileError", py.get_type::<FileError>())?;
    m.add("WheelError", py.get_type::<WheelError>())?;
    m.add("BinaryError", py.get_type::<BinaryError>())?;
    m.add("PatchError", py.get_type::<PatchError>())?;
    m.add("PolicyError", py.get_type::<PolicyError>())?;
    m.add("MissingLibrary", py.get_type::<MissingLibrary>())?;
    m.add("CorruptLibrary", py.get_type::<CorruptLibrary>())?;
    m.add("CannotRepair", py.get_type::<CannotRepair>())?;
    m.add("UsageError", py.get_type::<UsageError>())?;
    m.add("CheckFailed", py.get_type::<CheckFailed>())?;
    Ok(())
}
