//! Plan bytes + an ELF file → `patch::elf::apply`. When the rewrite
//! succeeds, the output must re-parse and show every edit.
#![no_main]

#[path = "plan.rs"]
mod plan;

use libfuzzer_sys::fuzz_target;
use wheelfix::patch::elf::{apply, ElfEdits, RpathEdit};

fuzz_target!(|data: &[u8]| {
    let Some((plan, bin)) = plan::Plan::split(data) else { return };
    let Ok(info) = wheelfix::binary::elf::parse(bin) else { return };
    let new_names = [plan::name("libfzsoname", plan.len_a, ".so.1"), plan::name("libfzneeded", plan.len_b, ".so")];
    if !new_names.iter().all(|n| plan::fresh(bin, n)) {
        return;
    }
    let mut edits = ElfEdits::default();
    if plan.has(0) {
        edits.set_soname = Some(plan::name("libfzsoname", plan.len_a, ".so.1"));
    }
    let replaced = plan.pick(info.needed.len(), 0).filter(|_| plan.has(1)).map(|i| info.needed[i].clone());
    let new_needed = plan::name("libfzneeded", plan.len_b, ".so");
    if let Some(old) = &replaced {
        edits.replace_needed.push((old.clone(), new_needed.clone()));
    }
    let removed = plan
        .pick(info.needed.len(), 0x5a)
        .filter(|_| plan.has(2))
        .map(|i| info.needed[i].clone())
        .filter(|r| Some(r) != replaced.as_ref());
    if let Some(r) = &removed {
        edits.remove_needed.push(r.clone());
    }
    let path = plan::name("$ORIGIN/fz", plan.len_a ^ plan.len_b, "");
    edits.rpath = match (plan.flags >> 3) & 3 {
        0 => None,
        1 => Some(RpathEdit::Remove),
        2 => Some(RpathEdit::SetRpath(path.clone())),
        _ => Some(RpathEdit::SetRunpath(path.clone())),
    };
    let Ok(out) = apply(bin, &edits) else { return };
    let after = wheelfix::binary::elf::parse(&out).expect("the rewritten file must parse");
    if let Some(s) = &edits.set_soname {
        assert_eq!(after.soname.as_ref(), Some(s), "soname not set");
    }
    if let Some(old) = &replaced {
        assert!(after.needed.contains(&new_needed), "{new_needed} missing from {:?}", after.needed);
        assert!(!after.needed.contains(old), "{old} still in {:?}", after.needed);
    }
    if let Some(r) = &removed {
        assert!(!after.needed.contains(r), "{r} not removed: {:?}", after.needed);
    }
    match &edits.rpath {
        None => {
            assert_eq!(after.rpath, info.rpath);
            assert_eq!(after.runpath, info.runpath);
        }
        Some(RpathEdit::Remove) => assert!(after.rpath.is_empty() && after.runpath.is_empty()),
        Some(RpathEdit::SetRpath(p)) => {
            assert_eq!(after.rpath, vec![p.clone()]);
            assert!(after.runpath.is_empty());
        }
        Some(RpathEdit::SetRunpath(p)) => {
            assert_eq!(after.runpath, vec![p.clone()]);
            assert!(after.rpath.is_empty());
        }
    }
});
