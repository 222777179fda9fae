//! Rules that need no policy file: the dynamic loader's and libpython's
//! sonames, the symbol versions a file requires, x86-64 ISA levels and the
//! parts of a Linux platform tag.

use std::collections::{BTreeMap, BTreeSet};

use super::Libc;
use crate::binary::elf::VersionNeed;

/// The symbol versions an ELF file requires, grouped by library, from its
/// `.gnu.version_r` entries. The dynamic loader's own versions
/// (`ld-linux*`, `ld64.so.1/2`) are left out, as auditwheel does.
pub fn required_versions(needs: &[VersionNeed]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for need in needs {
        if need.file.contains("ld-linux") || need.file == "ld64.so.1" || need.file == "ld64.so.2" {
            continue;
        }
        out.entry(need.file.clone()).or_default().extend(need.versions.iter().cloned());
    }
    out
}

/// True for the dynamic loader's names: `ld-linux*`, `ld64.so.1`,
/// `ld64.so.2`, `ld-musl-*`. Never bundled, never external.
pub fn is_loader(soname: &str) -> bool {
    let base = soname.rsplit('/').next().unwrap_or(soname);
    base.starts_with("ld-linux") || base == "ld64.so.1" || base == "ld64.so.2" || base.starts_with("ld-musl-")
}

/// True for a libpython soname: `libpython<X>.<Y>[m|t].so[.<N>]*`
/// (`libpython3.12.so.1.0`, `libpython3.13t.so`, `libpython3.7m.so.1.0`).
pub fn is_libpython(soname: &str) -> bool {
    fn digits(s: &str) -> Option<&str> {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        (n > 0).then(|| &s[n..])
    }
    let Some(rest) = soname.strip_prefix("libpython") else { return false };
    let Some(rest) = digits(rest).and_then(|r| r.strip_prefix('.')).and_then(digits) else { return false };
    let rest = rest.strip_prefix(['m', 't']).unwrap_or(rest);
    let Some(mut rest) = rest.strip_prefix(".so") else { return false };
    while !rest.is_empty() {
        match rest.strip_prefix('.').and_then(digits) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    true
}

/// The x86-64 micro-architecture level an ELF needs, from its
/// GNU_PROPERTY_X86_ISA_1_NEEDED bits: 1 (baseline, for 0 or 0x1),
/// 2 (0x2), 3 (0x4) or 4 (0x8); the highest set bit wins. Bits auditwheel
/// does not know are ignored here; see [`isa_bits_unknown`].
pub fn isa_level_from_bits(bits: u32) -> u8 {
    if bits & 0x8 != 0 {
        4
    } else if bits & 0x4 != 0 {
        3
    } else if bits & 0x2 != 0 {
        2
    } else {
        1
    }
}

/// True when the ISA bits ask for something beyond baseline that is not
/// v2, v3 or v4: auditwheel then refuses the file as "unknown x86_64 ISA".
pub fn isa_bits_unknown(bits: u32) -> bool {
    bits & !1 != 0 && bits & 0xe == 0
}

/// The architecture part of a Linux platform tag:
/// `manylinux_2_17_x86_64` → `x86_64`, `manylinux2014_aarch64` →
/// `aarch64`, `musllinux_1_2_armv7l` → `armv7l`, `linux_i686` → `i686`.
pub fn arch_of_tag(tag: &str) -> Option<&str> {
    let rest = if let Some(r) = tag.strip_prefix("manylinux_").or_else(|| tag.strip_prefix("musllinux_")) {
        // two version numbers, then the architecture
        let (major, r) = r.split_once('_')?;
        let (minor, r) = r.split_once('_')?;
        if !is_number(major) || !is_number(minor) {
            return None;
        }
        r
    } else {
        ["manylinux1_", "manylinux2010_", "manylinux2014_", "linux_"].iter().find_map(|p| tag.strip_prefix(p))?
    };
    (!rest.is_empty()).then_some(rest)
}

/// The libc of a Linux platform tag: `manylinux*` → glibc, `musllinux*` →
/// musl; `None` for `linux_*` and anything else.
pub fn libc_of_tag(tag: &str) -> Option<Libc> {
    arch_of_tag(tag)?;
    if tag.starts_with("manylinux") {
        Some(Libc::Glibc)
    } else if tag.starts_with("musllinux") {
        Some(Libc::Musl)
    } else {
        None
    }
}

/// The libc a wheel's platform tags point to: that of its first
/// manylinux/musllinux tag, or glibc for a plain `linux_*` tag (what a build
/// on a glibc machine gives). `None` for a wheel of another platform.
pub fn libc_of_wheel_tags(tags: &[String]) -> Option<Libc> {
    tags.iter().find_map(|t| libc_of_tag(t).or_else(|| t.starts_with("linux_").then_some(Libc::Glibc)))
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}
