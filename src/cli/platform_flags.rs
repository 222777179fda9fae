//! Flags that only mean something for one platform's wheels: given for a
//! wheel of another platform, they do nothing, and the command says so
//! (`warning: … --no-mangle (Windows) does nothing for it`) rather than
//! letting a user believe they took effect.

use std::path::Path;

use super::RepairArgs;

/// The platform a wheel's file name claims: `Linux`, `macOS`, `Windows`, or
/// `None` (pure, or a name that does not parse; the repair says why).
pub fn platform_of(wheel: &Path) -> Option<&'static str> {
    let name = wheel.file_name()?.to_str()?;
    let parsed: crate::wheel::WheelFilename = name.parse().ok()?;
    let tag = parsed.platform.first()?;
    if tag.starts_with("linux_") || tag.starts_with("manylinux") || tag.starts_with("musllinux") {
        Some("Linux")
    } else if tag.starts_with("macosx_") {
        Some("macOS")
    } else if tag.starts_with("win") {
        Some("Windows")
    } else {
        None
    }
}

/// The flags given that belong to one platform: (flag, platform).
pub fn platform_flags(args: &RepairArgs) -> Vec<(&'static str, &'static str)> {
    let s = &args.search;
    [
        (args.plat != "auto", "--plat", "Linux"),
        (args.only_plat, "--only-plat", "Linux"),
        (args.keep_rpaths, "--keep-rpaths", "Linux"),
        (s.ldpaths.is_some(), "--ldpaths", "Linux"),
        (s.disable_isa_check, "--disable-isa-ext-check", "Linux"),
        (args.require_archs.is_some(), "--require-archs", "macOS"),
        (args.check_archs, "--check-archs", "macOS"),
        (args.ignore_missing_dependencies, "--ignore-missing-dependencies", "macOS"),
        (args.no_sanitize_rpaths, "--no-sanitize-rpaths", "macOS"),
        (args.require_target_macos_version.is_some(), "--require-target-macos-version", "macOS"),
        (s.executable_path.is_some(), "--executable-path", "macOS"),
        (!args.no_mangle.is_empty(), "--no-mangle", "Windows"),
        (args.no_mangle_all, "--no-mangle-all", "Windows"),
        (!args.include.is_empty(), "--include", "Windows"),
        (!args.namespace_pkg.is_empty(), "--namespace-pkg", "Windows"),
        (s.ignore_existing, "--ignore-existing", "Windows"),
        (s.analyze_existing, "--analyze-existing", "Windows"),
        (s.analyze_existing_exes, "--analyze-existing-exes", "Windows"),
    ]
    .into_iter()
    .filter(|(given, ..)| *given)
    .map(|(_, flag, platform)| (flag, platform))
    .collect()
}

/// The warning for `wheel` when flags of another platform are given, or `None`.
pub fn foreign_flags_warning(wheel: &Path, flags: &[(&'static str, &'static str)]) -> Option<String> {
    let platform = platform_of(wheel)?;
    let foreign: Vec<String> =
        flags.iter().filter(|(_, p)| *p != platform).map(|(f, p)| format!("`{f}` ({p})")).collect();
    if foreign.is_empty() {
        return None;
    }
    let name = wheel.file_name().map_or_else(|| wheel.display().to_string(), |n| n.to_string_lossy().into_owned());
    let verb = if foreign.len() == 1 { "does" } else { "do" };
    Some(format!("`{name}` is a {platform} wheel: {} {verb} nothing for it", foreign.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_from_names() {
        assert_eq!(platform_of(Path::new("d/a-1.0-cp311-cp311-linux_x86_64.whl")), Some("Linux"));
        assert_eq!(platform_of(Path::new("a-1.0-cp311-cp311-musllinux_1_2_aarch64.whl")), Some("Linux"));
        assert_eq!(platform_of(Path::new("a-1.0-cp311-cp311-macosx_11_0_arm64.whl")), Some("macOS"));
        assert_eq!(platform_of(Path::new("a-1.0-cp311-cp311-win_amd64.whl")), Some("Windows"));
        assert_eq!(platform_of(Path::new("a-1.0-cp311-cp311-win32.whl")), Some("Windows"));
        assert_eq!(platform_of(Path::new("a-1.0-py3-none-any.whl")), None);
        assert_eq!(platform_of(Path::new("not-a-wheel")), None);
    }

    #[test]
    fn warning_names_only_foreign_flags() {
        let flags = [("--no-mangle", "Windows"), ("--plat", "Linux"), ("--require-archs", "macOS")];
        let w = Path::new("x/a-1.0-cp311-cp311-linux_x86_64.whl");
        assert_eq!(
            foreign_flags_warning(w, &flags).unwrap(),
            "`a-1.0-cp311-cp311-linux_x86_64.whl` is a Linux wheel: `--no-mangle` (Windows), `--require-archs` (macOS) do nothing for it"
        );
        assert_eq!(foreign_flags_warning(w, &flags[1..2]), None);
        assert_eq!(foreign_flags_warning(Path::new("a-1.0-py3-none-any.whl"), &flags), None);
    }
}
