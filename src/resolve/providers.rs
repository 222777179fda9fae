//! Libraries that other distributions provide: the shared libraries listed
//! in the `RECORD` of every `*.dist-info` of one or more site-packages
//! directories (`--site-packages`), such as `nvidia-cuda-runtime-cu12`'s
//! `nvidia/cuda_runtime/lib/libcudart.so.12`.
//!
//! A library a wheel needs that one of them provides is linked (a relative
//! RPATH, `@loader_path` rpath or DLL directory from the needing file's
//! install location to the provider's directory), not bundled, and the
//! wheel must require the provider.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An installed distribution: its `METADATA` name and version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Distribution {
    /// `Name:` as written.
    pub name: String,
    /// `Version:` as written.
    pub version: String,
}

/// A shared library an installed distribution ships.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProvidedLib {
    /// The distribution that ships it.
    pub dist: Arc<Distribution>,
    /// Its path relative to site-packages, `/`-separated (as in `RECORD`).
    pub rel: String,
    /// Its path on disk.
    pub path: PathBuf,
}

impl ProvidedLib {
    /// The directory that holds it, relative to site-packages (`nvidia/cuda_runtime/lib`).
    pub fn rel_dir(&self) -> &str {
        super::wheel_parent(&self.rel)
    }
}

/// The libraries of every distribution installed in some site-packages
/// directories, by file name (the first directory given wins a name two ship).
#[derive(Debug, Clone, Default)]
pub struct Providers {
    by_name: BTreeMap<String, Arc<ProvidedLib>>,
}

impl Providers {
    /// Reads every `*.dist-info` of `dirs` (a missing or unreadable directory
    /// is an error; a dist-info without `METADATA` name or `RECORD` is
    /// skipped, and so is distribution `own`, the wheel's, installed there).
    pub fn scan(dirs: &[PathBuf], own: &str) -> std::io::Result<Providers> {
        let mut out = Providers::default();
        for dir in dirs {
            let mut infos: Vec<PathBuf> = std::fs::read_dir(dir)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir() && p.extension().is_some_and(|x| x == "dist-info"))
                .collect();
            infos.sort();
            for info in infos {
                let Some(dist) = read_distribution(&info) else { continue };
                if normalize_name(&dist.name) == normalize_name(own) {
                    continue;
                }
                let Ok(record) = std::fs::read_to_string(info.join("RECORD")) else { continue };
                out.add_record(dir, Arc::new(dist), &record);
            }
        }
        Ok(out)
    }

    /// Indexes the shared libraries that `record` (a `RECORD` text of a
    /// distribution installed in `site`) lists, skipping paths that leave site-packages.
    pub fn add_record(&mut self, site: &Path, dist: Arc<Distribution>, record: &str) {
        for line in record.lines() {
            let path = line.split(',').next().unwrap_or("").trim().trim_matches('"');
            let Some(rel) = super::wheel_join("", path) else { continue };
            if rel.is_empty() || path.starts_with('/') || path.split('/').any(|c| c == "..") {
                continue;
            }
            let file = rel.rsplit('/').next().unwrap_or(&rel);
            if !is_shared_library(file) {
                continue;
            }
            let key = key_of(file);
            self.by_name.entry(key).or_insert_with(|| {
                Arc::new(ProvidedLib { dist: dist.clone(), rel: rel.clone(), path: site.join(&rel) })
            });
        }
    }

    /// The provided library a reference names (its last path component; DLL names
    /// compare case-insensitively).
    pub fn find(&self, reference: &str) -> Option<&Arc<ProvidedLib>> {
        let file = reference.rsplit(['/', '\\']).next().unwrap_or(reference);
        self.by_name.get(&key_of(file))
    }

    /// True when no library is provided.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

fn key_of(file: &str) -> String {
    if file.to_ascii_lowercase().ends_with(".dll") {
        file.to_ascii_lowercase()
    } else {
        file.to_string()
    }
}

/// `Name` and `Version` of a dist-info's `METADATA` (the header lines only).
fn read_distribution(info: &Path) -> Option<Distribution> {
    let text = std::fs::read_to_string(info.join("METADATA")).ok()?;
    let (mut name, mut version) = (None, None);
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("name") && name.is_none() {
                name = Some(v.trim().to_string());
            } else if k.trim().eq_ignore_ascii_case("version") && version.is_none() {
                version = Some(v.trim().to_string());
            }
        }
    }
    Some(Distribution { name: name?, version: version? })
}

/// Whether a file name is a shared library's: `*.so`, `*.so.<digits…>`, `*.dylib`, `*.dll`.
pub fn is_shared_library(file: &str) -> bool {
    let lower = file.to_ascii_lowercase();
    if lower.ends_with(".dylib") || lower.ends_with(".dll") || lower.ends_with(".so") {
        return true;
    }
    match lower.split_once(".so.") {
        Some((stem, rest)) => {
            !stem.is_empty() && rest.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        }
        None => false,
    }
}

/// A project name normalised as PEP 503 says (runs of `-`, `_`, `.` become
/// one `-`, lower case), for comparing requirement names.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_libraries() {
        assert_eq!(normalize_name("Nvidia_CUDA.runtime--cu12"), "nvidia-cuda-runtime-cu12");
        assert_eq!(normalize_name("a"), "a");
        for yes in ["libcudart.so.12", "libfoo.so", "libx.so.1.2.3", "a.dylib", "B.DLL"] {
            assert!(is_shared_library(yes), "{yes}");
        }
        for no in ["libfoo.so.txt", ".so.1", "x.py", "libcudart.so.12.py", "foo.pyd"] {
            assert!(!is_shared_library(no), "{no}");
        }
    }

    #[test]
    fn scan_reads_dist_infos_but_the_wheels_own() {
        let tmp = tempfile::tempdir().unwrap();
        let site = tmp.path();
        for (info, name, lib) in [
            ("mkl-2024.1.dist-info", "mkl", "mkl/lib/libmkl_rt.so.2"),
            ("my_pkg-0.9.dist-info", "My.Pkg", "my_pkg.libs/libx.so"),
        ] {
            std::fs::create_dir_all(site.join(info)).unwrap();
            std::fs::write(site.join(info).join("METADATA"), format!("Name: {name}\nVersion: 1\n\nName: body\n"))
                .unwrap();
            std::fs::write(site.join(info).join("RECORD"), format!("{lib},,\n")).unwrap();
        }
        // no RECORD: skipped
        std::fs::create_dir_all(site.join("bare-1.dist-info")).unwrap();
        let p = Providers::scan(&[site.to_path_buf()], "my-pkg").unwrap();
        assert_eq!(p.find("libmkl_rt.so.2").map(|l| l.dist.name.as_str()), Some("mkl"));
        assert!(p.find("libx.so").is_none(), "the wheel's own distribution provides nothing");
        assert!(Providers::scan(&[site.join("absent")], "x").is_err());
    }

    #[test]
    fn record_is_indexed() {
        let dist = Arc::new(Distribution { name: "nvidia-cuda-runtime-cu12".into(), version: "12.9.79".into() });
        let mut p = Providers::default();
        let record = "nvidia/cuda_runtime/lib/libcudart.so.12,sha256=x,10\n\
                      nvidia/cuda_runtime/include/cuda.h,sha256=y,3\n\
                      ../../bin/evil.so,,\n\
                      nvidia/cuda_runtime/bin/CUDART64_12.DLL,,\n\
                      nvidia_cuda_runtime_cu12-12.9.79.dist-info/RECORD,,\n";
        p.add_record(Path::new("/site"), dist.clone(), record);
        let lib = p.find("libcudart.so.12").unwrap();
        assert_eq!(lib.rel, "nvidia/cuda_runtime/lib/libcudart.so.12");
        assert_eq!(lib.rel_dir(), "nvidia/cuda_runtime/lib");
        assert_eq!(lib.path, Path::new("/site/nvidia/cuda_runtime/lib/libcudart.so.12"));
        assert_eq!(lib.dist, dist);
        assert!(p.find("@rpath/libcudart.so.12").is_some());
        assert!(p.find("cudart64_12.dll").is_some(), "DLL names compare case-insensitively");
        assert!(p.find("evil.so").is_none(), "a path out of site-packages is not indexed");
        assert!(p.find("cuda.h").is_none());
    }
}
