//! (stub: render)
