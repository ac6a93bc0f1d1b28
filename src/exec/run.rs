//! The steps in order, with an undo record after each change and rollback on failure.
//!
//! Takes a [`Dag`], a [`Sys`] and a journal [`Log`]; returns the [`Outcome`]. The calls made
//! are exactly the DAG's lowered calls ([`crate::lowering::Lowered`]) — what the dry run prints —
//! in order:
//!
//! 1. the implicit setup: `/` recursive slave, the root mounted or bound, its descriptor;
//! 2. each step's calls; after every call that changed something, its undo record (and, for a
//!    change on a persistent host filesystem, a journal intent synced before the change and a
//!    done record after it);
//! 3. a pivot whose switch to the new root the kernel refuses (`pivot_root`, the root's
//!    `MS_MOVE`, `chroot`; see [`Call::switches_root`]) undoes what the step did so far and
//!    runs its fallback; any other failure of its calls fails the step;
//! 4. any other failure undoes every record in reverse and stops;
//! 5. with `verify`, the mount table is compared with the predicted tree; a difference is a
//!    failure like any other (rolled back).

use std::time::Instant;

use crate::sys::Errno;

use super::journal::Log;
use super::report::{Failure, Outcome, Status, StepReport};
use super::verify;
use crate::graph::Dag;
use crate::lowering::{Call, HostPlace, MountId};
use crate::model::{Action, Root, RootPath};
use crate::sys::{Effect, Sys, SysError, Undo};

/// How to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Compare the mount table with the prediction after the last step.
    pub verify: bool,
    /// The process is in a user namespace it made (flags the kernel locked are accepted).
    pub userns: bool,
}

/// A point in the journal protocol, for kill-safety tests: `n` counts intents written and
/// changes made (before their done record), from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// The intent of change `seq` is on disk; the change is not made yet.
    Intent(u64),
    /// Change `seq` is made; its done record is not written yet.
    Made(u64),
}

struct Record {
    seq: u64,
    undo: Undo,
    journaled: bool,
    /// Undone in this host directory (an overlay's upper layer or work directory), not
    /// through the root, once that overlay is unmounted.
    place: Option<HostPlace>,
}

struct Runner<'a> {
    sys: &'a mut dyn Sys,
    log: &'a mut dyn Log,
    point: &'a mut dyn FnMut(Point),
    stack: Vec<Record>,
    /// Each overlay mounted so far: its mountpoint and the index of its record in `stack`.
    overlays: Vec<(RootPath, usize)>,
    /// The mounts made as overlays (an overlay's attach is its mount).
    overlay_mounts: Vec<MountId>,
    seq: u64,
    rolled_back: Vec<String>,
    rollback_errors: Vec<String>,
}

/// Where a change really is: the call's host directory, and the path below it that the layer
/// found (symlinks resolved, a put_old directory's fresh name).
fn real_place(p: &HostPlace, u: &Undo) -> HostPlace {
    match u {
        Undo::Remove { at, .. } | Undo::Chmod { at, .. } | Undo::Chown { at, .. } => {
            p.with_rel(at.rel.clone())
        }
        _ => p.clone(),
    }
}

fn micros(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX)
}

impl Runner<'_> {
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq - 1
    }

    fn call(&mut self, c: &Call) -> Result<Effect, SysError> {
        // What the kernel makes by itself for the call (an overlay's copy-ups): journaled
        // before the call like its own change, recorded after it if it happened.
        let sides = self.sys.sides(c)?;
        let mut side_seqs = Vec::with_capacity(sides.len());
        for s in &sides {
            let seq = self.next_seq();
            if let Err(e) = self.log.intent(seq, &s.place, &s.undo) {
                for &q in &side_seqs {
                    let _ = self.log.undone(q);
                }
                return Err(SysError::refused(c, Errno::EIO, e));
            }
            (self.point)(Point::Intent(seq));
            side_seqs.push(seq);
        }
        let seq = self.next_seq();
        let place = c.host_place();
        let mut journaled = false;
        let log = &mut *self.log;
        let point = &mut *self.point;
        let r = self.sys.call(c, &mut |u: &Undo| {
            if let Some(p) = place {
                log.intent(seq, &real_place(p, u), u)
                    .map_err(|e| SysError::refused(c, Errno::EIO, e))?;
                journaled = true;
                point(Point::Intent(seq));
            }
            Ok(())
        });
        let sides_done = self.sides_done(sides, &side_seqs);
        let r = match r {
            Ok(Effect::Changed(u)) => {
                if journaled {
                    (self.point)(Point::Made(seq));
                }
                // The change is made: push its record first, so a failing done record still
                // gets it undone.
                let at_overlay = matches!(c, Call::Attach { mount, .. } if self.overlay_mounts.contains(mount))
                    || matches!(
                        c,
                        Call::MountFs {
                            fs: crate::model::FsKind::Overlay(_),
                            ..
                        }
                    );
                if let (true, Undo::Umount { path, .. }) = (at_overlay, &u) {
                    self.overlays.push((path.clone(), self.stack.len()));
                }
                self.stack.push(Record {
                    seq,
                    undo: u.clone(),
                    journaled,
                    place: place
                        .filter(|p| p.overlay.is_some())
                        .map(|p| real_place(p, &u)),
                });
                if journaled {
                    self.log
                        .done(seq, &u)
                        .map_err(|e| SysError::refused(c, Errno::EIO, e))?;
                }
                Ok(Effect::Changed(u))
            }
            Ok(e) => {
                if let Call::NewFs { fs, mount, .. } = c {
                    if matches!(fs, crate::model::FsKind::Overlay(_)) {
                        self.overlay_mounts.push(*mount);
                    }
                }
                Ok(e)
            }
            Err(e) => {
                if journaled {
                    // The intent is on disk but the call failed: nothing to undo.
                    let _ = self.log.undone(seq);
                }
                Err(e)
            }
        };
        sides_done.and(r)
    }

    /// After a call with sides: records what the kernel made, and marks the rest undone.
    fn sides_done(&mut self, sides: Vec<crate::sys::Side>, seqs: &[u64]) -> Result<(), SysError> {
        let mut first_err = Ok(());
        for (s, &seq) in sides.into_iter().zip(seqs) {
            let Some(id) = self.sys.side_made(&s) else {
                let _ = self.log.undone(seq);
                continue;
            };
            let mut undo = s.undo;
            if let Undo::Remove { id: slot, .. } = &mut undo {
                *slot = Some(id);
            }
            (self.point)(Point::Made(seq));
            let done = self.log.done(seq, &undo);
            self.stack.push(Record {
                seq,
                undo,
                journaled: true,
                place: Some(s.place),
            });
            if let (Err(e), Ok(())) = (done, &first_err) {
                first_err = Err(SysError::refused("journal", Errno::EIO, e));
            }
        }
        first_err
    }

    /// For a record undone in an overlay's layer: the index in `stack` of that overlay's mount,
    /// while it is there (the overlay is still mounted).
    fn owner_of(&self, r: &Record) -> Option<usize> {
        let mp = r.place.as_ref()?.overlay.as_ref()?;
        self.overlays.iter().rev().find_map(|(p, i)| {
            let here = self.stack.get(*i)?;
            (p == mp && matches!(&here.undo, Undo::Umount { path, .. } if path == mp)).then_some(*i)
        })
    }

    /// Runs calls in order; returns whether any changed something, or the error and the call
    /// that failed.
    fn calls<'c>(&mut self, cs: &'c [Call]) -> Result<bool, (SysError, &'c Call)> {
        let mut changed = false;
        for c in cs {
            match self.call(c) {
                Ok(Effect::Unchanged) => {}
                Ok(_) => changed = true,
                Err(e) => return Err((e, c)),
            }
        }
        Ok(changed)
    }

    /// Undoes one record.
    fn undo(&mut self, r: Record) {
        let (res, shown) = match &r.place {
            Some(p) => (self.sys.undo_at(p, &r.undo), r.undo.on_host(p)),
            None => (self.sys.undo(&r.undo), r.undo.to_string()),
        };
        match res {
            Ok(()) => {
                self.rolled_back.push(shown);
                if r.journaled {
                    if let Err(e) = self.log.undone(r.seq) {
                        self.rollback_errors.push(e);
                    }
                }
            }
            Err(e) => self.rollback_errors.push(e.to_string()),
        }
    }

    /// Undoes every record above `mark`, newest first. What is undone in an overlay's layer
    /// waits until that overlay is unmounted (the kernel's view of a mounted overlay must not
    /// change below it); a partial rollback (a pivot's fallback) that leaves the overlay mounted
    /// undoes it last.
    fn rollback_to(&mut self, mark: usize) {
        let mut waiting: Vec<(usize, Record)> = Vec::new();
        while self.stack.len() > mark {
            let Some(r) = self.stack.pop() else { break };
            if let Some(owner) = self.owner_of(&r) {
                waiting.push((owner, r));
                continue;
            }
            self.undo(r);
            // It may have been an overlay's mount: what waited for its unmount goes now.
            let at = self.stack.len();
            let (now, rest): (Vec<_>, Vec<_>) = waiting.into_iter().partition(|(o, _)| *o == at);
            waiting = rest;
            for (_, w) in now {
                self.undo(w);
            }
        }
        for (_, w) in waiting {
            self.undo(w);
        }
    }
}

/// Applies the plan through `sys`, journaling host changes in `log`. `point` is called at
/// each point of the journal protocol (tests kill the process there).
pub fn run(
    dag: &Dag,
    sys: &mut dyn Sys,
    log: &mut dyn Log,
    opts: Options,
    point: &mut dyn FnMut(Point),
) -> Outcome {
    let plan = &dag.plan;
    let mut out = Outcome {
        plan: plan.name.clone(),
        steps: plan
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| StepReport {
                index: i,
                id: s.id.to_string(),
                kind: s.kind().as_str().to_string(),
                status: Status::NotRun,
                micros: 0,
                error: None,
                choice: None,
            })
            .collect(),
        ..Outcome::default()
    };
    let mut r = Runner {
        sys,
        log,
        point,
        stack: Vec::new(),
        overlays: Vec::new(),
        overlay_mounts: Vec::new(),
        seq: 0,
        rolled_back: Vec::new(),
        rollback_errors: Vec::new(),
    };

    let t = Instant::now();
    // The implicit setup, then what the root brings along (a bound root's own submounts,
    // which are not the plan's doing); a failure of either is a failed setup.
    let setup = r.calls(&dag.calls.setup).map_err(|(e, _)| e).and_then(|_| {
        crate::timing::mark("root-bound");
        if opts.verify && matches!(plan.root, Root::Path(_)) {
            r.sys.inherited()
        } else {
            Ok(Vec::new())
        }
    });
    let inherited = match setup {
        Ok(m) => m,
        Err(e) => {
            out.setup_failed = true;
            out.failure = Some(Failure::from_sys(None, &e));
            r.rollback_to(0);
            out.rolled_back = r.rolled_back;
            out.rollback_errors = r.rollback_errors;
            return out;
        }
    };
    out.setup_micros = micros(t);
    crate::timing::mark("setup");

    for sc in &dag.calls.steps {
        let Some(i) = sc.step else { continue };
        let t = Instant::now();
        let mark = r.stack.len();
        // `strategy = "auto"`: the fallback (`move`) only when pivot_root says EINVAL.
        let auto = matches!(&dag.plan.steps[i].action, Action::Pivot(p) if p.auto);
        let mut choice = None;
        let res = match r.calls(&sc.calls) {
            Ok(changed) => Ok((
                if changed {
                    Status::Ok
                } else {
                    Status::Unchanged
                },
                None,
            )),
            Err((first, failed)) => match &sc.fallback {
                // Only the kernel's refusal of the switch itself takes the fallback: a failure
                // the root's content could cause (a name it holds, a symlink) fails the step.
                Some(fb) if failed.switches_root() && (!auto || first.errno == Errno::EINVAL) => {
                    if auto {
                        choice = Some(
                            "MS_MOVE + chroot, because pivot_root failed with EINVAL (the root \
                             is on an initramfs or ramfs, or a mount involved is shared)"
                                .to_string(),
                        );
                    }
                    // Undo what the first strategy did; that is part of the fallback, not a
                    // rollback of the apply.
                    let shown = r.rolled_back.len();
                    r.rollback_to(mark);
                    r.rolled_back.truncate(shown);
                    match r.calls(fb) {
                        Ok(_) => Ok((Status::Fallback, Some(first.to_string()))),
                        Err((e, _)) => Err(SysError {
                            why: Some(format!(
                                "{}the first strategy had failed too: {first}",
                                e.why
                                    .as_deref()
                                    .map(|w| format!("{w}; "))
                                    .unwrap_or_default()
                            )),
                            ..e
                        }),
                    }
                }
                _ => Err(first),
            },
        };
        let st = &mut out.steps[i];
        st.micros = micros(t);
        if auto && choice.is_none() && res.is_ok() {
            choice = Some("pivot_root, which the kernel accepted".to_string());
        }
        st.choice = choice;
        match res {
            Ok((status, err)) => {
                st.status = status;
                st.error = err;
            }
            Err(e) => {
                st.status = Status::Failed;
                st.error = Some(e.to_string());
                out.failure = Some(Failure::from_sys(Some(i), &e));
                break;
            }
        }
    }

    crate::timing::mark("steps");
    if out.failure.is_none() && opts.verify {
        match r.sys.mounts() {
            Ok(actual) => {
                let made = r.sys.made();
                let v = verify::compare(dag, &actual, &inherited, &made, opts.userns);
                if !v.mismatches.is_empty() {
                    out.failure = Some(Failure {
                        step: None,
                        call: None,
                        errno: None,
                        errno_text: None,
                        why: None,
                        on_host: false,
                        message: format!(
                            "the mount table differs from the plan's prediction in {} place(s)",
                            v.mismatches.len()
                        ),
                    });
                }
                out.verify = Some(v);
            }
            Err(e) => out.failure = Some(Failure::from_sys(None, &e)),
        }
    }

    if out.failure.is_some() {
        r.rollback_to(0);
        for s in out.steps.iter_mut() {
            if matches!(s.status, Status::Ok | Status::Fallback) {
                s.status = Status::RolledBack;
            }
        }
    }
    out.rolled_back = r.rolled_back;
    out.rollback_errors = r.rollback_errors;
    out
}

/// A [`Sys`] that fails call number `at` (from 0, counting every call) with EIO, or with
/// `kill` makes the process die right before it, for rollback and crash tests against the real
/// kernel.
pub struct Inject<'a> {
    /// The real layer.
    pub inner: &'a mut dyn Sys,
    /// The call to fail.
    pub at: usize,
    /// Calls made so far.
    pub count: usize,
    /// Die instead of failing.
    pub kill: bool,
    /// Undos made so far.
    pub undos: usize,
}

impl Sys for Inject<'_> {
    fn call(&mut self, c: &Call, before: &mut crate::sys::Before<'_>) -> Result<Effect, SysError> {
        let n = self.count;
        self.count += 1;
        crate::sys::linux::pause::before_call(n);
        if n == self.at && self.kill {
            crate::sys::linux::process::die_now();
        }
        if n == self.at {
            return Err(SysError::refused(
                c,
                Errno::EIO,
                format!("failure injected at call {n} by MOUNTPLAN_TEST_FAIL_AT_CALL"),
            ));
        }
        self.inner.call(c, before)
    }
    fn undo(&mut self, u: &Undo) -> Result<(), SysError> {
        crate::sys::linux::pause::before_undo(self.undos);
        self.undos += 1;
        self.inner.undo(u)
    }
    fn sides(&mut self, c: &Call) -> Result<Vec<crate::sys::Side>, SysError> {
        self.inner.sides(c)
    }
    fn side_made(&mut self, s: &crate::sys::Side) -> Option<crate::sys::FileId> {
        self.inner.side_made(s)
    }
    fn undo_at(&mut self, place: &HostPlace, u: &Undo) -> Result<(), SysError> {
        crate::sys::linux::pause::before_undo(self.undos);
        self.undos += 1;
        self.inner.undo_at(place, u)
    }
    fn mounts(&mut self) -> Result<Vec<crate::sys::MountEntry>, SysError> {
        self.inner.mounts()
    }
    fn made(&self) -> Vec<Option<u64>> {
        self.inner.made()
    }
    fn inherited(&mut self) -> Result<Vec<crate::sys::MountEntry>, SysError> {
        self.inner.inherited()
    }
}
