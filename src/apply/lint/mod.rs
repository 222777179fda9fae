//! The link lint after a rewrite: a binary a repair rewrote is parsed again
//! from the bytes about to be written and linted
//! ([`crate::policy::link::lint`]) before the wheel is written. A finding
//! the rewrite brought is refused; one the input already had is kept.
//!
//! Before and after are told apart by comparing the findings of the input
//! bytes with those of the output bytes, both judged as the same entry (the
//! output's name, where it installs): a finding names its kind, the file
//! and the path or library concerned, so a search path or a version entry
//! the repair left as it was (`--keep-rpaths`, an install name that was not
//! bundled) gives the same finding on both sides, while an absolute path
//! the rewrite wrote, or a version entry whose DT_NEEDED it renamed, gives a
//! finding only the output has.

use crate::binary::BinaryInfo;
use crate::patch::PatchError;
use crate::policy::link::{self, LinkFinding};

/// The findings of one binary's bytes, as the entry `name` installed at
/// `installed`. Bytes that do not parse have none: the patcher refuses them.
pub(super) fn findings(name: &str, installed: &str, data: &[u8]) -> Vec<LinkFinding> {
    match crate::binary::parse(data) {
        Ok(Some(info)) => findings_of(name, installed, &info),
        _ => Vec::new(),
    }
}

pub(super) fn findings_of(name: &str, installed: &str, info: &BinaryInfo) -> Vec<LinkFinding> {
    let mut out = link::lint(name, installed, info);
    out.sort();
    out.dedup();
    out
}

/// Refuses the rewritten bytes `after` of the entry `name` when their link
/// lint has a finding that `before` (the input's, from [`findings`]) does
/// not: the first such finding, in one line.
pub(super) fn check(name: &str, installed: &str, before: &[LinkFinding], after: &[u8]) -> Result<(), PatchError> {
    check_parsed(name, installed, before, crate::binary::parse(after))
}

/// [`check`] of rewritten bytes parsed already (in part, for a file too
/// large to hold whole).
pub(super) fn check_parsed(
    name: &str,
    installed: &str,
    before: &[LinkFinding],
    parsed: Result<Option<BinaryInfo>, crate::binary::ParseError>,
) -> Result<(), PatchError> {
    let info = match parsed {
        Ok(Some(info)) => info,
        Ok(None) => return Err(PatchError::Verify("the rewritten file is no longer a binary".to_string())),
        Err(e) => return Err(PatchError::Verify(format!("the rewritten file does not parse: {e}"))),
    };
    match findings_of(name, installed, &info).into_iter().find(|f| before.binary_search(f).is_err()) {
        Some(new) => Err(PatchError::Verify(format!("the rewrite left a link problem the input did not have: {new}"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
