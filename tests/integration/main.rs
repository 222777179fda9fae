//! Integration tests: real binaries, real wheels, the real `wheelfix` command.

// Shared helpers: cc, wheels, the wheelfix binary, a JSON Schema checker.
mod util;

// The command end to end on Linux wheels: show, repair, load, errors.
mod cli;
// ELF: parsing and rewriting binaries built with cc at test time.
mod elf;
// Mach-O: parsing, relinking and signing the committed fixtures.
mod macho;
// PE: parsing and import rewriting of the committed fixtures.
mod pe;
// Wheel archives: names, RECORD, hostile zips, writing.
mod wheel;
// Hostile wheels and binaries through the command line; dependency cycles.
mod hostile;
// Atomic output: repair killed at random points, failed writes.
mod atomic;
