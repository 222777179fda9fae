//! Windows: which DLLs the system (or CPython) provides.

/// Temporary stand-in.
pub fn is_provided(name: &str, machine: u16, python: &[String], abi: &[String]) -> Option<String> {
    let _ = (name, machine, python, abi);
    None
}
