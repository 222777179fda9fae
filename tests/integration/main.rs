//! Integration tests: real binaries, real wheels, the real `wheelfix` command.

// Shared helpers: cc, wheels, the wheelfix binary, golden files, a JSON Schema checker.
mod util;
// Text dumps of Mach-O and PE files for the golden files, by independent readers.
mod macho_dump;
mod pe_dump;

// The command end to end on Linux wheels: show, repair, load, errors.
mod cli;
// Points of agreement with auditwheel found by the conformance scripts.
mod conformance;
// Drop-in flags, cibuildwheel lines of docs/ci.md, colour, -q/-v, completions, man, SBOM.
mod cli_habits;
// ELF: parsing and rewriting binaries built with cc at test time.
mod elf;
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
// Hostile wheels and binaries through the command line; dependency cycles.
mod hostile;
// Atomic output: repair killed at random points, failed writes.
mod atomic;
// Patched large entries re-compressed by copying the input's deflate blocks.
mod splice;
