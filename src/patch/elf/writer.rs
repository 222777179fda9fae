//! The writes of a rewrite, worked out first and made later in one go, in
//! the file's class and byte order.

use super::{unsupported, PatchError};
use crate::binary::elf::{Phdr, Shdr, DT_NULL};

/// Endian- and class-aware writer into a [`Log`] of writes, made later in
/// one go ([`Log::write_into`]).
pub(crate) struct Writer<'b> {
    log: &'b mut Log,
    pub(crate) is64: bool,
    pub(crate) big: bool,
}

/// Writes worked out against a file, made later in one go: the new length
/// and, in order, each write's offset and bytes.
#[derive(Debug)]
pub(crate) struct Log {
    len: u64,
    writes: Vec<(u64, Vec<u8>)>,
}

impl Log {
    /// An empty log for a file of `len` bytes.
    pub(crate) fn new(len: u64) -> Self {
        Log { len, writes: Vec::new() }
    }

    /// The length of the file once written.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The byte ranges `[start, end)` written to, in order.
    pub(crate) fn written(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.writes.iter().map(|(off, b)| (*off, off + b.len() as u64))
    }

    /// Grows `buf` to the new length and makes the writes.
    pub(crate) fn write_into(&self, buf: &mut Vec<u8>) -> Result<(), PatchError> {
        let new_len = usize::try_from(self.len).map_err(|_| unsupported("file too large"))?;
        buf.resize(new_len.max(buf.len()), 0);
        self.write_slice(buf)
    }

    /// Makes the writes into `buf`, which has the new length already.
    pub(crate) fn write_slice(&self, buf: &mut [u8]) -> Result<(), PatchError> {
        if buf.len() as u64 != self.len {
            return Err(unsupported("the buffer does not have the new length"));
        }
        for (off, bytes) in &self.writes {
            let s = *off as usize; // within the length, checked when logged
            buf[s..s + bytes.len()].copy_from_slice(bytes);
        }
        Ok(())
    }

    /// The bytes the writes leave, as sorted, disjoint `(offset, bytes)`
    /// stretches: every byte of a stretch is written by some write, the
    /// last one to write it deciding its value.
    pub(crate) fn overlay(&self) -> Vec<(u64, Vec<u8>)> {
        let merged = crate::bytes::merge_ranges(self.written().collect());
        let mut out: Vec<(u64, Vec<u8>)> = merged.iter().map(|&(a, b)| (a, vec![0; (b - a) as usize])).collect();
        for (off, bytes) in self.writes.iter().filter(|(_, b)| !b.is_empty()) {
            let k = merged.partition_point(|&(a, _)| a <= *off) - 1;
            let (start, buf) = &mut out[k];
            let s = (off - *start) as usize;
            buf[s..s + bytes.len()].copy_from_slice(bytes);
        }
        out
    }
}

impl<'b> Writer<'b> {
    /// A writer into `log`.
    pub(crate) fn new(log: &'b mut Log, is64: bool, big: bool) -> Self {
        Writer { log, is64, big }
    }

    /// The length of the file being written.
    pub(crate) fn len(&self) -> u64 {
        self.log.len
    }

    /// Grows the file to `len` bytes, the new ones zero.
    pub(crate) fn grow_to(&mut self, len: u64) -> Result<(), PatchError> {
        usize::try_from(len).map_err(|_| unsupported("file too large"))?;
        self.log.len = self.log.len.max(len);
        Ok(())
    }

    pub(crate) fn put(&mut self, off: u64, bytes: &[u8]) -> Result<(), PatchError> {
        let end = off.checked_add(bytes.len() as u64).ok_or_else(|| unsupported("offset too large"))?;
        if end > self.log.len {
            return Err(unsupported(format!("write at {off:#x} is past the end")));
        }
        self.log.writes.push((off, bytes.to_vec()));
        Ok(())
    }

    pub(crate) fn u16(&mut self, off: u64, v: u16) -> Result<(), PatchError> {
        let b = if self.big { v.to_be_bytes() } else { v.to_le_bytes() };
        self.put(off, &b)
    }

    pub(crate) fn u32(&mut self, off: u64, v: u32) -> Result<(), PatchError> {
        let b = if self.big { v.to_be_bytes() } else { v.to_le_bytes() };
        self.put(off, &b)
    }

    pub(crate) fn u64(&mut self, off: u64, v: u64) -> Result<(), PatchError> {
        let b = if self.big { v.to_be_bytes() } else { v.to_le_bytes() };
        self.put(off, &b)
    }

    /// Writes an address-sized word; fails when a 32-bit file gets a value
    /// that does not fit.
    pub(crate) fn word(&mut self, off: u64, v: u64) -> Result<(), PatchError> {
        if self.is64 {
            self.u64(off, v)
        } else {
            let v = u32::try_from(v).map_err(|_| unsupported(format!("value {v:#x} does not fit a 32-bit ELF")))?;
            self.u32(off, v)
        }
    }

    pub(crate) fn phdr(&mut self, off: u64, p: &Phdr) -> Result<(), PatchError> {
        if self.is64 {
            self.u32(off, p.p_type)?;
            self.u32(off + 4, p.p_flags)?;
            self.u64(off + 8, p.p_offset)?;
            self.u64(off + 16, p.p_vaddr)?;
            self.u64(off + 24, p.p_paddr)?;
            self.u64(off + 32, p.p_filesz)?;
            self.u64(off + 40, p.p_memsz)?;
            self.u64(off + 48, p.p_align)
        } else {
            self.u32(off, p.p_type)?;
            self.word(off + 4, p.p_offset)?;
            self.word(off + 8, p.p_vaddr)?;
            self.word(off + 12, p.p_paddr)?;
            self.word(off + 16, p.p_filesz)?;
            self.word(off + 20, p.p_memsz)?;
            self.u32(off + 24, p.p_flags)?;
            self.word(off + 28, p.p_align)
        }
    }

    pub(crate) fn shdr(&mut self, off: u64, s: &Shdr) -> Result<(), PatchError> {
        self.u32(off, s.sh_name)?;
        self.u32(off + 4, s.sh_type)?;
        if self.is64 {
            self.u64(off + 8, s.sh_flags)?;
            self.u64(off + 16, s.sh_addr)?;
            self.u64(off + 24, s.sh_offset)?;
            self.u64(off + 32, s.sh_size)?;
            self.u32(off + 40, s.sh_link)?;
            self.u32(off + 44, s.sh_info)?;
            self.u64(off + 48, s.sh_addralign)?;
            self.u64(off + 56, s.sh_entsize)
        } else {
            self.word(off + 8, s.sh_flags)?;
            self.word(off + 12, s.sh_addr)?;
            self.word(off + 16, s.sh_offset)?;
            self.word(off + 20, s.sh_size)?;
            self.u32(off + 24, s.sh_link)?;
            self.u32(off + 28, s.sh_info)?;
            self.word(off + 32, s.sh_addralign)?;
            self.word(off + 36, s.sh_entsize)
        }
    }

    /// Rewrites `sh_addr`, `sh_offset` and `sh_size` of the section header at `off`.
    pub(crate) fn shdr_place(&mut self, off: u64, addr: u64, offset: u64, size: u64) -> Result<(), PatchError> {
        if self.is64 {
            self.u64(off + 16, addr)?;
            self.u64(off + 24, offset)?;
            self.u64(off + 32, size)
        } else {
            self.word(off + 12, addr)?;
            self.word(off + 16, offset)?;
            self.word(off + 20, size)
        }
    }

    pub(crate) fn dyn_entry(&mut self, off: u64, tag: i64, val: u64) -> Result<(), PatchError> {
        if self.is64 {
            self.u64(off, tag as u64)?;
            self.u64(off + 8, val)
        } else {
            let t = i32::try_from(tag).map_err(|_| unsupported(format!("dynamic tag {tag:#x} in a 32-bit ELF")))?;
            self.u32(off, t as u32)?;
            self.word(off + 4, val)
        }
    }

    /// Writes the dynamic entries `entries` at `off`, then DT_NULL up to
    /// `slots` entries.
    pub(crate) fn dynamic(&mut self, off: u64, entries: &[(i64, u64)], slots: u64) -> Result<(), PatchError> {
        let size = if self.is64 { 16 } else { 8 };
        for (i, &(tag, val)) in entries.iter().enumerate() {
            self.dyn_entry(off + i as u64 * size, tag, val)?;
        }
        for i in entries.len() as u64..slots {
            self.dyn_entry(off + i * size, DT_NULL, 0)?;
        }
        Ok(())
    }

    pub(crate) fn set_phnum(&mut self, phoff: u64, phnum: u16) -> Result<(), PatchError> {
        if self.is64 {
            self.u64(32, phoff)?;
            self.u16(56, phnum)
        } else {
            self.word(28, phoff)?;
            self.u16(44, phnum)
        }
    }
}
