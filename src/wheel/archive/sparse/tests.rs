use super::*;
use crate::bytes::ranges_cover;
use crate::wheel::deflate::testdata::{deflate, mixed, sample};

const MIB: u64 = 1 << 20;

/// Runs [`sparse_inflate`] on `raw` (the stream of `data`) with `plan` and a
/// jump of 1 MiB; returns the buffer and the ranges read, or `None`.
fn sparse(raw: &[u8], size: u64, plan: &mut PartialPlan<'_>) -> Option<(memmap2::MmapMut, Vec<(u64, u64)>)> {
    let out = memmap2::MmapMut::map_anon(size as usize).unwrap();
    let want = plan(&out, &[]);
    let mut k = Keeper { out, read: Vec::new(), want, plan };
    sparse_inflate(raw, size, &mut k, MIB).map(|()| (k.out, k.read))
}

/// Every range of `read` holds the data's bytes, and `wanted` is covered.
fn check(data: &[u8], out: &[u8], read: &[(u64, u64)], wanted: &[(u64, u64)]) {
    for &(a, b) in read {
        assert!(out[a as usize..b as usize] == data[a as usize..b as usize], "{a}..{b}");
    }
    for &(a, b) in wanted {
        assert!(ranges_cover(read, a, b), "{a}..{b} in {read:?}");
    }
}

/// The start and the end of a 12 MiB stream are read, with what lies
/// between them left out, and every byte read is the data's.
#[test]
fn reads_the_start_and_the_end_only() {
    let data = mixed(12 << 20, 3);
    let size = data.len() as u64;
    let raw = deflate(&data, 6);
    let wanted = [(0, 100), (size - 3 * MIB, size - 3 * MIB + 5000), (size - 2000, size)];
    let (out, read) = sparse(&raw, size, &mut |_, _| wanted.to_vec()).unwrap();
    check(&data, &out, &read, &wanted);
    let held: u64 = read.iter().map(|(a, b)| b - a).sum();
    assert!(held < 10_000, "{read:?}");
}

/// A wanted part that the plan names only after reading the end, and that
/// lies before where the end was placed, is read from a second placing,
/// from further back.
#[test]
fn a_want_named_late_places_the_end_again() {
    let data = mixed(12 << 20, 8);
    let size = data.len() as u64;
    let raw = deflate(&data, 9);
    let early = (4 * MIB, 4 * MIB + 64);
    let end = (size - 100, size);
    let mut plan = |_: &[u8], read: &[(u64, u64)]| {
        let mut want = vec![(0, 10), end];
        if ranges_cover(read, end.0, end.1) {
            want.push(early);
        }
        want
    };
    let (out, read) = sparse(&raw, size, &mut plan).unwrap();
    check(&data, &out, &read, &[(0, 10), end, early]);
}

/// A stream made by libdeflate (other block sizes) reads the same way.
#[test]
fn a_libdeflate_stream_reads_the_same() {
    let data = mixed(10 << 20, 21);
    let size = data.len() as u64;
    let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(6).unwrap());
    let mut raw = vec![0u8; c.deflate_compress_bound(data.len())];
    let n = c.deflate_compress(&data, &mut raw).unwrap();
    raw.truncate(n);
    let wanted = [(0, 4096), (size - MIB, size - MIB + 1)];
    let (out, read) = sparse(&raw, size, &mut |_, _| wanted.to_vec()).unwrap();
    check(&data, &out, &read, &wanted);
}

/// A stream cut short, or with its end damaged, is given up, never read
/// wrong; the ordinary read then words the error.
#[test]
fn a_damaged_end_is_given_up() {
    let data = mixed(8 << 20, 5);
    let size = data.len() as u64;
    let raw = deflate(&data, 6);
    let wanted = [(0, 10), (size - 10, size)];
    assert!(sparse(&raw[..raw.len() - 1000], size, &mut |_, _| wanted.to_vec()).is_none());
    let mut bad = raw.clone();
    let at = bad.len() - 2000;
    bad[at..at + 64].fill(0xFF);
    if let Some((out, read)) = sparse(&bad, size, &mut |_, _| wanted.to_vec()) {
        panic!("damaged stream read: {:?} {read:?}", &out[size as usize - 10..]);
    }
}

/// A stream whose bytes keep repeating what came before the block the end
/// starts at (a handful of words, every one a copy of the last) never tells
/// the wanted bytes apart from the unknown window: it is given up.
#[test]
fn a_window_never_known_is_given_up() {
    let data = sample(12 << 20, 3);
    let size = data.len() as u64;
    let raw = deflate(&data, 6);
    let wanted = [(0, 100), (size - 100, size)];
    assert!(sparse(&raw, size, &mut |_, _| wanted.to_vec()).is_none());
}

/// Bytes made alike from both stand-in windows are read even where the
/// window never becomes known: here the noise at the end of a stream whose
/// text keeps repeating what came before.
#[test]
fn known_bytes_are_read_before_the_window_is() {
    let mut data = sample(10 << 20, 4);
    // 1 MiB of noise: sha256 of successive counters
    data.extend((0u32..(1 << 15)).flat_map(|i| <sha2::Sha256 as sha2::Digest>::digest(i.to_le_bytes())));
    let size = data.len() as u64;
    let raw = deflate(&data, 6);
    let wanted = [(0, 100), (size - 5000, size)];
    let (out, read) = sparse(&raw, size, &mut |_, _| wanted.to_vec()).unwrap();
    check(&data, &out, &read, &wanted);
}

/// An end that compresses worse than the rest: the first guess, taken from
/// the stream's average compression, starts too late, and the end is placed
/// from further back.
#[test]
fn a_guess_that_falls_short_goes_further_back() {
    // 12 MiB of one word again and again, then 8 MiB of 16 letters at random
    let mut data: Vec<u8> = b"PyInit_ext ".iter().copied().cycle().take(12 << 20).collect();
    let letters: Vec<u8> =
        (0u32..(1 << 18)).flat_map(|i| <sha2::Sha256 as sha2::Digest>::digest(i.to_le_bytes())).collect();
    data.extend(letters.iter().map(|b| b'a' + (b & 15)));
    let size = data.len() as u64;
    let raw = deflate(&data, 6);
    let wanted = [(0, 100), (size - (7 << 20), size - (7 << 20) + 64), (size - 10, size)];
    let (out, read) = sparse(&raw, size, &mut |_, _| wanted.to_vec()).unwrap();
    check(&data, &out, &read, &wanted);
    // the first guess does fall short, and the second does not
    let target = wanted[1].0;
    let first = guess(&raw, size, (0, 0), first_back(size, target));
    let short = tail_from(&raw, size, first).unwrap();
    assert!(short.before(target).is_none(), "the first guess reaches back far enough: the test shows nothing");
    let second = guess(&raw, size, (0, 0), 2 * first_back(size, target));
    assert!(tail_from(&raw, size, second).unwrap().before(target).is_some());
    assert!(place_tail(&raw, size, target, (0, 0)).unwrap().before(target).is_some());
}
