//! The runtime half of a Windows repair: a block of Python inserted into a
//! package's `__init__.py` (or into the modules of a namespace package) that
//! adds the bundled-DLL directory to the DLL search path when the package is
//! imported.
//!
//! The block sits between the lines `# start delvewheel patch` and
//! `# end delvewheel patch`, the markers freezers such as PyInstaller look
//! for. Its function is named after wheelfix and its version. For tags that
//! allow Python older than 3.10 it also carries the fallback delvewheel
//! uses where `os.add_dll_directory` is missing (Python < 3.8) or ignored
//! (conda's CPython < 3.10): preloading every DLL listed in
//! `<libs>/.load-order-<dist>-<version>` with `LoadLibraryExW`.
//!
//! Where it goes ([`insertion_point`]): after a shebang or encoding line,
//! the header comments, the module docstring and every
//! `from __future__ import …` statement, found by a small scanner that
//! understands strings (all prefixes, triple quotes, escapes), comments,
//! brackets and backslash continuations, so multi-line docstrings and
//! parenthesised imports are stepped over as whole statements. The file's
//! line endings are kept.

/// What the inserted block refers to.
#[derive(Debug, Clone)]
pub struct PyPatch {
    /// How many directories up from the patched file's directory
    /// site-packages is (1 for `pkg/__init__.py`).
    pub depth: usize,
    /// The bundled-DLL directory relative to site-packages (`pkg.libs`, or
    /// `.` when the DLLs are installed into site-packages itself).
    pub libs_dir: String,
    /// The `.load-order-…` file name, for tags that allow Python < 3.10
    /// (`None`: `os.add_dll_directory` alone).
    pub load_order: Option<String>,
    /// Suffix of the function name (the wheelfix version with `_` for `.`).
    pub ident: String,
    /// Directories of DLLs that other distributions provide, relative to
    /// site-packages (`nvidia/cuda_runtime/bin`), added to the DLL search
    /// path too where `os.add_dll_directory` exists (none: no lines for them).
    pub provider_dirs: Vec<String>,
}

/// The first line of the block (freezers look for it).
pub const START_MARKER: &str = "# start delvewheel patch";
/// The last line of the block.
pub const END_MARKER: &str = "# end delvewheel patch";

impl PyPatch {
    /// The block, `\n`-terminated lines.
    pub fn block(&self) -> String {
        let func = format!("_wheelfix_patch_{}", self.ident);
        let mut path = String::from("os.path.dirname(__file__)");
        for _ in 0..self.depth {
            path.push_str(", os.pardir");
        }
        path.push_str(&format!(", {}", py_str(&self.libs_dir)));
        let mut s = String::new();
        s.push_str(START_MARKER);
        s.push('\n');
        s.push_str(&format!("def {func}():\n"));
        s.push_str("    import os\n");
        s.push_str(&self.provider_lines());
        s.push_str(&format!("    libs_dir = os.path.abspath(os.path.join({path}))\n"));
        match &self.load_order {
            None => {
                s.push_str("    if os.path.isdir(libs_dir):\n");
                s.push_str("        os.add_dll_directory(libs_dir)\n");
            }
            Some(load_order) => {
                s.push_str("    import sys\n");
                s.push_str("    conda_cpython = sys.version_info[:2] < (3, 10) and (\n");
                s.push_str("        'conda' in sys.version or 'Continuum' in sys.version\n");
                s.push_str("    ) and sys.implementation.name == 'cpython'\n");
                s.push_str("    if hasattr(os, 'add_dll_directory') and not conda_cpython:\n");
                s.push_str("        if os.path.isdir(libs_dir):\n");
                s.push_str("            os.add_dll_directory(libs_dir)\n");
                s.push_str("        return\n");
                s.push_str(&format!("    load_order = os.path.join(libs_dir, {})\n", py_str(load_order)));
                s.push_str("    if not os.path.isfile(load_order):\n");
                s.push_str("        return\n");
                s.push_str("    import ctypes\n");
                s.push_str("    kernel32 = ctypes.WinDLL('kernel32', use_last_error=True)\n");
                s.push_str("    kernel32.LoadLibraryExW.restype = ctypes.c_void_p\n");
                s.push_str("    with open(load_order) as f:\n");
                s.push_str("        for name in f.read().split():\n");
                s.push_str("            dll = os.path.join(libs_dir, name)\n");
                s.push_str("            # 8: LOAD_WITH_ALTERED_SEARCH_PATH\n");
                s.push_str("            if os.path.isfile(dll) and not kernel32.LoadLibraryExW(dll, None, 8):\n");
                s.push_str("                raise OSError('Error loading {}; {}'.format(name, ctypes.FormatError(ctypes.get_last_error())))\n");
            }
        }
        s.push_str("\n\n");
        s.push_str(&format!("{func}()\n"));
        s.push_str(&format!("del {func}\n"));
        s.push_str(END_MARKER);
        s.push('\n');
        s
    }
}

impl PyPatch {
    /// The lines that add the providers' DLL directories, located from
    /// site-packages at import time (empty when there are none).
    fn provider_lines(&self) -> String {
        if self.provider_dirs.is_empty() {
            return String::new();
        }
        let mut site = String::from("os.path.dirname(__file__)");
        for _ in 0..self.depth {
            site.push_str(", os.pardir");
        }
        let dirs: Vec<String> = self.provider_dirs.iter().map(|d| py_str(d)).collect();
        let mut s = String::new();
        s.push_str(&format!("    site_dir = os.path.abspath(os.path.join({site}))\n"));
        s.push_str(&format!("    for provider_dir in ({},):\n", dirs.join(", ")));
        s.push_str("        provider_dir = os.path.join(site_dir, *provider_dir.split('/'))\n");
        s.push_str("        if hasattr(os, 'add_dll_directory') and os.path.isdir(provider_dir):\n");
        s.push_str("            os.add_dll_directory(provider_dir)\n");
        s
    }
}

/// A Python string literal for `s` (single quotes, escaped).
fn py_str(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32 & 0xff)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The line ending the file uses (that of its first line; `\n` if it has none).
pub fn line_ending(src: &[u8]) -> &'static str {
    match memchr::memchr(b'\n', src) {
        Some(i) if i > 0 && src[i - 1] == b'\r' => "\r\n",
        _ => "\n",
    }
}

/// A file holding only the block (for a package without `__init__.py`).
pub fn new_file(patch: &PyPatch) -> Vec<u8> {
    patch.block().into_bytes()
}

/// `src` with the block inserted at [`insertion_point`], in the file's line
/// endings. Errors name what stopped the scanner (an unterminated string or
/// bracket): such a file is not valid Python.
pub fn patch_source(src: &[u8], patch: &PyPatch) -> Result<Vec<u8>, String> {
    let at = insertion_point(src)?;
    let nl = line_ending(src);
    let block = patch.block().replace('\n', nl);
    let (head, tail) = src.split_at(at);
    let mut out = Vec::with_capacity(src.len() + block.len() + 8);
    out.extend_from_slice(head);
    if !head.is_empty() {
        if !head.ends_with(b"\n") {
            out.extend_from_slice(nl.as_bytes());
        }
        out.extend_from_slice(nl.as_bytes());
    }
    out.extend_from_slice(block.as_bytes());
    if !tail.is_empty() {
        out.extend_from_slice(nl.as_bytes());
        out.extend_from_slice(tail);
    }
    Ok(out)
}

/// True when the source looks like a pkgutil/pkg_resources namespace
/// package's `__init__.py`.
pub fn looks_like_namespace(src: &[u8]) -> bool {
    let text = String::from_utf8_lossy(src);
    text.lines().any(|l| {
        let squashed: String = l.chars().filter(|c| !c.is_whitespace()).collect::<String>().replace('"', "'");
        squashed == "__path__=__import__('pkgutil').extend_path(__path__,__name__)"
            || squashed == "__import__('pkg_resources').declare_namespace(__name__)"
    })
}

/// Byte offset (at the start of a line, or the end of the file) after the
/// shebang, encoding line, header comments, module docstring and
/// `from __future__` imports of `src`.
pub fn insertion_point(src: &[u8]) -> Result<usize, String> {
    let mut pos = if src.starts_with(b"\xef\xbb\xbf") { 3 } else { 0 };
    // header: blank and comment lines (the shebang and encoding lines are comments)
    let mut insert = pos;
    let mut seen_docstring_slot = false;
    loop {
        // skip blank and comment lines
        let line_start = pos;
        let line_end = memchr::memchr(b'\n', &src[pos..]).map_or(src.len(), |i| pos + i + 1);
        let content = trim_ascii_start(&src[line_start..line_end]);
        if line_start >= src.len() {
            break;
        }
        if content.is_empty() || content.starts_with(b"#") || content == b"\r\n" || content == b"\n" {
            if insert == line_start && !seen_docstring_slot {
                // still in the header: the block goes after header comments
                insert = line_end;
            }
            pos = line_end;
            continue;
        }
        // a statement starting at column 0 (anything indented is left alone)
        if src[line_start] == b' ' || src[line_start] == b'\t' {
            break;
        }
        let end = logical_line_end(src, line_start)?;
        let stmt = &src[line_start..end];
        let is_doc = !seen_docstring_slot && starts_with_string(stmt);
        seen_docstring_slot = true;
        if is_doc || is_future_import(stmt) {
            insert = end;
            pos = end;
            continue;
        }
        break;
    }
    // never end in the middle of a header without a final newline
    Ok(insert.min(src.len()))
}

fn trim_ascii_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| **c == b' ' || **c == b'\t' || **c == b'\x0c').count();
    &b[n..]
}

/// `from __future__ import …`
fn is_future_import(stmt: &[u8]) -> bool {
    let words: Vec<&[u8]> = stmt
        .split(|c| c.is_ascii_whitespace() || *c == b'\\' || *c == b'(')
        .filter(|w| !w.is_empty())
        .take(3)
        .collect();
    words == [b"from".as_slice(), b"__future__".as_slice(), b"import".as_slice()]
}

/// The statement begins with a string literal (a docstring candidate).
fn starts_with_string(stmt: &[u8]) -> bool {
    // a parenthesised string is a docstring too
    let skip = stmt.iter().take_while(|c| c.is_ascii_whitespace() || **c == b'(').count();
    let stmt = &stmt[skip..];
    let prefix = stmt.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    if prefix > 2 {
        return false;
    }
    let ok_prefix = stmt[..prefix].iter().all(|c| matches!(c.to_ascii_lowercase(), b'r' | b'u' | b'b' | b'f'));
    ok_prefix && matches!(stmt.get(prefix), Some(b'"') | Some(b'\''))
}

/// The offset just after the newline that ends the logical line starting at
/// `start` (strings, brackets, comments and `\` continuations included).
fn logical_line_end(src: &[u8], start: usize) -> Result<usize, String> {
    let mut i = start;
    let mut depth: usize = 0;
    while i < src.len() {
        let c = src[i];
        match c {
            b'#' => {
                i = memchr::memchr(b'\n', &src[i..]).map_or(src.len(), |k| i + k);
            }
            b'\\' => {
                // a line continuation (or a stray backslash: skip the next byte)
                if src.get(i + 1) == Some(&b'\r') && src.get(i + 2) == Some(&b'\n') {
                    i += 3;
                } else {
                    i += 2;
                }
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'\n' => {
                if depth == 0 {
                    return Ok(i + 1);
                }
                i += 1;
            }
            b'"' | b'\'' => {
                i = string_end(src, i)?;
            }
            _ => i += 1,
        }
    }
    if depth != 0 {
        return Err(format!("unclosed bracket in the statement starting at byte {start}"));
    }
    Ok(src.len())
}

/// The offset after the string literal whose opening quote is at `i`.
fn string_end(src: &[u8], i: usize) -> Result<usize, String> {
    let q = src[i];
    let triple = src.get(i + 1) == Some(&q) && src.get(i + 2) == Some(&q);
    let mut j = if triple { i + 3 } else { i + 1 };
    while j < src.len() {
        let c = src[j];
        if c == b'\\' {
            j += 2;
            continue;
        }
        if triple {
            if c == q && src.get(j + 1) == Some(&q) && src.get(j + 2) == Some(&q) {
                return Ok(j + 3);
            }
        } else if c == q {
            return Ok(j + 1);
        } else if c == b'\n' {
            return Err(format!("unterminated string starting at byte {i}"));
        }
        j += 1;
    }
    Err(format!("unterminated string starting at byte {i}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> PyPatch {
        PyPatch {
            depth: 1,
            libs_dir: "pkg.libs".into(),
            load_order: None,
            ident: "0_1_0".into(),
            provider_dirs: Vec::new(),
        }
    }

    fn at(src: &str) -> &str {
        &src[insertion_point(src.as_bytes()).unwrap()..]
    }

    #[test]
    fn empty_and_code_only() {
        assert_eq!(insertion_point(b"").unwrap(), 0);
        assert_eq!(at("import os\n"), "import os\n");
        let out = String::from_utf8(patch_source(b"import os\n", &p()).unwrap()).unwrap();
        assert!(out.starts_with(START_MARKER));
        assert!(out.ends_with(&format!("{END_MARKER}\n\nimport os\n")));
    }

    #[test]
    fn header_docstring_future() {
        let src = "#!/usr/bin/env python\n# -*- coding: utf-8 -*-\n# header\n\n\"\"\"Doc with ''' and \\\"\"\" inside\n\nmore\"\"\"\nfrom __future__ import (\n    annotations,\n    division)\n# c\nfrom __future__ import \\\n    print_function\nimport os\n";
        assert_eq!(at(src), "import os\n");
    }

    #[test]
    fn header_comments_only() {
        assert_eq!(at("#!/usr/bin/python\n# comment\n\nx = 1\n"), "x = 1\n");
    }

    #[test]
    fn docstring_not_first_is_code() {
        // a string after code is not a docstring
        assert_eq!(at("import os\n\"\"\"x\"\"\"\n"), "import os\n\"\"\"x\"\"\"\n");
        // only one docstring
        assert_eq!(at("'a'\n'b'\n"), "'b'\n");
        // prefixed and single-quoted docstrings with continuation
        assert_eq!(at("r'''a\\'''b'''\nx=1\n"), "x=1\n");
        assert_eq!(at("('doc'\n 'more')\nx=1\n"), "x=1\n");
    }

    #[test]
    fn crlf_is_kept() {
        let src = b"\"\"\"Doc.\"\"\"\r\nfrom __future__ import annotations\r\nimport os\r\n";
        let out = patch_source(src, &p()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.replace("\r\n", "").contains('\n'), "only CRLF line endings: {text:?}");
        assert!(text
            .starts_with("\"\"\"Doc.\"\"\"\r\nfrom __future__ import annotations\r\n\r\n# start delvewheel patch\r\n"));
        assert!(text.ends_with("# end delvewheel patch\r\n\r\nimport os\r\n"));
    }

    #[test]
    fn no_final_newline() {
        let out = String::from_utf8(patch_source(b"\"\"\"Doc.\"\"\"", &p()).unwrap()).unwrap();
        assert!(out.starts_with("\"\"\"Doc.\"\"\"\n\n# start delvewheel patch\n"), "{out}");
        assert!(out.ends_with("# end delvewheel patch\n"));
    }

    #[test]
    fn unterminated_is_an_error() {
        assert!(insertion_point(b"\"\"\"never closed\n").is_err());
        assert!(insertion_point(b"from __future__ import (a,\n").is_err());
    }

    #[test]
    fn block_text() {
        let b = p().block();
        assert!(
            b.contains("libs_dir = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, 'pkg.libs'))")
        );
        assert!(b.contains("os.add_dll_directory(libs_dir)"));
        assert!(b.contains("def _wheelfix_patch_0_1_0():"));
        let old = PyPatch { load_order: Some(".load-order-pkg-1.0".into()), ..p() }.block();
        assert!(old.contains("'.load-order-pkg-1.0'") && old.contains("LoadLibraryExW"));
        assert_eq!(py_str("a'b\\"), "'a\\'b\\\\'");
    }

    #[test]
    fn bom_and_comments_between() {
        let src = b"\xef\xbb\xbf# c\n'''doc'''\n# between\nfrom __future__ import annotations  # x\n\nimport os\n";
        let at = insertion_point(src).unwrap();
        assert_eq!(&src[at..], b"\nimport os\n");
        let out = patch_source(src, &p()).unwrap();
        assert!(out.starts_with(b"\xef\xbb\xbf# c\n'''doc'''\n"));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let alphabet = b"\"'\\#\n\r ()[]{}fromx_uture\xef";
        let mut x: u32 = 12345;
        for _ in 0..5000 {
            let len = (x % 40) as usize;
            let src: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    alphabet[(x >> 16) as usize % alphabet.len()]
                })
                .collect();
            if let Ok(out) = patch_source(&src, &p()) {
                assert!(out.len() > src.len());
            }
        }
    }

    #[test]
    fn namespace_detection() {
        assert!(looks_like_namespace(b"__path__ = __import__(\"pkgutil\").extend_path(__path__, __name__)\n"));
        assert!(!looks_like_namespace(b"import os\n"));
    }
}
