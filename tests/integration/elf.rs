//! elf tests.
