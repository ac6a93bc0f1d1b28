//! Privileged tests of `mountplan apply`, `recover` and `release`: they run the built binary
//! as root in real namespaces and check the result from inside (the command's view) and from
//! outside (the host's mount table and a manifest of every host directory involved, identical
//! before and after, success or failure).
//!
//! Where the machine cannot make namespaces they say so loudly and, under CI=true, fail.
//! The failure-injection, kill and hang hooks (MOUNTPLAN_TEST_*) exist in debug builds only;
//! the tests that need them say so and do nothing in a release build.

#[path = "apply/support.rs"]
mod support;

#[path = "apply/plans.rs"]
mod plans;

#[path = "apply/rollback.rs"]
mod rollback;

#[path = "apply/hostile.rs"]
mod hostile;

#[path = "apply/process.rs"]
mod process;

#[path = "apply/console.rs"]
mod console;

#[path = "apply/verify.rs"]
mod verify;

#[path = "apply/races.rs"]
mod races;

#[path = "apply/stops.rs"]
mod stops;

#[path = "apply/nodes.rs"]
mod nodes;

#[path = "apply/propagation.rs"]
mod propagation;

#[path = "apply/resources.rs"]
mod resources;

#[path = "apply/seccomp.rs"]
mod seccomp;

#[path = "apply/idempotence.rs"]
mod idempotence;

#[path = "apply/descriptors.rs"]
mod descriptors;

#[path = "apply/crashes.rs"]
mod crashes;

#[path = "apply/shortcuts.rs"]
mod shortcuts;

#[path = "apply/api.rs"]
mod api;

#[path = "apply/errors.rs"]
mod errors;

#[path = "apply/state.rs"]
mod state;

#[path = "apply/persist.rs"]
mod persist;

#[path = "apply/attacks.rs"]
mod attacks;

#[path = "apply/check_truth.rs"]
mod check_truth;
#[path = "apply/privileges.rs"]
mod privileges;

#[path = "apply/not_found.rs"]
mod not_found;

#[path = "apply/report.rs"]
mod report;

#[path = "apply/interop.rs"]
mod interop;

#[path = "apply/strace_truth.rs"]
mod strace_truth;

#[path = "apply/capture.rs"]
mod capture;

#[path = "apply/kernel_api.rs"]
mod kernel_api;
