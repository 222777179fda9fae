//! A text dump of a Mach-O file (thin or fat) for the golden files in
//! `tests/golden/macho`, read with goblin and the small code-signature
//! reader below, never with wheelfix's own parser.
//!
//! Per slice: the header, every load command with its fields (dylib names
//! with their offsets and versions, ids, rpaths, segments and their sections,
//! linkedit ranges, build versions), the free header space and whether it is
//! zero, and the code signature's SuperBlob and CodeDirectory fields with
//! every special and code slot hash, each code slot checked against its page.
//! The first line is the file's size and sha256, so any changed byte shows.

use std::fmt::Write;

use goblin::mach::load_command::{cmd_to_str, CommandVariant, LoadCommand};
use goblin::mach::{Mach, MachO, SingleArch};
use sha2::{Digest, Sha256};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// A 16-byte, NUL-padded name.
fn name16(n: &[u8; 16]) -> String {
    String::from_utf8_lossy(n.split(|&b| b == 0).next().unwrap_or(&[])).into_owned()
}

/// `x.y.z` of a packed Mach-O version.
fn version(v: u32) -> String {
    format!("{}.{}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff)
}

fn cpu(c: u32) -> &'static str {
    match c {
        0x0100_000c => "arm64",
        0x0100_0007 => "x86_64",
        0x7 => "i386",
        0xc => "arm",
        _ => "?",
    }
}

/// Dumps `data`, a thin or fat Mach-O file.
pub fn dump(data: &[u8]) -> String {
    let mut out = format!("file: {} bytes, sha256 {}\n", data.len(), hex(&Sha256::digest(data)));
    match Mach::parse(data).expect("goblin parses the file") {
        Mach::Binary(_) => slice(&mut out, data, None),
        Mach::Fat(fat) => {
            let arches = fat.arches().expect("goblin reads the fat header");
            writeln!(out, "fat: magic {:#010x}, {} arches", be32(data, 0), arches.len()).unwrap();
            for (i, a) in arches.iter().enumerate() {
                writeln!(
                    out,
                    "arch {i}: cputype {:#x} ({}) cpusubtype {:#x} offset {} size {} align 2^{}",
                    a.cputype,
                    cpu(a.cputype),
                    a.cpusubtype,
                    a.offset,
                    a.size,
                    a.align
                )
                .unwrap();
                assert!(matches!(fat.get(i), Ok(SingleArch::MachO(_))), "goblin reads slice {i}");
            }
            for (i, a) in arches.iter().enumerate() {
                let (start, end) = (a.offset as usize, (a.offset + a.size) as usize);
                slice(&mut out, &data[start..end], Some(i));
            }
        }
    }
    out
}

/// Dumps one thin slice (`data` holds that slice only): slice `index` of a
/// fat file, or the whole thin file.
fn slice(out: &mut String, data: &[u8], index: Option<usize>) {
    let m = MachO::parse(data, 0).expect("goblin parses the slice");
    let h = &m.header;
    match index {
        Some(i) => writeln!(out, "slice {i}: {} bytes, sha256 {}", data.len(), hex(&Sha256::digest(data))).unwrap(),
        None => out.push_str("thin file\n"),
    }
    writeln!(
        out,
        "  header: magic {:#010x} cputype {:#x} ({}) cpusubtype {:#x} filetype {} ncmds {} sizeofcmds {} flags {:#010x}",
        h.magic,
        h.cputype,
        cpu(h.cputype),
        h.cpusubtype,
        h.filetype,
        h.ncmds,
        h.sizeofcmds,
        h.flags
    )
    .unwrap();
    let mut signature = None;
    for (i, lc) in m.load_commands.iter().enumerate() {
        if let CommandVariant::CodeSignature(cs) = lc.command {
            signature = Some((cs.dataoff as usize, cs.datasize as usize));
        }
        command(out, data, i, lc);
    }
    header_space(out, data, &m);
    if let Some((off, size)) = signature {
        code_signature(out, data, off, size);
    }
}

/// The NUL-terminated string `at` bytes into the load command `lc`.
fn lc_str(data: &[u8], lc: &LoadCommand, at: u32) -> String {
    let start = lc.offset + at as usize;
    let end = lc.offset + lc.command.cmdsize();
    let bytes = &data[start..end];
    let n = bytes.iter().position(|&b| b == 0).expect("the string ends inside its command");
    let pad = if bytes[n..].iter().all(|&b| b == 0) { "zero" } else { "NOT ZERO" };
    format!("{:?} (at {at}, padding {pad})", String::from_utf8_lossy(&bytes[..n]))
}

/// One line for the load command (more for segments and build versions).
fn command(out: &mut String, data: &[u8], i: usize, lc: &LoadCommand) {
    use CommandVariant as C;
    let c = &lc.command;
    write!(out, "  lc {i} {} cmdsize {}:", cmd_to_str(c.cmd()), c.cmdsize()).unwrap();
    match c {
        C::Segment64(s) => {
            writeln!(
                out,
                " {} vmaddr {:#x} vmsize {:#x} fileoff {} filesize {} maxprot {:#x} initprot {:#x} nsects {} flags {:#x}",
                name16(&s.segname),
                s.vmaddr,
                s.vmsize,
                s.fileoff,
                s.filesize,
                s.maxprot,
                s.initprot,
                s.nsects,
                s.flags
            )
            .unwrap();
            sections(out, data, lc.offset + 72, s.nsects as usize);
            return;
        }
        C::LoadDylib(d)
        | C::IdDylib(d)
        | C::LoadWeakDylib(d)
        | C::ReexportDylib(d)
        | C::LazyLoadDylib(d)
        | C::LoadUpwardDylib(d) => write!(
            out,
            " name {} timestamp {} current {} compat {}",
            lc_str(data, lc, d.dylib.name),
            d.dylib.timestamp,
            version(d.dylib.current_version),
            version(d.dylib.compatibility_version)
        )
        .unwrap(),
        C::Rpath(r) => write!(out, " path {}", lc_str(data, lc, r.path)).unwrap(),
        C::LoadDylinker(d) | C::IdDylinker(d) | C::DyldEnvironment(d) => {
            write!(out, " name {}", lc_str(data, lc, d.name)).unwrap()
        }
        C::CodeSignature(l)
        | C::SegmentSplitInfo(l)
        | C::FunctionStarts(l)
        | C::DataInCode(l)
        | C::DylibCodeSignDrs(l)
        | C::LinkerOptimizationHint(l)
        | C::DyldExportsTrie(l)
        | C::DyldChainedFixups(l) => write!(out, " dataoff {} datasize {}", l.dataoff, l.datasize).unwrap(),
        C::Symtab(s) => {
            write!(out, " symoff {} nsyms {} stroff {} strsize {}", s.symoff, s.nsyms, s.stroff, s.strsize).unwrap()
        }
        C::Dysymtab(d) => write!(
            out,
            " locals {}+{} extdefs {}+{} undefs {}+{} indirect {} x{} extrel {} x{} locrel {} x{}",
            d.ilocalsym,
            d.nlocalsym,
            d.iextdefsym,
            d.nextdefsym,
            d.iundefsym,
            d.nundefsym,
            d.indirectsymoff,
            d.nindirectsyms,
            d.extreloff,
            d.nextrel,
            d.locreloff,
            d.nlocrel
        )
        .unwrap(),
        C::DyldInfo(d) | C::DyldInfoOnly(d) => write!(
            out,
            " rebase {}+{} bind {}+{} weak {}+{} lazy {}+{} export {}+{}",
            d.rebase_off,
            d.rebase_size,
            d.bind_off,
            d.bind_size,
            d.weak_bind_off,
            d.weak_bind_size,
            d.lazy_bind_off,
            d.lazy_bind_size,
            d.export_off,
            d.export_size
        )
        .unwrap(),
        C::Uuid(u) => write!(out, " {}", hex(&u.uuid)).unwrap(),
        C::BuildVersion(b) => {
            write!(
                out,
                " platform {} minos {} sdk {} ntools {}",
                b.platform,
                version(b.minos),
                version(b.sdk),
                b.ntools
            )
            .unwrap();
            for t in 0..b.ntools as usize {
                let at = lc.offset + 24 + 8 * t;
                write!(out, "; tool {} {}", le32(data, at), version(le32(data, at + 4))).unwrap();
            }
        }
        C::VersionMinMacosx(v) => write!(out, " version {} sdk {}", version(v.version), version(v.sdk)).unwrap(),
        C::SourceVersion(v) => write!(out, " version {:#x}", v.version).unwrap(),
        other => {
            let start = lc.offset + 8;
            write!(out, " body {}", hex(&data[start..lc.offset + other.cmdsize()])).unwrap()
        }
    }
    out.push('\n');
}

/// The `n` 64-bit section headers starting at `at`.
fn sections(out: &mut String, data: &[u8], at: usize, n: usize) {
    for k in 0..n {
        let s = at + 80 * k;
        let name = |o: usize| name16(data[s + o..s + o + 16].try_into().expect("16 bytes"));
        let le64 = |o: usize| u64::from_le_bytes(data[s + o..s + o + 8].try_into().expect("8 bytes"));
        writeln!(
            out,
            "    section {},{} addr {:#x} size {:#x} offset {} align 2^{} reloff {} nreloc {} flags {:#010x} reserved {} {}",
            name(16),
            name(0),
            le64(32),
            le64(40),
            le32(data, s + 48),
            le32(data, s + 52),
            le32(data, s + 56),
            le32(data, s + 60),
            le32(data, s + 64),
            le32(data, s + 68),
            le32(data, s + 72)
        )
        .unwrap();
    }
}

/// The file offset of the first byte a segment or a non-empty, non-zerofill
/// section holds (what the load commands may grow up to); `u64::MAX` when none.
pub fn first_content_offset(m: &MachO) -> u64 {
    let mut low = u64::MAX;
    for seg in m.segments.iter() {
        let sections = seg.sections().expect("goblin reads the sections");
        if sections.is_empty() && seg.filesize != 0 {
            low = low.min(seg.fileoff);
        }
        for (s, _) in sections {
            let zerofill = matches!(s.flags & 0xff, 0x1 | 0xc | 0x12);
            if s.size != 0 && !zerofill {
                low = low.min(u64::from(s.offset));
            }
        }
    }
    low
}

/// Free space between the load commands and the first section's data.
fn header_space(out: &mut String, data: &[u8], m: &MachO) {
    let low = first_content_offset(m);
    let end = if m.is_64 { 32 } else { 28 } + m.header.sizeofcmds as usize;
    let free = &data[end..low as usize];
    let zero = if free.iter().all(|&b| b == 0) { "all zero" } else { "NOT all zero" };
    writeln!(out, "  header space: {} bytes free after the load commands, {zero}", free.len()).unwrap();
}

fn blob_kind(magic: u32) -> &'static str {
    match magic {
        0xfade_0c02 => "CodeDirectory",
        0xfade_0c01 => "Requirements",
        0xfade_7171 => "Entitlements",
        0xfade_7172 => "DER entitlements",
        0xfade_0b01 => "CMS signature",
        _ => "unknown",
    }
}

/// The SuperBlob at `off` of `slice` and every blob it indexes.
fn code_signature(out: &mut String, slice: &[u8], off: usize, size: usize) {
    let blob = &slice[off..off + size];
    let (magic, length, count) = (be32(blob, 0), be32(blob, 4), be32(blob, 8));
    writeln!(out, "  signature: SuperBlob magic {magic:#010x} length {length} count {count}").unwrap();
    let used = length as usize;
    let rest = if blob[used..].iter().all(|&b| b == 0) { "zero" } else { "NOT zero" };
    writeln!(out, "    {} bytes after the SuperBlob up to datasize, {rest}", size - used).unwrap();
    for i in 0..count as usize {
        let (slot, at) = (be32(blob, 12 + 8 * i), be32(blob, 16 + 8 * i) as usize);
        let (bm, bl) = (be32(blob, at), be32(blob, at + 4) as usize);
        let body = &blob[at..at + bl];
        writeln!(out, "    blob {i}: slot {slot:#x} offset {at} magic {bm:#010x} ({}) length {bl}", blob_kind(bm))
            .unwrap();
        if bm == 0xfade_0c02 {
            code_directory(out, slice, blob, body, off);
        } else {
            writeln!(out, "      sha256 {}", hex(&Sha256::digest(body))).unwrap();
        }
    }
}

/// The fields of one CodeDirectory `cd`, its slot hashes, and whether each
/// code slot is the hash of its page of `slice` and each special slot the
/// hash of its blob in `superblob`.
fn code_directory(out: &mut String, slice: &[u8], superblob: &[u8], cd: &[u8], dataoff: usize) {
    let version = be32(cd, 8);
    let (hash_off, ident_off) = (be32(cd, 16) as usize, be32(cd, 20) as usize);
    let (nspecial, ncode, limit) = (be32(cd, 24) as usize, be32(cd, 28) as usize, be32(cd, 32) as usize);
    let (hsize, htype, platform, pshift) = (cd[36] as usize, cd[37], cd[38], cd[39]);
    writeln!(
        out,
        "      version {version:#x} flags {:#x} hashOffset {hash_off} identOffset {ident_off} nSpecialSlots {nspecial} nCodeSlots {ncode}",
        be32(cd, 12)
    )
    .unwrap();
    let limit_note = if limit == dataoff { "= dataoff" } else { "!= dataoff" };
    writeln!(
        out,
        "      codeLimit {limit} ({limit_note}) hashSize {hsize} hashType {htype} platform {platform} pageSize 2^{pshift}"
    )
    .unwrap();
    if version >= 0x20100 {
        write!(out, "      scatterOffset {}", be32(cd, 44)).unwrap();
    }
    if version >= 0x20200 {
        write!(out, " teamOffset {}", be32(cd, 48)).unwrap();
    }
    if version >= 0x20300 {
        write!(out, " codeLimit64 {}", be64(cd, 56)).unwrap();
    }
    if version >= 0x20400 {
        write!(out, " execSegBase {} execSegLimit {} execSegFlags {:#x}", be64(cd, 64), be64(cd, 72), be64(cd, 80))
            .unwrap();
    }
    out.push('\n');
    let ident = &cd[ident_off..];
    let ident = &ident[..ident.iter().position(|&b| b == 0).expect("identifier ends")];
    writeln!(out, "      ident {:?}", String::from_utf8_lossy(ident)).unwrap();
    for k in (1..=nspecial).rev() {
        let h = &cd[hash_off - k * hsize..hash_off - (k - 1) * hsize];
        let blob = special_blob(superblob, k as u32);
        let check = match blob {
            _ if h.iter().all(|&b| b == 0) => "empty",
            Some(b) if hsize == 32 && Sha256::digest(b).as_slice() == h => "matches its blob",
            Some(_) => "DOES NOT match its blob",
            None => "no blob",
        };
        writeln!(out, "      special slot -{k}: {} ({check})", hex(h)).unwrap();
    }
    let page = 1usize << pshift;
    for p in 0..ncode {
        let h = &cd[hash_off + p * hsize..hash_off + (p + 1) * hsize];
        let data = &slice[(p * page).min(limit)..((p + 1) * page).min(limit)];
        let check =
            if htype == 2 && Sha256::digest(data).as_slice() == h { "matches its page" } else { "DOES NOT match" };
        writeln!(out, "      code slot {p}: {} ({check})", hex(h)).unwrap();
    }
}

/// The blob the SuperBlob indexes under special slot `slot`.
fn special_blob(superblob: &[u8], slot: u32) -> Option<&[u8]> {
    (0..be32(superblob, 8) as usize).find_map(|i| {
        (be32(superblob, 12 + 8 * i) == slot).then(|| {
            let at = be32(superblob, 16 + 8 * i) as usize;
            &superblob[at..at + be32(superblob, at + 4) as usize]
        })
    })
}
