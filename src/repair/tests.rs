//! A repair of a batch, sharing its bundled libraries' streams.

use std::sync::Arc;

use super::*;
use crate::apply::shared::{Claim, Found, Key};
use crate::wheel::writer::Deflated;

/// A repair that finds its bundled libraries being compressed by
/// another waits, once its own work is done; it takes the stream that
/// is published, deflates the one given up itself, and writes the same
/// bytes as a repair alone.
#[test]
fn a_repair_waits_for_what_another_compresses_and_deflates_what_is_given_up() {
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    let wheel = demo.join("demo-0.1-cp311-cp311-linux_x86_64.whl");
    let tmp = tempfile::tempdir().unwrap();
    let options = |dir: &str| RepairOptions {
        analyze: crate::AnalyzeOptions { lib_path: vec![demo.join("lib")], ..Default::default() },
        apply: ApplyOptions { wheel_dir: tmp.path().join(dir), ..Default::default() },
        ..Default::default()
    };
    let alone = repair(&wheel, &options("alone")).unwrap();
    assert_eq!(alone.bundled.len(), 2, "the demo bundles two libraries");
    let out = crate::wheel::WheelArchive::open(&alone.output).unwrap();
    // the two libraries as the repair alone wrote them, and their streams
    let libs: Vec<(Key, Arc<Deflated>)> = alone
        .bundled
        .iter()
        .map(|(_, name)| {
            let bytes = out.read(out.entry_by_name(name).unwrap().index).unwrap();
            let sha256 = <sha2::Sha256 as sha2::Digest>::digest(&bytes).into();
            let stream = crate::wheel::writer::deflate_early(&bytes, 6).unwrap().unwrap();
            (Key { sha256, len: bytes.len(), level: 6 }, Arc::new(stream))
        })
        .collect();
    let shared = SharedLibraries::new();
    let claims: Vec<Claim> = libs
        .iter()
        .map(|(key, _)| match shared.find(*key) {
            Found::Claimed(c) => c,
            _ => panic!("vacant"),
        })
        .collect();
    let in_batch = options("batch");
    std::thread::scope(|scope| {
        let repair = scope.spawn(|| repair_sharing(&wheel, &in_batch, &shared));
        while shared.waiting() == 0 {
            assert!(!repair.is_finished(), "the repair must wait: {:?}", repair.join());
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let mut claims = claims.into_iter();
        claims.next().unwrap().publish(&libs[0].1);
        drop(claims);
        let batch = repair.join().unwrap().unwrap();
        assert!(std::fs::read(&batch.output).unwrap() == std::fs::read(&alone.output).unwrap(), "same bytes");
        let reused: Vec<&String> = batch.details.iter().filter(|d| d.contains("stream is reused")).collect();
        assert_eq!(reused.len(), 1, "{:?}", batch.details);
        assert!(reused[0].contains(&alone.bundled[0].1), "{reused:?}");
    });
    assert_eq!(shared.len(), 1, "the stream given up is not kept");
}
