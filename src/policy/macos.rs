//! macOS platform tag rules (delocate's): minimum macOS per architecture,
//! universal2/intel packing, `MACOSX_DEPLOYMENT_TARGET`.
//!
//! Everything here is a pure function of data the caller has already read:
//! the minimum macOS version of every Mach-O slice in the wheel, the wheel's
//! current platform tags and an optional deployment target. The result is the
//! new platform tag(s), plus warnings to show, or an error carrying
//! delocate's messages.
//!
//! The rules, in order:
//! 1. The wheel's tags give the architectures it claims (`universal2` means
//!    x86_64 + arm64, `intel` means i386 + x86_64; a wheel tagged with both
//!    `x86_64` and `arm64` counts as `universal2`). Their versions are not
//!    used.
//! 2. Per architecture, the version is the highest minimum of any binary
//!    (`major.minor`; arm64 is at least 11.0). An architecture the tags claim
//!    with no binary is an error; architectures the tags do not claim are
//!    dropped.
//! 3. x86_64 + arm64 pack into `universal2` (with the x86_64 version) when
//!    the versions are equal or arm64 is 11.0; i386 + x86_64 pack into
//!    `intel` when equal.
//! 4. With a deployment target the tag version is `max(version, target)` and
//!    any binary above the target is an error (for arm64 a target below 11.0
//!    counts as 11.0).
//! 5. Tags are `macosx_{major}_{minor}_{arch}`, with minor 0 from macOS 11 on.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::binary::macho::MacVersion;

/// macOS 11.0, the first release on arm64.
const BIG_SUR: MacVersion = MacVersion { major: 11, minor: 0, patch: 0 };

/// The platform tag cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MacTagError {
    /// A platform tag of the wheel is not `macosx_<major>_<minor>_<arch>`.
    #[error("Invalid platform tag: {0}")]
    InvalidTag(String),
    /// `MACOSX_DEPLOYMENT_TARGET` is not a version.
    #[error("invalid MACOSX_DEPLOYMENT_TARGET `{0}`: expected a version such as `10.9` or `11.0`")]
    InvalidTarget(String),
    /// The wheel's tags claim architectures no binary in it has (sorted).
    #[error("Failed to find any binary with the required architecture: '{}'", .0.join(","))]
    MissingArch(Vec<String>),
    /// Some binaries need a newer macOS than the deployment target.
    #[error("{}", target_message(*.target, .files))]
    TargetTooLow {
        /// The deployment target.
        target: MacVersion,
        /// Every binary above the target with its minimum version, sorted.
        files: Vec<(String, MacVersion)>,
    },
}

impl MacTagError {
    /// The deployment target that would satisfy every binary, for
    /// [`MacTagError::TargetTooLow`].
    pub fn needed_target(&self) -> Option<MacVersion> {
        match self {
            MacTagError::TargetTooLow { files, .. } => files.iter().map(|(_, v)| *v).max(),
            _ => None,
        }
    }
}

fn target_message(target: MacVersion, files: &[(String, MacVersion)]) -> String {
    let mut s = format!("Library dependencies do not satisfy target MacOS version {target}:");
    for (file, v) in files {
        s.push_str(&format!("\n{file} has a minimum target of {v}"));
    }
    if let Some(needed) = files.iter().map(|(_, v)| *v).max() {
        s.push_str(&format!(
            "\nSet the environment variable 'MACOSX_DEPLOYMENT_TARGET={needed}' to update minimum supported macOS for \
             this wheel."
        ));
    }
    s
}

/// Something the user should know about the computed tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum MacTagWarning {
    /// No deployment target was set and the version has a minor part from
    /// macOS 11 on, which the tag cannot express: the tag says `major.0`
    /// but the binaries need `major.minor`.
    MinorDropped {
        /// The (packed) architecture of the tag.
        arch: String,
        /// The version the binaries need.
        version: MacVersion,
    },
}

impl fmt::Display for MacTagWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MacTagWarning::MinorDropped { arch, version } => write!(
                f,
                "Wheel will be tagged as supporting macOS {} ({arch}), but will not support macOS versions older than \
                 {}.{}\n\tConfigure MACOSX_DEPLOYMENT_TARGET to suppress this warning.",
                version.major, version.major, version.minor
            ),
        }
    }
}

/// The computed macOS platform tags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MacTags {
    /// The new platform tags, sorted (`macosx_11_0_arm64`, …).
    pub tags: Vec<String>,
    /// Warnings to show, in tag order.
    pub warnings: Vec<MacTagWarning>,
}

/// Parses `MACOSX_DEPLOYMENT_TARGET`: `11`, `10.9`, `10.9.1` (surrounding
/// white space is ignored).
pub fn parse_deployment_target(value: &str) -> Result<MacVersion, MacTagError> {
    let bad = || MacTagError::InvalidTarget(value.to_string());
    let mut parts = value.trim().split('.');
    let major: u16 = parse_num(parts.next()).ok_or_else(bad)?;
    let minor: u8 = match parts.next() {
        None => 0,
        p => parse_num(p).ok_or_else(bad)?,
    };
    let patch: u8 = match parts.next() {
        None => 0,
        p => parse_num(p).ok_or_else(bad)?,
    };
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(MacVersion { major, minor, patch })
}

fn parse_num<T: std::str::FromStr>(s: Option<&str>) -> Option<T> {
    let s = s?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses a macOS platform tag: `macosx_10_9_x86_64` → (10.9, `x86_64`).
pub fn parse_macos_tag(tag: &str) -> Option<(MacVersion, &str)> {
    let rest = tag.strip_prefix("macosx_")?;
    let (major, rest) = rest.split_once('_')?;
    let (minor, arch) = rest.split_once('_')?;
    let major = parse_num(Some(major))?;
    let minor = parse_num(Some(minor))?;
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    if arch.is_empty() || !arch.bytes().all(word) {
        return None;
    }
    Some((MacVersion { major, minor, patch: 0 }, arch))
}

/// Formats a macOS platform tag: minor is 0 from macOS 11 on.
pub fn format_macos_tag(version: MacVersion, arch: &str) -> String {
    let minor = if version.major >= 11 { 0 } else { version.minor };
    format!("macosx_{}_{minor}_{arch}", version.major)
}

/// Replaces `universal2` by x86_64 and arm64 (arm64 at least 11.0), and
/// `intel` by i386 and x86_64.
pub fn unpack_arches(versions: &BTreeMap<String, MacVersion>) -> BTreeMap<String, MacVersion> {
    let mut out = versions.clone();
    if let Some(v) = out.remove("universal2") {
        out.insert("x86_64".into(), v);
        out.insert("arm64".into(), v.max(BIG_SUR));
    }
    if let Some(v) = out.remove("intel") {
        out.insert("i386".into(), v);
        out.insert("x86_64".into(), v);
    }
    out
}

/// Packs x86_64 + arm64 into `universal2` (x86_64's version) when the
/// versions are equal or arm64's is 11.0, then i386 + x86_64 into `intel`
/// when equal.
pub fn pack_arches(versions: &BTreeMap<String, MacVersion>) -> BTreeMap<String, MacVersion> {
    let mut out = versions.clone();
    if let (Some(&x86), Some(&arm)) = (out.get("x86_64"), out.get("arm64")) {
        if x86 == arm || arm == BIG_SUR {
            out.remove("x86_64");
            out.remove("arm64");
            out.insert("universal2".into(), x86);
        }
    }
    if let (Some(&i386), Some(&x86)) = (out.get("i386"), out.get("x86_64")) {
        if i386 == x86 {
            out.remove("i386");
            out.remove("x86_64");
            out.insert("intel".into(), i386);
        }
    }
    out
}

/// The highest minimum version per architecture (`major.minor`; arm64 at
/// least 11.0) of `binaries` (file, arch, minimum macOS).
pub fn arch_versions(binaries: &[(String, String, MacVersion)]) -> BTreeMap<String, MacVersion> {
    let mut out: BTreeMap<String, MacVersion> = BTreeMap::new();
    for (_, arch, v) in binaries {
        let v = effective(arch, *v);
        let slot = out.entry(arch.clone()).or_insert(v);
        *slot = (*slot).max(v);
    }
    out
}

/// A binary's version as delocate sees it: `major.minor`, and never below
/// 11.0 on arm64.
fn effective(arch: &str, v: MacVersion) -> MacVersion {
    let v = MacVersion { patch: 0, ..v };
    if arch == "arm64" {
        v.max(BIG_SUR)
    } else {
        v
    }
}

/// Computes the wheel's new macOS platform tags.
///
/// `binaries` lists every Mach-O slice of the wheel with a minimum macOS
/// version: (file in the wheel, arch as delocate names it — `x86_64`,
/// `arm64`, `i386`, …, version). `wheel_tags` are the wheel's current
/// platform tags. `target` is the parsed `MACOSX_DEPLOYMENT_TARGET`, if set.
///
/// A wheel tagged `any` keeps its tags.
pub fn macos_platform_tags<S: AsRef<str>>(
    binaries: &[(String, String, MacVersion)],
    wheel_tags: &[S],
    target: Option<MacVersion>,
) -> Result<MacTags, MacTagError> {
    if wheel_tags.iter().any(|t| t.as_ref() == "any") {
        return Ok(MacTags { tags: wheel_tags.iter().map(|t| t.as_ref().to_string()).collect(), warnings: vec![] });
    }
    // 1. the architectures the wheel claims
    let mut claimed = BTreeSet::new();
    for tag in wheel_tags {
        let tag = tag.as_ref();
        let (_, arch) = parse_macos_tag(tag).ok_or_else(|| MacTagError::InvalidTag(tag.to_string()))?;
        claimed.insert(arch.to_string());
    }
    let mut claimed_arches = BTreeSet::new();
    for arch in claimed {
        match arch.as_str() {
            "universal2" => claimed_arches.extend(["x86_64".to_string(), "arm64".to_string()]),
            "intel" => claimed_arches.extend(["i386".to_string(), "x86_64".to_string()]),
            _ => {
                claimed_arches.insert(arch);
            }
        }
    }

    // 2. versions from the binaries
    let mut versions = arch_versions(binaries);
    let missing: Vec<String> = claimed_arches.iter().filter(|a| !versions.contains_key(*a)).cloned().collect();
    if !missing.is_empty() {
        return Err(MacTagError::MissingArch(missing));
    }
    versions.retain(|arch, _| claimed_arches.contains(arch));

    // 4. binaries above the deployment target
    if let Some(target) = target {
        let mut files: Vec<(String, MacVersion)> = binaries
            .iter()
            .filter_map(|(file, arch, v)| {
                let v = effective(arch, *v);
                let limit = if arch == "arm64" { target.max(BIG_SUR) } else { target };
                (v > limit).then(|| (file.clone(), v))
            })
            .collect();
        files.sort();
        files.dedup();
        if !files.is_empty() {
            return Err(MacTagError::TargetTooLow { target, files });
        }
    }

    // 3. + 5. pack and format
    let mut tags = Vec::new();
    let mut warnings = Vec::new();
    for (arch, v) in pack_arches(&versions) {
        let v = match target {
            Some(t) => v.max(t),
            None => {
                if v.major >= 11 && v.minor > 0 {
                    warnings.push(MacTagWarning::MinorDropped { arch: arch.clone(), version: v });
                }
                v
            }
        };
        tags.push(format_macos_tag(v, &arch));
    }
    tags.sort();
    Ok(MacTags { tags, warnings })
}

/// True for install names macOS itself provides (`/usr/lib/…`,
/// `/System/…`): never bundled.
pub fn is_system_library(install_name: &str) -> bool {
    install_name.starts_with("/usr/lib") || install_name.starts_with("/System")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> MacVersion {
        parse_deployment_target(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn bins(list: &[(&str, &str, &str)]) -> Vec<(String, String, MacVersion)> {
        list.iter().map(|(f, a, ver)| (f.to_string(), a.to_string(), v(ver))).collect()
    }

    #[test]
    fn deployment_target_parsing() {
        assert_eq!(v("10.9"), MacVersion { major: 10, minor: 9, patch: 0 });
        assert_eq!(v("11"), MacVersion { major: 11, minor: 0, patch: 0 });
        assert_eq!(v(" 12.3.1\n"), MacVersion { major: 12, minor: 3, patch: 1 });
        for bad in ["", "x", "10.", ".9", "10.9.1.2", "10.-1", "10.300", "99999999", "1 0"] {
            assert_eq!(parse_deployment_target(bad), Err(MacTagError::InvalidTarget(bad.to_string())), "{bad:?}");
        }
    }

    #[test]
    fn tag_parsing_and_formatting() {
        assert_eq!(parse_macos_tag("macosx_10_9_x86_64"), Some((v("10.9"), "x86_64")));
        assert_eq!(parse_macos_tag("macosx_11_0_arm64"), Some((v("11.0"), "arm64")));
        assert_eq!(parse_macos_tag("macosx_10_6_intel"), Some((v("10.6"), "intel")));
        for bad in ["macosx_10_x86_64", "macosx__9_x86_64", "macosx_10_9_", "linux_x86_64", "macosx_10_9_x86-64"] {
            assert_eq!(parse_macos_tag(bad), None, "{bad}");
        }
        assert_eq!(format_macos_tag(v("10.13"), "x86_64"), "macosx_10_13_x86_64");
        assert_eq!(format_macos_tag(v("11.3"), "arm64"), "macosx_11_0_arm64");
        assert_eq!(format_macos_tag(v("14.2"), "universal2"), "macosx_14_0_universal2");
    }

    fn map(list: &[(&str, &str)]) -> BTreeMap<String, MacVersion> {
        list.iter().map(|(a, ver)| (a.to_string(), v(ver))).collect()
    }

    #[test]
    fn packing_table() {
        type Versions<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Versions, Versions)] = &[
            (&[("arm64", "11.0")], &[("arm64", "11.0")]),
            (&[("i386", "10.5"), ("x86_64", "10.5")], &[("intel", "10.5")]),
            (&[("x86_64", "10.5"), ("arm64", "11.0")], &[("universal2", "10.5")]),
            (&[("x86_64", "12.0"), ("arm64", "12.0")], &[("universal2", "12.0")]),
            (&[("x86_64", "11.0"), ("arm64", "12.0")], &[("x86_64", "11.0"), ("arm64", "12.0")]),
            (&[("i386", "11.0"), ("x86_64", "11.0"), ("arm64", "11.0")], &[("i386", "11.0"), ("universal2", "11.0")]),
            (&[("i386", "10.5"), ("x86_64", "10.6")], &[("i386", "10.5"), ("x86_64", "10.6")]),
            (&[], &[]),
        ];
        for (input, want) in cases {
            assert_eq!(pack_arches(&map(input)), map(want), "{input:?}");
        }
        assert_eq!(unpack_arches(&map(&[("universal2", "10.5")])), map(&[("x86_64", "10.5"), ("arm64", "11.0")]));
        assert_eq!(unpack_arches(&map(&[("universal2", "12.1")])), map(&[("x86_64", "12.1"), ("arm64", "12.1")]));
        assert_eq!(unpack_arches(&map(&[("intel", "10.5")])), map(&[("i386", "10.5"), ("x86_64", "10.5")]));
        assert_eq!(unpack_arches(&map(&[("arm64", "11.0")])), map(&[("arm64", "11.0")]));
    }

    struct Case {
        binaries: &'static [(&'static str, &'static str, &'static str)],
        tags: &'static [&'static str],
        target: Option<&'static str>,
        want: &'static [&'static str],
        warnings: usize,
    }

    #[test]
    fn tag_table() {
        let cases = [
            // versions come from the binaries, up or down
            Case {
                binaries: &[("a.so", "x86_64", "10.9")],
                tags: &["macosx_10_15_x86_64"],
                target: None,
                want: &["macosx_10_9_x86_64"],
                warnings: 0,
            },
            Case {
                binaries: &[("a.so", "x86_64", "10.9"), ("b.dylib", "x86_64", "10.13.4")],
                tags: &["macosx_10_9_x86_64"],
                target: None,
                want: &["macosx_10_13_x86_64"],
                warnings: 0,
            },
            // the demo: macosx_10_11_arm64 became macosx_11_0_arm64
            Case {
                binaries: &[("a.so", "arm64", "11.0")],
                tags: &["macosx_10_11_arm64"],
                target: None,
                want: &["macosx_11_0_arm64"],
                warnings: 0,
            },
            // minor dropped from 11 on, with a warning
            Case {
                binaries: &[("a.so", "arm64", "11.3")],
                tags: &["macosx_11_0_arm64"],
                target: None,
                want: &["macosx_11_0_arm64"],
                warnings: 1,
            },
            // arm64 binaries never count below 11.0
            Case {
                binaries: &[("a.so", "arm64", "10.16")],
                tags: &["macosx_11_0_arm64"],
                target: None,
                want: &["macosx_11_0_arm64"],
                warnings: 0,
            },
            // universal2 unpacked then packed
            Case {
                binaries: &[("a.so", "x86_64", "10.9"), ("a.so", "arm64", "11.0")],
                tags: &["macosx_10_9_universal2"],
                target: None,
                want: &["macosx_10_9_universal2"],
                warnings: 0,
            },
            Case {
                binaries: &[("a.so", "x86_64", "10.9"), ("a.so", "arm64", "12.0")],
                tags: &["macosx_10_9_universal2"],
                target: None,
                want: &["macosx_10_9_x86_64", "macosx_12_0_arm64"],
                warnings: 0,
            },
            // two tags x86_64 + arm64 count as universal2
            Case {
                binaries: &[("a.so", "x86_64", "10.12"), ("b.so", "arm64", "11.0")],
                tags: &["macosx_10_12_x86_64", "macosx_11_0_arm64"],
                target: None,
                want: &["macosx_10_12_universal2"],
                warnings: 0,
            },
            // arches the tag does not claim are dropped
            Case {
                binaries: &[("a.so", "x86_64", "10.9"), ("a.so", "arm64", "11.0")],
                tags: &["macosx_10_9_x86_64"],
                target: None,
                want: &["macosx_10_9_x86_64"],
                warnings: 0,
            },
            Case {
                binaries: &[("a.so", "i386", "10.6"), ("a.so", "x86_64", "10.6")],
                tags: &["macosx_10_6_intel"],
                target: None,
                want: &["macosx_10_6_intel"],
                warnings: 0,
            },
            // with a target: max(lib, target)
            Case {
                binaries: &[("a.so", "x86_64", "10.9")],
                tags: &["macosx_10_9_x86_64"],
                target: Some("10.13"),
                want: &["macosx_10_13_x86_64"],
                warnings: 0,
            },
            Case {
                binaries: &[("a.so", "arm64", "11.0")],
                tags: &["macosx_11_0_arm64"],
                target: Some("10.9"),
                want: &["macosx_11_0_arm64"],
                warnings: 0,
            },
            Case {
                binaries: &[("a.so", "arm64", "12.3")],
                tags: &["macosx_11_0_arm64"],
                target: Some("12.3"),
                want: &["macosx_12_0_arm64"],
                warnings: 0,
            },
            Case {
                binaries: &[("a.so", "x86_64", "10.9"), ("a.so", "arm64", "11.0")],
                tags: &["macosx_10_9_universal2"],
                target: Some("10.9"),
                want: &["macosx_10_9_universal2"],
                warnings: 0,
            },
            Case { binaries: &[], tags: &["any"], target: None, want: &["any"], warnings: 0 },
        ];
        for c in cases {
            let target = c.target.map(v);
            let got =
                macos_platform_tags(&bins(c.binaries), c.tags, target).unwrap_or_else(|e| panic!("{:?}: {e}", c.tags));
            assert_eq!(got.tags, c.want, "{:?} {:?}", c.binaries, c.tags);
            assert_eq!(got.warnings.len(), c.warnings, "{:?}", c.binaries);
        }
    }

    #[test]
    fn warning_text() {
        let got = macos_platform_tags(&bins(&[("a.so", "arm64", "11.3")]), &["macosx_11_0_arm64"], None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            got.warnings[0].to_string(),
            "Wheel will be tagged as supporting macOS 11 (arm64), but will not support macOS versions older than 11.3\n\t\
             Configure MACOSX_DEPLOYMENT_TARGET to suppress this warning."
        );
    }

    #[test]
    fn errors() {
        let missing = macos_platform_tags(&bins(&[("a.so", "arm64", "11.0")]), &["macosx_10_9_universal2"], None);
        assert_eq!(missing, Err(MacTagError::MissingArch(vec!["x86_64".into()])));
        assert_eq!(
            missing.map(|_| ()).unwrap_err().to_string(),
            "Failed to find any binary with the required architecture: 'x86_64'"
        );
        let none = macos_platform_tags(&[], &["macosx_10_9_intel"], None);
        assert_eq!(none, Err(MacTagError::MissingArch(vec!["i386".into(), "x86_64".into()])));

        let bad = macos_platform_tags(&bins(&[("a.so", "x86_64", "10.9")]), &["manylinux1_x86_64"], None);
        assert_eq!(bad, Err(MacTagError::InvalidTag("manylinux1_x86_64".into())));

        let too_low = macos_platform_tags(
            &bins(&[
                ("pkg/.dylibs/libb.dylib", "x86_64", "13.0"),
                ("pkg/_ext.so", "x86_64", "10.9"),
                ("pkg/.dylibs/liba.dylib", "x86_64", "12.1"),
                ("pkg/.dylibs/liba.dylib", "arm64", "11.0"),
            ]),
            &["macosx_10_9_universal2"],
            Some(v("10.9")),
        );
        let err = too_low.map(|_| ()).unwrap_err();
        assert_eq!(err.needed_target(), Some(v("13.0")));
        assert_eq!(
            err.to_string(),
            "Library dependencies do not satisfy target MacOS version 10.9:\n\
             pkg/.dylibs/liba.dylib has a minimum target of 12.1\n\
             pkg/.dylibs/libb.dylib has a minimum target of 13.0\n\
             Set the environment variable 'MACOSX_DEPLOYMENT_TARGET=13.0' to update minimum supported macOS for this \
             wheel."
        );
        // arm64 at 12.0 against a 10.9 target is checked against 11.0
        let arm = macos_platform_tags(&bins(&[("x.so", "arm64", "12.0")]), &["macosx_11_0_arm64"], Some(v("10.9")));
        assert!(
            matches!(arm, Err(MacTagError::TargetTooLow { ref files, .. }) if files == &[("x.so".to_string(), v("12.0"))])
        );
    }

    #[test]
    fn system_libraries() {
        for (name, system) in [
            ("/usr/lib/libSystem.B.dylib", true),
            ("/usr/lib/libc++.1.dylib", true),
            ("/System/Library/Frameworks/CoreFoundation.framework/Versions/A/CoreFoundation", true),
            ("/usr/local/lib/libfoo.dylib", false),
            ("/opt/homebrew/lib/libssl.3.dylib", false),
            ("@rpath/libfoo.dylib", false),
            ("@loader_path/../usr/lib/libx.dylib", false),
        ] {
            assert_eq!(is_system_library(name), system, "{name}");
        }
    }
}
