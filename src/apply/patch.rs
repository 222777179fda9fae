//! Getting a planned binary's bytes (kept by the analysis, inflated from the
//! input, or read from disk and checked against the plan) and patching them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::shared::{self, SharedLibraries};
use crate::analyze::{KeptEntry, KeptPart, SPLICE_MIN};
use crate::error::{Error, Result};
use crate::plan::{BinaryEdits, PlanSource, PlannedBinary};
use crate::wheel::splice::{BlockIndex, NewPieces, PagesBefore, Unchanged};
use crate::wheel::writer::Deflated;
use crate::wheel::WheelArchive;

/// The bytes of a planned binary handed forward from analysis and planning.
#[derive(Debug)]
pub(super) enum Kept {
    /// An entry of the wheel the analysis kept.
    Entry(KeptEntry),
    /// A file on disk read for the plan.
    File(Vec<u8>),
    /// The parts of a huge ELF entry the analysis read for its parse.
    Part(KeptPart),
}

/// How a patched binary is re-compressed.
pub(super) enum Route<'s> {
    /// By splicing with the input's stream: most of its compressed bytes copied.
    Splice(Splice),
    /// Deflated anew (by chunks, or by the writer).
    Deflate {
        /// Its sha256, when computed before compression.
        sha256: Option<[u8; 32]>,
        /// What its compression shares with the other repairs of a batch.
        share: Share<'s>,
    },
}

/// A splice: the entry's index in the input, its block index, which pages
/// the patch left alone, and its first half once made (when it stopped halfway).
pub(super) struct Splice {
    pub(super) index: usize,
    pub(super) blocks: BlockIndex,
    pub(super) unchanged: Unchanged,
    pub(super) halfway: Mutex<Option<NewPieces>>,
}

/// What a bundled library's compression shares with the other repairs of a
/// batch ([`SharedLibraries`]).
pub(super) enum Share<'s> {
    /// Nothing: compressed here, for this wheel alone.
    Alone,
    /// Compressed here, and its stream handed to the others.
    Owner(Mutex<Option<shared::Claim<'s>>>),
    /// Compressed already, by another repair.
    Taken(Arc<Deflated>),
    /// Being compressed by another repair: waited for once this repair's own
    /// compression is done.
    Wait(shared::Key),
}

/// A binary patched and waiting to be compressed.
pub(super) struct Patched<'s> {
    pub(super) name: String,
    /// How errors name it.
    pub(super) label: String,
    pub(super) len: usize,
    /// The patched bytes, until the jobs that read them are done.
    pub(super) data: Mutex<Option<Arc<Vec<u8>>>>,
    /// How it is re-compressed.
    pub(super) route: Route<'s>,
}

impl<'s> Patched<'s> {
    /// The splice, for a binary re-compressed by splicing.
    pub(super) fn splice(&self) -> Option<&Splice> {
        match &self.route {
            Route::Splice(s) => Some(s),
            Route::Deflate { .. } => None,
        }
    }

    /// What its compression shares with the other repairs of a batch.
    pub(super) fn share(&self) -> Option<&Share<'s>> {
        match &self.route {
            Route::Deflate { share, .. } => Some(share),
            Route::Splice(_) => None,
        }
    }
}

/// An entry's index in the input and its block index, for the splice.
type Blocks = (usize, BlockIndex);

/// What patching needs besides the planned binary.
pub(super) struct Patcher<'a> {
    pub(super) archive: &'a WheelArchive,
    pub(super) level: u32,
    /// The sha256 the plan computed of the files on disk.
    pub(super) digests: &'a BTreeMap<PathBuf, [u8; 32]>,
    pub(super) shared: Option<&'a SharedLibraries>,
    /// Where the new stream of a huge spliced entry is spilled while it is
    /// made (the output's directory: the same disk, not memory).
    pub(super) spill_dir: &'a std::path::Path,
}

impl<'a> Patcher<'a> {
    pub(super) fn wheel_err(&self, source: crate::wheel::WheelError) -> Error {
        Error::Wheel { path: self.archive.path().to_path_buf(), source }
    }

    /// The bytes of `b` before patching, with the block index of an entry
    /// re-compressed by splicing (taken from what was kept when it can be).
    fn read(&self, b: &PlannedBinary, kept: Option<Kept>) -> Result<(Vec<u8>, Option<Blocks>)> {
        let spliceable = self.level > 0 && !b.strip;
        match (&b.source, kept) {
            (PlanSource::Entry(i), Some(Kept::Entry(KeptEntry { data, blocks }))) => {
                Ok((data, blocks.filter(|_| spliceable).map(|index| (*i, index))))
            }
            (PlanSource::Entry(i), _) => {
                let large = self.archive.entries().get(*i).is_some_and(|e| e.size >= SPLICE_MIN);
                let indexed = (spliceable && large)
                    .then(|| self.archive.read_indexed(*i))
                    .transpose()
                    .map_err(|e| self.wheel_err(e))?
                    .flatten();
                match indexed {
                    Some((data, index)) => Ok((data, Some((*i, index)))),
                    None => Ok((self.archive.read(*i).map_err(|e| self.wheel_err(e))?, None)),
                }
            }
            (PlanSource::File(_), Some(Kept::File(data))) => Ok((data, None)),
            (PlanSource::File(p), _) => match self.digests.get(p) {
                // read again: it must still be what the plan hashed for its name
                Some(planned) => {
                    let (data, now) = crate::wheel::archive::read_hashed(p).map_err(|e| Error::io(p, e))?;
                    if now != *planned {
                        let changed = std::io::Error::other("the file changed between planning and patching");
                        return Err(Error::io(p, changed));
                    }
                    Ok((data, None))
                }
                None => Ok((std::fs::read(p).map_err(|e| Error::io(p, e))?, None)),
            },
        }
    }

    /// Reads (or takes) and patches `b`.
    pub(super) fn patch(&self, b: &PlannedBinary, kept: Option<Kept>) -> Result<Patched<'a>> {
        let label = match &b.source {
            PlanSource::Entry(_) => format!("{}!{}", self.archive.path().display(), b.name),
            PlanSource::File(p) => p.display().to_string(),
        };
        // a huge ELF entry (never kept whole by the analysis) is patched
        // without holding it whole, from the parts the analysis read if kept
        let mut kept = kept;
        if let (PlanSource::Entry(i), None | Some(Kept::Part(_)), BinaryEdits::Elf(edits)) =
            (&b.source, &kept, &b.edits)
        {
            if self.level > 0 && !b.strip && super::partial::wanted(self, *i, edits) {
                let part = match kept.take() {
                    Some(Kept::Part(part)) => Some(part),
                    _ => None,
                };
                if let Some(p) = self.patch_partial(b, *i, edits, &label, part)? {
                    return Ok(p);
                }
            }
        }
        let (data, blocks) = self.read(b, kept)?;
        crate::timing::mark(format_args!("read {}", b.name));
        // the link lint of the input, to compare with the output's (PE files have none)
        let data_dir = self.archive.filename().data_dir();
        let installed = crate::policy::link::installed_path(&b.name, &data_dir);
        let linted = !matches!(b.edits, BinaryEdits::Pe(_));
        let before = if linted { super::lint::findings(&b.name, installed, &data) } else { Vec::new() };
        let (out, unchanged) = edit(b, data, blocks.is_some(), &label)?;
        crate::timing::mark(format_args!("patched {}", b.name));
        if linted {
            super::lint::check(&b.name, installed, &before, &out)
                .map_err(|source| Error::Patch { file: label.clone(), source })?;
            crate::timing::mark(format_args!("linted {}", b.name));
        }
        let len = out.len();
        let route = match blocks.zip(unchanged) {
            Some(((index, blocks), unchanged)) => {
                Route::Splice(Splice { index, blocks, unchanged, halfway: Mutex::new(None) })
            }
            None => self.deflate_route(b, &out),
        };
        Ok(Patched { name: b.name.clone(), label, len, data: Mutex::new(Some(Arc::new(out))), route })
    }

    /// A bundled library of a batch is looked up by the sha256 of its
    /// patched bytes (computed now rather than beside its chunks): another
    /// repair may have compressed it, or be at it.
    fn deflate_route(&self, b: &PlannedBinary, out: &[u8]) -> Route<'a> {
        let shared = match (self.shared, &b.source) {
            (Some(shared), PlanSource::File(_)) => shared,
            _ => return Route::Deflate { sha256: None, share: Share::Alone },
        };
        if crate::wheel::writer::early_chunks(out.len(), self.level).is_none() {
            return Route::Deflate { sha256: None, share: Share::Alone };
        }
        let sha256 = <sha2::Sha256 as sha2::Digest>::digest(out).into();
        let key = shared::Key { sha256, len: out.len(), level: self.level };
        let share = match shared.find(key) {
            shared::Found::Claimed(claim) => Share::Owner(Mutex::new(Some(claim))),
            shared::Found::Done(d) => Share::Taken(d),
            shared::Found::Busy => Share::Wait(key),
        };
        Route::Deflate { sha256: Some(sha256), share }
    }
}

/// Strips (when planned) and patches `data`; with `spliced`, also which
/// pages the patch left alone.
fn edit(b: &PlannedBinary, data: Vec<u8>, spliced: bool, label: &str) -> Result<(Vec<u8>, Option<Unchanged>)> {
    let patch_err = |source| Error::Patch { file: label.to_string(), source };
    let stripped = match (&b.edits, b.strip) {
        (BinaryEdits::Elf(_), true) => Some(crate::patch::elf::strip(&data).map_err(patch_err)?),
        (BinaryEdits::Pe(_), true) => Some(crate::patch::pe::strip(&data).map_err(patch_err)?),
        _ => None,
    };
    // Mach-O and PE files are patched on a copy, compared with the input
    // when the splice needs it.
    let on_copy = |out: std::result::Result<Vec<u8>, crate::patch::PatchError>| {
        let out = out.map_err(patch_err)?;
        let unchanged = spliced.then(|| Unchanged::compare(&data, &out));
        Ok::<_, Error>((out, unchanged))
    };
    let input = stripped.as_deref().unwrap_or(&data);
    match &b.edits {
        // An ELF file (the largest are ELF) is patched in place: the old
        // bytes of the pages it writes are kept for the splice's comparison.
        BinaryEdits::Elf(edits) => {
            let mut data = stripped.unwrap_or(data);
            let patch = (!edits.is_empty())
                .then(|| crate::patch::elf::ElfPatch::new(&data, edits))
                .transpose()
                .map_err(patch_err)?;
            let written = patch.iter().flat_map(crate::patch::elf::ElfPatch::written);
            let before = spliced.then(|| PagesBefore::capture(&data, written));
            if let Some(patch) = patch {
                patch.write_into(&mut data).map_err(patch_err)?;
            }
            let unchanged = before.map(|b| b.compare(&data));
            Ok((data, unchanged))
        }
        BinaryEdits::MachO(edits) => on_copy(crate::patch::macho::apply(input, edits)),
        BinaryEdits::Pe(edits) => on_copy(crate::patch::pe::apply(input, edits)),
    }
}
