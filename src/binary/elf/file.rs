//! The low-level ELF reader shared by the parser and the rewriter in
//! `patch::elf`: the file header, the program and section header tables,
//! and bounds-checked ranges and integers in the file's class and byte order.

use super::{err, ParseError, PT_LOAD};
use crate::bytes::{u16_at, u32_at, u64_at, Order};

/// One program header, widened to 64 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Phdr {
    /// `p_type`.
    pub p_type: u32,
    /// `p_flags`.
    pub p_flags: u32,
    /// `p_offset`.
    pub p_offset: u64,
    /// `p_vaddr`.
    pub p_vaddr: u64,
    /// `p_paddr`.
    pub p_paddr: u64,
    /// `p_filesz`.
    pub p_filesz: u64,
    /// `p_memsz`.
    pub p_memsz: u64,
    /// `p_align`.
    pub p_align: u64,
}

/// One section header, widened to 64 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shdr {
    /// `sh_name`.
    pub sh_name: u32,
    /// `sh_type`.
    pub sh_type: u32,
    /// `sh_flags`.
    pub sh_flags: u64,
    /// `sh_addr`.
    pub sh_addr: u64,
    /// `sh_offset`.
    pub sh_offset: u64,
    /// `sh_size`.
    pub sh_size: u64,
    /// `sh_link`.
    pub sh_link: u32,
    /// `sh_info`.
    pub sh_info: u32,
    /// `sh_addralign`.
    pub sh_addralign: u64,
    /// `sh_entsize`.
    pub sh_entsize: u64,
}

/// An ELF file opened for reading: header fields, program and section
/// headers, decoded with the file's class and byte order.
#[derive(Debug, Clone)]
pub struct ElfFile<'a> {
    /// The whole file.
    pub data: &'a [u8],
    /// ELFCLASS64.
    pub is64: bool,
    /// ELFDATA2MSB.
    pub big: bool,
    /// `e_type`.
    pub e_type: u16,
    /// `e_machine`.
    pub e_machine: u16,
    /// `e_flags`.
    pub e_flags: u32,
    /// `e_phoff`.
    pub e_phoff: u64,
    /// `e_phentsize`.
    pub e_phentsize: u16,
    /// `e_shoff`.
    pub e_shoff: u64,
    /// `e_shentsize`.
    pub e_shentsize: u16,
    /// `e_shstrndx`.
    pub e_shstrndx: u16,
    /// Program headers in table order.
    pub phdrs: Vec<Phdr>,
    /// Section headers in table order (empty when the file has none or
    /// they are unreadable: sections are optional for loading).
    pub shdrs: Vec<Shdr>,
    /// Set when only parts of `data` hold the file's bytes ([`parse_partial`](super::parse_partial)).
    pub partial: Option<Partial<'a>>,
}

/// The parts of a partly read file that hold its bytes (the rest of `data`
/// is not the file's), and a flag that any read outside them sets.
#[derive(Debug, Clone, Copy)]
pub struct Partial<'a> {
    /// `[start, end)` byte ranges, sorted, not overlapping.
    pub read: &'a [(u64, u64)],
    /// Set by any read that reaches outside `read`.
    pub missing: &'a std::cell::Cell<bool>,
}

impl Partial<'_> {
    /// Whether `[start, end)` lies inside one of the ranges read.
    pub fn covers(&self, start: u64, end: u64) -> bool {
        crate::bytes::ranges_cover(self.read, start, end)
    }
}

impl<'a> ElfFile<'a> {
    /// Parses the file header and the program and section header tables.
    pub fn parse(data: &'a [u8]) -> Result<Self, ParseError> {
        Self::parse_with(data, None)
    }

    /// The file header alone, with `e_phnum` and `e_shnum`: no table is read.
    pub fn header(data: &'a [u8], partial: Option<Partial<'a>>) -> Result<(Self, u16, u16), ParseError> {
        if let Some(p) = partial {
            if !p.covers(0, data.len().min(64) as u64) {
                p.missing.set(true);
                return Err(err("the ELF header is not read yet"));
            }
        }
        if data.len() < 16 || data.get(..4) != Some(b"\x7fELF") {
            return Err(err("not an ELF file (bad magic)"));
        }
        let is64 = match data[4] {
            1 => false,
            2 => true,
            c => return Err(err(format!("unknown ELF class {c}"))),
        };
        let big = match data[5] {
            1 => false,
            2 => true,
            d => return Err(err(format!("unknown ELF data encoding {d}"))),
        };
        let mut f = ElfFile {
            data,
            is64,
            big,
            e_type: 0,
            e_machine: 0,
            e_flags: 0,
            e_phoff: 0,
            e_phentsize: 0,
            e_shoff: 0,
            e_shentsize: 0,
            e_shstrndx: 0,
            phdrs: Vec::new(),
            shdrs: Vec::new(),
            partial,
        };
        let ehsize = if is64 { 64 } else { 52 };
        if data.len() < ehsize {
            return Err(err("truncated ELF header"));
        }
        f.e_type = f.u16(16)?;
        f.e_machine = f.u16(18)?;
        let (phoff, shoff, flags, phentsize, phnum, shentsize, shnum, shstrndx) = if is64 {
            (f.u64(32)?, f.u64(40)?, f.u32(48)?, f.u16(54)?, f.u16(56)?, f.u16(58)?, f.u16(60)?, f.u16(62)?)
        } else {
            (
                u64::from(f.u32(28)?),
                u64::from(f.u32(32)?),
                f.u32(36)?,
                f.u16(42)?,
                f.u16(44)?,
                f.u16(46)?,
                f.u16(48)?,
                f.u16(50)?,
            )
        };
        f.e_phoff = phoff;
        f.e_shoff = shoff;
        f.e_flags = flags;
        f.e_phentsize = phentsize;
        f.e_shentsize = shentsize;
        f.e_shstrndx = shstrndx;
        Ok((f, phnum, shnum))
    }

    /// [`ElfFile::parse`] of a file of which only the parts `partial` lists
    /// are read: every read goes through [`ElfFile::range`], which refuses
    /// (and flags) bytes outside them.
    pub fn parse_with(data: &'a [u8], partial: Option<Partial<'a>>) -> Result<Self, ParseError> {
        let (mut f, phnum, shnum) = Self::header(data, partial)?;
        let (phoff, shoff, phentsize, shentsize) = (f.e_phoff, f.e_shoff, f.e_phentsize, f.e_shentsize);
        if phnum > 0 {
            let want = f.phdr_size();
            if u64::from(phentsize) != want {
                return Err(err(format!("e_phentsize is {phentsize}, expected {want}")));
            }
            f.range(phoff, want * u64::from(phnum))
                .map_err(|_| err("program header table is past the end of the file"))?;
            for i in 0..u64::from(phnum) {
                let p = f.read_phdr(phoff + i * want)?;
                f.phdrs.push(p);
            }
            check_loads(&f.phdrs, data.len() as u64)?;
        }
        // Section headers are optional for loading, but a table that runs
        // past the end of the file is a file cut short or a header that lies:
        // refused. One of another entry size is ignored here (the rewriter
        // checks it separately when it needs it).
        check_shdr_table(shoff, shentsize, shnum, data.len() as u64)?;
        if shnum > 0 && u64::from(shentsize) == f.shdr_size() {
            let want = f.shdr_size();
            if f.range(shoff, want * u64::from(shnum)).is_ok() {
                for i in 0..u64::from(shnum) {
                    let s = f.read_shdr(shoff + i * want)?;
                    f.shdrs.push(s);
                }
            }
        }
        Ok(f)
    }

    /// Size of one program header.
    pub fn phdr_size(&self) -> u64 {
        if self.is64 {
            56
        } else {
            32
        }
    }

    /// Size of one section header.
    pub fn shdr_size(&self) -> u64 {
        if self.is64 {
            64
        } else {
            40
        }
    }

    /// Size of one dynamic entry.
    pub fn dyn_size(&self) -> u64 {
        if self.is64 {
            16
        } else {
            8
        }
    }

    /// Size of one symbol.
    pub fn sym_size(&self) -> u64 {
        if self.is64 {
            24
        } else {
            16
        }
    }

    /// `data[off..off+len]`, or an error when it is not inside the file.
    pub fn range(&self, off: u64, len: u64) -> Result<&'a [u8], ParseError> {
        let end = off.checked_add(len).ok_or_else(|| err("offset overflows"))?;
        let (s, e) = (usize::try_from(off), usize::try_from(end));
        match (s, e) {
            (Ok(s), Ok(e)) if e <= self.data.len() => match self.partial {
                Some(p) if !p.covers(off, end) => {
                    p.missing.set(true);
                    Err(err(format!("range {off:#x}+{len:#x} is not read yet")))
                }
                _ => Ok(&self.data[s..e]),
            },
            _ => Err(err(format!("range {off:#x}+{len:#x} is past the end of the file ({:#x})", self.data.len()))),
        }
    }

    /// The file's byte order, as [`crate::bytes`] takes it.
    pub fn order(&self) -> Order {
        Order::big_if(self.big)
    }

    /// Reads the integer of `size` bytes at `off` with `read`, in the file's
    /// byte order; every read goes through [`ElfFile::range`].
    fn int<T>(&self, off: u64, size: u64, read: fn(&[u8], usize, Order) -> Option<T>) -> Result<T, ParseError> {
        let bytes = self.range(off, size)?;
        // `range` gave exactly `size` bytes: `read` finds them all
        read(bytes, 0, self.order()).ok_or_else(|| err(format!("range {off:#x}+{size:#x} is too short")))
    }

    /// Reads a u16 at `off` in the file's byte order.
    pub fn u16(&self, off: u64) -> Result<u16, ParseError> {
        self.int(off, 2, u16_at)
    }

    /// Reads a u32 at `off` in the file's byte order.
    pub fn u32(&self, off: u64) -> Result<u32, ParseError> {
        self.int(off, 4, u32_at)
    }

    /// Reads a u64 at `off` in the file's byte order.
    pub fn u64(&self, off: u64) -> Result<u64, ParseError> {
        self.int(off, 8, u64_at)
    }

    /// Reads an address-sized word (4 or 8 bytes) at `off`, widened.
    pub fn word(&self, off: u64) -> Result<u64, ParseError> {
        if self.is64 {
            self.u64(off)
        } else {
            self.u32(off).map(u64::from)
        }
    }

    /// Reads a program header at `off`.
    pub fn read_phdr(&self, off: u64) -> Result<Phdr, ParseError> {
        Ok(if self.is64 {
            Phdr {
                p_type: self.u32(off)?,
                p_flags: self.u32(off + 4)?,
                p_offset: self.u64(off + 8)?,
                p_vaddr: self.u64(off + 16)?,
                p_paddr: self.u64(off + 24)?,
                p_filesz: self.u64(off + 32)?,
                p_memsz: self.u64(off + 40)?,
                p_align: self.u64(off + 48)?,
            }
        } else {
            Phdr {
                p_type: self.u32(off)?,
                p_offset: self.word(off + 4)?,
                p_vaddr: self.word(off + 8)?,
                p_paddr: self.word(off + 12)?,
                p_filesz: self.word(off + 16)?,
                p_memsz: self.word(off + 20)?,
                p_flags: self.u32(off + 24)?,
                p_align: self.word(off + 28)?,
            }
        })
    }

    /// Reads a section header at `off`.
    pub fn read_shdr(&self, off: u64) -> Result<Shdr, ParseError> {
        Ok(if self.is64 {
            Shdr {
                sh_name: self.u32(off)?,
                sh_type: self.u32(off + 4)?,
                sh_flags: self.u64(off + 8)?,
                sh_addr: self.u64(off + 16)?,
                sh_offset: self.u64(off + 24)?,
                sh_size: self.u64(off + 32)?,
                sh_link: self.u32(off + 40)?,
                sh_info: self.u32(off + 44)?,
                sh_addralign: self.u64(off + 48)?,
                sh_entsize: self.u64(off + 56)?,
            }
        } else {
            Shdr {
                sh_name: self.u32(off)?,
                sh_type: self.u32(off + 4)?,
                sh_flags: self.word(off + 8)?,
                sh_addr: self.word(off + 12)?,
                sh_offset: self.word(off + 16)?,
                sh_size: self.word(off + 20)?,
                sh_link: self.u32(off + 24)?,
                sh_info: self.u32(off + 28)?,
                sh_addralign: self.word(off + 32)?,
                sh_entsize: self.word(off + 36)?,
            }
        })
    }

    /// The name of a section, from `.shstrtab` (empty when unreadable).
    pub fn section_name(&self, sh: &Shdr) -> &'a [u8] {
        let Some(tab) = self.shdrs.get(usize::from(self.e_shstrndx)) else {
            return b"";
        };
        let Ok(bytes) = self.range(tab.sh_offset, tab.sh_size) else {
            return b"";
        };
        cstr_at(bytes, u64::from(sh.sh_name)).unwrap_or(b"")
    }

    /// Whether one PT_LOAD maps the whole file range of `seg` at the
    /// segment's addresses (its bytes in memory are its bytes in the file).
    pub fn maps_from_file(&self, seg: &Phdr) -> bool {
        self.phdrs.iter().filter(|p| p.p_type == PT_LOAD).any(|l| {
            let Some(delta) = seg.p_vaddr.checked_sub(l.p_vaddr) else { return false };
            seg.p_offset.checked_sub(l.p_offset) == Some(delta)
                && delta.checked_add(seg.p_filesz).is_some_and(|end| end <= l.p_filesz)
        })
    }

    /// The file offset of virtual address `vaddr`, through the PT_LOAD that
    /// maps it from the file.
    pub fn vaddr_to_offset(&self, vaddr: u64) -> Option<u64> {
        self.phdrs.iter().filter(|p| p.p_type == PT_LOAD).find_map(|p| {
            let delta = vaddr.checked_sub(p.p_vaddr)?;
            (delta < p.p_filesz).then(|| p.p_offset.checked_add(delta)).flatten()
        })
    }
}

/// Refuses a section header table that reaches past the end of the file.
/// With `e_shnum` 0 and `e_shoff` set (the count is then in the first
/// entry), the first entry must be inside the file.
fn check_shdr_table(shoff: u64, shentsize: u16, shnum: u16, file_len: u64) -> Result<(), ParseError> {
    let entries = match (shoff, shnum) {
        (0, 0) => return Ok(()),
        (_, 0) => 1,
        (_, n) => u64::from(n),
    };
    let end = shoff.checked_add(u64::from(shentsize) * entries);
    if end.is_none_or(|e| e > file_len) {
        return Err(err(format!(
            "the section header table ({entries} entries at {shoff:#x}) is past the end of the file ({file_len:#x} bytes)"
        )));
    }
    Ok(())
}

/// Refuses PT_LOAD segments no loader can map: a file range past the end
/// of the file, or memory ranges that overlap another PT_LOAD (sharing a
/// page is allowed, sharing bytes is not).
fn check_loads(phdrs: &[Phdr], file_len: u64) -> Result<(), ParseError> {
    let mut loads: Vec<(u64, u64)> = Vec::new();
    for p in phdrs.iter().filter(|p| p.p_type == PT_LOAD) {
        if p.p_offset.checked_add(p.p_filesz).is_none_or(|e| e > file_len) {
            return Err(err(format!("PT_LOAD at {:#x} is past the end of the file", p.p_vaddr)));
        }
        let end = p.p_vaddr.checked_add(p.p_memsz).ok_or_else(|| err("PT_LOAD end overflows"))?;
        loads.push((p.p_vaddr, end));
    }
    loads.sort_unstable();
    for pair in loads.windows(2) {
        if pair[1].0 < pair[0].1 {
            return Err(err(format!("PT_LOAD at {:#x} overlaps PT_LOAD at {:#x}", pair[1].0, pair[0].0)));
        }
    }
    Ok(())
}

/// The NUL-terminated string at `off` in `table` (without the NUL).
pub fn cstr_at(table: &[u8], off: u64) -> Option<&[u8]> {
    let start = usize::try_from(off).ok()?;
    let rest = table.get(start..)?;
    let len = memchr::memchr(0, rest)?;
    Some(&rest[..len])
}
