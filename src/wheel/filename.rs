//! PEP 427 wheel file names with PEP 425 compressed tag sets.
//!
//! A wheel is named `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`.
//! Each of the three tag fields may hold several tags joined with `.`
//! (`cp311.cp312`, `manylinux1_x86_64.manylinux_2_5_x86_64`); [`WheelFilename::tags`]
//! expands them into every `python-abi-platform` combination.

use std::fmt;
use std::str::FromStr;

use super::WheelError;

/// `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`, with each
/// tag field split at `.` (compressed tag sets).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WheelFilename {
    /// Distribution name as written in the file name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Optional build tag (starts with a digit).
    pub build: Option<String>,
    /// Python tags (`cp312`, `py3`, …).
    pub python: Vec<String>,
    /// ABI tags (`cp312`, `abi3`, `none`, …).
    pub abi: Vec<String>,
    /// Platform tags (`linux_x86_64`, `manylinux_2_17_x86_64`, `any`, …).
    pub platform: Vec<String>,
}

impl WheelFilename {
    /// The same name with other platform tags (sorted and deduplicated, as
    /// auditwheel writes them).
    pub fn with_platforms(&self, platforms: &[String]) -> WheelFilename {
        let mut platform = platforms.to_vec();
        platform.sort();
        platform.dedup();
        WheelFilename { platform, ..self.clone() }
    }

    /// Every `python-abi-platform` combination, in field order.
    pub fn tags(&self) -> Vec<String> {
        let mut tags = Vec::with_capacity(self.python.len() * self.abi.len() * self.platform.len());
        for py in &self.python {
            for abi in &self.abi {
                for plat in &self.platform {
                    tags.push(format!("{py}-{abi}-{plat}"));
                }
            }
        }
        tags
    }

    /// `{name}-{version}.dist-info`.
    pub fn dist_info_dir(&self) -> String {
        format!("{}-{}.dist-info", self.name, self.version)
    }

    /// `{name}-{version}.data`.
    pub fn data_dir(&self) -> String {
        format!("{}-{}.data", self.name, self.version)
    }

    /// True when the only platform tag is `any`.
    pub fn is_pure(&self) -> bool {
        self.platform.iter().all(|p| p == "any")
    }
}

/// The project name normalised as PEP 503 does (lower case, runs of `-`, `_`
/// and `.` replaced by a single `-`), so that `Foo_Bar` and `foo-bar` compare equal.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_sep {
                out.push('-');
            }
            in_sep = true;
        } else {
            out.extend(c.to_lowercase());
            in_sep = false;
        }
    }
    out
}

fn split_tags(s: &str, field: &str, full: &str) -> Result<Vec<String>, WheelError> {
    let tags: Vec<String> = s.split('.').map(str::to_string).collect();
    if tags.iter().any(String::is_empty) {
        return Err(WheelError::Filename(format!("`{full}`: empty tag in the {field} tag set `{s}`")));
    }
    Ok(tags)
}

impl FromStr for WheelFilename {
    type Err = WheelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| WheelError::Filename(format!("`{s}`: {reason}"));
        let Some(stem) = s.strip_suffix(".whl") else {
            return Err(err("does not end in `.whl`"));
        };
        if let Some(c) = stem.chars().find(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '\\')) {
            return Err(err(&format!("contains the character {c:?}")));
        }
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, build, py, abi, plat) = match parts.as_slice() {
            [n, v, p, a, pl] => (*n, *v, None, *p, *a, *pl),
            [n, v, b, p, a, pl] => (*n, *v, Some(*b), *p, *a, *pl),
            _ => {
                return Err(err(&format!(
                    "expected 5 or 6 `-`-separated fields (name-version[-build]-python-abi-platform), found {}",
                    parts.len()
                )))
            }
        };
        if name.is_empty() {
            return Err(err("the distribution name is empty"));
        }
        if version.is_empty() {
            return Err(err("the version is empty"));
        }
        if let Some(b) = build {
            if !b.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(err(&format!("the build tag `{b}` does not start with a digit")));
            }
        }
        Ok(WheelFilename {
            name: name.to_string(),
            version: version.to_string(),
            build: build.map(str::to_string),
            python: split_tags(py, "python", s)?,
            abi: split_tags(abi, "ABI", s)?,
            platform: split_tags(plat, "platform", s)?,
        })
    }
}

impl fmt::Display for WheelFilename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.name, self.version)?;
        if let Some(b) = &self.build {
            write!(f, "-{b}")?;
        }
        write!(f, "-{}-{}-{}.whl", self.python.join("."), self.abi.join("."), self.platform.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_valid_names() {
        #[allow(clippy::type_complexity)]
        let cases: &[(&str, &str, &str, Option<&str>, &[&str], &[&str], &[&str])] = &[
            ("demo-0.1-cp311-cp311-linux_x86_64.whl", "demo", "0.1", None, &["cp311"], &["cp311"], &["linux_x86_64"]),
            ("pkg-1.0-py3-none-any.whl", "pkg", "1.0", None, &["py3"], &["none"], &["any"]),
            ("Foo_Bar-2.0-1-py2.py3-none-any.whl", "Foo_Bar", "2.0", Some("1"), &["py2", "py3"], &["none"], &["any"]),
            (
                "numpy-2.0.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                "numpy",
                "2.0.0",
                None,
                &["cp312"],
                &["cp312"],
                &["manylinux_2_17_x86_64", "manylinux2014_x86_64"],
            ),
            (
                "x-1+local-2abc-cp39-abi3-win_amd64.whl",
                "x",
                "1+local",
                Some("2abc"),
                &["cp39"],
                &["abi3"],
                &["win_amd64"],
            ),
        ];
        for (s, name, ver, build, py, abi, plat) in cases {
            let f: WheelFilename = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(f.name, *name, "{s}");
            assert_eq!(f.version, *ver, "{s}");
            assert_eq!(f.build.as_deref(), *build, "{s}");
            assert_eq!(f.python, v(py), "{s}");
            assert_eq!(f.abi, v(abi), "{s}");
            assert_eq!(f.platform, v(plat), "{s}");
            assert_eq!(f.to_string(), *s, "display round trip");
        }
    }

    #[test]
    fn rejects_invalid_names() {
        let cases: &[(&str, &str)] = &[
            ("demo-0.1-cp311-cp311-linux_x86_64.zip", "does not end in `.whl`"),
            ("demo-0.1-cp311-linux_x86_64.whl", "found 4"),
            ("a-b-c-d-e-f-g.whl", "found 7"),
            ("demo-0.1-x1-cp311-cp311-any.whl", "build tag `x1` does not start with a digit"),
            ("-0.1-py3-none-any.whl", "distribution name is empty"),
            ("demo--py3-none-any.whl", "version is empty"),
            ("demo-0.1-py3-none-linux..x.whl", "empty tag in the platform tag set"),
            ("demo-0.1-.py3-none-any.whl", "empty tag in the python tag set"),
            ("de mo-0.1-py3-none-any.whl", "contains the character ' '"),
            ("dir/demo-0.1-py3-none-any.whl", "contains the character '/'"),
        ];
        for (s, why) in cases {
            let e = s.parse::<WheelFilename>().expect_err(s);
            let msg = e.to_string();
            assert!(matches!(e, WheelError::Filename(_)), "{s}: {e:?}");
            assert!(msg.contains(&format!("`{s}`")), "{s}: message does not quote the name: {msg}");
            assert!(msg.contains(why), "{s}: expected {why:?} in {msg}");
            assert!(!msg.contains('\n'));
        }
    }

    #[test]
    fn tags_expand_every_combination_in_order() {
        let f: WheelFilename = "a-1-cp311.cp312-abi3.none-x.y.whl".parse().unwrap();
        assert_eq!(
            f.tags(),
            v(&[
                "cp311-abi3-x",
                "cp311-abi3-y",
                "cp311-none-x",
                "cp311-none-y",
                "cp312-abi3-x",
                "cp312-abi3-y",
                "cp312-none-x",
                "cp312-none-y"
            ])
        );
    }

    #[test]
    fn with_platforms_sorts_and_dedups() {
        let f: WheelFilename = "demo-0.1-cp311-cp311-linux_x86_64.whl".parse().unwrap();
        let g = f.with_platforms(&v(&["manylinux_2_5_x86_64", "manylinux1_x86_64", "manylinux_2_5_x86_64"]));
        assert_eq!(g.to_string(), "demo-0.1-cp311-cp311-manylinux1_x86_64.manylinux_2_5_x86_64.whl");
        assert_eq!(g.python, f.python);
        assert!(!g.is_pure());
        assert_eq!(g.dist_info_dir(), "demo-0.1.dist-info");
        assert_eq!(g.data_dir(), "demo-0.1.data");
    }

    #[test]
    fn normalizes_names_like_pep503() {
        for (a, b) in [("Foo_Bar", "foo-bar"), ("foo.-_bar", "foo-bar"), ("NUMPY", "numpy"), ("a__b", "a-b")] {
            assert_eq!(normalize_name(a), b);
        }
    }
}
