//! Patching a huge ELF entry of the wheel without ever holding it whole.
//!
//! A first streaming pass keeps what the patcher reads (the header tables,
//! the dynamic section, its strings, symbols and versions: the read-ahead
//! plan of the partial parse), and the patch is worked out from it as a list
//! of writes. A second streaming pass records the entry's deflate block
//! index, computes the sha256 and CRC-32 of the patched file (the input with
//! the written stretches substituted, then the appended tail), and keeps the
//! same parts again plus a margin around every written stretch and the end
//! of the file: what the splice deflates anew and the 32 KiB before it. The
//! writes are made in that partial buffer, which is parsed again and
//! checked, and the new stretches are deflated from it; the rest of the
//! stream is copied from the input by the splice as for any patched entry.
//! When a step would need a byte that was not read, the binary is patched
//! the ordinary way instead. The result is the same, byte for byte.

use std::sync::{Arc, Mutex};

use sha2::Digest;

use super::patch::{Patched, Patcher, Route, Splice};
use crate::analyze::{partial_patch_above, KeptPart, SPLICE_MIN};
use crate::binary::elf::{parse_partial, partial_wanted};
use crate::binary::BinaryInfo;
use crate::bytes::{merge_ranges, ranges_cover};
use crate::error::{Error, Result};
use crate::patch::elf::{ElfEdits, ElfPatch};
use crate::plan::PlannedBinary;
use crate::wheel::splice::{splice_new_pieces_partial, splice_reads, PagesBefore};
use crate::wheel::writer::CHUNK;

/// Kept around each written stretch in the second pass (5 MiB): more than
/// one deflate block of zlib makes (at most about 4.2 MiB), so that the
/// blocks the splice deflates anew are usually all read at once; when they
/// are not, the pass is made again for them.
const MARGIN: u64 = 5 << 20;

/// [`MARGIN`], or `WHEELFIX_PARTIAL_MARGIN` (bytes; for tests of the pass
/// made again).
fn margin() -> u64 {
    std::env::var("WHEELFIX_PARTIAL_MARGIN").ok().and_then(|v| v.parse().ok()).unwrap_or(MARGIN)
}

/// Whether entry `index`, patched with `edits` and spliced, is patched in part.
pub(super) fn wanted(patcher: &Patcher<'_>, index: usize, edits: &ElfEdits) -> bool {
    let large = |e: &crate::wheel::Entry| e.size >= partial_patch_above().max(SPLICE_MIN);
    patcher.archive.entries().get(index).is_some_and(large) && !edits.is_empty()
}

/// Hands `piece` (the input's bytes at `start`) to `hash` with the bytes of
/// `overlay` (sorted, disjoint stretches) in place of the input's.
fn feed(overlay: &[(u64, Vec<u8>)], start: u64, piece: &[u8], hash: &mut dyn FnMut(&[u8])) {
    let end = start + piece.len() as u64;
    let mut at = start;
    let first = overlay.partition_point(|(o, b)| o + b.len() as u64 <= start);
    for (o, bytes) in &overlay[first..] {
        if *o >= end {
            break;
        }
        let (a, b) = ((*o).max(start), (o + bytes.len() as u64).min(end));
        if at < a {
            hash(&piece[(at - start) as usize..(a - start) as usize]);
        }
        hash(&bytes[(a - o) as usize..(b - o) as usize]);
        at = b;
    }
    if at < end {
        hash(&piece[(at - start) as usize..]);
    }
}

impl<'a> Patcher<'a> {
    /// Patches entry `index` (binary `b`, with ELF `edits`) in part, for
    /// the splice, starting from the parts the analysis read (`first`) when
    /// it kept them. `None` when it cannot be done so: patch it whole.
    pub(super) fn patch_partial(
        &self,
        b: &PlannedBinary,
        index: usize,
        edits: &ElfEdits,
        label: &str,
        first: Option<KeptPart>,
    ) -> Result<Option<Patched<'a>>> {
        let patch_err = |source| Error::Patch { file: label.to_string(), source };
        let first = match first {
            Some(KeptPart { data, read }) => Some((data, read)),
            None => {
                let mut plan = |buf: &[u8], read: &[(u64, u64)]| partial_wanted(buf, read);
                let first = self.archive.read_partial(index, false, &mut plan).map_err(|e| self.wheel_err(e))?;
                crate::timing::mark(format_args!("read {} in part", b.name));
                first
            }
        };
        let Some((buf, read)) = first else { return Ok(None) };
        let Some(Some(info)) = parse_partial(&buf, &read).map(Result::ok) else { return Ok(None) };
        let data_dir = self.archive.filename().data_dir();
        let installed = crate::policy::link::installed_path(&b.name, &data_dir);
        let lint_before = super::lint::findings_of(&b.name, installed, &BinaryInfo::Elf(info));
        let Some(patch) = ElfPatch::new_partial(&buf, Some(&read), edits).map_err(patch_err)? else {
            return Ok(None);
        };
        let (old_len, new_len) = (buf.len() as u64, patch.new_len());
        let written: Vec<(u64, u64)> = patch.written().collect();
        let overlay = patch.overlay();
        // what the second pass keeps: what the first read, the pages written
        // with a margin around them, and the end of the file
        let margin = margin();
        let mut want = read.clone();
        want.extend(
            written
                .iter()
                .filter(|w| w.0 < old_len)
                .map(|&(s, e)| (s.saturating_sub(margin) & !4095, e.saturating_add(margin).min(old_len))),
        );
        want.push((old_len.saturating_sub(margin), old_len));
        drop(buf);
        for _ in 0..2 {
            let (mut sha, mut crc) = (sha2::Sha256::new(), crc32fast::Hasher::new());
            let mut hash = |bytes: &[u8]| {
                sha.update(bytes);
                crc.update(bytes);
            };
            let second = self
                .archive
                .read_partial_indexed(index, new_len, &want, &mut |start, piece| {
                    feed(&overlay, start, piece, &mut hash)
                })
                .map_err(|e| self.wheel_err(e))?;
            let Some((mut buf, held, blocks)) = second else { return Ok(None) };
            let tail = usize::try_from(new_len - old_len).unwrap_or(usize::MAX);
            feed(&overlay, old_len, &vec![0; tail], &mut hash);
            let digests = (<[u8; 32]>::from(sha.finalize()), crc.finalize());
            crate::timing::mark(format_args!("read {} indexed in part", b.name));
            // the splice compares the pages written with their old bytes
            let pages = |&(s, e): &(u64, u64)| (s & !4095, e.div_ceil(4096).saturating_mul(4096).min(old_len));
            if !written.iter().filter(|w| w.0 < old_len).map(pages).all(|(s, e)| ranges_cover(&held, s, e)) {
                return Ok(None);
            }
            let before = PagesBefore::capture(&buf[..old_len as usize], written.iter().copied());
            let mut holds = held.clone();
            holds.extend(written.iter().copied());
            holds.push((old_len, new_len));
            let holds = merge_ranges(holds);
            if !patch.write_partial(&mut buf, &holds).map_err(patch_err)? {
                return Ok(None);
            }
            let Some(after) = parse_partial(&buf, &holds) else { return Ok(None) };
            super::lint::check_parsed(&b.name, installed, &lint_before, after.map(|i| Some(BinaryInfo::Elf(i))))
                .map_err(patch_err)?;
            crate::timing::mark(format_args!("patched {} in part", b.name));
            let unchanged = before.compare(&buf);
            let reads = splice_reads(&unchanged, &blocks, CHUNK);
            if !reads.iter().all(|&(s, e)| ranges_cover(&holds, s, e)) {
                // read again, with what the splice needs
                want.extend(reads.iter().map(|&(s, e)| (s, e.min(old_len))));
                continue;
            }
            let pieces = splice_new_pieces_partial(&unchanged, &blocks, &buf, digests, self.level, CHUNK)
                .map_err(|e| Error::io(label, e))?;
            let splice = Splice { index, blocks, unchanged, halfway: Mutex::new(Some(pieces)) };
            return Ok(Some(Patched {
                name: b.name.clone(),
                label: label.to_string(),
                len: usize::try_from(new_len).unwrap_or(usize::MAX),
                data: Mutex::new(Some(Arc::new(Vec::new()))),
                route: Route::Splice(splice),
            }));
        }
        Ok(None)
    }
}
