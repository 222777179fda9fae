//! manylinux / musllinux policies in auditwheel's JSON format, and the pure
//! rules that decide which policy a set of ELF files satisfies.
//!
//! The built-in policies are embedded from `policies/*.json`; a user file in
//! the same schema is read with [`LinuxPolicies::from_json`]. Loading keeps the
//! policies that list the requested architecture (plus `linux`), checks the
//! PEP 600 ordering (a lower-priority policy never allows less than a higher
//! one) and sorts them by priority, highest first.
//!
//! Every check returns data in a deterministic order (`BTreeMap`/`BTreeSet`),
//! never formatted text, so `show`, `repair` and JSON output can share it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::OnceLock;

use super::PolicyError;
use crate::binary::elf::VersionNeed;

const MANYLINUX_JSON: &str = include_str!("../../policies/manylinux-policy.json");
const MUSLLINUX_JSON: &str = include_str!("../../policies/musllinux-policy.json");

/// Name of the catch-all policy that allows everything.
const LINUX: &str = "linux";

/// The C library a wheel targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Libc {
    /// glibc: manylinux.
    Glibc,
    /// musl: musllinux.
    Musl,
}

impl Libc {
    /// The tag family: `manylinux` or `musllinux`.
    pub fn family(self) -> &'static str {
        match self {
            Libc::Glibc => "manylinux",
            Libc::Musl => "musllinux",
        }
    }
}

/// One policy resolved for one architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxPolicy {
    /// Base name without the architecture (`manylinux_2_17`, `musllinux_1_2`, `linux`).
    pub name: String,
    /// Legacy aliases without the architecture (`manylinux2014`).
    pub aliases: Vec<String>,
    /// Higher is more compatible; `linux` is 0.
    pub priority: u32,
    /// The architecture (`x86_64`, …).
    pub arch: String,
    /// Allowed versions per prefix (`GLIBC` → {`2.2.5`, …}).
    pub symbol_versions: BTreeMap<String, BTreeSet<String>>,
    /// Libraries the platform provides.
    pub lib_whitelist: BTreeSet<String>,
    /// Symbols that must not be imported from a whitelisted library.
    pub blacklist: BTreeMap<String, BTreeSet<String>>,
}

/// A symbol version a file requires that a policy does not allow.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct SymbolViolation {
    /// The library the version is required from (`libc.so.6`).
    pub lib: String,
    /// The full version name (`GLIBC_2.34`).
    pub version: String,
}

impl LinuxPolicy {
    /// The platform tag: `<name>_<arch>` (`manylinux_2_17_x86_64`).
    pub fn tag(&self) -> String {
        format!("{}_{}", self.name, self.arch)
    }

    /// The alias tags: `<alias>_<arch>` (`manylinux2014_x86_64`).
    pub fn alias_tags(&self) -> Vec<String> {
        self.aliases.iter().map(|a| format!("{a}_{}", self.arch)).collect()
    }

    /// True for the catch-all `linux` policy.
    pub fn is_linux(&self) -> bool {
        self.name == LINUX
    }

    /// The symbol versions in `required` (soname → `PREFIX_version` names)
    /// that this policy does not allow, sorted.
    ///
    /// auditwheel's rule: a version is split at its first `_` into a prefix
    /// (`GLIBC`) and a version (`2.17`); prefixes the policy does not list
    /// are not checked, and for a listed prefix the version must be in the
    /// policy's set. `linux` lists no prefix and so allows everything.
    pub fn versioned_symbols_ok(&self, required: &BTreeMap<String, BTreeSet<String>>) -> Vec<SymbolViolation> {
        let mut out = Vec::new();
        for (lib, versions) in required {
            for full in versions {
                let (prefix, version) = split_version(full);
                if let Some(allowed) = self.symbol_versions.get(prefix) {
                    if !allowed.contains(version) {
                        out.push(SymbolViolation { lib: lib.clone(), version: full.clone() });
                    }
                }
            }
        }
        out
    }

    /// The blacklisted symbols a file imports: for every library the file
    /// needs (`needed_libs`, its DT_NEEDED) that this policy blacklists, the
    /// blacklisted names among `imported_symbols` (its undefined, non-weak
    /// dynamic symbols). Libraries with no such import are left out.
    pub fn blacklisted<N, S>(&self, needed_libs: &[N], imported_symbols: &[S]) -> BTreeMap<String, BTreeSet<String>>
    where
        N: AsRef<str>,
        S: AsRef<str>,
    {
        let imported: BTreeSet<&str> = imported_symbols.iter().map(AsRef::as_ref).collect();
        let mut out = BTreeMap::new();
        for lib in needed_libs {
            let lib = lib.as_ref();
            let Some(banned) = self.blacklist.get(lib) else { continue };
            let hits: BTreeSet<String> = banned.iter().filter(|s| imported.contains(s.as_str())).cloned().collect();
            if !hits.is_empty() {
                out.insert(lib.to_string(), hits);
            }
        }
        out
    }

    /// True when the platform provides `soname` under this policy. The
    /// `linux` policy has no whitelist: nothing is external under it, which
    /// callers handle by not looking for external libraries at all.
    pub fn is_whitelisted(&self, soname: &str) -> bool {
        self.lib_whitelist.contains(soname)
    }
}

/// Splits `GLIBC_2.17` into (`GLIBC`, `2.17`) at the first `_`; a name with
/// no `_` is all prefix.
fn split_version(full: &str) -> (&str, &str) {
    full.split_once('_').unwrap_or((full, ""))
}

/// Every policy for one libc and architecture, highest priority first
/// (`linux` last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxPolicies {
    /// The libc.
    pub libc: Libc,
    /// The architecture.
    pub arch: String,
    /// Highest priority first.
    pub policies: Vec<LinuxPolicy>,
}

/// One policy as written in a policy file (auditwheel's schema).
#[derive(Debug, serde::Deserialize)]
struct RawPolicy {
    name: String,
    aliases: Vec<String>,
    priority: i64,
    symbol_versions: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    lib_whitelist: Vec<String>,
    blacklist: BTreeMap<String, Vec<String>>,
}

impl LinuxPolicies {
    /// The built-in policies (embedded from `policies/*.json`).
    pub fn builtin(libc: Libc, arch: &str) -> Result<Self, PolicyError> {
        Self::select(builtin_raw(libc).as_ref().map_err(Clone::clone)?, libc, arch)
    }

    /// Reads a policy file in auditwheel's schema and keeps the policies for
    /// `arch`. `file_label` names the file in errors.
    ///
    /// Errors: the JSON does not parse or does not have the schema; a name
    /// or alias is not a tag name or is used twice; two policies share a
    /// priority; there is no `linux` policy (priority 0, the only one with
    /// priority 0); the PEP 600 ordering is broken; no policy but `linux`
    /// lists `arch` ([`PolicyError::UnsupportedArch`]).
    pub fn from_json(text: &str, file_label: &str, libc: Libc, arch: &str) -> Result<Self, PolicyError> {
        Self::select(&parse_file(text, file_label)?, libc, arch)
    }

    /// Keeps the policies of a validated file that list `arch` (plus
    /// `linux`), highest priority first.
    fn select(raw: &[RawPolicy], libc: Libc, arch: &str) -> Result<Self, PolicyError> {
        let mut policies = Vec::new();
        for p in raw {
            let is_linux = p.name == LINUX;
            let versions = match p.symbol_versions.get(arch) {
                Some(v) => v,
                None if is_linux => &BTreeMap::new(),
                None => continue,
            };
            // `validate` checked the range; 0 is only reachable for `linux`.
            let priority = u32::try_from(p.priority).unwrap_or(0);
            policies.push(LinuxPolicy {
                name: p.name.clone(),
                aliases: p.aliases.clone(),
                priority,
                arch: arch.to_string(),
                symbol_versions: versions.iter().map(|(k, v)| (k.clone(), v.iter().cloned().collect())).collect(),
                lib_whitelist: p.lib_whitelist.iter().map(|lib| fixup_musl_libc(libc, arch, lib)).collect(),
                blacklist: p.blacklist.iter().map(|(k, v)| (k.clone(), v.iter().cloned().collect())).collect(),
            });
        }
        policies.sort_by_key(|p| std::cmp::Reverse(p.priority));
        if policies.len() < 2 {
            return Err(PolicyError::UnsupportedArch { family: libc.family().to_string(), arch: arch.to_string() });
        }
        Ok(LinuxPolicies { libc, arch: arch.to_string(), policies })
    }

    /// The policy with this tag: base name or alias, with or without the
    /// `_<arch>` suffix (`manylinux_2_17_x86_64`, `manylinux2014_x86_64`,
    /// `manylinux_2_17`, `linux_x86_64`). A tag for another architecture is
    /// unknown.
    pub fn by_tag(&self, tag: &str) -> Result<&LinuxPolicy, PolicyError> {
        let base = tag.strip_suffix(self.arch.as_str()).and_then(|t| t.strip_suffix('_')).unwrap_or(tag);
        self.policies
            .iter()
            .find(|p| p.name == base || p.aliases.iter().any(|a| a == base))
            .ok_or_else(|| PolicyError::UnknownTag(tag.to_string()))
    }

    /// The most compatible policy (highest priority): `manylinux_2_5` on
    /// x86_64, `manylinux_2_17` on aarch64, `musllinux_1_1`.
    pub fn highest(&self) -> &LinuxPolicy {
        // `from_json` guarantees at least two policies, `linux` last.
        &self.policies[0]
    }

    /// The least compatible policy that is not `linux` (`manylinux_2_41`).
    pub fn lowest(&self) -> &LinuxPolicy {
        let n = self.policies.len();
        &self.policies[n.saturating_sub(2)]
    }

    /// The catch-all `linux` policy.
    pub fn linux(&self) -> &LinuxPolicy {
        let n = self.policies.len();
        &self.policies[n.saturating_sub(1)]
    }

    /// The highest-priority policy that allows every symbol version in
    /// `required` (`linux` allows everything).
    pub fn best_for_symbols(&self, required: &BTreeMap<String, BTreeSet<String>>) -> &LinuxPolicy {
        self.policies.iter().find(|p| p.versioned_symbols_ok(required).is_empty()).unwrap_or_else(|| self.linux())
    }

    /// The highest-priority policy that whitelists `soname`, if any. An ELF
    /// that needs a newer x86-64 ISA level than baseline can only be tagged
    /// with a policy under which it is a system library.
    pub fn highest_whitelisting(&self, soname: &str) -> Option<&LinuxPolicy> {
        self.policies.iter().find(|p| p.is_whitelisted(soname))
    }
}

/// Parses a policy file and checks it ([`validate`]).
fn parse_file(text: &str, file_label: &str) -> Result<Vec<RawPolicy>, PolicyError> {
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
fn fixup_musl_libc(libc: Libc, arch: &str, lib: &str) -> String {
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
fn builtin_raw(libc: Libc) -> &'static Result<Vec<RawPolicy>, PolicyError> {
    static MANYLINUX: OnceLock<Result<Vec<RawPolicy>, PolicyError>> = OnceLock::new();
    static MUSLLINUX: OnceLock<Result<Vec<RawPolicy>, PolicyError>> = OnceLock::new();
    match libc {
        Libc::Glibc => MANYLINUX.get_or_init(|| parse_unvalidated(MANYLINUX_JSON, "builtin:manylinux-policy.json")),
        Libc::Musl => MUSLLINUX.get_or_init(|| parse_unvalidated(MUSLLINUX_JSON, "builtin:musllinux-policy.json")),
    }
}

/// Parses the built-in policy file for `libc` now (on another thread while
/// the wheel is read), so that [`LinuxPolicies::builtin`] finds it ready.
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

/// The symbol versions an ELF file requires, grouped by library, from its
/// `.gnu.version_r` entries. The dynamic loader's own versions
/// (`ld-linux*`, `ld64.so.1/2`) are left out, as auditwheel does.
pub fn required_versions(needs: &[VersionNeed]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for need in needs {
        if need.file.contains("ld-linux") || need.file == "ld64.so.1" || need.file == "ld64.so.2" {
            continue;
        }
        out.entry(need.file.clone()).or_default().extend(need.versions.iter().cloned());
    }
    out
}

/// True for the dynamic loader's names: `ld-linux*`, `ld64.so.1`,
/// `ld64.so.2`, `ld-musl-*`. Never bundled, never external.
pub fn is_loader(soname: &str) -> bool {
    let base = soname.rsplit('/').next().unwrap_or(soname);
    base.starts_with("ld-linux") || base == "ld64.so.1" || base == "ld64.so.2" || base.starts_with("ld-musl-")
}

/// True for a libpython soname: `libpython<X>.<Y>[m|t].so[.<N>]*`
/// (`libpython3.12.so.1.0`, `libpython3.13t.so`, `libpython3.7m.so.1.0`).
pub fn is_libpython(soname: &str) -> bool {
    fn digits(s: &str) -> Option<&str> {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        (n > 0).then(|| &s[n..])
    }
    let Some(rest) = soname.strip_prefix("libpython") else { return false };
    let Some(rest) = digits(rest).and_then(|r| r.strip_prefix('.')).and_then(digits) else { return false };
    let rest = rest.strip_prefix(['m', 't']).unwrap_or(rest);
    let Some(mut rest) = rest.strip_prefix(".so") else { return false };
    while !rest.is_empty() {
        match rest.strip_prefix('.').and_then(digits) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    true
}

/// The x86-64 micro-architecture level an ELF needs, from its
/// GNU_PROPERTY_X86_ISA_1_NEEDED bits: 1 (baseline, for 0 or 0x1),
/// 2 (0x2), 3 (0x4) or 4 (0x8); the highest set bit wins. Bits auditwheel
/// does not know are ignored here; see [`isa_bits_unknown`].
pub fn isa_level_from_bits(bits: u32) -> u8 {
    if bits & 0x8 != 0 {
        4
    } else if bits & 0x4 != 0 {
        3
    } else if bits & 0x2 != 0 {
        2
    } else {
        1
    }
}

/// True when the ISA bits ask for something beyond baseline that is not
/// v2, v3 or v4: auditwheel then refuses the file as "unknown x86_64 ISA".
pub fn isa_bits_unknown(bits: u32) -> bool {
    bits & !1 != 0 && bits & 0xe == 0
}

/// The architecture part of a Linux platform tag:
/// `manylinux_2_17_x86_64` → `x86_64`, `manylinux2014_aarch64` →
/// `aarch64`, `musllinux_1_2_armv7l` → `armv7l`, `linux_i686` → `i686`.
pub fn arch_of_tag(tag: &str) -> Option<&str> {
    let rest = if let Some(r) = tag.strip_prefix("manylinux_").or_else(|| tag.strip_prefix("musllinux_")) {
        // two version numbers, then the architecture
        let (major, r) = r.split_once('_')?;
        let (minor, r) = r.split_once('_')?;
        if !is_number(major) || !is_number(minor) {
            return None;
        }
        r
    } else {
        ["manylinux1_", "manylinux2010_", "manylinux2014_", "linux_"].iter().find_map(|p| tag.strip_prefix(p))?
    };
    (!rest.is_empty()).then_some(rest)
}

/// The libc of a Linux platform tag: `manylinux*` → glibc, `musllinux*` →
/// musl; `None` for `linux_*` and anything else.
pub fn libc_of_tag(tag: &str) -> Option<Libc> {
    arch_of_tag(tag)?;
    if tag.starts_with("manylinux") {
        Some(Libc::Glibc)
    } else if tag.starts_with("musllinux") {
        Some(Libc::Musl)
    } else {
        None
    }
}

/// The libc a wheel's platform tags point to: that of its first
/// manylinux/musllinux tag, or glibc for a plain `linux_*` tag (what a build
/// on a glibc machine gives). `None` for a wheel of another platform.
pub fn libc_of_wheel_tags(tags: &[String]) -> Option<Libc> {
    tags.iter().find_map(|t| libc_of_tag(t).or_else(|| t.starts_with("linux_").then_some(Libc::Glibc)))
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_policy_files_validate() {
        for (text, file) in [(MANYLINUX_JSON, "manylinux"), (MUSLLINUX_JSON, "musllinux")] {
            let raw = parse_file(text, file).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(raw.len() > 2, "{file}");
        }
        assert!(builtin_raw(Libc::Glibc).is_ok() && builtin_raw(Libc::Musl).is_ok());
    }

    fn req(pairs: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        pairs.iter().map(|(l, vs)| (l.to_string(), vs.iter().map(|v| v.to_string()).collect())).collect()
    }

    fn glibc(arch: &str) -> LinuxPolicies {
        match LinuxPolicies::builtin(Libc::Glibc, arch) {
            Ok(p) => p,
            Err(e) => panic!("builtin manylinux for {arch}: {e}"),
        }
    }

    fn tags(p: &LinuxPolicies) -> Vec<String> {
        p.policies.iter().map(LinuxPolicy::tag).collect()
    }

    #[test]
    fn builtin_x86_64_has_every_policy_in_priority_order() {
        let p = glibc("x86_64");
        let expected: Vec<String> = [
            "manylinux_2_5",
            "manylinux_2_12",
            "manylinux_2_17",
            "manylinux_2_24",
            "manylinux_2_26",
            "manylinux_2_27",
            "manylinux_2_28",
            "manylinux_2_31",
            "manylinux_2_34",
            "manylinux_2_35",
            "manylinux_2_36",
            "manylinux_2_37",
            "manylinux_2_38",
            "manylinux_2_39",
            "manylinux_2_40",
            "manylinux_2_41",
            "linux",
        ]
        .iter()
        .map(|n| format!("{n}_x86_64"))
        .collect();
        assert_eq!(tags(&p), expected);
        assert_eq!(p.highest().tag(), "manylinux_2_5_x86_64");
        assert_eq!(p.highest().alias_tags(), vec!["manylinux1_x86_64"]);
        assert_eq!(p.lowest().tag(), "manylinux_2_41_x86_64");
        assert_eq!(p.linux().tag(), "linux_x86_64");
        assert_eq!(p.linux().priority, 0);
        assert!(p.policies.windows(2).all(|w| w[0].priority > w[1].priority));
    }

    #[test]
    fn builtin_arch_filtering() {
        // aarch64 starts at 2_17, ppc64 only has 2_17, riscv64 from 2_31, loongarch64 from 2_36
        assert_eq!(glibc("aarch64").highest().tag(), "manylinux_2_17_aarch64");
        assert_eq!(tags(&glibc("ppc64")), vec!["manylinux_2_17_ppc64", "linux_ppc64"]);
        assert_eq!(glibc("riscv64").highest().name, "manylinux_2_31");
        assert_eq!(glibc("loongarch64").highest().name, "manylinux_2_36");
        assert_eq!(glibc("i686").highest().name, "manylinux_2_5");
        let err = LinuxPolicies::builtin(Libc::Glibc, "sparc64");
        assert_eq!(err, Err(PolicyError::UnsupportedArch { family: "manylinux".into(), arch: "sparc64".into() }));
        assert!(LinuxPolicies::builtin(Libc::Musl, "ppc64").is_err());
    }

    #[test]
    fn builtin_whitelist_and_versions_facts() {
        let p = glibc("x86_64");
        let newest = p.lowest();
        assert_eq!(newest.lib_whitelist.len(), 24);
        for lib in ["libc.so.6", "libstdc++.so.6", "libz.so.1", "libexpat.so.1", "libGL.so.1", "libmvec.so.1"] {
            assert!(newest.is_whitelisted(lib), "{lib}");
        }
        assert!(!newest.is_whitelisted("libssl.so.3"));
        let m2014 = p.by_tag("manylinux2014").unwrap_or_else(|e| panic!("{e}"));
        assert!(m2014.symbol_versions["GLIBC"].contains("2.17"));
        assert!(!m2014.symbol_versions["GLIBC"].contains("2.18"));
        // ≤2_17 blacklist libc symbols, ≥2_24 only libz internals
        assert!(m2014.blacklist.contains_key("libc.so.6"));
        assert_eq!(
            p.by_tag("manylinux_2_24").map(|x| x.blacklist.keys().cloned().collect()),
            Ok(vec!["libz.so.1".to_string()])
        );
    }

    #[test]
    fn musl_libc_soname_per_arch() {
        for (arch, soname) in [
            ("x86_64", "libc.musl-x86_64.so.1"),
            ("i686", "libc.musl-x86.so.1"),
            ("armv7l", "libc.musl-armv7.so.1"),
            ("aarch64", "libc.musl-aarch64.so.1"),
            ("loongarch64", "libc.musl-loongarch64.so.1"),
        ] {
            let p = LinuxPolicies::builtin(Libc::Musl, arch).unwrap_or_else(|e| panic!("{e}"));
            assert!(p.highest().is_whitelisted(soname), "{arch}");
            assert!(!p.highest().is_whitelisted("libc.so"), "{arch}");
            assert!(p.highest().is_whitelisted("libz.so.1"));
        }
        let x = LinuxPolicies::builtin(Libc::Musl, "x86_64").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tags(&x), vec!["musllinux_1_1_x86_64", "musllinux_1_2_x86_64", "linux_x86_64"]);
        // loongarch64 only from musllinux_1_2
        let l = LinuxPolicies::builtin(Libc::Musl, "loongarch64").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(l.highest().name, "musllinux_1_2");
    }

    #[test]
    fn by_tag_forms() {
        let p = glibc("x86_64");
        for t in ["manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_17", "manylinux2014"] {
            assert_eq!(p.by_tag(t).map(|x| x.name.as_str()), Ok("manylinux_2_17"), "{t}");
        }
        assert_eq!(p.by_tag("manylinux1_x86_64").map(|x| x.name.as_str()), Ok("manylinux_2_5"));
        assert_eq!(p.by_tag("linux_x86_64").map(|x| x.priority), Ok(0));
        assert_eq!(p.by_tag("linux").map(|x| x.priority), Ok(0));
        assert_eq!(p.by_tag("manylinux_2_17_aarch64"), Err(PolicyError::UnknownTag("manylinux_2_17_aarch64".into())));
        assert!(p.by_tag("manylinux_2_18_x86_64").is_err());
        assert!(p.by_tag("").is_err());
        assert!(p.by_tag("_x86_64").is_err());
    }

    #[test]
    fn versioned_symbols_rule() {
        let p = glibc("x86_64");
        let m1 = p.highest();
        let ok = req(&[("libc.so.6", &["GLIBC_2.2.5", "GLIBC_2.4"]), ("libfoo.so", &["FOO_9.9"])]);
        assert_eq!(m1.versioned_symbols_ok(&ok), vec![]);
        let bad = req(&[("libc.so.6", &["GLIBC_2.17", "GLIBC_2.2.5"]), ("libstdc++.so.6", &["GLIBCXX_3.4.21"])]);
        assert_eq!(
            m1.versioned_symbols_ok(&bad),
            vec![
                SymbolViolation { lib: "libc.so.6".into(), version: "GLIBC_2.17".into() },
                SymbolViolation { lib: "libstdc++.so.6".into(), version: "GLIBCXX_3.4.21".into() },
            ]
        );
        // a known prefix with an unknown version is a violation; linux allows all
        let private = req(&[("libc.so.6", &["GLIBC_PRIVATE"])]);
        assert_eq!(m1.versioned_symbols_ok(&private).len(), 1);
        assert!(p.linux().versioned_symbols_ok(&private).is_empty());
        assert_eq!(p.best_for_symbols(&private).name, "linux");
    }

    #[test]
    fn best_for_symbols_picks_highest_satisfied() {
        let p = glibc("x86_64");
        let cases: &[(&[&str], &str)] = &[
            (&[], "manylinux_2_5"),
            (&["GLIBC_2.5"], "manylinux_2_5"),
            (&["GLIBC_2.7"], "manylinux_2_12"),
            (&["GLIBC_2.17"], "manylinux_2_17"),
            (&["GLIBC_2.18"], "manylinux_2_24"),
            (&["GLIBC_2.28", "GLIBC_2.2.5"], "manylinux_2_28"),
            (&["GLIBC_2.34"], "manylinux_2_34"),
            (&["GLIBC_2.41"], "manylinux_2_41"),
            (&["GLIBC_2.42"], "linux"),
        ];
        for (versions, want) in cases {
            let r = req(&[("libc.so.6", versions)]);
            assert_eq!(p.best_for_symbols(&r).name, *want, "{versions:?}");
        }
    }

    #[test]
    fn blacklist_only_needed_and_imported() {
        let p = glibc("x86_64");
        let m2014 = p.by_tag("manylinux2014_x86_64").unwrap_or_else(|e| panic!("{e}"));
        let needed = ["libc.so.6", "libz.so.1"];
        let imported = ["__cxa_thread_atexit_impl", "_tr_init", "malloc", "pthread_getattr_default_np"];
        let got = m2014.blacklisted(&needed, &imported);
        let want = req(&[
            ("libc.so.6", &["__cxa_thread_atexit_impl", "pthread_getattr_default_np"]),
            ("libz.so.1", &["_tr_init"]),
        ]);
        assert_eq!(got, want);
        // libpthread blacklists pthread_getattr_default_np too, but it is not needed
        assert!(!got.contains_key("libpthread.so.0"));
        // newer policies no longer blacklist libc symbols
        let m224 = p.by_tag("manylinux_2_24_x86_64").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m224.blacklisted(&needed, &imported), req(&[("libz.so.1", &["_tr_init"])]));
        assert!(m224.blacklisted(&needed, &["malloc"]).is_empty());
    }

    #[test]
    fn loader_and_libpython_names() {
        for n in [
            "ld-linux-x86-64.so.2",
            "ld-linux.so.2",
            "ld-linux-aarch64.so.1",
            "ld64.so.1",
            "ld64.so.2",
            "ld-musl-x86_64.so.1",
            "/lib/ld-musl-armhf.so.1",
        ] {
            assert!(is_loader(n), "{n}");
        }
        for n in ["libc.so.6", "ld64.so.3", "libld-linux.so", "ld.so"] {
            assert!(!is_loader(n), "{n}");
        }
        for n in [
            "libpython3.12.so.1.0",
            "libpython3.7m.so",
            "libpython3.13t.so.1.0",
            "libpython2.7.so.1",
            "libpython3.10.so",
        ] {
            assert!(is_libpython(n), "{n}");
        }
        for n in [
            "libpython3.so",
            "libpython3.12.so.",
            "libpython3.12.a",
            "libpython3.12mt.so",
            "libpython.so",
            "libpython3.12.so.1x",
            "xlibpython3.12.so",
        ] {
            assert!(!is_libpython(n), "{n}");
        }
    }

    #[test]
    fn isa_levels() {
        for (bits, level, unknown) in [
            (0, 1, false),
            (1, 1, false),
            (2, 2, false),
            (3, 2, false),
            (4, 3, false),
            (7, 3, false),
            (8, 4, false),
            (0xf, 4, false),
            (0x10, 1, true),
            (0x11, 1, true),
            (0x12, 2, false),
        ] {
            assert_eq!(isa_level_from_bits(bits), level, "{bits:#x}");
            assert_eq!(isa_bits_unknown(bits), unknown, "{bits:#x}");
        }
        let p = glibc("x86_64");
        assert_eq!(p.highest_whitelisting("libmvec.so.1").map(|x| x.name.as_str()), Some("manylinux_2_24"));
        assert_eq!(p.highest_whitelisting("libc.so.6").map(|x| x.name.as_str()), Some("manylinux_2_5"));
        assert_eq!(p.highest_whitelisting("libfoo.so"), None);
    }

    #[test]
    fn tag_parts() {
        for (tag, arch, libc) in [
            ("manylinux_2_17_x86_64", Some("x86_64"), Some(Libc::Glibc)),
            ("manylinux2014_aarch64", Some("aarch64"), Some(Libc::Glibc)),
            ("manylinux1_i686", Some("i686"), Some(Libc::Glibc)),
            ("musllinux_1_2_armv7l", Some("armv7l"), Some(Libc::Musl)),
            ("linux_x86_64", Some("x86_64"), None),
            ("manylinux_2_x_x86_64", None, None),
            ("manylinux_2_17", None, None),
            ("macosx_11_0_arm64", None, None),
            ("linux_", None, None),
        ] {
            assert_eq!(arch_of_tag(tag), arch, "{tag}");
            assert_eq!(libc_of_tag(tag), libc, "{tag}");
        }
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(libc_of_wheel_tags(&tags(&["linux_x86_64"])), Some(Libc::Glibc));
        assert_eq!(libc_of_wheel_tags(&tags(&["musllinux_1_2_x86_64"])), Some(Libc::Musl));
        assert_eq!(libc_of_wheel_tags(&tags(&["manylinux2014_x86_64", "manylinux_2_17_x86_64"])), Some(Libc::Glibc));
        assert_eq!(libc_of_wheel_tags(&tags(&["macosx_11_0_arm64"])), None);
        assert_eq!(libc_of_wheel_tags(&tags(&["win_amd64", "any"])), None);
    }

    #[test]
    fn required_versions_skip_loader() {
        let needs = vec![
            VersionNeed { file: "libc.so.6".into(), versions: vec!["GLIBC_2.2.5".into(), "GLIBC_2.14".into()] },
            VersionNeed { file: "ld-linux-x86-64.so.2".into(), versions: vec!["GLIBC_2.3".into()] },
            VersionNeed { file: "ld64.so.2".into(), versions: vec!["GLIBC_2.17".into()] },
            VersionNeed { file: "libc.so.6".into(), versions: vec!["GLIBC_2.3.4".into()] },
        ];
        assert_eq!(required_versions(&needs), req(&[("libc.so.6", &["GLIBC_2.14", "GLIBC_2.2.5", "GLIBC_2.3.4"])]));
    }

    const MINI: &str = r#"[
      {"name": "linux", "aliases": [], "priority": 0, "symbol_versions": {}, "lib_whitelist": [], "blacklist": {}},
      {"name": "old_1", "aliases": ["old"], "priority": 100, "symbol_versions": {"x86_64": {"GLIBC": ["2.1"]}},
       "lib_whitelist": ["libc.so.6"], "blacklist": {}},
      {"name": "new_2", "aliases": [], "priority": 50, "symbol_versions": {"x86_64": {"GLIBC": ["2.1", "2.2"]}, "arm": {"GLIBC": ["2.2"]}},
       "lib_whitelist": ["libc.so.6", "libm.so.6"], "blacklist": {"libc.so.6": ["bad"]}}
    ]"#;

    #[test]
    fn user_file_loads() {
        let p = LinuxPolicies::from_json(MINI, "mine.json", Libc::Glibc, "x86_64").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tags(&p), vec!["old_1_x86_64", "new_2_x86_64", "linux_x86_64"]);
        assert_eq!(p.by_tag("old_x86_64").map(|x| x.priority), Ok(100));
        let arm = LinuxPolicies::from_json(MINI, "mine.json", Libc::Glibc, "arm").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tags(&arm), vec!["new_2_arm", "linux_arm"]);
    }

    #[test]
    fn user_file_errors() {
        let cases: &[(&str, &str)] = &[
            ("[", "EOF"),
            ("{}", "expected a sequence"),
            (r#"[{"name": "linux"}]"#, "missing field"),
            (&MINI.replace("\"2.1\", \"2.2\"", "\"2.2\""), "does not allow `GLIBC_2.1`"),
            (&MINI.replace("[\"libc.so.6\", \"libm.so.6\"]", "[\"libm.so.6\"]"), "does not whitelist `libc.so.6`"),
            (&MINI.replace("\"priority\": 50", "\"priority\": 100"), "priority 100 is used twice"),
            (&MINI.replace("\"priority\": 50", "\"priority\": -5"), "priority of `new_2`"),
            (&MINI.replace("\"priority\": 50", "\"priority\": 0"), "priority 0"),
            (&MINI.replace("\"name\": \"linux\"", "\"name\": \"generic\""), "priority 0 must belong"),
            (&MINI.replace("[\"old\"]", "[\"new_2\"]"), "`new_2` is defined twice"),
            (&MINI.replace("[\"old\"]", "[\"Old Tag\"]"), "not a platform tag name"),
        ];
        for (text, needle) in cases {
            match LinuxPolicies::from_json(text, "mine.json", Libc::Glibc, "x86_64") {
                Err(PolicyError::Invalid { file, reason }) => {
                    assert_eq!(file, "mine.json");
                    assert!(reason.contains(needle), "{reason:?} lacks {needle:?}");
                }
                other => panic!("{needle}: {other:?}"),
            }
        }
        let no_linux = r#"[{"name": "a_1", "aliases": [], "priority": 5, "symbol_versions": {"x86_64": {}}, "lib_whitelist": [], "blacklist": {}}]"#;
        assert!(matches!(
            LinuxPolicies::from_json(no_linux, "f", Libc::Glibc, "x86_64"),
            Err(PolicyError::Invalid { reason, .. }) if reason.contains("no `linux`")
        ));
        assert!(matches!(
            LinuxPolicies::from_json(MINI, "f", Libc::Glibc, "s390x"),
            Err(PolicyError::UnsupportedArch { .. })
        ));
    }

    #[test]
    fn builtin_files_pass_validation_for_every_arch() {
        for arch in ["x86_64", "i686", "aarch64", "armv7l", "ppc64le", "ppc64", "s390x", "riscv64", "loongarch64"] {
            let p = glibc(arch);
            assert!(p.policies.len() >= 2, "{arch}");
            assert!(p.policies.iter().all(|x| x.arch == arch));
        }
    }
}
