//! Checking entries against RECORD: by the sha256 computed while an entry
//! is inflated when its row allows it, else after the whole entry is read;
//! every entry, and every row, of the archive.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rayon::prelude::*;

use super::{Entry, WheelArchive};
use crate::wheel::deflate::BlockIndex;
use crate::wheel::{RecordRow, WheelError};

/// The prefix of a sha256 RECORD hash.
const SHA256: &str = "sha256=";

/// Checks a size and sha256 computed while streaming against a RECORD row
/// (whose hash is sha256 and whose size is present).
pub(super) fn check_streamed(row: &RecordRow, size: u64, digest: &[u8; 32]) -> Result<(), WheelError> {
    let mismatch = |reason: String| WheelError::RecordMismatch { entry: row.path.clone(), reason };
    let expected_size = row.size.unwrap_or_default();
    if expected_size != size {
        return Err(mismatch(format!("size is {size} bytes, RECORD says {expected_size}")));
    }
    let actual = format!("{SHA256}{}", URL_SAFE_NO_PAD.encode(digest));
    match &row.hash {
        Some(expected) if *expected != actual => Err(mismatch(format!("hash is {actual}, RECORD says {expected}"))),
        _ => Ok(()),
    }
}

/// Whether `name` is the RECORD of `dist_info` or one of its signatures
/// (`RECORD.jws`, `RECORD.p7s`), which RECORD cannot list.
fn is_record_or_signature(dist_info: &str, name: &str) -> bool {
    name.strip_prefix(dist_info)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|file| matches!(file, "RECORD" | "RECORD.jws" | "RECORD.p7s"))
}

impl WheelArchive {
    /// Inflates entry `index` like [`WheelArchive::read`] and checks it
    /// against RECORD like [`WheelArchive::verify_record`], in one pass: the
    /// CRC-32 and the sha256 are updated a step at a time while the bytes
    /// are still in cache, never in a second pass over a large buffer.
    pub fn read_verified(&self, index: usize) -> Result<Vec<u8>, WheelError> {
        let row = self.streamed_row(self.located(index)?.0);
        let (out, digest) = self.inflate(index, row.is_some())?;
        self.check_read(index, row, &out, digest).map(|()| out)
    }

    /// The RECORD row of `entry` when it can be checked while the entry is
    /// streamed: a sha256 row with a size, of an entry RECORD lists. The rest
    /// (other algorithms, missing fields, missing rows) take the ordinary
    /// path, [`WheelArchive::verify_record`], which words the error.
    pub(super) fn streamed_row(&self, entry: &Entry) -> Option<&RecordRow> {
        let listed = !(entry.is_dir || is_record_or_signature(&self.dist_info, &entry.name));
        self.record_row(&entry.name)
            .filter(|r| listed && r.size.is_some() && r.hash.as_deref().is_some_and(|h| h.starts_with(SHA256)))
    }

    /// Checks the bytes of entry `index`, read whole, against RECORD: by the
    /// sha256 computed while they were read when the row was [`streamed_row`](Self::streamed_row),
    /// otherwise the ordinary way.
    fn check_read(
        &self,
        index: usize,
        row: Option<&RecordRow>,
        data: &[u8],
        digest: Option<[u8; 32]>,
    ) -> Result<(), WheelError> {
        match (row, digest) {
            (Some(row), Some(digest)) => check_streamed(row, data.len() as u64, &digest),
            _ => self.verify_record(index, data),
        }
    }

    /// Checks entry `index` against its CRC and RECORD without keeping its
    /// bytes: memory stays small whatever the entry's size. Entries whose
    /// RECORD row cannot be checked while streaming (no row, another
    /// algorithm) are read whole, so that the error is worded the same.
    pub fn verify_streaming(&self, index: usize) -> Result<(), WheelError> {
        self.verify_streaming_while(index, &|| true)
    }

    /// [`WheelArchive::verify_streaming`], stopped with an error once
    /// `go_on` answers `false` (asked at every step).
    pub(super) fn verify_streaming_while(&self, index: usize, go_on: &dyn Fn() -> bool) -> Result<(), WheelError> {
        let Some(row) = self.streamed_row(self.located(index)?.0) else {
            return self.read_verified(index).map(|_| ());
        };
        let (_, size, digest) = self.inflate_into(index, true, false, &mut |_, _| go_on())?;
        digest.map_or(Ok(()), |digest| check_streamed(row, size, &digest))
    }

    /// [`WheelArchive::read_verified`] that also records the deflate block
    /// index ([`WheelArchive::read_indexed`]) when the entry is deflated and
    /// at least `index_min` bytes long, in the same single pass: a binary
    /// that repair will patch is then inflated only once.
    pub fn read_verified_indexed(
        &self,
        index: usize,
        index_min: u64,
    ) -> Result<(Vec<u8>, Option<BlockIndex>), WheelError> {
        let entry = self.located(index)?.0;
        let row = self.streamed_row(entry);
        let indexed = if entry.size >= index_min { self.inflate_indexed(index, row.is_some())? } else { None };
        let Some((out, blocks, digest)) = indexed else {
            return self.read_verified(index).map(|d| (d, None));
        };
        self.check_read(index, row, &out, digest)?;
        Ok((out, Some(blocks)))
    }

    /// Checks `bytes` (the content of entry `index`) against RECORD.
    ///
    /// Directories, RECORD itself and its signatures (`RECORD.jws`,
    /// `RECORD.p7s`) need no row; every other entry must be listed with a
    /// matching hash and size.
    pub fn verify_record(&self, index: usize, bytes: &[u8]) -> Result<(), WheelError> {
        let (entry, _) = self.located(index)?;
        if entry.is_dir || is_record_or_signature(&self.dist_info, &entry.name) {
            return Ok(());
        }
        match self.record_row(&entry.name) {
            Some(row) => row.verify(bytes),
            None => Err(WheelError::RecordMismatch {
                entry: entry.name.clone(),
                reason: "not listed in RECORD".to_string(),
            }),
        }
    }

    /// Reads every entry (in parallel) and checks it against RECORD; also
    /// checks that every RECORD row names an entry of the archive. Returns
    /// the first problem in archive order.
    pub fn verify_all(&self) -> Result<(), WheelError> {
        let results: Vec<Result<(), WheelError>> =
            (0..self.entries.len()).into_par_iter().map(|i| self.read_verified(i).map(drop)).collect();
        results.into_iter().collect::<Result<(), WheelError>>()?;
        self.verify_record_rows()
    }

    /// Checks that every RECORD row names an entry of the archive: a row
    /// without its file is refused as a file without its row is. The first
    /// such row, in RECORD order.
    pub fn verify_record_rows(&self) -> Result<(), WheelError> {
        match self.record.rows.iter().find(|row| !self.by_name.contains_key(&row.path)) {
            Some(row) => Err(WheelError::RecordMismatch {
                entry: row.path.clone(),
                reason: "listed in RECORD but not in the archive".to_string(),
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_signatures() {
        assert!(is_record_or_signature("a-1.dist-info", "a-1.dist-info/RECORD"));
        assert!(is_record_or_signature("a-1.dist-info", "a-1.dist-info/RECORD.jws"));
        assert!(is_record_or_signature("a-1.dist-info", "a-1.dist-info/RECORD.p7s"));
        assert!(!is_record_or_signature("a-1.dist-info", "a-1.dist-info/WHEEL"));
        assert!(!is_record_or_signature("a-1.dist-info", "b/RECORD"));
    }
}
