//! The `WHEEL` file: RFC 822-style `Key: value` lines, order kept; and the
//! `License-File:` lines of the core metadata (`METADATA`).
//!
//! Keys compare case-insensitively, as e-mail headers do. Rewriting changes
//! only the lines asked for, keeps every other line in place, and writes the
//! line ending style (`\n` or `\r\n`) the file was read with.

use std::fmt;

use super::WheelError;

/// Keys that may appear at most once: setting or appending them replaces the old value.
const SINGLE_KEYS: &[&str] = &["Wheel-Version", "Generator", "Root-Is-Purelib", "Build"];

/// The parsed `WHEEL` file. Lines are kept in order so that rewriting changes
/// only what was asked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WheelMetadata {
    /// `(key, value)` pairs in file order.
    pub fields: Vec<(String, String)>,
    /// The file used `\r\n` line endings.
    crlf: bool,
}

impl WheelMetadata {
    /// Parses the text of a `WHEEL` file.
    ///
    /// A line that starts with a space or a tab continues the value of the
    /// line before it (RFC 822 folding); the value then holds the `\n` and
    /// the leading whitespace, so that writing it back reproduces the file.
    pub fn parse(text: &str) -> Result<Self, WheelError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let crlf = text.contains("\r\n");
        let mut fields: Vec<(String, String)> = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = fields.last_mut() else {
                    return Err(WheelError::Metadata(format!(
                        "line {} is a continuation line with nothing to continue",
                        number + 1
                    )));
                };
                value.push('\n');
                value.push_str(line);
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                return Err(WheelError::Metadata(format!("line {} has no `Key: value` form: `{line}`", number + 1)));
            };
            let key = key.trim();
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(WheelError::Metadata(format!("line {} has an invalid key: `{line}`", number + 1)));
            }
            fields.push((key.to_string(), value.trim().to_string()));
        }
        Ok(WheelMetadata { fields, crlf })
    }

    /// The first value of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }

    /// Every value of `key` (case-insensitive), in file order.
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.fields.iter().filter(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str()).collect()
    }

    /// Replaces every `key` line with one line holding `value`, placed where
    /// the first one was; appends it when there was none.
    pub fn set(&mut self, key: &str, value: &str) {
        match self.fields.iter().position(|(k, _)| k.eq_ignore_ascii_case(key)) {
            Some(first) => {
                if let Some(slot) = self.fields.get_mut(first) {
                    slot.1 = value.to_string();
                }
                let mut i = 0usize;
                self.fields.retain(|(k, _)| {
                    let keep = i == first || !k.eq_ignore_ascii_case(key);
                    i += 1;
                    keep
                });
            }
            None => self.fields.push((key.to_string(), value.to_string())),
        }
    }

    /// Removes every `key` line; returns how many were removed.
    pub fn remove(&mut self, key: &str) -> usize {
        let before = self.fields.len();
        self.fields.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
        before - self.fields.len()
    }

    /// Adds a `key: value` line at the end. Keys that may appear only once
    /// (`Root-Is-Purelib`, `Wheel-Version`, `Generator`, `Build`) are set instead.
    pub fn append(&mut self, key: &str, value: &str) {
        if SINGLE_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            self.set(key, value);
        } else {
            self.fields.push((key.to_string(), value.to_string()));
        }
    }

    /// Replaces every `Tag:` line with `tags`, placed where the first `Tag:`
    /// line was (at the end when there was none).
    pub fn set_tags(&mut self, tags: &[String]) {
        let first = self.fields.iter().position(|(k, _)| k.eq_ignore_ascii_case("Tag"));
        self.remove("Tag");
        let at = first.unwrap_or(self.fields.len()).min(self.fields.len());
        let new = tags.iter().map(|t| ("Tag".to_string(), t.clone()));
        self.fields.splice(at..at, new);
    }

    /// The `Tag:` values.
    pub fn tags(&self) -> Vec<&str> {
        self.get_all("Tag")
    }

    /// `Root-Is-Purelib`, when present (`true`, case-insensitive, is true).
    pub fn root_is_purelib(&self) -> Option<bool> {
        self.get("Root-Is-Purelib").map(|v| v.eq_ignore_ascii_case("true"))
    }

    /// `Wheel-Version` as `(major, minor)`.
    pub fn wheel_version(&self) -> Result<(u32, u32), WheelError> {
        let Some(v) = self.get("Wheel-Version") else {
            return Err(WheelError::Metadata("missing `Wheel-Version`".to_string()));
        };
        let bad = || WheelError::Metadata(format!("invalid `Wheel-Version: {v}`"));
        let (major, minor) = v.split_once('.').unwrap_or((v, "0"));
        Ok((major.parse().map_err(|_| bad())?, minor.parse().map_err(|_| bad())?))
    }
}

impl fmt::Display for WheelMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let eol = if self.crlf { "\r\n" } else { "\n" };
        for (k, v) in &self.fields {
            write!(f, "{k}: ")?;
            let mut lines = v.split('\n');
            if let Some(first) = lines.next() {
                f.write_str(first)?;
            }
            for more in lines {
                write!(f, "{eol}{more}")?;
            }
            f.write_str(eol)?;
        }
        Ok(())
    }
}

/// The `Metadata-Version` of a core metadata (`METADATA`) text, as
/// `(major, minor)`; `None` when its header has none or it is not a number.
pub fn core_metadata_version(text: &str) -> Option<(u32, u32)> {
    let v = header_lines(text).iter().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("Metadata-Version").then_some(v.trim())
    })?;
    let (major, minor) = v.split_once('.').unwrap_or((v, "0"));
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The header lines of a core metadata text (up to the first empty line),
/// without their line endings.
fn header_lines(text: &str) -> Vec<&str> {
    text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).take_while(|l| !l.is_empty()).collect()
}

/// A core metadata (`METADATA`) text with a `License-File: <path>` line for
/// each of `paths` (relative to `<dist-info>/licenses/`, as PEP 639 says)
/// it does not list yet, placed after its last `License-File:` line or else
/// at the end of its header, in its line ending style; everything else is
/// kept as it is. `None` when nothing is added, or when its
/// `Metadata-Version` is below 2.4: older metadata has no such field, and
/// raising its version would promise the other fields of 2.4 too.
pub fn with_license_files(text: &str, paths: &[String]) -> Option<String> {
    if core_metadata_version(text)? < (2, 4) {
        return None;
    }
    let is_key = |line: &str| line.split_once(':').is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("License-File"));
    let header = header_lines(text);
    let listed: Vec<&str> =
        header.iter().filter(|l| is_key(l)).filter_map(|l| Some(l.split_once(':')?.1.trim())).collect();
    let mut new: Vec<&String> = paths.iter().filter(|p| !listed.contains(&p.as_str())).collect();
    new.dedup();
    if new.is_empty() {
        return None;
    }
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    // the line after which the new lines go: the last License-File line
    // (with its continuation lines), else the last header line
    let last_key = header.iter().rposition(|l| is_key(l));
    let after = match last_key {
        Some(k) => k + header[k + 1..].iter().take_while(|l| l.starts_with([' ', '\t'])).count(),
        None => header.len().checked_sub(1)?,
    };
    // byte offset of the end of line `after`, its line ending included
    let mut at = 0;
    for line in text.split_inclusive('\n').take(after + 1) {
        at += line.len();
    }
    let mut out = String::with_capacity(text.len() + new.len() * 40);
    out.push_str(&text[..at]);
    if !out.ends_with('\n') {
        out.push_str(eol);
    }
    for p in new {
        out.push_str(&format!("License-File: {p}{eol}"));
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// The project names of the `Requires-Dist:` header lines of a core
/// metadata (`METADATA`) text, as written (specifiers, extras and markers left out).
pub fn required_names(metadata: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in metadata.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break; // the body starts
        }
        let Some((key, value)) = line.split_once(':') else { continue };
        if key.trim().eq_ignore_ascii_case("Requires-Dist") {
            let value = value.trim_start();
            let end = value
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                .unwrap_or(value.len());
            out.push(value[..end].to_string());
        }
    }
    out
}

/// `metadata` (a `METADATA` text) with a `Requires-Dist: {requirement}`
/// line after the last `Requires-Dist` header line, or at the end of the
/// headers when there is none; the body and the line endings are kept.
pub fn add_requires_dist(metadata: &str, requirement: &str) -> String {
    let eol = if metadata.contains("\r\n") { "\r\n" } else { "\n" };
    let mut at = None; // byte offset the new line goes at
    let mut offset = 0usize;
    let mut in_requires = false;
    for line in metadata.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\r', '\n']);
        if bare.is_empty() {
            at.get_or_insert(offset);
            break;
        }
        offset += line.len();
        let folded = bare.starts_with([' ', '\t']);
        if !folded {
            in_requires = bare.split_once(':').is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("Requires-Dist"));
        }
        if in_requires {
            at = Some(offset);
        }
    }
    let mut head_end = at.unwrap_or(offset);
    let mut text = metadata.to_string();
    if head_end > 0 && !text[..head_end].ends_with('\n') {
        text.insert_str(head_end, eol);
        head_end += eol.len();
    }
    text.insert_str(head_end, &format!("Requires-Dist: {requirement}{eol}"));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHEEL: &str = "Wheel-Version: 1.0\nGenerator: bdist_wheel (0.42.0)\nRoot-Is-Purelib: false\n\
                         Tag: cp311-cp311-linux_x86_64\nBuild: 1\n";

    #[test]
    fn round_trips_unchanged() {
        let m = WheelMetadata::parse(WHEEL).unwrap();
        assert_eq!(m.to_string(), WHEEL);
        let crlf = WHEEL.replace('\n', "\r\n");
        assert_eq!(WheelMetadata::parse(&crlf).unwrap().to_string(), crlf);
        let folded = "Wheel-Version: 1.0\nX: a\n  b\n";
        assert_eq!(WheelMetadata::parse(folded).unwrap().to_string(), folded);
        assert_eq!(WheelMetadata::parse(folded).unwrap().get("x"), Some("a\n  b"));
    }

    #[test]
    fn get_set_remove_append() {
        let mut m = WheelMetadata::parse(WHEEL).unwrap();
        assert_eq!(m.get("root-is-purelib"), Some("false"));
        assert_eq!(m.root_is_purelib(), Some(false));
        assert_eq!(m.wheel_version().unwrap(), (1, 0));
        m.set("Root-Is-Purelib", "true");
        m.append("Root-Is-Purelib", "false");
        assert_eq!(m.get_all("Root-Is-Purelib"), vec!["false"]);
        m.append("Tag", "cp311-cp311-linux_aarch64");
        assert_eq!(m.tags(), vec!["cp311-cp311-linux_x86_64", "cp311-cp311-linux_aarch64"]);
        assert_eq!(m.remove("tag"), 2);
        assert!(m.tags().is_empty());
        m.set("New", "1");
        assert_eq!(m.fields.last().map(|(k, v)| (k.as_str(), v.as_str())), Some(("New", "1")));
    }

    #[test]
    fn set_collapses_duplicates_at_first_position() {
        let mut m = WheelMetadata::parse("A: 1\nB: 2\nA: 3\nC: 4\n").unwrap();
        m.set("a", "9");
        assert_eq!(m.to_string(), "A: 9\nB: 2\nC: 4\n");
    }

    #[test]
    fn set_tags_replaces_in_place() {
        let mut m = WheelMetadata::parse(
            "Wheel-Version: 1.0\nTag: cp311-cp311-linux_x86_64\nRoot-Is-Purelib: false\nTag: x-y-z\nBuild: 1\n",
        )
        .unwrap();
        m.set_tags(&["cp311-cp311-manylinux_2_5_x86_64".into(), "cp311-cp311-manylinux1_x86_64".into()]);
        assert_eq!(
            m.to_string(),
            "Wheel-Version: 1.0\nTag: cp311-cp311-manylinux_2_5_x86_64\nTag: cp311-cp311-manylinux1_x86_64\n\
             Root-Is-Purelib: false\nBuild: 1\n"
        );
        let mut empty = WheelMetadata::parse("Wheel-Version: 1.0\n").unwrap();
        empty.set_tags(&["a-b-c".into()]);
        assert_eq!(empty.to_string(), "Wheel-Version: 1.0\nTag: a-b-c\n");
    }

    #[test]
    fn requires_dist_is_read_and_added() {
        let meta = "Metadata-Version: 2.1\nName: x\nRequires-Dist: numpy>=1.20\nRequires-Dist: Nvidia_Cuda (>=12) ; extra == 'cu'\nSummary: s\n\nbody\nRequires-Dist: not-a-header\n";
        assert_eq!(required_names(meta), ["numpy", "Nvidia_Cuda"]);
        let added = add_requires_dist(meta, "nvidia-cudnn-cu12>=9.1");
        assert_eq!(
            added,
            "Metadata-Version: 2.1\nName: x\nRequires-Dist: numpy>=1.20\nRequires-Dist: Nvidia_Cuda (>=12) ; extra == 'cu'\n\
             Requires-Dist: nvidia-cudnn-cu12>=9.1\nSummary: s\n\nbody\nRequires-Dist: not-a-header\n"
        );
        // no requirement yet: at the end of the headers, before the body
        let plain = "Metadata-Version: 2.1\r\nName: x\r\n\r\nbody\r\n";
        assert_eq!(
            add_requires_dist(plain, "a>=1"),
            "Metadata-Version: 2.1\r\nName: x\r\nRequires-Dist: a>=1\r\n\r\nbody\r\n"
        );
        // no body, no final newline
        assert_eq!(add_requires_dist("Name: x", "a>=1"), "Name: x\nRequires-Dist: a>=1\n");
        assert_eq!(add_requires_dist("Name: x\n", "a>=1"), "Name: x\nRequires-Dist: a>=1\n");
    }

    #[test]
    fn rejects_malformed() {
        for (text, why) in [
            ("Wheel-Version 1.0\n", "line 1 has no `Key: value` form"),
            (" continued\n", "line 1 is a continuation line"),
            ("A: 1\nbad key: 2\n", "line 2 has an invalid key"),
        ] {
            let e = WheelMetadata::parse(text).unwrap_err();
            assert!(matches!(e, WheelError::Metadata(_)));
            assert!(e.to_string().contains(why), "{e}");
        }
        let m = WheelMetadata::parse("Generator: x\n").unwrap();
        assert!(m.wheel_version().unwrap_err().to_string().contains("missing `Wheel-Version`"));
        let m = WheelMetadata::parse("Wheel-Version: one\n").unwrap();
        assert!(m.wheel_version().unwrap_err().to_string().contains("invalid `Wheel-Version: one`"));
    }

    #[test]
    fn license_files_are_added_to_metadata_2_4_only() {
        let files = vec!["zlib1g/copyright".to_string(), "libffi8/copyright".to_string()];
        let old = "Metadata-Version: 2.1\nName: demo\nVersion: 0.1\n\nbody\n";
        assert_eq!(core_metadata_version(old), Some((2, 1)));
        assert_eq!(with_license_files(old, &files), None);
        assert_eq!(with_license_files("Name: x\n", &files), None, "no version: left alone");
        // at the end of the header, before the body; the body is kept
        let text = "Metadata-Version: 2.4\nName: demo\nVersion: 0.1\n\nLicense-File: in the body\n";
        assert_eq!(
            with_license_files(text, &files).unwrap(),
            "Metadata-Version: 2.4\nName: demo\nVersion: 0.1\nLicense-File: zlib1g/copyright\n\
             License-File: libffi8/copyright\n\nLicense-File: in the body\n"
        );
        // after the last License-File line (and its continuation), CRLF kept,
        // a path already listed not listed twice
        let text = "Metadata-Version: 2.5\r\nLicense-File: zlib1g/copyright\r\nLicense-File: LICENSE\r\n \
                    folded\r\nName: demo\r\n";
        assert_eq!(
            with_license_files(text, &files).unwrap(),
            "Metadata-Version: 2.5\r\nLicense-File: zlib1g/copyright\r\nLicense-File: LICENSE\r\n folded\r\n\
             License-File: libffi8/copyright\r\nName: demo\r\n"
        );
        assert_eq!(with_license_files("Metadata-Version: 2.4\nLicense-File: zlib1g/copyright\n", &files[..1]), None);
        // a header with no final newline
        assert_eq!(
            with_license_files("Metadata-Version: 3.0", &files[..1]).unwrap(),
            "Metadata-Version: 3.0\nLicense-File: zlib1g/copyright\n"
        );
    }
}
