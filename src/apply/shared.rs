//! Bundled libraries compressed once for a batch of repairs.
//!
//! The wheels of one project (one per Python version, say) usually bundle
//! the same libraries, patched the same way: the same bytes, deflated to the
//! same stream, since the writer's deflate depends only on the bytes and the
//! level. When several wheels are repaired in one run, the first repair to
//! reach such a library deflates it; the others take its stream.
//!
//! A stream is found by the sha256 and length of the patched bytes (what
//! RECORD vouches for) and the level. A repair that finds the library being
//! deflated by another waits for it, but only once its own compression is
//! done: a repair never waits while it holds a library others wait for, so
//! no two repairs wait on each other. When the other repair fails, the
//! waiting one deflates the library itself.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};

use crate::sync::locked;
use crate::wheel::writer::Deflated;

/// How many compressed bytes [`SharedLibraries::new`] keeps at most (256
/// MiB); a stream that does not fit is not kept, and other repairs deflate
/// that library again.
pub const DEFAULT_BUDGET: usize = 256 << 20;

/// The compressed streams of bundled libraries, shared by the repairs of a
/// batch (see the module's documentation). Pass the same value to each
/// `repair_sharing` of the batch.
#[derive(Debug)]
pub struct SharedLibraries {
    slots: Mutex<Slots>,
    changed: Condvar,
}

#[derive(Debug)]
struct Slots {
    map: HashMap<Key, Slot>,
    /// Compressed bytes held by `map`.
    held: usize,
    budget: usize,
    /// Repairs in [`SharedLibraries::wait`] now.
    waiting: usize,
}

/// The patched bytes' sha256 and length, and the deflate level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub sha256: [u8; 32],
    pub len: usize,
    pub level: u32,
}

#[derive(Debug)]
enum Slot {
    /// A repair is deflating it.
    Busy,
    Done(Arc<Deflated>),
}

/// What [`SharedLibraries::find`] gave.
pub(crate) enum Found<'a> {
    /// Nobody had it: the caller deflates it and publishes the stream.
    Claimed(Claim<'a>),
    /// Deflated already.
    Done(Arc<Deflated>),
    /// Another repair (or another binary of the same one) is deflating it.
    Busy,
}

/// A library the holder deflates for the others; dropped without
/// [`Claim::publish`], it is given up, and whoever waits deflates it.
pub(crate) struct Claim<'a> {
    shared: &'a SharedLibraries,
    key: Key,
}

impl Default for SharedLibraries {
    fn default() -> Self {
        Self::new()
    }
}

impl SharedLibraries {
    /// Sharing that keeps up to [`DEFAULT_BUDGET`] compressed bytes.
    pub fn new() -> Self {
        Self::with_budget(DEFAULT_BUDGET)
    }

    /// Sharing that keeps up to `budget` compressed bytes.
    pub fn with_budget(budget: usize) -> Self {
        Self { slots: Mutex::new(Slots { map: HashMap::new(), held: 0, budget, waiting: 0 }), changed: Condvar::new() }
    }

    /// How many streams are kept.
    pub fn len(&self) -> usize {
        locked(&self.slots).map.values().filter(|s| matches!(s, Slot::Done(_))).count()
    }

    /// Whether no stream is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn find(&self, key: Key) -> Found<'_> {
        let mut slots = locked(&self.slots);
        match slots.map.get(&key) {
            Some(Slot::Done(d)) => Found::Done(d.clone()),
            Some(Slot::Busy) => Found::Busy,
            None => {
                slots.map.insert(key, Slot::Busy);
                Found::Claimed(Claim { shared: self, key })
            }
        }
    }

    /// Waits until the library is deflated (its stream) or given up (`None`).
    pub(crate) fn wait(&self, key: Key) -> Option<Arc<Deflated>> {
        let mut slots = locked(&self.slots);
        slots.waiting += 1;
        let found = loop {
            match slots.map.get(&key) {
                Some(Slot::Done(d)) => break Some(d.clone()),
                Some(Slot::Busy) => {
                    slots = self.changed.wait(slots).unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                None => break None,
            }
        };
        slots.waiting -= 1;
        found
    }

    /// How many repairs are waiting now for a library another one compresses.
    pub fn waiting(&self) -> usize {
        locked(&self.slots).waiting
    }

    fn settle(&self, key: Key, deflated: Option<&Arc<Deflated>>) {
        let mut slots = locked(&self.slots);
        let size = deflated.map_or(0, |d| d.data.len());
        match deflated {
            Some(d) if slots.held + size <= slots.budget => {
                slots.held += size;
                slots.map.insert(key, Slot::Done(d.clone()));
            }
            _ => {
                slots.map.remove(&key);
            }
        }
        self.changed.notify_all();
    }
}

impl Claim<'_> {
    /// Hands the stream to the others (kept when the budget allows).
    pub(crate) fn publish(self, deflated: &Arc<Deflated>) {
        self.shared.settle(self.key, Some(deflated));
        std::mem::forget(self);
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.shared.settle(self.key, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Key {
        Key { sha256: [n; 32], len: 10, level: 6 }
    }

    fn stream(n: usize) -> Arc<Deflated> {
        Arc::new(Deflated { data: vec![0; n].into(), crc32: 0, sha256: [0; 32] })
    }

    /// Returns once `n` repairs are blocked in [`SharedLibraries::wait`].
    fn until_waiting(s: &SharedLibraries, n: usize) {
        while s.waiting() < n {
            std::thread::yield_now();
        }
    }

    #[test]
    fn the_first_claims_the_others_find_it_busy_then_done() {
        let s = SharedLibraries::new();
        let Found::Claimed(c) = s.find(key(1)) else { panic!("vacant") };
        assert!(matches!(s.find(key(1)), Found::Busy));
        assert!(matches!(s.find(key(2)), Found::Claimed(_)), "another key is its own");
        let d = stream(5);
        c.publish(&d);
        let Found::Done(got) = s.find(key(1)) else { panic!("published") };
        assert!(Arc::ptr_eq(&got, &d));
        assert!(Arc::ptr_eq(&s.wait(key(1)).unwrap(), &d));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn a_claim_given_up_wakes_the_waiter_with_nothing() {
        let s = SharedLibraries::new();
        let Found::Claimed(c) = s.find(key(1)) else { panic!("vacant") };
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| s.wait(key(1)));
            until_waiting(&s, 1);
            drop(c);
            assert!(waiter.join().unwrap().is_none());
        });
        assert!(matches!(s.find(key(1)), Found::Claimed(_)), "vacant again");
    }

    #[test]
    fn a_waiter_gets_the_stream_published_later() {
        let s = SharedLibraries::new();
        let Found::Claimed(c) = s.find(key(3)) else { panic!("vacant") };
        let d = stream(7);
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| s.wait(key(3)));
            until_waiting(&s, 1);
            c.publish(&d);
            assert!(Arc::ptr_eq(&waiter.join().unwrap().unwrap(), &d));
        });
    }

    #[test]
    fn streams_beyond_the_budget_are_not_kept() {
        let s = SharedLibraries::with_budget(10);
        let Found::Claimed(a) = s.find(key(1)) else { panic!() };
        a.publish(&stream(8));
        let Found::Claimed(b) = s.find(key(2)) else { panic!() };
        b.publish(&stream(3));
        assert!(matches!(s.find(key(1)), Found::Done(_)));
        assert!(s.wait(key(2)).is_none(), "8 + 3 > 10: not kept");
        assert_eq!(s.len(), 1);
    }
}
