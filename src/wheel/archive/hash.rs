//! The sha256 of what is read, computed alongside the reading: on another
//! rayon worker for large content, inline for small.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Entries at least this large (1 MiB) have their sha256 computed on
/// another rayon worker while they are inflated; smaller ones inline.
pub(super) const HASH_ALONGSIDE_MIN: usize = 1 << 20;

/// Runs `produce`, which hands each finished piece of its output to the sink
/// it is given, in order, and never writes a piece again once handed on; and
/// computes the sha256 of those pieces when `want`. With `alongside`, the
/// hashing runs on another rayon worker while `produce` goes on (or on this
/// one after it, when no worker is free); otherwise inline, piece by piece.
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
    let (r, digest) = rayon::join(
        move || {
            let r = produce(&mut |piece| {
                // the receiver lives until the sender is dropped
                let _ = tx.send(piece);
            });
            drop(tx);
            r
        },
        move || {
            let mut sha = sha2::Sha256::new();
            for piece in rx {
                sha.update(piece);
            }
            <[u8; 32]>::from(sha.finalize())
        },
    );
    (r, Some(digest))
}

/// Reads the file at `path` whole, computing its sha256 on another rayon
/// worker while later pieces are read (inline for files under 1 MiB). An
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
}
