//! Entries checked on a thread of their own while the caller goes on: the
//! CRC-32, size and RECORD hash of [`WheelArchive::verify_streaming`], for
//! an entry that a repair only reads in part (or sparsely) and copies as it
//! is. [`WheelArchive::check_input`], which every writer calls before it
//! puts an output in place, waits for these checks and fails with the
//! first one's error: nothing is written from an entry that did not pass.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Mutex, MutexGuard};
use std::thread::Scope;

use super::WheelArchive;
use crate::wheel::WheelError;

/// The checks started aside, those not yet waited for, and whether they
/// are to stop.
#[derive(Debug, Default)]
pub(super) struct Aside {
    checks: Mutex<Checks>,
    stop: AtomicBool,
}

#[derive(Debug, Default)]
struct Checks {
    /// Every entry whose check was started aside, waited for or not.
    started: Vec<usize>,
    /// The results still to come.
    pending: Vec<Receiver<Result<(), WheelError>>>,
}

impl Aside {
    fn lock(&self) -> MutexGuard<'_, Checks> {
        self.checks.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl WheelArchive {
    /// Starts checking entry `index` ([`WheelArchive::verify_streaming`]) on
    /// a thread of `scope`, so that a caller that only needs some of its bytes
    /// can read them alone meanwhile ([`WheelArchive::verified_aside`] then
    /// tells it the entry is checked). `false`, and nothing started, when the
    /// entry's RECORD row cannot be checked while streaming (the ordinary
    /// read words that error) or its check was started already.
    pub fn verify_aside<'scope>(&'scope self, index: usize, scope: &'scope Scope<'scope, '_>) -> bool {
        let Some(entry) = self.entries.get(index) else {
            return false;
        };
        if self.streamed_row(entry).is_none() || self.verified_aside(index) {
            return false;
        }
        let (sent, done) = channel();
        scope.spawn(move || {
            let result = self.verify_streaming_while(index, &|| !self.aside.stop.load(Ordering::Relaxed));
            let how = if self.aside.stop.load(Ordering::Relaxed) { "stopped" } else { "checked" };
            crate::timing::mark(format_args!("{} {how} aside", self.entries[index].name));
            // the receiver is gone only with the archive, whose scope waits for this thread
            let _ = sent.send(result);
        });
        let mut checks = self.aside.lock();
        checks.started.push(index);
        checks.pending.push(done);
        true
    }

    /// Whether entry `index` is checked aside ([`WheelArchive::verify_aside`]).
    pub fn verified_aside(&self, index: usize) -> bool {
        self.aside.lock().started.contains(&index)
    }

    /// Stops the checks started aside at their next step (256 KiB), for a
    /// caller that gave up and will not wait for them: what they would have
    /// found no longer matters, and its scope need not wait for their end.
    pub fn stop_aside(&self) {
        self.aside.stop.store(true, Ordering::Relaxed);
    }

    /// What a writer asks before it puts an output made from this wheel in
    /// place: every check started aside passed (they are waited for; the
    /// first error, if any), and the file is unchanged since it was opened
    /// ([`WheelArchive::check_unchanged`]).
    pub fn check_input(&self) -> Result<(), WheelError> {
        self.wait_aside()?;
        self.check_unchanged()
    }

    /// Waits for every check started aside; the first error, if any.
    fn wait_aside(&self) -> Result<(), WheelError> {
        let pending = std::mem::take(&mut self.aside.lock().pending);
        if pending.is_empty() {
            return Ok(());
        }
        crate::timing::mark("waiting for the checks aside");
        for done in pending {
            // a check that panicked sends nothing; its scope re-raises the panic
            done.recv()
                .unwrap_or_else(|_| Err(WheelError::Zip("a check of an entry stopped before its end".into())))?;
        }
        Ok(())
    }
}
