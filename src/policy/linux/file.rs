//! Policy files in auditwheel's JSON schema: reading, the PEP 600 checks,
//! and the built-in files embedded from `policies/`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::OnceLock;

use super::rules::is_loader;
use super::{Libc, PolicyError, LINUX};

pub(super) const MANYLINUX_JSON: &str = include_str!("../../../policies/manylinux-policy.json");
pub(super) const MUSLLINUX_JSON: &str = include_str!("../../../policies/musllinux-policy.json");

/// One policy as written in a policy file (auditwheel's schema).
#[derive(Debug, serde::Deserialize)]
pub(super) struct RawPolicy {
    /// Base name (`manylinux_2_17`).
    pub(super) name: String,
    /// Legacy aliases (`manylinux2014`).
    pub(super) aliases: Vec<String>,
    /// Priority, checked to fit a `u32` by [`validate`].
    pub(super) priority: i64,
    /// Architecture → version prefix → allowed versions.
    pub(super) symbol_versions: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Libraries the platform provides.
    pub(super) lib_whitelist: Vec<String>,
    /// Library → symbols that must not be imported from it.
    pub(super) blacklist: BTreeMap<String, Vec<String>>,
}

/// Parses a policy file and checks it ([`validate`]).
pub(super) fn parse_file(text: &str, file_label: &str) -> Result<Vec<RawPolicy>, PolicyError> {
    let raw = parse_unvalidated(text, file_label)?;
    validate(&raw).map_err(|reason| PolicyError::Invalid { file: file_label.to_string(), reason })?;
    Ok(raw)
}

/// A policy file in auditwheel's schema, not yet checked by [`validate`].
fn parse_unvalidated(text: &str, file_label: &str) -> Result<Vec<RawPolicy>, PolicyError> {
    serde_json::from_str(text).map_err(|e| PolicyError::Invalid { file: file_label.to_string(), reason: e.to_string() })
}

/// Checks names, priorities and the PEP 600 ordering over the whole file.
fn validate(raw: &[RawPolicy]) -> Result<(), String> {
    let mut names = BTreeSet::new();
    let mut priorities = BTreeSet::new();
    for p in raw {
        if u32::try_from(p.priority).is_err() {
            return Err(format!("priority of `{}` is not a number from 0 to {}", p.name, u32::MAX));
        }
        for n in std::iter::once(&p.name).chain(&p.aliases) {
            if !is_tag_name(n) {
                return Err(format!("`{n}` is not a platform tag name"));
            }
            if !names.insert(n.as_str()) {
                return Err(format!("`{n}` is defined twice"));
            }
        }
        if !priorities.insert(p.priority) {
            return Err(format!("priority {} is used twice (again by `{}`)", p.priority, p.name));
        }
        if (p.name == LINUX) != (p.priority == 0) {
            return Err("priority 0 must belong to the `linux` policy and to it alone".to_string());
        }
    }
    if !names.contains(LINUX) {
        return Err("there is no `linux` policy".to_string());
    }

    // PEP 600: from higher to lower priority, what is allowed only grows.
    let mut ordered: Vec<&RawPolicy> = raw.iter().filter(|p| p.name != LINUX).collect();
    ordered.sort_by_key(|p| std::cmp::Reverse(p.priority));
    let mut whitelist: BTreeSet<&str> = BTreeSet::new();
    let mut versions: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    for p in ordered {
        let this: BTreeSet<&str> = p.lib_whitelist.iter().map(String::as_str).collect();
        if let Some(missing) = whitelist.difference(&this).next() {
            return Err(format!("`{}` does not whitelist `{missing}`, which a more compatible policy does", p.name));
        }
        whitelist.extend(this);
        for (arch, prefixes) in &p.symbol_versions {
            for (prefix, list) in prefixes {
                let this: BTreeSet<&str> = list.iter().map(String::as_str).collect();
                let seen = versions.entry((arch.as_str(), prefix.as_str())).or_default();
                if let Some(missing) = seen.difference(&this).next() {
                    return Err(format!(
                        "`{}_{arch}` does not allow `{prefix}_{missing}`, which a more compatible policy does",
                        p.name
                    ));
                }
                seen.extend(this);
            }
        }
    }
    Ok(())
}

/// Policy names are tag parts: lowercase ASCII letters, digits and `_`.
fn is_tag_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// musl policies whitelist `libc.so`; the real soname is
/// `libc.musl-<arch>.so.1` with musl's own architecture names.
pub(super) fn fixup_musl_libc(libc: Libc, arch: &str, lib: &str) -> String {
    if libc != Libc::Musl || lib != "libc.so" {
        return lib.to_string();
    }
    let musl_arch = match arch {
        "i686" => "x86",
        "armv7l" => "armv7",
        other => other,
    };
    format!("libc.musl-{musl_arch}.so.1")
}

/// The built-in policy file for `libc`, parsed once per process (selecting
/// an arch from it is cheap). It is not validated at run time, which took
/// most of the time: the test `builtin_policy_files_validate` does that.
pub(super) fn builtin_raw(libc: Libc) -> &'static Result<Vec<RawPolicy>, PolicyError> {
    static MANYLINUX: OnceLock<Result<Vec<RawPolicy>, PolicyError>> = OnceLock::new();
    static MUSLLINUX: OnceLock<Result<Vec<RawPolicy>, PolicyError>> = OnceLock::new();
    match libc {
        Libc::Glibc => MANYLINUX.get_or_init(|| parse_unvalidated(MANYLINUX_JSON, "builtin:manylinux-policy.json")),
        Libc::Musl => MUSLLINUX.get_or_init(|| parse_unvalidated(MUSLLINUX_JSON, "builtin:musllinux-policy.json")),
    }
}

/// Parses the built-in policy file for `libc` now (on another thread while
/// the wheel is read), so that [`LinuxPolicies::builtin`](super::LinuxPolicies::builtin) finds it ready.
pub fn preload_builtin(libc: Libc) {
    let _ = builtin_raw(libc);
}

/// Whether any built-in manylinux or musllinux policy allows linking
/// against `soname` (for musl, also the `libc.musl-<arch>.so.1` and
/// `ld-musl-…` names). A quick first guess, made before the wheel's libc and
/// architecture are known; the policies themselves decide later.
pub fn whitelisted_by_any_builtin(soname: &str) -> bool {
    static ALL: OnceLock<HashSet<String>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        [Libc::Glibc, Libc::Musl]
            .into_iter()
            .filter_map(|libc| builtin_raw(libc).as_ref().ok())
            .flatten()
            .flat_map(|p| p.lib_whitelist.iter().cloned())
            .collect()
    });
    all.contains(soname) || soname.starts_with("libc.musl-") || soname.starts_with("ld-musl-") || is_loader(soname)
}
