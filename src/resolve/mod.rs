//! Dependency resolution, the way each platform's loader does it, over a
//! wheel that is never extracted plus the host (or a sysroot) disk.
