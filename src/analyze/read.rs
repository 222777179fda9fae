//! Reading every binary of a wheel once, in parallel, with the RECORD check
//! in the same pass; large ELF files that will not be patched are read in
//! part; what a repair will patch is kept ([`Kept`]).

use std::collections::HashSet;
use std::sync::Arc;

use rayon::prelude::*;

use super::kept::{partial_patch_above, Kept, KeptEntry, KeptPart};
use super::model::WheelBinary;
use super::{AnalyzeOptions, Reading};
use crate::binary::{self, BinaryInfo, ElfInfo, Format};
use crate::error::{Error, Result};
use crate::wheel::WheelArchive;

/// Patched entries of at least this size (128 KiB) are re-compressed by
/// copying the input's deflate blocks the patch left alone
/// ([`crate::wheel::splice`]); so they are read with their block index, here
/// when kept for repair, or by repair itself. Smaller ones are deflated again.
pub(crate) const SPLICE_MIN: u64 = 128 << 10;

/// Whether a repair is likely to patch this binary: an ELF file with an
/// RPATH/RUNPATH entry that is not `$ORIGIN`-relative (those are kept as
/// they are) or a needed library that is neither in the wheel, nor allowed
/// by any policy, nor excluded; or any Mach-O or PE file. A guess: a wrong
/// one only costs time (one more inflate) or memory until the plan is made.
fn likely_patched(info: &BinaryInfo, wheel_files: &HashSet<&str>, exclude: &[glob::Pattern]) -> bool {
    let relative = |entry: &String| entry.starts_with("$ORIGIN") || entry.starts_with("${ORIGIN}");
    match info {
        BinaryInfo::Elf(e) => {
            !e.rpath.iter().chain(&e.runpath).all(relative)
                || e.needed.iter().any(|n| {
                    !wheel_files.contains(n.as_str())
                        && !crate::policy::linux::whitelisted_by_any_builtin(n)
                        && !exclude.iter().any(|g| g.matches(n))
                })
        }
        _ => true,
    }
}

/// ELF files at least this large (4 MiB) that will not be patched are read
/// keeping only what their parse needs ([`WheelArchive::read_partial`]).
const PARTIAL_MIN: u64 = 4 << 20;

/// Inflates every entry once, in parallel, hashing for the RECORD check in
/// the same pass; sniffs and parses each. The largest entries go first, so
/// the one huge extension that most big wheels hold is inflating on one core
/// while the others share the rest, instead of starting last. With `keep`,
/// the bytes of the binaries a repair will likely patch are kept in it,
/// as far as its budget goes.
pub(super) fn read_binaries(
    archive: &WheelArchive,
    options: &AnalyzeOptions,
    mut keep: Option<&mut Kept>,
    exclude: &[glob::Pattern],
) -> Result<Vec<WheelBinary>> {
    let verify = options.verify_record;
    // a repair checks every byte it may write again: here, or aside
    let skim = options.reading == Reading::Skim && keep.is_none();
    let budget = keep.as_ref().map(|k| k.budget());
    let wheel = archive.path().display().to_string();
    let mut files: Vec<usize> = (0..archive.entries().len()).filter(|&i| !archive.entries()[i].is_dir).collect();
    files.sort_by_key(|&i| (std::cmp::Reverse(archive.entries()[i].size), i));
    let wheel_files: HashSet<&str> = match budget {
        Some(_) => archive.entries().iter().map(|e| e.name.rsplit('/').next().unwrap_or(&e.name)).collect(),
        None => Default::default(),
    };
    let read_one = |i: usize| -> Result<Option<Read>> {
        let entry = &archive.entries()[i];
        let wheel_err = |source| Error::Wheel { path: archive.path().to_path_buf(), source };
        // Only entries that start like a binary are kept in memory; the rest
        // (data files of any size) are checked while streaming.
        let prefix = archive.read_prefix(i, 4).map_err(wheel_err)?;
        // an entry checked aside needs no check here, and is skimmed
        let aside = archive.verified_aside(i);
        let binary_err = |source| Error::Binary { file: format!("{wheel}!{}", entry.name), source };
        let promised = promised_format(&entry.name, &archive.filename().platform);
        if !binary::may_be_binary(&prefix) {
            if let Some(format) = promised {
                let head = archive.read_prefix(i, 256).map_err(wheel_err)?;
                if !(format == Format::Elf && is_ld_script(&head)) {
                    return Err(binary_err(not_a(format, &entry.name)));
                }
            }
            if verify && !aside {
                archive.verify_streaming(i).map_err(wheel_err)?;
            }
            return Ok(None);
        }
        // A large ELF file that will not be patched is read in one pass that
        // keeps only the parts its parse needs. In a repair, that is a library
        // some earlier repair bundled (in a `.libs` directory), or one too
        // large for what is left of the budget (it could not be kept: a
        // repair that patches it inflates it again), or so large that a
        // repair patches it in part; the rest may be patched, and are kept
        // whole.
        let bundled = entry.name.split('/').rev().skip(1).any(|d| d.ends_with(".libs"));
        let unkeepable = budget.as_ref().is_some_and(|b| entry.size > b.left() || entry.size >= partial_patch_above());
        let in_part =
            entry.size >= PARTIAL_MIN && prefix.starts_with(b"\x7fELF") && (budget.is_none() || bundled || unkeepable);
        let parsed_in_part = match in_part {
            true => read_elf_in_part(archive, i, verify && !aside, skim || aside).map_err(wheel_err)?,
            false => None,
        };
        let mut kept = None;
        let parsed = match parsed_in_part {
            Some((parsed, part)) => {
                let info = parsed.map(|info| Some(BinaryInfo::Elf(info))).map_err(binary_err)?;
                // what was read of a huge one a repair will likely patch in part
                // is kept: the patch starts from it
                let huge = entry.size >= partial_patch_above();
                if let (Some(budget), Some(found), true) = (&budget, &info, huge) {
                    let size = part.read.iter().map(|(a, b)| b - a).sum();
                    if likely_patched(found, &wheel_files, exclude) && budget.reserve(size) {
                        kept = Some(Keep::Part(part));
                    }
                }
                info
            }
            None => {
                let (data, blocks) = match (&budget, verify) {
                    (Some(_), true) => archive.read_verified_indexed(i, SPLICE_MIN),
                    (_, true) => archive.read_verified(i).map(|d| (d, None)),
                    (_, false) => archive.read(i).map(|d| (d, None)),
                }
                .map_err(wheel_err)?;
                let parsed = binary::parse(&data).map_err(binary_err)?;
                if let (None, Some(format)) = (&parsed, promised) {
                    return Err(binary_err(not_a(format, &entry.name)));
                }
                if let (Some(budget), Some(info)) = (&budget, &parsed) {
                    if likely_patched(info, &wheel_files, exclude) && budget.reserve(data.len() as u64) {
                        kept = Some(Keep::Entry(KeptEntry { data, blocks }));
                    }
                }
                parsed
            }
        };
        Ok(parsed.map(|info| {
            let is_extension = is_extension(&entry.name, &info);
            (WheelBinary { path: entry.name.clone(), index: i, info: Arc::new(info), is_extension }, kept)
        }))
    };
    let mut results: Vec<(usize, Result<Option<Read>>)> =
        files.par_iter().with_max_len(1).map(|&i| (i, read_one(i))).collect();
    // the first problem in archive order, whatever order the work ran in
    results.sort_unstable_by_key(|(i, _)| *i);
    let mut out = Vec::new();
    for (i, r) in results {
        let Some((b, kept)) = r? else { continue };
        match (keep.as_deref_mut(), kept) {
            (Some(keep), Some(Keep::Entry(kept))) => keep.insert_entry(i, kept),
            (Some(keep), Some(Keep::Part(part))) => keep.insert_part(i, part),
            _ => {}
        }
        out.push(b);
    }
    if verify {
        archive.verify_record_rows().map_err(|source| Error::Wheel { path: archive.path().to_path_buf(), source })?;
    }
    if let (Some(keep), Some(budget)) = (keep, budget) {
        keep.settle(budget);
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// What is kept of a binary for repair: its bytes, or the parts read of a
/// huge one.
enum Keep {
    Entry(KeptEntry),
    Part(KeptPart),
}

/// The entry a repair checks aside ([`WheelArchive::verify_aside`]) while
/// the analysis reads the rest, when it checks RECORD: the largest of at
/// least [`partial_patch_above`] bytes that is ELF or no binary at all. The
/// analysis then reads only the parts its parse needs (sparsely when it can),
/// so that the plan is made and the output written while the one long
/// stream is inflated beside them, instead of after it. None on one thread
/// (`-j 1`): there is no core to do it beside.
pub(crate) fn aside_entry(archive: &WheelArchive, options: &AnalyzeOptions) -> Option<usize> {
    if !options.verify_record || rayon::current_num_threads() < 2 {
        return None;
    }
    let entries = archive.entries();
    let largest = (0..entries.len()).filter(|&i| !entries[i].is_dir).max_by_key(|&i| (entries[i].size, i))?;
    let prefix = archive.read_prefix(largest, 4).ok()?;
    let fits = prefix.starts_with(b"\x7fELF") || !binary::may_be_binary(&prefix);
    (entries[largest].size >= partial_patch_above() && fits).then_some(largest)
}

/// A binary read: its parse, and what is kept of it for repair.
type Read = (WheelBinary, Option<Keep>);

/// Deflated ELF files at least this large (32 MiB) are read sparsely when
/// the analysis skims ([`Reading::Skim`]).
const SKIM_MIN: u64 = 32 << 20;

/// The parse of ELF entry `index`, read in part
/// ([`WheelArchive::read_partial`] with [`binary::elf::partial_wanted`]), or
/// with `skim` and at [`SKIM_MIN`] or more, sparsely
/// ([`WheelArchive::read_sparse`]) when that can be done; with the parts
/// read. `None` when it must be read whole: it cannot be read in part, or
/// its parse needed more than was kept.
fn read_elf_in_part(
    archive: &WheelArchive,
    index: usize,
    verify: bool,
    skim: bool,
) -> std::result::Result<Option<(ParsedElf, KeptPart)>, crate::wheel::WheelError> {
    let name = &archive.entries()[index].name;
    if skim && archive.entries()[index].size >= SKIM_MIN {
        if let Some((data, read)) = archive.read_sparse(index, &mut binary::elf::partial_wanted)? {
            let held: u64 = read.iter().map(|(a, b)| b - a).sum();
            if let Some(parsed) = binary::elf::parse_partial(&data, &read) {
                crate::timing::mark(format_args!("{name} read sparsely: {} of {} MiB", held >> 20, data.len() >> 20));
                return Ok(Some((parsed, KeptPart { data, read })));
            }
        }
        crate::timing::mark(format_args!("{name} could not be read sparsely"));
    }
    let Some((data, read)) = archive.read_partial(index, verify, &mut binary::elf::partial_wanted)? else {
        return Ok(None);
    };
    let parsed = binary::elf::parse_partial(&data, &read);
    if parsed.is_none() {
        crate::timing::mark(format_args!("{name} read again whole: its parse needed more"));
    }
    Ok(parsed.map(|parsed| (parsed, KeptPart { data, read })))
}

/// The parse of an ELF file.
type ParsedElf = std::result::Result<ElfInfo, binary::ParseError>;

/// The binary format the name of entry `name` promises, in a wheel with
/// these platform tags: `.pyd` a PE image, `.dylib` a Mach-O file, `.so` or
/// a versioned `.so.1`, `.so.1.2`… a shared library (Mach-O in a macOS
/// wheel, ELF elsewhere). `None` when the name promises nothing: a data file
/// (`foo.so.txt`, `foo.sort`).
fn promised_format(name: &str, platform: &[String]) -> Option<Format> {
    let base = name.rsplit('/').next().unwrap_or(name);
    let lower = base.to_ascii_lowercase();
    if lower.ends_with(".pyd") {
        return Some(Format::Pe);
    }
    if lower.ends_with(".dylib") {
        return Some(Format::MachO);
    }
    let versioned = |v: &str| v.split('.').all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let shared = base.ends_with(".so") || base.rsplit_once(".so.").is_some_and(|(_, v)| versioned(v));
    let macos = !platform.is_empty() && platform.iter().all(|p| p.starts_with("macosx_"));
    shared.then_some(if macos { Format::MachO } else { Format::Elf })
}

/// Whether `head` (the first bytes of a file) starts a GNU ld script: a
/// text file that a `libfoo.so` may be (glibc's `libc.so` is one), read by
/// the link editor, never by the loader. Comments and blanks may come
/// before the first command.
fn is_ld_script(head: &[u8]) -> bool {
    let mut rest = head;
    loop {
        rest = rest.trim_ascii_start();
        match rest.strip_prefix(b"/*") {
            Some(comment) => match comment.windows(2).position(|w| w == b"*/") {
                Some(end) => rest = &comment[end + 2..],
                None => return false,
            },
            None => break,
        }
    }
    [&b"INPUT"[..], b"GROUP", b"OUTPUT_FORMAT", b"OUTPUT_ARCH", b"SEARCH_DIR"]
        .iter()
        .any(|k| rest.strip_prefix(*k).is_some_and(|after| after.trim_ascii_start().starts_with(b"(")))
}

/// The error for an entry whose name promises `format` but whose bytes are
/// not of any binary format.
fn not_a(format: Format, name: &str) -> binary::ParseError {
    let (what, suffix) = match format {
        Format::Elf => ("an ELF file", ".so"),
        Format::MachO => ("a Mach-O file", if name.ends_with(".dylib") { ".dylib" } else { ".so" }),
        Format::Pe => ("a PE image", ".pyd"),
    };
    binary::ParseError::new(format!("named as a binary (`{suffix}`) but not {what}"))
}

fn is_extension(name: &str, info: &BinaryInfo) -> bool {
    match info {
        BinaryInfo::Elf(e) => e.is_python_extension(),
        BinaryInfo::MachO(_) => name.ends_with(".so"),
        BinaryInfo::Pe(p) => name.to_ascii_lowercase().ends_with(".pyd") || !p.py_init.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_promise_a_binary() {
        let linux = ["manylinux_2_17_x86_64".to_string()];
        let mac = ["macosx_11_0_arm64".to_string()];
        for name in ["pkg/_x.cpython-311-x86_64-linux-gnu.so", "x.abi3.so", "a.libs/libfoo.so.1", "libz.so.1.2.13"] {
            assert_eq!(promised_format(name, &linux), Some(Format::Elf), "{name}");
        }
        assert_eq!(promised_format("pkg/x.cpython-312-darwin.so", &mac), Some(Format::MachO));
        assert_eq!(promised_format("pkg/.dylibs/libfoo.dylib", &mac), Some(Format::MachO));
        assert_eq!(promised_format("pkg/x.cp311-win_amd64.PYD", &["win_amd64".into()]), Some(Format::Pe));
        for name in ["foo.so.txt", "libfoo.so.1a", "libfoo.so.", "libfoo.so..1", "pkg.so/readme", "x.sort", "x.py"] {
            assert_eq!(promised_format(name, &linux), None, "{name}");
        }
    }

    #[test]
    fn ld_scripts_are_told_from_garbage() {
        assert!(is_ld_script(b"/* GNU ld script\n   Use the shared library */\nOUTPUT_FORMAT(elf64-x86-64)\n"));
        assert!(is_ld_script(b"INPUT(libncursesw.so.6 -ltinfo)\n"));
        assert!(is_ld_script(b"\n  GROUP ( /lib/libc.so.6 )"));
        assert!(!is_ld_script(b"/* a comment that never ends INPUT("));
        assert!(!is_ld_script(b"INPUTS(x)"));
        assert!(!is_ld_script(b"not a library"));
        assert!(!is_ld_script(b""));
    }
}
