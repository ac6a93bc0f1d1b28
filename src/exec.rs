//! (stub: exec)
