//! The `RECORD` file: `path,sha256=<urlsafe-b64-nopad>,size` rows.

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

/// A parsed RECORD file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Rows in file order.
    pub rows: Vec<RecordRow>,
}

impl Record {
    /// Parses RECORD text (CSV with optional quoting).
    pub fn parse(text: &str) -> Result<Self, WheelError> {
        let _ = text;
        Err(WheelError::Record("not implemented".into()))
    }
}

/// `sha256=<urlsafe base64 without padding>` of `data`.
pub fn hash(data: &[u8]) -> String {
    let _ = data;
    unimplemented!()
}
