//! Runtimes a process must load only once: OpenMP (GNU `libgomp`, LLVM
//! `libomp`, Intel `libiomp5`). Two copies in one process
//! (one bundled here, another bundled by numpy, torch or scikit-learn)
//! each start their own thread pool and crash or deadlock it, so bundling
//! one deserves a warning that says what to do instead.

/// The runtime a library name belongs to, when it must be loaded once per
/// process: matched on the name without directory and without version
/// (`libgomp.so.1`, `libgomp-a34b3233.so.1.0.0`, `libomp.dylib`, `libiomp5md.dll`).
pub fn singleton_runtime(name: &str) -> Option<&'static str> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name).to_ascii_lowercase();
    let stem: String = base.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    let stem = stem.strip_prefix("lib").unwrap_or(&stem);
    match stem {
        "gomp" => Some("GNU OpenMP"),
        "omp" => Some("LLVM OpenMP"),
        "iomp5" | "iomp5md" => Some("Intel OpenMP"),
        _ => None,
    }
}

/// The warning for bundling the singleton runtime `name` (of `runtime`).
pub fn singleton_warning(name: &str, runtime: &str) -> String {
    format!(
        "{name} ({runtime}) is bundled: a process must load this runtime once, and two copies \
         (this one and another package's) crash or hang it; exclude it (`--exclude {name}`) and \
         depend on the wheel that provides it, or link the system's"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_by_name() {
        assert_eq!(singleton_runtime("libgomp.so.1"), Some("GNU OpenMP"));
        assert_eq!(singleton_runtime("/usr/lib/x86_64-linux-gnu/libgomp.so.1.0.0"), Some("GNU OpenMP"));
        assert_eq!(singleton_runtime("libgomp-a34b3233.so.1.0.0"), Some("GNU OpenMP"));
        assert_eq!(singleton_runtime("@rpath/libomp.dylib"), Some("LLVM OpenMP"));
        assert_eq!(singleton_runtime("libiomp5.so"), Some("Intel OpenMP"));
        assert_eq!(singleton_runtime("LIBIOMP5MD.DLL"), Some("Intel OpenMP"));
        assert_eq!(singleton_runtime("libgompx.so"), None);
        assert_eq!(singleton_runtime("libz.so.1"), None);
        assert_eq!(singleton_runtime("libompl.so"), None);
    }
}
