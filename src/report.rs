//! Rendering an [`crate::Analysis`] as human text or versioned JSON.
