//! What an apply did: per-step results and timing, the verification, the failure and what
//! was rolled back.
//!
//! Takes nothing; holds the [`Outcome`] that [`super::run`] fills in (serialisable, so the
//! process that made the namespace can hand it to the parent) and renders it: [`text`] for
//! the per-step lines on a terminal, [`json`] for the `--format json` document,
//! [`failure_diag`] for the failure as a [`Diag`] (rendered by the one renderer of every
//! diagnostic, [`crate::diag::render_human`]). None prints.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::recover::Recovery;
use crate::diag::Diag;

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Every call succeeded and changed something.
    Ok,
    /// Every call succeeded, but what the step makes was already there.
    Unchanged,
    /// A call of a pivot failed; its fallback strategy succeeded.
    Fallback,
    /// A call failed: the apply stopped here.
    Failed,
    /// It ran, then a later failure undid it.
    RolledBack,
    /// Not reached: an earlier step failed.
    NotRun,
}

impl Status {
    /// The word shown in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Unchanged => "unchanged",
            Status::Fallback => "fallback",
            Status::Failed => "failed",
            Status::RolledBack => "rolled-back",
            Status::NotRun => "not-run",
        }
    }
}

/// One step's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepReport {
    /// Index in the plan (0-based).
    pub index: usize,
    /// The step id.
    pub id: String,
    /// The step kind.
    pub kind: String,
    /// How it ended.
    pub status: Status,
    /// Wall time of its calls, in microseconds.
    pub micros: u64,
    /// The error (for `failed`), or the error that made a pivot use its fallback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A `strategy = "auto"` pivot: what it chose, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<String>,
}

/// A difference between the predicted mount tree and /proc/self/mountinfo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    /// The mountpoint, inside the new root.
    pub mountpoint: String,
    /// What the plan predicts there (`None`: nothing).
    pub predicted: Option<String>,
    /// What the kernel has there (`None`: nothing).
    pub actual: Option<String>,
}

/// A mount of the plan that is where the kernel put it, not at the path the dry run names
/// (its target went through a symlink in the root): the same mount, found by its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moved {
    /// The path the dry run names.
    pub predicted: String,
    /// Where it is, inside the new root.
    pub actual: String,
}

/// The verification after the last step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// True when the mount table matches the prediction.
    pub ok: bool,
    /// How many predicted mounts were made (found by their mount id) and compared; a skipped
    /// one is never counted here.
    pub checked: usize,
    /// How many conditional mounts (masks and read-only paths the dry run marks
    /// `(if it exists)`) were not made because their path was missing.
    #[serde(default)]
    pub skipped: usize,
    /// The plan's mounts that are at another path than the dry run names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moved: Vec<Moved>,
    /// Every difference.
    pub mismatches: Vec<Mismatch>,
}

/// Why an apply failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The step (`None`: the implicit setup, or the verification).
    pub step: Option<usize>,
    /// The call as the dry run prints it.
    pub call: Option<String>,
    /// The errno's name (`EPERM`).
    pub errno: Option<String>,
    /// The errno in words.
    pub errno_text: Option<String>,
    /// The refusal's reason, when mountplan refused rather than the kernel.
    pub why: Option<String>,
    /// It is about a host path the plan names (a bind's source, an overlay's lower layer, a
    /// node's `from_host`, the root directory), not about the step's place in the root.
    #[serde(default)]
    pub on_host: bool,
    /// The whole message.
    pub message: String,
}

impl Failure {
    /// The failure of a system call: at step `step`, or in the setup (`None`).
    pub fn from_sys(step: Option<usize>, e: &crate::sys::SysError) -> Failure {
        Failure {
            step,
            call: Some(e.call.clone()),
            errno: Some(format!("{:?}", e.errno)),
            errno_text: Some(e.errno.desc().to_string()),
            why: e.why.clone(),
            on_host: e.on_host,
            message: e.to_string(),
        }
    }
}

/// Everything an apply did, up to the command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Outcome {
    /// The plan's name.
    pub plan: String,
    /// Time of the implicit setup (rslave, root), in microseconds.
    pub setup_micros: u64,
    /// The implicit setup (or making the namespaces) failed: no step ran.
    pub setup_failed: bool,
    /// One entry per step, in plan order.
    pub steps: Vec<StepReport>,
    /// The verification (`None` with `--no-verify`, or when a step failed).
    pub verify: Option<VerifyReport>,
    /// Why it failed (`None`: success).
    pub failure: Option<Failure>,
    /// The undo records replayed, in the order replayed.
    pub rolled_back: Vec<String>,
    /// Undo records that could not be replayed (the journal keeps them for `recover`).
    pub rollback_errors: Vec<String>,
    /// `openat2` or `walk`: how paths inside the root were resolved.
    pub resolver: String,
    /// `new` or `classic`: the kernel mount API the calls were made with.
    #[serde(default)]
    pub api: String,
    /// Why that API (the plan's word, or what `auto` found).
    #[serde(default)]
    pub api_why: String,
}

impl Outcome {
    /// True when every step succeeded and the verification (if any) passed.
    pub fn succeeded(&self) -> bool {
        self.failure.is_none()
    }
}

/// The per-step lines for a terminal: index, id, kind, status, time.
pub fn text(o: &Outcome) -> String {
    let w = o.steps.iter().map(|s| s.id.len()).max().unwrap_or(2).max(2);
    let mut s = String::new();
    if o.setup_failed {
        return s;
    }
    let _ = writeln!(
        s,
        "  setup  {:w$}  {:11}  {:11} {:>7} us",
        "-", "-", "ok", o.setup_micros
    );
    for st in &o.steps {
        let _ = writeln!(
            s,
            "  [{:>3}]  {:w$}  {:11}  {:11} {:>7} us",
            st.index + 1,
            st.id,
            st.kind,
            st.status.as_str(),
            st.micros
        );
        if st.status == Status::Fallback {
            if let Some(e) = &st.error {
                let _ = writeln!(s, "         the first strategy failed: {e}");
            }
        }
        if let Some(c) = &st.choice {
            let _ = writeln!(s, "         auto: {c}");
        }
    }
    if !o.api.is_empty() {
        let _ = writeln!(s, "  api: {} ({})", o.api, o.api_why);
    }
    if let Some(v) = &o.verify {
        if v.ok {
            let _ = write!(
                s,
                "  verify: {} predicted mounts match /proc/self/mountinfo",
                v.checked
            );
            if v.skipped > 0 {
                let _ = write!(
                    s,
                    "; {} conditional not made (masks or read-only paths of a missing path)",
                    v.skipped
                );
            }
            s.push('\n');
        }
        for m in &v.moved {
            let _ = writeln!(
                s,
                "  verify: the mount the dry run puts on {} is at {} (its path went through a \
                 symlink in the root)",
                m.predicted, m.actual
            );
        }
    }
    s
}

/// The table of verification differences.
pub fn mismatch_table(v: &VerifyReport) -> String {
    let w = v
        .mismatches
        .iter()
        .map(|m| m.mountpoint.len())
        .max()
        .unwrap_or(10)
        .max(10);
    let p = v
        .mismatches
        .iter()
        .map(|m| m.predicted.as_deref().unwrap_or("-").len())
        .max()
        .unwrap_or(9)
        .max(9);
    let mut s = String::new();
    let _ = writeln!(s, "  {:w$}  {:p$}  actual", "mountpoint", "predicted");
    for m in &v.mismatches {
        let _ = writeln!(
            s,
            "  {:w$}  {:p$}  {}",
            m.mountpoint,
            m.predicted.as_deref().unwrap_or("-"),
            m.actual.as_deref().unwrap_or("-")
        );
    }
    s
}

/// The `--format json` document. `o` is `None` when the process running the steps died
/// before it reported (its journal is then in `recovered`).
pub fn json(
    plan: &str,
    o: Option<&Outcome>,
    exit_status: u8,
    recovered: &[&Recovery],
) -> serde_json::Value {
    let empty = Outcome::default();
    let o = o.unwrap_or(&empty);
    serde_json::json!({
        "format_version": 1,
        "plan": plan,
        "setup_micros": o.setup_micros,
        "resolver": o.resolver,
        "api": { "used": o.api, "why": o.api_why },
        "steps": o.steps,
        "verify": o.verify,
        "error": o.failure,
        "rolled_back": o.rolled_back,
        "rollback_errors": o.rollback_errors,
        "recovered": recovered.iter().map(|r| r.to_json()).collect::<Vec<_>>(),
        "exit_status": exit_status,
    })
}

impl Outcome {
    /// An outcome that failed before any step, for errors of the process setup.
    pub fn early_failure(plan: &str, e: &crate::sys::SysError) -> Outcome {
        Outcome {
            plan: plan.to_string(),
            setup_failed: true,
            failure: Some(Failure::from_sys(None, e)),
            ..Outcome::default()
        }
    }
}

/// The failure of an apply as a diagnostic: at the failed step's key (or its host path, when
/// the host side is at fault), with the call, its errno in words, why, the verification's
/// differences and what was rolled back as notes. `None` when the apply did not fail.
pub fn failure_diag(o: &Outcome, plan: &crate::model::Plan) -> Option<Diag> {
    let f = o.failure.as_ref()?;
    let mut d = match f.step.and_then(|i| plan.steps.get(i).map(|st| (i, st))) {
        Some((i, st)) => {
            let msg = format!("step {} `{}` ({}) failed", i + 1, st.id, st.kind().as_str());
            match st.host_loc.filter(|_| f.on_host) {
                Some(h) => Diag::error("mountplan::apply::step", msg, h).label("this host path"),
                None => Diag::error("mountplan::apply::step", msg, st.key_loc())
                    .label("this step failed"),
            }
        }
        None if o.verify.as_ref().is_some_and(|v| !v.ok) => {
            Diag::error_nowhere("mountplan::apply::verify", f.message.clone())
        }
        None => {
            let msg = "the namespace or the root could not be set up";
            match plan.root_loc.filter(|_| f.on_host) {
                Some(l) => Diag::error("mountplan::apply::setup", msg, l).label("this host path"),
                None => Diag::error_nowhere("mountplan::apply::setup", msg),
            }
        }
    };
    if let Some(call) = &f.call {
        d = d.note(format!("call: {call}")).note(format!(
            "error: {} ({})",
            f.errno.as_deref().unwrap_or("?"),
            f.errno_text.as_deref().unwrap_or("?")
        ));
    }
    if let Some(w) = &f.why {
        d = d.note(format!("why: {w}"));
    }
    if let Some(v) = o.verify.as_ref().filter(|v| !v.ok) {
        d = d.note("predicted mount tree vs /proc/self/mountinfo:");
        for line in mismatch_table(v).lines() {
            d = d.note(line);
        }
    }
    if o.rolled_back.is_empty() && o.rollback_errors.is_empty() {
        d = d.note("nothing had been changed: nothing to roll back");
    }
    if !o.rolled_back.is_empty() {
        d = d.note("rolled back (newest first):");
        for u in &o.rolled_back {
            d = d.note(format!("  {u}"));
        }
    }
    if !o.rollback_errors.is_empty() {
        d = d.note(
            "could not roll back (the journal keeps these; mountplan retries from the host):",
        );
        for e in &o.rollback_errors {
            d = d.note(format!("  {e}"));
        }
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The failure renders through the one renderer of diagnostics: the step's host path with
    /// its snippet, then the call, errno, why and rollback as lines of their own.
    #[test]
    fn a_failed_step_renders_at_its_host_path_with_the_call_and_the_rollback() {
        let text = "version = 1\n[root]\ntmpfs = {}\n[[step]]\nkind = \"mount\"\nid = \"gone\"\n\
                    type = \"bind\"\nsource = \"/no/such\"\ntarget = \"/mnt\"\n";
        let t = text.to_string();
        let c = crate::check(std::path::Path::new("p.toml"), &[], &mut |_| Ok(t.clone()));
        let plan = c.dag.expect("valid").plan;
        let o = Outcome {
            failure: Some(Failure {
                step: Some(0),
                call: Some("open_tree(\"/no/such\", OPEN_TREE_CLONE) = M1".into()),
                errno: Some("ENOENT".into()),
                errno_text: Some("No such file or directory".into()),
                why: Some("the bind's source `/no/such` does not exist on the host".into()),
                on_host: true,
                message: String::new(),
            }),
            rolled_back: vec!["rmdir(\"<root>/mnt\")".into()],
            ..Outcome::default()
        };
        let d = failure_diag(&o, &plan).expect("a failure");
        let out = crate::diag::render_human(&c.sources, &[d], 80, false);
        let want = "mountplan::apply::step

  × step 1 `gone` (mount) failed
   ╭─[p.toml:8:10]
 7 │ type = \"bind\"
 8 │ source = \"/no/such\"
   ·          ─────┬────
   ·               ╰── this host path
 9 │ target = \"/mnt\"
   ╰────
  call: open_tree(\"/no/such\", OPEN_TREE_CLONE) = M1
  error: ENOENT (No such file or directory)
  why: the bind's source `/no/such` does not exist on the host
  rolled back (newest first):
    rmdir(\"<root>/mnt\")

";
        assert_eq!(out, want);
        // Success: no diagnostic.
        assert!(failure_diag(&Outcome::default(), &plan).is_none());
    }
}
