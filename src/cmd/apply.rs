//! `apply`, `recover`, `release`: the command line of the executor.
//!
//! Takes the parsed arguments; checks the plan (an invalid plan makes no namespace), runs
//! [`mountplan::exec::apply`] and prints what it reports: nothing on success (the per-step
//! lines with `-v`), or one JSON document with `--format json` (on stderr, or on the
//! caller's descriptor with `--report-fd N`); on failure the per-step lines and the step with
//! its place in the plan, the call and its errno in words, and what was rolled back. Returns
//! the exit status.
//!
//! Test hooks, read from the environment by debug builds only (`cargo test` builds):
//! `MOUNTPLAN_TEST_FAIL_AT_CALL=N` fails call N (from 0, the implicit setup included) with
//! EIO; `MOUNTPLAN_TEST_KILL_AT=N` kills the process running the steps at journal point N
//! (point 2k: intent k synced, change not made; 2k+1: change k made, done record not
//! written); `MOUNTPLAN_TEST_HANG_AT=N` stops it there for good (a test then kills the
//! parent and runs `mountplan recover`); `MOUNTPLAN_TEST_NO_OPENAT2=1` resolves paths with the
//! user-space walk; `MOUNTPLAN_TEST_DIE_AFTER_REPORT=1` kills it right after it sent its
//! outcome to the parent, before it printed its report; `MOUNTPLAN_TEST_PAUSE_BEFORE_PERSIST=1`
//! makes the parent stop itself (SIGSTOP) right before it pins the namespace for `--persist`.

use std::fmt::Write as _;
use std::path::PathBuf;

use mountplan::exec::recover::Recovery;
use mountplan::exec::report;
use mountplan::exec::{self, ApplyError, Config, Event, TestHooks};
use mountplan::source::Sources;
use mountplan::sys::linux::host::HostError;

use crate::cli::{ApplyArgs, ApplyFormat, RecoverArgs, ReleaseArgs};

/// Prints diagnostics (validation warnings and errors, refusals) on stderr, as `check` does.
fn print_diags(sources: &Sources, diags: &[mountplan::diag::Diag]) {
    if !diags.is_empty() {
        super::check::print_diags(sources, diags, crate::cli::Color::Auto);
    }
}

/// mountplan itself failed (invalid plan, failed step after rollback, host error).
const FAILED: u8 = 125;

fn test_hooks() -> TestHooks {
    if !cfg!(debug_assertions) {
        return TestHooks::default();
    }
    let var = |k: &str| std::env::var(k).ok();
    if let Some(resume) = std::env::var_os("MOUNTPLAN_TEST_RESUME") {
        mountplan::sys::linux::pause::set(mountplan::sys::linux::pause::Pause {
            at_call: var("MOUNTPLAN_TEST_PAUSE_AT_CALL").and_then(|v| v.parse().ok()),
            at_undo: var("MOUNTPLAN_TEST_PAUSE_AT_UNDO").and_then(|v| v.parse().ok()),
            resume: resume.into(),
        });
    }
    TestHooks {
        fail_at_call: var("MOUNTPLAN_TEST_FAIL_AT_CALL").and_then(|v| v.parse().ok()),
        kill_at_call: var("MOUNTPLAN_TEST_KILL_AT_CALL").and_then(|v| v.parse().ok()),
        kill_recover_at: var("MOUNTPLAN_TEST_KILL_RECOVER_AT").and_then(|v| v.parse().ok()),
        kill_at_point: var("MOUNTPLAN_TEST_KILL_AT").and_then(|v| v.parse().ok()),
        hang_at_point: var("MOUNTPLAN_TEST_HANG_AT").and_then(|v| v.parse().ok()),
        no_openat2: std::env::var_os("MOUNTPLAN_TEST_NO_OPENAT2").is_some_and(|v| v == "1"),
        no_new_api: std::env::var_os("MOUNTPLAN_TEST_NO_NEW_API").is_some_and(|v| v == "1"),
        die_after_report: std::env::var_os("MOUNTPLAN_TEST_DIE_AFTER_REPORT")
            .is_some_and(|v| v == "1"),
        pause_before_persist: std::env::var_os("MOUNTPLAN_TEST_PAUSE_BEFORE_PERSIST")
            .is_some_and(|v| v == "1"),
    }
}

fn recovery_text(r: &Recovery) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "mountplan: recovered the journal {} of an apply that did not finish",
        r.journal.display()
    );
    for w in &r.warnings {
        let _ = writeln!(s, "  warning: {w}");
    }
    for u in &r.undone {
        let _ = writeln!(s, "  undone: {u}");
    }
    for k in &r.kept {
        let _ = writeln!(s, "  kept: {k}");
    }
    for e in &r.errors {
        let _ = writeln!(s, "  could not undo: {e}");
    }
    if r.undone.is_empty() && r.kept.is_empty() && r.errors.is_empty() {
        let _ = writeln!(s, "  nothing had been changed yet");
    }
    if !r.errors.is_empty() {
        let _ = writeln!(
            s,
            "  the journal is kept: fix the cause, then run `mountplan recover`"
        );
    } else if !r.complete() {
        let _ = writeln!(
            s,
            "  the journal is kept: what it lists as kept cannot be proved to be what the apply \
             changed (a directory on its path was moved or replaced); put it back and run \
             `mountplan recover`, or check those paths by hand and run `mountplan recover \
             --forget`"
        );
    } else if !r.kept.is_empty() {
        let _ = writeln!(s, "  the journal is removed: --forget dropped what it kept");
    }
    s
}

fn state_dir(given: Option<PathBuf>) -> Result<PathBuf, String> {
    let d = match given {
        Some(d) => d,
        None => exec::default_state_dir()?,
    };
    // Mountinfo and the journal name the directory by its absolute path.
    if d.is_absolute() {
        Ok(d)
    } else {
        std::env::current_dir()
            .map(|c| c.join(d))
            .map_err(|e| format!("cannot resolve the state directory: {e}"))
    }
}

/// The descriptor of `--report-fd N`: the caller's, checked open for writing, marked
/// close-on-exec so that nothing mountplan starts inherits it (the process that becomes the
/// command closes every descriptor but stdio anyway), and written once, when the apply ends.
struct ReportFd {
    n: i32,
    file: std::fs::File,
}

impl ReportFd {
    /// Takes descriptor `n` over, or says why it cannot be written to.
    fn take(n: i32) -> Result<ReportFd, String> {
        use mountplan::sys::linux::fds::{self, Open};
        match fds::open_for(n) {
            Open::No => {
                return Err(format!(
                    "--report-fd {n}: descriptor {n} is not open (open it for the report, as \
                     in `3>report.json`)"
                ));
            }
            Open::ReadOnly => {
                return Err(format!(
                    "--report-fd {n}: descriptor {n} is open for reading only (open it for \
                     writing, as in `3>report.json`)"
                ));
            }
            Open::Writable => {}
        }
        // SAFETY: the descriptor is open (checked above) and from here on only this File
        // uses it: the caller handed it over by naming it.
        let file = unsafe { fds::take_cloexec(n) }
            .map_err(|e| format!("--report-fd {n}: fcntl(F_SETFD, FD_CLOEXEC) => {e}"))?;
        Ok(ReportFd { n, file })
    }

    /// Writes the document and a newline; a reader that went away is said on stderr.
    fn write(&mut self, doc: &serde_json::Value) {
        use std::io::Write as _;
        let r = writeln!(self.file, "{doc}").and_then(|()| self.file.flush());
        if let Err(e) = r {
            eprintln!(
                "mountplan: cannot write the report to descriptor {}: {e}",
                self.n
            );
        }
    }
}

/// `mountplan apply`.
pub fn apply(a: ApplyArgs) -> u8 {
    let test = test_hooks();
    let (mut checked, unreadable) = super::check_plan_api(&a.plan, &a.vars);
    // The mount API: asked of the kernel once, before anything is changed; `auto` on a
    // kernel without the new API is checked again with the classic calls (which may refuse
    // what only the new API does, at its key).
    let mut api_why = String::new();
    if let Some(plan_api) = checked.dag.as_ref().map(|d| d.plan.api) {
        let missing = if plan_api == mountplan::model::Api::Classic {
            // Nothing to ask: a classic apply makes no call of the new API.
            Vec::new()
        } else if test.no_new_api {
            vec!["fsopen", "open_tree"]
        } else {
            mountplan::sys::linux::newmount::missing()
        };
        match mountplan::exec::api::choose(plan_api, &missing) {
            Err(why) => {
                eprintln!("mountplan: {}: {why}", a.plan.display());
                return FAILED;
            }
            Ok((used, why)) => {
                if used != plan_api && used == mountplan::model::Api::Classic {
                    checked = super::check_plan_api(
                        &a.plan,
                        &crate::cli::VarArgs {
                            api: Some(crate::cli::ApiArg::Classic),
                            ..a.vars.clone()
                        },
                    )
                    .0;
                    if checked.has_errors() {
                        print_diags(&checked.sources, &checked.diags);
                        eprintln!(
                            "mountplan: {}: {why}, so `api = \"auto\"` takes the classic \
                             calls, and the plan asks for what only the new API does (above): \
                             nothing was applied",
                            a.plan.display()
                        );
                        return FAILED;
                    }
                }
                api_why = why;
            }
        }
    }
    mountplan::timing::mark("checked");
    let has_errors = checked.has_errors();
    // Quiet: the plan's warnings (which `check` and `plan` show) only with -v, or with the
    // errors that stop it.
    if a.report || has_errors {
        print_diags(&checked.sources, &checked.diags);
    }
    let Some(dag) = checked.dag.filter(|_| !has_errors) else {
        eprintln!(
            "mountplan: {} {}: nothing was applied",
            a.plan.display(),
            if unreadable {
                "or a file it includes could not be read"
            } else {
                "is not valid"
            }
        );
        return FAILED;
    };
    if let (true, Some(c)) = (a.keep_terminal, &dag.plan.process.console) {
        let d = mountplan::diag::Diag::error(
            "mountplan::apply::keep-terminal-console",
            "--keep-terminal keeps the caller's terminal for the command, and the plan gives \
             it a console of its own",
            c.loc,
        )
        .label("the command's terminal is this console")
        .help("drop --keep-terminal, or remove `console` from [process]");
        print_diags(&checked.sources, &[d]);
        eprintln!("mountplan: {}: nothing was applied", a.plan.display());
        return FAILED;
    }
    let sources = checked.sources;
    let mut report_to = match a.report_fd.map(ReportFd::take).transpose() {
        Ok(r) => r,
        Err(m) => {
            eprintln!("mountplan: {m}: nothing was applied");
            return FAILED;
        }
    };
    let state_dir = match state_dir(a.state_dir) {
        Ok(d) => d,
        Err(m) => {
            eprintln!("mountplan: {m}");
            return FAILED;
        }
    };
    let cfg = Config {
        state_dir,
        verify: !a.no_verify,
        keep_terminal: a.keep_terminal,
        command: a.command,
        persist: a.persist,
        keep_fd: report_to.as_ref().map(|r| r.n),
        api_why,
        test,
    };
    // The JSON document goes to --report-fd N when given (which implies it), else to stderr;
    // stderr then says what text mode says: nothing on success unless -v.
    let json = a.format == ApplyFormat::Json || report_to.is_some();
    let text = !json || report_to.is_some();
    let verbose = a.report;
    // The table of a successful apply, not printed (quiet): printed after all if the process
    // that ran the steps dies before the command starts, which makes the apply a failure.
    let mut unprinted: Option<String> = None;
    let mut on = |e: Event<'_>| match e {
        Event::WaitingForLock(p) => eprintln!(
            "mountplan: another apply on the same root holds {}; waiting for it",
            p.display()
        ),
        Event::Recovered(r) => {
            if text || !r.complete() {
                eprint!("{}", recovery_text(r));
            }
        }
        Event::Setup(o) => {
            // Quiet on success, as bwrap, runc and unshare are: the table only when asked for,
            // or with the failure (whose text is empty when the apply succeeded).
            if text && (verbose || !o.succeeded()) {
                eprint!("{}", report::text(o));
                if let Some(d) = report::failure_diag(o, &dag.plan) {
                    print_diags(&sources, &[d]);
                }
            } else if text {
                unprinted = Some(report::text(o));
            }
        }
        Event::ExecFailed(e) => eprintln!("mountplan: {e}"),
        Event::Hanging(n) => eprintln!("mountplan-test: hanging at journal point {n}"),
        Event::PausingBeforePersist => eprintln!("mountplan-test: pausing before persist"),
        Event::ChildDied {
            signal,
            journal,
            reported,
        } => eprintln!(
            "{}mountplan: the apply ended {} ({}); {}",
            unprinted.take().unwrap_or_default(),
            if reported {
                "after its steps, before it printed its report (printed above from what it \
                 sent) or started the command"
            } else {
                "before it reported"
            },
            match signal {
                Some(s) => format!("killed by signal {s}"),
                None => "it exited".into(),
            },
            if journal {
                "what it changed on the host is undone from its journal"
            } else {
                "it left no journal, so nothing on the host is undone: it had changed \
                 nothing yet, or it had finished its steps, whose changes stay"
            }
        ),
    };
    match exec::apply(&dag, &cfg, &mut on) {
        Ok(applied) => {
            if let Some(e) = &applied.persist_error {
                eprintln!("mountplan: --persist failed: {e}");
            }
            if json {
                let rec: Vec<&Recovery> = applied.recovered.iter().collect();
                let doc = report::json(
                    &dag.plan.name,
                    applied.outcome.as_ref(),
                    applied.exit_status,
                    &rec,
                );
                match report_to.as_mut() {
                    Some(fd) => fd.write(&doc),
                    None => eprintln!("{doc}"),
                }
            }
            applied.exit_status
        }
        Err(ApplyError::Refused(diags)) => {
            print_diags(&sources, &diags);
            eprintln!("mountplan: nothing was applied");
            FAILED
        }
        Err(ApplyError::Host(e)) => {
            eprintln!("mountplan: {e}");
            FAILED
        }
        Err(ApplyError::Leftover(r)) => {
            eprint!("{}", recovery_text(&r));
            eprintln!(
                "mountplan: a previous apply on this root left changes that could not be \
                 undone: nothing was applied"
            );
            FAILED
        }
    }
}

/// `mountplan recover`: exit 0 when nothing is left to undo, 1 when something is.
pub fn recover(a: RecoverArgs) -> u8 {
    if let Some(n) = test_hooks().kill_recover_at {
        mountplan::exec::recover::kill_after(n);
    }
    let dir = match state_dir(a.state_dir) {
        Ok(d) => d,
        Err(m) => {
            eprintln!("mountplan: {m}");
            return 2;
        }
    };
    let mut on = |e: Event<'_>| {
        if let Event::WaitingForLock(p) = e {
            eprintln!("mountplan: an apply holds {}; waiting for it", p.display());
        }
    };
    match exec::recover(&dir, a.forget, &mut on) {
        Ok(rs) => {
            if rs.is_empty() {
                eprintln!(
                    "mountplan: no journal in {}: nothing to recover",
                    dir.display()
                );
            }
            for r in &rs {
                eprint!("{}", recovery_text(r));
            }
            if rs.iter().all(Recovery::complete) {
                0
            } else {
                1
            }
        }
        Err(ApplyError::Refused(diags)) => {
            print_diags(&Sources::new(), &diags);
            eprintln!("mountplan: nothing was recovered");
            2
        }
        Err(ApplyError::Host(e)) => {
            eprintln!("mountplan: {e}");
            2
        }
        Err(ApplyError::Leftover(r)) => {
            eprint!("{}", recovery_text(&r));
            1
        }
    }
}

/// `mountplan release FILE`: exit 1 when FILE is not a pinned namespace or it cannot be
/// released.
pub fn release(a: ReleaseArgs) -> u8 {
    match exec::release(&a.file) {
        Ok(()) => 0,
        Err(HostError::Refused(r)) => {
            print_diags(&Sources::new(), &[exec::refusal(r)]);
            1
        }
        Err(HostError::Sys(e)) => {
            eprintln!("mountplan: cannot release {}: {e}", a.file.display());
            1
        }
    }
}
