//! Integration tests: real binaries, real wheels, the real `wheelfix` command.
//!
//! Two kinds of expected output are committed beside the tests, and a test
//! fails when what it sees differs, or when the expected file is missing:
//!
//! - Golden dumps, `tests/golden/{elf,macho,pe}/*.txt`: a text dump of each
//!   binary fixture and of each rewrite the tests make of it (Mach-O and PE
//!   dumps are written by `macho_dump.rs` and `pe_dump.rs`, readers that are
//!   not wheelfix's). To accept a change, run `WHEELFIX_UPDATE_GOLDEN=1 cargo
//!   test`, read `git diff tests/golden`, and commit the files.
//! - Snapshots of what the command prints, `tests/integration/snapshots/*.snap`
//!   (insta; the filter for this machine's paths is in `snap.rs`). A changed
//!   or new snapshot fails with or without `CI` set; outside CI insta also
//!   writes the new output beside it as `*.snap.new` (ignored by git). To
//!   review, run `cargo insta review` if cargo-insta is installed (it accepts
//!   or rejects each `.snap.new`), or else `INSTA_UPDATE=always cargo test`,
//!   which rewrites the `.snap` files in place, then read `git diff
//!   tests/integration/snapshots` and commit. Never set `INSTA_UPDATE` or
//!   `INSTA_FORCE_PASS` in CI.

// Shared helpers: cc, wheels, the wheelfix binary, golden files, a JSON Schema checker.
mod util;
// Snapshots of command output: the filter for this machine's paths, the insta macro.
mod snap;
// Text dumps of Mach-O and PE files for the golden files, by independent readers.
mod macho_dump;
mod pe_dump;

// The command end to end on Linux wheels: show, repair, load, errors.
mod cli;
// What the command takes and prints as data: check's inputs, the JSON shapes, paths told in words.
mod cli_inputs;
// Flags checked before work: bad values, another platform's flags, -v.
mod cli_flags;
// delvewheel's flags used in public CI configurations, with their meaning.
mod cli_delvewheel;
// Points of agreement with auditwheel found by the conformance scripts.
mod conformance;
// Snapshots of show, check and error output.
mod cli_snapshots;
// Drop-in flags, cibuildwheel lines of docs/ci.md, colour, -q/-v, completions, man, SBOM.
mod cli_habits;
// ELF: parsing and rewriting binaries built with cc at test time.
mod elf;
// ELF repair: every search path edit said with -v.
mod elf_said;
// Mach-O: parsing, relinking and signing the committed fixtures.
mod macho;
// macOS wheels end to end: repair (delocate's rules) and merge.
mod macos_repair;
// PE: parsing and import rewriting of the committed fixtures.
mod pe;
// Wheel archives: names, RECORD, hostile zips, writing.
mod wheel;
// Points found by the conformance run on real macOS and Windows wheels.
mod real_wheels;
// Windows repair end to end on the PE fixtures (delvewheel parity).
mod windows_repair;
// Libraries other distributions provide (--site-packages), sibling links, --exclude hygiene.
mod providers;
// The same for macOS and Windows wheels of the committed fixtures.
mod providers_macos_windows;
// Hostile wheels and binaries through the command line; dependency cycles.
mod hostile;
// Wheels that cannot be installed or repaired as they are; RECORD rows without a file.
mod hostile_install;
// Atomic output: repair killed at random points, failed writes.
mod atomic;
// The largest entry checked on a thread of its own while a repair goes on.
mod aside;
// Patched large entries re-compressed by copying the input's deflate blocks.
mod cdx_schema;
mod json_schema;
mod licenses;
mod skim;
mod splice;
mod splice_partial;
// Audits whatever the tag: abi3/abi3t, executable stacks, link lint, OpenMP runtimes.
mod audit;
// The link lint after every rewrite: repaired wheels are lint-clean.
mod lint_after;
