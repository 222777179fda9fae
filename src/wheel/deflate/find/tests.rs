use super::*;
use crate::wheel::deflate::testdata::{deflate, mixed, sample};
use crate::wheel::deflate::{deflate_piece, inflate_indexed, Inflater, WINDOW};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// A xorshift generator: deterministic noise and sample positions.
struct Rng(u64);

impl Rng {
    /// The next 64 pseudo-random bits.
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A pseudo-random number below `n` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// `len` pseudo-random bytes.
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| (self.next() >> 24) as u8).collect()
    }
}

/// Real binaries from the fixtures, one after another until `len` bytes,
/// each copy a little different (so later copies are not one long match).
fn binaries(len: usize) -> Vec<u8> {
    let files: [&[u8]; 6] = [
        include_bytes!("../../../../fixtures/elf/prebuilt/libsmall-aarch64.so"),
        include_bytes!("../../../../fixtures/elf/prebuilt/libsmall-ppc64.so"),
        include_bytes!("../../../../fixtures/elf/prebuilt/libsmall-i686.so"),
        include_bytes!("../../../../fixtures/demo/lib/libdemocore.so.1"),
        include_bytes!("../../../../fixtures/demo/lib/libdemoutil.so.1"),
        include_bytes!("../../../../fixtures/pe/loader.exe"),
    ];
    let mut out = Vec::with_capacity(len + (70 << 10));
    let mut rng = Rng(7);
    while out.len() < len {
        for f in files {
            let at = out.len();
            out.extend_from_slice(f);
            for _ in 0..64 {
                let i = at + rng.below(f.len() as u64) as usize;
                out[i] ^= rng.next() as u8;
            }
        }
    }
    out.truncate(len);
    out
}

/// Text: the lines of the JSON schemas of the fixtures in a shuffled order.
fn text(len: usize) -> Vec<u8> {
    let schema = include_str!("../../../../fixtures/cyclonedx/bom-1.5.SNAPSHOT.schema.json");
    let lines: Vec<&str> = schema.lines().collect();
    let mut rng = Rng(11);
    let mut out = Vec::with_capacity(len + 4096);
    while out.len() < len {
        out.extend_from_slice(lines[rng.below(lines.len() as u64) as usize].as_bytes());
        out.push(b'\n');
    }
    out.truncate(len);
    out
}

/// `data` as a raw-deflate stream by libdeflate at `level`.
fn libdeflate(data: &[u8], level: i32) -> Vec<u8> {
    let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(level).unwrap());
    let mut out = vec![0u8; c.deflate_compress_bound(data.len())];
    let n = c.deflate_compress(data, &mut out).unwrap();
    out.truncate(n);
    out
}

/// `data` as one raw-deflate stream made of pieces of `size` bytes, each
/// deflated at level 6 with the window before it and ended by a sync flush:
/// many more blocks than one deflate makes.
fn pieces(data: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for start in (0..data.len()).step_by(size) {
        let end = (start + size).min(data.len());
        out.extend(deflate_piece(data, start, end, 6, end == data.len()).unwrap());
    }
    out
}

/// One compressed test stream and where its dynamic blocks truly start.
struct Stream {
    name: String,
    raw: Vec<u8>,
    /// Bit offsets of the headers of its dynamic-Huffman blocks, in order.
    dynamic: Vec<u64>,
    /// Every position `find_dynamic_header` accepts, from a scan of the
    /// whole stream.
    accepted: Vec<u64>,
}

/// Every position of `raw` the finder accepts, in order.
fn scan(raw: &[u8]) -> Vec<u64> {
    let end = raw.len() as u64 * 8;
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = find_dynamic_header(raw, from, end) {
        assert!(at >= from && at < end);
        out.push(at);
        from = at + 1;
    }
    out
}

/// Several MiB of varied data, each deflated by zlib-rs at levels 1, 6 and
/// 9 (and at 6 in pieces) and by libdeflate at 6 and 12, with the block
/// starts found by the indexed inflate (built once, shared by the tests).
fn streams() -> &'static [Stream] {
    static STREAMS: OnceLock<Vec<Stream>> = OnceLock::new();
    STREAMS.get_or_init(|| {
        let corpora = [
            ("binaries", binaries(1 << 20)),
            ("text", text(1 << 20)),
            ("noise", Rng(5).bytes(1 << 17)),
            ("mixed", mixed(1 << 19, 9)),
            ("sample", sample(1 << 19, 13)),
        ];
        let mut out = Vec::new();
        for (what, data) in &corpora {
            let raws = [
                ("zlib-rs 6 in 8 KiB pieces", pieces(data, 8 << 10)),
                ("zlib-rs 1", deflate(data, 1)),
                ("zlib-rs 6", deflate(data, 6)),
                ("zlib-rs 9", deflate(data, 9)),
                ("libdeflate 6", libdeflate(data, 6)),
                ("libdeflate 12", libdeflate(data, 12)),
            ];
            for (how, raw) in raws {
                let (back, index) = inflate_indexed(&raw, data.len()).unwrap().unwrap();
                assert!(&back == data, "{what} by {how} inflates back");
                let dynamic = index.blocks.iter().filter(|b| b.kind == 2).map(|b| b.bit).collect();
                let accepted = scan(&raw);
                out.push(Stream { name: format!("{what} by {how}"), raw, dynamic, accepted });
            }
        }
        out
    })
}

/// Every true dynamic header is accepted; searching from just after one
/// never passes the next; and the false positives between them are few.
#[test]
fn true_headers_are_accepted_and_never_skipped() {
    let (mut headers, mut false_positives, mut bytes) = (0usize, 0usize, 0usize);
    for s in streams() {
        let end = s.raw.len() as u64 * 8;
        for &h in &s.dynamic {
            assert!(is_dynamic_header(&s.raw, h), "{}: true header at bit {h}", s.name);
        }
        for pair in s.dynamic.windows(2) {
            let got = find_dynamic_header(&s.raw, pair[0] + 1, end);
            assert!(got.is_some_and(|g| g > pair[0] && g <= pair[1]), "{}: {got:?} after {pair:?}", s.name);
        }
        if let Some(&first) = s.dynamic.first() {
            assert!(find_dynamic_header(&s.raw, 0, end).is_some_and(|g| g <= first), "{}", s.name);
        }
        let fp = s.accepted.iter().filter(|a| s.dynamic.binary_search(a).is_err()).count();
        assert!(s.dynamic.iter().all(|h| s.accepted.binary_search(h).is_ok()), "{}", s.name);
        println!("{}: {} bytes, {} dynamic headers, {fp} false positives", s.name, s.raw.len(), s.dynamic.len());
        headers += s.dynamic.len();
        false_positives += fp;
        bytes += s.raw.len();
    }
    println!("in all: {bytes} bytes, {headers} dynamic headers, {false_positives} false positives");
    assert!(headers > 200, "{headers} dynamic headers in the test streams");
    // a loose bound (none was seen): under one false positive per 16 KiB
    assert!(false_positives * (16 << 10) < bytes, "{false_positives} false positives in {bytes} bytes");
}

/// Every position `is_dynamic_header` accepts between `from` and `to`, one
/// by one.
fn brute_force(raw: &[u8], from: u64, to: u64) -> Vec<u64> {
    (from..to).filter(|&at| is_dynamic_header(raw, at)).collect()
}

/// The finder, with its many positions per load, finds exactly what a
/// position-by-position search finds, wherever the range starts and ends.
#[test]
fn finder_agrees_with_a_search_bit_by_bit() {
    let mut rng = Rng(3);
    for s in streams() {
        let end = s.raw.len() as u64 * 8;
        for _ in 0..4 {
            let from = rng.below(end);
            let to = (from + 1 + rng.below(1 << 18)).min(end);
            let want = brute_force(&s.raw, from, to);
            let got: Vec<u64> = s.accepted.iter().copied().filter(|&a| a >= from && a < to).collect();
            assert_eq!(got, want, "{} bits {from}..{to}", s.name);
            assert_eq!(find_dynamic_header(&s.raw, from, to), want.first().copied(), "{} {from}..{to}", s.name);
        }
    }
}

/// What zlib makes of a block header at a bit of a stream.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// zlib read the whole header and built both codes.
    Accepted,
    /// zlib refused the header, with this message.
    Refused(String),
    /// The input ended before the header did.
    Short,
}

/// zlib-rs's verdict on the header at bit `at` of `raw`, by the raw
/// inflater `z` (reset first): given a 32 KiB dictionary, primed with the
/// bits of `at`'s byte from `at` on, given the rest of `raw` and told to
/// stop once the header's codes are built (`Z_TREES`).
fn zlib_verdict(z: &mut Inflater, raw: &[u8], at: u64) -> Verdict {
    static DICT: OnceLock<Vec<u8>> = OnceLock::new();
    let dict = DICT.get_or_init(|| Rng(29).bytes(WINDOW));
    let byte = (at / 8) as usize;
    let Some(&first) = raw.get(byte) else { return Verdict::Short };
    let strm = &mut *z.0;
    let mut out = [0u8; 1024];
    let shift = (at % 8) as i32;
    let input = &raw[byte + usize::from(shift != 0)..];
    // SAFETY: `strm` was initialised by `Inflater::new`; the dictionary,
    // the input and the output outlive the calls that are given them.
    let (rc, data_type) = unsafe {
        assert_eq!(libz_rs_sys::inflateReset(strm), libz_rs_sys::Z_OK);
        assert_eq!(libz_rs_sys::inflateSetDictionary(strm, dict.as_ptr(), dict.len() as u32), libz_rs_sys::Z_OK);
        if shift != 0 {
            let primed = libz_rs_sys::inflatePrime(strm, 8 - shift, i32::from(first >> shift));
            assert_eq!(primed, libz_rs_sys::Z_OK);
        }
        strm.next_in = input.as_ptr();
        strm.avail_in = input.len() as u32;
        strm.next_out = out.as_mut_ptr();
        strm.avail_out = out.len() as u32;
        let rc = libz_rs_sys::inflate(strm, libz_rs_sys::Z_TREES);
        (rc, strm.data_type)
    };
    match rc {
        libz_rs_sys::Z_DATA_ERROR => {
            // SAFETY: zlib sets `msg` to a static C string with every error.
            let msg = unsafe { std::ffi::CStr::from_ptr(strm.msg) };
            Verdict::Refused(msg.to_string_lossy().into_owned())
        }
        libz_rs_sys::Z_OK | libz_rs_sys::Z_BUF_ERROR if data_type & 256 != 0 => {
            assert_eq!(out.len() as u32, strm.avail_out, "no output before the block's data");
            Verdict::Accepted
        }
        libz_rs_sys::Z_OK | libz_rs_sys::Z_BUF_ERROR => Verdict::Short,
        rc => panic!("zlib code {rc} at bit {at}"),
    }
}

/// Checks `is_dynamic_header` against zlib at bit `at` of `raw`, counting
/// zlib's verdicts in `seen`.
fn agree(z: &mut Inflater, raw: &[u8], at: u64, seen: &mut BTreeMap<String, usize>, what: &str) {
    let ours = is_dynamic_header(raw, at);
    let verdict = zlib_verdict(z, raw, at);
    assert_eq!(ours, verdict == Verdict::Accepted, "{what}: bit {at} of {} bytes: zlib says {verdict:?}", raw.len());
    let key = match verdict {
        Verdict::Refused(msg) => msg,
        v => format!("{v:?}"),
    };
    *seen.entry(key).or_default() += 1;
}

/// A random bit position of `raw` whose 3 first bits read BTYPE 2, so that
/// zlib takes it for a dynamic header.
fn btype2_position(raw: &[u8], rng: &mut Rng) -> u64 {
    loop {
        let at = rng.below(raw.len() as u64 * 8);
        if bits_at(raw, at) as u8 & 0b110 == 0b100 {
            return at;
        }
    }
}

/// zlib accepts a header exactly where `is_dynamic_header` does: at true
/// headers, at every false positive, at random positions that read BTYPE 2,
/// at true headers with one bit flipped, and at true headers cut short.
#[test]
fn zlib_accepts_exactly_the_headers_found() {
    let mut seen = BTreeMap::new();
    let mut z = Inflater::new().unwrap();
    let mut rng = Rng(17);
    let noise = Rng(23).bytes(1 << 20);
    for _ in 0..5_000 {
        let at = btype2_position(&noise, &mut rng);
        agree(&mut z, &noise, at, &mut seen, "noise");
    }
    for s in streams() {
        for &at in &s.accepted {
            agree(&mut z, &s.raw, at, &mut seen, &s.name);
        }
        for _ in 0..500 {
            let at = btype2_position(&s.raw, &mut rng);
            agree(&mut z, &s.raw, at, &mut seen, &s.name);
        }
        for &h in &s.dynamic {
            // a header is at most 4,500 bits long
            let start = (h / 8) as usize;
            let tail = &s.raw[start..s.raw.len().min(start + 1024)];
            // one bit flipped somewhere in the header (most are 500 to
            // 1500 bits long), a few times over
            for _ in 0..40 {
                let flip = h + 1 + rng.below(1200);
                let mut bad = tail.to_vec();
                let flip = flip - h / 8 * 8;
                if let Some(b) = bad.get_mut((flip / 8) as usize) {
                    *b ^= 1 << (flip % 8);
                }
                agree(&mut z, &bad, h % 8, &mut seen, &s.name);
            }
            // cut short: at a few lengths around where the header ends
            for len in [1, 2, 10, 60, 100, 120, 140, 160, 180, 200, 250, 300] {
                agree(&mut z, &tail[..len.min(tail.len())], h % 8, &mut seen, &s.name);
            }
        }
    }
    println!("zlib's verdicts: {seen:?}");
    for msg in [
        "Accepted",
        "Short",
        "too many length or distance symbols",
        "invalid code lengths set",
        "invalid bit length repeat",
        "invalid code -- missing end-of-block",
        "invalid literal/lengths set",
        "invalid distances set",
    ] {
        assert!(seen.get(msg).is_some_and(|&n| n > 0), "no case of {msg:?} in {seen:?}");
    }
}

/// Noise, constant bytes and streams cut short: no panic, every position
/// found is accepted, and nothing past the end is.
#[test]
fn hostile_input_never_panics_and_finds_only_headers() {
    let mut rng = Rng(31);
    let mut inputs: Vec<Vec<u8>> = [0x00, 0xff, 0x55, 0xaa, 0x24].iter().map(|&b| vec![b; 1 << 14]).collect();
    inputs.extend((0..64).map(|len| rng.bytes(len)));
    inputs.extend((0..4).map(|_| rng.bytes(1 << 17)));
    for s in streams().iter().step_by(3) {
        for &h in s.dynamic.iter().take(4) {
            let start = (h / 8) as usize;
            for extra in [0, 1, 2, 3, 8, 20, 36] {
                let cut = &s.raw[..(start + extra).min(s.raw.len())];
                // a header is more than 17 + 12 bits long (the code
                // lengths may come in runs: it can be short)
                if extra <= 3 {
                    assert!(!is_dynamic_header(cut, h), "{}: header at {h} cut to {} bytes", s.name, cut.len());
                }
                inputs.push(cut.to_vec());
            }
        }
    }
    for raw in &inputs {
        let end = raw.len() as u64 * 8;
        let found = scan(raw);
        assert!(found.iter().all(|&at| is_dynamic_header(raw, at)));
        let upto = end.min(1 << 14);
        let head: Vec<u64> = found.iter().copied().filter(|&at| at < upto).collect();
        assert_eq!(head, brute_force(raw, 0, upto), "{} bytes", raw.len());
        for at in [end, end + 1, end + 1000, u64::MAX] {
            assert!(!is_dynamic_header(raw, at), "bit {at} of {} bytes", raw.len());
        }
        assert_eq!(find_dynamic_header(raw, 0, u64::MAX), found.first().copied());
        assert_eq!(find_dynamic_header(raw, u64::MAX, u64::MAX), None);
        assert_eq!(find_dynamic_header(raw, 40, 40), None);
        assert_eq!(find_dynamic_header(raw, 40, 3), None);
    }
}

/// A bit writer, least significant bit first, as deflate writes.
#[derive(Default)]
struct Writer {
    out: Vec<u8>,
    bits: u64,
}

impl Writer {
    /// Appends the low `count` bits of `value`.
    fn put(&mut self, value: u32, count: u32) {
        for i in 0..count {
            if self.bits % 8 == 0 {
                self.out.push(0);
            }
            let last = self.out.len() - 1;
            self.out[last] |= (((value >> i) & 1) as u8) << (self.bits % 8);
            self.bits += 1;
        }
    }

    /// Appends a Huffman code of `len` bits, most significant bit first.
    fn code(&mut self, code: u32, len: u8) {
        for i in (0..u32::from(len)).rev() {
            self.put(code >> i, 1);
        }
    }
}

/// The canonical Huffman codes for `lens`.
fn canonical(lens: &[u8]) -> Vec<u32> {
    let mut codes = vec![0; lens.len()];
    let mut next = 0u32;
    for len in 1..=15u8 {
        for (sym, _) in lens.iter().enumerate().filter(|(_, &l)| l == len) {
            codes[sym] = next;
            next += 1;
        }
        next <<= 1;
    }
    codes
}

/// A complete code-length code: 13 codes of 4 bits, then 6 of 5.
fn complete_cl() -> [u8; 19] {
    std::array::from_fn(|sym| if sym < 13 { 4 } else { 5 })
}

/// `lead` bits of noise, then a dynamic block header with `nlen` and
/// `ndist` codes, all 19 code lengths of the code-length code `cl`, and
/// the code-length symbols `syms` (each with the value of its extra bits),
/// then zero bytes.
fn header(lead: u32, nlen: u32, ndist: u32, cl: &[u8; 19], syms: &[(u8, u32)]) -> Vec<u8> {
    let mut w = Writer::default();
    w.put(0b1_0110_1101, lead);
    w.put(0b100, 3); // BFINAL 0, BTYPE 2
    w.put(nlen - 257, 5);
    w.put(ndist - 1, 5);
    w.put(15, 4);
    for &sym in &ORDER {
        w.put(u32::from(cl[sym]), 3);
    }
    let codes = canonical(cl);
    for &(sym, extra) in syms {
        w.code(codes[usize::from(sym)], cl[usize::from(sym)]);
        w.put(extra, [0, 2, 3, 7][usize::from(sym.saturating_sub(15))]);
    }
    w.out.extend([0u8; 64]);
    w.out
}

/// Code-length symbols that send these lengths one by one.
fn one_by_one(lens: &[u8]) -> Vec<(u8, u32)> {
    lens.iter().map(|&l| (l, 0)).collect()
}

/// A header made by hand: what it shows, its numbers of literal/length and
/// distance codes, its code-length code, its code-length symbols, and
/// zlib's verdict on it.
type Case<'a> = (&'a str, u32, u32, [u8; 19], Vec<(u8, u32)>, &'a str);

/// Headers made by hand at the edges of zlib's rules: zlib's verdict is
/// the one expected, and `is_dynamic_header` and the finder agree with it.
#[test]
fn hand_made_headers_at_the_edges_of_zlibs_rules() {
    // a complete literal/length code of 257 codes: 255 of 8 bits, 2 of 9
    let lit: Vec<(u8, u32)> = one_by_one(&[[8u8; 255].as_slice(), &[9, 9]].concat());
    let cat = |a: &[(u8, u32)], b: &[(u8, u32)]| [a, b].concat();
    // 256 zero lengths, in two runs
    let zeros = [(18, 127), (18, 107)];
    let (cl, mut over, mut under) = (complete_cl(), complete_cl(), complete_cl());
    over[18] = 4;
    under[0] = 5;
    let invalid_dist = "invalid distances set";
    let cases: Vec<Case> = vec![
        ("complete codes", 257, 2, cl, cat(&lit, &[(1, 0), (1, 0)]), "Accepted"),
        ("an empty distance code", 257, 1, cl, cat(&lit, &[(0, 0)]), "Accepted"),
        ("one distance code of 1 bit", 257, 2, cl, cat(&lit, &[(0, 0), (1, 0)]), "Accepted"),
        ("one distance code of 2 bits", 257, 1, cl, cat(&lit, &[(2, 0)]), invalid_dist),
        ("three distance codes of 1 bit", 257, 3, cl, cat(&lit, &[(1, 0), (1, 0), (1, 0)]), invalid_dist),
        ("only end-of-block, of 1 bit", 257, 2, cl, cat(&zeros, &[(1, 0), (1, 0), (1, 0)]), "Accepted"),
        (
            "only end-of-block, of 2 bits",
            257,
            2,
            cl,
            cat(&zeros, &[(2, 0), (1, 0), (1, 0)]),
            "invalid literal/lengths set",
        ),
        (
            "no end-of-block",
            257,
            2,
            cl,
            cat(&one_by_one(&[8; 256]), &[(0, 0), (1, 0), (1, 0)]),
            "invalid code -- missing end-of-block",
        ),
        ("zeros from literal into distance lengths", 258, 4, cl, cat(&lit, &[(17, 0), (1, 0), (1, 0)]), "Accepted"),
        ("a repeat from literal into distance lengths", 258, 2, cl, cat(&zeros, &[(1, 0), (16, 0)]), "Accepted"),
        ("a repeat with nothing before it", 257, 1, cl, cat(&[(16, 0)], &lit), "invalid bit length repeat"),
        ("a run past the last length", 257, 2, cl, cat(&lit, &[(17, 7)]), "invalid bit length repeat"),
        ("287 literal/length codes", 287, 2, cl, lit.clone(), "too many length or distance symbols"),
        ("31 distance codes", 257, 31, cl, lit.clone(), "too many length or distance symbols"),
        ("an over-subscribed code-length code", 257, 2, over, lit.clone(), "invalid code lengths set"),
        ("an incomplete code-length code", 257, 2, under, lit.clone(), "invalid code lengths set"),
        ("an empty code-length code", 257, 2, [0; 19], vec![], "invalid code -- missing end-of-block"),
    ];
    let mut z = Inflater::new().unwrap();
    for (what, nlen, ndist, cl, syms, expected) in &cases {
        for lead in [0, 5] {
            let raw = header(lead, *nlen, *ndist, cl, syms);
            let verdict = match zlib_verdict(&mut z, &raw, u64::from(lead)) {
                Verdict::Refused(msg) => msg,
                v => format!("{v:?}"),
            };
            assert_eq!(&verdict, expected, "{what}");
            let accepted = *expected == "Accepted";
            assert_eq!(is_dynamic_header(&raw, u64::from(lead)), accepted, "{what}");
            let found = find_dynamic_header(&raw, u64::from(lead), u64::from(lead) + 1);
            assert_eq!(found, accepted.then_some(u64::from(lead)), "{what}");
        }
    }
}
