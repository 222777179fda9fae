//! macho tests.
