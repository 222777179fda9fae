//! wheel tests.
