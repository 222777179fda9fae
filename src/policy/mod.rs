//! Platform rules, as data: manylinux/musllinux policies (auditwheel's JSON
//! format, embedded from `policies/`), the macOS tag rules and the Windows
//! system-DLL list.

pub mod abi3;
pub mod blocker;
pub mod link;
pub mod linux;
pub mod macos;
pub mod runtimes;
pub mod windows;

/// A policy file is malformed, or a tag is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy JSON does not parse or breaks the PEP 600 ordering rules.
    #[error("invalid policy file `{file}`: {reason}")]
    Invalid {
        /// The file (or `builtin:<name>`).
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// No policy has this name or alias for this architecture.
    #[error("unknown platform tag `{0}`")]
    UnknownTag(String),
    /// No policy of the family (other than `linux`) lists the architecture.
    #[error("no {family} policy for architecture `{arch}`")]
    UnsupportedArch {
        /// `manylinux` or `musllinux`.
        family: String,
        /// The architecture asked for.
        arch: String,
    },
}
