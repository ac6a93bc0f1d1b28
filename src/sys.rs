//! (stub: sys)
