//! A one-entry zip archive around bytes compressed elsewhere, so that the
//! zip writer can raw-copy them: it has no public way to add them.

use zip::DateTime;

use crate::wheel::deflate::{Deflated, StreamBytes};
use crate::wheel::WheelArchive;

/// A one-entry zip archive holding `deflated` under `name` (deflate method,
/// Unix mode `mode`, time `time`), for [`ZipWriter::raw_copy_file`]: the zip
/// crate has no public way to add bytes compressed elsewhere. The compressed
/// bytes are not copied: the archive reads them where they are.
pub(super) fn single_entry_zip<'a>(
    name: &str,
    deflated: &'a Deflated,
    size: usize,
    mode: u32,
    time: DateTime,
) -> Option<OneEntryZip<'a>> {
    let mut one = single_entry_zip_raw(name, 8, &deflated.data, deflated.crc32, size as u64, mode, time)?;
    if let StreamBytes::Spilled(_) = deflated.data {
        one.spilled = Some(&deflated.data);
    }
    Some(one)
}

/// [`single_entry_zip`] for bytes compressed with `method` (0 stored, 8
/// deflate). An entry of 4 GiB or more (either size) gets one zip64 extra
/// field with both sizes in each header, and zip64 end records; such an
/// archive is appended with [`ZipWriter::merge_archive`], which keeps its
/// one field, never with a raw copy, which would add a second. `None` when
/// the name is too long.
pub(super) fn single_entry_zip_raw<'a>(
    name: &str,
    method: u16,
    data: &'a [u8],
    crc32: u32,
    size: u64,
    mode: u32,
    time: DateTime,
) -> Option<OneEntryZip<'a>> {
    let csize = data.len() as u64;
    let zip64 = csize >= u64::from(u32::MAX) || size >= u64::from(u32::MAX);
    let name_len = u16::try_from(name.len()).ok()?;
    // sizes in the headers: the sentinel when the zip64 field holds them
    let field = |v: u64| if zip64 { u32::MAX } else { v as u32 };
    let mut extra = Vec::new();
    if zip64 {
        extra.extend_from_slice(&1u16.to_le_bytes());
        extra.extend_from_slice(&16u16.to_le_bytes());
        extra.extend_from_slice(&size.to_le_bytes());
        extra.extend_from_slice(&csize.to_le_bytes());
    }
    let version: u16 = if zip64 { 45 } else { 20 };
    // general purpose flags: bit 11 (UTF-8 name) when the name is not ASCII
    let flags: u16 = if name.is_ascii() { 0 } else { 1 << 11 };
    let common = |z: &mut Vec<u8>| {
        z.extend_from_slice(&flags.to_le_bytes());
        z.extend_from_slice(&method.to_le_bytes());
        z.extend_from_slice(&time.timepart().to_le_bytes());
        z.extend_from_slice(&time.datepart().to_le_bytes());
        z.extend_from_slice(&crc32.to_le_bytes());
        z.extend_from_slice(&field(csize).to_le_bytes());
        z.extend_from_slice(&field(size).to_le_bytes());
        z.extend_from_slice(&name_len.to_le_bytes());
        z.extend_from_slice(&(extra.len() as u16).to_le_bytes());
    };
    let mut head = Vec::with_capacity(name.len() + extra.len() + 30);
    head.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    head.extend_from_slice(&version.to_le_bytes()); // version needed: 2.0, or 4.5 for zip64
    common(&mut head);
    head.extend_from_slice(name.as_bytes());
    head.extend_from_slice(&extra);
    let cd_start = head.len() as u64 + csize;
    let mut z = Vec::with_capacity(name.len() + extra.len() + 46 + 98);
    z.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    z.extend_from_slice(&((3u16 << 8) | version).to_le_bytes()); // made by: Unix
    z.extend_from_slice(&version.to_le_bytes());
    common(&mut z);
    z.extend_from_slice(&0u16.to_le_bytes()); // comment length
    z.extend_from_slice(&0u16.to_le_bytes()); // disk number
    z.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
    z.extend_from_slice(&((0o100_000 | (mode & 0o7777)) << 16).to_le_bytes());
    z.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    z.extend_from_slice(name.as_bytes());
    z.extend_from_slice(&extra);
    let cd_len = z.len() as u64;
    if zip64 {
        let end64_at = cd_start + cd_len;
        z.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
        z.extend_from_slice(&44u64.to_le_bytes()); // size of what follows
        z.extend_from_slice(&((3u16 << 8) | 45).to_le_bytes());
        z.extend_from_slice(&45u16.to_le_bytes());
        z.extend_from_slice(&[0; 8]); // disk numbers
        z.extend_from_slice(&1u64.to_le_bytes());
        z.extend_from_slice(&1u64.to_le_bytes());
        z.extend_from_slice(&cd_len.to_le_bytes());
        z.extend_from_slice(&cd_start.to_le_bytes());
        z.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
        z.extend_from_slice(&0u32.to_le_bytes()); // disk of the zip64 end record
        z.extend_from_slice(&end64_at.to_le_bytes());
        z.extend_from_slice(&1u32.to_le_bytes()); // disks
    }
    z.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    z.extend_from_slice(&[0, 0, 0, 0]); // disk numbers
    z.extend_from_slice(&1u16.to_le_bytes());
    z.extend_from_slice(&1u16.to_le_bytes());
    z.extend_from_slice(&u32::try_from(cd_len).ok()?.to_le_bytes());
    z.extend_from_slice(&u32::try_from(cd_start).unwrap_or(u32::MAX).to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes()); // comment length
    Some(OneEntryZip { head, data, tail: z, pos: 0, zip64, input: None, spilled: None, released: 0 })
}

/// A spilled stream's pages are released every this many bytes read (8 MiB).
const SPILL_RELEASE: usize = 8 << 20;

/// The bytes of a one-entry zip: its local header, the compressed data
/// (borrowed) and its central directory, read as one stream.
pub(super) struct OneEntryZip<'a> {
    head: Vec<u8>,
    data: &'a [u8],
    tail: Vec<u8>,
    pos: u64,
    /// The entry needs zip64 (see [`single_entry_zip_raw`]).
    pub(super) zip64: bool,
    /// The wheel `data` is mapped from, whose pages are released as `data`
    /// is read (a multi-GiB entry stays out of the resident set).
    input: Option<&'a WheelArchive>,
    /// The spill file `data` is mapped from, whose pages are released the
    /// same way.
    spilled: Option<&'a StreamBytes>,
    /// How much of `data` was released.
    released: usize,
}

impl<'a> OneEntryZip<'a> {
    fn len(&self) -> u64 {
        (self.head.len() + self.data.len() + self.tail.len()) as u64
    }

    /// Releases the pages of `data` (mapped from `input`) once read.
    pub(super) fn releasing(mut self, input: &'a WheelArchive) -> Self {
        self.input = Some(input);
        self
    }
}

impl std::io::Read for OneEntryZip<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut at = self.pos;
        for (k, part) in [&self.head[..], self.data, &self.tail[..]].into_iter().enumerate() {
            let len = part.len() as u64;
            if at < len {
                let from = &part[at as usize..];
                let n = from.len().min(buf.len());
                buf[..n].copy_from_slice(&from[..n]);
                self.pos += n as u64;
                if let (1, Some(input)) = (k, self.input) {
                    // the zip reader looks at the end first, then copies from
                    // the start: a read behind the mark starts a new stretch
                    self.released = self.released.min(at as usize);
                    input.release_consumed(self.data, &mut self.released, at as usize + n);
                }
                if let (1, Some(spilled)) = (k, self.spilled) {
                    self.released = self.released.min(at as usize);
                    if at as usize + n >= self.released + SPILL_RELEASE {
                        spilled.release(self.released, at as usize + n);
                        self.released = at as usize + n;
                    }
                }
                return Ok(n);
            }
            at -= len;
        }
        Ok(0)
    }
}

impl std::io::Seek for OneEntryZip<'_> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            std::io::SeekFrom::Start(n) => Some(n),
            std::io::SeekFrom::End(d) => self.len().checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let Some(target) = target else {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start"));
        };
        self.pos = target;
        Ok(target)
    }
}
