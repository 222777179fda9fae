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

mod file;
mod rules;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use super::PolicyError;
use file::{builtin_raw, fixup_musl_libc, parse_file, RawPolicy};
pub use file::{preload_builtin, whitelisted_by_any_builtin};
pub use rules::{
    arch_of_tag, is_libpython, is_loader, isa_bits_unknown, isa_level_from_bits, libc_of_tag, libc_of_wheel_tags,
    required_versions,
};

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
