//! The functions and data a Mach-O or PE extension takes from elsewhere, by
//! name: what the Stable ABI audit checks. The parse in `binary` keeps only
//! the names of the libraries; this reads the symbol table (Mach-O:
//! undefined external `nlist` entries of every slice, without the leading
//! `_`) or the import lookup tables (PE: each name with its DLL), with the
//! same low-level readers and the same bounds checks.

use crate::binary::macho::{fat_arches, SliceLayout};
use crate::binary::pe::Layout;
use crate::binary::ParseError;
use crate::bytes::{le32, le64, u32_at, Order};

/// `LC_SYMTAB`.
const LC_SYMTAB: u32 = 0x2;
/// `N_STAB` bits of `n_type`: debugger entries.
const N_STAB: u8 = 0xe0;
/// `N_TYPE` bits of `n_type`.
const N_TYPE: u8 = 0x0e;
/// `N_EXT` bit of `n_type`.
const N_EXT: u8 = 0x01;
/// `N_UNDF`: undefined.
const N_UNDF: u8 = 0x0;
/// PE data directory of the import table.
const DIR_IMPORT: usize = 1;

fn err(msg: &str) -> ParseError {
    ParseError::new(msg)
}

/// The undefined external symbols of every slice of a Mach-O file, without
/// the `_` prefix, sorted and deduplicated.
pub(super) fn macho_imports(data: &[u8]) -> Result<Vec<String>, ParseError> {
    let mut out = Vec::new();
    match fat_arches(data)? {
        Some((arches, _)) => {
            for a in arches {
                let start = usize::try_from(a.offset).map_err(|_| err("fat slice offset overflows"))?;
                let end = start.checked_add(usize::try_from(a.size).map_err(|_| err("fat slice size overflows"))?);
                let slice = end.and_then(|e| data.get(start..e)).ok_or_else(|| err("fat slice is past the end"))?;
                slice_imports(slice, &mut out)?;
            }
        }
        None => slice_imports(data, &mut out)?,
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn slice_imports(data: &[u8], out: &mut Vec<String>) -> Result<(), ParseError> {
    let layout = SliceLayout::parse(data)?;
    let order = if layout.big_endian { Order::Big } else { Order::Little };
    let is64 = layout.header_size == 32;
    let Some(cmd) = layout.commands.iter().find(|c| c.cmd == LC_SYMTAB) else { return Ok(()) };
    let field = |i: usize| u32_at(data, cmd.offset + 8 + 4 * i, order).ok_or_else(|| err("LC_SYMTAB is truncated"));
    let (symoff, nsyms, stroff, strsize) = (field(0)? as usize, field(1)? as usize, field(2)? as usize, field(3)?);
    let strtab = stroff
        .checked_add(strsize as usize)
        .and_then(|end| data.get(stroff..end))
        .ok_or_else(|| err("the string table is past the end"))?;
    let size = if is64 { 16 } else { 12 };
    // every entry must be in the file: this bounds the loop
    let table_end = nsyms.checked_mul(size).and_then(|n| n.checked_add(symoff));
    if table_end.is_none_or(|end| end > data.len()) {
        return Err(err("the symbol table is past the end"));
    }
    for i in 0..nsyms {
        let at = symoff + i * size;
        let strx = u32_at(data, at, order).ok_or_else(|| err("symbol is truncated"))? as usize;
        let n_type = data[at + 4];
        if n_type & N_STAB != 0 || n_type & N_EXT == 0 || n_type & N_TYPE != N_UNDF {
            continue;
        }
        let name = strtab.get(strx..).map(|s| s.split(|b| *b == 0).next().unwrap_or(s));
        let Some(name) = name.filter(|n| !n.is_empty()) else { continue };
        let name = String::from_utf8_lossy(name);
        out.push(name.strip_prefix('_').unwrap_or(&name).to_string());
    }
    Ok(())
}

/// Every function and data import of a PE image by name, as `(DLL, name)`,
/// in table order (imports by ordinal have no name and are left out).
pub(super) fn pe_imports(data: &[u8]) -> Result<Vec<(String, String)>, ParseError> {
    let layout = Layout::parse(data)?;
    let mut out = Vec::new();
    if layout.dir(DIR_IMPORT).0 == 0 {
        return Ok(out);
    }
    for entry in layout.imports(data)? {
        let dll = String::from_utf8_lossy(entry.name).into_owned();
        let d = entry.descriptor_offset;
        let lookup = le32(data, d).ok_or_else(|| err("import descriptor is truncated"))?;
        let first_thunk = le32(data, d + 16).ok_or_else(|| err("import descriptor is truncated"))?;
        let table = if lookup != 0 { lookup } else { first_thunk };
        let width: u32 = if layout.is_64 { 8 } else { 4 };
        for i in 0..=(data.len() as u32 / width) {
            let rva = i.checked_mul(width).and_then(|o| table.checked_add(o)).ok_or_else(|| err("thunk overflows"))?;
            let off =
                layout.rva_to_offset(rva, width).ok_or_else(|| err("import lookup table is outside the image"))?;
            let (value, by_ordinal) = if layout.is_64 {
                let v = le64(data, off).ok_or_else(|| err("thunk is truncated"))?;
                (v & 0x7fff_ffff, v >> 63 == 1)
            } else {
                let v = u64::from(le32(data, off).ok_or_else(|| err("thunk is truncated"))?);
                (v & 0x7fff_ffff, v >> 31 == 1)
            };
            if value == 0 && !by_ordinal {
                break;
            }
            if by_ordinal {
                continue;
            }
            // a hint/name entry: a 2-byte hint, then the name
            let hint = u32::try_from(value).ok().and_then(|h| h.checked_add(2));
            let name = layout.c_string(data, hint.ok_or_else(|| err("hint/name RVA overflows"))?, "imported name")?;
            out.push((dll.clone(), String::from_utf8_lossy(name).into_owned()));
        }
    }
    Ok(out)
}

/// True for a DLL of one CPython version (`python312.dll`, `python313t.dll`):
/// an `abi3` extension imports from `python3.dll` only.
pub(super) fn is_versioned_python_dll(dll: &str) -> bool {
    let lower = dll.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("python3").and_then(|r| r.strip_suffix(".dll")) else { return false };
    let rest = rest.trim_end_matches(['t', 'd', '_']);
    !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_dlls() {
        for d in ["python312.dll", "PYTHON38.DLL", "python313t.dll", "python310_d.dll"] {
            assert!(is_versioned_python_dll(d), "{d}");
        }
        for d in ["python3.dll", "python.dll", "kernel32.dll", "python3x.dll"] {
            assert!(!is_versioned_python_dll(d), "{d}");
        }
    }

    fn fixture(path: &str) -> Vec<u8> {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(path)).unwrap()
    }

    #[test]
    fn imports_of_the_fixtures() {
        // both slices of the universal2 extension; names lose the `_` every C symbol has on macOS
        let macho = macho_imports(&fixture("macho/universal2/ext.cpython-312-darwin.so")).unwrap();
        assert!(macho.contains(&"PyLong_FromLong".to_string()), "{macho:?}");
        assert!(macho.iter().all(|s| !s.starts_with('_') || s.starts_with("__")), "{macho:?}");
        let pe = pe_imports(&fixture("pe/msvc-x64/ext.pyd")).unwrap();
        assert!(pe.contains(&("kernel32.dll".to_string(), "GetCurrentThreadId".to_string())), "{pe:?}");
        // a 32-bit image: 4-byte thunks
        let pe32 = pe_imports(&fixture("pe/msvc-x86/ext.pyd")).unwrap();
        assert!(pe32.iter().any(|(d, _)| d.eq_ignore_ascii_case("kernel32.dll")), "{pe32:?}");
    }

    #[test]
    fn hostile_bytes_are_errors() {
        assert!(macho_imports(b"\xcf\xfa\xed\xfe").is_err());
        assert!(pe_imports(b"MZ").is_err());
    }
}
