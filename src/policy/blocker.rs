//! Why a wheel cannot carry a platform tag, as data, and the one line that
//! says so (the same words in `show`, in `check` and in repair errors).

use std::fmt;

/// Why a wheel cannot carry a tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Blocker {
    /// A file needs a symbol version the policy does not allow.
    SymbolVersion {
        /// The file that needs it (a wheel entry or a library that would be bundled).
        file: String,
        /// The library it is needed from.
        lib: String,
        /// The version (`GLIBC_2.34`).
        version: String,
    },
    /// A file imports a symbol the policy blacklists.
    Blacklisted {
        /// The wheel entry.
        file: String,
        /// The whitelisted library.
        lib: String,
        /// The symbol.
        symbol: String,
    },
    /// A library that would have to be bundled (show: without repair).
    Library {
        /// Its name.
        name: String,
    },
    /// A file needs a newer x86-64 ISA level than baseline.
    Isa {
        /// The file.
        file: String,
        /// The level (2, 3, 4).
        level: u8,
    },
    /// A file imports `PyFPE_*` or `PyUnicodeUCS2_*` symbols.
    PythonAbi {
        /// The file.
        file: String,
        /// The symbol.
        symbol: String,
    },
    /// A file needs a newer macOS than the tag.
    MacosVersion {
        /// The file.
        file: String,
        /// The arch.
        arch: String,
        /// Its minimum macOS.
        version: String,
    },
    /// The binary's machine does not match the tag.
    Machine {
        /// The file.
        file: String,
        /// What it is.
        found: String,
    },
    /// An extension of an `abi3`/`abi3t` wheel uses a Python symbol outside
    /// the Stable ABI of the version its tag claims.
    Abi3 {
        /// The extension.
        file: String,
        /// The symbol (as the C API spells it).
        symbol: String,
        /// The version that added it to the Stable ABI; `None`: not in it.
        added: Option<String>,
        /// The version the tag claims (`3.8`).
        claimed: String,
    },
    /// An extension of an `abi3`/`abi3t` wheel has a file name suffix that
    /// not every Python of the tag imports: one version's
    /// (`.cpython-312-x86_64-linux-gnu.so`), or `.abi3.so` in an `abi3t` wheel.
    Abi3Suffix {
        /// The extension.
        file: String,
        /// The wheel's ABI tag (`abi3`, `abi3t`).
        abi: String,
    },
    /// A PE extension of an `abi3`/`abi3t` wheel imports from one CPython
    /// version's DLL (`python312.dll`) instead of `python3.dll`.
    Abi3Dll {
        /// The extension.
        file: String,
        /// The DLL.
        dll: String,
    },
    /// A shared library asks for an executable stack: glibc 2.41 and later
    /// refuse to `dlopen` it.
    ExecStack {
        /// The file.
        file: String,
        /// It has no PT_GNU_STACK header at all (else: the header has PF_X).
        missing: bool,
    },
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocker::SymbolVersion { file, lib, version } => write!(f, "`{file}` needs {version} from {lib}"),
            Blocker::Blacklisted { file, lib, symbol } => {
                write!(f, "`{file}` imports blacklisted symbol {symbol} from {lib}")
            }
            Blocker::Library { name } => {
                write!(f, "{name} is not provided by the platform and would have to be bundled")
            }
            Blocker::Isa { file, level } => write!(f, "`{file}` needs the x86-64-v{level} instruction set"),
            Blocker::PythonAbi { file, symbol } => write!(f, "`{file}` imports {symbol}"),
            Blocker::MacosVersion { file, arch, version } => write!(f, "`{file}` ({arch}) needs macOS {version}"),
            Blocker::Machine { file, found } => write!(f, "`{file}` is built for {found}, not for the wheel's tag"),
            Blocker::Abi3 { file, symbol, added: None, .. } => {
                write!(f, "`{file}` uses {symbol}, which is not in the Stable ABI")
            }
            Blocker::Abi3 { file, symbol, added: Some(v), claimed } => {
                write!(f, "`{file}` uses {symbol}, added to the Stable ABI in {v}, after the {claimed} its tag claims")
            }
            Blocker::Abi3Suffix { file, abi } => {
                write!(f, "`{file}` has a file name suffix that not every Python of an {abi} wheel imports")
            }
            Blocker::Abi3Dll { file, dll } => {
                write!(f, "`{file}` imports from {dll}, which one CPython version provides, not from python3.dll")
            }
            Blocker::ExecStack { file, missing } => {
                let why = if *missing { "has no PT_GNU_STACK header" } else { "marks its stack executable" };
                write!(f, "`{file}` {why}, so it needs an executable stack: glibc 2.41 and later refuse to dlopen it")
            }
        }
    }
}
