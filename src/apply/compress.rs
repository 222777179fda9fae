//! Patching and compressing a plan's binaries, stage by stage, each
//! binary's content handed to the writer as soon as its last job is done.
//!
//! Compression runs as lists of jobs taken costliest first by whichever
//! worker is free: a spliced entry (most of its compressed bytes copied:
//! about an eighth of the cost of deflating as much anew), each chunk of a
//! new binary, and each new binary's sha256.
//!
//! Binaries of more than [`STAGED_ABOVE`](super::schedule::STAGED_ABOVE)
//! bytes in all are done in stages, so that a huge extension, its new
//! stream and the bundled libraries' bytes and streams are never in memory
//! at once: first the wheel's own binaries, whose splices stop halfway, once
//! the patched bytes are no longer needed and are freed, and the libraries
//! already in memory; then the other bundled libraries, a
//! [`WINDOW`](super::schedule::WINDOW) of bytes at a time in the order the
//! writer takes them, the second halves of those splices beside the first
//! group. A stage's libraries are freed as each is handed to the writer,
//! before the next stage reads more. When no library is left to read after
//! the first stage, the libraries already in memory are only hashed there
//! and deflated beside the second halves, on the cores they leave idle.
//! Otherwise there is one stage, and a splice is one job.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use super::patch::{Kept, Patched, Patcher, Share};
use super::schedule::{costliest_first, Half, Job};
use super::shared::SharedLibraries;
use crate::error::{Error, Result};
use crate::plan::{Plan, PlanSource};
use crate::sync::locked;
use crate::wheel::splice::{SpliceStats, Unchanged};
use crate::wheel::writer::{ChunkRange, Deflated, Promise, CHUNK};
use crate::wheel::Source;

/// What a [`Job`] made.
enum Done {
    Spliced((Deflated, SpliceStats)),
    /// A splice's first half, kept in its [`Splice`](super::patch::Splice).
    Halfway,
    Chunk(ChunkRange, (Vec<u8>, crc32fast::Hasher)),
    Sha([u8; 32]),
}

/// Where a binary's compression stands: the writer's promise of its
/// content (until handed over), what its jobs made so far, the first
/// problem, and the splice's figures once its content went to the writer.
#[derive(Default)]
struct Progress {
    promise: Option<Promise>,
    made: Vec<Done>,
    failed: Option<Error>,
    detail: Option<String>,
}

/// The patching and compression of one plan's binaries.
pub(super) struct Compressor<'a> {
    plan: &'a Plan,
    patcher: Patcher<'a>,
    shared: Option<&'a SharedLibraries>,
    /// Per binary of the plan, once patched.
    patched: Vec<Option<Patched<'a>>>,
    progress: Vec<Mutex<Progress>>,
}

impl<'a> Compressor<'a> {
    /// Ready to patch `plan`'s binaries, whose content goes to `promises`.
    pub(super) fn new(plan: &'a Plan, patcher: Patcher<'a>, promises: Vec<Promise>) -> Self {
        let progress =
            promises.into_iter().map(|p| Mutex::new(Progress { promise: Some(p), ..Progress::default() })).collect();
        let shared = patcher.shared;
        Compressor { plan, patcher, shared, patched: (0..plan.binaries.len()).map(|_| None).collect(), progress }
    }

    fn failed(&self) -> bool {
        self.progress.iter().any(|p| locked(p).failed.is_some())
    }

    /// Patches and compresses every binary, stage by stage, taking the
    /// bytes in `kept`. Returns each binary's splice figures, or the
    /// problems in plan order. A promise not kept (a problem, or a stage not
    /// reached) is dropped on return, which stops the writer.
    pub(super) fn run(mut self, stages: &[Vec<usize>], mut kept: Vec<Option<Kept>>) -> Result<Vec<Option<String>>> {
        for (s, stage) in stages.iter().enumerate() {
            let inputs: Vec<(usize, Option<Kept>)> = stage.iter().map(|&k| (k, kept[k].take())).collect();
            let results: Vec<Result<Patched<'a>>> = inputs
                .into_par_iter()
                .with_max_len(1)
                .map(|(k, kept)| self.patcher.patch(&self.plan.binaries[k], kept))
                .collect();
            // a stage that cannot be patched is not compressed, and ends the work
            let mut stop = false;
            for (&k, r) in stage.iter().zip(results) {
                match r {
                    Ok(p) => self.patched[k] = Some(p),
                    Err(e) => {
                        locked(&self.progress[k]).failed = Some(e);
                        stop = true;
                    }
                }
            }
            if stop {
                break;
            }
            crate::timing::mark(format_args!("stage {s}: {} binaries patched", stage.len()));
            self.compress_stage(stages, s);
            if self.failed() {
                break;
            }
        }
        self.finish_shared();
        // the problems in plan order, or each binary's figures; the promises
        // not kept are dropped here
        self.progress
            .into_iter()
            .map(|p| {
                let p = p.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
                p.failed.map_or(Ok(p.detail), Err)
            })
            .collect()
    }

    /// Whether the compression of binary `k`, patched in the first of
    /// several stages, is split over the first two: a splice; a bundled
    /// library (hashed first, deflated after) only when the second stage
    /// reads no library of its own.
    fn splits(&self, stages: &[Vec<usize>], k: usize, p: &Patched<'_>) -> bool {
        let library = matches!(self.plan.binaries[k].source, PlanSource::File(_));
        p.splice().is_some() || (library && stages.get(1).is_some_and(Vec::is_empty))
    }

    /// Compresses stage `s`: the first of several stops its splices
    /// halfway (and may only hash its libraries); the second finishes them.
    /// Every other binary is done in the stage it is patched.
    fn compress_stage(&self, stages: &[Vec<usize>], s: usize) {
        let splitting = s == 0 && stages.len() > 1;
        let mut jobs: Vec<(u64, Job)> = Vec::new();
        // the binaries whose compression ends in this stage
        let mut ends = vec![false; self.patched.len()];
        for &k in &stages[s] {
            if let Some(p) = &self.patched[k] {
                let split = splitting && self.splits(stages, k, p);
                jobs.extend(self.jobs_for(k, p, if split { Half::First } else { Half::Whole }));
                ends[k] = !split;
            }
        }
        if s == 1 {
            for &k in &stages[0] {
                if let Some(p) = self.patched[k].as_ref().filter(|p| self.splits(stages, k, p)) {
                    jobs.extend(self.jobs_for(k, p, Half::Second));
                    ends[k] = true;
                }
            }
        }
        self.run_jobs(jobs, &ends);
    }

    /// The jobs that compress `half` of binary `k`: a splice's halves are
    /// split where the patched bytes are freed; a new binary's first half is
    /// its sha256, its second its chunks.
    fn jobs_for(&self, k: usize, p: &Patched<'_>, half: Half) -> Vec<(u64, Job)> {
        let level = self.patcher.level;
        if p.splice().is_some() {
            let job = match half {
                Half::Whole => Job::Splice(k),
                Half::First => Job::SpliceNew(k),
                Half::Second => Job::SpliceJoin(k),
            };
            return vec![(p.len as u64 / 8, job)];
        }
        if matches!(p.share(), Some(Share::Taken(_) | Share::Wait(_))) {
            return Vec::new();
        }
        let Some(chunks) = crate::wheel::writer::early_chunks(p.len, level) else { return Vec::new() };
        let mut jobs = Vec::new();
        let sha256 = matches!(p.route, super::patch::Route::Deflate { sha256: Some(_), .. });
        if half != Half::Second && !sha256 {
            jobs.push((p.len as u64 / 32, Job::Sha(k)));
        }
        if half != Half::First {
            jobs.extend(chunks.into_iter().map(|c| ((c.end - c.start) as u64, Job::Chunk(k, c))));
        }
        jobs
    }

    fn patched(&self, k: usize) -> &Patched<'a> {
        self.patched[k].as_ref().unwrap_or_else(|| unreachable!("jobs are for patched binaries"))
    }

    /// Runs a stage's jobs. Binary k's jobs record what they made (or the
    /// first problem) in its progress; when its compression `ends` in this
    /// stage, its content goes to the writer once the last of them is done
    /// (at once when it has none).
    fn run_jobs(&self, mut jobs: Vec<(u64, Job)>, ends: &[bool]) {
        let mut left: Vec<usize> = vec![0; self.patched.len()];
        for (_, j) in &jobs {
            left[j.binary()] += 1;
        }
        for k in (0..self.patched.len()).filter(|&k| ends[k] && left[k] == 0) {
            self.hand_over(k);
        }
        let left: Vec<AtomicUsize> = left.into_iter().map(AtomicUsize::new).collect();
        jobs.sort_by_key(|(cost, job)| (std::cmp::Reverse(*cost), job.binary()));
        let jobs: Vec<Job> = jobs.into_iter().map(|(_, j)| j).collect();
        costliest_first(jobs.len(), |n| {
            let k = jobs[n].binary();
            match self.job(jobs[n]) {
                Ok(d) => locked(&self.progress[k]).made.push(d),
                Err(e) => {
                    locked(&self.progress[k]).failed.get_or_insert(e);
                }
            }
            if left[k].fetch_sub(1, Ordering::AcqRel) == 1 && ends[k] {
                self.hand_over(k);
            }
        });
    }

    /// The patched bytes of binary `k`, taken (freed once the caller is done) or shared.
    fn bytes_of(&self, k: usize, take: bool) -> Arc<Vec<u8>> {
        let mut data = locked(&self.patched(k).data);
        let bytes = if take { data.take() } else { data.clone() };
        bytes.unwrap_or_default()
    }

    /// Runs one job.
    fn job(&self, job: Job) -> Result<Done> {
        let k = job.binary();
        let p = self.patched(k);
        let level = self.patcher.level;
        let io_err = |e| Error::io(&p.label, e);
        let splice = || p.splice().unwrap_or_else(|| unreachable!("a splice job has a splice"));
        // the first half of a splice: the patched bytes are freed once the new pieces are made
        let first_half = || {
            let s = splice();
            // made already by a patch in part
            if let Some(made) = locked(&s.halfway).take() {
                return Ok(made);
            }
            let unchanged: &Unchanged = &s.unchanged;
            crate::wheel::splice::splice_new_pieces(unchanged, &s.blocks, self.bytes_of(k, true), level, CHUNK)
                .map_err(io_err)
        };
        let second_half = |made| -> Result<Done> {
            let s = splice();
            let archive = self.patcher.archive;
            let wheel_err = |source| Error::Wheel { path: archive.path().to_path_buf(), source };
            let raw = archive.raw_data(s.index).map_err(wheel_err)?;
            let mut released = 0usize;
            let mut release = |upto: usize| archive.release_consumed(raw, &mut released, upto);
            // a stream as large as a huge entry's is written out as it is made
            let spill = (raw.len() as u64 >= crate::analyze::partial_patch_above()).then_some(self.patcher.spill_dir);
            let spliced = crate::wheel::splice::splice_join_releasing(made, raw, &s.blocks, &mut release, spill)
                .map_err(io_err)?;
            if spill.is_some() {
                crate::timing::mark(format_args!("spilled the new stream of {}", p.name));
            }
            archive.release(s.index);
            crate::timing::mark(format_args!("compressed {}", p.name));
            Ok(Done::Spliced(spliced))
        };
        match job {
            Job::Splice(_) => second_half(first_half()?),
            Job::SpliceNew(_) => {
                let made = first_half()?;
                crate::timing::mark(format_args!("halfway {}", p.name));
                *locked(&splice().halfway) = Some(made);
                Ok(Done::Halfway)
            }
            Job::SpliceJoin(_) => {
                let made = locked(&splice().halfway).take();
                second_half(made.unwrap_or_else(|| unreachable!("the first half ran in the first stage")))
            }
            Job::Chunk(_, c) => crate::wheel::writer::deflate_chunk(&self.bytes_of(k, false), c, level)
                .map(|d| Done::Chunk(c, d))
                .map_err(io_err),
            Job::Sha(_) => {
                Ok(Done::Sha(<sha2::Sha256 as sha2::Digest>::digest(self.bytes_of(k, false).as_slice()).into()))
            }
        }
    }

    /// Hands binary `k`, whose last job is done, to the writer; one with a
    /// problem (or never patched) drops its promise instead, which stops the
    /// writer. A library another repair compresses is handed over once
    /// waited for ([`Compressor::finish_shared`]).
    fn hand_over(&self, k: usize) {
        let patched = self.patched[k].as_ref();
        if patched.is_some_and(|p| matches!(p.share(), Some(Share::Wait(_)))) {
            return;
        }
        let mut progress = locked(&self.progress[k]);
        let Some(promise) = progress.promise.take() else { return };
        let (Some(p), None) = (patched, &progress.failed) else { return };
        let (source, detail) = finish_compressed(p, std::mem::take(&mut progress.made));
        if let (Some(Share::Owner(claim)), Source::Deflated(d, _)) = (p.share(), &source) {
            if let Some(claim) = locked(claim).take() {
                claim.publish(d);
            }
        }
        progress.detail = detail;
        promise.keep(source);
        // its bytes are not needed any more: freed before a later stage reads others
        drop(locked(&p.data).take());
    }

    /// Libraries another repair compresses are waited for only now, with
    /// this repair's own compression done and every claim it held either
    /// published or given up here: no two repairs wait on each other.
    fn finish_shared(&self) {
        for p in self.patched.iter().flatten() {
            if let Some(Share::Owner(claim)) = p.share() {
                drop(locked(claim).take());
            }
        }
        let Some(shared) = self.shared.filter(|_| !self.failed()) else { return };
        let level = self.patcher.level;
        for (k, p) in self.patched.iter().enumerate() {
            let Some(p) = p else { continue };
            let Some(Share::Wait(key)) = p.share() else { continue };
            let (source, detail) = match shared.wait(*key) {
                Some(d) => reused(p, d),
                // given up by the other repair: deflated here
                None => {
                    let bytes = locked(&p.data).clone().unwrap_or_default();
                    match crate::wheel::writer::deflate_early(&bytes, level) {
                        Ok(Some(d)) => (Source::Deflated(Arc::new(d), p.len as u64), None),
                        Ok(None) => (Source::Bytes(bytes), None),
                        Err(e) => {
                            locked(&self.progress[k]).failed = Some(Error::io(&p.label, e));
                            break;
                        }
                    }
                }
            };
            let mut progress = locked(&self.progress[k]);
            if let Some(promise) = progress.promise.take() {
                progress.detail = detail;
                promise.keep(source);
            }
        }
    }
}

/// The content a patched binary becomes, from what its jobs made: its
/// stream (spliced, or its chunks joined with its sha256), or its bytes for
/// the writer to deflate when no job compressed it. With the splice's figures.
fn finish_compressed(p: &Patched<'_>, done: Vec<Done>) -> (Source, Option<String>) {
    if let Some(Share::Taken(d)) = p.share() {
        return reused(p, d.clone());
    }
    let len = p.len as u64;
    let mut spliced = None;
    let mut sha256 = match p.route {
        super::patch::Route::Deflate { sha256, .. } => sha256,
        super::patch::Route::Splice(_) => None,
    };
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
            (Source::Deflated(Arc::new(deflated), len), Some(detail))
        }
        (None, Some(sha256)) => {
            chunks.sort_by_key(|(start, _)| *start);
            let deflated = crate::wheel::writer::join_chunks(chunks.into_iter().map(|(_, c)| c).collect(), sha256);
            crate::timing::mark(format_args!("compressed {}", p.name));
            (Source::Deflated(Arc::new(deflated), len), None)
        }
        // not taken pre-compressed: the writer deflates it
        (None, None) => (Source::Bytes(locked(&p.data).take().unwrap_or_default()), None),
    }
}

/// The content of bundled library `p` when another repair of the batch
/// compressed the same bytes: that stream, and what `-v` says of it.
fn reused(p: &Patched<'_>, d: Arc<Deflated>) -> (Source, Option<String>) {
    let detail = format!("`{}`: the same bytes were already compressed in this run; that stream is reused", p.name);
    (Source::Deflated(d, p.len as u64), Some(detail))
}
