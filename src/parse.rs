//! (stub: parse)
