//! Wheel → [`Analysis`]: every binary parsed once, dependencies resolved,
//! platform rules applied. Pure data; nothing is written.

use std::path::Path;

/// Options of [`analyze`].
#[derive(Debug, Clone, Default)]
pub struct AnalyzeOptions {}

/// The result of analysing a wheel.
#[derive(Debug, Clone)]
pub struct Analysis {}

impl Analysis {
    /// The best platform tags the wheel can carry.
    pub fn best_platform_tags(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Analyses the wheel at `path`.
pub fn analyze(path: &Path, options: &AnalyzeOptions) -> crate::Result<Analysis> {
    let _ = (path, options);
    Err(crate::Error::Usage("not implemented".into()))
}
