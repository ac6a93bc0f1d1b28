//! The plan's certain failures: takes the facts, the plan's [`Dag`] and the host paths' facts;
//! returns the [`PlanReport`]: each host path the plan names with its mount and locked flags,
//! and a diagnostic for each step that fails here (or does otherwise than written).

use std::collections::BTreeMap;
use std::path::Path;

use nix::errno::Errno;

use super::{Facts, HostFacts, HostPathReport, PlanReport};
use crate::diag::Diag;
use crate::graph::Dag;
use crate::lowering::{AttrOn, Call};
use crate::model::{Action, FsKind, MsFlags, NodeSpec, Root};
use crate::sys::errno_words;
use crate::sys::linux::probe::Answer;

fn words(f: MsFlags) -> Vec<String> {
    crate::capture::words(f)
}

const PERM: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);
const ATIME: MsFlags = MsFlags::MS_NOATIME
    .union(MsFlags::MS_RELATIME)
    .union(MsFlags::MS_STRICTATIME)
    .union(MsFlags::MS_NODIRATIME);

/// The per-mount flags of a mountinfo options field.
fn flags_of(opts: &str) -> MsFlags {
    let v: Vec<String> = opts.split(',').map(str::to_string).collect();
    crate::capture::table::mount_flags(&v).0
}

struct Judge<'a> {
    facts: &'a Facts,
    dag: &'a Dag,
    paths: Vec<HostPathReport>,
    by_path: BTreeMap<(String, &'static str), usize>,
    diags: Vec<Diag>,
}

impl Judge<'_> {
    /// The report of host path `p` in `role`, asked once.
    fn path(
        &mut self,
        host: &mut dyn HostFacts,
        p: &str,
        role: &'static str,
        step: Option<&str>,
        bound: bool,
    ) -> usize {
        let key = (p.to_string(), role);
        let i = match self.by_path.get(&key) {
            Some(i) => *i,
            None => {
                let facts = host.path(Path::new(p));
                let idmap = (bound && facts.dir.is_ok())
                    .then(|| host.idmap(Path::new(p), self.facts.rootless));
                let locked = match &facts.mount {
                    Some((_, _, opts)) if self.locks() => {
                        let f = flags_of(opts);
                        words((f & PERM) | (f & ATIME))
                    }
                    _ => Vec::new(),
                };
                self.paths.push(HostPathReport {
                    path: p.to_string(),
                    role,
                    steps: Vec::new(),
                    facts,
                    idmap,
                    locked,
                });
                self.by_path.insert(key, self.paths.len() - 1);
                self.paths.len() - 1
            }
        };
        if let Some(s) = step {
            self.paths[i].steps.push(s.to_string());
        }
        i
    }
    /// Mounts copied from the host are locked where the apply runs.
    fn locks(&self) -> bool {
        self.facts.rootless || !self.facts.initial_userns
    }
}

fn missing(role: &str, path: &str, e: Errno) -> String {
    match e {
        Errno::ENOENT => format!("the {role} `{path}` does not exist on this host"),
        Errno::ENOTDIR => format!("a component of the {role} `{path}` is not a directory"),
        Errno::EACCES | Errno::EPERM => {
            format!("the {role} `{path}` cannot be opened: permission denied")
        }
        e => format!("the {role} `{path}` cannot be opened: {}", errno_words(e)),
    }
}

/// The plan's host paths, checks and certain failures.
pub(super) fn judge(facts: &Facts, dag: &Dag, host: &mut dyn HostFacts) -> PlanReport {
    let plan = &dag.plan;
    let mut j = Judge {
        facts,
        dag,
        paths: Vec::new(),
        by_path: BTreeMap::new(),
        diags: Vec::new(),
    };
    let rootless = facts.rootless;
    // What an apply refuses before it starts, as it would refuse it here.
    j.diags.extend(crate::validate::preflight::preflight(
        plan,
        &crate::validate::preflight::Host {
            euid: facts.uid,
            userns: rootless,
            persist: false,
            missing_caps: crate::sys::linux::command::unavailable(&plan.process),
        },
    ));
    if rootless {
        if let Answer::No { call, errno } = &facts.mount_api_here {
            j.diags.push(
                Diag::error_nowhere(
                    "mountplan::doctor::userns",
                    format!(
                        "this plan applies rootless here (in a user namespace of its own), \
                         which the kernel refuses: {call} => {}",
                        errno_words(*errno)
                    ),
                )
                .help(
                    "allow unprivileged user namespaces (see the sysctls above), or run as \
                     root with `user = false`",
                ),
            );
        }
    }
    // The root directory.
    if let Root::Path(p) = &plan.root {
        let i = j.path(host, p.as_str(), "root directory", None, true);
        if let Err(e) = j.paths[i].facts.dir {
            let d = match plan.root_loc {
                Some(l) => Diag::error("mountplan::doctor::missing-host-path", "", l),
                None => Diag::error_nowhere("mountplan::doctor::missing-host-path", ""),
            };
            j.diags.push(
                Diag {
                    message: format!(
                        "{}: the apply fails at its setup",
                        missing("root directory", p.as_str(), e)
                    ),
                    ..d
                }
                .label("not on this host")
                .help("create the directory, or set another `[root] path` (or `--set`)"),
            );
        }
    }
    let filesystems = facts.filesystems.clone();
    for (i, step) in plan.steps.iter().enumerate() {
        let id = step.id.as_str();
        let at = step.host_loc.unwrap_or_else(|| step.key_loc());
        let mut host_path = |j: &mut Judge<'_>, p: &str, role: &'static str, bound: bool| {
            let k = j.path(host, p, role, Some(id), bound);
            if let Err(e) = j.paths[k].facts.dir {
                j.diags.push(
                    Diag::error(
                        "mountplan::doctor::missing-host-path",
                        format!("step `{id}`: {}: the step fails", missing(role, p, e)),
                        at,
                    )
                    .label("not on this host")
                    .help(format!("create `{p}` on the host, or fix the path")),
                );
            }
            k
        };
        match &step.action {
            Action::Mount(m) => {
                match &m.fs {
                    FsKind::Bind { source, recursive } => {
                        let k = host_path(&mut j, source.as_str(), "bind source", true);
                        let below = if j.locks() && !recursive && j.paths[k].facts.dir.is_ok() {
                            host.mounts_below(source.as_str())
                        } else {
                            Vec::new()
                        };
                        if !below.is_empty() {
                            let list: Vec<String> =
                                below.iter().take(3).map(|b| format!("`{b}`")).collect();
                            j.diags.push(
                                Diag::error(
                                    "mountplan::doctor::locked-children",
                                    format!(
                                        "step `{id}` binds `{source}` without the mounts below \
                                         it ({}{}), but a rootless apply gets them locked to \
                                         it: open_tree without AT_RECURSIVE fails with EINVAL",
                                        list.join(", "),
                                        if below.len() > 3 { ", ..." } else { "" }
                                    ),
                                    at,
                                )
                                .label("has mounts below it on the host")
                                .help(
                                    "make it recursive (`type = \"rbind\"` or `rec` in \
                                     `options`), or run as root with `user = false`",
                                ),
                            );
                        }
                        let src = j.paths[k].facts.mount.clone();
                        if let (Some((_, _, opts)), true) = (src, j.locks()) {
                            locked(&mut j, i, &flags_of(&opts), source.as_str(), None);
                        }
                        // An idmapped bind: the probe made the same call on this source.
                        if let (Some(_), Some(Answer::No { call, errno })) =
                            (&m.idmap, &j.paths[k].idmap)
                        {
                            let fstype = j.paths[k]
                                .facts
                                .mount
                                .as_ref()
                                .map_or("?".to_string(), |(_, t, _)| t.clone());
                            let d = Diag::error(
                                "mountplan::doctor::idmap",
                                format!(
                                    "step `{id}` idmaps its bind of `{source}` ({fstype}), but \
                                     here {call} fails with {}: the step fails",
                                    errno_words(*errno)
                                ),
                                at,
                            )
                            .label("an idmapped bind")
                            .help(
                                "bind from a filesystem that supports idmapped mounts (the \
                                 doctor's table lists them), run as root, or remove `idmap`",
                            );
                            j.diags.push(d);
                        }
                    }
                    FsKind::Overlay(o) => {
                        for l in &o.lower {
                            host_path(&mut j, l.as_str(), "overlay lower layer", false);
                        }
                        let up = o
                            .upper
                            .as_ref()
                            .map(|u| host_path(&mut j, u.as_str(), "overlay upper layer", false));
                        let wk = o.work.as_ref().map(|w| {
                            host_path(&mut j, w.as_str(), "overlay work directory", false)
                        });
                        if let (Some(u), Some(w)) = (up, wk) {
                            let (mu, mw) = (&j.paths[u].facts.mount, &j.paths[w].facts.mount);
                            if let (Some(a), Some(b)) = (mu, mw) {
                                if a.0 != b.0 {
                                    let d = Diag::error(
                                        "mountplan::doctor::overlay-work",
                                        format!(
                                            "step `{id}`: the overlay's upper layer `{}` is on \
                                             the mount at `{}` and its work directory `{}` on \
                                             the one at `{}`: the kernel wants them on the \
                                             same mount (EINVAL)",
                                            j.paths[u].path, a.0, j.paths[w].path, b.0
                                        ),
                                        m.target_loc,
                                    )
                                    .help("put `work` beside `upper`, on the same filesystem");
                                    j.diags.push(d);
                                }
                            }
                        }
                    }
                    _ => {}
                }
                fs_known(&mut j, host, &filesystems, i, m);
                namespace_owned(&mut j, i, m);
            }
            Action::Mknod(n) => {
                if let NodeSpec::FromHost(h) = &n.spec {
                    host_path(&mut j, h.as_str(), "host node", false);
                }
            }
            Action::Remount(r) if j.locks() => {
                // The mount at the target: the latest bind made there, or the bound root.
                let source = plan.steps[..i].iter().rev().find_map(|s| match &s.action {
                    Action::Mount(m) if m.target == r.target => Some(match &m.fs {
                        FsKind::Bind { source, .. } => Some(source.as_str().to_string()),
                        _ => None,
                    }),
                    _ => None,
                });
                let source = match (source, &plan.root) {
                    (Some(s), _) => s,
                    (None, Root::Path(p)) if r.target.is_root() => Some(p.as_str().to_string()),
                    _ => None,
                };
                if let Some(src) = source {
                    let k = j.path(host, &src, "bind source", None, false);
                    if let Some((_, _, opts)) = j.paths[k].facts.mount.clone() {
                        locked(&mut j, i, &flags_of(&opts), &src, Some(r.target_loc));
                    }
                }
            }
            _ => {}
        }
    }
    if facts.idmap_root.is_none() {
        // Nothing to add: the plan's binds were tried above.
    }
    if let Some(opts) = &facts.cgroup2_options {
        let set: Vec<&String> = opts.iter().filter(|o| *o != "rw" && *o != "ro").collect();
        if !plan.namespaces.cgroup && !rootless && !set.is_empty() {
            for s in &plan.steps {
                if let Action::Mount(m) = &s.action {
                    if m.fs == FsKind::Cgroup2 {
                        let list: Vec<String> = set.iter().map(|o| format!("`{o}`")).collect();
                        j.diags.push(
                            Diag::warning(
                                "mountplan::doctor::cgroup2-host-options",
                                format!(
                                    "step `{}` mounts cgroup2 in the host's cgroup namespace: \
                                     the kernel then sets the hierarchy's options to the \
                                     mount's (none), so the host loses {}",
                                    s.id.as_str(),
                                    list.join(", ")
                                ),
                                m.target_loc,
                            )
                            .label("changes the host's cgroup2 options")
                            .help("set `cgroup = true` in [namespaces]"),
                        );
                    }
                }
            }
        }
    }
    let _ = j.dag;
    PlanReport {
        name: plan.name.clone(),
        rootless,
        paths: j.paths,
        diags: j.diags,
    }
}

/// The atime mode and per-mount flags a step's `mount_setattr` changes on a mount copied
/// from the host (its flags `src`): a locked atime mode that changes fails (EPERM, certain);
/// a locked flag it clears is kept by mountplan (a warning: the mount ends up with it).
fn locked(
    j: &mut Judge<'_>,
    i: usize,
    src: &MsFlags,
    source: &str,
    loc: Option<crate::source::Loc>,
) {
    let step = &j.dag.plan.steps[i];
    let loc = loc.unwrap_or_else(|| step.key_loc());
    let id = step.id.as_str();
    let Some(calls) = j.dag.calls.steps.get(i) else {
        return;
    };
    for c in &calls.calls {
        let Call::SetAttr { on, set, clear, .. } = c else {
            continue;
        };
        if matches!(on, AttrOn::Path(_)) != matches!(step.action, Action::Remount(_)) {
            continue;
        }
        let mode = |f: MsFlags| f & ATIME;
        if !(*set & ATIME).is_empty() && mode(*set) != mode(*src) {
            j.diags.push(
                Diag::error(
                    "mountplan::doctor::locked-atime",
                    format!(
                        "step `{id}` changes the atime mode of its mount of `{source}` from {} \
                         to {}, but a rootless apply gets the host's mounts with their atime \
                         mode locked: mount_setattr fails with EPERM",
                        words(*src & ATIME).join(","),
                        words(*set & ATIME).join(",")
                    ),
                    loc,
                )
                .label("the kernel locked this mount's atime mode")
                .help(format!(
                    "give the source's mode ({}), or none, in `options`",
                    words(*src & ATIME).join(",")
                )),
            );
        }
        let kept = *clear & *src & PERM;
        if !kept.is_empty() {
            let w = words(kept);
            let w: Vec<&String> = w.iter().filter(|x| !x.ends_with("atime")).collect();
            let list: Vec<String> = w.iter().map(|x| format!("`{x}`")).collect();
            j.diags.push(
                Diag::warning(
                    "mountplan::doctor::locked-kept",
                    format!(
                        "step `{id}` clears {} on its mount of `{source}`, but a rootless apply \
                         gets the host's mounts with those flags locked: the kernel refuses to \
                         clear them (EPERM), so mountplan keeps them and the mount ends up {}",
                        list.join(", "),
                        list.join(", ")
                    ),
                    loc,
                )
                .label("locked on the host's mount")
                .help(format!(
                    "add {} to `options` to say so, or run as root with `user = false`",
                    list.join(", ")
                )),
            );
        }
    }
}

/// A filesystem type this kernel has not registered fails to mount, unless a module loads.
fn fs_known(
    j: &mut Judge<'_>,
    host: &mut dyn HostFacts,
    filesystems: &[String],
    i: usize,
    m: &crate::model::Mount,
) {
    let t = match &m.fs {
        FsKind::Bind { .. } => return,
        fs => fs.fstype().to_string(),
    };
    if filesystems.contains(&t) {
        return;
    }
    let id = j.dag.plan.steps[i].id.as_str().to_string();
    let d = match host.fs_module(&t) {
        Some(true) => Diag::warning(
            "mountplan::doctor::fstype-module",
            format!(
                "step `{id}` mounts `{t}`, which this kernel has not registered yet: a module \
                 (`fs-{t}`) loads when it is mounted"
            ),
            m.target_loc,
        )
        .help(format!("`modprobe {t}` loads it beforehand")),
        avail => Diag::error(
            "mountplan::doctor::fstype-unknown",
            format!(
                "step `{id}` mounts `{t}`, which this kernel does not have (not in \
                 /proc/filesystems{}): the mount fails with ENODEV",
                if avail.is_none() {
                    ", and it has no modules to load"
                } else {
                    ", and no module provides it"
                }
            ),
            m.target_loc,
        )
        .label("unknown filesystem type")
        .help("check the type's name, or install and load its module"),
    };
    j.diags.push(d);
}

/// Rootless, the kernel lets a user namespace mount mqueue and cgroup2 only for an IPC or
/// cgroup namespace it owns (the apply's preflight covers proc and sysfs).
fn namespace_owned(j: &mut Judge<'_>, i: usize, m: &crate::model::Mount) {
    if !j.facts.rootless {
        return;
    }
    let ns = &j.dag.plan.namespaces;
    let (need, key) = match m.fs {
        FsKind::Mqueue if !ns.ipc => ("an IPC namespace", "ipc"),
        FsKind::Cgroup2 if !ns.cgroup => ("a cgroup namespace", "cgroup"),
        _ => return,
    };
    let id = j.dag.plan.steps[i].id.as_str();
    j.diags.push(
        Diag::error(
            "mountplan::doctor::rootless-namespace",
            format!(
                "step `{id}` mounts {}, which a user namespace may do only in {need} it owns: \
                 rootless, the mount fails with EPERM",
                m.fs.fstype()
            ),
            m.target_loc,
        )
        .label(format!("{} needs {need} here", m.fs.fstype()))
        .help(format!("set `{key} = true` in [namespaces]")),
    );
}
