use super::file::{MANYLINUX_JSON, MUSLLINUX_JSON};
use super::*;
use crate::binary::elf::VersionNeed;

#[test]
fn builtin_policy_files_validate() {
    for (text, file) in [(MANYLINUX_JSON, "manylinux"), (MUSLLINUX_JSON, "musllinux")] {
        let raw = parse_file(text, file).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(raw.len() > 2, "{file}");
    }
    assert!(builtin_raw(Libc::Glibc).is_ok() && builtin_raw(Libc::Musl).is_ok());
}

fn req(pairs: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
    pairs.iter().map(|(l, vs)| (l.to_string(), vs.iter().map(|v| v.to_string()).collect())).collect()
}

fn glibc(arch: &str) -> LinuxPolicies {
    match LinuxPolicies::builtin(Libc::Glibc, arch) {
        Ok(p) => p,
        Err(e) => panic!("builtin manylinux for {arch}: {e}"),
    }
}

fn tags(p: &LinuxPolicies) -> Vec<String> {
    p.policies.iter().map(LinuxPolicy::tag).collect()
}

#[test]
fn builtin_x86_64_has_every_policy_in_priority_order() {
    let p = glibc("x86_64");
    let expected: Vec<String> = [
        "manylinux_2_5",
        "manylinux_2_12",
        "manylinux_2_17",
        "manylinux_2_24",
        "manylinux_2_26",
        "manylinux_2_27",
        "manylinux_2_28",
        "manylinux_2_31",
        "manylinux_2_34",
        "manylinux_2_35",
        "manylinux_2_36",
        "manylinux_2_37",
        "manylinux_2_38",
        "manylinux_2_39",
        "manylinux_2_40",
        "manylinux_2_41",
        "linux",
    ]
    .iter()
    .map(|n| format!("{n}_x86_64"))
    .collect();
    assert_eq!(tags(&p), expected);
    assert_eq!(p.highest().tag(), "manylinux_2_5_x86_64");
    assert_eq!(p.highest().alias_tags(), vec!["manylinux1_x86_64"]);
    assert_eq!(p.lowest().tag(), "manylinux_2_41_x86_64");
    assert_eq!(p.linux().tag(), "linux_x86_64");
    assert_eq!(p.linux().priority, 0);
    assert!(p.policies.windows(2).all(|w| w[0].priority > w[1].priority));
}

#[test]
fn builtin_arch_filtering() {
    // aarch64 starts at 2_17, ppc64 only has 2_17, riscv64 from 2_31, loongarch64 from 2_36
    assert_eq!(glibc("aarch64").highest().tag(), "manylinux_2_17_aarch64");
    assert_eq!(tags(&glibc("ppc64")), vec!["manylinux_2_17_ppc64", "linux_ppc64"]);
    assert_eq!(glibc("riscv64").highest().name, "manylinux_2_31");
    assert_eq!(glibc("loongarch64").highest().name, "manylinux_2_36");
    assert_eq!(glibc("i686").highest().name, "manylinux_2_5");
    let err = LinuxPolicies::builtin(Libc::Glibc, "sparc64");
    assert_eq!(err, Err(PolicyError::UnsupportedArch { family: "manylinux".into(), arch: "sparc64".into() }));
    assert!(LinuxPolicies::builtin(Libc::Musl, "ppc64").is_err());
}

#[test]
fn builtin_whitelist_and_versions_facts() {
    let p = glibc("x86_64");
    let newest = p.lowest();
    assert_eq!(newest.lib_whitelist.len(), 24);
    for lib in ["libc.so.6", "libstdc++.so.6", "libz.so.1", "libexpat.so.1", "libGL.so.1", "libmvec.so.1"] {
        assert!(newest.is_whitelisted(lib), "{lib}");
    }
    assert!(!newest.is_whitelisted("libssl.so.3"));
    let m2014 = p.by_tag("manylinux2014").unwrap_or_else(|e| panic!("{e}"));
    assert!(m2014.symbol_versions["GLIBC"].contains("2.17"));
    assert!(!m2014.symbol_versions["GLIBC"].contains("2.18"));
    // ≤2_17 blacklist libc symbols, ≥2_24 only libz internals
    assert!(m2014.blacklist.contains_key("libc.so.6"));
    assert_eq!(
        p.by_tag("manylinux_2_24").map(|x| x.blacklist.keys().cloned().collect()),
        Ok(vec!["libz.so.1".to_string()])
    );
}

#[test]
fn musl_libc_soname_per_arch() {
    for (arch, soname) in [
        ("x86_64", "libc.musl-x86_64.so.1"),
        ("i686", "libc.musl-x86.so.1"),
        ("armv7l", "libc.musl-armv7.so.1"),
        ("aarch64", "libc.musl-aarch64.so.1"),
        ("loongarch64", "libc.musl-loongarch64.so.1"),
    ] {
        let p = LinuxPolicies::builtin(Libc::Musl, arch).unwrap_or_else(|e| panic!("{e}"));
        assert!(p.highest().is_whitelisted(soname), "{arch}");
        assert!(!p.highest().is_whitelisted("libc.so"), "{arch}");
        assert!(p.highest().is_whitelisted("libz.so.1"));
    }
    let x = LinuxPolicies::builtin(Libc::Musl, "x86_64").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tags(&x), vec!["musllinux_1_1_x86_64", "musllinux_1_2_x86_64", "linux_x86_64"]);
    // loongarch64 only from musllinux_1_2
    let l = LinuxPolicies::builtin(Libc::Musl, "loongarch64").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(l.highest().name, "musllinux_1_2");
}

#[test]
fn by_tag_forms() {
    let p = glibc("x86_64");
    for t in ["manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_17", "manylinux2014"] {
        assert_eq!(p.by_tag(t).map(|x| x.name.as_str()), Ok("manylinux_2_17"), "{t}");
    }
    assert_eq!(p.by_tag("manylinux1_x86_64").map(|x| x.name.as_str()), Ok("manylinux_2_5"));
    assert_eq!(p.by_tag("linux_x86_64").map(|x| x.priority), Ok(0));
    assert_eq!(p.by_tag("linux").map(|x| x.priority), Ok(0));
    assert_eq!(p.by_tag("manylinux_2_17_aarch64"), Err(PolicyError::UnknownTag("manylinux_2_17_aarch64".into())));
    assert!(p.by_tag("manylinux_2_18_x86_64").is_err());
    assert!(p.by_tag("").is_err());
    assert!(p.by_tag("_x86_64").is_err());
}

#[test]
fn versioned_symbols_rule() {
    let p = glibc("x86_64");
    let m1 = p.highest();
    let ok = req(&[("libc.so.6", &["GLIBC_2.2.5", "GLIBC_2.4"]), ("libfoo.so", &["FOO_9.9"])]);
    assert_eq!(m1.versioned_symbols_ok(&ok), vec![]);
    let bad = req(&[("libc.so.6", &["GLIBC_2.17", "GLIBC_2.2.5"]), ("libstdc++.so.6", &["GLIBCXX_3.4.21"])]);
    assert_eq!(
        m1.versioned_symbols_ok(&bad),
        vec![
            SymbolViolation { lib: "libc.so.6".into(), version: "GLIBC_2.17".into() },
            SymbolViolation { lib: "libstdc++.so.6".into(), version: "GLIBCXX_3.4.21".into() },
        ]
    );
    // a known prefix with an unknown version is a violation; linux allows all
    let private = req(&[("libc.so.6", &["GLIBC_PRIVATE"])]);
    assert_eq!(m1.versioned_symbols_ok(&private).len(), 1);
    assert!(p.linux().versioned_symbols_ok(&private).is_empty());
    assert_eq!(p.best_for_symbols(&private).name, "linux");
}

#[test]
fn best_for_symbols_picks_highest_satisfied() {
    let p = glibc("x86_64");
    let cases: &[(&[&str], &str)] = &[
        (&[], "manylinux_2_5"),
        (&["GLIBC_2.5"], "manylinux_2_5"),
        (&["GLIBC_2.7"], "manylinux_2_12"),
        (&["GLIBC_2.17"], "manylinux_2_17"),
        (&["GLIBC_2.18"], "manylinux_2_24"),
        (&["GLIBC_2.28", "GLIBC_2.2.5"], "manylinux_2_28"),
        (&["GLIBC_2.34"], "manylinux_2_34"),
        (&["GLIBC_2.41"], "manylinux_2_41"),
        (&["GLIBC_2.42"], "linux"),
    ];
    for (versions, want) in cases {
        let r = req(&[("libc.so.6", versions)]);
        assert_eq!(p.best_for_symbols(&r).name, *want, "{versions:?}");
    }
}

#[test]
fn blacklist_only_needed_and_imported() {
    let p = glibc("x86_64");
    let m2014 = p.by_tag("manylinux2014_x86_64").unwrap_or_else(|e| panic!("{e}"));
    let needed = ["libc.so.6", "libz.so.1"];
    let imported = ["__cxa_thread_atexit_impl", "_tr_init", "malloc", "pthread_getattr_default_np"];
    let got = m2014.blacklisted(&needed, &imported);
    let want = req(&[
        ("libc.so.6", &["__cxa_thread_atexit_impl", "pthread_getattr_default_np"]),
        ("libz.so.1", &["_tr_init"]),
    ]);
    assert_eq!(got, want);
    // libpthread blacklists pthread_getattr_default_np too, but it is not needed
    assert!(!got.contains_key("libpthread.so.0"));
    // newer policies no longer blacklist libc symbols
    let m224 = p.by_tag("manylinux_2_24_x86_64").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m224.blacklisted(&needed, &imported), req(&[("libz.so.1", &["_tr_init"])]));
    assert!(m224.blacklisted(&needed, &["malloc"]).is_empty());
}

#[test]
fn loader_and_libpython_names() {
    for n in [
        "ld-linux-x86-64.so.2",
        "ld-linux.so.2",
        "ld-linux-aarch64.so.1",
        "ld64.so.1",
        "ld64.so.2",
        "ld-musl-x86_64.so.1",
        "/lib/ld-musl-armhf.so.1",
    ] {
        assert!(is_loader(n), "{n}");
    }
    for n in ["libc.so.6", "ld64.so.3", "libld-linux.so", "ld.so"] {
        assert!(!is_loader(n), "{n}");
    }
    for n in
        ["libpython3.12.so.1.0", "libpython3.7m.so", "libpython3.13t.so.1.0", "libpython2.7.so.1", "libpython3.10.so"]
    {
        assert!(is_libpython(n), "{n}");
    }
    for n in [
        "libpython3.so",
        "libpython3.12.so.",
        "libpython3.12.a",
        "libpython3.12mt.so",
        "libpython.so",
        "libpython3.12.so.1x",
        "xlibpython3.12.so",
    ] {
        assert!(!is_libpython(n), "{n}");
    }
}

#[test]
fn isa_levels() {
    for (bits, level, unknown) in [
        (0, 1, false),
        (1, 1, false),
        (2, 2, false),
        (3, 2, false),
        (4, 3, false),
        (7, 3, false),
        (8, 4, false),
        (0xf, 4, false),
        (0x10, 1, true),
        (0x11, 1, true),
        (0x12, 2, false),
    ] {
        assert_eq!(isa_level_from_bits(bits), level, "{bits:#x}");
        assert_eq!(isa_bits_unknown(bits), unknown, "{bits:#x}");
    }
    let p = glibc("x86_64");
    assert_eq!(p.highest_whitelisting("libmvec.so.1").map(|x| x.name.as_str()), Some("manylinux_2_24"));
    assert_eq!(p.highest_whitelisting("libc.so.6").map(|x| x.name.as_str()), Some("manylinux_2_5"));
    assert_eq!(p.highest_whitelisting("libfoo.so"), None);
}

#[test]
fn tag_parts() {
    for (tag, arch, libc) in [
        ("manylinux_2_17_x86_64", Some("x86_64"), Some(Libc::Glibc)),
        ("manylinux2014_aarch64", Some("aarch64"), Some(Libc::Glibc)),
        ("manylinux1_i686", Some("i686"), Some(Libc::Glibc)),
        ("musllinux_1_2_armv7l", Some("armv7l"), Some(Libc::Musl)),
        ("linux_x86_64", Some("x86_64"), None),
        ("manylinux_2_x_x86_64", None, None),
        ("manylinux_2_17", None, None),
        ("macosx_11_0_arm64", None, None),
        ("linux_", None, None),
    ] {
        assert_eq!(arch_of_tag(tag), arch, "{tag}");
        assert_eq!(libc_of_tag(tag), libc, "{tag}");
    }
    let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(libc_of_wheel_tags(&tags(&["linux_x86_64"])), Some(Libc::Glibc));
    assert_eq!(libc_of_wheel_tags(&tags(&["musllinux_1_2_x86_64"])), Some(Libc::Musl));
    assert_eq!(libc_of_wheel_tags(&tags(&["manylinux2014_x86_64", "manylinux_2_17_x86_64"])), Some(Libc::Glibc));
    assert_eq!(libc_of_wheel_tags(&tags(&["macosx_11_0_arm64"])), None);
    assert_eq!(libc_of_wheel_tags(&tags(&["win_amd64", "any"])), None);
}

#[test]
fn required_versions_skip_loader() {
    let needs = vec![
        VersionNeed { file: "libc.so.6".into(), versions: vec!["GLIBC_2.2.5".into(), "GLIBC_2.14".into()] },
        VersionNeed { file: "ld-linux-x86-64.so.2".into(), versions: vec!["GLIBC_2.3".into()] },
        VersionNeed { file: "ld64.so.2".into(), versions: vec!["GLIBC_2.17".into()] },
        VersionNeed { file: "libc.so.6".into(), versions: vec!["GLIBC_2.3.4".into()] },
    ];
    assert_eq!(required_versions(&needs), req(&[("libc.so.6", &["GLIBC_2.14", "GLIBC_2.2.5", "GLIBC_2.3.4"])]));
}

const MINI: &str = r#"[
  {"name": "linux", "aliases": [], "priority": 0, "symbol_versions": {}, "lib_whitelist": [], "blacklist": {}},
  {"name": "old_1", "aliases": ["old"], "priority": 100, "symbol_versions": {"x86_64": {"GLIBC": ["2.1"]}},
   "lib_whitelist": ["libc.so.6"], "blacklist": {}},
  {"name": "new_2", "aliases": [], "priority": 50, "symbol_versions": {"x86_64": {"GLIBC": ["2.1", "2.2"]}, "arm": {"GLIBC": ["2.2"]}},
   "lib_whitelist": ["libc.so.6", "libm.so.6"], "blacklist": {"libc.so.6": ["bad"]}}
]"#;

#[test]
fn user_file_loads() {
    let p = LinuxPolicies::from_json(MINI, "mine.json", Libc::Glibc, "x86_64").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tags(&p), vec!["old_1_x86_64", "new_2_x86_64", "linux_x86_64"]);
    assert_eq!(p.by_tag("old_x86_64").map(|x| x.priority), Ok(100));
    let arm = LinuxPolicies::from_json(MINI, "mine.json", Libc::Glibc, "arm").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tags(&arm), vec!["new_2_arm", "linux_arm"]);
}

#[test]
fn user_file_errors() {
    let cases: &[(&str, &str)] = &[
        ("[", "EOF"),
        ("{}", "expected a sequence"),
        (r#"[{"name": "linux"}]"#, "missing field"),
        (&MINI.replace("\"2.1\", \"2.2\"", "\"2.2\""), "does not allow `GLIBC_2.1`"),
        (&MINI.replace("[\"libc.so.6\", \"libm.so.6\"]", "[\"libm.so.6\"]"), "does not whitelist `libc.so.6`"),
        (&MINI.replace("\"priority\": 50", "\"priority\": 100"), "priority 100 is used twice"),
        (&MINI.replace("\"priority\": 50", "\"priority\": -5"), "priority of `new_2`"),
        (&MINI.replace("\"priority\": 50", "\"priority\": 0"), "priority 0"),
        (&MINI.replace("\"name\": \"linux\"", "\"name\": \"generic\""), "priority 0 must belong"),
        (&MINI.replace("[\"old\"]", "[\"new_2\"]"), "`new_2` is defined twice"),
        (&MINI.replace("[\"old\"]", "[\"Old Tag\"]"), "not a platform tag name"),
    ];
    for (text, needle) in cases {
        match LinuxPolicies::from_json(text, "mine.json", Libc::Glibc, "x86_64") {
            Err(PolicyError::Invalid { file, reason }) => {
                assert_eq!(file, "mine.json");
                assert!(reason.contains(needle), "{reason:?} lacks {needle:?}");
            }
            other => panic!("{needle}: {other:?}"),
        }
    }
    let no_linux = r#"[{"name": "a_1", "aliases": [], "priority": 5, "symbol_versions": {"x86_64": {}}, "lib_whitelist": [], "blacklist": {}}]"#;
    assert!(matches!(
        LinuxPolicies::from_json(no_linux, "f", Libc::Glibc, "x86_64"),
        Err(PolicyError::Invalid { reason, .. }) if reason.contains("no `linux`")
    ));
    assert!(matches!(
        LinuxPolicies::from_json(MINI, "f", Libc::Glibc, "s390x"),
        Err(PolicyError::UnsupportedArch { .. })
    ));
}

#[test]
fn builtin_files_pass_validation_for_every_arch() {
    for arch in ["x86_64", "i686", "aarch64", "armv7l", "ppc64le", "ppc64", "s390x", "riscv64", "loongarch64"] {
        let p = glibc(arch);
        assert!(p.policies.len() >= 2, "{arch}");
        assert!(p.policies.iter().all(|x| x.arch == arch));
    }
}
