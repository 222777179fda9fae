//! The Linux loader's library search (glibc `ld.so`, musl), as auditwheel's
//! `lddtree` emulates it:
//!
//! 1. `--lib-path` directories (wheelfix's own, searched first);
//! 2. DT_RPATH of the top-level ELF (inherited by every lookup of its tree);
//! 3. the object's own DT_RPATH, ignored when it also has DT_RUNPATH;
//! 4. the object's own DT_RUNPATH;
//! 5. `LD_LIBRARY_PATH` (not with a sysroot);
//! 6. DT_RUNPATH of the top-level ELF (an auditwheel approximation kept for parity);
//! 7. `/etc/ld.so.conf` (with `include` globs) and the trusted directories, or
//!    musl's `/etc/ld-musl-<arch>.path`; replaced by `--ldpaths`;
//! 8. the directory of PT_INTERP and its `/usr` twin.
//!
//! `$ORIGIN`, `$LIB` and `$PLATFORM` are expanded. A candidate is accepted
//! only when its class, byte order, machine and OS ABI match the requester's;
//! one that does not is skipped, as the loader skips it. A candidate that
//! does not parse (cut short, garbage) is skipped too, and remembered: when
//! nothing usable is found, the lookup names every file it skipped and why.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::cache::ParseCache;
use super::{in_sysroot, Dir, Location, Resolved, WheelBinaries};
use crate::binary::{BinaryInfo, ElfInfo};

/// Search configuration for ELF dependencies.
#[derive(Debug)]
pub struct ElfResolver {
    /// Directories searched before anything else.
    pub lib_path: Vec<PathBuf>,
    /// Root of the target file system (`/` for the host).
    pub sysroot: PathBuf,
    /// `LD_LIBRARY_PATH` entries.
    pub env_paths: Vec<PathBuf>,
    /// The ld.so.conf + trusted directories (or musl's path list), already under the sysroot.
    pub conf_paths: Vec<PathBuf>,
    cache: ParseCache,
    /// Why each file on disk that exists but did not parse was refused.
    unparsed: Mutex<HashMap<PathBuf, String>>,
}

/// A file found by name on the search path that the loader cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The file as found.
    pub path: PathBuf,
    /// Why it cannot be used, in a few words.
    pub reason: String,
    /// It does not parse (cut short, garbage): it is not merely built for
    /// another machine.
    pub corrupt: bool,
}

impl ElfResolver {
    /// A resolver for the given sysroot. `ld_paths`, when given, replaces the
    /// ld.so.conf and trusted directories (auditwheel's `--ldpaths`).
    pub fn new(
        sysroot: &Path,
        lib_path: Vec<PathBuf>,
        ld_paths: Option<Vec<PathBuf>>,
        musl_arch: Option<&str>,
    ) -> Self {
        let on_host = sysroot == Path::new("/");
        let env_paths = if on_host && ld_paths.is_none() {
            let mut v = Vec::new();
            for var in ["AUDITWHEEL_LD_LIBRARY_PATH", "LD_LIBRARY_PATH"] {
                if let Some(val) = std::env::var_os(var) {
                    v.extend(super::split_paths(&val.to_string_lossy()));
                }
            }
            v
        } else {
            Vec::new()
        };
        let conf_paths = match ld_paths {
            Some(p) => p,
            None => match musl_arch {
                Some(arch) => musl_paths(sysroot, arch),
                None => glibc_paths(sysroot),
            },
        };
        ElfResolver {
            lib_path,
            sysroot: sysroot.to_path_buf(),
            env_paths,
            conf_paths,
            cache: ParseCache::default(),
            unparsed: Mutex::default(),
        }
    }

    /// Finds `name` needed by `requester` (at `req_loc`), whose tree's
    /// top-level ELF has `root_rpath`/`root_runpath` (already expanded).
    /// When nothing usable is found: every file of that name on disk that
    /// was skipped, in search order (empty when there was none).
    pub fn find(
        &self,
        name: &str,
        requester: &ElfInfo,
        req_loc: &Location,
        root_rpath: &[Dir],
        root_runpath: &[Dir],
        wheel: &WheelBinaries,
    ) -> Result<Resolved, Vec<Rejected>> {
        if name.contains('/') {
            let p = in_sysroot(&self.sysroot, Path::new(name));
            return match self.try_disk(&p, requester) {
                Some(found) => found.map_err(|r| vec![r]),
                None => Err(Vec::new()),
            };
        }
        let origin = Dir::parent_of(req_loc);
        let mut dirs: Vec<Dir> = self.lib_path.iter().cloned().map(Dir::Disk).collect();
        dirs.extend(root_rpath.iter().cloned());
        if requester.runpath.is_empty() {
            dirs.extend(self.expand_all(&requester.rpath, &origin, requester));
        }
        dirs.extend(self.expand_all(&requester.runpath, &origin, requester));
        dirs.extend(self.env_paths.iter().cloned().map(Dir::Disk));
        dirs.extend(root_runpath.iter().cloned());
        dirs.extend(self.conf_paths.iter().cloned().map(Dir::Disk));
        if let Some(interp) = &requester.interp {
            if let Some(parent) = Path::new(interp).parent() {
                dirs.push(Dir::Disk(in_sysroot(&self.sysroot, parent)));
                if !parent.starts_with("/usr") {
                    let usr = Path::new("/usr").join(parent.strip_prefix("/").unwrap_or(parent));
                    dirs.push(Dir::Disk(in_sysroot(&self.sysroot, &usr)));
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        let mut rejected = Vec::new();
        for dir in dirs {
            if !seen.insert(dir.clone()) {
                continue;
            }
            match &dir {
                Dir::Wheel(_) => {
                    let Some(Location::Wheel(p)) = dir.file(name) else { continue };
                    if let Some(info) = wheel.get(&p) {
                        if let BinaryInfo::Elf(e) = info.as_ref() {
                            if compatible(requester, e) {
                                return Ok(Resolved {
                                    location: Location::Wheel(p),
                                    realpath: None,
                                    info: info.clone(),
                                });
                            }
                        }
                    }
                }
                Dir::Disk(d) => match self.try_disk(&d.join(name), requester) {
                    Some(Ok(r)) => return Ok(r),
                    Some(Err(r)) => rejected.push(r),
                    None => {}
                },
            }
        }
        Err(rejected)
    }

    /// Expands DT_RPATH/DT_RUNPATH entries of a file at `origin`.
    pub fn expand_all(&self, entries: &[String], origin: &Dir, info: &ElfInfo) -> Vec<Dir> {
        entries.iter().filter_map(|e| self.expand(e, origin, info)).collect()
    }

    /// Expands one search path entry: `$ORIGIN`/`${ORIGIN}` (relative to the
    /// file), `$LIB`, `$PLATFORM`; absolute paths go under the sysroot; an
    /// empty entry or a relative one (the loader's cwd) is dropped.
    pub fn expand(&self, entry: &str, origin: &Dir, info: &ElfInfo) -> Option<Dir> {
        let lib = if info.class == Some(crate::binary::elf::ElfClass::Elf64) { "lib64" } else { "lib" };
        let platform = info.arch().unwrap_or("unknown");
        let e = entry
            .replace("${LIB}", lib)
            .replace("$LIB", lib)
            .replace("${PLATFORM}", platform)
            .replace("$PLATFORM", platform);
        for token in ["${ORIGIN}", "$ORIGIN"] {
            if let Some(rest) = e.strip_prefix(token) {
                return origin.join(rest.trim_start_matches('/'));
            }
        }
        if e.starts_with('/') {
            return Some(Dir::Disk(super::normalize(&in_sysroot(&self.sysroot, Path::new(&e)))));
        }
        None
    }

    /// The library at `path` on disk: `None` when there is no regular file
    /// there, an error when the file is not one `requester` can load.
    fn try_disk(&self, path: &Path, requester: &ElfInfo) -> Option<Result<Resolved, Rejected>> {
        let parsed = self.cache.get_or_parse(path, |p| match read_elf(p) {
            Ok(info) => info,
            Err(reason) => {
                if let Ok(mut unparsed) = self.unparsed.lock() {
                    unparsed.insert(p.to_path_buf(), reason);
                }
                None
            }
        });
        let reject = |reason: String, corrupt: bool| Some(Err(Rejected { path: path.to_path_buf(), reason, corrupt }));
        let Some(info) = parsed else {
            let reason = self.unparsed.lock().ok()?.get(path).cloned()?;
            return reject(reason, true);
        };
        let BinaryInfo::Elf(e) = info.as_ref() else { return None };
        if !compatible(requester, e) {
            return reject(format!("it is built for {}, not {}", machine(e), machine(requester)), false);
        }
        let realpath = std::fs::canonicalize(path).ok();
        Some(Ok(Resolved { location: Location::Disk(path.to_path_buf()), realpath, info }))
    }
}

/// The machine an ELF file is built for, in a few words (`64-bit x86_64`).
fn machine(e: &ElfInfo) -> String {
    let bits = if e.class == Some(crate::binary::elf::ElfClass::Elf64) { 64 } else { 32 };
    let order = if e.endian == Some(crate::binary::elf::Endian::Big) { ", big-endian" } else { "" };
    match e.arch() {
        Some(arch) => format!("{bits}-bit {arch}{order}"),
        None => format!("{bits}-bit machine {}{order}", e.machine),
    }
}

/// The ELF file at `path`, mapped and parsed; `Ok(None)` when there is no
/// regular file there, an error (the reason) when it cannot be read or is
/// not an ELF file the parser accepts.
fn read_elf(path: &Path) -> Result<Option<BinaryInfo>, String> {
    let Ok(meta) = std::fs::metadata(path) else { return Ok(None) };
    if !meta.is_file() {
        return Ok(None);
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    if meta.len() == 0 {
        return Err("it is empty".to_string());
    }
    // SAFETY: the mapping is read-only and dropped before returning. A file
    // changed underneath us gives a parse error, or, when it is truncated, a
    // fault that the watch turns into a clean exit ([`crate::sigbus`]).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| e.to_string())?;
    let _watch = crate::sigbus::watch_map(&map, path);
    match crate::binary::elf::parse(&map) {
        Ok(info) => Ok(Some(BinaryInfo::Elf(info))),
        Err(e) => Err(e.to_string()),
    }
}

/// ELF class, byte order, machine and OS ABI agree (NONE/SYSV, GNU/LINUX are one).
pub fn compatible(a: &ElfInfo, b: &ElfInfo) -> bool {
    let abi = |x: u8| if x == 3 { 0 } else { x };
    a.class == b.class && a.endian == b.endian && a.machine == b.machine && abi(a.osabi) == abi(b.osabi)
}

/// glibc: `/etc/ld.so.conf` (recursively, with `include` globs), then the trusted directories.
pub fn glibc_paths(sysroot: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    parse_ld_so_conf(sysroot, &in_sysroot(sysroot, Path::new("/etc/ld.so.conf")), 0, &mut out);
    for d in ["/lib", "/lib64", "/usr/lib", "/usr/lib64"] {
        out.push(in_sysroot(sysroot, Path::new(d)));
    }
    dedup_existing(out)
}

/// musl: `/etc/ld-musl-<arch>.path` (colon or newline separated), else `/lib:/usr/local/lib:/usr/lib`.
pub fn musl_paths(sysroot: &Path, arch: &str) -> Vec<PathBuf> {
    let musl_arch = match arch {
        "i686" => "i386",
        "armv7l" => "armhf",
        "ppc64le" => "powerpc64le",
        other => other,
    };
    let file = in_sysroot(sysroot, Path::new(&format!("/etc/ld-musl-{musl_arch}.path")));
    let list: Vec<PathBuf> = match std::fs::read_to_string(&file) {
        Ok(text) => text
            .split([':', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| in_sysroot(sysroot, Path::new(s)))
            .collect(),
        Err(_) => ["/lib", "/usr/local/lib", "/usr/lib"].iter().map(|d| in_sysroot(sysroot, Path::new(d))).collect(),
    };
    dedup_existing(list)
}

fn dedup_existing(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for p in paths {
        if p.is_dir() && !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

fn parse_ld_so_conf(sysroot: &Path, file: &Path, depth: u32, out: &mut Vec<PathBuf>) {
    if depth > 8 {
        return;
    }
    let Ok(text) = std::fs::read_to_string(file) else { return };
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with("hwcap ") {
            continue;
        }
        if let Some(pattern) = line.strip_prefix("include").filter(|r| r.starts_with([' ', '\t'])) {
            for pat in pattern.split_whitespace() {
                let full = if pat.starts_with('/') { in_sysroot(sysroot, Path::new(pat)) } else { base.join(pat) };
                let Ok(paths) = glob::glob(&full.to_string_lossy()) else { continue };
                let mut files: Vec<PathBuf> = paths.flatten().collect();
                files.sort();
                for f in files {
                    parse_ld_so_conf(sysroot, &f, depth + 1, out);
                }
            }
        } else {
            for dir in line.split([':', ',', ' ', '\t']).filter(|s| !s.is_empty()) {
                out.push(in_sysroot(sysroot, Path::new(dir)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ld_so_conf_with_includes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("etc/ld.so.conf.d")).unwrap();
        for d in ["opt/a", "opt/b", "opt/c", "usr/lib", "lib"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("etc/ld.so.conf"), "# comment\ninclude ld.so.conf.d/*.conf\n/opt/c\n").unwrap();
        std::fs::write(root.join("etc/ld.so.conf.d/b.conf"), "/opt/b # trailing comment\n").unwrap();
        std::fs::write(root.join("etc/ld.so.conf.d/a.conf"), "\n  /opt/a  \n/missing\n").unwrap();
        let paths = glibc_paths(root);
        let rel: Vec<_> = paths.iter().map(|p| p.strip_prefix(root).unwrap().to_path_buf()).collect();
        let want: Vec<PathBuf> = ["opt/a", "opt/b", "opt/c", "lib", "usr/lib"].iter().map(PathBuf::from).collect();
        assert_eq!(rel, want);
    }

    #[test]
    fn expand_origin_in_wheel() {
        let r = ElfResolver::new(Path::new("/"), vec![], Some(vec![]), None);
        let info = ElfInfo { class: Some(crate::binary::elf::ElfClass::Elf64), machine: 62, ..Default::default() };
        let origin = Dir::Wheel("pkg/sub".into());
        assert_eq!(r.expand("$ORIGIN/../../demo.libs", &origin, &info), Some(Dir::Wheel("demo.libs".into())));
        assert_eq!(r.expand("${ORIGIN}", &origin, &info), Some(Dir::Wheel("pkg/sub".into())));
        assert_eq!(r.expand("$ORIGIN/../../../x", &origin, &info), None);
        assert_eq!(r.expand("/opt/$LIB/$PLATFORM", &origin, &info), Some(Dir::Disk("/opt/lib64/x86_64".into())));
        assert_eq!(r.expand("relative", &origin, &info), None);
    }
}
