//! Plan bytes + a PE image → `patch::pe::apply` (and `strip`). When the
//! rewrite succeeds, the output must re-parse with the renamed import.
#![no_main]

#[path = "plan.rs"]
mod plan;

use libfuzzer_sys::fuzz_target;
use wheelfix::patch::pe::{apply, strip, PeEdits};

fuzz_target!(|data: &[u8]| {
    let Some((plan, bin)) = plan::Plan::split(data) else { return };
    let Ok(info) = wheelfix::binary::pe::parse(bin) else { return };
    if ![plan::name("fz", plan.len_a, ".dll"), plan::name("fy", plan.len_b, ".dll")].iter().all(|n| plan::fresh(bin, n))
    {
        return;
    }
    if plan.has(7) {
        if let Ok(out) = strip(bin) {
            let after = wheelfix::binary::pe::parse(&out).expect("the stripped image must parse");
            assert_eq!(after.needed(), info.needed(), "strip changed the imports");
        }
        return;
    }
    let needed: Vec<String> = info.needed().into_iter().map(str::to_string).collect();
    let Some(i) = plan.pick(needed.len(), 0) else { return };
    let old = needed[i].clone();
    let new = plan::name("fz", plan.len_a, ".dll");
    let mut edits = PeEdits::new().replace(old.clone(), new.clone());
    if plan.has(0) {
        if let Some(j) = plan.pick(needed.len(), 0x77).filter(|&j| j != i) {
            edits = edits.replace(needed[j].clone(), plan::name("fy", plan.len_b, ".dll"));
        }
    }
    let Ok(out) = apply(bin, &edits) else { return };
    let after = wheelfix::binary::pe::parse(&out).expect("the rewritten image must parse");
    let now = after.needed();
    for (o, n) in &edits.replace_needed {
        assert!(now.iter().any(|x| x.eq_ignore_ascii_case(n)), "{n} missing from {now:?}");
        assert!(!now.iter().any(|x| x.eq_ignore_ascii_case(o)), "{o} still in {now:?}");
    }
});
