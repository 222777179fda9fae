//! Canonical text dumps of an ELF file, for golden tests.

use super::{
    parse, ElfClass, ElfFile, Endian, ParseError, PT_DYNAMIC, PT_GNU_PROPERTY, PT_INTERP, PT_LOAD, PT_NOTE, PT_NULL,
    PT_PHDR,
};

fn phdr_type_name(t: u32) -> String {
    match t {
        PT_NULL => "NULL".into(),
        PT_LOAD => "LOAD".into(),
        PT_DYNAMIC => "DYNAMIC".into(),
        PT_INTERP => "INTERP".into(),
        PT_NOTE => "NOTE".into(),
        PT_PHDR => "PHDR".into(),
        7 => "TLS".into(),
        0x6474_e550 => "GNU_EH_FRAME".into(),
        0x6474_e551 => "GNU_STACK".into(),
        0x6474_e552 => "GNU_RELRO".into(),
        PT_GNU_PROPERTY => "GNU_PROPERTY".into(),
        t => format!("{t:#x}"),
    }
}

/// A canonical text dump of what the loader sees, without addresses:
/// class, byte order, type, machine, interpreter, SONAME, DT_NEEDED,
/// RPATH/RUNPATH, verneed, Python init symbols and the x86 ISA level. Stable
/// across toolchains for the same source, so it suits golden tests of
/// freshly compiled files.
pub fn dump_dynamic(data: &[u8]) -> Result<String, ParseError> {
    use std::fmt::Write;
    let info = parse(data)?;
    let mut s = String::new();
    let class = if info.class == Some(ElfClass::Elf64) { "ELF64" } else { "ELF32" };
    let endian = if info.endian == Some(Endian::Big) { "big" } else { "little" };
    let _ = writeln!(s, "class: {class} {endian}-endian");
    let _ = writeln!(s, "type: {}", info.elf_type);
    let _ = writeln!(s, "machine: {}", info.machine);
    if let Some(i) = &info.interp {
        let _ = writeln!(s, "interp: {i}");
    }
    if let Some(n) = &info.soname {
        let _ = writeln!(s, "soname: {n}");
    }
    for n in &info.needed {
        let _ = writeln!(s, "needed: {n}");
    }
    if !info.rpath.is_empty() {
        let _ = writeln!(s, "rpath: {}", info.rpath.join(":"));
    }
    if !info.runpath.is_empty() {
        let _ = writeln!(s, "runpath: {}", info.runpath.join(":"));
    }
    for v in &info.version_needs {
        let _ = writeln!(s, "verneed: {}: {}", v.file, v.versions.join(" "));
    }
    for p in &info.py_init {
        let _ = writeln!(s, "py_init: {p}");
    }
    if let Some(x) = info.x86_isa_needed {
        let _ = writeln!(s, "x86_isa_needed: {x:#x}");
    }
    Ok(s)
}

/// [`dump_dynamic`] followed by the program header table (type, flags,
/// offset, address, sizes, alignment) and the number of free dynamic slots:
/// the full picture of a rewrite, for golden tests of committed fixtures.
pub fn dump(data: &[u8]) -> Result<String, ParseError> {
    use std::fmt::Write;
    let mut s = dump_dynamic(data)?;
    let f = ElfFile::parse(data)?;
    if let Some(d) = f.dynamic()? {
        let _ = writeln!(s, "dynamic: {} entries, {} slots", d.entries.len(), d.slots);
    }
    for p in &f.phdrs {
        let flags: String =
            [(4, 'R'), (2, 'W'), (1, 'E')].iter().map(|(bit, c)| if p.p_flags & bit != 0 { *c } else { '-' }).collect();
        let _ = writeln!(
            s,
            "phdr: {:<12} {flags} off={:#x} vaddr={:#x} filesz={:#x} memsz={:#x} align={:#x}",
            phdr_type_name(p.p_type),
            p.p_offset,
            p.p_vaddr,
            p.p_filesz,
            p.p_memsz,
            p.p_align
        );
    }
    Ok(s)
}
