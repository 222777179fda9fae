//! ELF notes: the GNU property note and the x86 ISA level it carries.

use super::{ElfFile, ElfInfo, Phdr, PT_GNU_PROPERTY, PT_NOTE};
use crate::bytes::{align_up, u32_at};

const NT_GNU_PROPERTY_TYPE_0: u32 = 5;
const GNU_PROPERTY_X86_ISA_1_NEEDED: u32 = 0xc000_8002;

/// Reads the x86 ISA level from the GNU property notes into `info`
/// (PT_GNU_PROPERTY, or the PT_NOTE segments when there is none).
pub(super) fn read_property_notes(f: &ElfFile<'_>, info: &mut ElfInfo) {
    // Prefer PT_GNU_PROPERTY; fall back to PT_NOTE segments.
    let mut segs: Vec<&Phdr> = f.phdrs.iter().filter(|p| p.p_type == PT_GNU_PROPERTY).collect();
    if segs.is_empty() {
        segs = f.phdrs.iter().filter(|p| p.p_type == PT_NOTE).collect();
    }
    for p in segs {
        let Ok(bytes) = f.range(p.p_offset, p.p_filesz) else { continue };
        let align = if p.p_align == 8 { 8 } else { 4 };
        for (name, ntype, desc) in notes(f, bytes, align) {
            if name == b"GNU" && ntype == NT_GNU_PROPERTY_TYPE_0 {
                if let Some(v) = x86_isa_needed(f, desc) {
                    info.x86_isa_needed = Some(info.x86_isa_needed.unwrap_or(0) | v);
                }
            }
        }
    }
}

/// Splits a note segment into `(name without NUL, type, desc)`.
pub fn notes<'b>(f: &ElfFile<'_>, bytes: &'b [u8], align: u64) -> Vec<(&'b [u8], u32, &'b [u8])> {
    let rd = |o: usize| u32_at(bytes, o, f.order());
    let up = |x: usize| align_up(x as u64, align).and_then(|v| usize::try_from(v).ok());
    let mut out = Vec::new();
    let mut o = 0usize;
    while o + 12 <= bytes.len() {
        let (Some(namesz), Some(descsz), Some(ntype)) = (rd(o), rd(o + 4), rd(o + 8)) else { break };
        let name_start = o + 12;
        let Some(name_end) = name_start.checked_add(namesz as usize) else { break };
        let Some(desc_start) = up(name_end) else { break };
        let Some(desc_end) = desc_start.checked_add(descsz as usize) else { break };
        let (Some(name), Some(desc)) = (bytes.get(name_start..name_end), bytes.get(desc_start..desc_end)) else {
            break;
        };
        let name = name.strip_suffix(b"\0").unwrap_or(name);
        out.push((name, ntype, desc));
        let Some(next) = up(desc_end) else { break };
        if next <= o {
            break;
        }
        o = next;
    }
    out
}

fn x86_isa_needed(f: &ElfFile<'_>, desc: &[u8]) -> Option<u32> {
    let rd = |o: usize| u32_at(desc, o, f.order());
    let align = if f.is64 { 8 } else { 4 };
    let mut o = 0usize;
    let mut found = None;
    while o + 8 <= desc.len() {
        let pr_type = rd(o)?;
        let sz = rd(o + 4)? as usize;
        if pr_type == GNU_PROPERTY_X86_ISA_1_NEEDED && sz >= 4 {
            found = Some(found.unwrap_or(0) | rd(o + 8)?);
        }
        let end = (o + 8).checked_add(sz)?;
        o = usize::try_from(align_up(end as u64, align)?).ok()?;
    }
    found
}
