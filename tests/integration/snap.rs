//! Snapshots of what the command prints, with insta: one text per run
//! holding the exit code, stdout and stderr, after a small filter has put
//! placeholders where the output names this machine's directories.
//!
//! The filter, and nothing else, normalises: each directory it is given (a
//! temporary directory, the project root) is replaced by a placeholder such
//! as `[TMP]` or `[ROOT]`, written as given and as its canonical path, the
//! longest first, so a temporary directory under the root is still `[TMP]`;
//! a test may also name one value this machine decides (the file name a
//! wheel built with cc here gets from its best tag) after checking it itself.
//! `wheelfix X.Y.Z` (the crate's own version, as the repair marker names
//! it) becomes `wheelfix [VERSION]`. Everything else (names, hashes in
//! bundled names, tags, exit codes) is kept, so a snapshot changes only when
//! the command's output does.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Placeholders for this machine's directories in command output.
pub struct Filter {
    replace: Vec<(String, String)>,
}

impl Filter {
    /// A filter that knows the project root (`[ROOT]`).
    pub fn new() -> Filter {
        let version = (format!("wheelfix {}", env!("CARGO_PKG_VERSION")), "wheelfix [VERSION]".to_string());
        Filter { replace: vec![version] }.dir(Path::new(env!("CARGO_MANIFEST_DIR")), "[ROOT]")
    }

    /// Also replaces `dir` (as given and canonical) by `placeholder`.
    pub fn dir(mut self, dir: &Path, placeholder: &str) -> Filter {
        let mut forms = vec![dir.to_string_lossy().into_owned()];
        if let Ok(c) = std::fs::canonicalize(dir) {
            forms.push(c.to_string_lossy().into_owned());
        }
        for f in forms {
            let f = f.trim_end_matches('/').to_string();
            if !f.is_empty() && !self.replace.iter().any(|(from, _)| *from == f) {
                self.replace.push((f, placeholder.to_string()));
            }
        }
        self.replace.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        self
    }

    /// Also replaces `value`, a name this machine decides that the test has
    /// checked on its own (the file name a cc-built wheel gets from its best
    /// tag), by `placeholder`.
    pub fn value(mut self, value: &str, placeholder: &str) -> Filter {
        self.replace.push((value.to_string(), placeholder.to_string()));
        self.replace.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        self
    }

    /// `text` with every known directory replaced.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (from, to) in &self.replace {
            out = out.replace(from.as_str(), to);
        }
        out
    }

    /// The exit code, stdout and stderr of `o`, filtered, as one text.
    pub fn run(&self, o: &Output) -> String {
        let code = o.status.code().map_or("none (killed by a signal)".to_string(), |c| c.to_string());
        format!(
            "exit code: {code}\n----- stdout -----\n{}----- stderr -----\n{}",
            self.apply(&String::from_utf8_lossy(&o.stdout)),
            self.apply(&String::from_utf8_lossy(&o.stderr))
        )
    }
}

/// Runs the built `wheelfix` with `args` in `cwd`, as `util::wheelfix` does
/// (no colour, no inherited library paths or platform overrides).
pub fn wheelfix_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wheelfix"))
        .args(args)
        .current_dir(cwd)
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("AUDITWHEEL_PLAT")
        .env_remove("MACOSX_DEPLOYMENT_TARGET")
        .env_remove("DYLD_LIBRARY_PATH")
        .env_remove("DYLD_FALLBACK_LIBRARY_PATH")
        .env("NO_COLOR", "1")
        .output()
        .expect("the wheelfix binary runs")
}

/// The project root, where relative fixture paths resolve.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Asserts that `text` matches the snapshot `name` in `tests/integration/snapshots`.
#[macro_export]
macro_rules! snapshot {
    ($name:expr, $text:expr) => {
        insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!($name, $text);
        })
    };
}
