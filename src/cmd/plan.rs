//! `plan` (stub, being written).
use crate::cli::PlanArgs;
pub fn run(_: PlanArgs) -> u8 {
    eprintln!("plan: not written yet");
    2
}
