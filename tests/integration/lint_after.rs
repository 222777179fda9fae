//! The link lint after a repair: what a repair writes is lint-clean, and a
//! finding the input already had that the repair keeps on request
//! (`--keep-rpaths`) is not an error.

use std::path::Path;

use serde_json::{json, Value};

use crate::util::{build_chain, chain_wheel, make_wheel, readelf_dynamic, repair_ok, text, wheelfix, zip_entries};

/// The `link_lint` array of `show --json WHEEL`.
fn link_lint(wheel: &Path) -> Value {
    let o = wheelfix(&["show", "--json", wheel.to_str().unwrap()]);
    let doc: Value = serde_json::from_str(&text(&o.stdout)).unwrap_or_else(|e| panic!("{e}: {}", text(&o.stderr)));
    crate::util::one_wheel(doc)["link_lint"].clone()
}

#[test]
fn repaired_wheels_are_lint_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let demo = root.join("fixtures/demo/demo-0.1-cp311-cp311-linux_x86_64.whl");
    let lib = root.join("fixtures/demo/lib");
    let out = repair_ok(&demo, &tmp.path().join("demo"), &["--lib-path", lib.to_str().unwrap()]);
    assert_eq!(link_lint(&out), json!([]));

    // the chain's extension searches its build directory; the repair drops it
    let (wheel, chain) = chain_wheel(tmp.path());
    let lib_dir = chain.lib_dir.to_str().unwrap();
    let finding = json!({"kind": "absolute_search_path", "file": "chainpkg/ext.so", "path": lib_dir});
    assert_eq!(link_lint(&wheel), json!([finding]));
    let out = repair_ok(&wheel, &tmp.path().join("chain"), &[]);
    assert_eq!(link_lint(&out), json!([]));
}

#[test]
fn a_search_path_the_input_had_and_the_repair_kept_is_no_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (wheel, chain) = chain_wheel(tmp.path());
    let lib_dir = chain.lib_dir.to_str().unwrap();
    let out = repair_ok(&wheel, &tmp.path().join("house"), &["--keep-rpaths"]);
    // the rewrite kept the absolute path beside the one into the wheel
    let ext = tmp.path().join("ext-repaired.so");
    std::fs::write(&ext, &zip_entries(&out)["chainpkg/ext.so"]).unwrap();
    let dynamic = readelf_dynamic(&ext);
    assert!(dynamic.contains(lib_dir) && dynamic.contains("$ORIGIN"), "{dynamic}");
    // and it is still said by show, as before the repair
    let finding = json!({"kind": "absolute_search_path", "file": "chainpkg/ext.so", "path": lib_dir});
    assert_eq!(link_lint(&out), json!([finding]));
}

/// An extension under `<dist>.data/platlib/` installs into site-packages
/// itself: its RPATH to the grafted libraries is counted from there, not
/// from its place in the archive, so the repaired file is lint-clean and
/// loads from an installed layout.
#[test]
fn an_extension_in_platlib_finds_its_libraries_where_it_installs() {
    let tmp = tempfile::tempdir().unwrap();
    let chain = build_chain(tmp.path());
    let ext = "chainpkg-1.0.data/platlib/chainpkg/ext.so";
    let wheel = make_wheel(
        tmp.path(),
        "chainpkg",
        "linux_x86_64",
        vec![
            ("chainpkg-1.0.data/platlib/chainpkg/__init__.py".into(), b"".to_vec()),
            (ext.into(), std::fs::read(&chain.ext).unwrap()),
        ],
    );
    let out = repair_ok(&wheel, &tmp.path().join("house"), &[]);
    assert_eq!(link_lint(&out), json!([]));
    let entries = zip_entries(&out);
    let repaired = tmp.path().join("ext-repaired.so");
    std::fs::write(&repaired, &entries[ext]).unwrap();
    let dynamic = readelf_dynamic(&repaired);
    assert!(dynamic.contains("[$ORIGIN/../chainpkg.libs]"), "{dynamic}");
    // installed: platlib's contents at the root of site-packages, beside the libraries
    let site = tmp.path().join("site");
    for (name, data) in &entries {
        let installed = name.strip_prefix("chainpkg-1.0.data/platlib/").unwrap_or(name);
        let p = site.join(installed);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
    }
    crate::util::loads_with_libraries_gone(tmp.path(), &chain.lib_dir, &site.join("chainpkg/ext.so"));
}
