//! vcpkg: a DLL of an installed tree, `<root>/installed/<triplet>/bin/x.dll`
//! (or `debug/bin/`), belongs to the port whose
//! `installed/vcpkg/info/<port>_<version>_<triplet>.list` lists
//! `<triplet>/bin/x.dll`. The port's licence text is
//! `installed/<triplet>/share/<port>/copyright`, and its licence the one
//! `share/<port>/vcpkg.spdx.json` gives, when present.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{spdx_json_license, LicenseFile, Owner};

/// Where `path` is in a vcpkg tree: (the `installed` directory, triplet,
/// the path below `installed/` with `/` separators).
fn place(path: &Path) -> Option<(PathBuf, String, String)> {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let parts: Vec<&str> = real.iter().filter_map(|c| c.to_str()).collect();
    let at = (0..parts.len().saturating_sub(3)).rev().find(|&i| parts[i] == "installed")?;
    let triplet = parts[at + 1];
    if !super::plain_name(triplet) || triplet == "vcpkg" {
        return None;
    }
    let installed: PathBuf = real.iter().take(at + 1).collect();
    Some((installed, triplet.to_string(), parts[at + 1..].join("/")))
}

/// Adds to `out` the ports whose installed files are `paths` (on disk).
pub fn owners(_root: &Path, paths: &[PathBuf], out: &mut BTreeMap<PathBuf, Owner>) {
    for path in paths {
        let Some((installed, triplet, rel)) = place(path) else { continue };
        let Some((port, version)) = owning_list(&installed, &triplet, &rel) else { continue };
        let share = installed.join(&triplet).join("share").join(&port);
        let copyright = share.join("copyright");
        let license_files = if copyright.is_file() {
            vec![LicenseFile { name: "copyright".into(), path: copyright }]
        } else {
            Vec::new()
        };
        out.insert(
            path.clone(),
            Owner {
                kind: "generic",
                namespace: "vcpkg".into(),
                license: spdx_json_license(&share.join("vcpkg.spdx.json"), &port),
                license_files,
                package: port,
                version,
                arch: String::new(),
            },
        );
    }
}

/// The (port, version) of the list in `installed/vcpkg/info/` that holds the
/// line `rel` (compared without regard to ASCII case, as Windows does).
fn owning_list(installed: &Path, triplet: &str, rel: &str) -> Option<(String, String)> {
    let info = installed.join("vcpkg/info");
    let mut lists: Vec<PathBuf> = std::fs::read_dir(&info)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "list"))
        .collect();
    lists.sort();
    let suffix = format!("_{triplet}");
    lists.iter().find_map(|list| {
        let stem = list.file_stem()?.to_str()?;
        let (port, version) = stem.strip_suffix(&suffix)?.rsplit_once('_')?;
        let text = std::fs::read_to_string(list).ok()?;
        let owns = text.lines().any(|l| l.trim_end().eq_ignore_ascii_case(rel));
        (owns && super::plain_name(port)).then(|| (port.to_string(), version.to_string()))
    })
}
