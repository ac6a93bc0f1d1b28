//! `apply`, `recover`, `release` (stub, being written).
use crate::cli::{ApplyArgs, RecoverArgs, ReleaseArgs};
pub fn apply(_: ApplyArgs) -> u8 {
    eprintln!("apply: not written yet");
    125
}
pub fn recover(_: RecoverArgs) -> u8 {
    eprintln!("recover: not written yet");
    125
}
pub fn release(_: ReleaseArgs) -> u8 {
    eprintln!("release: not written yet");
    125
}
