//! Micro-benchmarks: parsers per format on the fixtures, ELF / Mach-O / PE
//! rewrites, RECORD hashing, the zip raw copy, and the deflate of a grafted
//! library in one stream against the chunked parallel deflate. Prints the
//! median of N runs (default 11) of each, after one warm-up.
//!
//! Usage (from `benches/`): `cargo run --release -- [RUNS] [LIBRARY]`; LIBRARY
//! is a large file to deflate (a grafted library; default: 37 MB of
//! generated half-random, half-text bytes).
//!
//! `micro entry WHEEL NAME [RUNS]` times reading one (large) entry of a
//! wheel: inflate with and without the sha256, the hashes alone, inflate
//! recording the block starts, and re-compressing a patched copy by
//! splicing against a full chunked deflate.
//!
//! `micro floor INPUT OUTPUT LIBRARY...` is the floor of a repair, for
//! `bench-vs-anchors.sh` to time: copy the input wheel, and deflate the
//! grafted libraries at level 6 (all at once, each in the chunks a repair
//! cuts it into, with its sha256), the least work any repair that bundles
//! those libraries has to do.

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use wheelfix::wheel::splice;
use wheelfix::wheel::writer::{self, OutputEntry, WriteOptions};
use wheelfix::wheel::WheelArchive;
use wheelfix_benches::{demo_wheel, elf_case, fixture, generated, macho_case, pe_case, PARSED};

/// Median wall time of `runs` runs of `f`, after one warm-up run.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    f();
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t[t.len() / 2]
}

fn report(name: &str, bytes: usize, d: Duration) {
    let mbs = bytes as f64 / d.as_secs_f64() / 1e6;
    println!("{name:<48} {:>10.3} ms {:>10.1} MB/s  ({bytes} bytes)", d.as_secs_f64() * 1e3, mbs);
}

/// The floor of a repair: copy `input` to `output`, deflate `libs`.
fn floor(input: &str, output: &str, libs: &[String]) {
    use rayon::prelude::*;
    std::fs::copy(input, output).unwrap_or_else(|e| panic!("{input} -> {output}: {e}"));
    // the libraries at once, each in the chunks a repair cuts it into
    libs.par_iter().with_max_len(1).for_each(|l| {
        let data = std::fs::read(l).unwrap_or_else(|e| panic!("{l}: {e}"));
        black_box(writer::deflate_early(&data, 6).expect("deflate"));
    });
}

/// Reading one entry of a wheel: inflate alone, with the CRC-32, with the
/// sha256 too (what analysis does), and the two hashes alone.
fn entry(wheel: &str, name: &str, runs: usize) {
    let w = WheelArchive::open(Path::new(wheel)).unwrap_or_else(|e| panic!("{wheel}: {e}"));
    let i = w.entry_by_name(name).unwrap_or_else(|| panic!("{wheel} has no {name}")).index;
    let data = w.read(i).expect("inflate");
    report("inflate + crc32 (read)", data.len(), median(runs, || drop(black_box(w.read(i)))));
    report(
        "inflate + crc32 + sha256 (read_verified)",
        data.len(),
        median(runs, || drop(black_box(w.read_verified(i)))),
    );
    report("sha256 alone", data.len(), median(runs, || drop(black_box(wheelfix::wheel::record::hash(&data)))));
    report(
        "crc32 alone",
        data.len(),
        median(runs, || {
            black_box(crc32fast::hash(&data));
        }),
    );
    let raw = w.raw_data(i).expect("raw");
    report(
        "zlib-rs inflate, one call into a sized buffer",
        data.len(),
        median(runs, || {
            let mut out = vec![0u8; data.len()];
            let mut d = flate2::Decompress::new(false);
            d.decompress(raw, &mut out, flate2::FlushDecompress::Finish).expect("inflate");
            black_box(out);
        }),
    );
    report(
        "inflate recording block starts (read_indexed)",
        data.len(),
        median(runs, || drop(black_box(w.read_indexed(i)))),
    );
    // a patch like an ELF rewrite's: a few header bytes and an appended tail
    let Ok(Some((old, index))) = w.read_indexed(i) else { return };
    let mut new = old.clone();
    for b in &mut new[64..128] {
        *b ^= 0x5A;
    }
    new.extend_from_slice(&[7u8; 4096]);
    report(
        "re-deflate patched copy: splice (+ sha256, check)",
        new.len(),
        median(runs, || drop(black_box(splice::deflate_spliced(&old, raw, &index, &new, 6, writer::CHUNK)))),
    );
    report(
        "re-deflate patched copy: chunked deflate (+ sha256)",
        new.len(),
        median(runs, || drop(black_box(writer::deflate_chunked(&new, 6, writer::CHUNK)))),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("entry") {
        let runs = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(5);
        match &args[2..] {
            [wheel, name, ..] => return entry(wheel, name, runs),
            _ => panic!("usage: micro entry WHEEL NAME [RUNS]"),
        }
    }
    if args.get(1).map(String::as_str) == Some("floor") {
        match &args[2..] {
            [input, output, libs @ ..] => return floor(input, output, libs),
            _ => panic!("usage: micro floor INPUT OUTPUT LIBRARY..."),
        }
    }
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(11);
    println!("median of {runs} runs, {} rayon threads", rayon::current_num_threads());

    // parsers
    for (name, file) in PARSED {
        let data = fixture(file);
        report(&format!("parse {name}"), data.len(), median(runs, || drop(black_box(wheelfix::binary::parse(&data)))));
    }

    // rewrites
    let (elf, e) = elf_case();
    wheelfix::patch::elf::apply(&elf, &e).expect("ELF edit applies");
    report("rewrite ELF (soname + runpath)", elf.len(), median(runs, || drop(wheelfix::patch::elf::apply(&elf, &e))));
    let (macho, m) = macho_case();
    wheelfix::patch::macho::apply(&macho, &m).expect("Mach-O edit applies");
    report(
        "rewrite Mach-O (add rpath, re-sign)",
        macho.len(),
        median(runs, || drop(wheelfix::patch::macho::apply(&macho, &m))),
    );
    let (pe, p) = pe_case();
    wheelfix::patch::pe::apply(&pe, &p).expect("PE edit applies");
    report("rewrite PE (rename import)", pe.len(), median(runs, || drop(wheelfix::patch::pe::apply(&pe, &p))));

    // RECORD hashing and the large-entry paths
    let lib = match args.get(2) {
        Some(p) => std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}")),
        None => generated(37 << 20),
    };
    report("RECORD hash (sha256)", lib.len(), median(runs, || drop(black_box(wheelfix::wheel::record::hash(&lib)))));
    report(
        "deflate level 6, one stream",
        lib.len(),
        median(runs.min(5), || {
            let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
            z.write_all(&lib).unwrap();
            drop(black_box(z.finish().unwrap()));
        }),
    );
    report(
        "deflate level 6, chunked parallel (+crc, sha256)",
        lib.len(),
        median(runs.min(5), || {
            drop(black_box(writer::deflate_chunked(&lib, 6, writer::CHUNK).unwrap()));
        }),
    );

    // zip raw copy: every entry of the demo wheel, unchanged
    let demo = demo_wheel();
    let w = WheelArchive::open(&demo).expect("demo wheel opens");
    let dir = std::env::temp_dir().join(format!("wheelfix-micro-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out: &Path = &dir.join("demo-0.1-cp311-cp311-linux_x86_64.whl");
    let size = std::fs::metadata(&demo).map(|m| m.len() as usize).unwrap_or(0);
    report(
        "zip raw copy (demo wheel, all entries)",
        size,
        median(runs, || {
            let entries = (0..w.entries().len()).filter_map(|i| OutputEntry::raw(&w, i)).collect();
            writer::write_wheel(&w, entries, out, &WriteOptions::default()).expect("write");
        }),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
