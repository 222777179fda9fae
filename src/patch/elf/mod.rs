//! Native ELF rewriter (replaces patchelf): DT_NEEDED, DT_SONAME, DT_RPATH,
//! `.gnu.version_r` file names.
//!
//! Strategy: strings are only ever added. The old `.dynstr` bytes are kept
//! and new strings appended to a copy placed, with `.dynamic` when it must
//! grow, in one new PT_LOAD at the end of the file; existing offsets stay
//! valid, nothing else moves.
//!
//! The slot for the new program header is, in order of preference: a PT_NULL
//! entry, free zero bytes right after the program header table, and, for
//! shared libraries without PT_INTERP, room made in place by moving the
//! sections right after the table (notes, hash tables, dynamic symbols and
//! strings, symbol versions) into the new segment, every PT_NOTE and
//! PT_GNU_PROPERTY following them: every program header is kept and the
//! table stays in the first PT_LOAD. Only when that is impossible (an
//! executable, whose `.interp` follows its table; a file without section
//! headers) does a PT_NOTE that carries only a build-id or ABI tag give way
//! (never one with a GNU property note), and, last, a library's table move
//! to the start of the new segment. When no string is added and `.dynamic`
//! has room, the file is edited in place and keeps its size.
//!
//! Every output is re-parsed and checked before it is returned: the dynamic
//! information must say what was asked, every `vn_file` must name a
//! DT_NEEDED and the PT_LOAD layout must follow the rules of glibc before
//! 2.35 (sorted, page-multiple `p_align`, `p_vaddr ≡ p_offset (mod p_align)`,
//! no shared memory page).

mod grow;
mod plan;
mod shift;
mod strings;
mod strip;
#[cfg(test)]
mod tests;
mod verify;
mod writer;

use std::collections::BTreeSet;

use super::PatchError;
use crate::binary::elf::{parse, parse_partial, ElfFile, ElfInfo, Partial, EM_MIPS};
use plan::{check_edits, plan_writes, Intent};
pub use strip::strip;
pub use verify::layout_violations;
use verify::{verify, verify_partial, violations_of};
pub(crate) use writer::{Log, Writer};

/// What to do with the search path of an ELF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpathEdit {
    /// Remove DT_RPATH and DT_RUNPATH.
    Remove,
    /// Set DT_RPATH to this `:`-separated value, removing any DT_RUNPATH.
    SetRpath(String),
    /// Set DT_RUNPATH to this value, removing any DT_RPATH.
    SetRunpath(String),
}

impl RpathEdit {
    /// What this edit does to the search path of a file that has `rpath`
    /// and `runpath` (split at `:`), in words: ``RPATH `/a` → RUNPATH `$ORIGIN` ``,
    /// ``RUNPATH `/a` removed``, ``RPATH `$ORIGIN` added``. `None` when it
    /// changes nothing.
    pub fn describe(&self, rpath: &[String], runpath: &[String]) -> Option<String> {
        let old = match (rpath.is_empty(), runpath.is_empty()) {
            (true, true) => None,
            // the loader reads DT_RUNPATH alone when both are there; both go
            (_, false) if !rpath.is_empty() => {
                Some(format!("RPATH `{}` and RUNPATH `{}`", rpath.join(":"), runpath.join(":")))
            }
            (_, false) => Some(format!("RUNPATH `{}`", runpath.join(":"))),
            (false, true) => Some(format!("RPATH `{}`", rpath.join(":"))),
        };
        let new = match self {
            RpathEdit::Remove => None,
            RpathEdit::SetRpath(v) => Some((format!("RPATH `{v}`"), runpath.is_empty() && rpath.join(":") == *v)),
            RpathEdit::SetRunpath(v) => Some((format!("RUNPATH `{v}`"), rpath.is_empty() && runpath.join(":") == *v)),
        };
        match (old, new) {
            (None, None) | (_, Some((_, true))) => None,
            (Some(old), None) => Some(format!("{old} removed")),
            (None, Some((new, _))) => Some(format!("{new} added")),
            (Some(old), Some((new, _))) => Some(format!("{old} → {new}")),
        }
    }
}

/// All edits to one ELF file, applied together, in field order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ElfEdits {
    /// DT_SONAME to set (added when absent).
    pub set_soname: Option<String>,
    /// DT_NEEDED entries to remove (e.g. libpython).
    pub remove_needed: Vec<String>,
    /// DT_NEEDED `(old, new)` renames; the matching `vn_file` of
    /// `.gnu.version_r` is renamed too.
    pub replace_needed: Vec<(String, String)>,
    /// The search path edit.
    pub rpath: Option<RpathEdit>,
}

impl ElfEdits {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.set_soname.is_none()
            && self.remove_needed.is_empty()
            && self.replace_needed.is_empty()
            && self.rpath.is_none()
    }
}

/// The page size the loader may use for `machine`: the largest page size of
/// the architecture (64 KiB on aarch64, ppc, ppc64, mips, loongarch, ia64
/// and alpha; 8 KiB on sparc; 4 KiB elsewhere).
pub fn page_size(machine: u16) -> u64 {
    match machine {
        // EM_MIPS, EM_PPC, EM_PPC64, EM_IA_64, EM_AARCH64, EM_LOONGARCH, EM_ALPHA
        8 | 20 | 21 | 50 | 183 | 258 | 0x9026 => 0x10000,
        // EM_SPARC, EM_SPARCV9
        2 | 43 => 0x2000,
        _ => 0x1000,
    }
}

fn unsupported(msg: impl Into<String>) -> PatchError {
    PatchError::Unsupported(msg.into())
}

fn invalid(msg: impl Into<String>) -> PatchError {
    PatchError::InvalidEdit(msg.into())
}

/// Applies `edits` to the ELF file `data` and returns the new file, after
/// re-parsing it and checking that the edits took effect and the PT_LOAD
/// rules hold (sorted, `p_vaddr ≡ p_offset (mod p_align)`, page-aligned `p_align`).
pub fn apply(data: &[u8], edits: &ElfEdits) -> Result<Vec<u8>, PatchError> {
    let patch = ElfPatch::new(data, edits)?;
    let mut out = Vec::with_capacity(usize::try_from(patch.new_len()).unwrap_or(0).max(data.len()));
    out.extend_from_slice(data);
    patch.write_into(&mut out)?;
    Ok(out)
}

/// The edits to one ELF file, worked out against its bytes and ready to be
/// written into them in place ([`ElfPatch::write_into`]), so that a large file
/// is not copied: what [`apply`] does on a copy.
#[derive(Debug)]
pub struct ElfPatch {
    old_len: u64,
    log: Log,
    check: Option<(ElfInfo, Intent, BTreeSet<String>)>,
}

impl ElfPatch {
    /// Works out the writes `edits` need in `data`, checking the edits.
    pub fn new(data: &[u8], edits: &ElfEdits) -> Result<ElfPatch, PatchError> {
        Self::new_partial(data, None, edits)?.ok_or_else(|| unsupported("the file was not read whole"))
    }

    /// [`ElfPatch::new`] for a file of which only the ranges `read` (sorted,
    /// not overlapping) hold its bytes (all of it when `None`); `data` has
    /// the file's full length. `Ok(None)` when the work needed anything else:
    /// the file must then be read whole. A patch worked out this way is
    /// exactly the one worked out on the whole file, since no byte outside
    /// `read` was looked at.
    pub fn new_partial(
        data: &[u8],
        read: Option<&[(u64, u64)]>,
        edits: &ElfEdits,
    ) -> Result<Option<ElfPatch>, PatchError> {
        let missing = std::cell::Cell::new(false);
        let partial = read.map(|read| Partial { read, missing: &missing });
        let result = Self::work_out(data, partial, edits);
        Ok(if missing.get() { None } else { Some(result?) })
    }

    fn work_out(data: &[u8], partial: Option<Partial<'_>>, edits: &ElfEdits) -> Result<ElfPatch, PatchError> {
        let old_len = data.len() as u64;
        let f = ElfFile::parse_with(data, partial)?;
        if f.e_machine == EM_MIPS {
            return Err(unsupported("MIPS files are not rewritten (MIPS-specific dynamic tags)"));
        }
        let dynamic = f.dynamic()?.ok_or_else(|| unsupported("no PT_DYNAMIC (static executable or object file)"))?;
        let before = match partial {
            None => parse(data)?,
            Some(p) => match parse_partial(data, p.read) {
                Some(info) => info?,
                None => {
                    p.missing.set(true);
                    return Err(unsupported("the file was not read whole"));
                }
            },
        };
        let intent = check_edits(&before, edits)?;
        let mut log = Log::new(old_len);
        if edits.is_empty() {
            return Ok(ElfPatch { old_len, log, check: None });
        }
        plan_writes(&f, &dynamic, edits, &mut log)?;
        let violations = violations_of(&f, old_len);
        Ok(ElfPatch { old_len, log, check: Some((before, intent, violations)) })
    }

    /// The length of the file once written.
    pub fn new_len(&self) -> u64 {
        self.log.len()
    }

    /// The byte ranges `[start, end)` the patch writes to, in the order it
    /// writes them; bytes past the old length are new as well.
    pub fn written(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.log.written()
    }

    /// Writes the patch into `buf`, which must hold the bytes it was worked
    /// out against, then re-parses the result and checks that the edits took
    /// effect and the PT_LOAD rules hold. On an error `buf` may be half
    /// written: its bytes are not to be used.
    pub fn write_into(self, buf: &mut Vec<u8>) -> Result<(), PatchError> {
        if buf.len() as u64 != self.old_len {
            return Err(invalid("the patch was worked out for a file of another length"));
        }
        let Some((before, intent, old_violations)) = self.check else {
            return Ok(());
        };
        self.log.write_into(buf)?;
        verify(&old_violations, buf, &before, &intent)
    }

    /// The bytes the patch leaves where it writes, as sorted, disjoint
    /// `(offset, bytes)` stretches (past the old length, bytes no stretch
    /// holds are zero).
    pub fn overlay(&self) -> Vec<(u64, Vec<u8>)> {
        self.log.overlay()
    }

    /// [`ElfPatch::write_into`] of a buffer that has the new length already
    /// and of which only the ranges `read` (sorted, not overlapping) hold the
    /// file's bytes once written: the checks parse those alone. `Ok(false)`
    /// when they needed anything else (the buffer is written, but unchecked).
    pub fn write_partial(&self, buf: &mut [u8], read: &[(u64, u64)]) -> Result<bool, PatchError> {
        if buf.len() as u64 != self.log.len() {
            return Err(invalid("the patch was worked out for a file of another length"));
        }
        let Some((before, intent, old_violations)) = &self.check else {
            return Ok(true);
        };
        self.log.write_slice(buf)?;
        verify_partial(old_violations, buf, Some(read), before, intent)
    }
}
