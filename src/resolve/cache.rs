//! One cache of parsed libraries by disk path, shared by the three
//! resolvers: a library that many files need is read and parsed once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::binary::BinaryInfo;

/// Parsed libraries by path. `None` remembers a path that holds no binary
/// the resolver can use (missing, unreadable or not parsed).
#[derive(Debug, Default)]
pub(crate) struct ParseCache {
    parsed: Mutex<HashMap<PathBuf, Option<Arc<BinaryInfo>>>>,
}

impl ParseCache {
    /// The parse of `path`: `read` parses it the first time it is asked for,
    /// later calls answer from the cache. `None` when `read` gave nothing or
    /// the cache is poisoned.
    pub(crate) fn get_or_parse(
        &self,
        path: &Path,
        read: impl FnOnce(&Path) -> Option<BinaryInfo>,
    ) -> Option<Arc<BinaryInfo>> {
        if let Some(hit) = self.parsed.lock().ok()?.get(path) {
            return hit.clone();
        }
        let parsed = read(path).map(Arc::new);
        self.parsed.lock().ok()?.insert(path.to_path_buf(), parsed.clone());
        parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binary::PeInfo;
    use std::cell::Cell;

    #[test]
    fn each_path_is_read_once() {
        let cache = ParseCache::default();
        let reads = Cell::new(0);
        let read = |p: &Path| {
            reads.set(reads.get() + 1);
            (p == Path::new("/lib/a.dll")).then(|| BinaryInfo::Pe(PeInfo { machine: 0x8664, ..Default::default() }))
        };
        let a = cache.get_or_parse(Path::new("/lib/a.dll"), read).unwrap();
        let again = cache.get_or_parse(Path::new("/lib/a.dll"), read).unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        assert!(cache.get_or_parse(Path::new("/lib/b.dll"), read).is_none());
        assert!(cache.get_or_parse(Path::new("/lib/b.dll"), read).is_none());
        assert_eq!(reads.get(), 2, "one read per path, found or not");
    }
}
