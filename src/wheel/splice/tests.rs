//! Indexes, bit copies and spliced streams checked against flate2.

use super::*;
use crate::wheel::deflate::bit;
use crate::wheel::deflate::testdata::{deflate, inflate, sample};

/// `data` deflated at `level`, and the block index of that stream.
fn indexed(data: &[u8], level: u32) -> (Vec<u8>, BlockIndex) {
    let raw = deflate(data, level);
    let (back, index) = inflate_indexed(&raw, data.len()).unwrap().unwrap();
    assert!(back == data, "inflate_indexed gives back the input");
    (raw, index)
}

#[test]
fn index_records_every_block() {
    let data = sample(3 << 20, 7);
    let (raw, index) = indexed(&data, 6);
    assert!(index.len() > 20, "only {} blocks", index.len());
    // every recorded start has a valid block type and increasing offsets
    for w in index.blocks.windows(2) {
        assert!(w[0].out < w[1].out && w[0].bit < w[1].bit);
    }
    assert!(index.blocks.iter().all(|b| b.kind <= 2));
    // decoding from a recorded boundary with the right window gives the rest
    let b = index.blocks[index.len() / 2];
    let mut shifted = Bits { out: Vec::new(), acc: 0, n: 0 };
    shifted.copy(&raw, b.bit, raw.len() as u64 * 8);
    let tail = shifted.finish();
    let mut d = flate2::Decompress::new(false);
    d.set_dictionary(&data[(b.out as usize).saturating_sub(32 << 10)..b.out as usize]).ok();
    let mut out = vec![0u8; data.len() - b.out as usize];
    let _ = d.decompress(&tail, &mut out, flate2::FlushDecompress::Finish);
    assert!(out == data[b.out as usize..], "a block boundary is off");
}

#[test]
fn pages_captured_before_writes_agree_with_a_full_comparison() {
    let mut x = 0x0005_DEEC_E66D_u64;
    let mut next = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    for round in 0..60 {
        let old = sample(1 + next(9 * PAGE as u64) as usize, round + 3);
        let mut new = old.clone();
        new.resize(old.len() + next(3) as usize * next(2 * PAGE as u64) as usize, 0);
        let mut written = Vec::new();
        for _ in 0..next(6) {
            let start = next(new.len() as u64);
            let end = (start + 1 + next(3 * PAGE as u64)).min(new.len() as u64);
            // some writes put back the bytes that were there
            let same = next(3) == 0;
            for i in start..end {
                let i = i as usize;
                new[i] = if same && i < old.len() { old[i] } else { new[i] ^ (1 + next(255) as u8) };
            }
            written.push((start, end));
        }
        let captured = PagesBefore::capture(&old, written.iter().copied());
        assert_eq!(captured.compare(&new), Unchanged::compare(&old, &new), "round {round}");
    }
}

#[test]
fn bit_copies_match_a_bit_by_bit_copy() {
    let src = sample(4096, 21);
    let mut x = 77u64;
    for _ in 0..300 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let lead = (x % 45) as u32; // bits already in the writer
        let from = (x >> 8) % (src.len() as u64 * 8);
        let to = (from + (x >> 24) % 5000).min(src.len() as u64 * 8);
        let mut fast = Bits { out: Vec::new(), acc: 0, n: 0 };
        let mut slow = Bits { out: Vec::new(), acc: 0, n: 0 };
        for b in [&mut fast, &mut slow] {
            b.put(0x16D_5A3C_u64, lead.min(32));
            b.put(0x2B, lead.saturating_sub(32));
        }
        fast.copy(&src, from, to);
        for at in from..to {
            slow.put(u64::from(bit(&src, at)), 1);
        }
        assert_eq!(fast.finish(), slow.finish(), "lead {lead}, bits {from}..{to}");
    }
}
/// Patches like a rewriter's: the header, a stretch in the middle and an
/// appended tail.
fn patched(old: &[u8]) -> Vec<u8> {
    let mut new = old.to_vec();
    new[16..64].fill(0xAB);
    let mid = old.len() / 2;
    new[mid..mid + 300].copy_from_slice(&[0x5A; 300]);
    new.extend_from_slice(b"\0libfoo-0123abcd.so.1\0$ORIGIN/../pkg.libs\0");
    new.extend_from_slice(&sample(70_000, 99));
    new
}

/// `new` spliced from `old`; the stream must inflate (flate2) to exactly `new`.
fn spliced(
    old: &[u8],
    raw: &[u8],
    index: &BlockIndex,
    new: &[u8],
    level: u32,
    chunk: usize,
) -> (Deflated, SpliceStats) {
    let (d, stats) = deflate_spliced(old, raw, index, new, level, chunk).unwrap();
    assert!(inflate(&d.data) == new, "the spliced stream does not inflate to the new bytes");
    (d, stats)
}

#[test]
fn spliced_stream_inflates_to_the_new_bytes_and_copies_most_blocks() {
    let old = sample(6 << 20, 11);
    let (raw, index) = indexed(&old, 6);
    let new = patched(&old);
    let (d, stats) = spliced(&old, &raw, &index, &new, 6, 512 << 10);
    assert_eq!(d.crc32, crc32fast::hash(&new));
    assert_eq!(d.sha256, <[u8; 32]>::from(sha2::Sha256::digest(&new)));
    assert_eq!(stats.copied + stats.deflated, new.len() as u64);
    assert!(stats.copied > new.len() as u64 * 9 / 10, "{stats:?}");
    // the same whatever the thread count
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let (d1, _) = pool.install(|| deflate_spliced(&old, &raw, &index, &new, 6, 512 << 10)).unwrap();
    assert!(d1 == d);
    // and the same when the splice takes the new bytes and frees them halfway
    let unchanged = Unchanged::compare(&old, &new);
    let made = splice_new_pieces(&unchanged, &index, std::sync::Arc::new(new.clone()), 6, 512 << 10).unwrap();
    let (d2, stats2) = splice_join(made, &raw, &index).unwrap();
    assert!(d2 == d && stats2 == stats);
    // and the same when the new stream is spilled to a file as it is made,
    // in many steps; its pages dropped from memory read back the same
    let dir = tempfile::tempdir().unwrap();
    let made = splice_new_pieces(&unchanged, &index, std::sync::Arc::new(new.clone()), 6, 512 << 10).unwrap();
    let (d3, stats3) = splice_join_releasing(made, &raw, &index, &mut |_| {}, Some(dir.path())).unwrap();
    assert!(matches!(d3.data, crate::wheel::deflate::StreamBytes::Spilled(_)), "{:?}", d3.data);
    assert!(d3.data.len() > 20 * (64 << 10), "{} bytes: too few spill steps", d3.data.len());
    assert!(d3 == d && stats3 == stats);
    d3.data.release(0, d3.data.len());
    assert!(d3 == d, "the spilled stream reads back the same once released");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the spill file is unlinked");
    // an unchanged file: everything but the final block is copied
    let (_, stats) = spliced(&old, &raw, &index, &old, 6, 512 << 10);
    assert!(stats.deflated < 200 << 10, "{stats:?}");
}

#[test]
fn shorter_files_stored_blocks_and_first_block_changes() {
    // stored blocks only (level 0): nothing can be copied, all is deflated
    let old = sample(1 << 20, 5);
    let (raw, index) = indexed(&old, 0);
    let new = patched(&old);
    let (_, stats) = spliced(&old, &raw, &index, &new, 6, 256 << 10);
    assert_eq!(stats.copied, 0);
    // a new file shorter than the old one, changed only at its end
    let (raw, index) = indexed(&old, 9);
    let short = old[..old.len() - 100_000].to_vec();
    let (_, stats) = spliced(&old, &raw, &index, &short, 6, 256 << 10);
    assert!(stats.copied > 0);
    // an empty new file
    let (d, _) = deflate_spliced(&old, &raw, &index, &[], 6, 256 << 10).unwrap();
    assert!(inflate(&d.data).is_empty());
}

/// Regression (found by the `splice` fuzz target): a final piece whose
/// last block ends on a byte boundary was taken for a non-final segment.
#[test]
fn final_pieces_of_every_length_check() {
    let old = sample(200_000, 17);
    let (raw, index) = indexed(&old, 1);
    for extra in 0..40 {
        let mut new = old.clone();
        new.splice(100_000..100_000, std::iter::repeat_n(b'x', 300 + extra * 7)).for_each(drop);
        spliced(&old, &raw, &index, &new, 5, 32 << 10);
    }
}

#[test]
fn copied_runs_are_checked_bit_for_bit() {
    let data = sample(1 << 20, 5);
    let (raw, index) = indexed(&data, 6);
    assert!(index.len() > 10);
    let (a, b) = (index.blocks[3], index.blocks[9]);
    for last in [false, true] {
        let mut w = Bits { out: Vec::new(), acc: 0, n: 0 };
        w.copy(&raw, a.bit, b.bit);
        w.empty_stored(last);
        let seg = w.finish();
        assert!(check_copied(&seg, &raw, a.bit, b.bit, last).is_ok());
        assert!(check_copied(&seg, &raw, a.bit, b.bit, !last).is_err(), "BFINAL of the stored block");
        assert!(check_copied(&seg, &raw, a.bit + 1, b.bit + 1, last).is_err(), "run shifted by a bit");
        // any flipped bit: copied bits, block header, padding, LEN/NLEN
        for at in (0..seg.len() * 8).step_by(97).chain(seg.len() * 8 - 40..seg.len() * 8) {
            let mut bad = seg.clone();
            bad[at / 8] ^= 1 << (at % 8);
            assert!(check_copied(&bad, &raw, a.bit, b.bit, last).is_err(), "bit {at} flipped");
        }
        let mut longer = seg.clone();
        longer.push(0);
        assert!(check_copied(&longer, &raw, a.bit, b.bit, last).is_err());
        assert!(check_copied(&seg[..seg.len() - 1], &raw, a.bit, b.bit, last).is_err());
        // a run that reaches past the input's end
        assert!(check_copied(&seg, &raw[..(b.bit / 8) as usize - 1], a.bit, b.bit, last).is_err());
    }
}

#[test]
fn a_stream_that_does_not_match_its_index_is_caught() {
    let old = sample(2 << 20, 13);
    let (mut raw, index) = indexed(&old, 6);
    // the copied blocks no longer give the bytes the index promised
    let k = raw.len() / 4; // the patch leaves this part alone
    raw[k] ^= 0x10;
    let new = patched(&old);
    let Err(err) = deflate_spliced(&old, &raw, &index, &new, 6, 256 << 10) else {
        panic!("the check passed a stream that does not match its index")
    };
    assert!(err.to_string().contains("changed after they were read"), "{err}");
    // the segment check, over a whole stream, tells right from wrong bytes
    assert!(check_segment(&deflate(&new, 1), &[], &new, true).is_ok());
    assert!(check_segment(&deflate(&new, 1), &[], &old, true).is_err());
}
