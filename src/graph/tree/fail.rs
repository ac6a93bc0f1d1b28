//! What apply will fail at, found by the walk: an error when the failure is certain, a
//! warning when it is likely (or when apply succeeds but the result cannot work). Each names
//! the step and the call that fails, the reason (the errno), the other step involved, and the
//! fix.
//!
//! - `mountplan::graph::missing` (error): a parent directory, or the path itself, is not
//!   there: it would be on an empty tmpfs where no earlier step made it (ENOENT).
//! - `mountplan::graph::read-only` (error): a path is made on a read-only mount where it
//!   cannot be yet (an empty tmpfs, a directory mask), or a `put-old` pivot's directory on a
//!   read-only mount (EROFS); a put_old directory is always new (a fresh name).
//! - `mountplan::graph::read-only-likely` (warning): a path is made on a read-only mount
//!   whose content the plan does not know (the host's root directory, a bind, an overlay):
//!   EROFS unless it is there already (then nothing is made).
//! - `mountplan::graph::shared-root` (error): pivot_root(2) of a root the plan made shared,
//!   or attached under a shared mount (EINVAL).
//! - `mountplan::graph::fallback` (warning): the kernel refuses the pivot's switch to the new
//!   root (a shared root); its fallback does not fail, and is used. A put_old directory that
//!   cannot be made fails the step even with a fallback: only the switch itself takes it.
//! - `mountplan::graph::nodev` (warning): a device node on a `nodev` mount. mknod(2) succeeds
//!   and apply does what the dry run says, so this is not an error; but every open(2) of the
//!   node fails with EACCES, which no plan wants from a device node it makes.

use super::Walk;
use super::lookup::{PathId, ROOT};
use crate::diag::Diag;
use crate::graph::{Mounted, NodeKind};
use crate::model::{Action, FsKind, MsFlags, Pivot, PivotStrategy};
use crate::source::Loc;

/// Why a pivot strategy fails, certainly.
struct Failure {
    code: &'static str,
    /// The call that fails, and how ("pivot_root fails with EINVAL").
    call: String,
    /// Why.
    why: String,
    /// The other step involved, and its label.
    also: Option<(Loc, String)>,
    help: String,
    /// The kernel refuses the switch to the new root itself (the one failure that takes a
    /// pivot's fallback); otherwise a call before it fails, and so does the step.
    switch: bool,
}

impl Walk<'_, '_> {
    /// True when a failure was reported for step `i` already (it stops at its first).
    fn said(&self, i: usize) -> bool {
        self.failed.last() == Some(&i)
    }

    fn push_failure(&mut self, i: usize, d: Diag) {
        if !self.said(i) {
            self.failed.push(i);
        }
        self.warnings.push(d);
    }

    /// The mount `e`, in words: "the empty tmpfs root", "the mount of step `dev` on `/dev`".
    fn mount_words(&self, e: usize) -> String {
        let en = &self.entries[e];
        match en.by {
            None if en.mount.kind.is_tmpfs() => "the empty tmpfs root".into(),
            None => "the root".into(),
            Some(by) => {
                let step = &self.plan.steps[by];
                let what = if matches!(step.action, Action::Mask(_)) {
                    "mask"
                } else {
                    "mount"
                };
                format!(
                    "the {what} of step `{}` on `{}`",
                    step.id, en.mount.mountpoint
                )
            }
        }
    }

    /// [`Walk::mount_words`], with the step that made it `flag` (read-only, nodev) when that
    /// is not the step that made it.
    fn made_words(&self, e: usize, by: Option<usize>, flag: &str) -> String {
        let en = &self.entries[e];
        match by {
            Some(r) if Some(r) != en.by => format!(
                "{}, made {flag} by step `{}`",
                self.mount_words(e),
                self.plan.steps[r].id
            ),
            _ => self.mount_words(e),
        }
    }

    /// The place to point at as the step that made mount `e` read-only or nodev (`by`), or
    /// that made it so.
    fn flag_site(&self, e: usize, by: Option<usize>, flag: &str) -> Option<(Loc, String)> {
        let en = &self.entries[e];
        match (by, en.by) {
            (Some(r), m) if Some(r) != m => {
                Some((self.plan.steps[r].key_loc(), format!("made {flag} here")))
            }
            (_, Some(m)) => Some((
                self.plan.steps[m].key_loc(),
                format!("this mount is {flag}"),
            )),
            _ => None,
        }
    }

    /// Reports, as an error, that `p` (the parent of what step `i` makes, or the path it needs)
    /// is certainly missing: it lives on an empty tmpfs (the root, one the plan mounted, a
    /// directory mask), where only what the plan made exists, and no earlier step made it.
    /// Returns whether it did.
    pub(super) fn check_exists(&mut self, i: usize, p: PathId, parent: bool) -> bool {
        if self.said(i) {
            return true;
        }
        let Some(c) = self.empty_fs_without(p) else {
            return false;
        };
        let p = self.paths.text(p);
        let e = &self.entries[c];
        let step = &self.plan.steps[i];
        let on = match e.by {
            Some(by) => format!(
                "the empty tmpfs step `{}` mounts on `{}`",
                self.plan.steps[by].id, e.mount.mountpoint
            ),
            None => "the empty tmpfs root".to_string(),
        };
        let what = if parent {
            format!("the parent directory `{p}`")
        } else {
            format!("`{p}`")
        };
        let mut d = Diag::error(
            "mountplan::graph::missing",
            format!(
                "{what} does not exist when step `{}` runs: it would be on {on}, and no earlier \
                 step makes it, so the step certainly fails (ENOENT)",
                step.id
            ),
            step.key_loc(),
        )
        .label(if parent {
            "its parent directory is missing"
        } else {
            "this path is missing"
        })
        .help(format!(
            "make `{p}` in an earlier step (a mkdir step, or `parents = true` on a mkdir)"
        ));
        if let Some(by) = e.by {
            d = d.also(
                self.plan.steps[by].key_loc(),
                "the empty tmpfs is mounted here",
            );
        }
        self.push_failure(i, d);
        true
    }

    /// Reports that step `i` makes `p` (with `call`) on a read-only mount, when it does: an
    /// error when `p` cannot be there yet, a warning when it may (then nothing is made).
    /// Nothing when the plan knows `p` is there. Returns whether it reported an error.
    pub(super) fn check_writable(&mut self, i: usize, p: PathId, call: &str) -> bool {
        if self.said(i) || self.exists(p) {
            return self.said(i);
        }
        let v = self.cover(p, false);
        if !self.entries[v].mount.flags.contains(MsFlags::MS_RDONLY) {
            return false;
        }
        let certain = self.empty_fs_without(p).is_some();
        // On a filesystem of the kernel's own (proc, sysfs...) nothing can be made, read-only
        // or not: a path there is the kernel's, and read-only changes nothing about it.
        let kernel = matches!(
            self.entries[self.cover(p, true)].mount.kind,
            Mounted::Fs(
                FsKind::Proc | FsKind::Sysfs | FsKind::Mqueue | FsKind::Cgroup2 | FsKind::Devpts(_)
            )
        );
        if !certain && kernel {
            return false;
        }
        let on = self.made_words(v, self.entries[v].ro_by, "read-only");
        let text = self.paths.text(p);
        let step = &self.plan.steps[i];
        let ro_step = self.entries[v]
            .ro_by
            .filter(|&r| Some(r) != self.entries[v].by);
        let fix = match ro_step {
            Some(r) => format!(
                "make `{text}` before step `{}` makes the mount read-only (move this step above \
                 it), or make it read-only later",
                self.plan.steps[r].id
            ),
            None => format!("make `{text}` before the read-only mount, or on another mount"),
        };
        let mut d = if certain {
            Diag::error(
                "mountplan::graph::read-only",
                format!(
                    "step `{}` makes `{text}` on a read-only mount ({on}), where it cannot be \
                     yet: {call} fails (EROFS)",
                    step.id
                ),
                step.key_loc(),
            )
            .label("made on a read-only mount")
            .help(fix)
        } else {
            Diag::warning(
                "mountplan::graph::read-only-likely",
                format!(
                    "step `{}` makes `{text}` on a read-only mount ({on}): {call} fails \
                     (EROFS) unless `{text}` is there already",
                    step.id
                ),
                step.key_loc(),
            )
            .label("made on a read-only mount, unless it is there")
            .help(format!("{fix}; or make sure the root has `{text}`"))
        };
        if let Some((loc, label)) = self.flag_site(v, self.entries[v].ro_by, "read-only") {
            d = d.also(loc, label);
        }
        self.push_failure(i, d);
        certain
    }

    /// Why `strategy` certainly fails at this point of the plan (`None` when it does not);
    /// `put_old` is the number of the pivot's put_old path.
    fn pivot_failure(&self, strategy: PivotStrategy, put_old: PathId) -> Option<Failure> {
        if matches!(strategy, PivotStrategy::Move | PivotStrategy::Chroot) {
            return None;
        }
        // The new root is the mount on top at `/`; pivot_root(2) refuses it, or the mount it
        // is on, shared.
        let top = self.cover(ROOT, false);
        let under = self.entries[top].parent;
        let shared = match self.entries[top].shared_by {
            Some(s) => Some(("the new root is a shared mount", s)),
            None => under
                .and_then(|u| self.entries[u].shared_by)
                .map(|s| ("the mount the new root is on is shared", s)),
        };
        if let Some((what, s)) = shared {
            let sid = &self.plan.steps[s].id;
            return Some(Failure {
                code: "mountplan::graph::shared-root",
                call: "pivot_root fails with EINVAL".into(),
                why: format!("{what} (step `{sid}` made it shared)"),
                also: Some((self.plan.steps[s].key_loc(), "made shared here".into())),
                help: format!(
                    "make `/` private (or slave) after step `{sid}`, before the pivot \
                     (`kind = \"propagation\"`, `propagation = \"private\"`), or use the \
                     `move` or `chroot` strategy"
                ),
                switch: true,
            });
        }
        if strategy != PivotStrategy::PutOld {
            return None;
        }
        let text = self.paths.text(put_old);
        let parent = self.paths.parent(put_old);
        if let Some(c) = self.empty_fs_without(parent) {
            let on = self.mount_words(c);
            let ptext = self.paths.text(parent);
            return Some(Failure {
                code: "mountplan::graph::missing",
                call: "the mkdir of its put_old directory fails (ENOENT)".into(),
                why: format!("its parent `{ptext}` would be on {on}, and no earlier step makes it"),
                also: None,
                help: format!(
                    "make `{ptext}` in an earlier step, or set `put_old` to another path"
                ),
                switch: false,
            });
        }
        let v = self.cover(put_old, false);
        let en = &self.entries[v];
        if en.mount.flags.contains(MsFlags::MS_RDONLY) {
            let on = self.made_words(v, en.ro_by, "read-only");
            return Some(Failure {
                code: "mountplan::graph::read-only",
                call: "the mkdir of its put_old directory fails (EROFS)".into(),
                why: format!(
                    "its directory `{text}XXXXXX` (a fresh name) would be on a read-only mount \
                     ({on})"
                ),
                also: self.flag_site(v, en.ro_by, "read-only"),
                help: "use the `pivot-root` strategy, which makes no directory, or set \
                       `put_old` on a writable mount"
                    .into(),
                switch: false,
            });
        }
        None
    }

    /// The checks of pivot step `i`: its strategy fails certainly (an error), or fails and its
    /// fallback is used (a warning), or both fail (an error naming both). `put_old` is the
    /// number of its put_old path.
    pub(super) fn check_pivot(&mut self, i: usize, pv: &Pivot, put_old: PathId) {
        let Some(first) = self.pivot_failure(pv.strategy, put_old) else {
            return;
        };
        let step = &self.plan.steps[i];
        let name = pv.strategy.as_str();
        // Only the kernel's refusal of the switch takes the fallback.
        let fb = pv
            .fallback
            .filter(|_| first.switch)
            .map(|f| (f, self.pivot_failure(f, put_old)));
        let mut d = match &fb {
            Some((f, None)) => Diag::warning(
                "mountplan::graph::fallback",
                format!(
                    "the `{name}` strategy of step `{}` fails: {}: {}; the fallback `{}` is used",
                    step.id,
                    first.call,
                    first.why,
                    f.as_str()
                ),
                step.key_loc(),
            )
            .label(format!("`{name}` fails here"))
            .help(first.help.clone()),
            Some((f, Some(second))) => Diag::error(
                first.code,
                format!(
                    "the `{name}` strategy of step `{}` fails: {}: {}; and its fallback `{}` \
                     fails too: {}: {}",
                    step.id,
                    first.call,
                    first.why,
                    f.as_str(),
                    second.call,
                    second.why
                ),
                step.key_loc(),
            )
            .label("the pivot fails here")
            .help(first.help.clone()),
            None => Diag::error(
                first.code,
                format!(
                    "{} when step `{}` runs: {}{}",
                    first.call,
                    step.id,
                    first.why,
                    if pv.fallback.is_some() && !first.switch {
                        "; its fallback is not taken: only the kernel's refusal of the switch \
                         to the new root takes it"
                    } else {
                        ""
                    }
                ),
                step.key_loc(),
            )
            .label("the pivot fails here")
            .help(first.help.clone()),
        };
        if let Some((loc, label)) = first.also {
            d = d.also(loc, label);
        }
        self.warnings.push(d);
    }

    /// Warns about each device node the final tree has on a `nodev` mount (see the module).
    pub(super) fn check_nodev(&mut self) {
        let mut found = Vec::new();
        for k in 0..self.nodes.len() {
            let n = &self.nodes[k];
            let device = matches!(n.node.kind, NodeKind::Char(_) | NodeKind::Block(_));
            // A node whose step fails is not made.
            let fails = self.failed.binary_search(&n.made_by).is_ok();
            if !n.alive || !device || fails || self.hidden(n) {
                continue;
            }
            let v = self.cover(n.at, false);
            let en = &self.entries[v];
            if !en.mount.flags.contains(MsFlags::MS_NODEV) {
                continue;
            }
            let on = self.made_words(v, en.nodev_by, "nodev");
            let also = self.flag_site(v, en.nodev_by, "nodev");
            let step = &self.plan.steps[n.made_by];
            let path = self.paths.text(n.at);
            let mut d = Diag::warning(
                "mountplan::graph::nodev",
                format!(
                    "`{path}` is a device node on a `nodev` mount ({on}): it is made, but \
                     opening it fails (EACCES)"
                ),
                step.key_loc(),
            )
            .label("a device node that cannot be opened")
            .help(
                "make device nodes on a mount without `nodev` (a tmpfs on /dev, mounted without \
                 `nodev`), or bind the host's node (`type = \"bind\"`, `source = \"/dev/null\"`)",
            );
            if let Some((loc, label)) = also {
                d = d.also(loc, label);
            }
            found.push(d);
        }
        self.warnings.extend(found);
    }
}
