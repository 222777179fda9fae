//! Inflating entries: a step at a time into a buffer of the declared size,
//! the CRC-32 (and the sha256 when asked) updated while each step is in
//! cache, the raw bytes read released as they go; the first bytes only
//! (sniffing); and with the deflate block index (for the splice).

use std::io::Read;

use super::hash::{sha256_alongside, sha256_relayed, HASH_ALONGSIDE_MIN};
use super::{Compression, Entry, WheelArchive};
use crate::wheel::deflate::{inflate_indexed_into, BlockIndex};
use crate::wheel::WheelError;

/// What [`WheelArchive::inflate_into`] returns: the bytes kept, the size, the sha256.
pub(super) type Inflated = (Vec<u8>, u64, Option<[u8; 32]>);

/// An entry inflated with its block index: bytes, index, sha256 (when asked).
pub(super) type IndexedEntry = (Vec<u8>, BlockIndex, Option<[u8; 32]>);

/// Bytes inflated (and hashed) per step: fits in L2.
const STEP: usize = 256 << 10;

/// Why a read whose caller asked it to stop ended early.
pub(super) const STOPPED: &str = "the read was stopped before its end";

/// Inflates from `d` (reading `raw` from where it stopped) until `step` is
/// full or the stream ends. Returns the bytes made and whether the stream
/// ended; an error for corrupt data or a stream that stops short.
fn inflate_step(d: &mut flate2::Decompress, raw: &[u8], step: &mut [u8]) -> Result<(usize, bool), String> {
    let mut filled = 0usize;
    while filled < step.len() {
        let (in0, out0) = (d.total_in(), d.total_out());
        let input = raw.get(usize::try_from(in0).unwrap_or(usize::MAX)..).unwrap_or_default();
        let status = d
            .decompress(input, &mut step[filled..], flate2::FlushDecompress::None)
            .map_err(|e| format!("corrupt deflate data: {e}"))?;
        filled += usize::try_from(d.total_out() - out0).unwrap_or(0);
        if status == flate2::Status::StreamEnd {
            return Ok((filled, true));
        }
        if d.total_out() == out0 && d.total_in() == in0 {
            return Err("corrupt deflate data: the stream ends early".to_string());
        }
    }
    Ok((filled, false))
}

/// Once `pos` bytes (all that were declared) are inflated: the stream must
/// end there, with not one byte more.
fn stream_ends(d: &mut flate2::Decompress, raw: &[u8], pos: usize, ended: bool, declared: u64) -> Result<(), String> {
    let mut ended = ended;
    while !ended {
        let in0 = d.total_in();
        let input = raw.get(usize::try_from(in0).unwrap_or(usize::MAX)..).unwrap_or_default();
        let mut one = [0u8; 1];
        let status = d
            .decompress(input, &mut one, flate2::FlushDecompress::None)
            .map_err(|e| format!("corrupt deflate data: {e}"))?;
        if d.total_out() > pos as u64 {
            return Err(format!("inflates to more than the {declared} bytes the central directory declares"));
        }
        ended = status == flate2::Status::StreamEnd;
        if !ended && d.total_in() == in0 {
            return Err("corrupt deflate data: the stream ends early".to_string());
        }
    }
    Ok(())
}

/// The size and CRC-32 an entry inflated to, against its central directory.
fn check_size_and_crc(entry: &Entry, got: u64, crc: u32) -> Result<(), String> {
    if got > entry.size {
        return Err(format!("inflates to more than the {} bytes the central directory declares", entry.size));
    }
    if got < entry.size {
        return Err(format!("inflates to {got} bytes, the central directory declares {}", entry.size));
    }
    if crc != entry.crc32 {
        return Err(format!("CRC-32 is {crc:08x}, the central directory declares {:08x}", entry.crc32));
    }
    Ok(())
}

impl WheelArchive {
    /// Inflates entry `index`. Safe to call from several threads at once.
    ///
    /// Never inflates more than the declared size; the result must have
    /// exactly that size and the declared CRC-32.
    pub fn read(&self, index: usize) -> Result<Vec<u8>, WheelError> {
        self.inflate(index, false).map(|(out, _)| out)
    }

    /// The first `n` bytes of entry `index` (fewer if the entry is shorter),
    /// inflating only what is needed. For sniffing magic numbers; the CRC is
    /// not checked.
    pub fn read_prefix(&self, index: usize, n: usize) -> Result<Vec<u8>, WheelError> {
        let (entry, loc) = self.located(index)?;
        let raw = self.raw_data(index)?;
        let want = (n as u64).min(entry.size);
        match loc.compression {
            Compression::Stored => Ok(raw.get(..usize::try_from(want).unwrap_or(0)).unwrap_or(raw).to_vec()),
            Compression::Deflated => {
                let mut out = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
                flate2::read::DeflateDecoder::new(raw).take(want).read_to_end(&mut out).map_err(|e| {
                    WheelError::Zip(format!("entry `{}`: corrupt deflate data: {e}", entry.name.escape_debug()))
                })?;
                Ok(out)
            }
        }
    }

    /// Inflates entry `index` a step at a time, updating the CRC-32 (and the
    /// sha256 when `sha256`) of each step right after it is produced.
    pub(super) fn inflate(&self, index: usize, sha256: bool) -> Result<(Vec<u8>, Option<[u8; 32]>), WheelError> {
        self.inflate_into(index, sha256, true, &mut |_, _| true).map(|(out, _, digest)| (out, digest))
    }

    /// The body of [`WheelArchive::inflate`]. With `keep` false the bytes are
    /// hashed and counted but not kept: memory stays at one step whatever the
    /// entry's size, and `seen` gets each step (its offset and bytes) once it
    /// is hashed; when it answers `false` the read stops there with an error
    /// ([`STOPPED`]). Returns (bytes kept, size, sha256).
    pub(super) fn inflate_into(
        &self,
        index: usize,
        sha256: bool,
        keep: bool,
        seen: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> Result<Inflated, WheelError> {
        use sha2::Digest;
        let (entry, loc) = self.located(index)?;
        let raw = self.raw_data(index)?;
        let zerr = |what: String| WheelError::Zip(format!("entry `{}`: {what}", entry.name.escape_debug()));
        let mut crc = crc32fast::Hasher::new();
        let mut sha = sha256.then(sha2::Sha256::new);
        let mut hash = |bytes: &[u8]| {
            crc.update(bytes);
            if let Some(s) = sha.as_mut() {
                s.update(bytes);
            }
        };
        let total: u64;
        let mut digest = None;
        let out = match loc.compression {
            Compression::Stored => {
                let mut released = 0usize;
                for (k, c) in raw.chunks(STEP).enumerate() {
                    hash(c);
                    if !keep {
                        if !seen((k * STEP) as u64, c) {
                            return Err(zerr(STOPPED.into()));
                        }
                        self.release_consumed(raw, &mut released, ((k + 1) * STEP).min(raw.len()));
                    }
                }
                total = raw.len() as u64;
                if keep {
                    raw.to_vec()
                } else {
                    Vec::new()
                }
            }
            Compression::Deflated => {
                // Deflate cannot expand more than 1032:1, so a declared size
                // beyond that is a lie that must not drive the allocation.
                let bound = (raw.len() as u64).saturating_mul(1032).saturating_add(1024);
                let cap = usize::try_from(entry.size.min(bound))
                    .map_err(|_| zerr(format!("declares {} bytes, more than this machine can address", entry.size)))?;
                let mut d = flate2::Decompress::new(false);
                let (out, pos, ended) = if keep {
                    // zeroed memory of this size comes from fresh pages: no
                    // extra pass; each step is hashed once it is full
                    let mut out = vec![0u8; cap];
                    let (made, sha) = sha256_alongside(sha256, cap >= HASH_ALONGSIDE_MIN, |sink| {
                        let mut pos = 0usize;
                        // the input consumed is released as it goes: only the output stays
                        let mut released = 0usize;
                        for step in out.chunks_mut(STEP) {
                            let (filled, ended) = inflate_step(&mut d, raw, step).map_err(zerr)?;
                            let consumed = usize::try_from(d.total_in()).unwrap_or(0).min(raw.len());
                            self.release_consumed(raw, &mut released, consumed);
                            // a step comes back short only at the end of the stream
                            let step: &[u8] = step;
                            crc.update(&step[..filled]);
                            sink(&step[..filled]);
                            pos += filled;
                            if ended {
                                return Ok((pos, true));
                            }
                        }
                        Ok((pos, false))
                    });
                    let (pos, ended) = made?;
                    digest = sha;
                    out.truncate(pos);
                    (out, pos, ended)
                } else if sha256 && cap >= HASH_ALONGSIDE_MIN {
                    // not kept, and large: hashed on a thread of its own
                    let (pos, ended, sha_) = self.inflate_relayed(&mut d, raw, cap, &mut crc, seen).map_err(zerr)?;
                    (sha, digest) = (None, Some(sha_));
                    (Vec::new(), pos, ended)
                } else {
                    // the bytes are not kept: one step is reused
                    let mut step = vec![0u8; cap.min(STEP)];
                    let mut pos = 0usize;
                    let mut ended = false;
                    let mut released = 0usize;
                    while pos < cap && !ended {
                        let want = (cap - pos).min(STEP);
                        let (filled, end) = inflate_step(&mut d, raw, &mut step[..want]).map_err(zerr)?;
                        hash(&step[..filled]);
                        if !seen(pos as u64, &step[..filled]) {
                            return Err(zerr(STOPPED.into()));
                        }
                        pos += filled;
                        ended = end;
                        let consumed = usize::try_from(d.total_in()).unwrap_or(0).min(raw.len());
                        self.release_consumed(raw, &mut released, consumed);
                    }
                    (Vec::new(), pos, ended)
                };
                total = pos as u64;
                stream_ends(&mut d, raw, pos, ended, entry.size).map_err(zerr)?;
                out
            }
        };
        check_size_and_crc(entry, total, crc.finalize()).map_err(zerr)?;
        self.release(index);
        Ok((out, total, digest.or_else(|| sha.map(|s| s.finalize().into()))))
    }

    /// The streaming inflate of a large entry whose bytes are not kept, in
    /// `STEP`-byte steps: each step's CRC-32 is taken and `seen` gets it
    /// here, while its sha256 is computed on a thread of its own as the next
    /// steps inflate ([`sha256_relayed`]). Returns the bytes made, whether
    /// the stream ended, and the sha256.
    fn inflate_relayed(
        &self,
        d: &mut flate2::Decompress,
        raw: &[u8],
        cap: usize,
        crc: &mut crc32fast::Hasher,
        seen: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> Result<(usize, bool, [u8; 32]), String> {
        let (made, sha) = sha256_relayed(cap.min(STEP), |relay| -> Result<(usize, bool), String> {
            let (mut pos, mut ended, mut released) = (0usize, false, 0usize);
            while pos < cap && !ended {
                let want = (cap - pos).min(STEP);
                let step = &mut relay.buffer()[..want];
                let (filled, end) = inflate_step(d, raw, step)?;
                crc.update(&step[..filled]);
                if !seen(pos as u64, &step[..filled]) {
                    return Err(STOPPED.into());
                }
                relay.hand_on(filled);
                pos += filled;
                ended = end;
                let consumed = usize::try_from(d.total_in()).unwrap_or(0).min(raw.len());
                self.release_consumed(raw, &mut released, consumed);
            }
            Ok((pos, ended))
        });
        let (pos, ended) = made?;
        Ok((pos, ended, sha))
    }

    /// Inflates entry `index` like [`WheelArchive::read`] and records where
    /// its deflate blocks start, so that a patched version can be
    /// re-compressed by copying the blocks the patch left alone (the
    /// splice). `None` for stored entries, entries
    /// of 4 GiB or more, and declared sizes the data cannot hold: the caller
    /// reads those the ordinary way.
    pub fn read_indexed(&self, index: usize) -> Result<Option<(Vec<u8>, BlockIndex)>, WheelError> {
        Ok(self.inflate_indexed(index, false)?.map(|(out, blocks, _)| (out, blocks)))
    }

    /// The body of the indexed reads: inflates a deflated entry recording its
    /// block starts, checks the CRC-32, and computes the sha256 in the same
    /// pass when asked. `None` when the entry cannot be read this way.
    pub(super) fn inflate_indexed(&self, index: usize, sha256: bool) -> Result<Option<IndexedEntry>, WheelError> {
        let (entry, loc) = self.located(index)?;
        if loc.compression != Compression::Deflated {
            return Ok(None);
        }
        let raw = self.raw_data(index)?;
        // deflate cannot expand more than 1032:1
        let bound = (raw.len() as u64).saturating_mul(1032).saturating_add(1024);
        let Some(size) = usize::try_from(entry.size).ok().filter(|_| entry.size <= bound) else {
            return Ok(None);
        };
        let zerr = |what: String| WheelError::Zip(format!("entry `{}`: {what}", entry.name.escape_debug()));
        let mut crc = crc32fast::Hasher::new();
        let mut out = vec![0u8; size];
        let (blocks, digest) = sha256_alongside(sha256, size >= HASH_ALONGSIDE_MIN, |sink| {
            // the input consumed is released as it goes: only the output stays
            let mut released = 0usize;
            inflate_indexed_into(raw, &mut out, |piece, consumed| {
                crc.update(piece);
                sink(piece);
                self.release_consumed(raw, &mut released, consumed);
            })
        });
        let Some(blocks) = blocks.map_err(zerr)? else {
            return Ok(None);
        };
        let crc = crc.finalize();
        if crc != entry.crc32 {
            return Err(zerr(format!("CRC-32 is {crc:08x}, the central directory declares {:08x}", entry.crc32)));
        }
        self.release(index);
        Ok(Some((out, blocks, digest)))
    }
}
