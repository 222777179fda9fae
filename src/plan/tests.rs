//! The planners see bytes only through [`Contents`]: what they ask for is
//! read once (the files on disk hashed, their bytes kept within the
//! budget), and what was not read is an error, not a read.

use std::path::{Path, PathBuf};

use sha2::Digest;

use super::*;
use crate::analyze::{analyze_for_repair, Kept};
use crate::wheel::WheelArchive;

fn demo() -> (WheelArchive, Analysis, Kept, PathBuf) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    let archive = WheelArchive::open(&dir.join("demo-0.1-cp311-cp311-linux_x86_64.whl")).unwrap();
    let options = crate::AnalyzeOptions { lib_path: vec![dir.join("lib")], ..Default::default() };
    let (analysis, kept) = analyze_for_repair(&archive, &options).unwrap();
    (archive, analysis, kept, dir.join("lib"))
}

#[test]
fn the_linux_planner_asks_for_the_libraries_it_bundles_and_gets_them_hashed_and_kept() {
    let (archive, analysis, kept, lib) = demo();
    let wanted = wanted(&analysis, &Listing::of(&archive), &PlanOptions::default());
    let names: Vec<String> =
        wanted.hashed.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["libdemocore.so.1", "libdemoutil.so.1"]);
    assert!(wanted.entries.is_empty() && wanted.whole.is_empty(), "{wanted:?}");
    let contents = Contents::gather(&archive, kept, &wanted);
    for p in &wanted.hashed {
        let bytes = std::fs::read(p).unwrap();
        assert!(p.starts_with(std::fs::canonicalize(&lib).unwrap()), "{}", p.display());
        let want: [u8; 32] = sha2::Sha256::digest(&bytes).into();
        assert_eq!(contents.digest(p).unwrap(), want);
        assert_eq!(contents.file(p).unwrap(), bytes.as_slice(), "kept for patching");
    }
    let plan = plan(&analysis, &contents, &PlanOptions::default()).unwrap();
    assert_eq!(plan.digests, contents.digests());
    assert_eq!(plan.bundled.len(), 2);
    let kept = contents.into_kept();
    assert!(wanted.hashed.iter().all(|p| kept.holds_file(p)), "handed on to apply");
}

#[test]
fn what_does_not_fit_the_budget_is_hashed_but_not_kept() {
    let (archive, analysis, _, _) = demo();
    let wanted = wanted(&analysis, &Listing::of(&archive), &PlanOptions::default());
    let contents = Contents::gather(&archive, Kept::none(), &wanted);
    for p in &wanted.hashed {
        assert!(contents.digest(p).is_ok());
        let err = contents.file(p).unwrap_err().to_string();
        assert!(err.contains("not read before planning"), "{err}");
    }
    // the plan is the same without the bytes
    let with = plan(&analysis, &Contents::gather(&archive, Kept::default(), &wanted), &PlanOptions::default());
    let without = plan(&analysis, &contents, &PlanOptions::default()).unwrap();
    assert_eq!(format!("{:?}", with.unwrap()), format!("{without:?}"));
}

#[test]
fn a_planner_given_nothing_fails_where_it_needs_bytes_and_a_failed_read_keeps_its_error() {
    let (archive, analysis, _, _) = demo();
    let nothing = Contents::gather(&archive, Kept::none(), &crate::analyze::Wanted::default());
    let err = plan(&analysis, &nothing, &PlanOptions::default()).unwrap_err().to_string();
    assert!(err.contains("libdemocore.so.1") && err.contains("not read before planning"), "{err}");

    let gone = PathBuf::from("/nonexistent/wheelfix-test/libgone.so.1");
    let wanted = crate::analyze::Wanted { hashed: [gone.clone()].into(), ..Default::default() };
    let contents = Contents::gather(&archive, Kept::default(), &wanted);
    let err = contents.digest(&gone).unwrap_err();
    let expected = crate::error::Error::io(&gone, std::fs::read(&gone).unwrap_err());
    assert_eq!(err.to_string(), expected.to_string());
    assert!(matches!(err, crate::error::Error::Io { .. }));
}
