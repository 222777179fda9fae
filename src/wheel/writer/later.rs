//! Content promised to the writer: a [`Source::Later`] whose bytes another
//! thread is still making, and the [`Promise`] that delivers them.

use std::sync::Arc;

use super::Source;

/// The slot of a [`Source::Later`]: empty until its [`Promise`] is kept or
/// dropped.
pub struct Later {
    state: std::sync::Mutex<LaterState>,
    changed: std::sync::Condvar,
}

enum LaterState {
    Waiting,
    Kept(Source),
    /// The promise was dropped unkept (the maker failed): the writer stops.
    Broken,
    /// The writer took the source.
    Taken,
}

impl std::fmt::Debug for Later {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Later")
    }
}

/// The maker's side of a [`Source::Later`]: [`Promise::keep`] hands the
/// content to the writer; dropping it unkept makes the writer stop with an
/// error instead of waiting forever.
#[derive(Debug)]
pub struct Promise(Arc<Later>);

/// A source whose content comes later, and the promise that delivers it.
pub fn later() -> (Promise, Source) {
    let slot =
        Arc::new(Later { state: std::sync::Mutex::new(LaterState::Waiting), changed: std::sync::Condvar::new() });
    (Promise(slot.clone()), Source::Later(slot))
}

impl Later {
    fn state(&self) -> std::sync::MutexGuard<'_, LaterState> {
        crate::sync::locked(&self.state)
    }

    fn settle(&self, to: LaterState) {
        let mut state = self.state();
        if matches!(*state, LaterState::Waiting) {
            *state = to;
            self.changed.notify_all();
        }
    }

    /// Whether the content is there (or will never be), without waiting.
    pub(super) fn settled(&self) -> bool {
        !matches!(*self.state(), LaterState::Waiting)
    }

    /// Waits for the content; `None` when the promise was broken (or the
    /// content already taken).
    pub(super) fn take(&self) -> Option<Source> {
        let mut state = self.state();
        while matches!(*state, LaterState::Waiting) {
            state = self.changed.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        match std::mem::replace(&mut *state, LaterState::Taken) {
            LaterState::Kept(source) => Some(source),
            other => {
                *state = other;
                None
            }
        }
    }
}

impl Promise {
    /// Hands `source` to the writer.
    pub fn keep(self, source: Source) {
        self.0.settle(LaterState::Kept(source));
    }
}

impl Drop for Promise {
    fn drop(&mut self) {
        self.0.settle(LaterState::Broken);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_source_is_taken_once() {
        let (promise, source) = later();
        let Source::Later(slot) = source else { panic!("a later source") };
        assert!(!slot.settled());
        promise.keep(Source::Bytes(Arc::new(b"x".to_vec())));
        assert!(slot.settled());
        assert!(matches!(slot.take(), Some(Source::Bytes(b)) if b.as_slice() == b"x"));
        assert!(slot.take().is_none(), "a second take finds nothing");
        // a dropped promise settles its slot empty
        let (promise, source) = later();
        let Source::Later(slot) = source else { panic!("a later source") };
        drop(promise);
        assert!(slot.settled() && slot.take().is_none());
    }
}
