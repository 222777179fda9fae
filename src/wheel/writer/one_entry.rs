//! A one-entry zip archive around bytes compressed elsewhere, so that the
//! zip writer can raw-copy them: it has no public way to add them.

use zip::DateTime;

use crate::wheel::deflate::Deflated;

/// A one-entry zip archive holding `deflated` under `name` (deflate method,
/// Unix mode `mode`, time `time`), for [`ZipWriter::raw_copy_file`]: the zip
/// crate has no public way to add bytes compressed elsewhere. The compressed
/// bytes are not copied: the archive reads them where they are. `None` when
/// the entry would need zip64.
pub(super) fn single_entry_zip<'a>(
    name: &str,
    deflated: &'a Deflated,
    size: usize,
    mode: u32,
    time: DateTime,
) -> Option<OneEntryZip<'a>> {
    single_entry_zip_raw(name, 8, &deflated.data, deflated.crc32, size as u64, mode, time)
}

/// [`single_entry_zip`] for bytes compressed with `method` (0 stored, 8 deflate).
pub(super) fn single_entry_zip_raw<'a>(
    name: &str,
    method: u16,
    data: &'a [u8],
    crc32: u32,
    size: u64,
    mode: u32,
    time: DateTime,
) -> Option<OneEntryZip<'a>> {
    let csize = u32::try_from(data.len()).ok().filter(|&c| c < u32::MAX)?;
    let usize32 = u32::try_from(size).ok().filter(|&c| c < u32::MAX)?;
    let name_len = u16::try_from(name.len()).ok()?;
    // general purpose flags: bit 11 (UTF-8 name) when the name is not ASCII
    let flags: u16 = if name.is_ascii() { 0 } else { 1 << 11 };
    let common = |z: &mut Vec<u8>| {
        z.extend_from_slice(&flags.to_le_bytes());
        z.extend_from_slice(&method.to_le_bytes());
        z.extend_from_slice(&time.timepart().to_le_bytes());
        z.extend_from_slice(&time.datepart().to_le_bytes());
        z.extend_from_slice(&crc32.to_le_bytes());
        z.extend_from_slice(&csize.to_le_bytes());
        z.extend_from_slice(&usize32.to_le_bytes());
        z.extend_from_slice(&name_len.to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes()); // extra field length
    };
    let mut head = Vec::with_capacity(name.len() + 30);
    head.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    head.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0
    common(&mut head);
    head.extend_from_slice(name.as_bytes());
    let cd_start = u32::try_from(head.len() + data.len()).ok()?;
    let mut z = Vec::with_capacity(name.len() + 68);
    z.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    z.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes()); // made by: Unix, 2.0
    z.extend_from_slice(&20u16.to_le_bytes());
    common(&mut z);
    z.extend_from_slice(&0u16.to_le_bytes()); // comment length
    z.extend_from_slice(&0u16.to_le_bytes()); // disk number
    z.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
    z.extend_from_slice(&((0o100_000 | (mode & 0o7777)) << 16).to_le_bytes());
    z.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    z.extend_from_slice(name.as_bytes());
    let cd_len = u32::try_from(z.len()).ok()?;
    z.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    z.extend_from_slice(&[0, 0, 0, 0]); // disk numbers
    z.extend_from_slice(&1u16.to_le_bytes());
    z.extend_from_slice(&1u16.to_le_bytes());
    z.extend_from_slice(&cd_len.to_le_bytes());
    z.extend_from_slice(&cd_start.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes()); // comment length
    Some(OneEntryZip { head, data, tail: z, pos: 0 })
}

/// The bytes of a one-entry zip: its local header, the compressed data
/// (borrowed) and its central directory, read as one stream.
pub(super) struct OneEntryZip<'a> {
    head: Vec<u8>,
    data: &'a [u8],
    tail: Vec<u8>,
    pos: u64,
}

impl OneEntryZip<'_> {
    fn len(&self) -> u64 {
        (self.head.len() + self.data.len() + self.tail.len()) as u64
    }
}

impl std::io::Read for OneEntryZip<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut at = self.pos;
        for part in [&self.head[..], self.data, &self.tail[..]] {
            let len = part.len() as u64;
            if at < len {
                let from = &part[at as usize..];
                let n = from.len().min(buf.len());
                buf[..n].copy_from_slice(&from[..n]);
                self.pos += n as u64;
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
