//! Locking that survives a panic elsewhere.

/// Locks `m`; a mutex poisoned by a panic elsewhere still gives its data (the
/// panic itself is what gets reported).
pub(crate) fn locked<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
