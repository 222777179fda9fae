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

/// At most this many bytes of bundled libraries (32 MiB) are read, patched
/// and compressed at once in a staged repair: the libraries not already in
/// memory go through in groups of at most this size (a larger library
/// alone), in the order the writer takes them.
pub(super) const WINDOW: u64 = 32 << 20;

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

/// The binaries (by plan index) patched in each stage. A large repair (more
/// than [`STAGED_ABOVE`] bytes) has two or more: the wheel's own binaries
/// and the bundled libraries already in memory (`first_stage`), then the
/// other libraries in the order of `key` (the writer's), in groups of at
/// most [`WINDOW`] bytes ([`groups`]; the second stage may be empty).
/// Otherwise there is one.
pub(super) fn stages<K: Ord>(
    sizes: &[u64],
    first_stage: impl Fn(usize) -> bool,
    key: impl Fn(usize) -> K,
) -> Vec<Vec<usize>> {
    let total: u64 = sizes.iter().sum();
    let all: Vec<usize> = (0..sizes.len()).collect();
    if total <= STAGED_ABOVE {
        return vec![all];
    }
    let (first, mut rest): (Vec<usize>, Vec<usize>) = all.into_iter().partition(|&k| first_stage(k));
    rest.sort_by_key(|&k| key(k));
    let mut stages = vec![first];
    let rest: Vec<(usize, u64)> = rest.into_iter().map(|k| (k, sizes[k])).collect();
    stages.extend(groups(&rest, WINDOW));
    if stages.len() == 1 {
        stages.push(Vec::new());
    }
    stages
}

/// `items` (index, bytes) cut, in their order, into groups of at most
/// `bound` bytes; an item larger than `bound` is a group of its own.
pub(super) fn groups(items: &[(usize, u64)], bound: u64) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut held = 0u64;
    for &(k, size) in items {
        match groups.last_mut() {
            Some(g) if held.saturating_add(size) <= bound => {
                g.push(k);
                held += size;
            }
            _ => {
                groups.push(vec![k]);
                held = size;
            }
        }
    }
    groups
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

    /// Groups keep the items' order, hold each item once, and never more
    /// than the bound but for an item larger than it, alone.
    #[test]
    fn groups_stay_within_the_bound() {
        let sizes = [5u64, 30, 1, 1, 40, 2, 29, 3, 0, 32, 33, 7];
        let items: Vec<(usize, u64)> = sizes.iter().copied().enumerate().collect();
        let got = groups(&items, 32);
        assert_eq!(got.concat(), (0..sizes.len()).collect::<Vec<_>>());
        for g in &got {
            let held: u64 = g.iter().map(|&k| sizes[k]).sum();
            assert!(held <= 32 || g.len() == 1, "{g:?} holds {held}");
        }
        // as few groups as the order allows: no two neighbours would fit together
        for w in got.windows(2) {
            let both: u64 = w.iter().flatten().map(|&k| sizes[k]).sum();
            assert!(both > 32, "{w:?} fit in one group");
        }
        assert_eq!(got, vec![vec![0], vec![1, 2, 3], vec![4], vec![5, 6], vec![7, 8], vec![9], vec![10], vec![11]]);
        assert!(groups(&[], 32).is_empty());
    }

    /// A repair with a hundred libraries (sizes of GDAL's, 150 MiB in all)
    /// reads them a window at a time, in the writer's order, after its own
    /// binaries and the libraries already in memory; a small repair is one stage.
    #[test]
    fn a_large_repair_reads_its_libraries_a_window_at_a_time() {
        const MIB: u64 = 1 << 20;
        let mut sizes: Vec<u64> = vec![6 * MIB, 2 * MIB];
        sizes.extend((0..100u64).map(|i| (i * 7919 % 3000 + 30) << 10));
        sizes.extend([31 * MIB, 24 * MIB, 16 * MIB, 40 * MIB]);
        let names: Vec<String> = (0..sizes.len()).map(|k| format!("lib{:03}", (k * 37) % sizes.len())).collect();
        let own_or_kept = |k: usize| k < 2 || k % 10 == 3;
        let stages = stages(&sizes, own_or_kept, |k| names[k].clone());
        assert!(stages.len() > 4, "{} stages", stages.len());
        assert_eq!(stages[0], (0..sizes.len()).filter(|&k| own_or_kept(k)).collect::<Vec<_>>());
        let later: Vec<usize> = stages[1..].concat();
        assert!(later.windows(2).all(|w| names[w[0]] < names[w[1]]), "not in the writer's order");
        assert_eq!(later.len() + stages[0].len(), sizes.len());
        for s in &stages[1..] {
            let held: u64 = s.iter().map(|&k| sizes[k]).sum();
            assert!(held <= WINDOW || s.len() == 1, "a stage holds {} MiB", held / MIB);
        }
        // everything in memory already: an empty second stage for the second halves
        assert_eq!(super::stages(&sizes, |_| true, |k| k).len(), 2);
        assert!(super::stages(&sizes, |_| true, |k| k)[1].is_empty());
        // small: one stage, everything at once
        assert_eq!(super::stages(&[MIB, 2 * MIB, STAGED_ABOVE - 3 * MIB], |_| false, |k| k), vec![vec![0, 1, 2]]);
    }

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
