//! Linker-style ad-hoc code signature for Mach-O slices (SHA-256, 4 KiB pages).
//!
//! [`sign_slice`] writes exactly what `ld64` and `ld64.lld` emit for an
//! ad-hoc signed output: a SuperBlob holding one CodeDirectory (version
//! 0x20400, flags `CS_ADHOC | CS_LINKER_SIGNED`, no special slots) whose
//! page hashes cover every byte before the signature. An existing signature
//! is replaced in place; a slice without one gets an LC_CODE_SIGNATURE and
//! a blob appended at the end of `__LINKEDIT`. [`verify_slice`] re-hashes
//! the pages of any SHA-256 CodeDirectory (linker, `codesign` or rcodesign
//! output) for `show` and for checks after a rewrite.
//!
//! Blob fields are big-endian whatever the slice's byte order.

use sha2::{Digest, Sha256};

use super::PatchError;
use crate::binary::macho::{
    read_u32, CodeSignatureCommand, SliceLayout, CPU_TYPE_ARM64, LC_CODE_SIGNATURE, LINKEDIT_DATA_COMMAND_SIZE,
    MH_EXECUTE,
};
use crate::binary::ParseError;
use crate::bytes::{align_up_usize, put_u32_at, put_u64_at, u32_at, Order};

/// `CSMAGIC_EMBEDDED_SIGNATURE`: the SuperBlob.
const CSMAGIC_EMBEDDED_SIGNATURE: u32 = 0xfade_0cc0;
/// `CSMAGIC_CODEDIRECTORY`.
const CSMAGIC_CODEDIRECTORY: u32 = 0xfade_0c02;
/// `CSSLOT_CODEDIRECTORY`.
const CSSLOT_CODEDIRECTORY: u32 = 0;
/// First alternate CodeDirectory slot (`CSSLOT_ALTERNATE_CODEDIRECTORIES`).
const CSSLOT_ALTERNATE_FIRST: u32 = 0x1000;
/// CodeDirectory version with the exec-segment fields.
const CS_SUPPORTSEXECSEG: u32 = 0x20400;
/// `CS_ADHOC`.
pub const CS_ADHOC: u32 = 0x2;
/// `CS_LINKER_SIGNED`.
pub const CS_LINKER_SIGNED: u32 = 0x20000;
/// `CS_EXECSEG_MAIN_BINARY`.
const CS_EXECSEG_MAIN_BINARY: u64 = 0x1;
/// `kSecCodeSignatureHashSHA256`.
const HASH_SHA256: u8 = 2;
/// SHA-256 digest length.
const HASH_SIZE: usize = 32;
/// log2 of the page size the linker signs with.
const PAGE_SHIFT: u8 = 12;
const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// SuperBlob header (12) + one BlobIndex (8), rounded up to 8.
const BLOB_HEADERS_SIZE: usize = 24;
/// `sizeof(CS_CodeDirectory)` for version 0x20400.
const CODE_DIRECTORY_SIZE: usize = 88;
/// Largest identifier accepted (a file name).
const MAX_IDENTIFIER: usize = 1024;

/// What [`verify_slice`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    /// The slice has no LC_CODE_SIGNATURE.
    Unsigned,
    /// Every checked page hash matches.
    Valid(SignatureInfo),
    /// The signature is malformed or a hash does not match: the reason.
    Invalid(String),
}

/// Facts about a valid signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureInfo {
    /// The CodeDirectory identifier (usually the file name).
    pub identifier: String,
    /// CodeDirectory flags (`CS_ADHOC`, `CS_LINKER_SIGNED`, …).
    pub flags: u32,
    /// Number of code pages hashed.
    pub pages: u32,
    /// Page size in bytes.
    pub page_size: u32,
    /// Number of SHA-256 CodeDirectories checked (a SHA-1 one is not checked).
    pub code_directories: u32,
}

impl SignatureInfo {
    /// The signature is ad hoc (no certificate).
    pub fn is_adhoc(&self) -> bool {
        self.flags & CS_ADHOC != 0
    }

    /// The signature was made by a linker (and may be replaced freely).
    pub fn is_linker_signed(&self) -> bool {
        self.flags & CS_LINKER_SIGNED != 0
    }
}

/// Size of the linker-style signature for `code_limit` bytes of code.
pub fn signature_size(code_limit: usize, identifier: &str) -> usize {
    let headers = align_up_usize(BLOB_HEADERS_SIZE + CODE_DIRECTORY_SIZE + identifier.len() + 1, 16);
    headers + code_limit.div_ceil(PAGE_SIZE) * HASH_SIZE
}

/// Writes the `u32` `v` at `off` of a slice, big-endian when `big`.
pub(crate) fn put_u32(buf: &mut [u8], off: usize, v: u32, big: bool) -> Result<(), PatchError> {
    put_u32_at(buf, off, v, Order::big_if(big)).ok_or_else(|| outside_slice(off))
}

/// Writes the `u64` `v` at `off` of a slice, big-endian when `big`.
pub(crate) fn put_u64(buf: &mut [u8], off: usize, v: u64, big: bool) -> Result<(), PatchError> {
    put_u64_at(buf, off, v, Order::big_if(big)).ok_or_else(|| outside_slice(off))
}

fn outside_slice(off: usize) -> PatchError {
    PatchError::Unsupported(format!("write at {off} is outside the slice"))
}

/// Signs one thin slice ad hoc, the way the linker does, and returns the
/// new slice bytes.
///
/// An existing signature is replaced at its `dataoff`; otherwise an
/// LC_CODE_SIGNATURE (16 bytes of header padding) is added and the blob is
/// appended at the end of `__LINKEDIT`, aligned to 16. `__LINKEDIT`'s sizes
/// and `datasize` are updated before the pages are hashed.
pub fn sign_slice(slice: &[u8], identifier: &str) -> Result<Vec<u8>, PatchError> {
    if identifier.is_empty() || identifier.len() > MAX_IDENTIFIER || identifier.contains('\0') {
        return Err(PatchError::InvalidEdit(format!("code signature identifier `{identifier}` is not usable")));
    }
    let layout = SliceLayout::parse(slice)?;
    let big = layout.big_endian;
    let text =
        layout.segment(b"__TEXT").ok_or_else(|| PatchError::Unsupported("no __TEXT segment to sign".into()))?.clone();
    let linkedit = layout
        .segment(b"__LINKEDIT")
        .ok_or_else(|| PatchError::Unsupported("no __LINKEDIT segment to hold a code signature".into()))?
        .clone();
    let linkedit_end = linkedit
        .fileoff
        .checked_add(linkedit.filesize)
        .ok_or_else(|| PatchError::Unsupported("__LINKEDIT size overflows".into()))?;

    let (mut out, cs) = match layout.code_signature {
        Some(cs) => {
            let dataoff = cs.dataoff as usize;
            if (cs.dataoff as u64) < linkedit.fileoff || dataoff > slice.len() || cs.dataoff as u64 > linkedit_end {
                return Err(PatchError::Unsupported(format!("code signature at {dataoff} is not inside __LINKEDIT")));
            }
            if let Some(end) = linkedit_data_end(slice, &layout)? {
                if end > u64::from(cs.dataoff) {
                    return Err(PatchError::Unsupported(format!(
                        "__LINKEDIT data runs to {end}, past the code signature at {dataoff}"
                    )));
                }
            }
            (slice[..dataoff].to_vec(), cs)
        }
        None => {
            if linkedit_end != slice.len() as u64 {
                return Err(PatchError::Unsupported(
                    "__LINKEDIT does not end the file: no place for a signature".into(),
                ));
            }
            let at = layout.commands_end();
            let need = at as u64 + LINKEDIT_DATA_COMMAND_SIZE as u64;
            if need > layout.low_fileoff || slice[at..at + LINKEDIT_DATA_COMMAND_SIZE].iter().any(|&b| b != 0) {
                return Err(PatchError::NoRoom {
                    what: "LC_CODE_SIGNATURE".into(),
                    need: LINKEDIT_DATA_COMMAND_SIZE as u64,
                    have: layout.header_pad(),
                    hint: "relink with -Wl,-headerpad_max_install_names".into(),
                });
            }
            let dataoff = align_up_usize(slice.len(), 16);
            let dataoff32 = u32::try_from(dataoff)
                .map_err(|_| PatchError::Unsupported("slice too large for a code signature".into()))?;
            let mut out = slice.to_vec();
            out.resize(dataoff, 0);
            put_u32(&mut out, at, LC_CODE_SIGNATURE, big)?;
            put_u32(&mut out, at + 4, LINKEDIT_DATA_COMMAND_SIZE as u32, big)?;
            put_u32(&mut out, at + 8, dataoff32, big)?;
            put_u32(&mut out, at + 12, 0, big)?;
            let ncmds = read_u32(&out, 16, big)?;
            put_u32(&mut out, 16, ncmds + 1, big)?;
            put_u32(&mut out, 20, (layout.sizeofcmds + LINKEDIT_DATA_COMMAND_SIZE) as u32, big)?;
            (out, CodeSignatureCommand { cmd_offset: at, dataoff: dataoff32, datasize: 0 })
        }
    };

    let code_limit = cs.dataoff as usize;
    let size = signature_size(code_limit, identifier);
    let size32 = u32::try_from(size).map_err(|_| PatchError::Unsupported("signature too large".into()))?;
    put_u32(&mut out, cs.cmd_offset + 12, size32, big)?;
    let new_filesize = (code_limit + size) as u64 - linkedit.fileoff;
    let page = if layout.cputype == CPU_TYPE_ARM64 { 0x4000 } else { 0x1000 };
    // Keep the linker's vmsize when it still covers the data (lld writes it
    // unrounded); otherwise round the new size up to the page size.
    let new_vmsize = if linkedit.vmsize >= new_filesize { linkedit.vmsize } else { new_filesize.div_ceil(page) * page };
    if layout.is64 {
        put_u64(&mut out, linkedit.cmd_offset + 32, new_vmsize, big)?;
        put_u64(&mut out, linkedit.cmd_offset + 48, new_filesize, big)?;
    } else {
        let too_big = || PatchError::Unsupported("__LINKEDIT too large for a 32-bit slice".into());
        put_u32(&mut out, linkedit.cmd_offset + 28, u32::try_from(new_vmsize).map_err(|_| too_big())?, big)?;
        put_u32(&mut out, linkedit.cmd_offset + 36, u32::try_from(new_filesize).map_err(|_| too_big())?, big)?;
    }

    let exec_flags = if layout.filetype == MH_EXECUTE { CS_EXECSEG_MAIN_BINARY } else { 0 };
    let blob = build_signature(&out, identifier, text.fileoff, text.filesize, exec_flags);
    debug_assert_eq!(blob.len(), size);
    out.extend_from_slice(&blob);
    Ok(out)
}

/// The end of the last `__LINKEDIT` table other than the signature
/// (symbols, strings, dyld info and every `linkedit_data_command`), so
/// that truncating at the signature can never cut one off.
fn linkedit_data_end(slice: &[u8], layout: &SliceLayout) -> Result<Option<u64>, PatchError> {
    const LC_SYMTAB: u32 = 0x2;
    const LC_DYSYMTAB: u32 = 0xb;
    const LC_DYLD_INFO: u32 = 0x22;
    const LC_DYLD_INFO_ONLY: u32 = 0x8000_0022;
    // linkedit_data_command: segment split info, function starts, data in
    // code, code-signing DRs, optimization hints, exports trie, chained
    // fixups, atom info, function variants.
    const LINKEDIT_DATA: [u32; 10] = [0x1e, 0x26, 0x29, 0x2b, 0x2e, 0x8000_0033, 0x8000_0034, 0x36, 0x37, 0x38];
    let big = layout.big_endian;
    let rd = |off: usize| -> Result<u64, PatchError> { Ok(u64::from(read_u32(slice, off, big)?)) };
    let mut end: Option<u64> = None;
    let mut note = |off: u64, size: u64| {
        if size != 0 {
            end = Some(end.unwrap_or(0).max(off.saturating_add(size)));
        }
    };
    for lc in &layout.commands {
        let at = lc.offset;
        match lc.cmd {
            LC_SYMTAB if lc.size >= 24 => {
                let entry = if layout.is64 { 16 } else { 12 };
                note(rd(at + 8)?, rd(at + 12)? * entry);
                note(rd(at + 16)?, rd(at + 20)?);
            }
            LC_DYSYMTAB if lc.size >= 80 => {
                // (offset, count, entry size) of the indirect symbol table and relocations.
                let module = if layout.is64 { 56 } else { 52 };
                for (o, n, size) in [(32, 36, 8), (40, 44, module), (48, 52, 4), (56, 60, 4), (64, 68, 8), (72, 76, 8)]
                {
                    note(rd(at + o)?, rd(at + n)? * size);
                }
            }
            LC_DYLD_INFO | LC_DYLD_INFO_ONLY if lc.size >= 48 => {
                for f in (8..48).step_by(8) {
                    note(rd(at + f)?, rd(at + f + 4)?);
                }
            }
            cmd if LINKEDIT_DATA.contains(&cmd) && lc.size >= 16 => note(rd(at + 8)?, rd(at + 12)?),
            _ => {}
        }
    }
    Ok(end)
}

/// Builds the SuperBlob for `code` (every byte before the signature).
fn build_signature(code: &[u8], identifier: &str, exec_base: u64, exec_limit: u64, exec_flags: u64) -> Vec<u8> {
    let size = signature_size(code.len(), identifier);
    let n_slots = code.len().div_ceil(PAGE_SIZE);
    let headers = size - n_slots * HASH_SIZE;
    let hash_offset = headers - BLOB_HEADERS_SIZE;
    let mut b = Vec::with_capacity(size);
    let u32be = |b: &mut Vec<u8>, v: u32| b.extend_from_slice(&v.to_be_bytes());
    let u64be = |b: &mut Vec<u8>, v: u64| b.extend_from_slice(&v.to_be_bytes());
    // SuperBlob + one BlobIndex, padded to 24.
    u32be(&mut b, CSMAGIC_EMBEDDED_SIGNATURE);
    u32be(&mut b, size as u32);
    u32be(&mut b, 1);
    u32be(&mut b, CSSLOT_CODEDIRECTORY);
    u32be(&mut b, BLOB_HEADERS_SIZE as u32);
    b.resize(BLOB_HEADERS_SIZE, 0);
    // CodeDirectory.
    u32be(&mut b, CSMAGIC_CODEDIRECTORY);
    u32be(&mut b, (size - BLOB_HEADERS_SIZE) as u32);
    u32be(&mut b, CS_SUPPORTSEXECSEG);
    u32be(&mut b, CS_ADHOC | CS_LINKER_SIGNED);
    u32be(&mut b, hash_offset as u32);
    u32be(&mut b, CODE_DIRECTORY_SIZE as u32); // identOffset
    u32be(&mut b, 0); // nSpecialSlots
    u32be(&mut b, n_slots as u32);
    u32be(&mut b, code.len() as u32); // codeLimit
    b.extend_from_slice(&[HASH_SIZE as u8, HASH_SHA256, 0, PAGE_SHIFT]);
    u32be(&mut b, 0); // spare2
    u32be(&mut b, 0); // scatterOffset
    u32be(&mut b, 0); // teamOffset
    u32be(&mut b, 0); // spare3
    u64be(&mut b, 0); // codeLimit64
    u64be(&mut b, exec_base);
    u64be(&mut b, exec_limit);
    u64be(&mut b, exec_flags);
    b.extend_from_slice(identifier.as_bytes());
    b.resize(headers, 0);
    for page in code.chunks(PAGE_SIZE) {
        b.extend_from_slice(&Sha256::digest(page));
    }
    b
}

// ---------------------------------------------------------------- reading

/// The big-endian `u32` at `off` of a signature blob.
fn be32(data: &[u8], off: usize) -> Result<u32, String> {
    u32_at(data, off, Order::Big).ok_or_else(|| format!("signature field at {off} is outside the blob"))
}

/// The signature blob of a slice: `Ok(None)` when unsigned.
fn signature_blob<'a>(slice: &'a [u8], layout: &SliceLayout) -> Result<Option<&'a [u8]>, String> {
    let Some(cs) = layout.code_signature else { return Ok(None) };
    let start = cs.dataoff as usize;
    let end = start.checked_add(cs.datasize as usize).ok_or("signature size overflows")?;
    slice.get(start..end).map(Some).ok_or_else(|| format!("signature {start}..{end} is outside the slice"))
}

/// Every `(slot type, blob)` of a SuperBlob, bounds-checked.
fn superblob_entries(blob: &[u8]) -> Result<Vec<(u32, &[u8])>, String> {
    if be32(blob, 0)? != CSMAGIC_EMBEDDED_SIGNATURE {
        return Err("signature is not an embedded-signature SuperBlob".into());
    }
    let length = (be32(blob, 4)? as usize).min(blob.len());
    let blob = &blob[..length];
    let count = be32(blob, 8)? as usize;
    if count > (length.saturating_sub(12)) / 8 {
        return Err(format!("SuperBlob claims {count} entries, more than it holds"));
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let kind = be32(blob, 12 + 8 * i)?;
        let off = be32(blob, 16 + 8 * i)? as usize;
        let len = be32(blob, off.checked_add(4).ok_or("offset overflows")?)? as usize;
        let sub = off
            .checked_add(len)
            .and_then(|end| blob.get(off..end))
            .ok_or_else(|| format!("signature blob {i} is outside the SuperBlob"))?;
        out.push((kind, sub));
    }
    Ok(out)
}

fn cd_identifier(cd: &[u8]) -> Result<String, String> {
    let at = be32(cd, 20)? as usize;
    let bytes = cd.get(at..).ok_or("identifier is outside the CodeDirectory")?;
    let end = memchr::memchr(0, bytes).ok_or("identifier is not terminated")?;
    String::from_utf8(bytes[..end].to_vec()).map_err(|_| "identifier is not UTF-8".to_string())
}

/// The identifier of the slice's current (primary) CodeDirectory, if it has one.
pub fn signature_identifier(slice: &[u8]) -> Option<String> {
    let layout = SliceLayout::parse(slice).ok()?;
    let blob = signature_blob(slice, &layout).ok()??;
    let entries = superblob_entries(blob).ok()?;
    let (_, cd) = entries.iter().find(|(k, _)| *k == CSSLOT_CODEDIRECTORY)?;
    cd_identifier(cd).ok()
}

/// Checks the code signature of one thin slice: every page hash of every
/// SHA-256 CodeDirectory, and the special slots that have a blob.
pub fn verify_slice(slice: &[u8]) -> Result<SignatureStatus, ParseError> {
    let layout = SliceLayout::parse(slice)?;
    Ok(match verify_layout(slice, &layout) {
        Ok(None) => SignatureStatus::Unsigned,
        Ok(Some(info)) => SignatureStatus::Valid(info),
        Err(reason) => SignatureStatus::Invalid(reason),
    })
}

fn verify_layout(slice: &[u8], layout: &SliceLayout) -> Result<Option<SignatureInfo>, String> {
    let Some(blob) = signature_blob(slice, layout)? else { return Ok(None) };
    let Some(cs) = layout.code_signature else { return Ok(None) };
    let entries = superblob_entries(blob)?;
    let mut info: Option<SignatureInfo> = None;
    let mut checked = 0u32;
    let mut primary = false;
    for &(kind, cd) in &entries {
        if kind != CSSLOT_CODEDIRECTORY && !(CSSLOT_ALTERNATE_FIRST..CSSLOT_ALTERNATE_FIRST + 5).contains(&kind) {
            continue;
        }
        primary |= kind == CSSLOT_CODEDIRECTORY;
        if be32(cd, 0)? != CSMAGIC_CODEDIRECTORY {
            return Err(format!("slot {kind:#x} is not a CodeDirectory"));
        }
        let flags = be32(cd, 12)?;
        let hash_offset = be32(cd, 16)? as usize;
        let n_special = be32(cd, 24)? as usize;
        let n_code = be32(cd, 28)? as usize;
        let code_limit = be32(cd, 32)? as usize;
        let hb = cd.get(36..40).ok_or("CodeDirectory is truncated")?;
        let (hash_size, hash_type, page_shift) = (hb[0] as usize, hb[1], hb[3]);
        if code_limit != cs.dataoff as usize {
            return Err(format!("codeLimit {code_limit} is not the signature offset {}", cs.dataoff));
        }
        if page_shift != 0 && !(9..=20).contains(&page_shift) {
            return Err(format!("page size 2^{page_shift} is not plausible"));
        }
        let page = if page_shift == 0 { code_limit.max(1) } else { 1usize << page_shift };
        if n_code != code_limit.div_ceil(page) {
            return Err(format!("{n_code} code slots for {code_limit} bytes of {page}-byte pages"));
        }
        if hash_type != HASH_SHA256 {
            // SHA-1 and others: structure checked above, hashes not recomputed.
            continue;
        }
        if hash_size != HASH_SIZE {
            return Err(format!("SHA-256 CodeDirectory with {hash_size}-byte hashes"));
        }
        let first = hash_offset.checked_sub(n_special * HASH_SIZE).ok_or("special slots precede the CodeDirectory")?;
        let end = hash_offset.checked_add(n_code * HASH_SIZE).ok_or("hash table overflows")?;
        let table = cd.get(first..end).ok_or("hash table is outside the CodeDirectory")?;
        let code = slice.get(..code_limit).ok_or("codeLimit is past the slice")?;
        let mut bad = Vec::new();
        for (i, chunk) in code.chunks(page).enumerate() {
            let want = &table[n_special * HASH_SIZE + i * HASH_SIZE..][..HASH_SIZE];
            if Sha256::digest(chunk).as_slice() != want {
                bad.push(i);
            }
        }
        if !bad.is_empty() {
            return Err(format!("page hash mismatch at pages {bad:?}"));
        }
        for s in 1..=n_special {
            let want = &table[(n_special - s) * HASH_SIZE..][..HASH_SIZE];
            if let Some((_, special)) = entries.iter().find(|(k, _)| *k as usize == s) {
                if Sha256::digest(special).as_slice() != want {
                    return Err(format!("special slot -{s} hash mismatch"));
                }
            } else if want.iter().any(|&b| b != 0) {
                return Err(format!("special slot -{s} has a hash but no blob"));
            }
        }
        checked += 1;
        if info.is_none() || kind == CSSLOT_CODEDIRECTORY {
            info = Some(SignatureInfo {
                identifier: cd_identifier(cd)?,
                flags,
                pages: n_code as u32,
                page_size: page as u32,
                code_directories: 0,
            });
        }
    }
    if !primary {
        return Err("signature has no CodeDirectory".into());
    }
    let mut info = info.ok_or("no SHA-256 CodeDirectory to check")?;
    info.code_directories = checked;
    Ok(Some(info))
}
