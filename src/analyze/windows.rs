//! The Windows verdict (delvewheel's rules): the machine of the tag, and the
//! extension modules built for another.

use std::collections::BTreeSet;

use super::model::{Analysis, WindowsVerdict};
use crate::binary::BinaryInfo;
use crate::policy::blocker::Blocker;
use crate::wheel::WheelArchive;

/// For a Windows wheel that delvewheel or wheelfix already repaired (its
/// `<dist-info>/DELVEWHEEL` or `WHEELFIX` marker), the directories that hold its
/// DLLs: the runtime patch adds the libs directory to the DLL search path, so its
/// DLLs are found from every module (delvewheel's `--ignore-existing` view).
/// Empty for any other wheel.
/// With `always` (`--ignore-existing`), every wheel's DLL directories.
pub(super) fn repaired_dll_dirs(archive: &WheelArchive, always: bool) -> Vec<String> {
    let dist_info = archive.dist_info_dir();
    let marked = ["DELVEWHEEL", crate::policy::windows::MARKER]
        .iter()
        .any(|m| archive.entry_by_name(&format!("{dist_info}/{m}")).is_some());
    if !marked && !always {
        return Vec::new();
    }
    let dirs: BTreeSet<String> = archive
        .entries()
        .iter()
        .filter(|e| !e.is_dir && e.name.to_ascii_lowercase().ends_with(".dll"))
        .map(|e| crate::resolve::wheel_parent(&e.name).to_string())
        .collect();
    dirs.into_iter().collect()
}

pub(super) fn verdict(a: &Analysis) -> WindowsVerdict {
    let machine = a.filename.platform.iter().find_map(|p| match p.as_str() {
        "win32" => Some(0x14c),
        "win_amd64" => Some(0x8664),
        "win_arm64" => Some(0xaa64),
        _ => None,
    });
    let mut blockers = Vec::new();
    for b in &a.binaries {
        if let BinaryInfo::Pe(p) = b.info.as_ref() {
            if b.is_extension && Some(p.machine) != machine {
                blockers.push(Blocker::Machine {
                    file: b.path.clone(),
                    found: p.platform_tag().map_or_else(|| format!("machine {:#x}", p.machine), str::to_string),
                });
            }
        }
    }
    WindowsVerdict { machine, blockers }
}
