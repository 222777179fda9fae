//! The compression schedule: what each binary's compression is made of
//! ([`Job`]s), which part of it a stage does ([`Half`]), the stages of a
//! large repair, and the scheduler that runs jobs costliest first.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::sync::locked;
use crate::wheel::writer::ChunkRange;

/// Above this many bytes of binaries to patch (64 MiB), a repair patches and
/// compresses the wheel's own binaries first and the bundled libraries
/// after, to keep its peak memory down; below, all at once.
pub(super) const STAGED_ABOVE: u64 = 64 << 20;

/// One compression job of a repair, on binary `k` of the plan.
#[derive(Debug, Clone, Copy)]
pub(super) enum Job {
    /// Re-compress by splicing with the input's stream.
    Splice(usize),
    /// The first half of a splice, up to where the patched bytes are freed.
    SpliceNew(usize),
    /// The second half of a splice whose first half ran in an earlier stage.
    SpliceJoin(usize),
    /// Deflate one chunk of a new binary.
    Chunk(usize, ChunkRange),
    /// The sha256 of a new binary.
    Sha(usize),
}

impl Job {
    /// The binary the job is for.
    pub(super) fn binary(&self) -> usize {
        match *self {
            Job::Splice(k) | Job::SpliceNew(k) | Job::SpliceJoin(k) | Job::Chunk(k, _) | Job::Sha(k) => k,
        }
    }
}

/// Which part of a binary's compression a stage does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Half {
    /// All of it.
    Whole,
    /// Up to where a splice frees the patched bytes; a new binary's sha256.
    First,
    /// The rest, after a first half in an earlier stage.
    Second,
}

/// The binaries (by plan index) patched in each stage. A large repair has
/// two: the wheel's own binaries and the bundled libraries already in
/// memory, then the other libraries. Otherwise there is one.
pub(super) fn stages(sizes: &[u64], first_stage: impl Fn(usize) -> bool) -> Vec<Vec<usize>> {
    let total: u64 = sizes.iter().sum();
    let all: Vec<usize> = (0..sizes.len()).collect();
    if total > STAGED_ABOVE {
        let (first, second) = all.into_iter().partition(|&k| first_stage(k));
        vec![first, second]
    } else {
        vec![all]
    }
}

/// Runs jobs `0..n`, which the caller has sorted costliest first, on every
/// worker of the rayon pool: each worker takes the next job as soon as it is
/// free (greedy list scheduling), so a few long jobs never end up queued
/// behind each other on one worker. Results come back in job order.
pub(super) fn costliest_first<T: Send>(n: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<T>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    /// Every job runs once and its result comes back at its place, on pools
    /// of one to three workers, with jobs that use the pool themselves.
    #[test]
    fn costliest_first_runs_every_job_once_in_order() {
        for threads in 1..=3 {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            for n in [0usize, 1, 2, 7, 40] {
                let runs: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                let got = pool.install(|| {
                    costliest_first(n, |i| {
                        runs[i].fetch_add(1, Ordering::SeqCst);
                        // nested parallel work, as a splice does
                        (0..1000u64).into_par_iter().map(|x| x * i as u64).sum::<u64>()
                    })
                });
                let want: Vec<u64> = (0..n).map(|i| 499_500 * i as u64).collect();
                assert_eq!(got, want, "{threads} workers, {n} jobs");
                assert!(runs.iter().all(|r| r.load(Ordering::SeqCst) == 1));
            }
        }
    }
}
