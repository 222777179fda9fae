//! A text dump of a PE file for the golden files in `tests/golden/pe`, read
//! with goblin (import descriptors and their thunks, exports, the load
//! config) and the small header reader below (headers, sections, data
//! directories, delay-load descriptors and their thunks, debug entries, the
//! checksum recomputed), never with wheelfix's own parser.
//!
//! The first line is the file's size and sha256, so any changed byte shows.

use std::fmt::Write;

use goblin::pe::import::SyntheticImportLookupTableEntry;
use sha2::{Digest, Sha256};

const DIRECTORIES: [&str; 16] = [
    "export",
    "import",
    "resource",
    "exception",
    "certificate",
    "base relocation",
    "debug",
    "architecture",
    "global ptr",
    "tls",
    "load config",
    "bound import",
    "iat",
    "delay import",
    "clr runtime",
    "reserved",
];

fn le16(d: &[u8], o: usize) -> u16 {
    u16::from_le_bytes(d[o..o + 2].try_into().expect("2 bytes"))
}

fn le32(d: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(d[o..o + 4].try_into().expect("4 bytes"))
}

fn le64(d: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(d[o..o + 8].try_into().expect("8 bytes"))
}

/// What the dump needs from the headers.
struct Layout {
    coff: usize,
    opt: usize,
    is_64: bool,
    image_base: u64,
    table: usize,
    /// (va, virtual size, raw pointer, raw size) of each section.
    sections: Vec<(u32, u32, u32, u32)>,
}

impl Layout {
    fn read(d: &[u8]) -> Layout {
        let coff = le32(d, 0x3c) as usize + 4;
        let opt = coff + 20;
        let is_64 = le16(d, opt) == 0x20b;
        let image_base = if is_64 { le64(d, opt + 24) } else { u64::from(le32(d, opt + 28)) };
        let table = opt + le16(d, coff + 16) as usize;
        let sections = (0..le16(d, coff + 2) as usize)
            .map(|i| {
                let s = table + 40 * i;
                (le32(d, s + 12), le32(d, s + 8), le32(d, s + 20), le32(d, s + 16))
            })
            .collect();
        Layout { coff, opt, is_64, image_base, table, sections }
    }

    fn dir(&self, d: &[u8], i: usize) -> (u32, u32) {
        let at = self.opt + if self.is_64 { 112 } else { 96 } + 8 * i;
        (le32(d, at), le32(d, at + 4))
    }

    fn off(&self, rva: u32) -> usize {
        let s = self
            .sections
            .iter()
            .find(|(va, vs, _, rs)| rva >= *va && rva < va + (*vs).max(*rs))
            .unwrap_or_else(|| panic!("RVA {rva:#x} in no section"));
        (rva - s.0 + s.2) as usize
    }

    fn cstr(&self, d: &[u8], rva: u32) -> String {
        let o = self.off(rva);
        let n = d[o..].iter().position(|&b| b == 0).expect("string ends");
        String::from_utf8_lossy(&d[o..o + n]).into_owned()
    }
}

/// The checksum as the loader computes it: 16-bit words summed with carry,
/// the checksum field skipped, plus the file length.
fn checksum(d: &[u8], field: usize) -> u32 {
    let mut sum: u32 = 0;
    for (i, c) in d.chunks(2).enumerate() {
        if i * 2 == field || i * 2 == field + 2 {
            continue;
        }
        let w = u32::from(c[0]) | c.get(1).map_or(0, |&b| u32::from(b) << 8);
        sum += w;
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum + d.len() as u32
}

/// Dumps `d`, a PE file.
pub fn dump(d: &[u8]) -> String {
    let pe = goblin::pe::PE::parse(d).expect("goblin parses the file");
    let l = Layout::read(d);
    let mut out = format!(
        "file: {} bytes, sha256 {}\n",
        d.len(),
        Sha256::digest(d).iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let c = l.coff;
    writeln!(
        out,
        "coff: e_lfanew {:#x} machine {:#x} sections {} timestamp {:#x} symtab {:#x} nsyms {} optsize {} characteristics {:#06x}",
        le32(d, 0x3c),
        le16(d, c),
        le16(d, c + 2),
        le32(d, c + 4),
        le32(d, c + 8),
        le32(d, c + 12),
        le16(d, c + 16),
        le16(d, c + 18)
    )
    .unwrap();
    optional_header(&mut out, d, &l);
    for (i, name) in DIRECTORIES.iter().enumerate() {
        let (rva, size) = l.dir(d, i);
        if rva != 0 || size != 0 {
            writeln!(out, "directory {i} ({name}): rva {rva:#x} size {size:#x}").unwrap();
        }
    }
    section_table(&mut out, d, &l);
    imports(&mut out, &pe);
    delay_imports(&mut out, d, &l);
    for e in &pe.exports {
        writeln!(out, "export {:?} rva {:#x}", e.name.unwrap_or("<ordinal>"), e.rva).unwrap();
    }
    if let Some(lc) = &pe.load_config_data {
        let flags = lc.directory.dependent_load_flags.map_or("absent".to_string(), |f| format!("{f:#06x}"));
        writeln!(out, "load config: size {:#x} dependent load flags {flags}", lc.directory.size).unwrap();
    }
    debug_entries(&mut out, d, &l);
    let data_end = l.sections.iter().map(|s| s.2 + s.3).max().unwrap_or(0) as usize;
    let cert = l.dir(d, 4);
    let end = if cert.0 != 0 && cert.0 as usize >= data_end { cert.0 as usize } else { d.len() };
    writeln!(out, "overlay: {} bytes after the last section's data", end.saturating_sub(data_end)).unwrap();
    out
}

fn optional_header(out: &mut String, d: &[u8], l: &Layout) {
    let o = l.opt;
    let (win, sizes) = if l.is_64 { (o + 24, 8) } else { (o + 28, 4) };
    let word = |at: usize| if sizes == 8 { le64(d, at) } else { u64::from(le32(d, at)) };
    writeln!(
        out,
        "optional: magic {:#x} linker {}.{} code {:#x} initdata {:#x} uninitdata {:#x} entry {:#x} image base {:#x}",
        le16(d, o),
        d[o + 2],
        d[o + 3],
        le32(d, o + 4),
        le32(d, o + 8),
        le32(d, o + 12),
        le32(d, o + 16),
        l.image_base
    )
    .unwrap();
    let stored = le32(d, o + 64);
    let computed = checksum(d, o + 64);
    let note = if stored == 0 {
        "not set"
    } else if stored == computed {
        "correct"
    } else {
        "WRONG"
    };
    writeln!(
        out,
        "  alignment {:#x}/{:#x} os {}.{} subsystem {}.{} size of image {:#x} size of headers {:#x} checksum {stored:#x} ({note})",
        le32(d, win + sizes),
        le32(d, win + sizes + 4),
        le16(d, win + sizes + 8),
        le16(d, win + sizes + 10),
        le16(d, win + sizes + 16),
        le16(d, win + sizes + 18),
        le32(d, o + 56),
        le32(d, o + 60)
    )
    .unwrap();
    let after = o + 68;
    writeln!(
        out,
        "  subsystem {} dll characteristics {:#06x} stack {:#x}/{:#x} heap {:#x}/{:#x} directories {}",
        le16(d, after),
        le16(d, after + 2),
        word(after + 4),
        word(after + 4 + sizes),
        word(after + 4 + 2 * sizes),
        word(after + 4 + 3 * sizes),
        le32(d, after + 8 + 4 * sizes)
    )
    .unwrap();
}

fn section_table(out: &mut String, d: &[u8], l: &Layout) {
    for i in 0..l.sections.len() {
        let s = l.table + 40 * i;
        let name = String::from_utf8_lossy(&d[s..s + 8]).trim_end_matches('\0').to_string();
        writeln!(
            out,
            "section {name:?}: vsize {:#x} va {:#x} raw size {:#x} raw ptr {:#x} relocs {:#x} x{} characteristics {:#010x}",
            le32(d, s + 8),
            le32(d, s + 12),
            le32(d, s + 16),
            le32(d, s + 20),
            le32(d, s + 24),
            le16(d, s + 32),
            le32(d, s + 36)
        )
        .unwrap();
    }
    let end = l.table + 40 * l.sections.len();
    let headers = le32(d, l.opt + 60) as usize;
    let free = &d[end..headers.max(end)];
    let zero = if free.iter().all(|&b| b == 0) { "all zero" } else { "NOT all zero" };
    writeln!(out, "header space: section table ends at {end:#x}, {} bytes free, {zero}", free.len()).unwrap();
}

fn imports(out: &mut String, pe: &goblin::pe::PE) {
    let Some(data) = &pe.import_data else { return };
    for e in &data.import_data {
        let de = &e.import_directory_entry;
        writeln!(
            out,
            "import {:?}: lookup {:#x} timestamp {:#x} forwarder {:#x} name {:#x} iat {:#x}",
            e.name,
            de.import_lookup_table_rva,
            de.time_date_stamp,
            de.forwarder_chain,
            de.name_rva,
            de.import_address_table_rva
        )
        .unwrap();
        for t in e.import_lookup_table.iter().flatten() {
            match t {
                SyntheticImportLookupTableEntry::OrdinalNumber(n) => writeln!(out, "  ordinal {n}").unwrap(),
                SyntheticImportLookupTableEntry::HintNameTableRVA((rva, h)) => {
                    writeln!(out, "  {} (hint {} at {rva:#x})", h.name, h.hint).unwrap()
                }
            }
        }
    }
}

/// Delay-load descriptors (RVA or old VA form) and their name thunks.
fn delay_imports(out: &mut String, d: &[u8], l: &Layout) {
    let (rva, _) = l.dir(d, 13);
    if rva == 0 {
        return;
    }
    let base = l.off(rva);
    for k in 0.. {
        let at = base + 32 * k;
        let f: Vec<u32> = (0..8).map(|i| le32(d, at + 4 * i)).collect();
        if f[1] == 0 {
            break;
        }
        // The old form (attributes bit 0 clear) holds VAs; a value below the
        // image base there is taken as the RVA it already is.
        let to_rva = |v: u64| if f[0] & 1 == 0 && v >= l.image_base { (v - l.image_base) as u32 } else { v as u32 };
        writeln!(
            out,
            "delay import {:?}: attributes {:#x} name {:#x} module handle {:#x} iat {:#x} int {:#x} bound {:#x} unload {:#x} timestamp {:#x}",
            l.cstr(d, to_rva(u64::from(f[1]))),
            f[0],
            f[1],
            f[2],
            f[3],
            f[4],
            f[5],
            f[6],
            f[7]
        )
        .unwrap();
        let int = l.off(to_rva(u64::from(f[4])));
        for n in 0.. {
            let (thunk, ordinal) = if l.is_64 {
                let t = le64(d, int + 8 * n);
                (t, t >> 63 == 1)
            } else {
                let t = u64::from(le32(d, int + 4 * n));
                (t, t >> 31 == 1)
            };
            if thunk == 0 {
                break;
            }
            if ordinal {
                writeln!(out, "  ordinal {}", thunk & 0xffff).unwrap();
            } else {
                let hint_rva = to_rva(thunk);
                let hint = le16(d, l.off(hint_rva));
                writeln!(out, "  {} (hint {hint} at {:#x})", l.cstr(d, hint_rva + 2), thunk).unwrap();
            }
        }
    }
}

/// Debug directory entries: type, size, where the data is, its first bytes.
fn debug_entries(out: &mut String, d: &[u8], l: &Layout) {
    let (rva, size) = l.dir(d, 6);
    if rva == 0 {
        return;
    }
    let at = l.off(rva);
    for k in 0..size as usize / 28 {
        let e = at + 28 * k;
        let (kind, len, data_rva, ptr) = (le32(d, e + 12), le32(d, e + 16), le32(d, e + 20), le32(d, e + 24));
        let head = d.get(ptr as usize..ptr as usize + 4.min(len as usize)).unwrap_or(&[]);
        writeln!(
            out,
            "debug {k}: type {kind} size {len:#x} rva {data_rva:#x} ptr {ptr:#x} starts {:?}",
            String::from_utf8_lossy(head)
        )
        .unwrap();
    }
}
