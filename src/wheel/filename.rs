//! PEP 427 wheel file names with PEP 425 compressed tag sets.

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
        let _ = platforms;
        unimplemented!()
    }

    /// Every `python-abi-platform` combination, in field order.
    pub fn tags(&self) -> Vec<String> {
        unimplemented!()
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

impl FromStr for WheelFilename {
    type Err = WheelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let _ = s;
        Err(WheelError::Filename("not implemented".into()))
    }
}

impl fmt::Display for WheelFilename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let _ = f;
        unimplemented!()
    }
}
