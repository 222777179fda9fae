//! Integration tests: real binaries, real wheels, the real `wheelfix` command.
