//! Windows: which DLLs the system (or CPython) provides.
