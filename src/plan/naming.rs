//! Names and tags of a repaired wheel's new files: auditwheel's clash-proof
//! names for bundled libraries, and the `WHEEL` file rewritten for new tags.

use crate::wheel::{WheelFilename, WheelMetadata};

/// auditwheel's clash-proof name: `<base>-<sha256[:8]>.<rest>` of the file
/// name (split at the first `.`), unless the base already ends with such a hash.
pub fn hashed_name(file_name: &str, data: &[u8]) -> String {
    use sha2::Digest;
    hashed_name_with(file_name, &sha2::Sha256::digest(data).into())
}

/// [`hashed_name`] from the sha256 of the content.
pub fn hashed_name_with(file_name: &str, digest: &[u8; 32]) -> String {
    let (base, rest) = match file_name.split_once('.') {
        Some((b, r)) => (b, Some(r)),
        None => (file_name, None),
    };
    let already = base.rsplit_once('-').is_some_and(|(_, h)| h.len() == 8 && h.bytes().all(|c| c.is_ascii_hexdigit()));
    if already {
        return file_name.to_string();
    }
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    match rest {
        Some(r) => format!("{base}-{hex}.{r}"),
        None => format!("{base}-{hex}"),
    }
}

/// The `WHEEL` file `metadata` with `Tag:` lines for every tag of `filename`,
/// and `Root-Is-Purelib: false` when the wheel is no longer pure.
pub fn retag_wheel_file(metadata: &WheelMetadata, filename: &WheelFilename) -> Vec<u8> {
    let mut meta = metadata.clone();
    meta.set_tags(&filename.tags());
    if !filename.is_pure() && meta.root_is_purelib() == Some(true) {
        meta.set("Root-Is-Purelib", "false");
    }
    meta.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names() {
        let h = hashed_name("libfoo.so.1.2.3", b"abc");
        // sha256("abc") starts with ba7816bf
        assert_eq!(h, "libfoo-ba7816bf.so.1.2.3");
        assert_eq!(hashed_name(&h, b"other"), h, "never double-suffixed");
        assert_eq!(hashed_name("libx", b"abc"), "libx-ba7816bf");
    }
}
