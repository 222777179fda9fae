//! A clean exit when a memory-mapped file shrinks underneath us.
//!
//! wheelfix maps its input wheel, and the libraries it inspects, instead of
//! reading them. If another process truncates such a file while it is mapped
//! (`cp` over it, a build step rewriting it), the next access to a page past
//! the new end raises `SIGBUS`, which by default kills the process: no
//! message, exit status 135, and a half-written temporary wheel left in the
//! output directory.
//!
//! [`install`] sets a `SIGBUS` handler that knows which address ranges are
//! mapped files ([`watch_map`]) and which temporary outputs exist
//! ([`watch_temp`]). A fault inside a watched range prints one line naming the
//! file, removes every watched temporary output and exits with status 2, like
//! every other error. A fault anywhere else is handed to the handler that was
//! there before (by default: the process dies as it would have).
//!
//! The handler only loads atomics and calls `write`, `unlink`, `sigaction` and
//! `_exit`, all async-signal-safe. Watches live in fixed slots with their
//! names copied in, so nothing is allocated or freed while it may run. When
//! every slot is taken a watch is simply not recorded: that file is then no
//! better protected than without the handler, and no worse.
//!
//! The command-line tool installs the handler at start. The library never
//! installs it on its own: a program embedding wheelfix keeps its own signal
//! handling unless it calls [`install`].

use std::path::Path;

/// Watched mapped files at once (wheels, `-j` at a time, and libraries being
/// parsed).
#[cfg(unix)]
const MAP_SLOTS: usize = 64;
/// Watched temporary outputs at once.
#[cfg(unix)]
const TEMP_SLOTS: usize = 16;
/// Longest name kept for a mapped file's message (longer ones keep their end).
#[cfg(unix)]
const NAME_LEN: usize = 512;
/// Longest temporary output path that can be watched.
#[cfg(unix)]
const PATH_LEN: usize = 4096;

/// A watch on a mapped file or a temporary output: removed when dropped.
#[derive(Debug)]
#[must_use = "the watch ends when this is dropped"]
pub struct Watch {
    #[cfg(unix)]
    slot: Option<(Kind, usize)>,
}

#[cfg(unix)]
#[derive(Debug, Clone, Copy)]
enum Kind {
    Map,
    Temp,
}

impl Drop for Watch {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some((kind, i)) = self.slot {
            imp::release(kind, i);
        }
    }
}

/// Installs the `SIGBUS` handler (once; later calls do nothing). Unix only;
/// elsewhere a mapped file cannot be truncated and this does nothing.
pub fn install() {
    #[cfg(unix)]
    imp::install();
}

/// Watches `bytes`, the mapping of the file at `path`, until the returned
/// [`Watch`] is dropped. Drop it before the mapping.
pub fn watch_map(bytes: &[u8], path: &Path) -> Watch {
    #[cfg(unix)]
    {
        let name = path.as_os_str().as_encoded_bytes();
        let start = bytes.as_ptr() as usize;
        Watch { slot: imp::claim_map(start, start + bytes.len(), name).map(|i| (Kind::Map, i)) }
    }
    #[cfg(not(unix))]
    {
        let _ = (bytes, path);
        Watch {}
    }
}

/// Watches the temporary output at `path`: a fault in a watched mapping
/// removes it before exiting. Drop the [`Watch`] once the file is renamed
/// into place or removed.
pub fn watch_temp(path: &Path) -> Watch {
    #[cfg(unix)]
    {
        let path = path.as_os_str().as_encoded_bytes();
        Watch { slot: imp::claim_temp(path).map(|i| (Kind::Temp, i)) }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Watch {}
    }
}

#[cfg(unix)]
mod imp {
    use super::{Kind, MAP_SLOTS, NAME_LEN, PATH_LEN, TEMP_SLOTS};
    use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};
    use std::sync::Once;

    const FREE: usize = 0;
    const CLAIMED: usize = 1;
    const LIVE: usize = 2;

    struct MapSlot {
        state: AtomicUsize,
        start: AtomicUsize,
        end: AtomicUsize,
        name_len: AtomicUsize,
        name: [AtomicU8; NAME_LEN],
    }

    struct TempSlot {
        state: AtomicUsize,
        /// NUL-terminated.
        path: [AtomicU8; PATH_LEN],
    }

    #[allow(clippy::declare_interior_mutable_const)] // the initializer of each slot
    const MAP_SLOT: MapSlot = MapSlot {
        state: AtomicUsize::new(FREE),
        start: AtomicUsize::new(0),
        end: AtomicUsize::new(0),
        name_len: AtomicUsize::new(0),
        name: [const { AtomicU8::new(0) }; NAME_LEN],
    };
    #[allow(clippy::declare_interior_mutable_const)]
    const TEMP_SLOT: TempSlot =
        TempSlot { state: AtomicUsize::new(FREE), path: [const { AtomicU8::new(0) }; PATH_LEN] };

    static MAPS: [MapSlot; MAP_SLOTS] = [MAP_SLOT; MAP_SLOTS];
    static TEMPS: [TempSlot; TEMP_SLOTS] = [TEMP_SLOT; TEMP_SLOTS];
    static INSTALL: Once = Once::new();
    /// The `sigaction` that was in place before ours (leaked); written once,
    /// before the handler is installed.
    static PREVIOUS: AtomicPtr<libc::sigaction> = AtomicPtr::new(std::ptr::null_mut());

    fn claim(states: impl Iterator<Item = (usize, &'static AtomicUsize)>) -> Option<usize> {
        for (i, state) in states {
            if state.compare_exchange(FREE, CLAIMED, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                return Some(i);
            }
        }
        None
    }

    pub(super) fn claim_map(start: usize, end: usize, name: &[u8]) -> Option<usize> {
        if start >= end {
            return None;
        }
        let i = claim(MAPS.iter().enumerate().map(|(i, s)| (i, &s.state)))?;
        let slot = &MAPS[i];
        // a long name keeps its end: the file name
        let name = &name[name.len().saturating_sub(NAME_LEN)..];
        for (dst, &b) in slot.name.iter().zip(name) {
            dst.store(b, Ordering::Relaxed);
        }
        slot.name_len.store(name.len(), Ordering::Relaxed);
        slot.start.store(start, Ordering::Relaxed);
        slot.end.store(end, Ordering::Relaxed);
        slot.state.store(LIVE, Ordering::Release);
        Some(i)
    }

    pub(super) fn claim_temp(path: &[u8]) -> Option<usize> {
        if path.len() >= PATH_LEN || path.contains(&0) {
            return None;
        }
        let i = claim(TEMPS.iter().enumerate().map(|(i, s)| (i, &s.state)))?;
        let slot = &TEMPS[i];
        for (dst, &b) in slot.path.iter().zip(path) {
            dst.store(b, Ordering::Relaxed);
        }
        slot.path[path.len()].store(0, Ordering::Relaxed);
        slot.state.store(LIVE, Ordering::Release);
        Some(i)
    }

    pub(super) fn release(kind: Kind, i: usize) {
        let state = match kind {
            Kind::Map => &MAPS[i].state,
            Kind::Temp => &TEMPS[i].state,
        };
        state.store(FREE, Ordering::Release);
    }

    pub(super) fn install() {
        INSTALL.call_once(|| {
            // SAFETY: plain libc calls on zeroed, properly sized structures;
            // the previous action is stored before ours is installed, and
            // leaked so that the handler may read it at any time.
            unsafe {
                let previous: &'static mut libc::sigaction = Box::leak(Box::new(std::mem::zeroed()));
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_sigbus as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO;
                libc::sigemptyset(&mut action.sa_mask);
                if libc::sigaction(libc::SIGBUS, std::ptr::null(), previous) != 0 {
                    return;
                }
                PREVIOUS.store(previous, Ordering::Release);
                libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
            }
        });
    }

    fn write_err(bytes: &[u8]) {
        // SAFETY: write(2) on stderr with a valid buffer; async-signal-safe.
        unsafe {
            libc::write(2, bytes.as_ptr().cast(), bytes.len());
        }
    }

    /// The watched mapping holding `addr`, if any.
    fn watched(addr: usize) -> Option<&'static MapSlot> {
        MAPS.iter().find(|s| {
            s.state.load(Ordering::Acquire) == LIVE
                && (s.start.load(Ordering::Relaxed)..s.end.load(Ordering::Relaxed)).contains(&addr)
        })
    }

    extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
        // SAFETY: the kernel passes a valid siginfo_t for SA_SIGINFO handlers.
        let addr = unsafe { (*info).si_addr() } as usize;
        let Some(slot) = watched(addr) else {
            // not ours: put back the previous action and return; the access
            // faults again and that action takes it
            // SAFETY: `PREVIOUS` holds the leaked action, stored before this
            // handler was installed; `info` is valid as above.
            unsafe {
                libc::sigaction(libc::SIGBUS, PREVIOUS.load(Ordering::Acquire), std::ptr::null_mut());
                // a signal sent by a process (kill, raise), not a fault, does
                // not come again by itself: send it again, for that action
                if (*info).si_code <= 0 {
                    libc::raise(libc::SIGBUS);
                }
            }
            return;
        };
        let mut name = [0u8; NAME_LEN];
        let len = slot.name_len.load(Ordering::Relaxed).min(NAME_LEN);
        for (dst, src) in name.iter_mut().zip(&slot.name).take(len) {
            *dst = src.load(Ordering::Relaxed);
        }
        write_err(b"error: `");
        write_err(&name[..len]);
        write_err(b"`: the file was truncated while it was being read\n");
        for t in &TEMPS {
            if t.state.load(Ordering::Acquire) != LIVE {
                continue;
            }
            let mut path = [0u8; PATH_LEN];
            for (dst, src) in path.iter_mut().zip(&t.path) {
                *dst = src.load(Ordering::Relaxed);
                if *dst == 0 {
                    break;
                }
            }
            // SAFETY: a NUL-terminated path (claim_temp wrote the NUL).
            unsafe {
                libc::unlink(path.as_ptr().cast());
            }
        }
        // SAFETY: _exit is async-signal-safe and never returns.
        unsafe { libc::_exit(2) }
    }
}

#[cfg(all(test, target_os = "linux"))]
pub(crate) mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    /// Runs the test `name` of this binary again, in a child process with
    /// `WHEELFIX_TEST_CHILD` set to `arg`.
    pub(crate) fn run_child(name: &str, arg: &std::path::Path) -> std::process::Output {
        Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--test-threads=1"])
            .env("WHEELFIX_TEST_CHILD", arg)
            .output()
            .unwrap()
    }

    /// A fault in a mapping nobody watches is left to the action that was
    /// there before: here the default, which kills the process by SIGBUS.
    #[test]
    fn a_fault_outside_watched_maps_still_kills_by_sigbus() {
        if let Some(path) = std::env::var_os("WHEELFIX_TEST_CHILD") {
            super::install();
            let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
            // SAFETY: read-only map of a test file, truncated on purpose below
            let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
            file.set_len(0).unwrap();
            let byte = unsafe { std::ptr::read_volatile(&map[8192]) };
            panic!("read {byte} past the end of a truncated file");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        std::fs::write(&path, vec![7u8; 64 << 10]).unwrap();
        let out = run_child("sigbus::tests::a_fault_outside_watched_maps_still_kills_by_sigbus", &path);
        assert_eq!(out.status.signal(), Some(libc::SIGBUS), "{out:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("truncated"), "{out:?}");
    }

    /// A signal sent with kill or raise (not a fault) goes to the action that
    /// was there before ours.
    #[test]
    fn a_sent_sigbus_goes_to_the_previous_action() {
        extern "C" fn previous(_: libc::c_int) {
            let msg = b"previous action\n";
            // SAFETY: write and _exit are async-signal-safe
            unsafe {
                libc::write(2, msg.as_ptr().cast(), msg.len());
                libc::_exit(3);
            }
        }
        if std::env::var_os("WHEELFIX_TEST_CHILD").is_some() {
            // SAFETY: installing a plain handler in this child process, then
            // raising the signal there
            unsafe {
                libc::signal(libc::SIGBUS, previous as *const () as libc::sighandler_t);
                super::install();
                libc::raise(libc::SIGBUS);
            }
            panic!("SIGBUS was swallowed");
        }
        let out = run_child("sigbus::tests::a_sent_sigbus_goes_to_the_previous_action", std::path::Path::new("-"));
        assert_eq!(out.status.code(), Some(3), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "previous action\n");
    }

    /// Watches come and go; more watches than slots are simply not recorded.
    #[test]
    fn watches_are_released_and_overflow_is_harmless() {
        let bytes = vec![0u8; 16];
        let path = std::path::Path::new("x");
        let watches: Vec<_> = (0..super::MAP_SLOTS + 4).map(|_| super::watch_map(&bytes, path)).collect();
        // other tests may hold slots too: at least four went unrecorded
        assert!(watches.iter().filter(|w| w.slot.is_none()).count() >= 4);
        drop(watches);
        let again = super::watch_map(&bytes, path);
        assert!(again.slot.is_some());
        let empty = super::watch_map(&[], path);
        assert!(empty.slot.is_none());
        let long = super::watch_temp(std::path::Path::new(&"d/".repeat(super::PATH_LEN)));
        assert!(long.slot.is_none());
    }
}
