//! Repair: [`Analysis`](crate::Analysis) → plan → new wheel.
//!
//! Each platform has a module that turns the analysis into a [`Plan`]
//! (libraries to copy in under which names, edits per binary, the new tags):
//! pure data. [`apply`] then reads, patches (in parallel, each rewritten
//! binary re-parsed and checked by the patcher) and writes the output wheel
//! atomically. The input is never modified.

pub mod linux;
pub mod macos;
pub mod merge;
pub mod pyinit;
pub mod shared;
pub mod windows;

pub use shared::SharedLibraries;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::analyze::{AnalyzeOptions, Family, Kept, SPLICE_MIN};
use crate::error::Reason;
use crate::patch::elf::ElfEdits;
use crate::patch::macho::MachOEdits;
use crate::patch::pe::PeEdits;
use crate::wheel::writer::CHUNK;
use crate::wheel::{OutputEntry, WheelArchive, WriteOptions};
use crate::{locked, Error, Result};

/// Options of [`repair`].
#[derive(Debug, Clone)]
pub struct RepairOptions {
    /// How libraries are found (and which are excluded).
    pub analyze: AnalyzeOptions,
    /// Where the repaired wheel is written.
    pub wheel_dir: PathBuf,
    /// Linux: the requested platform tag (`None` or `auto`: the best one).
    pub plat: Option<String>,
    /// Linux: do not add a higher-priority tag the wheel is also eligible for.
    pub only_plat: bool,
    /// The grafted-library directory: a suffix to the distribution name on
    /// Linux and Windows (`.libs`), a sub-directory of the package on macOS (`.dylibs`).
    pub lib_sdir: Option<String>,
    /// Remove symbol tables and debug info from every binary, before patching.
    pub strip: bool,
    /// A pure-Python wheel is copied through instead of being an error.
    pub allow_pure: bool,
    /// Deflate level for new entries (0–9).
    pub compression_level: Option<u32>,
    /// Keep RPATH entries that point outside the wheel.
    pub keep_rpaths: bool,
    /// Rewrite the file name and `WHEEL` tags (default).
    pub update_tags: bool,
    /// macOS: architectures every binary must have (`intel`, `universal2`,
    /// `x86_64`, `arm64`, or a comma-separated list), delocate's `--require-archs`.
    pub require_archs: Option<String>,
    /// macOS: go on when a dependency cannot be found.
    pub ignore_missing: bool,
    /// macOS: remove LC_RPATH entries that are not `@loader_path/…` or
    /// `@executable_path/…` (default, as delocate).
    pub sanitize_rpaths: bool,
    /// Windows: DLLs (globs) to bundle under their own names.
    pub no_mangle: Vec<String>,
    /// Windows: bundle every DLL under its own name.
    pub no_mangle_all: bool,
    /// Windows: DLLs (paths) to bundle even though nothing imports them.
    pub include: Vec<PathBuf>,
    /// Windows: namespace packages (dotted names) whose `__init__.py` must not be created.
    pub namespace_pkgs: Vec<String>,
}

impl Default for RepairOptions {
    fn default() -> Self {
        RepairOptions {
            analyze: AnalyzeOptions::default(),
            wheel_dir: PathBuf::from("wheelhouse"),
            plat: None,
            only_plat: false,
            lib_sdir: None,
            strip: false,
            allow_pure: false,
            compression_level: None,
            keep_rpaths: false,
            update_tags: true,
            require_archs: None,
            ignore_missing: false,
            sanitize_rpaths: true,
            no_mangle: Vec::new(),
            no_mangle_all: false,
            include: Vec::new(),
            namespace_pkgs: Vec::new(),
        }
    }
}

/// What a repair did.
#[derive(Debug, Clone)]
pub struct RepairOutcome {
    /// The wheel written.
    pub output: PathBuf,
    /// The platform tags of the output.
    pub platform_tags: Vec<String>,
    /// Libraries copied in: (where they came from, entry name in the wheel).
    pub bundled: Vec<(PathBuf, String)>,
    /// Binaries of the wheel that were rewritten.
    pub patched: Vec<String>,
    /// Nothing needed changing (the output is the input's content).
    pub unchanged: bool,
    /// Things the user should know.
    pub messages: Vec<String>,
    /// How patched entries were re-compressed (shown with `-v`).
    pub details: Vec<String>,
}

/// Where a new binary entry's bytes come from, before patching.
#[derive(Debug, Clone)]
pub enum PlanSource {
    /// An entry of the input wheel.
    Entry(usize),
    /// A file on disk (a library to bundle).
    File(PathBuf),
}

/// Edits to one binary.
#[derive(Debug, Clone)]
pub enum BinaryEdits {
    /// ELF edits.
    Elf(ElfEdits),
    /// Mach-O edits (every slice; re-signed by the patcher).
    MachO(MachOEdits),
    /// PE edits.
    Pe(PeEdits),
}

/// One binary of the output that differs from the input.
#[derive(Debug, Clone)]
pub struct PlannedBinary {
    /// The entry name in the output.
    pub name: String,
    /// Where its bytes come from.
    pub source: PlanSource,
    /// Strip before patching.
    pub strip: bool,
    /// What to change.
    pub edits: BinaryEdits,
    /// Unix mode of the output entry.
    pub unix_mode: Option<u32>,
}

/// A new non-binary file of a repaired wheel: (entry name, content, unix mode).
pub type AddedFile = (String, Vec<u8>, Option<u32>);

/// Everything a repair will do, as data.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Binaries written anew (patched wheel entries and bundled libraries).
    pub binaries: Vec<PlannedBinary>,
    /// Input entries replaced by other content (entry index → new text), e.g. script shims.
    pub replaced: BTreeMap<usize, (String, Vec<u8>, Option<u32>)>,
    /// Input entries left out of the output (moved or replaced by `binaries`).
    pub dropped: Vec<usize>,
    /// New non-binary files.
    pub added: Vec<AddedFile>,
    /// The new `WHEEL` file.
    pub wheel_file: Option<Vec<u8>>,
    /// The output file name.
    pub filename: String,
    /// Output platform tags.
    pub platform_tags: Vec<String>,
    /// Bundled libraries: (source, entry name).
    pub bundled: Vec<(PathBuf, String)>,
    /// sha256 of bundled source files, where the plan already computed it.
    pub digests: BTreeMap<PathBuf, [u8; 32]>,
    /// Messages for the user.
    pub messages: Vec<String>,
}

/// Repairs the wheel at `path` into `options.wheel_dir`.
pub fn repair(path: &Path, options: &RepairOptions) -> Result<RepairOutcome> {
    repair_with(path, options, None)
}

/// [`repair`] as one of a batch: a library that another repair sharing
/// `shared` bundles with the same bytes is deflated once, by whichever
/// comes first (see [`SharedLibraries`]). The output is the same bytes as
/// [`repair`]'s.
pub fn repair_sharing(path: &Path, options: &RepairOptions, shared: &SharedLibraries) -> Result<RepairOutcome> {
    repair_with(path, options, Some(shared))
}

fn repair_with(path: &Path, options: &RepairOptions, shared: Option<&SharedLibraries>) -> Result<RepairOutcome> {
    let archive = WheelArchive::open(path)?;
    crate::timing::mark("opened");
    // a Linux repair's SBOM looks in the package database: read while the
    // wheel is analysed
    let root = options.analyze.sysroot.clone().unwrap_or_else(|| PathBuf::from("/"));
    let linux = crate::policy::linux::libc_of_wheel_tags(&archive.filename().platform).is_some();
    let (analysed, ()) = rayon::join(
        || crate::analyze::analyze_for_repair(&archive, &options.analyze),
        || {
            if linux {
                crate::sbom::preload(&root);
            }
        },
    );
    let (analysis, kept) = analysed?;
    // what the analysis read of the input is read again only when written
    archive.release_all();
    let mut sbom_root = None;
    crate::timing::mark("analysed");
    let plan = match analysis.family() {
        Family::Pure => {
            if !options.allow_pure {
                return Err(Error::cannot_repair(path.display().to_string(), Reason::Pure));
            }
            Plan {
                filename: archive.filename().to_string(),
                platform_tags: archive.filename().platform.clone(),
                messages: vec!["pure Python wheel: copied unchanged".into()],
                ..Plan::default()
            }
        }
        Family::Linux => {
            let plan = linux::plan_keeping(&archive, &analysis, options, Some(&kept))?;
            crate::timing::mark("planned");
            // the SBOM is made while the binaries are patched
            sbom_root = Some(root);
            plan
        }
        Family::Macos => macos::plan(&archive, &analysis, options)?,
        Family::Windows => windows::plan(&archive, &analysis, options)?,
    };
    apply_kept(&archive, plan, options, kept, sbom_root.as_deref(), shared)
}

/// Above this many bytes of binaries to patch (64 MiB), a repair patches and
/// compresses the wheel's own binaries first and the bundled libraries
/// after, to keep its peak memory down; below, all at once.
const STAGED_ABOVE: u64 = 64 << 20;

/// A binary patched and waiting to be compressed.
struct Patched<'s> {
    name: String,
    /// How errors name it.
    label: String,
    len: usize,
    /// The patched bytes, until the jobs that read them are done.
    data: Mutex<Option<Arc<Vec<u8>>>>,
    /// For an entry re-compressed by splicing: its index in the input, its
    /// block index, and which pages the patch left alone.
    splice: Option<(usize, crate::wheel::splice::BlockIndex, crate::wheel::splice::Unchanged)>,
    /// A splice stopped halfway, for the second stage to finish.
    halfway: Mutex<Option<crate::wheel::splice::NewPieces>>,
    /// The sha256 of the patched bytes, when computed before compression.
    sha256: Option<[u8; 32]>,
    /// What its compression shares with the other repairs of a batch.
    share: Share<'s>,
}

/// What a bundled library's compression shares with the other repairs of a
/// batch ([`SharedLibraries`]).
enum Share<'s> {
    /// Nothing: compressed here, for this wheel alone.
    Alone,
    /// Compressed here, and its stream handed to the others.
    Owner(Mutex<Option<shared::Claim<'s>>>),
    /// Compressed already, by another repair.
    Taken(Arc<crate::wheel::writer::Deflated>),
    /// Being compressed by another repair: waited for once this repair's own
    /// compression is done.
    Wait(shared::Key),
}

/// One compression job of a repair, on binary `k` of the patched ones.
#[derive(Debug, Clone, Copy)]
enum Job {
    /// Re-compress by splicing with the input's stream.
    Splice(usize),
    /// The first half of a splice, up to where the patched bytes are freed.
    SpliceNew(usize),
    /// The second half of a splice whose first half ran in an earlier stage.
    SpliceJoin(usize),
    /// Deflate one chunk of a new binary.
    Chunk(usize, crate::wheel::writer::ChunkRange),
    /// The sha256 of a new binary.
    Sha(usize),
}

impl Job {
    fn binary(&self) -> usize {
        match *self {
            Job::Splice(k) | Job::SpliceNew(k) | Job::SpliceJoin(k) | Job::Chunk(k, _) | Job::Sha(k) => k,
        }
    }
}

/// Which part of a binary's compression a stage does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Whole,
    /// Up to where a splice frees the patched bytes; a new binary's sha256.
    FirstHalf,
    /// The rest, after a first half in an earlier stage.
    SecondHalf,
}

/// What a [`Job`] made.
enum Done {
    Spliced((crate::wheel::writer::Deflated, crate::wheel::splice::SpliceStats)),
    /// A splice's first half, kept in its [`Patched`].
    Halfway,
    Chunk(crate::wheel::writer::ChunkRange, (Vec<u8>, crc32fast::Hasher)),
    Sha([u8; 32]),
}

/// Where a binary's compression stands: the writer's promise of its
/// content (until handed over), what its jobs made so far, the first
/// problem, and the splice's figures once its content went to the writer.
#[derive(Default)]
struct Progress {
    promise: Option<crate::wheel::writer::Promise>,
    made: Vec<Done>,
    failed: Option<Error>,
    detail: Option<String>,
}

/// Hands a binary whose last job is done to the writer; one with a problem
/// (or never patched) drops its promise instead, which stops the writer.
fn hand_over(patched: Option<&Patched>, progress: &Mutex<Progress>) {
    // a library another repair compresses is handed over once waited for
    if patched.is_some_and(|p| matches!(p.share, Share::Wait(_))) {
        return;
    }
    let mut progress = locked(progress);
    let Some(promise) = progress.promise.take() else { return };
    let (Some(p), None) = (patched, &progress.failed) else { return };
    let (source, detail) = finish_compressed(p, std::mem::take(&mut progress.made));
    if let (Share::Owner(claim), crate::wheel::Source::Deflated(d, _)) = (&p.share, &source) {
        if let Some(claim) = locked(claim).take() {
            claim.publish(d);
        }
    }
    progress.detail = detail;
    promise.keep(source);
}

/// The content a patched binary becomes, from what its jobs made: its
/// stream (spliced, or its chunks joined with its sha256), or its bytes for
/// the writer to deflate when no job compressed it. With the splice's figures.
fn finish_compressed(p: &Patched, done: Vec<Done>) -> (crate::wheel::Source, Option<String>) {
    if let Share::Taken(d) = &p.share {
        return reused(p, d.clone());
    }
    let len = p.len as u64;
    let mut spliced = None;
    let mut sha256 = p.sha256;
    let mut chunks = Vec::new();
    for d in done {
        match d {
            Done::Spliced(s) => spliced = Some(s),
            Done::Halfway => {}
            Done::Chunk(c, piece) => chunks.push((c.start, piece)),
            Done::Sha(h) => sha256 = Some(h),
        }
    }
    match (spliced, sha256) {
        (Some((deflated, stats)), _) => {
            let detail = format!(
                "`{}`: {} of {} bytes kept as the input compressed them, {} deflated anew",
                p.name, stats.copied, len, stats.deflated
            );
            (crate::wheel::Source::Deflated(Arc::new(deflated), len), Some(detail))
        }
        (None, Some(sha256)) => {
            chunks.sort_by_key(|(start, _)| *start);
            let deflated = crate::wheel::writer::join_chunks(chunks.into_iter().map(|(_, c)| c).collect(), sha256);
            crate::timing::mark(format_args!("compressed {}", p.name));
            (crate::wheel::Source::Deflated(Arc::new(deflated), len), None)
        }
        // not taken pre-compressed: the writer deflates it
        (None, None) => (crate::wheel::Source::Bytes(locked(&p.data).take().unwrap_or_default()), None),
    }
}

/// The content of bundled library `p` when another repair of the batch
/// compressed the same bytes: that stream, and what `-v` says of it.
fn reused(p: &Patched, d: Arc<crate::wheel::writer::Deflated>) -> (crate::wheel::Source, Option<String>) {
    let detail = format!("`{}`: the same bytes were already compressed in this run; that stream is reused", p.name);
    (crate::wheel::Source::Deflated(d, p.len as u64), Some(detail))
}

/// Runs jobs `0..n`, which the caller has sorted costliest first, on every
/// worker of the rayon pool: each worker takes the next job as soon as it is
/// free (greedy list scheduling), so a few long jobs never end up queued
/// behind each other on one worker. Results come back in job order.
fn costliest_first<T: Send>(n: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<T>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let work = || loop {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if i >= n {
            break;
        }
        let r = job(i);
        *locked(&slots[i]) = Some(r);
    };
    let workers = rayon::current_num_threads().clamp(1, n.max(1));
    rayon::scope(|s| {
        for _ in 1..workers {
            s.spawn(|_| work());
        }
        work();
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .unwrap_or_else(|| unreachable!("every job ran"))
        })
        .collect()
}

/// Carries out a plan: reads and patches binaries in parallel, writes the wheel.
pub fn apply(archive: &WheelArchive, plan: Plan, options: &RepairOptions) -> Result<RepairOutcome> {
    apply_kept(archive, plan, options, Kept::default(), None, None)
}

/// [`apply`], taking the bytes of binaries the analysis kept instead of
/// inflating them again, and adding an SBOM (made while the binaries are
/// patched) when `sbom_root` names where the package database is.
fn apply_kept(
    archive: &WheelArchive,
    mut plan: Plan,
    options: &RepairOptions,
    kept: Kept,
    sbom_root: Option<&Path>,
    shared: Option<&SharedLibraries>,
) -> Result<RepairOutcome> {
    let wheel = archive.path().display().to_string();
    let level = options.compression_level.unwrap_or(6).min(9);
    // what the plan does not patch is freed before patching starts
    let planned: std::collections::HashSet<usize> = plan
        .binaries
        .iter()
        .filter_map(|b| match b.source {
            PlanSource::Entry(i) => Some(i),
            PlanSource::File(_) => None,
        })
        .collect();
    if crate::timing::enabled() {
        let (n, bytes) = kept.size();
        crate::timing::mark(format_args!("{n} binaries ({bytes} bytes) kept from the analysis"));
    }
    kept.retain(|i| planned.contains(&i));
    // what only the writer needs
    let added = std::mem::take(&mut plan.added);
    let replaced = std::mem::take(&mut plan.replaced);
    let wheel_file = plan.wheel_file.take();
    let sbom = || match sbom_root {
        Some(root) => {
            let file = crate::sbom::for_plan(archive, &plan, root);
            crate::timing::mark("sbom");
            file
        }
        None => Ok(None),
    };
    let patch_one = |b: &PlannedBinary| -> Result<Patched> {
        let label = match &b.source {
            PlanSource::Entry(_) => format!("{wheel}!{}", b.name),
            PlanSource::File(p) => p.display().to_string(),
        };
        let wheel_err = |source| Error::Wheel { path: archive.path().to_path_buf(), source };
        let mut blocks = None;
        let data = match &b.source {
            PlanSource::Entry(i) => match kept.take(*i) {
                Some((data, index)) => {
                    let spliceable = level > 0 && !b.strip;
                    blocks = index.filter(|_| spliceable).map(|index| (*i, index));
                    data
                }
                None => {
                    let spliceable =
                        level > 0 && !b.strip && archive.entries().get(*i).is_some_and(|e| e.size >= SPLICE_MIN);
                    match spliceable.then(|| archive.read_indexed(*i)).transpose().map_err(wheel_err)?.flatten() {
                        Some((data, index)) => {
                            blocks = Some((*i, index));
                            data
                        }
                        None => archive.read(*i).map_err(wheel_err)?,
                    }
                }
            },
            PlanSource::File(p) => match kept.take_file(p) {
                Some(data) => data,
                // read again: it must still be what the plan hashed for its name
                None => match plan.digests.get(p) {
                    Some(planned) => {
                        let (data, now) = crate::wheel::archive::read_hashed(p).map_err(|e| Error::io(p, e))?;
                        if now != *planned {
                            let changed = std::io::Error::other("the file changed between planning and patching");
                            return Err(Error::io(p, changed));
                        }
                        data
                    }
                    None => std::fs::read(p).map_err(|e| Error::io(p, e))?,
                },
            },
        };
        crate::timing::mark(format_args!("read {}", b.name));
        let patch_err = |source| Error::Patch { file: label.clone(), source };
        let stripped = match (&b.edits, b.strip) {
            (BinaryEdits::Elf(_), true) => Some(crate::patch::elf::strip(&data).map_err(patch_err)?),
            (BinaryEdits::Pe(_), true) => Some(crate::patch::pe::strip(&data).map_err(patch_err)?),
            _ => None,
        };
        let spliced = blocks.is_some();
        // Mach-O and PE files are patched on a copy, compared with the input
        // when the splice needs it.
        let on_copy = |out: std::result::Result<Vec<u8>, crate::patch::PatchError>| {
            let out = out.map_err(patch_err)?;
            let unchanged = spliced.then(|| crate::wheel::splice::Unchanged::compare(&data, &out));
            Ok::<_, Error>((out, unchanged))
        };
        let input = stripped.as_deref().unwrap_or(&data);
        let (out, unchanged) = match &b.edits {
            // An ELF file (the largest are ELF) is patched in place: the old
            // bytes of the pages it writes are kept for the splice's comparison.
            BinaryEdits::Elf(edits) => {
                let mut data = stripped.unwrap_or(data);
                let patch = (!edits.is_empty())
                    .then(|| crate::patch::elf::ElfPatch::new(&data, edits))
                    .transpose()
                    .map_err(patch_err)?;
                let written = patch.iter().flat_map(crate::patch::elf::ElfPatch::written);
                let before = spliced.then(|| crate::wheel::splice::PagesBefore::capture(&data, written));
                if let Some(patch) = patch {
                    patch.write_into(&mut data).map_err(patch_err)?;
                }
                let unchanged = before.map(|b| b.compare(&data));
                (data, unchanged)
            }
            BinaryEdits::MachO(edits) => on_copy(crate::patch::macho::apply(input, edits))?,
            BinaryEdits::Pe(edits) => on_copy(crate::patch::pe::apply(input, edits))?,
        };
        crate::timing::mark(format_args!("patched {}", b.name));
        let splice = blocks.zip(unchanged).map(|((i, index), unchanged)| (i, index, unchanged));
        let len = out.len();
        // A bundled library of a batch is looked up by the sha256 of its
        // patched bytes (computed now rather than beside its chunks): another
        // repair may have compressed it, or be at it.
        let mut sha256 = None;
        let mut share = Share::Alone;
        if let (Some(shared), PlanSource::File(_)) = (shared, &b.source) {
            if crate::wheel::writer::early_chunks(len, level).is_some() {
                let key = shared::Key { sha256: <sha2::Sha256 as sha2::Digest>::digest(&out).into(), len, level };
                share = match shared.find(key) {
                    shared::Found::Claimed(claim) => Share::Owner(Mutex::new(Some(claim))),
                    shared::Found::Done(d) => Share::Taken(d),
                    shared::Found::Busy => Share::Wait(key),
                };
                sha256 = Some(key.sha256);
            }
        }
        Ok(Patched {
            name: b.name.clone(),
            label,
            len,
            data: Mutex::new(Some(Arc::new(out))),
            splice,
            halfway: Mutex::new(None),
            sha256,
            share,
        })
    };
    // Compression runs as lists of jobs taken costliest first by whichever
    // worker is free: a spliced entry (most of its compressed bytes copied:
    // about an eighth of the cost of deflating as much anew), each chunk of
    // a new binary, and each new binary's sha256.
    //
    // Binaries of more than STAGED_ABOVE bytes in all are done in two
    // stages, so that a huge extension, its new stream and the bundled
    // libraries' bytes and streams are never in memory at once: first the
    // wheel's own binaries, whose splices stop halfway, once the patched
    // bytes are no longer needed and are freed; then the bundled libraries,
    // alongside the second halves of those splices (the libraries already
    // in memory are hashed in the first stage). Otherwise there is one
    // stage, and a splice is one job.
    let size_of = |b: &PlannedBinary| match &b.source {
        PlanSource::Entry(i) => archive.entries().get(*i).map_or(0, |e| e.size),
        PlanSource::File(p) => std::fs::metadata(p).map_or(0, |m| m.len()),
    };
    let total: u64 = plan.binaries.iter().map(size_of).sum();
    let all: Vec<usize> = (0..plan.binaries.len()).collect();
    let staged = total > STAGED_ABOVE;
    let stages: Vec<Vec<usize>> = if staged {
        // The bundled libraries already in memory are patched (in place) in
        // the first stage too, and hashed there, on the cores the first
        // halves leave idle; their chunks are deflated in the second.
        let (first, second) = all.into_iter().partition(|&k| match &plan.binaries[k].source {
            PlanSource::Entry(_) => true,
            PlanSource::File(p) => kept.holds_file(p),
        });
        vec![first, second]
    } else {
        vec![all]
    };
    // Runs a stage's jobs. Binary k's jobs record what they made (or the
    // first problem) in `progress[k]`; when its compression `ends` in this
    // stage, its content goes to the writer once the last of them is done
    // (at once when it has none).
    let run = |patched: &[Option<Patched>], jobs: Vec<(u64, Job)>, progress: &[Mutex<Progress>], ends: &[bool]| {
        let mut left: Vec<usize> = vec![0; patched.len()];
        for (_, j) in &jobs {
            left[j.binary()] += 1;
        }
        for k in (0..patched.len()).filter(|&k| ends[k] && left[k] == 0) {
            hand_over(patched[k].as_ref(), &progress[k]);
        }
        let left: Vec<std::sync::atomic::AtomicUsize> =
            left.into_iter().map(std::sync::atomic::AtomicUsize::new).collect();
        let mut jobs = jobs;
        jobs.sort_by_key(|(cost, job)| (std::cmp::Reverse(*cost), job.binary()));
        let jobs: Vec<Job> = jobs.into_iter().map(|(_, j)| j).collect();
        let of = |k: usize| patched[k].as_ref().unwrap_or_else(|| unreachable!("jobs are for patched binaries"));
        let bytes_of = |k: usize, take: bool| -> Arc<Vec<u8>> {
            let mut data = locked(&of(k).data);
            let bytes = if take { data.take() } else { data.clone() };
            bytes.unwrap_or_default()
        };
        let wheel_err = |source| Error::Wheel { path: archive.path().to_path_buf(), source };
        let one = |n: usize| -> Result<Done> {
            let k = jobs[n].binary();
            let p = of(k);
            let io_err = |e| Error::io(&p.label, e);
            let splice = || p.splice.as_ref().unwrap_or_else(|| unreachable!("a splice job has a splice"));
            // the first half of a splice: the patched bytes are freed once the new pieces are made
            let first_half = || {
                let (_, index, unchanged) = splice();
                crate::wheel::splice::splice_new_pieces(unchanged, index, bytes_of(k, true), level, CHUNK)
                    .map_err(io_err)
            };
            let second_half = |made| -> Result<Done> {
                let (i, index, _) = splice();
                let raw = archive.raw_data(*i).map_err(wheel_err)?;
                let spliced = crate::wheel::splice::splice_join(made, raw, index).map_err(io_err)?;
                archive.release(*i);
                crate::timing::mark(format_args!("compressed {}", p.name));
                Ok(Done::Spliced(spliced))
            };
            match jobs[n] {
                Job::Splice(_) => second_half(first_half()?),
                Job::SpliceNew(_) => {
                    let made = first_half()?;
                    crate::timing::mark(format_args!("halfway {}", p.name));
                    *locked(&p.halfway) = Some(made);
                    Ok(Done::Halfway)
                }
                Job::SpliceJoin(_) => {
                    let made = locked(&p.halfway).take();
                    second_half(made.unwrap_or_else(|| unreachable!("the first half ran in the first stage")))
                }
                Job::Chunk(_, c) => crate::wheel::writer::deflate_chunk(&bytes_of(k, false), c, level)
                    .map(|d| Done::Chunk(c, d))
                    .map_err(io_err),
                Job::Sha(_) => {
                    Ok(Done::Sha(<sha2::Sha256 as sha2::Digest>::digest(bytes_of(k, false).as_slice()).into()))
                }
            }
        };
        costliest_first(jobs.len(), |n| {
            let k = jobs[n].binary();
            match one(n) {
                Ok(d) => locked(&progress[k]).made.push(d),
                Err(e) => {
                    locked(&progress[k]).failed.get_or_insert(e);
                }
            }
            if left[k].fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 && ends[k] {
                hand_over(patched[k].as_ref(), &progress[k]);
            }
        });
    };
    // The jobs that compress `part` of binary `k`: a splice's halves are
    // split where the patched bytes are freed; a new binary's first half is
    // its sha256, its second its chunks.
    let jobs_for = |k: usize, p: &Patched, part: Part| -> Vec<(u64, Job)> {
        if p.splice.is_some() {
            let job = match part {
                Part::Whole => Job::Splice(k),
                Part::FirstHalf => Job::SpliceNew(k),
                Part::SecondHalf => Job::SpliceJoin(k),
            };
            return vec![(p.len as u64 / 8, job)];
        }
        if matches!(p.share, Share::Taken(_) | Share::Wait(_)) {
            return Vec::new();
        }
        let Some(chunks) = crate::wheel::writer::early_chunks(p.len, level) else { return Vec::new() };
        let mut jobs = Vec::new();
        if part != Part::SecondHalf && p.sha256.is_none() {
            jobs.push((p.len as u64 / 32, Job::Sha(k)));
        }
        if part != Part::FirstHalf {
            jobs.extend(chunks.into_iter().map(|c| ((c.end - c.start) as u64, Job::Chunk(k, c))));
        }
        jobs
    };
    // Patches and compresses every binary; the content of each goes to the
    // writer as soon as its last job is done. Returns each binary's splice
    // figures, or the problems in plan order. A promise not kept (a problem,
    // or a stage not reached) is dropped on return, which stops the writer.
    let patch = |promises: Vec<crate::wheel::writer::Promise>| -> Result<Vec<Option<String>>> {
        let n = plan.binaries.len();
        let progress: Vec<Mutex<Progress>> =
            promises.into_iter().map(|p| Mutex::new(Progress { promise: Some(p), ..Progress::default() })).collect();
        let mut patched: Vec<Option<Patched>> = (0..n).map(|_| None).collect();
        // whether a binary's compression is split over two stages, when it
        // is patched in a stage before the last: a splice, or a bundled
        // library (hashed first, deflated after)
        let splits =
            |k: usize, p: &Patched| p.splice.is_some() || matches!(plan.binaries[k].source, PlanSource::File(_));
        for (s, stage) in stages.iter().enumerate() {
            let results: Vec<Result<Patched>> =
                stage.par_iter().with_max_len(1).map(|&k| patch_one(&plan.binaries[k])).collect();
            // a stage that cannot be patched is not compressed, and ends the work
            let mut stop = false;
            for (&k, r) in stage.iter().zip(results) {
                match r {
                    Ok(p) => patched[k] = Some(p),
                    Err(e) => {
                        locked(&progress[k]).failed = Some(e);
                        stop = true;
                    }
                }
            }
            if stop {
                break;
            }
            // A stage before the last stops its splices halfway, and only
            // hashes the bundled libraries; the last finishes both. The
            // wheel's other binaries are done in the stage they are patched.
            let last = s + 1 == stages.len();
            let mut jobs: Vec<(u64, Job)> = Vec::new();
            // the binaries whose compression ends in this stage
            let mut ends = vec![false; n];
            for &k in stage {
                if let Some(p) = &patched[k] {
                    let split = !last && splits(k, p);
                    jobs.extend(jobs_for(k, p, if split { Part::FirstHalf } else { Part::Whole }));
                    ends[k] = !split;
                }
            }
            if last {
                for &k in stages[..s].iter().flatten() {
                    if let Some(p) = patched[k].as_ref().filter(|p| splits(k, p)) {
                        jobs.extend(jobs_for(k, p, Part::SecondHalf));
                        ends[k] = true;
                    }
                }
            }
            run(&patched, jobs, &progress, &ends);
            if progress.iter().any(|p| locked(p).failed.is_some()) {
                break;
            }
        }
        // Libraries another repair compresses are waited for only now, with
        // this repair's own compression done and every claim it held either
        // published or given up here: no two repairs wait on each other.
        for p in patched.iter().flatten() {
            if let Share::Owner(claim) = &p.share {
                drop(locked(claim).take());
            }
        }
        let failed = || progress.iter().any(|p| locked(p).failed.is_some());
        if let Some(shared) = shared.filter(|_| !failed()) {
            for (k, p) in patched.iter().enumerate() {
                let Some(p) = p else { continue };
                let Share::Wait(key) = &p.share else { continue };
                let (source, detail) = match shared.wait(*key) {
                    Some(d) => reused(p, d),
                    // given up by the other repair: deflated here
                    None => {
                        let bytes = locked(&p.data).clone().unwrap_or_default();
                        match crate::wheel::writer::deflate_early(&bytes, level) {
                            Ok(Some(d)) => (crate::wheel::Source::Deflated(Arc::new(d), p.len as u64), None),
                            Ok(None) => (crate::wheel::Source::Bytes(bytes), None),
                            Err(e) => {
                                locked(&progress[k]).failed = Some(Error::io(&p.label, e));
                                break;
                            }
                        }
                    }
                };
                let mut progress = locked(&progress[k]);
                if let Some(promise) = progress.promise.take() {
                    progress.detail = detail;
                    promise.keep(source);
                }
            }
        }
        // the problems in plan order, or each binary's figures; the promises
        // not kept are dropped here
        progress
            .into_iter()
            .map(|p| {
                let p = p.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
                p.failed.map_or(Ok(p.detail), Err)
            })
            .collect()
    };
    let dist_info_wheel = format!("{}/WHEEL", archive.dist_info_dir());
    // a WHEEL file rewritten to the same text is no change
    let wheel_file_same = match &wheel_file {
        None => true,
        Some(new) => {
            archive.entry_by_name(&dist_info_wheel).and_then(|e| archive.read(e.index).ok()).as_ref() == Some(new)
        }
    };
    let unchanged = plan.binaries.is_empty()
        && replaced.is_empty()
        && added.is_empty()
        && plan.dropped.is_empty()
        && wheel_file_same
        && plan.filename == archive.filename().to_string();
    std::fs::create_dir_all(&options.wheel_dir).map_err(|e| Error::io(&options.wheel_dir, e))?;
    let out = options.wheel_dir.join(&plan.filename);
    if unchanged {
        crate::wheel::writer::copy_wheel(archive, &out)?;
        return Ok(RepairOutcome {
            output: out,
            platform_tags: plan.platform_tags,
            bundled: Vec::new(),
            patched: Vec::new(),
            unchanged: true,
            messages: plan.messages,
            details: Vec::new(),
        });
    }
    // Every binary's entry is a promise of content, kept as soon as it is
    // compressed: the writer writes the entries before it meanwhile.
    let mut promises = Vec::with_capacity(plan.binaries.len());
    let mut new_binaries: BTreeMap<String, (crate::wheel::Source, Option<u32>)> = BTreeMap::new();
    for b in &plan.binaries {
        let (promise, source) = crate::wheel::writer::later();
        promises.push(promise);
        new_binaries.insert(b.name.clone(), (source, b.unix_mode));
    }
    let out_path = &out;
    let dropped = &plan.dropped;
    let write = move || -> Result<Vec<String>> {
        let mut added = added;
        added.extend(sbom()?);
        let mut entries = Vec::new();
        let mut patched_names = Vec::new();
        for (i, e) in archive.entries().iter().enumerate() {
            if dropped.contains(&i) {
                continue;
            }
            if let Some((name, data, mode)) = replaced.get(&i) {
                entries.push(OutputEntry::bytes(name.clone(), data.clone(), *mode));
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
        for (name, data, mode) in added {
            new_files.insert(name, (crate::wheel::Source::Bytes(Arc::new(data)), mode));
        }
        for (name, (source, mode)) in new_files {
            entries.push(OutputEntry { name, source, unix_mode: mode });
        }
        let write_options = WriteOptions { compression_level: options.compression_level, ..WriteOptions::default() };
        crate::wheel::writer::write_wheel(archive, entries, out_path, &write_options)?;
        crate::timing::mark("written");
        Ok(patched_names)
    };
    // The writer has workers of its own (itself and one more): what it runs
    // in parallel (the SBOM's scan of the package database) never waits
    // behind the compression jobs, nor they for it, even when the caller is
    // itself a worker of a busy pool.
    let writer_pool = || {
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .use_current_thread()
            .build()
            .map_err(|e| Error::io(out_path, std::io::Error::other(format!("the writer's threads: {e}"))))
    };
    let (patched, written) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| writer_pool()?.install(write));
        let patched = patch(promises);
        crate::timing::mark("patched");
        (patched, writer.join())
    });
    let written = written.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    // a problem of the binaries first: the writer's is then only that it stopped
    let details: Vec<String> = patched?.into_iter().flatten().collect();
    let patched_names = written?;
    Ok(RepairOutcome {
        output: out,
        platform_tags: plan.platform_tags,
        bundled: plan.bundled,
        patched: patched_names,
        unchanged,
        messages: plan.messages,
        details,
    })
}

/// auditwheel's clash-proof name: `<base>-<sha256[:8]>.<rest>` of the file
/// name (split at the first `.`), unless the base already ends with such a hash.
pub fn hashed_name(file_name: &str, data: &[u8]) -> String {
    use sha2::Digest;
    hashed_name_with(file_name, &sha2::Sha256::digest(data).into())
}

/// [`hashed_name`] from the sha256 of the content.
pub fn hashed_name_with(file_name: &str, digest: &[u8; 32]) -> String {
    let (base, rest) = match file_name.split_once('.') {
        Some((b, r)) => (b, Some(r)),
        None => (file_name, None),
    };
    let already = base.rsplit_once('-').is_some_and(|(_, h)| h.len() == 8 && h.bytes().all(|c| c.is_ascii_hexdigit()));
    if already {
        return file_name.to_string();
    }
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    match rest {
        Some(r) => format!("{base}-{hex}.{r}"),
        None => format!("{base}-{hex}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names() {
        let h = hashed_name("libfoo.so.1.2.3", b"abc");
        // sha256("abc") starts with ba7816bf
        assert_eq!(h, "libfoo-ba7816bf.so.1.2.3");
        assert_eq!(hashed_name(&h, b"other"), h, "never double-suffixed");
        assert_eq!(hashed_name("libx", b"abc"), "libx-ba7816bf");
    }

    /// Every job runs once and its result comes back at its place, on pools
    /// of one to three workers, with jobs that use the pool themselves.
    #[test]
    fn costliest_first_runs_every_job_once_in_order() {
        for threads in 1..=3 {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            for n in [0usize, 1, 2, 7, 40] {
                let runs: Vec<std::sync::atomic::AtomicUsize> =
                    (0..n).map(|_| std::sync::atomic::AtomicUsize::new(0)).collect();
                let got = pool.install(|| {
                    costliest_first(n, |i| {
                        runs[i].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        // nested parallel work, as a splice does
                        (0..1000u64).into_par_iter().map(|x| x * i as u64).sum::<u64>()
                    })
                });
                let want: Vec<u64> = (0..n).map(|i| 499_500 * i as u64).collect();
                assert_eq!(got, want, "{threads} workers, {n} jobs");
                assert!(runs.iter().all(|r| r.load(std::sync::atomic::Ordering::SeqCst) == 1));
            }
        }
    }
}
