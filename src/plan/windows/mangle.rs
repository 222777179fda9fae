//! delvewheel's name mangling of bundled DLLs: in dependency order,
//! `sha256(hash(dep1) "\0" hash(dep2) "\0" … file bytes)`, the first 32 hex
//! digits appended to the stem, where the deps are the DLL's imports then
//! delay imports that are mangled too. `--no-mangle GLOB` and
//! `--no-mangle-all` keep names.

use std::collections::BTreeMap;

use sha2::Digest;

use super::{Bundled, WindowsOptions};
use crate::analyze::Contents;
use crate::error::Reason;
use crate::error::{Error, Result};

/// The bundled DLLs' names in the wheel.
pub(super) struct Names {
    /// Per bundled DLL, its name in the wheel.
    pub(super) out: Vec<String>,
    /// Lowercased old name → new name, for the mangled ones.
    pub(super) renames: BTreeMap<String, String>,
}

/// Decides which DLLs are mangled (not `--no-mangle-all`, not matched by
/// `--no-mangle`) and names them.
pub(super) fn mangle(
    bundled: &mut [Bundled],
    by_lower: &BTreeMap<String, usize>,
    contents: &Contents,
    options: &WindowsOptions,
) -> Result<Names> {
    if !options.no_mangle_all {
        let patterns: Vec<glob::Pattern> = options
            .no_mangle
            .iter()
            .flat_map(|s| {
                s.split([',', ';'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_ascii_lowercase)
                    .collect::<Vec<_>>()
            })
            .map(|p| glob::Pattern::new(&p).map_err(|e| Error::Usage(format!("--no-mangle `{p}`: {e}"))))
            .collect::<Result<_>>()?;
        for b in bundled.iter_mut() {
            let lower = b.name.to_ascii_lowercase();
            if patterns.iter().any(|p| p.matches(&lower)) {
                b.mangle = false;
            }
        }
    } else {
        for b in bundled.iter_mut() {
            b.mangle = false;
        }
    }
    let mut hashes: Vec<Option<String>> = vec![None; bundled.len()];
    for i in 0..bundled.len() {
        if bundled[i].mangle {
            mangle_hash(i, bundled, by_lower, contents, &mut hashes, &mut vec![false; bundled.len()])?;
        }
    }
    let mut names = Names { out: Vec::new(), renames: BTreeMap::new() };
    for (i, b) in bundled.iter().enumerate() {
        let new = match &hashes[i] {
            Some(h) => {
                let (stem, ext) = split_ext(&b.name);
                let new = format!("{stem}-{h}{ext}");
                names.renames.insert(b.name.to_ascii_lowercase(), new.clone());
                new
            }
            None => b.name.clone(),
        };
        names.out.push(new);
    }
    Ok(names)
}

/// Python's `os.path.splitext`: the extension starts at the last dot that
/// is not part of a leading run of dots.
pub fn split_ext(name: &str) -> (&str, &str) {
    let leading = name.bytes().take_while(|&c| c == b'.').count();
    match name.rfind('.') {
        Some(i) if i >= leading && i > 0 && leading < name.len() => name.split_at(i),
        _ => (name, ""),
    }
}

/// The mangling hash of `bundled[i]` (memoised in `hashes`): sha256 over the
/// hex hashes of its mangled direct deps (imports then delay imports, in
/// file order), each followed by a NUL byte, then the file's bytes; the
/// first 32 hex digits.
fn mangle_hash(
    i: usize,
    bundled: &[Bundled],
    by_lower: &BTreeMap<String, usize>,
    contents: &Contents,
    hashes: &mut Vec<Option<String>>,
    visiting: &mut Vec<bool>,
) -> Result<String> {
    if let Some(h) = &hashes[i] {
        return Ok(h.clone());
    }
    if visiting[i] {
        let reason = Reason::MangleCycle { name: bundled[i].name.clone() };
        return Err(Error::cannot_repair(bundled[i].source.display().to_string(), reason));
    }
    visiting[i] = true;
    let b = &bundled[i];
    let mut hasher = sha2::Sha256::new();
    for dep in b.info.imports.iter().chain(&b.info.delay_imports) {
        let Some(&d) = by_lower.get(&dep.to_ascii_lowercase()) else { continue };
        if !bundled[d].mangle {
            continue;
        }
        let h = mangle_hash(d, bundled, by_lower, contents, hashes, visiting)?;
        hasher.update(h.as_bytes());
        hasher.update([0u8]);
    }
    hasher.update(contents.file(&b.source)?);
    let hex: String = hasher.finalize().iter().map(|x| format!("{x:02x}")).collect();
    let h = hex[..32].to_string();
    visiting[i] = false;
    hashes[i] = Some(h.clone());
    Ok(h)
}
