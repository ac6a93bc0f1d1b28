//! (stub: diff)
