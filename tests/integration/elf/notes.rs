//! Program headers across a rewrite that needs a new segment: a shared
//! library keeps every one of them, its build-id PT_NOTE included, and its
//! program header table stays where it was (it grows in place, the sections
//! after it move); `dl_iterate_phdr` still finds the build-id, also after
//! GNU `strip` has rewritten the file.

use std::fs;
use std::path::Path;
use std::process::Command;

use super::{cc, check_output, edits, readelf_clean, run, write_exec};
use wheelfix::binary::elf::{notes, ElfFile, Phdr, PT_DYNAMIC, PT_LOAD, PT_NOTE, PT_NULL, PT_PHDR};
use wheelfix::patch::elf::{apply, RpathEdit};

/// Loads `argv[1]`, finds it among the loaded objects by the name suffix
/// `argv[2]` with `dl_iterate_phdr`, walks its PT_NOTE segments in memory
/// and prints the NT_GNU_BUILD_ID in hex, then the value of `bid_value()`.
const HARNESS: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <string.h>

static const char *suffix;
static int found;

static int visit(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size; (void)data;
    size_t n = strlen(info->dlpi_name), m = strlen(suffix);
    if (n < m || strcmp(info->dlpi_name + n - m, suffix) != 0) return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        if (p->p_type != PT_NOTE) continue;
        const unsigned char *at = (const unsigned char *)(info->dlpi_addr + p->p_vaddr);
        const unsigned char *end = at + p->p_memsz;
        size_t align = p->p_align == 8 ? 8 : 4;
        while (at + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *h = (const ElfW(Nhdr) *)at;
            const unsigned char *name = at + sizeof(*h);
            const unsigned char *desc = name + ((h->n_namesz + align - 1) & ~(align - 1));
            if (h->n_type == NT_GNU_BUILD_ID && h->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
                for (unsigned k = 0; k < h->n_descsz; k++) printf("%02x", desc[k]);
                printf("\n");
                found = 1;
                return 1;
            }
            at = desc + ((h->n_descsz + align - 1) & ~(align - 1));
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
    suffix = argv[2];
    dl_iterate_phdr(visit, NULL);
    if (!found) { fprintf(stderr, "no NT_GNU_BUILD_ID note in its PT_NOTE segments\n"); return 1; }
    int (*value)(void) = (int (*)(void))dlsym(h, "bid_value");
    if (!value) { fprintf(stderr, "dlsym: %s\n", dlerror()); return 1; }
    printf("%d\n", value());
    return 0;
}
"#;

/// The NT_GNU_BUILD_ID descriptor in the PT_NOTE segments of an ELF file,
/// read through its program headers.
fn build_id(data: &[u8]) -> Option<Vec<u8>> {
    let f = ElfFile::parse(data).unwrap();
    f.phdrs.iter().filter(|p| p.p_type == PT_NOTE).find_map(|p| {
        let bytes = f.range(p.p_offset, p.p_filesz).ok()?;
        let align = if p.p_align == 8 { 8 } else { 4 };
        notes(&f, bytes, align).into_iter().find(|(n, t, _)| *n == b"GNU" && *t == 3).map(|(_, _, d)| d.to_vec())
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A rewritten library keeps every program header of its input (PT_NULL
/// entries may give way), in order and unchanged, except PT_PHDR (which
/// follows the grown table), PT_DYNAMIC (which follows a moved `.dynamic`)
/// and segments whose bytes moved with the sections after the table (same
/// type, flags, sizes and alignment, same bytes at the new place); the only
/// new one is a PT_LOAD past the input's end.
pub(super) fn assert_program_headers_kept(input: &[u8], output: &[u8], name: &str) {
    let (a, b) = (ElfFile::parse(input).unwrap(), ElfFile::parse(output).unwrap());
    let old: Vec<&Phdr> = a.phdrs.iter().filter(|p| p.p_type != PT_NULL).collect();
    let grew = output.len() > input.len();
    let is_new = |p: &&Phdr| grew && p.p_type == PT_LOAD && p.p_offset >= input.len() as u64;
    assert!(b.phdrs.iter().filter(is_new).count() <= 1, "{name}: more than one new PT_LOAD");
    let new: Vec<&Phdr> = b.phdrs.iter().filter(|p| p.p_type != PT_NULL && !is_new(p)).collect();
    let types = |v: &[&Phdr]| v.iter().map(|p| p.p_type).collect::<Vec<_>>();
    assert_eq!(types(&new), types(&old), "{name}: program headers dropped, added or reordered");
    for (x, y) in old.iter().zip(&new) {
        if x.p_type == PT_PHDR || x.p_type == PT_DYNAMIC || x == y {
            continue;
        }
        let same_shape = (x.p_flags, x.p_filesz, x.p_memsz, x.p_align) == (y.p_flags, y.p_filesz, y.p_memsz, y.p_align);
        assert!(same_shape && x.p_type != PT_LOAD, "{name}: program header changed: {x:?} → {y:?}");
        assert!(y.p_offset >= input.len() as u64, "{name}: a segment moved inside the old file: {y:?}");
        let before = &input[x.p_offset as usize..(x.p_offset + x.p_filesz) as usize];
        let after = &output[y.p_offset as usize..(y.p_offset + y.p_filesz) as usize];
        assert_eq!(before, after, "{name}: a moved segment's bytes changed");
    }
}

/// A library built with `--build-id` and rewritten with a long RUNPATH
/// (so that it needs the new segment, and its table has no free entry)
/// keeps its table in place and its build-id PT_NOTE: read here through
/// the program headers, found by a C harness through `dl_iterate_phdr`
/// once loaded, and still found after GNU `strip` rewrote the file.
#[test]
fn rewritten_library_keeps_its_build_id_note_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::write(dir.join("harness.c"), HARNESS).unwrap();
    cc(dir, &["-o", "harness", "harness.c", "-ldl"]);
    fs::write(dir.join("bid.c"), "int bid_value(void) { return 42; }\n").unwrap();
    cc(dir, &["-shared", "-fPIC", "-Wl,--build-id", "-Wl,-soname,libbid.so", "-o", "libbid.so", "bid.c"]);
    let input = fs::read(dir.join("libbid.so")).unwrap();
    let want = build_id(&input).expect("cc wrote a build-id note");
    assert!(want.len() >= 16, "build-id {want:?}");
    let f = ElfFile::parse(&input).unwrap();
    assert!(f.phdrs.iter().all(|p| p.p_type != PT_NULL), "the library has no PT_NULL entry");
    let runpath = format!("$ORIGIN/../{}", "a-long-directory-name/".repeat(8));
    let out = apply(&input, &edits(|e| e.rpath = Some(RpathEdit::SetRunpath(runpath.clone())))).unwrap();
    assert!(out.len() > input.len(), "the rewrite needs a new segment");

    // (a) the program headers, read back: the table in place and one entry
    // longer, every input header kept, the build-id in a PT_NOTE
    let g = ElfFile::parse(&out).unwrap();
    assert_eq!(g.e_phoff, f.e_phoff, "the program header table stays");
    assert_eq!(g.phdrs.len(), f.phdrs.len() + 1);
    assert_program_headers_kept(&input, &out, "libbid.so");
    assert_eq!(build_id(&out).as_deref(), Some(&want[..]), "the build-id is in a PT_NOTE");
    let first = g.phdrs.iter().find(|p| p.p_type == PT_LOAD).unwrap();
    let table_end = g.e_phoff + g.phdrs.len() as u64 * g.phdr_size();
    assert!(first.p_offset <= g.e_phoff && table_end <= first.p_offset + first.p_filesz, "the first PT_LOAD maps it");
    // the sections that sat where the table grew moved past the old end of the file
    for sh in g.shdrs.iter().skip(1).filter(|s| s.sh_type != 8 && s.sh_size > 0) {
        let clash = sh.sh_offset < table_end && g.e_phoff < sh.sh_offset + sh.sh_size;
        assert!(!clash, "a section overlaps the grown table: {sh:?}");
    }
    let path = check_output(&input, &out, dir, "libbid-rewritten.so");
    assert_eq!(wheelfix::binary::elf::parse(&out).unwrap().runpath, [runpath.as_str()]);
    let notes = readelf_clean(&path, &["-n", "-W"]);
    assert!(notes.contains(&format!("Build ID: {}", hex(&want))), "{notes}");

    // (b) loaded: dl_iterate_phdr finds the note in memory
    let load = |lib: &Path, suffix: &str| {
        run(Command::new(dir.join("harness")).arg(lib).arg(suffix).env_remove("LD_LIBRARY_PATH"))
    };
    assert_eq!(load(&path, "/libbid-rewritten.so"), format!("{}\n42\n", hex(&want)));

    // (c) GNU strip of the rewritten file: still loads, build-id and all
    let stripped = dir.join("libbid-stripped.so");
    write_exec(&stripped, &out);
    run(Command::new("strip").arg(&stripped));
    readelf_clean(&stripped, &["-a", "-W"]);
    assert_eq!(load(&stripped, "/libbid-stripped.so"), format!("{}\n42\n", hex(&want)));
}
