//! The `mountplan` command line (stub).
fn main() {}
