//! Native Mach-O relinker (replaces install_name_tool, codesign and lipo):
//! per slice of thin and fat files, the load-command area is rebuilt in
//! place within the header padding; modified slices are re-signed ad hoc.
//!
//! The algorithm is install_name_tool's: every command is copied as is,
//! except that a renamed LC_ID_DYLIB or dylib reference is re-emitted with
//! its name at offset 24 and `cmdsize` rounded to 8 (4 for 32-bit slices),
//! deleted LC_RPATHs are dropped and added ones (path at offset 12) go at the
//! end. The new area must end before the first section's data (leaving 16
//! bytes when an LC_CODE_SIGNATURE has to be added), otherwise the edit is
//! refused with [`PatchError::NoRoom`]. Freed bytes are zeroed and nothing
//! else in the slice moves, except the signature at the end of `__LINKEDIT`.
//! Fat files are patched slice by slice and re-laid out only when a slice
//! changes size. The output is parsed again and checked before it is
//! returned.

use super::codesign::{self, put_u32, SignatureStatus};
use super::PatchError;
use crate::binary::macho::{
    command_string, fat_arches, parse, DylibKind, FatArch, MachOSlice, SliceLayout, CPU_TYPE_ARM64, DYLIB_COMMAND_SIZE,
    FAT_MAGIC, FAT_MAGIC_64, LC_ID_DYLIB, LC_RPATH, LINKEDIT_DATA_COMMAND_SIZE, RPATH_COMMAND_SIZE,
};
use crate::binary::ParseError;
use crate::bytes::align_up_usize;

/// The hint given with [`PatchError::NoRoom`].
pub const HEADERPAD_HINT: &str = "the binary must be relinked with more header padding \
(pass -Wl,-headerpad_max_install_names to the linker); install names and rpaths that get shorter always fit";

/// Largest name accepted in an edit (macOS `MAXPATHLEN`).
const MAX_NAME: usize = 1024;

/// All edits to one Mach-O file (applied to every slice), in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MachOEdits {
    /// LC_ID_DYLIB to set. Slices without LC_ID_DYLIB (bundles, executables)
    /// are left as they are, as with `install_name_tool -id`.
    pub set_id: Option<String>,
    /// `(old, new)` install-name changes of LC_LOAD_DYLIB / WEAK / REEXPORT /
    /// LAZY / UPWARD commands. An `old` absent from a slice is not an error
    /// (as with `install_name_tool -change`).
    pub change_dylibs: Vec<(String, String)>,
    /// LC_RPATH entries to delete (every occurrence; absent ones are ignored).
    pub delete_rpaths: Vec<String>,
    /// LC_RPATH entries to add at the end (skipped when already present).
    pub add_rpaths: Vec<String>,
    /// Code-signature identifier for a slice that gets its first signature
    /// (an existing signature keeps its identifier). Default: the file name
    /// of the slice's install id, else `a.out`. Not an edit by itself.
    pub identifier: Option<String>,
}

impl MachOEdits {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.set_id.is_none()
            && self.change_dylibs.is_empty()
            && self.delete_rpaths.is_empty()
            && self.add_rpaths.is_empty()
    }

    fn validate(&self) -> Result<(), PatchError> {
        let names = self
            .set_id
            .iter()
            .chain(self.change_dylibs.iter().flat_map(|(a, b)| [a, b]))
            .chain(&self.delete_rpaths)
            .chain(&self.add_rpaths)
            .chain(&self.identifier);
        for n in names {
            if n.is_empty() || n.len() > MAX_NAME || n.contains('\0') {
                return Err(PatchError::InvalidEdit(format!("`{}` is not a usable Mach-O name", n.escape_debug())));
            }
        }
        Ok(())
    }

    /// What `slice` should look like after the edits (names only).
    fn expected(&self, slice: &MachOSlice) -> MachOSlice {
        let mut s = slice.clone();
        if let (Some(id), Some(new)) = (&mut s.id, &self.set_id) {
            id.clone_from(new);
        }
        for d in &mut s.deps {
            if let Some((_, new)) = self.change_dylibs.iter().find(|(old, _)| *old == d.name) {
                d.name.clone_from(new);
            }
        }
        s.rpaths.retain(|r| !self.delete_rpaths.contains(r));
        for r in &self.add_rpaths {
            if !s.rpaths.contains(r) {
                s.rpaths.push(r.clone());
            }
        }
        s
    }
}

/// Appends a load command whose string starts right after a fixed part.
fn emit_str_command(out: &mut Vec<u8>, fixed: &[u8], name: &str, align: usize, big: bool) -> Result<(), PatchError> {
    let start = out.len();
    let size = align_up_usize(fixed.len() + name.len() + 1, align);
    out.extend_from_slice(fixed);
    out.extend_from_slice(name.as_bytes());
    out.resize(start + size, 0);
    put_u32(out, start + 4, size as u32, big)?;
    put_u32(out, start + 8, fixed.len() as u32, big)
}

/// Rebuilds the load commands of one thin slice. `Ok(None)` when no
/// command changes.
fn patch_slice(slice: &[u8], edits: &MachOEdits) -> Result<Option<Vec<u8>>, PatchError> {
    let layout = SliceLayout::parse(slice)?;
    let big = layout.big_endian;
    let align = layout.command_align();
    let mut cmds: Vec<u8> = Vec::with_capacity(layout.sizeofcmds + 256);
    let mut ncmds: u32 = 0;
    let mut changed = false;
    let mut rpaths: Vec<String> = Vec::new();
    let mut install_id: Option<String> = None;
    for lc in &layout.commands {
        let body = &slice[lc.offset..lc.offset + lc.size];
        let is_id = lc.cmd == LC_ID_DYLIB;
        if is_id || DylibKind::from_cmd(lc.cmd).is_some() {
            let name = command_string(body, 8, DYLIB_COMMAND_SIZE, big, "dylib name")?;
            let new = if is_id {
                edits.set_id.as_ref()
            } else {
                edits.change_dylibs.iter().find(|(old, _)| *old == name).map(|(_, new)| new)
            };
            if is_id {
                install_id = Some(new.unwrap_or(&name).clone());
            }
            match new {
                Some(new) if *new != name => {
                    // cmd, cmdsize, name offset, then timestamp and versions kept.
                    let mut fixed = [0u8; DYLIB_COMMAND_SIZE];
                    fixed.copy_from_slice(&body[..DYLIB_COMMAND_SIZE]);
                    emit_str_command(&mut cmds, &fixed, new, align, big)?;
                    changed = true;
                }
                _ => cmds.extend_from_slice(body),
            }
        } else if lc.cmd == LC_RPATH {
            let path = command_string(body, 8, RPATH_COMMAND_SIZE, big, "LC_RPATH path")?;
            if edits.delete_rpaths.contains(&path) {
                changed = true;
                continue;
            }
            cmds.extend_from_slice(body);
            rpaths.push(path);
        } else {
            cmds.extend_from_slice(body);
        }
        ncmds += 1;
    }
    for add in &edits.add_rpaths {
        if rpaths.contains(add) {
            continue;
        }
        let mut fixed = [0u8; RPATH_COMMAND_SIZE];
        put_u32(&mut fixed, 0, LC_RPATH, big)?;
        emit_str_command(&mut cmds, &fixed, add, align, big)?;
        rpaths.push(add.clone());
        ncmds += 1;
        changed = true;
    }
    if !changed {
        return Ok(None);
    }

    let arch = layout.arch().name();
    let resign = layout.code_signature.is_some() || layout.cputype == CPU_TYPE_ARM64;
    let extra = if resign && layout.code_signature.is_none() { LINKEDIT_DATA_COMMAND_SIZE } else { 0 };
    let need = cmds.len() + extra;
    let have = layout.low_fileoff.saturating_sub(layout.header_size as u64);
    if need as u64 > have {
        return Err(PatchError::NoRoom {
            what: format!("updated load commands of the {arch} slice"),
            need: need as u64,
            have,
            hint: HEADERPAD_HINT.to_string(),
        });
    }
    let mut out = slice.to_vec();
    let start = layout.header_size;
    let old_end = layout.commands_end();
    let new_end = start + cmds.len();
    put_u32(&mut out, 16, ncmds, big)?;
    put_u32(&mut out, 20, cmds.len() as u32, big)?;
    out[start..new_end].copy_from_slice(&cmds);
    if old_end > new_end {
        out[new_end..old_end].fill(0);
    }
    if resign {
        let identifier = codesign::signature_identifier(slice)
            .or_else(|| edits.identifier.clone())
            .or_else(|| install_id.as_deref().and_then(|id| id.rsplit('/').next()).map(str::to_string))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "a.out".to_string());
        out = codesign::sign_slice(&out, &identifier).map_err(|e| match e {
            PatchError::NoRoom { need, have, .. } => PatchError::NoRoom {
                what: format!("code signature command of the {arch} slice"),
                need,
                have,
                hint: HEADERPAD_HINT.to_string(),
            },
            other => other,
        })?;
    }
    Ok(Some(out))
}

/// Applies `edits` to every slice of `data`, re-signs (ad hoc) every
/// modified slice that was signed or is arm64, and re-checks the result.
/// Slices that no edit touches are left byte for byte.
pub fn apply(data: &[u8], edits: &MachOEdits) -> Result<Vec<u8>, PatchError> {
    edits.validate()?;
    let out = match fat_arches(data)? {
        None => patch_slice(data, edits)?.unwrap_or_else(|| data.to_vec()),
        Some((arches, is64)) => {
            let mut slices: Vec<Option<Vec<u8>>> = Vec::with_capacity(arches.len());
            for a in &arches {
                let bytes = &data[a.offset as usize..(a.offset + a.size) as usize];
                slices.push(patch_slice(bytes, edits)?);
            }
            rebuild_fat(data, &arches, is64, &slices)?
        }
    };
    check(data, &out, edits)?;
    Ok(out)
}

/// Writes a fat file whose slices are `patched` (or the original bytes
/// where `None`). Offsets stay when no slice changed size; otherwise the
/// slices are laid out again in file order, each at its `2^align`.
fn rebuild_fat(
    data: &[u8],
    arches: &[FatArch],
    is64: bool,
    patched: &[Option<Vec<u8>>],
) -> Result<Vec<u8>, PatchError> {
    let slice_of = |i: usize| -> &[u8] {
        match &patched[i] {
            Some(v) => v,
            None => &data[arches[i].offset as usize..(arches[i].offset + arches[i].size) as usize],
        }
    };
    let same_size = (0..arches.len()).all(|i| slice_of(i).len() as u64 == arches[i].size);
    let mut out;
    let mut placed = arches.to_vec();
    if same_size {
        out = data.to_vec();
        for (i, a) in arches.iter().enumerate() {
            out[a.offset as usize..(a.offset + a.size) as usize].copy_from_slice(slice_of(i));
        }
    } else {
        let entry = if is64 { 32 } else { 20 };
        let header_end = 8 + entry * arches.len();
        let mut order: Vec<usize> = (0..arches.len()).collect();
        order.sort_by_key(|&i| arches[i].offset);
        out = data[..header_end].to_vec();
        for i in order {
            let at = align_up_usize(out.len(), 1usize << arches[i].align);
            out.resize(at, 0);
            out.extend_from_slice(slice_of(i));
            placed[i].offset = at as u64;
            placed[i].size = slice_of(i).len() as u64;
        }
    }
    write_fat_header(&mut out, &placed, is64)?;
    Ok(out)
}

fn write_fat_header(out: &mut [u8], arches: &[FatArch], is64: bool) -> Result<(), PatchError> {
    put_u32(out, 0, if is64 { FAT_MAGIC_64 } else { FAT_MAGIC }, true)?;
    put_u32(out, 4, arches.len() as u32, true)?;
    for (i, a) in arches.iter().enumerate() {
        if is64 {
            let at = 8 + 32 * i;
            put_u32(out, at, a.cputype, true)?;
            put_u32(out, at + 4, a.cpusubtype, true)?;
            codesign::put_u64(out, at + 8, a.offset, true)?;
            codesign::put_u64(out, at + 16, a.size, true)?;
            put_u32(out, at + 24, a.align, true)?;
            put_u32(out, at + 28, 0, true)?;
        } else {
            let at = 8 + 20 * i;
            let too_big = || PatchError::Unsupported("slice offset past 4 GiB in a 32-bit fat header".into());
            put_u32(out, at, a.cputype, true)?;
            put_u32(out, at + 4, a.cpusubtype, true)?;
            put_u32(out, at + 8, u32::try_from(a.offset).map_err(|_| too_big())?, true)?;
            put_u32(out, at + 12, u32::try_from(a.size).map_err(|_| too_big())?, true)?;
            put_u32(out, at + 16, a.align, true)?;
        }
    }
    Ok(())
}

/// The slice byte ranges of a thin or fat file.
fn slice_ranges(data: &[u8]) -> Result<Vec<&[u8]>, ParseError> {
    Ok(match fat_arches(data)? {
        None => vec![data],
        Some((arches, _)) => arches.iter().map(|a| &data[a.offset as usize..(a.offset + a.size) as usize]).collect(),
    })
}

/// Re-parses the output and checks that it is what the edits asked for,
/// that the commands still fit and that every rewritten signed slice verifies.
fn check(input: &[u8], out: &[u8], edits: &MachOEdits) -> Result<(), PatchError> {
    let verify = |m: String| PatchError::Verify(m);
    let before = parse(input)?;
    let after = parse(out).map_err(|e| verify(format!("output does not parse: {e}")))?;
    if after.slices.len() != before.slices.len() || after.fat != before.fat {
        return Err(verify("slice count changed".into()));
    }
    let old_ranges = slice_ranges(input)?;
    let new_ranges = slice_ranges(out).map_err(|e| verify(e.to_string()))?;
    for (((b, a), old), new) in before.slices.iter().zip(&after.slices).zip(old_ranges).zip(new_ranges) {
        let want = edits.expected(b);
        let arch = a.arch.name();
        if a.id != want.id || a.deps != want.deps || a.rpaths != want.rpaths || a.arch != want.arch {
            return Err(verify(format!("{arch} slice does not carry the requested names")));
        }
        if old == new {
            continue;
        }
        let layout = SliceLayout::parse(new).map_err(|e| verify(e.to_string()))?;
        if (layout.commands_end() as u64) > layout.low_fileoff {
            return Err(verify(format!("{arch} slice: load commands overlap section data")));
        }
        if a.signed || a.arch == crate::binary::macho::MachOArch::Arm64 {
            match codesign::verify_slice(new).map_err(|e| verify(e.to_string()))? {
                SignatureStatus::Valid(_) => {}
                other => return Err(verify(format!("{arch} slice signature: {other:?}"))),
            }
        }
    }
    Ok(())
}

/// The slice alignment `lipo` picks: the lowest power of two dividing every
/// segment's `vmaddr` (a zero `vmaddr` does not count), clamped to 2^2..2^15.
fn lipo_alignment(layout: &SliceLayout) -> u32 {
    let min = layout.segments.iter().filter(|s| s.vmaddr != 0).map(|s| s.vmaddr.trailing_zeros()).min().unwrap_or(15);
    min.clamp(2, 15)
}

/// Builds a fat (universal) file from thin files (what `lipo -create` does):
/// slices ordered by alignment with arm64 last, each placed at its
/// alignment, with a 32-bit fat header unless an offset needs 64 bits.
pub fn create_fat(thin: &[&[u8]]) -> Result<Vec<u8>, PatchError> {
    if thin.is_empty() {
        return Err(PatchError::InvalidEdit("a fat file needs at least one slice".into()));
    }
    let mut arches: Vec<(FatArch, &[u8])> = Vec::with_capacity(thin.len());
    for (i, t) in thin.iter().enumerate() {
        if fat_arches(t)?.is_some() {
            return Err(PatchError::InvalidEdit(format!("input {i} is already a fat file")));
        }
        let layout = SliceLayout::parse(t)?;
        if arches.iter().any(|(a, _)| a.cputype == layout.cputype && a.cpusubtype == layout.cpusubtype) {
            return Err(PatchError::InvalidEdit(format!(
                "two inputs have the same architecture ({})",
                layout.arch().name()
            )));
        }
        let arch = FatArch {
            cputype: layout.cputype,
            cpusubtype: layout.cpusubtype,
            offset: 0,
            size: t.len() as u64,
            align: lipo_alignment(&layout),
        };
        arches.push((arch, t));
    }
    arches.sort_by_key(|(a, _)| (a.cputype == CPU_TYPE_ARM64, a.align));
    let layout_with = |entry: usize| {
        let mut end = 8 + entry * arches.len();
        let mut offsets = Vec::with_capacity(arches.len());
        for (a, t) in &arches {
            let at = align_up_usize(end, 1usize << a.align);
            offsets.push(at);
            end = at + t.len();
        }
        (offsets, end)
    };
    let (offsets, end) = layout_with(20);
    let is64 = end as u64 > u64::from(u32::MAX);
    let (offsets, _) = if is64 { layout_with(32) } else { (offsets, end) };
    let mut out = vec![0u8; 8 + if is64 { 32 } else { 20 } * arches.len()];
    let mut placed = Vec::with_capacity(arches.len());
    for ((a, t), at) in arches.iter().zip(offsets) {
        out.resize(at, 0);
        out.extend_from_slice(t);
        placed.push(FatArch { offset: at as u64, ..*a });
    }
    write_fat_header(&mut out, &placed, is64)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> Vec<u8> {
        let p = format!("{}/fixtures/macho/{rel}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e} (run fixtures/macho/build.sh)"))
    }

    fn edits() -> MachOEdits {
        MachOEdits {
            set_id: Some("/DLC/x/libfoo.dylib".into()),
            change_dylibs: vec![("@rpath/libfoo.dylib".into(), "@loader_path/.dylibs/libfoo.dylib".into())],
            delete_rpaths: vec!["/opt/fake/lib".into()],
            add_rpaths: vec!["@loader_path/../x".into()],
            identifier: None,
        }
    }

    #[test]
    fn rewrites_32_bit_slices_of_either_byte_order() {
        for big in [false, true] {
            let data = crate::binary::macho::tests::mini(false, big);
            let e = MachOEdits {
                set_id: Some("@loader_path/libmini-1.dylib".into()),
                change_dylibs: vec![("/usr/lib/libSystem.B.dylib".into(), "/usr/lib/libSystem.dylib".into())],
                delete_rpaths: vec!["@loader_path/../lib".into()],
                add_rpaths: vec!["@loader_path/a".into(), "@loader_path/bb".into()],
                identifier: None,
            };
            let out = apply(&data, &e).unwrap();
            let s = &parse(&out).unwrap().slices[0];
            assert_eq!(s.id.as_deref(), Some("@loader_path/libmini-1.dylib"));
            assert_eq!(s.deps[0].name, "/usr/lib/libSystem.dylib");
            assert_eq!(s.deps[0].kind, DylibKind::Weak);
            assert_eq!(s.rpaths, ["@loader_path/a", "@loader_path/bb"]);
            let layout = SliceLayout::parse(&out).unwrap();
            // 32-bit: sizes rounded to 4, not 8: "@loader_path/a" (14 + 1 + 12 = 27 -> 28).
            let last = layout.commands.last().unwrap();
            assert_eq!((last.cmd, last.size), (LC_RPATH, 12 + 16));
            assert!(layout.commands.iter().any(|c| c.cmd == LC_RPATH && c.size == 28));
            assert!(layout.commands.iter().all(|c| c.size % 4 == 0));
            assert_eq!(out.len(), data.len());
            assert!(out[layout.commands_end()..0x400].iter().all(|&b| b == 0));
            assert_eq!(out[0x400..], data[0x400..]);
        }
    }

    #[test]
    fn refuses_to_cut_linkedit_data_after_the_signature() {
        let data = fixture("arm64/libfoo_abs.dylib");
        let layout = SliceLayout::parse(&data).unwrap();
        let cs = layout.code_signature.unwrap();
        let symtab = layout.commands.iter().find(|c| c.cmd == 0x2).unwrap().offset;
        let stroff = crate::binary::macho::read_u32(&data, symtab + 16, false).unwrap();
        let mut d = data.clone();
        // Let the string table run 8 bytes into the signature.
        put_u32(&mut d, symtab + 20, cs.dataoff - stroff + 8, false).unwrap();
        let err = codesign::sign_slice(&d, "x").unwrap_err();
        assert!(matches!(err, PatchError::Unsupported(ref m) if m.contains("past the code signature")), "{err}");
        assert!(codesign::sign_slice(&data, "libfoo_abs.dylib").unwrap() == data);
    }

    #[test]
    fn rejects_unusable_names() {
        let data = fixture("arm64/ext.cpython-312-darwin.so");
        for bad in ["", "a\0b"] {
            let e = MachOEdits { add_rpaths: vec![bad.into()], ..Default::default() };
            assert!(matches!(apply(&data, &e), Err(PatchError::InvalidEdit(_))));
        }
        let e = MachOEdits { set_id: Some("x".repeat(MAX_NAME + 1)), ..Default::default() };
        assert!(matches!(apply(&data, &e), Err(PatchError::InvalidEdit(_))));
    }

    #[test]
    fn corrupted_inputs_never_panic() {
        let data = fixture("universal2/ext.cpython-312-darwin.so");
        let e = edits();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let (mut ok, mut failed) = (0, 0);
        for round in 0..1500 {
            let mut d = data.clone();
            for _ in 0..1 + round % 3 {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                // fat header, x86_64 commands (at 4096) or arm64 commands (at 32768)
                let base = [0usize, 4096, 32768][(seed >> 61) as usize % 3];
                let pos = base + (seed >> 24) as usize % if base == 0 { 48 } else { 1400 };
                d[pos] = (seed >> 8) as u8;
            }
            match apply(&d, &e) {
                Ok(out) => {
                    assert!(parse(&out).is_ok(), "round {round}: output does not parse");
                    ok += 1;
                }
                Err(_) => failed += 1,
            }
        }
        assert!(ok > 0 && failed > 0, "ok {ok}, failed {failed}");
    }

    #[test]
    fn corrupted_signatures_never_panic() {
        let data = fixture("arm64/ext.cpython-312-darwin.so");
        let layout = SliceLayout::parse(&data).unwrap();
        let cs = layout.code_signature.unwrap();
        // The hashes start after the 24-byte blob headers, the 88-byte
        // CodeDirectory and the identifier padded to 16.
        let hashes = cs.dataoff as usize + 144;
        let mut seed: u64 = 7;
        let mut invalid = 0;
        for _ in 0..2000 {
            let mut d = data.clone();
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let pos = cs.dataoff as usize + (seed >> 33) as usize % cs.datasize as usize;
            d[pos] ^= ((seed >> 8) as u8) | 1;
            match codesign::verify_slice(&d).unwrap() {
                SignatureStatus::Valid(_) => assert!(pos < hashes, "hash byte {pos} changed but still valid"),
                _ => invalid += 1,
            }
            let _ = codesign::signature_identifier(&d);
        }
        assert!(invalid > 1000, "only {invalid} corruptions detected");
    }
}
