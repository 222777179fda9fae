//! Byte-level helpers every floor stands on: bounds-checked integer reads in
//! either byte order, alignment, ranges, and names read from raw bytes.
//!
//! Nothing here knows a file format; each caller turns `None` into its own
//! error, naming its own field.

/// Byte order of the integers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Least significant byte first.
    Little,
    /// Most significant byte first.
    Big,
}

impl Order {
    /// `Big` when `big` is true.
    pub fn big_if(big: bool) -> Self {
        if big {
            Order::Big
        } else {
            Order::Little
        }
    }
}

/// The `N` bytes at `at`, or `None` when they are not all inside `data`.
pub fn array_at<const N: usize>(data: &[u8], at: usize) -> Option<[u8; N]> {
    data.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// The `u16` at `at` in byte order `order`.
pub fn u16_at(data: &[u8], at: usize, order: Order) -> Option<u16> {
    let b = array_at(data, at)?;
    Some(match order {
        Order::Little => u16::from_le_bytes(b),
        Order::Big => u16::from_be_bytes(b),
    })
}

/// The `u32` at `at` in byte order `order`.
pub fn u32_at(data: &[u8], at: usize, order: Order) -> Option<u32> {
    let b = array_at(data, at)?;
    Some(match order {
        Order::Little => u32::from_le_bytes(b),
        Order::Big => u32::from_be_bytes(b),
    })
}

/// The `u64` at `at` in byte order `order`.
pub fn u64_at(data: &[u8], at: usize, order: Order) -> Option<u64> {
    let b = array_at(data, at)?;
    Some(match order {
        Order::Little => u64::from_le_bytes(b),
        Order::Big => u64::from_be_bytes(b),
    })
}

/// The little-endian `u16` at `at`.
pub fn le16(data: &[u8], at: usize) -> Option<u16> {
    u16_at(data, at, Order::Little)
}

/// The little-endian `u32` at `at`.
pub fn le32(data: &[u8], at: usize) -> Option<u32> {
    u32_at(data, at, Order::Little)
}

/// The little-endian `u64` at `at`.
pub fn le64(data: &[u8], at: usize) -> Option<u64> {
    u64_at(data, at, Order::Little)
}

/// Writes `bytes` at `at`; `None`, with nothing written, when they are not
/// all inside `data`.
fn put_at<const N: usize>(data: &mut [u8], at: usize, bytes: [u8; N]) -> Option<()> {
    data.get_mut(at..at.checked_add(N)?)?.copy_from_slice(&bytes);
    Some(())
}

/// Writes the `u16` `value` at `at` in byte order `order`; `None`, with
/// nothing written, when it does not fit in `data`.
pub fn put_u16_at(data: &mut [u8], at: usize, value: u16, order: Order) -> Option<()> {
    put_at(data, at, if order == Order::Big { value.to_be_bytes() } else { value.to_le_bytes() })
}

/// Writes the `u32` `value` at `at` in byte order `order`; `None`, with
/// nothing written, when it does not fit in `data`.
pub fn put_u32_at(data: &mut [u8], at: usize, value: u32, order: Order) -> Option<()> {
    put_at(data, at, if order == Order::Big { value.to_be_bytes() } else { value.to_le_bytes() })
}

/// Writes the `u64` `value` at `at` in byte order `order`; `None`, with
/// nothing written, when it does not fit in `data`.
pub fn put_u64_at(data: &mut [u8], at: usize, value: u64, order: Order) -> Option<()> {
    put_at(data, at, if order == Order::Big { value.to_be_bytes() } else { value.to_le_bytes() })
}

/// `value` rounded up to a multiple of `align`; `align` 0 or 1 leaves it as
/// it is. `None` on overflow.
pub fn align_up(value: u64, align: u64) -> Option<u64> {
    if align <= 1 {
        return Some(value);
    }
    value.div_ceil(align).checked_mul(align)
}

/// [`align_up`] for sizes in memory; saturates instead of overflowing (the
/// callers' values are bounded by the size of a file already in memory).
pub fn align_up_usize(value: usize, align: usize) -> usize {
    if align <= 1 {
        return value;
    }
    value.div_ceil(align).saturating_mul(align)
}

/// A name read from a binary or an archive, as text: invalid UTF-8 becomes
/// U+FFFD.
pub fn lossy(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// Whether `[start, end)` lies inside one of `ranges` (sorted, not
/// overlapping). An empty range is always covered.
pub fn ranges_cover(ranges: &[(u64, u64)], start: u64, end: u64) -> bool {
    if start >= end {
        return true;
    }
    let i = ranges.partition_point(|&(s, _)| s <= start);
    i > 0 && ranges[i - 1].1 >= end
}

/// The first offset of `[start, end)` that none of `ranges` (sorted and
/// merged, as [`merge_ranges`] gives them) covers, if any.
pub fn first_gap(ranges: &[(u64, u64)], start: u64, end: u64) -> Option<u64> {
    let i = ranges.partition_point(|&(s, _)| s <= start);
    // merged ranges never touch: the byte after one is in none
    let at = match i.checked_sub(1).map(|k| ranges[k]) {
        Some((_, e)) if e > start => e,
        _ => start,
    };
    (at < end).then_some(at)
}

/// `ranges` sorted and merged: touching or overlapping ranges become one,
/// empty ones are dropped; the result is what [`ranges_cover`] takes.
pub fn merge_ranges(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.retain(|(a, b)| a < b);
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if last.1 >= a => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_when_they_touch_or_overlap() {
        let merged = merge_ranges(vec![(10, 20), (0, 5), (5, 7), (15, 30), (40, 40), (35, 36)]);
        assert_eq!(merged, vec![(0, 7), (10, 30), (35, 36)]);
        assert!(ranges_cover(&merged, 11, 30) && !ranges_cover(&merged, 6, 11));
        assert_eq!(merge_ranges(Vec::new()), Vec::new());
    }

    #[test]
    fn the_first_gap_of_a_range() {
        let read = merge_ranges(vec![(0, 7), (10, 30), (35, 36)]);
        assert_eq!(first_gap(&read, 0, 100), Some(7));
        assert_eq!(first_gap(&read, 3, 7), None);
        assert_eq!(first_gap(&read, 8, 12), Some(8));
        assert_eq!(first_gap(&read, 10, 30), None);
        assert_eq!(first_gap(&read, 12, 40), Some(30));
        assert_eq!(first_gap(&read, 35, 36), None);
        assert_eq!(first_gap(&read, 36, 37), Some(36));
        assert_eq!(first_gap(&[], 5, 6), Some(5));
        assert_eq!(first_gap(&read, 5, 5), None);
    }

    #[test]
    fn integers_in_both_orders_and_out_of_bounds() {
        let d = [1u8, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(le16(&d, 0), Some(0x0201));
        assert_eq!(u16_at(&d, 0, Order::Big), Some(0x0102));
        assert_eq!(le32(&d, 4), Some(0x0807_0605));
        assert_eq!(u32_at(&d, 4, Order::Big), Some(0x0506_0708));
        assert_eq!(le64(&d, 0), Some(0x0807_0605_0403_0201));
        assert_eq!(u64_at(&d, 0, Order::Big), Some(0x0102_0304_0506_0708));
        assert_eq!(le32(&d, 5), None);
        assert_eq!(le16(&d, usize::MAX), None);
        assert_eq!(le64(&d, 1), None);
    }

    #[test]
    fn writes_read_back_and_out_of_bounds_write_nothing() {
        let mut d = [0u8; 8];
        assert_eq!(put_u16_at(&mut d, 0, 0x0102, Order::Big), Some(()));
        assert_eq!(put_u32_at(&mut d, 2, 0x0304_0506, Order::Little), Some(()));
        assert_eq!(d, [1, 2, 6, 5, 4, 3, 0, 0]);
        assert_eq!(u32_at(&d, 2, Order::Little), Some(0x0304_0506));
        assert_eq!(put_u64_at(&mut d, 0, 0x0807_0605_0403_0201, Order::Little), Some(()));
        assert_eq!(le64(&d, 0), Some(0x0807_0605_0403_0201));
        assert_eq!(put_u64_at(&mut d, 0, 0x0102_0304_0506_0708, Order::Big), Some(()));
        assert_eq!(d, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(put_u32_at(&mut d, 5, u32::MAX, Order::Big), None);
        assert_eq!(put_u16_at(&mut d, usize::MAX, u16::MAX, Order::Little), None);
        assert_eq!(put_u64_at(&mut d, 1, u64::MAX, Order::Little), None);
        assert_eq!(d, [1, 2, 3, 4, 5, 6, 7, 8], "a write that does not fit changes nothing");
    }

    #[test]
    fn alignment() {
        assert_eq!(align_up(0, 8), Some(0));
        assert_eq!(align_up(9, 8), Some(16));
        assert_eq!(align_up(16, 8), Some(16));
        assert_eq!(align_up(5, 0), Some(5));
        assert_eq!(align_up(5, 1), Some(5));
        assert_eq!(align_up(u64::MAX, 4096), None);
        assert_eq!(align_up_usize(4097, 4096), 8192);
        assert_eq!(align_up_usize(3, 0), 3);
    }

    #[test]
    fn ranges() {
        let r = [(0, 10), (20, 30)];
        assert!(ranges_cover(&r, 0, 10));
        assert!(ranges_cover(&r, 22, 25));
        assert!(!ranges_cover(&r, 5, 21));
        assert!(!ranges_cover(&r, 10, 11));
        assert!(ranges_cover(&r, 15, 15));
        assert!(!ranges_cover(&[], 0, 1));
    }
}
