//! Fusing two single-architecture macOS wheels of one release into one
//! `universal2` wheel (delocate's `delocate-merge`).
//!
//! Files found in one wheel only are copied; identical files are kept once;
//! Mach-O files that differ are fused into a fat file of the thin slices of
//! both (a fat input contributes each of its slices; an architecture present
//! in both with different bytes is an error). Any other file that differs is
//! an error naming it, where delocate silently keeps one of the two
//! (delocate issue #180). The output is retagged from the minimum macOS
//! versions of every Mach-O slice it holds, its `WHEEL` tags and RECORD are
//! rewritten, and it is written atomically and deterministically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::binary::macho::{fat_arches, parse as parse_macho, SliceLayout};
use crate::binary::Format;
use crate::error::Reason;
use crate::error::{Error, Result};
use crate::wheel::{OutputEntry, WheelArchive, WriteOptions};

/// Options of [`merge`].
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// Where the fused wheel is written (default: the first wheel's directory).
    pub wheel_dir: Option<PathBuf>,
    /// Deflate level for new entries (0–9).
    pub compression_level: Option<u32>,
    /// The macOS deployment target (`MACOSX_DEPLOYMENT_TARGET`), if any.
    pub macos_target: Option<String>,
}

/// What [`merge`] did.
#[derive(Debug, Clone)]
pub struct MergeOutcome {
    /// The wheel written.
    pub output: PathBuf,
    /// Its platform tags.
    pub platform_tags: Vec<String>,
    /// Entries fused into fat Mach-O files.
    pub fused: Vec<String>,
}

/// Fuses wheels `first` and `second` (same name and version) into one.
pub fn merge(first: &Path, second: &Path, options: &MergeOptions) -> Result<MergeOutcome> {
    let a = WheelArchive::open(first)?;
    let b = WheelArchive::open(second)?;
    let label = format!("{} + {}", first.display(), second.display());
    let fail = |reason: Reason| Error::cannot_repair(label.clone(), reason);
    let (fa, fb) = (a.filename(), b.filename());
    if crate::wheel::filename::normalize_name(&fa.name) != crate::wheel::filename::normalize_name(&fb.name)
        || fa.version != fb.version
    {
        return Err(fail(Reason::DifferentReleases {
            first: (fa.name.clone(), fa.version.clone()),
            second: (fb.name.clone(), fb.version.clone()),
        }));
    }
    let read =
        |w: &WheelArchive, i: usize| w.read(i).map_err(|source| Error::Wheel { path: w.path().to_path_buf(), source });
    let skip = |w: &WheelArchive, name: &str| {
        let di = w.dist_info_dir();
        name == format!("{di}/RECORD")
            || name == format!("{di}/RECORD.jws")
            || name == format!("{di}/RECORD.p7s")
            || name == format!("{di}/WHEEL")
    };
    let entries_of = |w: &WheelArchive| -> BTreeMap<String, usize> {
        w.entries()
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.is_dir && !skip(w, &e.name))
            .map(|(i, e)| (e.name.clone(), i))
            .collect()
    };
    let (ea, eb) = (entries_of(&a), entries_of(&b));
    let mut names: Vec<&String> = ea.keys().chain(eb.keys()).collect();
    names.sort();
    names.dedup();

    let mut out: Vec<OutputEntry> = Vec::new();
    let mut fused = Vec::new();
    // every Mach-O slice of the output: (entry, arch, minimum macOS)
    let mut slices: Vec<(String, String, crate::binary::macho::MacVersion)> = Vec::new();
    let mut note_slices = |name: &str, data: &[u8]| {
        if Format::sniff(data) == Some(Format::MachO) {
            if let Ok(m) = parse_macho(data) {
                for s in m.slices {
                    if let Some(v) = s.min_macos {
                        slices.push((name.to_string(), s.arch.name(), v));
                    }
                }
            }
        }
    };
    // the SBOMs name their wheel: made anew once the output's name is known
    let sbom_entry = crate::apply::sbom::entry_name(a.dist_info_dir());
    let mut sboms = Vec::new();
    for name in names {
        if *name == sbom_entry {
            let of = |w: &WheelArchive, e: Option<&usize>| e.map(|&i| read(w, i)).transpose();
            sboms.extend(of(&a, ea.get(name))?.into_iter().chain(of(&b, eb.get(name))?));
            continue;
        }
        match (ea.get(name), eb.get(name)) {
            (Some(&i), None) => {
                note_slices(name, &read(&a, i)?);
                out.extend(OutputEntry::raw(&a, i));
            }
            (None, Some(&j)) => {
                let data = read(&b, j)?;
                note_slices(name, &data);
                out.push(OutputEntry::bytes(name.clone(), data, b.entries()[j].unix_mode));
            }
            (Some(&i), Some(&j)) => {
                let (da, db) = (read(&a, i)?, read(&b, j)?);
                if da == db {
                    note_slices(name, &da);
                    out.extend(OutputEntry::raw(&a, i));
                    continue;
                }
                let macho = |d: &[u8]| Format::sniff(d) == Some(Format::MachO);
                if !(macho(&da) && macho(&db)) {
                    return Err(fail(Reason::NotMachO { entry: name.clone() }));
                }
                let fat = fuse_macho(&da, &db).map_err(|reason| fail(Reason::Fuse { entry: name.clone(), reason }))?;
                note_slices(name, &fat);
                fused.push(name.clone());
                out.push(OutputEntry::bytes(name.clone(), fat, a.entries()[i].unix_mode));
            }
            (None, None) => {}
        }
    }

    let tags = merged_tags(fa, fb, &slices, options).map_err(fail)?;
    let filename = fa.with_platforms(&tags);
    let mut meta = a.metadata().clone();
    meta.set_tags(&filename.tags());
    let wheel_entry = format!("{}/WHEEL", a.dist_info_dir());
    let mode = a.entry_by_name(&wheel_entry).and_then(|e| e.unix_mode);
    out.push(OutputEntry::bytes(wheel_entry, meta.to_string().into_bytes(), mode));

    if !sboms.is_empty() {
        let docs: Vec<&[u8]> = sboms.iter().map(Vec::as_slice).collect();
        let merged = crate::apply::sbom::merge_documents(&docs, &filename.to_string());
        // an SBOM that is not wheelfix's is kept as the first wheel has it
        let data = merged.unwrap_or_else(|| sboms.swap_remove(0));
        out.push(OutputEntry::bytes(sbom_entry, data, Some(0o644)));
    }
    let dir = match &options.wheel_dir {
        Some(d) => d.clone(),
        None => first.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    if !dir.as_os_str().is_empty() {
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    let output = dir.join(filename.to_string());
    let write_options = WriteOptions { compression_level: options.compression_level, ..WriteOptions::default() };
    crate::wheel::writer::write_wheel(&a, out, &output, &write_options)?;
    Ok(MergeOutcome { output, platform_tags: tags, fused })
}

/// The platform tags of the merged wheel: what the minimum macOS of its
/// Mach-O slices allows, given the tags both wheels had (and the target).
fn merged_tags(
    fa: &crate::wheel::WheelFilename,
    fb: &crate::wheel::WheelFilename,
    slices: &[(String, String, crate::binary::macho::MacVersion)],
    options: &MergeOptions,
) -> std::result::Result<Vec<String>, Reason> {
    let mut wheel_tags: Vec<String> = fa.platform.iter().chain(&fb.platform).cloned().collect();
    wheel_tags.sort();
    wheel_tags.dedup();
    let tag_error = |e: &dyn std::fmt::Display| Reason::MergedTag { reason: e.to_string() };
    let target = match options.macos_target.as_deref() {
        Some(t) => Some(crate::policy::macos::parse_deployment_target(t).map_err(|e| tag_error(&e))?),
        None => None,
    };
    Ok(crate::policy::macos::macos_platform_tags(slices, &wheel_tags, target).map_err(|e| tag_error(&e))?.tags)
}

/// The thin slices of a Mach-O file (itself when thin).
fn thin_slices(data: &[u8]) -> std::result::Result<Vec<&[u8]>, String> {
    match fat_arches(data).map_err(|e| e.to_string())? {
        None => Ok(vec![data]),
        Some((arches, _)) => arches
            .iter()
            .map(|f| {
                let start = usize::try_from(f.offset).map_err(|_| "slice offset too large".to_string())?;
                let end = start.checked_add(usize::try_from(f.size).map_err(|_| "slice too large".to_string())?);
                end.and_then(|end| data.get(start..end)).ok_or_else(|| "slice outside the file".to_string())
            })
            .collect(),
    }
}

/// A fat file of every slice of `a` and `b`; an architecture in both must
/// have the same bytes in both.
pub fn fuse_macho(a: &[u8], b: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut by_arch: BTreeMap<(u32, u32), &[u8]> = BTreeMap::new();
    let mut order: Vec<(u32, u32)> = Vec::new();
    for s in thin_slices(a)?.into_iter().chain(thin_slices(b)?) {
        let layout = SliceLayout::parse(s).map_err(|e| e.to_string())?;
        let key = (layout.cputype, layout.cpusubtype);
        match by_arch.get(&key) {
            Some(prev) if *prev != s => {
                return Err(format!("both wheels have a different {} slice: cannot fuse them", layout.arch().name()))
            }
            Some(_) => {}
            None => {
                by_arch.insert(key, s);
                order.push(key);
            }
        }
    }
    let thin: Vec<&[u8]> = order.iter().map(|k| by_arch[k]).collect();
    crate::patch::macho::create_fat(&thin).map_err(|e| e.to_string())
}
