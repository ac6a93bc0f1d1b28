//! (stub: validate)
