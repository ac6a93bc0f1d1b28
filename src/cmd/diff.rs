//! `diff` (stub, being written).
use crate::cli::DiffArgs;
pub fn run(_: DiffArgs) -> u8 {
    eprintln!("diff: not written yet");
    2
}
