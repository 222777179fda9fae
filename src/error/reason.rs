//! Why a wheel cannot be repaired (or two wheels merged), as data: what
//! blocks it, the target asked for, what the user can do instead. Only
//! `Display` and [`Reason::hint`] turn it into words.

use std::fmt;
use std::path::PathBuf;

use crate::policy::blocker::Blocker;

/// Why [`Error::CannotRepair`](crate::error::Error::CannotRepair).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The wheel has no ELF, Mach-O or PE binary (and pure wheels were not allowed).
    Pure,
    /// Linux: no ELF file of the wheel has a known architecture.
    NoKnownArch,
    /// Linux: no manylinux/musllinux policy exists for the architecture.
    NoPolicy {
        /// The architecture.
        arch: String,
    },
    /// Linux: the policy the target names is missing.
    NoTargetPolicy,
    /// Linux: the requested tag is not a policy of the wheel's architecture and libc.
    UnknownTarget {
        /// The tag asked for.
        requested: String,
        /// The wheel's architecture.
        arch: String,
        /// Its libc family (`manylinux`, `musllinux`).
        libc: String,
        /// The tags that exist for it, highest priority first.
        choices: Vec<String>,
    },
    /// Linux: what makes the target tag impossible even with repair.
    Blocked {
        /// The target tag.
        target: String,
        /// Every blocker, sorted.
        blockers: Vec<Blocker>,
        /// The best tag the wheel can get, if any.
        best: Option<String>,
    },
    /// Two different libraries would be bundled under one entry name.
    NameClash {
        /// The name (Linux) or entry (macOS).
        name: String,
    },
    /// macOS: the libraries' directory name makes no valid entry name.
    BadLibsDir {
        /// The `--lib-sdir` asked for.
        lib_sdir: String,
    },
    /// An entry the repair must write is already in the wheel.
    EntryTaken {
        /// The entry.
        entry: String,
        /// macOS: the library that must go there.
        source: Option<PathBuf>,
    },
    /// A new entry of the repair needs a directory where the wheel holds a
    /// file (a file named like the libraries' directory).
    FileInTheWay {
        /// The entry the repair must write.
        entry: String,
        /// The file of the wheel in its way.
        file: String,
    },
    /// macOS: binaries lack architectures that `--require-archs` or what loads them need.
    MissingArchs {
        /// One line per problem, as delocate words them.
        problems: Vec<String>,
    },
    /// macOS: no tag can be computed (the policy's words).
    NoMacosTag {
        /// Why not.
        reason: String,
    },
    /// Windows: more than one Windows platform tag.
    ManyWindowsTags {
        /// The Windows tags.
        tags: Vec<String>,
    },
    /// Windows: no platform tag names a known machine.
    UnknownWindowsTag {
        /// The platform tags.
        tags: Vec<String>,
    },
    /// Windows: an extension module is built for another machine than the tag's.
    WrongMachine {
        /// The first such module.
        blocker: Blocker,
        /// The Windows tags.
        tags: Vec<String>,
    },
    /// Windows: a DLL given with `--include` is built for another machine.
    IncludeMachine {
        /// The DLL.
        path: PathBuf,
        /// Its PE machine.
        machine: u16,
        /// The Windows tags.
        tags: Vec<String>,
    },
    /// Windows: two different DLLs with one name (case-insensitively).
    DllClash {
        /// The name.
        name: String,
    },
    /// Windows: the DLLs to mangle import each other in a cycle.
    MangleCycle {
        /// A DLL of the cycle.
        name: String,
    },
    /// Windows: a file's new DLL names do not fit, and its overlay prevents a new section.
    NoRoom {
        /// The file's name.
        file: String,
        /// Padding bytes available.
        have: u64,
        /// Bytes the new names need.
        need: u64,
        /// Size of the overlay.
        overlay: u64,
        /// The names that would be renamed.
        renamed: Vec<String>,
    },
    /// Windows: no place in a Python file to insert the DLL directory patch.
    InitPatch {
        /// Why not.
        reason: String,
    },
    /// What no repair fixes whatever the tag, and no `--allow-…` flag let
    /// through: Stable ABI violations, executable stacks.
    Audit {
        /// Every such blocker, sorted.
        blockers: Vec<Blocker>,
    },
    /// merge: the wheels are of different releases.
    DifferentReleases {
        /// Name and version of the first wheel.
        first: (String, String),
        /// Name and version of the second.
        second: (String, String),
    },
    /// merge: an entry differs and is not a Mach-O file.
    NotMachO {
        /// The entry.
        entry: String,
    },
    /// merge: two Mach-O files cannot be fused.
    Fuse {
        /// The entry.
        entry: String,
        /// Why not.
        reason: String,
    },
    /// merge: no tag for the fused wheel (the policy's words).
    MergedTag {
        /// Why not.
        reason: String,
    },
    /// The wheel links libraries of distributions it does not require (`--no-add-requires`).
    MissingRequirement {
        /// The `Requires-Dist` lines to add.
        lines: Vec<String>,
    },
}

fn join(v: &[impl AsRef<str>]) -> String {
    v.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Pure => f.write_str("this does not look like a platform wheel: no ELF, Mach-O or PE binary in it"),
            Reason::NoKnownArch => f.write_str("no ELF file of a known architecture in the wheel"),
            Reason::NoPolicy { arch } => write!(f, "no manylinux/musllinux policy exists for {arch}"),
            Reason::NoTargetPolicy => f.write_str("no target policy"),
            Reason::UnknownTarget { requested, arch, libc, .. } => {
                write!(f, "can't repair a wheel with {arch} architecture and {libc} libc to `{requested}`")
            }
            Reason::Blocked { target, blockers, .. } => {
                let first = blockers.iter().take(3).map(ToString::to_string).collect::<Vec<_>>().join("; ");
                let more =
                    if blockers.len() > 3 { format!(" (and {} more)", blockers.len() - 3) } else { String::new() };
                write!(f, "cannot repair to `{target}`: {first}{more}")
            }
            Reason::NameClash { name } => write!(f, "two different libraries would be bundled as `{name}`"),
            Reason::BadLibsDir { lib_sdir } => write!(f, "`{lib_sdir}` cannot be used as the libraries directory"),
            Reason::EntryTaken { entry, source: Some(source) } => {
                write!(f, "`{entry}` is already in the wheel but `{}` must go there", source.display())
            }
            Reason::EntryTaken { entry, source: None } => write!(f, "`{entry}` is already in the wheel"),
            Reason::FileInTheWay { entry, file } => {
                write!(f, "`{entry}` cannot be added: the wheel holds a file `{file}` where it needs a directory")
            }
            Reason::MissingArchs { problems } => {
                write!(f, "Some missing architectures in wheel\n{}", problems.join("\n"))
            }
            Reason::NoMacosTag { reason } | Reason::MergedTag { reason } => f.write_str(reason),
            Reason::ManyWindowsTags { tags } => {
                write!(f, "more than one Windows platform tag ({}): a DLL has one machine", join(tags))
            }
            Reason::UnknownWindowsTag { tags } => write!(f, "unknown Windows platform tag {}", join(tags)),
            Reason::WrongMachine { blocker, tags } => {
                let what = match blocker {
                    Blocker::Machine { file, found } => format!("`{file}` ({found})"),
                    other => other.to_string(),
                };
                write!(f, "{what} has a CPU architecture that is not compatible with this wheel ({})", join(tags))
            }
            Reason::IncludeMachine { path, machine, tags } => write!(
                f,
                "--include {}: machine {machine:#x} does not match the wheel ({})",
                path.display(),
                join(tags)
            ),
            Reason::DllClash { name } => write!(f, "two different DLLs named `{name}` would be bundled"),
            Reason::MangleCycle { name } => {
                write!(f, "the DLLs to bundle import each other in a cycle through `{name}`")
            }
            Reason::NoRoom { file, have, need, overlay, .. } => write!(
                f,
                "unable to rename the dependencies of {file}: its sections have {have} bytes of padding for \
                 {need} bytes of new DLL names, and a {overlay}-byte overlay (trailing data) prevents adding a section"
            ),
            Reason::InitPatch { reason } => {
                write!(f, "cannot find where to insert the DLL directory patch: {reason}")
            }
            Reason::Audit { blockers } => {
                let first = blockers.first().map(ToString::to_string).unwrap_or_default();
                let more =
                    if blockers.len() > 1 { format!(" (and {} more)", blockers.len() - 1) } else { String::new() };
                write!(f, "{first}{more}")
            }
            Reason::DifferentReleases { first, second } => write!(
                f,
                "the wheels are of different releases: `{} {}` and `{} {}`",
                first.0, first.1, second.0, second.1
            ),
            Reason::NotMachO { entry } => {
                write!(f, "`{entry}` differs between the two wheels and is not a Mach-O file: cannot fuse it")
            }
            Reason::Fuse { entry, reason } => write!(f, "`{entry}`: {reason}"),
            Reason::MissingRequirement { lines } => write!(
                f,
                "the wheel links libraries of distributions it does not require; its METADATA needs:\n{}",
                lines.join("\n")
            ),
        }
    }
}

/// What to do about audit blockers: `wheelfix show` lists them all; the
/// flags that write the wheel anyway.
fn audit_hint(blockers: &[Blocker]) -> String {
    let abi3 = blockers
        .iter()
        .any(|b| matches!(b, Blocker::Abi3 { .. } | Blocker::Abi3Suffix { .. } | Blocker::Abi3Dll { .. }));
    let stack = blockers.iter().any(|b| matches!(b, Blocker::ExecStack { .. }));
    let mut fixes = Vec::new();
    if abi3 {
        fixes.push("build the extension with the Limited API of the version the tag names (`Py_LIMITED_API`), or write the wheel anyway with `--allow-abi3-violations`");
    }
    if stack {
        fixes.push("link with `-Wl,-z,noexecstack`, or write the wheel anyway with `--allow-exec-stack`");
    }
    format!("`wheelfix show` lists every one; {}", fixes.join("; "))
}

impl Reason {
    /// What the user can do about it, printed as `hint: …`.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Reason::Pure => "pass `--allow-pure-python-wheel` to copy pure wheels through".into(),
            Reason::UnknownTarget { choices, .. } => format!("choose one of: {}", choices.join(", ")),
            Reason::Blocked { best: Some(b), .. } => {
                format!("the best tag this wheel can get is `{b}`: use `--plat {b}` or `--plat auto`")
            }
            Reason::Blocked { best: None, .. } => {
                "rebuild the extension on an older toolchain (e.g. in a manylinux container)".into()
            }
            Reason::MissingArchs { .. } => {
                "rebuild the binaries for the missing architectures, or drop `--require-archs`".into()
            }
            Reason::NoMacosTag { .. } => {
                "set MACOSX_DEPLOYMENT_TARGET to the version the libraries need, or rebuild them".into()
            }
            Reason::Audit { blockers } => audit_hint(blockers),
            Reason::ManyWindowsTags { .. } => "build one wheel per architecture".into(),
            Reason::UnknownWindowsTag { .. } => "expected win32, win_amd64 or win_arm64".into(),
            Reason::WrongMachine { .. } => {
                "build the extension for the wheel's architecture, or fix the platform tag".into()
            }
            Reason::FileInTheWay { .. } => "rename that file, or put the libraries elsewhere with `--lib-sdir`".into(),
            Reason::MangleCycle { .. } => "pass the DLLs of the cycle to `--no-mangle`".into(),
            Reason::NoRoom { file, renamed, .. } => format!(
                "use --strip (or run `strip -s {file}` before building the wheel), or keep the names with \
                 --no-mangle {}",
                renamed.join(",")
            ),
            Reason::InitPatch { .. } => "the file must be valid Python".into(),
            Reason::MissingRequirement { .. } => {
                "add them to the project's dependencies, or repair without --no-add-requires".into()
            }
            _ => return None,
        })
    }
}
