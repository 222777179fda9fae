//! pe tests.
