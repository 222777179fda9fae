//! The fat (universal) header: where each architecture's slice lies.

use super::{err, read_u32, read_u64, ParseError, FAT_MAGIC, FAT_MAGIC_64};

/// At most this many slices in a fat file (real files have 1 to 4).
const MAX_FAT_ARCHES: u32 = 64;

/// One entry of a fat header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FatArch {
    /// `cputype`.
    pub cputype: u32,
    /// `cpusubtype`.
    pub cpusubtype: u32,
    /// File offset of the slice.
    pub offset: u64,
    /// Size of the slice in bytes.
    pub size: u64,
    /// Slice alignment as a power of two.
    pub align: u32,
}

/// The fat header of `data`: `Ok(None)` for a thin file, otherwise the
/// slices in header order, checked to lie inside the file without
/// overlapping each other or the header. The second value is true for
/// `FAT_MAGIC_64`.
pub fn fat_arches(data: &[u8]) -> Result<Option<(Vec<FatArch>, bool)>, ParseError> {
    let magic = read_u32(data, 0, true)?;
    let is64 = match magic {
        FAT_MAGIC => false,
        FAT_MAGIC_64 => true,
        _ => return Ok(None),
    };
    let n = read_u32(data, 4, true)?;
    if n == 0 {
        return Err(err("fat file has no slices"));
    }
    if n > MAX_FAT_ARCHES {
        return Err(err(format!("fat file claims {n} slices (at most {MAX_FAT_ARCHES} are accepted)")));
    }
    let entry = if is64 { 32 } else { 20 };
    let header_end = 8 + entry * n as usize;
    if header_end > data.len() {
        return Err(err(format!("fat header with {n} slices is longer than the file")));
    }
    let mut arches = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        let at = 8 + i * entry;
        let (offset, size, align) = if is64 {
            (read_u64(data, at + 8, true)?, read_u64(data, at + 16, true)?, read_u32(data, at + 24, true)?)
        } else {
            (
                u64::from(read_u32(data, at + 8, true)?),
                u64::from(read_u32(data, at + 12, true)?),
                read_u32(data, at + 16, true)?,
            )
        };
        let arch = FatArch {
            cputype: read_u32(data, at, true)?,
            cpusubtype: read_u32(data, at + 4, true)?,
            offset,
            size,
            align,
        };
        let end = offset.checked_add(size).ok_or_else(|| err(format!("fat slice {i} overflows")))?;
        if offset < header_end as u64 || end > data.len() as u64 || size == 0 {
            return Err(err(format!("fat slice {i} (offset {offset}, size {size}) is outside the file")));
        }
        if align > 15 {
            return Err(err(format!("fat slice {i} has alignment 2^{align} (at most 2^15 is valid)")));
        }
        arches.push(arch);
    }
    let mut sorted: Vec<&FatArch> = arches.iter().collect();
    sorted.sort_by_key(|a| a.offset);
    for w in sorted.windows(2) {
        if w[0].offset + w[0].size > w[1].offset {
            return Err(err(format!("fat slices at offsets {} and {} overlap", w[0].offset, w[1].offset)));
        }
    }
    Ok(Some((arches, is64)))
}
