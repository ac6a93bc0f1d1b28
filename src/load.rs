//! (stub: load)
