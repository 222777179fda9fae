//! manylinux / musllinux policies in auditwheel's JSON format.

use std::collections::{BTreeMap, BTreeSet};

use super::PolicyError;

/// The C library a wheel targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Libc {
    /// glibc: manylinux.
    Glibc,
    /// musl: musllinux.
    Musl,
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

impl LinuxPolicy {
    /// The platform tag: `<name>_<arch>` (`manylinux_2_17_x86_64`).
    pub fn tag(&self) -> String {
        format!("{}_{}", self.name, self.arch)
    }

    /// The alias tags: `<alias>_<arch>` (`manylinux2014_x86_64`).
    pub fn alias_tags(&self) -> Vec<String> {
        self.aliases.iter().map(|a| format!("{a}_{}", self.arch)).collect()
    }
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
        let _ = (libc, arch);
        Err(PolicyError::UnknownTag("not implemented".into()))
    }
}

// ---- temporary stand-ins, replaced by the policy branch ----
/// A required symbol version the policy does not allow.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SymbolViolation {
    /// The library.
    pub lib: String,
    /// The version.
    pub version: String,
}
impl LinuxPolicies {
    /// Loads policies from JSON text.
    pub fn from_json(text: &str, file: &str, libc: Libc, arch: &str) -> Result<Self, PolicyError> {
        let _ = (text, libc, arch);
        Err(PolicyError::Invalid { file: file.into(), reason: "todo".into() })
    }
}
impl LinuxPolicy {
    /// Violations.
    pub fn versioned_symbols_ok(&self, needs: &BTreeMap<String, BTreeSet<String>>) -> Vec<SymbolViolation> {
        let _ = needs;
        vec![]
    }
    /// Blacklisted.
    pub fn blacklisted(&self, needed: &[String], imported: &[String]) -> BTreeMap<String, BTreeSet<String>> {
        let _ = (needed, imported);
        BTreeMap::new()
    }
}
/// Arch.
pub fn arch_of_tag(tag: &str) -> Option<&'static str> {
    let _ = tag;
    None
}
/// Loader.
pub fn is_loader(s: &str) -> bool {
    s.starts_with("ld-linux")
}
/// libpython.
pub fn is_libpython(s: &str) -> bool {
    s.starts_with("libpython")
}
/// ISA.
pub fn isa_level_from_bits(b: u32) -> u8 {
    let _ = b;
    1
}
