//! The `WHEEL` file: RFC 822-style `Key: value` lines, order kept.

use super::WheelError;

/// The parsed `WHEEL` file. Lines are kept in order so that rewriting changes
/// only what was asked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WheelMetadata {
    /// `(key, value)` pairs in file order.
    pub fields: Vec<(String, String)>,
}

impl WheelMetadata {
    /// Parses the text of a `WHEEL` file.
    pub fn parse(text: &str) -> Result<Self, WheelError> {
        let _ = text;
        Err(WheelError::Metadata("not implemented".into()))
    }
}
