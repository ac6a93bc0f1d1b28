//! Phase timing of `apply`, for profiling: with `MOUNTPLAN_TIMING=1` in the environment, each
//! phase prints `mountplan-timing: <pid> <phase> <microseconds since main started>` to stderr
//! (one `write`, so the lines of the processes of an apply do not mix). Off, it costs one
//! `getenv` at start and a load per mark.
//!
//! The clock is `CLOCK_MONOTONIC`, shared by the forked processes, so their marks line up.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

static ON: AtomicBool = AtomicBool::new(false);
static START: OnceLock<Instant> = OnceLock::new();

/// Starts the clock (call first thing in `main`); reads `MOUNTPLAN_TIMING`.
pub fn start() {
    if std::env::var_os("MOUNTPLAN_TIMING").is_some_and(|v| v == "1") {
        let _ = START.set(Instant::now());
        ON.store(true, Ordering::Relaxed);
    }
}

/// Marks the end of a phase.
pub fn mark(phase: &str) {
    if !ON.load(Ordering::Relaxed) {
        return;
    }
    let Some(t0) = START.get() else { return };
    let us = t0.elapsed().as_micros();
    let line = format!("mountplan-timing: {} {phase} {us}\n", std::process::id());
    // One write(2) (stderr is unbuffered): the lines of parent, child and init stay whole.
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
}
