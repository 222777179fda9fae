//! The sha256 of what is read, computed alongside the reading: on a thread
//! of its own for large content, inline for small.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Entries at least this large (1 MiB) have their sha256 computed on a
/// thread of its own while they are inflated; smaller ones inline.
pub(super) const HASH_ALONGSIDE_MIN: usize = 1 << 20;

/// Runs `produce`, which hands each finished piece of its output to the sink
/// it is given, in order, and never writes a piece again once handed on; and
/// computes the sha256 of those pieces when `want`. With `alongside`, the
/// hashing runs on a thread of its own while `produce` goes on; otherwise
/// inline, piece by piece.
pub(super) fn sha256_alongside<'a, R: Send>(
    want: bool,
    alongside: bool,
    produce: impl FnOnce(&mut dyn FnMut(&'a [u8])) -> R + Send,
) -> (R, Option<[u8; 32]>) {
    use sha2::Digest;
    if !want {
        return (produce(&mut |_| {}), None);
    }
    if !alongside {
        let mut sha = sha2::Sha256::new();
        let r = produce(&mut |piece| sha.update(piece));
        return (r, Some(sha.finalize().into()));
    }
    let (tx, rx) = std::sync::mpsc::channel::<&'a [u8]>();
    // a thread of its own, not a rayon job: a job waits while every worker
    // is busy, and the hashing would then only start once `produce` is done
    std::thread::scope(|s| {
        let hasher = s.spawn(move || {
            let mut sha = sha2::Sha256::new();
            for piece in rx {
                sha.update(piece);
            }
            <[u8; 32]>::from(sha.finalize())
        });
        let r = produce(&mut |piece| {
            // the receiver lives until the sender is dropped
            let _ = tx.send(piece);
        });
        drop(tx);
        let digest = hasher.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (r, Some(digest))
    })
}

/// Step buffers handed between a producer and a thread that hashes what
/// they hold ([`sha256_relayed`]): a few in flight, reused.
pub(super) struct Relay {
    empty: std::sync::mpsc::Receiver<Vec<u8>>,
    full: std::sync::mpsc::SyncSender<(Vec<u8>, usize)>,
    current: Vec<u8>,
}

impl Relay {
    /// The buffer to fill next (its length is the step).
    pub(super) fn buffer(&mut self) -> &mut [u8] {
        &mut self.current
    }

    /// Hands on the first `filled` bytes of the buffer for hashing, and
    /// takes a free one for the next step.
    pub(super) fn hand_on(&mut self, filled: usize) {
        let step = self.current.len();
        let next = self.empty.recv().unwrap_or_else(|_| vec![0u8; step]);
        let done = std::mem::replace(&mut self.current, next);
        // the hasher lives until the sender is dropped
        let _ = self.full.send((done, filled));
    }
}

/// Buffers in flight between a producer and its hasher.
const RELAY_BUFFERS: usize = 4;

/// Runs `produce`, which fills [`Relay::buffer`] step by step and hands each
/// step on; the sha256 of the bytes handed on, in order, is computed on a
/// thread of its own meanwhile, so that one large entry's inflating and
/// hashing run on two cores. Memory: a few steps.
pub(super) fn sha256_relayed<R>(step: usize, produce: impl FnOnce(&mut Relay) -> R) -> (R, [u8; 32]) {
    use sha2::Digest;
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, usize)>(RELAY_BUFFERS);
    let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(RELAY_BUFFERS + 1);
    for _ in 0..RELAY_BUFFERS {
        let _ = empty_tx.send(vec![0u8; step]);
    }
    std::thread::scope(|s| {
        let hasher = s.spawn(move || {
            let mut sha = sha2::Sha256::new();
            for (buf, filled) in full_rx {
                sha.update(&buf[..filled]);
                // the producer may be gone: then the buffer is dropped
                let _ = empty_tx.send(buf);
            }
            <[u8; 32]>::from(sha.finalize())
        });
        let mut relay = Relay { empty: empty_rx, full: full_tx, current: vec![0u8; step] };
        let r = produce(&mut relay);
        drop(relay);
        let digest = hasher.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (r, digest)
    })
}

/// Reads the file at `path` whole, computing its sha256 on a thread of its
/// own while later pieces are read (inline for files under 1 MiB). An
/// error when the file is not the size it had when opened.
pub(crate) fn read_hashed(path: &Path) -> std::io::Result<(Vec<u8>, [u8; 32])> {
    const STEP: usize = 1 << 20;
    let mut f = File::open(path)?;
    let len = usize::try_from(f.metadata()?.len()).map_err(std::io::Error::other)?;
    let changed = || std::io::Error::other("the file changed while it was read");
    let mut out = vec![0u8; len];
    let (read, digest) = sha256_alongside(true, len >= HASH_ALONGSIDE_MIN, |sink| -> std::io::Result<()> {
        for piece in out.chunks_mut(STEP) {
            f.read_exact(piece)
                .map_err(|e| if e.kind() == std::io::ErrorKind::UnexpectedEof { changed() } else { e })?;
            sink(piece);
        }
        // nothing may follow
        match f.read(&mut [0u8; 1])? {
            0 => Ok(()),
            _ => Err(changed()),
        }
    });
    read?;
    Ok((out, digest.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file read with its sha256 alongside gives its bytes and their digest,
    /// small or large; a missing file is an error.
    #[test]
    fn files_read_hashed() {
        use sha2::Digest;
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 10, (3 << 20) + 77] {
            let data: Vec<u8> = (0..len).map(|i| (i.wrapping_mul(31) >> 3) as u8).collect();
            let p = dir.path().join(format!("f{len}"));
            std::fs::write(&p, &data).unwrap();
            let (got, digest) = read_hashed(&p).unwrap();
            assert!(got == data, "{len}");
            assert_eq!(digest, <[u8; 32]>::from(sha2::Sha256::digest(&data)), "{len}");
        }
        assert!(read_hashed(&dir.path().join("missing")).is_err());
    }

    /// The sha256 of the pieces a producer hands on is the digest of their
    /// concatenation, whether it is computed inline or on another worker,
    /// and the producer's result comes back with it.
    #[test]
    fn hashing_alongside_gives_the_digest_of_the_pieces_in_order() {
        use sha2::Digest;
        let data: Vec<u8> = (0..3_100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let whole = <[u8; 32]>::from(sha2::Sha256::digest(&data));
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for alongside in [false, true] {
            let (n, digest) = pool.install(|| {
                sha256_alongside(true, alongside, |sink| {
                    // pieces of uneven sizes, some empty
                    let mut at = 0usize;
                    let mut k = 0usize;
                    while at < data.len() {
                        let len = (k * 7919 % 300_000).min(data.len() - at);
                        sink(&data[at..at + len]);
                        at += len;
                        k += 1;
                    }
                    k
                })
            });
            assert!(n > 10, "{n} pieces");
            assert_eq!(digest, Some(whole), "alongside: {alongside}");
        }
        let (n, none) = sha256_alongside(false, true, |sink| {
            sink(&data);
            1
        });
        assert_eq!((n, none), (1, None));
    }

    /// Steps relayed to the hashing thread give the digest of the bytes
    /// handed on, in order, however many steps pass through the few
    /// buffers in flight, and whatever each buffer held before.
    #[test]
    fn relayed_steps_give_the_digest_of_what_was_handed_on() {
        use sha2::Digest;
        let data: Vec<u8> = (0..2_500_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
        let whole = <[u8; 32]>::from(sha2::Sha256::digest(&data));
        const STEP: usize = 64 << 10;
        let (steps, digest) = sha256_relayed(STEP, |relay| {
            let mut k = 0usize;
            for (n, chunk) in data.chunks(STEP - 1000).enumerate() {
                let buf = relay.buffer();
                assert_eq!(buf.len(), STEP);
                // a short step, and garbage past it that must not be hashed
                buf.fill(n as u8);
                buf[..chunk.len()].copy_from_slice(chunk);
                relay.hand_on(chunk.len());
                k += 1;
            }
            k
        });
        assert!(steps > 4 * RELAY_BUFFERS, "{steps} steps");
        assert_eq!(digest, whole);
        let (_, empty) = sha256_relayed(STEP, |_| ());
        assert_eq!(empty, <[u8; 32]>::from(sha2::Sha256::digest(b"")));
    }
}
