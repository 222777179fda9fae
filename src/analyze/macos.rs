//! The macOS verdict (delocate's rules): per arch, the highest minimum macOS
//! of the wheel's binaries and the libraries to bundle, and the tag after repair.

use std::collections::BTreeMap;

use super::model::{Analysis, MacVerdict, NodeKind};
use super::AnalyzeOptions;
use crate::binary::BinaryInfo;

pub(super) fn verdict(a: &Analysis, options: &AnalyzeOptions) -> MacVerdict {
    use crate::policy::macos;
    // every slice of the wheel's binaries and of the libraries to bundle
    let mut slices: Vec<(String, String, crate::binary::macho::MacVersion)> = Vec::new();
    let reach = a.graph.reachable(0..a.binaries.len(), |_| false);
    let mut files: Vec<usize> = (0..a.binaries.len()).collect();
    files.extend(
        reach.into_iter().filter(|&n| n >= a.binaries.len() && matches!(a.graph.nodes[n].kind, NodeKind::Disk { .. })),
    );
    let mut min_versions: BTreeMap<String, (crate::binary::macho::MacVersion, String)> = BTreeMap::new();
    for n in files {
        let Some(BinaryInfo::MachO(m)) = a.graph.nodes[n].info.as_deref() else { continue };
        let label = match &a.graph.nodes[n].kind {
            NodeKind::Disk { realpath, .. } => realpath.display().to_string(),
            _ => a.graph.nodes[n].name.clone(),
        };
        for s in &m.slices {
            let Some(v) = s.min_macos else { continue };
            let arch = s.arch.name();
            slices.push((label.clone(), arch.clone(), v));
            let slot = min_versions.entry(arch).or_insert((v, label.clone()));
            if v > slot.0 {
                *slot = (v, label.clone());
            }
        }
    }
    let mut archs: Vec<String> = Vec::new();
    for t in &a.filename.platform {
        if let Some((_, arch)) = macos::parse_macos_tag(t) {
            match arch {
                "universal2" => archs.extend(["x86_64".to_string(), "arm64".to_string()]),
                "intel" => archs.extend(["i386".to_string(), "x86_64".to_string()]),
                other => archs.push(other.to_string()),
            }
        }
    }
    archs.sort();
    archs.dedup();
    let target = match options.macos_target.as_deref().map(macos::parse_deployment_target) {
        Some(Err(e)) => {
            return MacVerdict { archs, min_versions, best: Err(e.to_string()), blockers: Vec::new() };
        }
        Some(Ok(t)) => Some(t),
        None => None,
    };
    let best =
        macos::macos_platform_tags(&slices, &a.filename.platform, target).map(|t| t.tags).map_err(|e| e.to_string());
    MacVerdict { archs, min_versions, best, blockers: Vec::new() }
}
