//! Windows: which DLLs the system (or CPython) provides.
//!
//! A DLL that a wheel's binaries import is left out of the wheel when:
//! - Windows provides it on every supported release (7 SP1 and later): the
//!   per-architecture list embedded from `policies/windows-system-dlls.json`;
//! - it is the Python runtime itself (`python3.dll`, `python312.dll`,
//!   `python313t_d.dll`, `libpypy3.10-c.dll`, `python-native.dll`);
//! - it is an API set (`api-ms-win-*`, `ext-ms-*`), which the loader resolves;
//! - it is `combase.dll`, present from Windows 8 on and useless on Windows 7;
//! - it is the C runtime that every Python interpreter the wheel's tags allow
//!   already ships (`vcruntime140.dll` and `vcruntime140_1.dll` with CPython
//!   3.9+ on x64, …). The rule follows delvewheel's: for every ABI tag the
//!   first matching row of a table gives a set, and the DLLs in every set are
//!   provided; for a stable-ABI wheel (ABI tags only `abi3`/`abi3t`) the
//!   Python tags are looked up in a second table the same way.
//!
//! Names compare case-insensitively.

/// The marker file a wheelfix repair writes into a Windows wheel's dist-info
/// directory (delvewheel writes `DELVEWHEEL`): a wheel that has one is repaired.
pub const MARKER: &str = "WHEELFIX";

use std::collections::BTreeSet;
use std::fmt;
use std::sync::OnceLock;

const SYSTEM_DLLS_JSON: &str = include_str!("../../policies/windows-system-dlls.json");

/// A Windows CPU architecture wheels exist for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WinArch {
    /// 32-bit x86 (`win32`, machine 0x14c).
    X86,
    /// x86-64 (`win_amd64`, machine 0x8664).
    X64,
    /// ARM64 (`win_arm64`, machine 0xaa64).
    Arm64,
}

impl WinArch {
    /// From a PE `FileHeader.Machine`.
    pub fn from_machine(machine: u16) -> Option<Self> {
        match machine {
            0x14c => Some(WinArch::X86),
            0x8664 => Some(WinArch::X64),
            0xaa64 => Some(WinArch::Arm64),
            _ => None,
        }
    }

    /// From a wheel platform tag (`win32`, `win_amd64`, `win_arm64`).
    pub fn from_platform_tag(tag: &str) -> Option<Self> {
        match tag {
            "win32" => Some(WinArch::X86),
            "win_amd64" => Some(WinArch::X64),
            "win_arm64" => Some(WinArch::Arm64),
            _ => None,
        }
    }

    /// The wheel platform tag.
    pub fn platform_tag(self) -> &'static str {
        match self {
            WinArch::X86 => "win32",
            WinArch::X64 => "win_amd64",
            WinArch::Arm64 => "win_arm64",
        }
    }
}

/// Why a DLL is not bundled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// Windows provides it (or it is `combase.dll`).
    SystemDll,
    /// It is the Python runtime DLL (CPython, PyPy or GraalPy).
    PythonDll,
    /// It is an API set (`api-*`, `ext-ms-*`), resolved by the loader.
    ApiSet,
    /// Every Python the wheel's tags allow ships it (`vcruntime140.dll`, …).
    VcRuntimeWithPython,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::SystemDll => "provided by Windows",
            Reason::PythonDll => "the Python runtime",
            Reason::ApiSet => "an API set resolved by Windows",
            Reason::VcRuntimeWithPython => "ships with the Python versions this wheel targets",
        })
    }
}

/// The DLLs Windows provides, per architecture (lowercase, sorted).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SystemDlls {
    /// Where the list comes from (`delvewheel 1.13.2`).
    pub source: String,
    x86: Vec<String>,
    x64: Vec<String>,
    arm64: Vec<String>,
}

#[derive(serde::Deserialize)]
struct RawSystemDlls {
    source: String,
    all: Vec<String>,
    x86: Vec<String>,
    x64: Vec<String>,
    arm64: Vec<String>,
}

impl SystemDlls {
    /// Reads a list in the format of `policies/windows-system-dlls.json`.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        let raw: RawSystemDlls = serde_json::from_str(text)?;
        let merge = |extra: &[String]| -> Vec<String> {
            let set: BTreeSet<String> = raw.all.iter().chain(extra).map(|n| n.to_ascii_lowercase()).collect();
            set.into_iter().collect()
        };
        Ok(SystemDlls { x86: merge(&raw.x86), x64: merge(&raw.x64), arm64: merge(&raw.arm64), source: raw.source })
    }

    /// The embedded list. A broken embedded file (caught by the unit tests)
    /// would give empty lists rather than a panic.
    pub fn builtin() -> &'static SystemDlls {
        static BUILTIN: OnceLock<SystemDlls> = OnceLock::new();
        BUILTIN.get_or_init(|| SystemDlls::from_json(SYSTEM_DLLS_JSON).unwrap_or_default())
    }

    /// Every name for `arch`, lowercase and sorted.
    pub fn names(&self, arch: WinArch) -> &[String] {
        match arch {
            WinArch::X86 => &self.x86,
            WinArch::X64 => &self.x64,
            WinArch::Arm64 => &self.arm64,
        }
    }

    /// True when Windows on `arch` provides `dll_name` (any case).
    pub fn contains(&self, arch: WinArch, dll_name: &str) -> bool {
        let lower = dll_name.to_ascii_lowercase();
        self.names(arch).binary_search(&lower).is_ok()
    }
}

/// Why `dll_name`, imported by a binary for PE `machine` in a wheel tagged
/// with `python_tags` and `abi_tags`, need not be bundled; `None` when it
/// must be.
pub fn is_provided<P, A>(dll_name: &str, machine: u16, python_tags: &[P], abi_tags: &[A]) -> Option<Reason>
where
    P: AsRef<str>,
    A: AsRef<str>,
{
    let name = dll_name.to_ascii_lowercase();
    let arch = WinArch::from_machine(machine);
    if let Some(arch) = arch {
        if SystemDlls::builtin().contains(arch, &name) {
            return Some(Reason::SystemDll);
        }
    }
    if let Some(reason) = name_rule(&name) {
        return Some(reason);
    }
    let arch = arch?;
    runtime_dlls(arch, python_tags, abi_tags).contains(name.as_str()).then_some(Reason::VcRuntimeWithPython)
}

/// The rules on the name alone.
fn name_rule(name: &str) -> Option<Reason> {
    if is_python_dll(name) {
        Some(Reason::PythonDll)
    } else if name.starts_with("api-") || name.starts_with("ext-ms-") {
        Some(Reason::ApiSet)
    } else if name == "combase.dll" {
        Some(Reason::SystemDll)
    } else {
        None
    }
}

/// `python<N>[t][_d].dll`, `libpypy<N>[.<N>]*-c.dll`, `python-native.dll`.
fn is_python_dll(name: &str) -> bool {
    if name == "python-native.dll" {
        return true;
    }
    if let Some(rest) = name.strip_prefix("python") {
        let n = rest.bytes().take_while(u8::is_ascii_digit).count();
        let Some(rest) = rest.get(n..).filter(|_| n > 0) else { return false };
        let rest = rest.strip_prefix('t').unwrap_or(rest);
        let rest = rest.strip_prefix("_d").unwrap_or(rest);
        return rest == ".dll";
    }
    if let Some(middle) = name.strip_prefix("libpypy").and_then(|r| r.strip_suffix("-c.dll")) {
        return middle.split('.').all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()));
    }
    false
}

/// The C runtime DLLs every Python allowed by the tags ships with.
pub fn runtime_dlls<P, A>(arch: WinArch, python_tags: &[P], abi_tags: &[A]) -> BTreeSet<&'static str>
where
    P: AsRef<str>,
    A: AsRef<str>,
{
    let platform = arch.platform_tag();
    let mut out = intersect(abi_tags.iter().map(|abi| abi_platform_rule(abi.as_ref(), platform)));
    if !abi_tags.is_empty() && abi_tags.iter().all(|a| matches!(a.as_ref(), "abi3" | "abi3t")) {
        out.extend(intersect(python_tags.iter().map(|py| abi3_rule(py.as_ref(), platform))));
    }
    out
}

/// The intersection of the sets; empty when there is none or one is missing.
fn intersect(mut sets: impl Iterator<Item = Option<&'static [&'static str]>>) -> BTreeSet<&'static str> {
    let Some(Some(first)) = sets.next() else { return BTreeSet::new() };
    let mut acc: BTreeSet<&'static str> = first.iter().copied().collect();
    for set in sets {
        let Some(set) = set else { return BTreeSet::new() };
        acc.retain(|n| set.contains(n));
    }
    acc
}

const VC140_BOTH: &[&str] = &["vcruntime140.dll", "vcruntime140_1.dll"];
const VC140: &[&str] = &["vcruntime140.dll"];
const VC140_DEBUG: &[&str] = &["ucrtbased.dll", "vcruntime140d.dll"];
const MSVCR100: &[&str] = &["msvcr100.dll"];
const MSVCR90: &[&str] = &["msvcr90.dll"];

/// A CPython tag `cp<major><minor><flags>` (`cp312`, `cp313td`, `cp37m`).
struct CpTag<'a> {
    major: u8,
    /// The minor version as written (no leading zero, 1 or 2 digits).
    minor: u8,
    flags: &'a str,
}

/// Parses `cp3…`/`cp2…` tags; the minor part is what follows the major
/// digit, written without a leading zero.
fn cp_tag(tag: &str) -> Option<CpTag<'_>> {
    let rest = tag.strip_prefix("cp")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if !(2..=3).contains(&digits) {
        return None;
    }
    let (num, flags) = rest.split_at(digits);
    let (major, minor) = num.split_at(1);
    if minor.starts_with('0') && minor.len() > 1 {
        return None;
    }
    Some(CpTag { major: major.parse().ok()?, minor: minor.parse().ok()?, flags })
}

fn is_win32_or_amd64(platform: &str) -> bool {
    platform == "win32" || platform == "win_amd64"
}

/// delvewheel's `ignore_by_abi_platform` table, applied to one ABI tag.
fn abi_platform_rule(abi: &str, platform: &str) -> Option<&'static [&'static str]> {
    let x64_or_arm64 = platform == "win_amd64" || platform == "win_arm64";
    if let Some(cp) = cp_tag(abi) {
        let (major, minor, flags) = (cp.major, cp.minor, cp.flags);
        if major == 3 {
            // CPython 3.9 to 3.99: no flags, `t` (free-threaded) from 3.13, `d` debug builds.
            let modern_flags_ok = match minor {
                9..=12 => matches!(flags, "" | "d"),
                13..=99 => matches!(flags, "" | "t" | "d" | "td"),
                _ => false,
            };
            if modern_flags_ok {
                let debug = flags.ends_with('d');
                return match (debug, platform) {
                    (false, _) if x64_or_arm64 => Some(VC140_BOTH),
                    (false, "win32") => Some(VC140),
                    (true, _) if x64_or_arm64 || platform == "win32" => Some(VC140_DEBUG),
                    _ => None,
                };
            }
            if !is_win32_or_amd64(platform) {
                return None;
            }
            return match (minor, flags) {
                (5..=7, "m") | (8, "") => Some(VC140),
                (5..=7, "dm") | (8, "d") => Some(VC140_DEBUG),
                (3..=4, "m") => Some(MSVCR100),
                (2, "m") => Some(MSVCR90),
                _ => None,
            };
        }
        if major == 2 && matches!(minor, 6 | 7) && flags == "m" && is_win32_or_amd64(platform) {
            return Some(MSVCR90);
        }
        return None;
    }
    if let Some(rest) = abi.strip_prefix("pypy3") {
        // pypy37_pp73 … pypy399_pp73 on x64; pypy36/37_pp73 on win32
        let minor = rest.strip_suffix("_pp73")?;
        let n: u8 = if minor.len() <= 2 && !minor.starts_with('0') { minor.parse().ok()? } else { return None };
        return match platform {
            "win_amd64" if (7..=99).contains(&n) => Some(VC140),
            "win32" if (6..=7).contains(&n) => Some(VC140),
            _ => None,
        };
    }
    match (abi, platform) {
        ("pypy_73", p) if is_win32_or_amd64(p) => return Some(VC140),
        ("pypy_41", "win32") => return Some(MSVCR90),
        _ => {}
    }
    if let Some(rest) = abi.strip_prefix("graalpy") {
        // graalpy<N>_3<10..99>_native on x64
        let (version, rest) = rest.split_once('_')?;
        let py = rest.strip_suffix("_native")?;
        let ok = !version.is_empty()
            && version.bytes().all(|b| b.is_ascii_digit())
            && py.len() == 3
            && py.starts_with('3')
            && !py[1..].starts_with('0')
            && py.bytes().all(|b| b.is_ascii_digit());
        return (ok && platform == "win_amd64").then_some(VC140_BOTH);
    }
    None
}

/// delvewheel's `ignore_abi3` table, applied to one Python tag of a
/// stable-ABI wheel.
fn abi3_rule(python: &str, platform: &str) -> Option<&'static [&'static str]> {
    let cp = cp_tag(python)?;
    if cp.major != 3 {
        return None;
    }
    match (cp.minor, cp.flags, platform) {
        (9..=99, "", "win_amd64" | "win_arm64") => Some(VC140_BOTH),
        (9..=99, "", "win32") => Some(VC140),
        (5..=8, "", p) if is_win32_or_amd64(p) => Some(VC140),
        (3..=4, "m", p) if is_win32_or_amd64(p) => Some(MSVCR100),
        _ => None,
    }
}

/// delvewheel's `ignore_dependency`: imports of a given DLL that are never
/// needed (`msvcp140.dll` delay-loads `concrt140.dll` only for Windows XP).
pub fn is_ignored_dependency(importer: &str, dll_name: &str) -> bool {
    importer.eq_ignore_ascii_case("msvcp140.dll") && dll_name.eq_ignore_ascii_case("concrt140.dll")
}

#[cfg(test)]
mod tests {
    use super::*;

    const X86: u16 = 0x14c;
    const X64: u16 = 0x8664;
    const ARM64: u16 = 0xaa64;

    fn provided(dll: &str, machine: u16, py: &[&str], abi: &[&str]) -> Option<Reason> {
        is_provided(dll, machine, py, abi)
    }

    #[test]
    fn builtin_list_sizes_and_membership() {
        let d = SystemDlls::builtin();
        assert_eq!(d.source, "delvewheel 1.13.2");
        assert_eq!(d.names(WinArch::X86).len(), 1226);
        assert_eq!(d.names(WinArch::X64).len(), 1422);
        assert_eq!(d.names(WinArch::Arm64).len(), 2767);
        for arch in [WinArch::X86, WinArch::X64, WinArch::Arm64] {
            let names = d.names(arch);
            assert!(names.windows(2).all(|w| w[0] < w[1]), "{arch:?} sorted and unique");
            for dll in ["kernel32.dll", "user32.dll", "advapi32.dll", "ws2_32.dll", "msvcrt.dll"] {
                assert!(d.contains(arch, dll), "{arch:?} {dll}");
            }
            assert!(d.contains(arch, "KERNEL32.DLL"));
            assert!(!d.contains(arch, "vcruntime140.dll"));
            assert!(!d.contains(arch, "msvcp140.dll"));
            assert!(!d.contains(arch, "libopenblas.dll"));
        }
        // the UCRT is part of Windows only where every release has it (arm64: Windows 10+)
        assert!(d.contains(WinArch::Arm64, "ucrtbase.dll"));
        assert!(!d.contains(WinArch::X64, "ucrtbase.dll"));
        assert!(!d.contains(WinArch::X86, "ucrtbase.dll"));
    }

    #[test]
    fn from_json_merges_all_with_arch_lists() {
        let d = SystemDlls::from_json(
            r#"{"source": "t", "all": ["B.dll", "a.dll"], "x86": ["c.dll"], "x64": [], "arm64": ["a.dll"]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.names(WinArch::X86), ["a.dll", "b.dll", "c.dll"]);
        assert_eq!(d.names(WinArch::X64), ["a.dll", "b.dll"]);
        assert_eq!(d.names(WinArch::Arm64), ["a.dll", "b.dll"]);
        assert!(SystemDlls::from_json(r#"{"source": "t"}"#).is_err());
    }

    #[test]
    fn name_rules() {
        let cases: &[(&str, Option<Reason>)] = &[
            ("KERNEL32.dll", Some(Reason::SystemDll)),
            ("python3.dll", Some(Reason::PythonDll)),
            ("python312.dll", Some(Reason::PythonDll)),
            ("Python313t.dll", Some(Reason::PythonDll)),
            ("python313t_d.dll", Some(Reason::PythonDll)),
            ("python27_d.dll", Some(Reason::PythonDll)),
            ("libpypy3.10-c.dll", Some(Reason::PythonDll)),
            ("libpypy3-c.dll", Some(Reason::PythonDll)),
            ("python-native.dll", Some(Reason::PythonDll)),
            ("api-ms-win-crt-runtime-l1-1-0.dll", Some(Reason::ApiSet)),
            ("API-MS-WIN-CORE-SYNCH-L1-2-0.DLL", Some(Reason::ApiSet)),
            ("ext-ms-win-ntuser-window-l1-1-0.dll", Some(Reason::ApiSet)),
            ("combase.dll", Some(Reason::SystemDll)),
            ("python.dll", None),
            ("pythonx.dll", None),
            ("python312d.dll", None),
            ("python312.dll.bak", None),
            ("libpypy-c.dll", None),
            ("libpypy3..10-c.dll", None),
            ("libopenblas64_.dll", None),
            ("msvcp140.dll", None),
            ("vcruntime140.dll", None),
        ];
        for (dll, want) in cases {
            assert_eq!(provided(dll, X64, &["cp38"], &["none"]), *want, "{dll}");
        }
        // an unknown machine still gets the name rules, not the system list
        assert_eq!(provided("kernel32.dll", 0x1c0, &["cp312"], &["cp312"]), None);
        assert_eq!(provided("python312.dll", 0x1c0, &["cp312"], &["cp312"]), Some(Reason::PythonDll));
    }

    #[test]
    fn system_list_differs_per_arch() {
        let d = SystemDlls::builtin();
        let only_arm = d.names(WinArch::Arm64).iter().find(|n| !d.contains(WinArch::X86, n));
        let only_arm = only_arm.unwrap_or_else(|| panic!("arm64 has names x86 lacks"));
        assert_eq!(provided(only_arm, ARM64, &["py3"], &["none"]), Some(Reason::SystemDll));
        assert_eq!(provided(only_arm, X86, &["py3"], &["none"]).is_some(), name_rule(only_arm).is_some());
    }

    #[test]
    fn vc_runtime_by_abi_and_platform() {
        type Row<'a> = (&'a str, u16, &'a [&'a str], &'a [&'a str], bool);
        let vc = "vcruntime140.dll";
        let vc1 = "vcruntime140_1.dll";
        let rows: &[Row] = &[
            (vc, X64, &["cp39"], &["cp39"], true),
            (vc1, X64, &["cp39"], &["cp39"], true),
            (vc1, ARM64, &["cp312"], &["cp312"], true),
            (vc1, X64, &["cp313"], &["cp313t"], true),
            (vc1, X64, &["cp399"], &["cp399"], true),
            (vc, X86, &["cp311"], &["cp311"], true),
            (vc1, X86, &["cp311"], &["cp311"], false),
            (vc, X64, &["cp312"], &["cp312t"], false), // no free-threaded 3.12
            (vc, X64, &["cp38"], &["cp38"], true),
            (vc1, X64, &["cp38"], &["cp38"], false),
            (vc, X64, &["cp37"], &["cp37m"], true),
            (vc, ARM64, &["cp38"], &["cp38"], false),
            ("msvcr100.dll", X86, &["cp34"], &["cp34m"], true),
            ("msvcr90.dll", X64, &["cp27"], &["cp27m"], true),
            ("vcruntime140d.dll", X64, &["cp312"], &["cp312d"], true),
            ("ucrtbased.dll", ARM64, &["cp313"], &["cp313td"], true),
            ("vcruntime140d.dll", X64, &["cp38"], &["cp38d"], true),
            ("vcruntime140d.dll", X64, &["cp37"], &["cp37dm"], true),
            (vc, X64, &["cp312"], &["cp312d"], false),
            (vc, X64, &["pp310"], &["pypy310_pp73"], true),
            (vc1, X64, &["pp310"], &["pypy310_pp73"], false),
            (vc, X86, &["pp37"], &["pypy37_pp73"], true),
            (vc, X86, &["pp38"], &["pypy38_pp73"], false),
            (vc, ARM64, &["pp310"], &["pypy310_pp73"], false),
            (vc1, X64, &["graalpy311"], &["graalpy242_311_native"], true),
            (vc1, X64, &["graalpy311"], &["graalpy242_301_native"], false),
            // every ABI tag must allow it
            (vc1, X64, &["cp38", "cp39"], &["cp38", "cp39"], false),
            (vc, X64, &["cp38", "cp39"], &["cp38", "cp39"], true),
            (vc, X64, &["cp39"], &["cp39", "none"], false),
            (vc, X64, &["py3"], &["none"], false),
            // abi3: the Python tags decide
            (vc1, X64, &["cp39"], &["abi3"], true),
            (vc1, ARM64, &["cp311"], &["abi3"], true),
            (vc, X86, &["cp310"], &["abi3"], true),
            (vc1, X86, &["cp310"], &["abi3"], false),
            (vc, X64, &["cp36"], &["abi3"], true),
            (vc1, X64, &["cp36"], &["abi3"], false),
            (vc, X64, &["cp32"], &["abi3"], false),
            // mixed: `abi3` matches no ABI row, and the abi3 rule needs abi3-only tags
            (vc, X64, &["cp39"], &["abi3", "cp39"], false),
            (vc1, X64, &["cp313"], &["abi3", "abi3t"], true),
            (vc, X64, &[], &[], false),
        ];
        for (dll, machine, py, abi, want) in rows {
            let got = provided(dll, *machine, py, abi);
            let expected = want.then_some(Reason::VcRuntimeWithPython);
            assert_eq!(got, expected, "{dll} {machine:#x} {py:?} {abi:?}");
        }
        // case-insensitive
        assert_eq!(provided("VCRUNTIME140_1.DLL", X64, &["cp312"], &["cp312"]), Some(Reason::VcRuntimeWithPython));
        // msvcp140 never ships with Python
        assert_eq!(provided("msvcp140.dll", X64, &["cp312"], &["cp312"]), None);
    }

    #[test]
    fn cp_tag_forms() {
        for bad in ["cp3", "cp", "cp3x", "cp3090", "cp309", "py39"] {
            assert!(cp_tag(bad).is_none(), "{bad}");
        }
        let t = cp_tag("cp313td").unwrap_or_else(|| panic!("parses"));
        assert_eq!((t.major, t.minor, t.flags), (3, 13, "td"));
    }

    #[test]
    fn arch_mapping_and_dependency_rule() {
        assert_eq!(WinArch::from_machine(0x8664), Some(WinArch::X64));
        assert_eq!(WinArch::from_machine(0xa641), None);
        for a in [WinArch::X86, WinArch::X64, WinArch::Arm64] {
            assert_eq!(WinArch::from_platform_tag(a.platform_tag()), Some(a));
        }
        assert!(is_ignored_dependency("MSVCP140.dll", "concrt140.DLL"));
        assert!(!is_ignored_dependency("foo.dll", "concrt140.dll"));
        assert_eq!(Reason::VcRuntimeWithPython.to_string(), "ships with the Python versions this wheel targets");
    }
}
