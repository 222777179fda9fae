//! Writing the output wheel: the entries of the input in order (raw,
//! replaced, or a patched binary's promised content), then the new files in
//! name order; the patching runs beside the writer thread.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::compress::Compressor;
use super::patch::{Kept, Patcher};
use super::{Applied, ApplyOptions, Extras};
use crate::error::{Error, Result};
use crate::plan::{AddedFile, Plan};
use crate::wheel::writer::Promise;
use crate::wheel::{OutputEntry, Source, WheelArchive, WriteOptions};

/// What only the writer needs of a plan.
pub(super) struct Writes {
    added: Vec<AddedFile>,
    replaced: BTreeMap<usize, AddedFile>,
    wheel_file: Option<Vec<u8>>,
}

impl Writes {
    /// Takes them out of `plan`.
    pub(super) fn take(plan: &mut Plan) -> Self {
        Writes {
            added: std::mem::take(&mut plan.added),
            replaced: std::mem::take(&mut plan.replaced),
            wheel_file: plan.wheel_file.take(),
        }
    }

    /// Whether the output would have the input's content.
    fn unchanged(&self, archive: &WheelArchive, plan: &Plan) -> bool {
        let dist_info_wheel = format!("{}/WHEEL", archive.dist_info_dir());
        // a WHEEL file rewritten to the same text is no change
        let wheel_file_same = match &self.wheel_file {
            None => true,
            Some(new) => {
                archive.entry_by_name(&dist_info_wheel).and_then(|e| archive.read(e.index).ok()).as_ref() == Some(new)
            }
        };
        plan.binaries.is_empty()
            && self.replaced.is_empty()
            && self.added.is_empty()
            && plan.dropped.is_empty()
            && wheel_file_same
            && plan.filename == archive.filename().to_string()
    }
}

/// Writes the wheel `plan` makes of `archive`, patching its binaries
/// (from `kept` where it holds them) in `stages` meanwhile.
#[allow(clippy::too_many_arguments)]
pub(super) fn write(
    archive: &WheelArchive,
    plan: &Plan,
    writes: Writes,
    kept: Vec<Option<Kept>>,
    stages: &[Vec<usize>],
    level: u32,
    options: &ApplyOptions,
    extras: Extras<'_>,
) -> Result<Applied> {
    let unchanged = writes.unchanged(archive, plan);
    std::fs::create_dir_all(&options.wheel_dir).map_err(|e| Error::io(&options.wheel_dir, e))?;
    let out = options.wheel_dir.join(&plan.filename);
    let bundled = || plan.bundled.iter().map(|b| (b.source.clone(), b.entry.clone())).collect();
    if unchanged {
        crate::wheel::writer::copy_wheel(archive, &out)?;
        return Ok(Applied {
            output: out,
            platform_tags: plan.platform_tags.clone(),
            bundled: Vec::new(),
            patched: Vec::new(),
            unchanged: true,
            messages: plan.messages.clone(),
            details: Vec::new(),
        });
    }
    // Every binary's entry is a promise of content, kept as soon as it is
    // compressed: the writer writes the entries before it meanwhile.
    let mut promises = Vec::with_capacity(plan.binaries.len());
    let mut new_binaries: BTreeMap<String, (Source, Option<u32>)> = BTreeMap::new();
    for b in &plan.binaries {
        let (promise, source) = crate::wheel::writer::later();
        promises.push(promise);
        new_binaries.insert(b.name.clone(), (source, b.unix_mode));
    }
    let write = || -> Result<(Vec<String>, Vec<String>)> {
        let mut added = writes.added;
        let mut replaced = writes.replaced;
        let mut notes = Vec::new();
        if let Some(root) = extras.sbom_root {
            let (grafted, found_notes) = super::sbom::grafted(plan, root, extras.system)?;
            notes = found_notes;
            if let Some(f) = super::sbom::file(archive, plan, &grafted) {
                // a wheel repaired before has one: replaced, not written twice
                match archive.entry_by_name(&f.name) {
                    Some(e) => drop(replaced.insert(e.index, f)),
                    None => added.push(f),
                }
            }
            if options.licenses {
                let mut l = licenses(archive, &replaced, &grafted);
                added.append(&mut l.added);
                notes.append(&mut l.notes);
                replaced.extend(l.metadata);
            }
            crate::timing::mark("sbom");
        }
        let entries = entries(archive, plan, &replaced, &writes.wheel_file, new_binaries, added);
        let write_options = WriteOptions { compression_level: options.compression_level, ..WriteOptions::default() };
        crate::wheel::writer::write_wheel(archive, entries.0, &out, &write_options)?;
        crate::timing::mark("written");
        Ok((entries.1, notes))
    };
    let patcher =
        Patcher { archive, level, digests: &plan.digests, shared: extras.shared, spill_dir: &options.wheel_dir };
    let (patched, written) = beside_writer(&out, write, || patch_all(plan, patcher, promises, stages, kept));
    // a problem of the binaries first: the writer's is then only that it stopped
    let details: Vec<String> = plan.details.iter().cloned().map(Some).chain(patched?).flatten().collect();
    let (patched_names, notes) = written?;
    Ok(Applied {
        output: out.clone(),
        platform_tags: plan.platform_tags.clone(),
        bundled: bundled(),
        patched: patched_names,
        unchanged,
        messages: plan.messages.iter().cloned().chain(notes).collect(),
        details,
    })
}

fn patch_all(
    plan: &Plan,
    patcher: Patcher<'_>,
    promises: Vec<Promise>,
    stages: &[Vec<usize>],
    kept: Vec<Option<Kept>>,
) -> Result<Vec<Option<String>>> {
    let patched = Compressor::new(plan, patcher, promises).run(stages, kept);
    crate::timing::mark("patched");
    patched
}

/// Runs `write` on a writer thread with workers of its own (itself and one
/// more), so that what it runs in parallel (the SBOM's scan of the package
/// database) never waits behind the compression jobs, nor they for it, even
/// when the caller is itself a worker of a busy pool; and `work` here.
fn beside_writer<W, T, R>(out: &Path, write: W, work: impl FnOnce() -> T) -> (T, Result<R>)
where
    W: FnOnce() -> Result<R> + Send,
    R: Send,
{
    let writer_pool = || {
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .use_current_thread()
            .build()
            .map_err(|e| Error::io(out, std::io::Error::other(format!("the writer's threads: {e}"))))
    };
    let (done, written) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| writer_pool()?.install(write));
        let done = work();
        (done, writer.join())
    });
    (done, written.unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
}

/// The licence files of the owners of `grafted`, and `METADATA` with
/// their `License-File:` lines (from the text the plan replaces it with,
/// if it does).
fn licenses(
    archive: &WheelArchive,
    replaced: &BTreeMap<usize, AddedFile>,
    grafted: &[super::sbom::Grafted],
) -> super::licenses::Licenses {
    let name = format!("{}/METADATA", archive.dist_info_dir());
    let metadata = archive
        .entry_by_name(&name)
        .and_then(|e| replaced.get(&e.index).map(|f| f.data.clone()).or_else(|| archive.read(e.index).ok()));
    super::licenses::for_grafted(archive, grafted, metadata.as_deref())
}

/// The output's entries, and the names of the input's binaries rewritten.
fn entries(
    archive: &WheelArchive,
    plan: &Plan,
    replaced: &BTreeMap<usize, AddedFile>,
    wheel_file: &Option<Vec<u8>>,
    mut new_binaries: BTreeMap<String, (Source, Option<u32>)>,
    added: Vec<AddedFile>,
) -> (Vec<OutputEntry>, Vec<String>) {
    let dist_info_wheel = format!("{}/WHEEL", archive.dist_info_dir());
    let mut entries = Vec::new();
    let mut patched_names = Vec::new();
    for (i, e) in archive.entries().iter().enumerate() {
        if plan.dropped.contains(&i) {
            continue;
        }
        if let Some(f) = replaced.get(&i) {
            entries.push(OutputEntry::bytes(f.name.clone(), f.data.clone(), f.unix_mode));
        } else if let Some((source, mode)) = new_binaries.remove(&e.name) {
            patched_names.push(e.name.clone());
            entries.push(OutputEntry { name: e.name.clone(), source, unix_mode: mode.or(e.unix_mode) });
        } else if e.name == dist_info_wheel && wheel_file.is_some() {
            let data = wheel_file.clone().unwrap_or_default();
            entries.push(OutputEntry::bytes(e.name.clone(), data, e.unix_mode));
        } else if let Some(raw) = OutputEntry::raw(archive, i) {
            entries.push(raw);
        }
    }
    // new files (bundled libraries, moved scripts, added text), in name order
    let mut new_files = new_binaries;
    for f in added {
        new_files.insert(f.name, (Source::Bytes(Arc::new(f.data)), f.unix_mode));
    }
    for (name, (source, mode)) in new_files {
        entries.push(OutputEntry { name, source, unix_mode: mode });
    }
    (entries, patched_names)
}
