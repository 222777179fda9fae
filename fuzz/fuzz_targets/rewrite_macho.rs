//! Plan bytes + a Mach-O file (thin or fat) → `patch::macho::apply`. When
//! the rewrite succeeds, the output must re-parse and show every edit in
//! every slice.
#![no_main]

#[path = "plan.rs"]
mod plan;

use libfuzzer_sys::fuzz_target;
use wheelfix::patch::macho::{apply, MachOEdits};

fuzz_target!(|data: &[u8]| {
    let Some((plan, bin)) = plan::Plan::split(data) else { return };
    let Ok(info) = wheelfix::binary::macho::parse(bin) else { return };
    let first = &info.slices[0];
    let new_names = [
        plan::name("@rpath/libfzid", plan.len_a, ".dylib"),
        plan::name("@loader_path/libfzdep", plan.len_b, ".dylib"),
        plan::name("@loader_path/fzrpath", plan.len_a ^ plan.len_b, ""),
    ];
    if !new_names.iter().all(|n| plan::fresh(bin, n)) {
        return;
    }
    let mut edits = MachOEdits::default();
    if plan.has(0) {
        edits.set_id = Some(plan::name("@rpath/libfzid", plan.len_a, ".dylib"));
    }
    let changed = plan.pick(first.deps.len(), 0).filter(|_| plan.has(1)).map(|i| first.deps[i].name.clone());
    let new_dep = plan::name("@loader_path/libfzdep", plan.len_b, ".dylib");
    if let Some(old) = &changed {
        edits.change_dylibs.push((old.clone(), new_dep.clone()));
    }
    let deleted = plan.pick(first.rpaths.len(), 0x33).filter(|_| plan.has(2)).map(|i| first.rpaths[i].clone());
    if let Some(d) = &deleted {
        edits.delete_rpaths.push(d.clone());
    }
    let added = plan.has(3).then(|| plan::name("@loader_path/fzrpath", plan.len_a ^ plan.len_b, ""));
    if let Some(a) = &added {
        edits.add_rpaths.push(a.clone());
    }
    let Ok(out) = apply(bin, &edits) else { return };
    let after = wheelfix::binary::macho::parse(&out).expect("the rewritten file must parse");
    assert_eq!(after.slices.len(), info.slices.len(), "slice count changed");
    for (before, now) in info.slices.iter().zip(&after.slices) {
        assert_eq!(before.arch, now.arch);
        match (&edits.set_id, &before.id) {
            (Some(id), Some(_)) => assert_eq!(now.id.as_ref(), Some(id), "id not set"),
            _ => assert_eq!(now.id, before.id, "id changed"),
        }
        if let Some(old) = &changed {
            assert!(!now.deps.iter().any(|d| &d.name == old), "{old} still referenced");
            let had = before.deps.iter().filter(|d| &d.name == old).count();
            let has = now.deps.iter().filter(|d| d.name == new_dep).count();
            assert_eq!(had, has, "{new_dep} referenced {has} times, expected {had}");
        }
        if let Some(d) = &deleted {
            assert!(!now.rpaths.contains(d), "rpath {d} not deleted");
        }
        if let Some(a) = &added {
            assert!(now.rpaths.contains(a), "rpath {a} not added");
        }
    }
});
