//! The `RECORD` file: `path,sha256=<urlsafe-b64-nopad>,size` rows.
//!
//! RECORD is CSV: a field is quoted only when it holds `,`, `"` or a line
//! break, and a `"` inside a quoted field is doubled. Rows are written with
//! `\n` endings (as bdist_wheel does); `\r\n` files parse too.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::Digest as _;

use super::WheelError;

/// One RECORD row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// The entry path.
    pub path: String,
    /// `algo=digest`, when present.
    pub hash: Option<String>,
    /// The size in bytes, when present.
    pub size: Option<u64>,
}

impl RecordRow {
    /// A row for `path` holding `data`: its sha256 and its size.
    pub fn for_data(path: &str, data: &[u8]) -> Self {
        RecordRow { path: path.to_string(), hash: Some(hash(data)), size: Some(data.len() as u64) }
    }

    /// Checks `data` against this row's hash and size.
    ///
    /// A missing hash or size is a mismatch: only RECORD itself (and its
    /// signatures) may be listed without them, and callers skip those.
    pub fn verify(&self, data: &[u8]) -> Result<(), WheelError> {
        let mismatch = |reason: String| WheelError::RecordMismatch { entry: self.path.clone(), reason };
        let Some(size) = self.size else {
            return Err(mismatch("RECORD lists no size".to_string()));
        };
        if size != data.len() as u64 {
            return Err(mismatch(format!("size is {} bytes, RECORD says {size}", data.len())));
        }
        let Some(expected) = &self.hash else {
            return Err(mismatch("RECORD lists no hash".to_string()));
        };
        let Some((algo, _)) = expected.split_once('=') else {
            return Err(mismatch(format!("RECORD hash `{expected}` has no `algorithm=` prefix")));
        };
        let Some(actual) = hash_with(algo, data) else {
            return Err(mismatch(format!("unsupported hash algorithm `{algo}` (sha256, sha384 or sha512 expected)")));
        };
        if &actual != expected {
            return Err(mismatch(format!("hash is {actual}, RECORD says {expected}")));
        }
        Ok(())
    }
}

/// A parsed RECORD file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Rows in file order.
    pub rows: Vec<RecordRow>,
}

impl Record {
    /// Parses RECORD text (CSV with optional quoting).
    pub fn parse(text: &str) -> Result<Self, WheelError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rows = Vec::new();
        let mut chars = text.char_indices().peekable();
        let mut line = 1usize;
        loop {
            // One CSV record.
            let start_line = line;
            let mut fields: Vec<String> = Vec::new();
            let mut field = String::new();
            let mut at_end = false;
            loop {
                let Some((_, c)) = chars.next() else {
                    at_end = true;
                    break;
                };
                match c {
                    '"' if field.is_empty() => {
                        // Quoted field: read to the closing quote.
                        loop {
                            match chars.next() {
                                None => {
                                    return Err(WheelError::Record(format!(
                                        "line {start_line}: unterminated quoted field"
                                    )))
                                }
                                Some((_, '"')) => {
                                    if matches!(chars.peek(), Some((_, '"'))) {
                                        chars.next();
                                        field.push('"');
                                    } else {
                                        break;
                                    }
                                }
                                Some((_, ch)) => {
                                    if ch == '\n' {
                                        line += 1;
                                    }
                                    field.push(ch);
                                }
                            }
                        }
                        match chars.peek() {
                            None | Some((_, ',' | '\n' | '\r')) => {}
                            Some((_, other)) => {
                                return Err(WheelError::Record(format!(
                                    "line {start_line}: unexpected {other:?} after a quoted field"
                                )))
                            }
                        }
                    }
                    ',' => fields.push(std::mem::take(&mut field)),
                    '\r' if matches!(chars.peek(), Some((_, '\n'))) => {}
                    '\n' => {
                        line += 1;
                        break;
                    }
                    other => field.push(other),
                }
            }
            fields.push(field);
            if !(fields.len() == 1 && fields.first().is_some_and(String::is_empty)) {
                rows.push(Self::row_from_fields(fields, start_line)?);
            }
            if at_end {
                break;
            }
        }
        Ok(Record { rows })
    }

    fn row_from_fields(fields: Vec<String>, line: usize) -> Result<RecordRow, WheelError> {
        if fields.len() > 3 {
            return Err(WheelError::Record(format!("line {line}: {} fields, expected 3", fields.len())));
        }
        let mut it = fields.into_iter();
        let path = it.next().unwrap_or_default();
        if path.is_empty() {
            return Err(WheelError::Record(format!("line {line}: empty path")));
        }
        let hash = it.next().filter(|h| !h.is_empty());
        if let Some(h) = &hash {
            if !h.contains('=') {
                return Err(WheelError::Record(format!("line {line}: hash `{h}` of `{path}` has no `algorithm=`")));
            }
        }
        let size = match it.next().filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(
                s.trim()
                    .parse::<u64>()
                    .map_err(|_| WheelError::Record(format!("line {line}: size `{s}` of `{path}` is not a number")))?,
            ),
        };
        Ok(RecordRow { path, hash, size })
    }

    /// The row for `path`, if any.
    pub fn get(&self, path: &str) -> Option<&RecordRow> {
        self.rows.iter().find(|r| r.path == path)
    }

    /// Checks `data` (the content of entry `name`) against its row: the
    /// hash and the size must match, and the entry must be listed.
    pub fn verify(&self, name: &str, data: &[u8]) -> Result<(), WheelError> {
        match self.get(name) {
            Some(row) => row.verify(data),
            None => {
                Err(WheelError::RecordMismatch { entry: name.to_string(), reason: "not listed in RECORD".to_string() })
            }
        }
    }
}

fn quote(f: &mut fmt::Formatter<'_>, field: &str) -> fmt::Result {
    if field.contains([',', '"', '\n', '\r']) {
        write!(f, "\"{}\"", field.replace('"', "\"\""))
    } else {
        f.write_str(field)
    }
}

impl fmt::Display for RecordRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        quote(f, &self.path)?;
        f.write_str(",")?;
        if let Some(h) = &self.hash {
            quote(f, h)?;
        }
        f.write_str(",")?;
        if let Some(s) = self.size {
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for row in &self.rows {
            writeln!(f, "{row}")?;
        }
        Ok(())
    }
}

/// `sha256=<urlsafe base64 without padding>` of `data`.
pub fn hash(data: &[u8]) -> String {
    format!("sha256={}", URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(data)))
}

/// `algo=<urlsafe base64 without padding>` for sha256, sha384 and sha512.
fn hash_with(algo: &str, data: &[u8]) -> Option<String> {
    let digest = match algo {
        "sha256" => sha2::Sha256::digest(data).to_vec(),
        "sha384" => sha2::Sha384::digest(data).to_vec(),
        "sha512" => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    };
    Some(format!("{algo}={}", URL_SAFE_NO_PAD.encode(digest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_urlsafe_unpadded_sha256() {
        // sha256("") = e3b0c442…b855; its URL-safe base64 without padding:
        assert_eq!(hash(b""), "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
        assert_eq!(hash(b"hello\n"), "sha256=WJG1tSLV3whtD_CxEPvZ0hu0_HFjrzTQgoai6Eb2vgM");
        for n in 0..64u8 {
            let h = hash(&[n; 7]);
            assert_eq!(h.len(), "sha256=".len() + 43, "32 bytes are 43 unpadded base64 characters");
            assert!(!h["sha256=".len()..].contains(['+', '/', '=']), "{h}");
        }
    }

    #[test]
    fn parses_plain_and_quoted_rows() {
        let text = "a/b.py,sha256=abc,12\r\n\"we,ird\"\"name\",sha256=x,3\n\"multi\nline\",,\nd/RECORD,,\n\n";
        let r = Record::parse(text).unwrap();
        assert_eq!(
            r.rows,
            vec![
                RecordRow { path: "a/b.py".into(), hash: Some("sha256=abc".into()), size: Some(12) },
                RecordRow { path: "we,ird\"name".into(), hash: Some("sha256=x".into()), size: Some(3) },
                RecordRow { path: "multi\nline".into(), hash: None, size: None },
                RecordRow { path: "d/RECORD".into(), hash: None, size: None },
            ]
        );
        assert_eq!(
            r.to_string(),
            "a/b.py,sha256=abc,12\n\"we,ird\"\"name\",sha256=x,3\n\"multi\nline\",,\nd/RECORD,,\n"
        );
        assert_eq!(Record::parse(&r.to_string()).unwrap(), r);
        assert_eq!(Record::parse("x,sha256=a,1").unwrap().rows.len(), 1, "no final newline");
    }

    #[test]
    fn rejects_malformed_rows() {
        for (text, why) in [
            ("a,sha256=x,1,extra\n", "line 1: 4 fields"),
            ("ok,,\na,sha256=x,big\n", "line 2: size `big` of `a` is not a number"),
            ("\"open,sha256=x,1\n", "unterminated quoted field"),
            ("\"a\"b,,\n", "unexpected 'b' after a quoted field"),
            (",sha256=x,1\n", "empty path"),
            ("a,deadbeef,1\n", "has no `algorithm=`"),
        ] {
            let e = Record::parse(text).unwrap_err();
            assert!(matches!(e, WheelError::Record(_)), "{e:?}");
            assert!(e.to_string().contains(why), "{text:?}: {e}");
        }
    }

    #[test]
    fn verify_names_entry_and_reason() {
        let data = b"print('hi')\n";
        let r = Record { rows: vec![RecordRow::for_data("pkg/m.py", data)] };
        r.verify("pkg/m.py", data).unwrap();
        let cases: &[(&str, &[u8], &str)] = &[
            ("pkg/m.py", b"print('ho')\n", "hash is sha256="),
            ("pkg/m.py", b"print('hi')\n\n", "size is 13 bytes, RECORD says 12"),
            ("pkg/other.py", data, "not listed in RECORD"),
        ];
        for (name, bytes, why) in cases {
            let e = r.verify(name, bytes).unwrap_err();
            let WheelError::RecordMismatch { entry, reason } = &e else { panic!("{e:?}") };
            assert_eq!(entry, name);
            assert!(reason.contains(why), "{reason}");
            assert!(e.to_string().contains(&format!("`{name}`")));
        }
        let sha512 =
            Record { rows: vec![RecordRow { path: "x".into(), hash: hash_with("sha512", b"abc"), size: Some(3) }] };
        sha512.verify("x", b"abc").unwrap();
        let md5 = Record { rows: vec![RecordRow { path: "x".into(), hash: Some("md5=xx".into()), size: Some(3) }] };
        assert!(md5.verify("x", b"abc").unwrap_err().to_string().contains("unsupported hash algorithm `md5`"));
    }
}
