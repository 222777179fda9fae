//! The release gate: `wheelfix check WHEELHOUSE`. Before `twine upload`, every
//! wheel of a directory must be compliant with the tag in its name, verify
//! against its RECORD, belong to the same project and version as the others,
//! claim tags no other wheel claims, and together the wheels must cover the
//! expected matrix of Python versions and platforms.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::analyze::{analyze, Analysis, AnalyzeOptions, Family, NodeKind, Verdict};
use crate::error::{Error, Result};
use crate::wheel::filename::normalize_name;

/// What the wheelhouse must contain.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// How binaries' dependencies are looked up.
    pub analyze: AnalyzeOptions,
    /// Python tags that must each be covered (`cp310`, `cp311`, `cp313t`, …).
    /// A wheel tagged `abi3` for `cp3X` covers every version from `cp3X` on,
    /// `abi3t` every free-threaded one (`cp3Xt`), a `cp313t` ABI tag covers
    /// `cp313t` (not `cp313`), and `py3` covers them all.
    pub expect_python: Vec<String>,
    /// Platforms that must each be covered, as `<family>_<arch>`:
    /// `manylinux_x86_64` (any manylinux tag of that arch), `musllinux_aarch64`,
    /// `macosx_arm64` (`universal2` counts for arm64 and x86_64), `win_amd64`, `any`.
    pub expect_platform: Vec<String>,
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The wheel's file name, or `-` for the wheelhouse as a whole.
    pub wheel: String,
    /// What is wrong.
    pub what: String,
}

/// The result of a check.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// The wheels checked (file names).
    pub wheels: Vec<String>,
    /// Every problem, sorted.
    pub problems: Vec<Problem>,
}

/// Version of the `check --json` document (`schema/check.schema.json`).
pub const JSON_SCHEMA_VERSION: u32 = 1;

impl CheckReport {
    /// True when the wheelhouse can be uploaded.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The `check --json` document: `{schema_version, ok, wheels, problems: [{wheel, what}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "schema_version": JSON_SCHEMA_VERSION,
            "ok": self.ok(),
            "wheels": self.wheels,
            "problems": self.problems.iter().map(|p| serde_json::json!({"wheel": p.wheel, "what": p.what})).collect::<Vec<_>>(),
        })
    }
}

/// Expands `cp310-cp313` into `cp310, cp311, cp312, cp313`; other items are kept.
pub fn expand_python_range(spec: &str) -> Vec<String> {
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if let Some((a, b)) = item.split_once('-') {
            let parse = |s: &str| -> Option<(String, u32, u32)> {
                let prefix: String = s.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
                let digits = &s[prefix.len()..];
                if digits.len() < 2 {
                    return None;
                }
                let major = digits[..1].parse().ok()?;
                let minor = digits[1..].parse().ok()?;
                Some((prefix, major, minor))
            };
            if let (Some((pa, ma, na)), Some((pb, mb, nb))) = (parse(a), parse(b)) {
                if pa == pb && ma == mb && na <= nb {
                    out.extend((na..=nb).map(|n| format!("{pa}{ma}{n}")));
                    continue;
                }
            }
        }
        out.push(item.to_string());
    }
    out
}

/// The wheels `inputs` name: a wheel file as it is, a directory as every
/// `*.whl` directly inside it (sorted); each file once, in the order given.
pub fn wheels_of<P: AsRef<Path>>(inputs: &[P]) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = Vec::new();
    for input in inputs {
        let input = input.as_ref();
        let meta = std::fs::metadata(input).map_err(|e| Error::io(input, e))?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(|e| Error::io(input, e))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "whl") && p.is_file())
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(input.to_path_buf());
        }
    }
    let mut seen = BTreeSet::new();
    out.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    Ok(out)
}

/// Checks the wheels `inputs` name, wheel files and directories in any mix
/// (a directory stands for every `*.whl` directly inside it), as one release.
pub fn check<P: AsRef<Path>>(inputs: &[P], options: &CheckOptions) -> Result<CheckReport> {
    let paths = wheels_of(inputs)?;
    let results: Vec<(String, Result<Analysis>)> = paths
        .par_iter()
        .map(|p| {
            let name = p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            (name, analyze(p, &options.analyze))
        })
        .collect();
    let mut report = CheckReport { wheels: results.iter().map(|(n, _)| n.clone()).collect(), ..Default::default() };
    let mut problem = |wheel: &str, what: String| report.problems.push(Problem { wheel: wheel.to_string(), what });
    if paths.is_empty() {
        let given: Vec<String> = inputs.iter().map(|p| format!("`{}`", p.as_ref().display())).collect();
        problem("-", format!("no wheels in {}", given.join(", ")));
    }
    let mut projects: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut claims: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut covered: BTreeSet<(String, String)> = BTreeSet::new();
    for (name, result) in &results {
        let a = match result {
            Ok(a) => a,
            Err(e) => {
                problem(name, e.to_string());
                continue;
            }
        };
        let f = &a.filename;
        projects.entry((normalize_name(&f.name), f.version.clone())).or_default().push(name.clone());
        for tag in f.tags() {
            claims.entry(tag).or_default().push(name.clone());
        }
        for what in compliance(a) {
            problem(name, what);
        }
        for what in &a.index_findings {
            problem(name, format!("the package index refuses it: {what}"));
        }
        for what in &a.repair_findings {
            problem(name, what.clone());
        }
        for py in &f.python {
            for abi in &f.abi {
                for plat in &f.platform {
                    covered.insert((coverage_python(py, abi), plat.clone()));
                }
            }
        }
    }
    if projects.len() > 1 {
        let list: Vec<String> = projects.keys().map(|(n, v)| format!("{n} {v}")).collect();
        problem("-", format!("the wheels belong to different projects or versions: {}", list.join(", ")));
    }
    for (tag, wheels) in &claims {
        if wheels.len() > 1 {
            problem("-", format!("tag `{tag}` is claimed by {} wheels: {}", wheels.len(), wheels.join(", ")));
        }
    }
    // the matrix
    let pythons: Vec<String> =
        if options.expect_python.is_empty() { vec![String::new()] } else { options.expect_python.clone() };
    let platforms: Vec<String> =
        if options.expect_platform.is_empty() { vec![String::new()] } else { options.expect_platform.clone() };
    if !options.expect_python.is_empty() || !options.expect_platform.is_empty() {
        for py in &pythons {
            for plat in &platforms {
                let hit = covered.iter().any(|(cpy, cplat)| {
                    (py.is_empty() || python_covers(cpy, py)) && (plat.is_empty() || platform_covers(cplat, plat))
                });
                if !hit {
                    let what = match (py.is_empty(), plat.is_empty()) {
                        (false, false) => format!("no wheel for {py} on {plat}"),
                        (false, true) => format!("no wheel for {py}"),
                        _ => format!("no wheel for {plat}"),
                    };
                    problem("-", what);
                }
            }
        }
    }
    report.problems.sort();
    report.problems.dedup();
    Ok(report)
}

/// `cp312` for a version-specific wheel, `cp313t` for a free-threaded one
/// (ABI tag `cp313t`), `cp312+` for abi3 and `cp315t+` for abi3t (they
/// cover later versions of the same kind), `py3` as it is.
fn coverage_python(py: &str, abi: &str) -> String {
    if abi == "abi3" {
        format!("{py}+")
    } else if abi == "abi3t" {
        format!("{py}t+")
    } else if abi.strip_suffix('t').is_some_and(|a| a == py) {
        abi.to_string()
    } else {
        py.to_string()
    }
}

fn python_covers(covered: &str, wanted: &str) -> bool {
    if covered == wanted {
        return true;
    }
    let version = |s: &str| -> Option<(u32, u32)> {
        let d = s.trim_start_matches(|c: char| c.is_ascii_alphabetic()).trim_end_matches('+').trim_end_matches('t');
        Some((d.get(..1)?.parse().ok()?, d.get(1..).filter(|x| !x.is_empty()).map_or(Some(0), |x| x.parse().ok())?))
    };
    if let Some(base) = covered.strip_suffix('+') {
        // abi3 (abi3t): that version and every later one of the same
        // implementation, with the GIL (free-threaded)
        let same_impl =
            base.chars().take_while(char::is_ascii_alphabetic).eq(wanted.chars().take_while(char::is_ascii_alphabetic));
        let same_kind = base.ends_with('t') == wanted.ends_with('t');
        return same_impl
            && same_kind
            && matches!((version(base), version(wanted)), (Some(a), Some(b)) if a.0 == b.0 && b.1 >= a.1);
    }
    // `py3` / `py2.py3` style: any implementation of that major version
    if let Some(major) = covered.strip_prefix("py") {
        return version(wanted).is_some_and(|(m, _)| major == m.to_string());
    }
    false
}

fn platform_covers(tag: &str, wanted: &str) -> bool {
    if tag == wanted || tag == "any" {
        return true;
    }
    let arch_of = |t: &str| -> String {
        for prefix in ["manylinux_", "musllinux_", "macosx_"] {
            if let Some(rest) = t.strip_prefix(prefix) {
                // <major>_<minor>_<arch>
                let mut parts = rest.splitn(3, '_');
                let (_, _, arch) = (parts.next(), parts.next(), parts.next());
                return arch.unwrap_or("").to_string();
            }
        }
        for legacy in ["manylinux1_", "manylinux2010_", "manylinux2014_", "linux_"] {
            if let Some(arch) = t.strip_prefix(legacy) {
                return arch.to_string();
            }
        }
        String::new()
    };
    let family = |t: &str| -> &str {
        if t.starts_with("manylinux") {
            "manylinux"
        } else if t.starts_with("musllinux") {
            "musllinux"
        } else if t.starts_with("macosx") {
            "macosx"
        } else {
            ""
        }
    };
    let Some((wfam, warch)) = wanted.split_once('_') else { return false };
    if family(tag) != wfam {
        return false;
    }
    let arch = arch_of(tag);
    arch == warch
        || (wfam == "macosx" && arch == "universal2" && (warch == "arm64" || warch == "x86_64"))
        || (wfam == "macosx" && arch == "intel" && (warch == "i386" || warch == "x86_64"))
}

/// Why a wheel does not deserve the tags in its name.
fn compliance(a: &Analysis) -> Vec<String> {
    let mut out = Vec::new();
    let missing: Vec<&str> =
        a.graph.nodes.iter().filter(|n| n.kind == NodeKind::Missing).map(|n| n.name.as_str()).collect();
    match &a.verdict {
        Verdict::Pure => {}
        Verdict::Linux(v) => {
            for tag in &a.filename.platform {
                if tag.starts_with("linux_") {
                    out.push(format!("`{tag}` cannot be uploaded to PyPI: repair the wheel"));
                    continue;
                }
                let Ok(p) = v.policies.by_tag(tag) else {
                    out.push(format!("unknown platform tag `{tag}`"));
                    continue;
                };
                let ptag = p.tag();
                for b in v.violations_for(&ptag) {
                    out.push(format!("not `{tag}`: {}", b));
                }
                if let Some(ext) = v.external_for(&ptag) {
                    for name in ext.keys() {
                        out.push(format!("not `{tag}`: needs {name}, which the platform does not provide"));
                    }
                }
            }
        }
        Verdict::Macos(m) => {
            for n in a.to_bundle() {
                out.push(format!("needs {}, which macOS does not provide", a.graph.nodes[n].name));
            }
            match &m.best {
                Err(e) => out.push(e.clone()),
                Ok(best) => {
                    // the name may claim an older macOS than the binaries need
                    for tag in &a.filename.platform {
                        let claimed = crate::policy::macos::parse_macos_tag(tag);
                        let need = best
                            .iter()
                            .filter_map(|t| crate::policy::macos::parse_macos_tag(t))
                            .find(|(_, arch)| claimed.is_some_and(|(_, c)| c == *arch));
                        if let (Some((cv, _)), Some((nv, _))) = (claimed, need) {
                            if cv < nv {
                                out.push(format!("`{tag}` claims macOS {cv}, but the binaries need {nv}"));
                            }
                        }
                    }
                }
            }
        }
        Verdict::Windows(w) => {
            for b in &w.blockers {
                out.push(b.to_string());
            }
            for n in a.to_bundle() {
                if a.graph.nodes[n].kind != NodeKind::Missing {
                    out.push(format!("needs {}, which Windows does not provide", a.graph.nodes[n].name));
                }
            }
        }
    }
    out.extend(a.audit.iter().map(ToString::to_string));
    out.extend(a.link_lint.iter().map(ToString::to_string));
    for name in missing {
        if a.family() != Family::Linux {
            out.push(format!("needs {name}, which is neither in the wheel nor provided by the platform"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_ranges() {
        assert_eq!(expand_python_range("cp310-cp313"), ["cp310", "cp311", "cp312", "cp313"]);
        assert_eq!(expand_python_range("cp39,pp310"), ["cp39", "pp310"]);
    }

    #[test]
    fn coverage() {
        assert!(python_covers("cp312", "cp312"));
        assert!(python_covers("cp310+", "cp313"));
        assert!(!python_covers("cp311+", "cp310"));
        assert!(python_covers("py3", "cp312"));
        assert!(!python_covers("cp311", "cp312"));
        // free-threaded builds: abi3t covers them, abi3 does not
        assert!(python_covers("cp315t+", "cp316t"));
        assert!(!python_covers("cp315t+", "cp316"));
        assert!(!python_covers("cp39+", "cp313t"));
        assert!(!python_covers("cp315t+", "cp314t"));
        assert_eq!(coverage_python("cp315", "abi3t"), "cp315t+");
        assert_eq!(coverage_python("cp313", "cp313t"), "cp313t");
        assert_eq!(coverage_python("cp313", "cp313"), "cp313");
        assert!(python_covers(&coverage_python("cp313", "cp313t"), "cp313t"));
        assert!(!python_covers(&coverage_python("cp313", "cp313t"), "cp313"));
        assert!(platform_covers("manylinux_2_17_x86_64", "manylinux_x86_64"));
        assert!(platform_covers("manylinux2014_x86_64", "manylinux_x86_64"));
        assert!(!platform_covers("manylinux_2_17_aarch64", "manylinux_x86_64"));
        assert!(platform_covers("macosx_11_0_universal2", "macosx_arm64"));
        assert!(platform_covers("macosx_10_9_x86_64", "macosx_x86_64"));
        assert!(platform_covers("win_amd64", "win_amd64"));
        assert!(!platform_covers("win32", "win_amd64"));
        assert!(!platform_covers("musllinux_1_2_x86_64", "manylinux_x86_64"));
    }
}
