//! rpm: its database is SQLite (or Berkeley DB on older systems), so it is
//! asked through the `rpm` command when there is one: `rpm --root ROOT
//! --dbpath DB -qf` for the owner, name, version, arch and licence (an SPDX
//! expression on current Fedora), and `rpm -qL` for the package's licence
//! files. Without the command an rpm database is not read, and the user is
//! told. `fixtures/licenses/rpm-check.sh` runs a repair against a real rpm
//! database.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{plain_name, spellings, Found, License, LicenseFile, Owner};

/// Where rpm keeps its database, relative to the root.
const DATABASES: &[&str] = &["var/lib/rpm", "usr/lib/sysimage/rpm"];

/// The files of a database (SQLite, Berkeley DB, NDB): a directory without
/// one is not asked about, since rpm would create an empty database there.
const DATABASE_FILES: &[&str] = &["rpmdb.sqlite", "Packages", "Packages.db"];

/// The query format of `rpm -qf`: one tab-separated line per owner.
const FORMAT: &str = "%{NAME}\\t%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{LICENSE}\\n";

/// The `rpm` command to ask, if any.
#[derive(Debug, Clone)]
pub struct Rpm {
    /// The program; `None` when there is none.
    pub program: Option<PathBuf>,
}

impl Rpm {
    /// The `rpm` found on `PATH`, if any.
    pub fn on_path() -> Self {
        let program = std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("rpm")).find(|p| p.is_file()));
        Rpm { program }
    }

    /// Adds to `found` the owners rpm's database under `root` knows among
    /// `paths`; nothing when `root` has no rpm database.
    pub fn owners(&self, root: &Path, distro: &str, paths: &[PathBuf], found: &mut Found) {
        let has_db = |d: &&&str| DATABASE_FILES.iter().any(|f| root.join(d).join(f).is_file());
        let Some(rel) = DATABASES.iter().find(has_db) else { return };
        let db = root.join(rel);
        // named, since an rpm built for another system looks elsewhere by
        // default (Debian's: `~/.rpmdb`)
        let dbpath = format!("/{rel}");
        let Some(program) = &self.program else {
            found.notes.push(format!(
                "the rpm database `{}` was not read (no `rpm` command): bundled libraries it owns have no \
                 package data or licence files",
                db.display()
            ));
            return;
        };
        for path in paths {
            if found.owners.contains_key(path) {
                continue;
            }
            let Some(line) = spellings(path)
                .iter()
                .find_map(|s| self.query(program, root, &["--dbpath", &dbpath, "-qf", "--queryformat", FORMAT], s))
            else {
                continue;
            };
            let mut fields = line.lines().next().unwrap_or("").split('\t');
            let (Some(name), Some(version), Some(arch)) = (fields.next(), fields.next(), fields.next()) else {
                continue;
            };
            let license = fields.next().map(str::trim).filter(|l| !l.is_empty() && *l != "(none)");
            let files = self.query(program, root, &["--dbpath", &dbpath, "-qL"], Path::new(name)).unwrap_or_default();
            let license_files = files
                .lines()
                .filter(|l| l.starts_with('/'))
                .filter_map(|l| {
                    let name = Path::new(l).file_name()?.to_str()?.to_string();
                    let path = super::under(root, Path::new(l));
                    (plain_name(&name) && path.is_file()).then_some(LicenseFile { name, path })
                })
                .collect();
            found.owners.insert(
                path.clone(),
                Owner {
                    kind: "rpm",
                    namespace: distro.to_string(),
                    package: name.to_string(),
                    version: version.to_string(),
                    arch: if arch == "(none)" { String::new() } else { arch.to_string() },
                    license: license.map(|l| License::Spdx(l.to_string())),
                    license_files,
                },
            );
        }
    }

    /// `rpm --root ROOT ARGS… WHAT`: its standard output when it succeeds.
    fn query(&self, program: &Path, root: &Path, args: &[&str], what: &Path) -> Option<String> {
        let out = Command::new(program).arg("--root").arg(root).args(args).arg(what).output().ok()?;
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8(out.stdout).ok()?;
        (!text.trim().is_empty()).then_some(text)
    }
}
