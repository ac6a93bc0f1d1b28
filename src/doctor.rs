//! `mountplan doctor`: what this kernel and host offer, and which steps of a plan will fail
//! here, before anything is changed.
//!
//! Takes the answers of the probes ([`Facts`], gathered by [`probe()`] through
//! [`crate::sys::linux::probe`]) and, for a plan, its [`Dag`] with what each host path it
//! names is ([`HostFacts`]); returns a [`Report`]: the kernel's and host's answers, the host
//! paths with their mounts and locked flags, and the plan's certain failures as diagnostics
//! pointing at the step (errors) or what it will do otherwise than written (warnings).
//! [`text`] and [`json`] render it.
//!
//! A failure is certain when the kernel refuses the call whatever the root holds: a host path
//! that is missing, a filesystem type this kernel does not have (and cannot load), a user
//! namespace or mount API the kernel refuses, an atime mode a rootless apply may not change on
//! a mount copied from the host (the kernel locks it: EPERM), a mount a user namespace may
//! make only in a namespace of its own (proc, sysfs, mqueue, cgroup2), device nodes rootless.

use std::collections::BTreeMap;
use std::path::Path;

use nix::errno::Errno;

use crate::calls::{AttrOn, Call};
use crate::diag::{Diag, Severity};
use crate::graph::Dag;
use crate::model::{Action, FsKind, MsFlags, NodeSpec, Root};
use crate::sys::errno_words;
use crate::sys::linux::probe::{self, Answer, HostPathFacts};

/// What the kernel and host answered.
#[derive(Debug, Clone)]
pub struct Facts {
    /// `uname -r`, `uname -m`.
    pub kernel: (String, String),
    /// mountplan's effective uid.
    pub uid: u32,
    /// mountplan runs in the initial user namespace (not, for example, in a container's).
    pub initial_userns: bool,
    /// `openat2`.
    pub openat2: Answer,
    /// Each call of the new mount API: it exists.
    pub mount_api: Vec<(&'static str, Answer)>,
    /// The new mount API works as an apply would use it (rootless: from a user namespace).
    pub mount_api_here: Answer,
    /// For [`Facts::mount_api_here`]: in a user namespace of its own.
    pub rootless: bool,
    /// `statmount`.
    pub statmount: Answer,
    /// `listmount`.
    pub listmount: Answer,
    /// A user namespace made by an unprivileged user (uid 65534 when run as root).
    pub userns: Answer,
    /// Sysctls about user namespaces and the terminal, with their values (`None`: not on
    /// this kernel).
    pub sysctls: Vec<(&'static str, Option<String>)>,
    /// `/proc/filesystems`.
    pub filesystems: Vec<String>,
    /// The host's cgroup2 mount's superblock options (`None`: none mounted).
    pub cgroup2_options: Option<Vec<String>>,
    /// Idmapped binds of `/` (without a plan): its fstype and the answer.
    pub idmap_root: Option<(String, Answer)>,
}

/// The sysctls doctor reports.
pub const SYSCTLS: &[&str] = &[
    "user.max_user_namespaces",
    "user.max_mnt_namespaces",
    "kernel.unprivileged_userns_clone",
    "kernel.apparmor_restrict_unprivileged_userns",
    "dev.tty.legacy_tiocsti",
];

/// Asks the kernel everything but the plan's host paths. `rootless`: probe the mount API as
/// a rootless apply uses it; `idmap_root`: try an idmapped bind of `/` (when there is no
/// plan, whose bind sources are tried instead).
pub fn probe(rootless: bool, idmap_root: bool) -> Facts {
    let (statmount, listmount) = probe::statmount_listmount();
    let root_fstype = probe::host_path(Path::new("/"))
        .mount
        .map(|m| m.1)
        .unwrap_or_else(|| "?".into());
    Facts {
        kernel: probe::uname(),
        uid: nix::unistd::geteuid().as_raw(),
        initial_userns: probe::in_initial_userns(),
        openat2: probe::openat2(),
        mount_api: probe::mount_api(),
        mount_api_here: probe::mount_api_works(rootless),
        rootless,
        statmount,
        listmount,
        userns: probe::unprivileged_userns(),
        sysctls: SYSCTLS.iter().map(|s| (*s, probe::sysctl(s))).collect(),
        filesystems: probe::filesystems(),
        cgroup2_options: cgroup2_options(),
        idmap_root: idmap_root.then(|| (root_fstype, probe::idmap(Path::new("/"), rootless))),
    }
}

fn cgroup2_options() -> Option<Vec<String>> {
    let t = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let l = crate::capture::table::parse(&t)
        .into_iter()
        .find(|l| l.fstype == "cgroup2" && l.root == "/")?;
    Some(l.super_opts)
}

/// What each host path a plan names is, asked of the host.
pub trait HostFacts {
    /// The path's facts.
    fn path(&mut self, p: &Path) -> HostPathFacts;
    /// Whether a bind of it can be idmapped.
    fn idmap(&mut self, p: &Path, rootless: bool) -> Answer;
    /// Whether a module for `fstype` can be loaded (`None`: no modules here).
    fn fs_module(&mut self, fstype: &str) -> Option<bool>;
    /// The host's mountpoints strictly below `p`.
    fn mounts_below(&mut self, p: &str) -> Vec<String>;
}

/// The host, asked for real.
pub struct RealHost;

impl HostFacts for RealHost {
    fn path(&mut self, p: &Path) -> HostPathFacts {
        probe::host_path(p)
    }
    fn idmap(&mut self, p: &Path, rootless: bool) -> Answer {
        probe::idmap(p, rootless)
    }
    fn fs_module(&mut self, fstype: &str) -> Option<bool> {
        probe::fs_module(fstype)
    }
    fn mounts_below(&mut self, p: &str) -> Vec<String> {
        probe::mounts_below(p)
    }
}

/// A host path the plan names.
#[derive(Debug, Clone)]
pub struct HostPathReport {
    /// The path.
    pub path: String,
    /// What the plan uses it for (`bind source`, `root directory`, `overlay lower layer`...).
    pub role: &'static str,
    /// The steps that name it (the root directory: none).
    pub steps: Vec<String>,
    /// What it is.
    pub facts: HostPathFacts,
    /// A bind source or the root: whether a bind of it can be idmapped.
    pub idmap: Option<Answer>,
    /// The per-mount flags of its mount that a user namespace gets locked (rootless applies):
    /// plan words.
    pub locked: Vec<String>,
}

/// The plan's part of the report.
#[derive(Debug, Clone)]
pub struct PlanReport {
    /// The plan's name.
    pub name: String,
    /// The apply makes a user namespace here.
    pub rootless: bool,
    /// Every host path the plan names, in plan order (each once).
    pub paths: Vec<HostPathReport>,
    /// What will fail (errors) or go otherwise than written (warnings).
    pub diags: Vec<Diag>,
}

/// What doctor found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The kernel's and host's answers.
    pub facts: Facts,
    /// Problems without a plan: what every apply needs and this host lacks.
    pub host_errors: Vec<String>,
    /// The plan's part.
    pub plan: Option<PlanReport>,
}

impl Report {
    /// True when nothing will certainly fail: exit status 0.
    pub fn can_apply(&self) -> bool {
        self.host_errors.is_empty()
            && self
                .plan
                .as_ref()
                .is_none_or(|p| !p.diags.iter().any(Diag::is_error))
    }
}

/// The report without a plan.
pub fn host_report(facts: Facts) -> Report {
    let host_errors = host_errors(&facts);
    Report {
        facts,
        host_errors,
        plan: None,
    }
}

fn host_errors(f: &Facts) -> Vec<String> {
    let mut v = Vec::new();
    for (name, a) in &f.mount_api {
        if let Answer::No { call, errno } = a {
            if *errno == Errno::ENOSYS {
                v.push(format!(
                    "the kernel has no `{name}` ({call} => {}): every apply makes its mounts \
                     with the new mount API (Linux 5.2; mount_setattr 5.12)",
                    errno_words(*errno)
                ));
            }
        }
    }
    if v.is_empty() {
        if let Answer::No { call, errno } = &f.mount_api_here {
            v.push(format!(
                "the new mount API does not work here{}: {call} => {}",
                if f.rootless {
                    " as a rootless apply uses it"
                } else {
                    ""
                },
                errno_words(*errno)
            ));
        }
    }
    v
}

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

/// The report with a plan. `facts.rootless` must be what [`crate::exec::wants_userns`] says
/// of the plan.
pub fn plan_report(facts: Facts, dag: &Dag, host: &mut dyn HostFacts) -> Report {
    let host_errors = host_errors(&facts);
    let plan = judge(&facts, dag, host);
    Report {
        facts,
        host_errors,
        plan: Some(plan),
    }
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
fn judge(facts: &Facts, dag: &Dag, host: &mut dyn HostFacts) -> PlanReport {
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

fn answer_text(a: &Answer) -> String {
    match a {
        Answer::Yes => "yes".into(),
        Answer::No { call, errno } => format!("no: {call} => {}", errno_words(*errno)),
    }
}

fn sysctl_meaning(name: &str, v: Option<&str>) -> String {
    match (name, v) {
        (_, None) => "(not on this kernel)".into(),
        ("dev.tty.legacy_tiocsti", Some("1")) => "1: TIOCSTI works: a command run with \
            --keep-terminal could push input into the caller's terminal (without it, \
            mountplan runs the command in a new session)"
            .into(),
        ("dev.tty.legacy_tiocsti", Some("0")) => {
            "0: TIOCSTI is refused (but to CAP_SYS_ADMIN)".into()
        }
        ("kernel.unprivileged_userns_clone", Some("0")) => {
            "0: unprivileged users may not make user namespaces".into()
        }
        ("kernel.apparmor_restrict_unprivileged_userns", Some("1")) => {
            "1: AppArmor keeps unprivileged user namespaces from gaining capabilities \
             (unless a profile allows it)"
                .into()
        }
        ("user.max_user_namespaces" | "user.max_mnt_namespaces", Some("0")) => {
            "0: none may be made".into()
        }
        (_, Some(v)) => v.to_string(),
    }
}

/// The report for people. `diags` is the plan's diagnostics, rendered.
pub fn text(r: &Report, plan_file: Option<&str>, diags: &str) -> String {
    let f = &r.facts;
    let mut o = format!(
        "mountplan doctor: Linux {} {}, uid {}{}\n\nkernel\n",
        f.kernel.0,
        f.kernel.1,
        f.uid,
        if f.initial_userns {
            ""
        } else {
            " (in a user namespace: the host's mounts are locked as for a rootless apply)"
        }
    );
    let mut row = |k: &str, v: String| o.push_str(&format!("  {k:<30} {v}\n"));
    row("openat2", answer_text(&f.openat2));
    let missing: Vec<String> = f
        .mount_api
        .iter()
        .filter(|(_, a)| !a.yes())
        .map(|(n, a)| format!("{n} ({})", answer_text(a)))
        .collect();
    let names: Vec<&str> = f.mount_api.iter().map(|(n, _)| *n).collect();
    row(
        "new mount API",
        if missing.is_empty() {
            format!("yes: {}", names.join(", "))
        } else {
            format!("no: {}", missing.join("; "))
        },
    );
    row(
        if f.rootless {
            "  as a rootless apply uses it"
        } else {
            "  as an apply uses it"
        },
        answer_text(&f.mount_api_here),
    );
    row("statmount", answer_text(&f.statmount));
    row("listmount", answer_text(&f.listmount));
    if let Some((t, a)) = &f.idmap_root {
        row(&format!("idmapped binds ({t}, /)"), answer_text(a));
    }
    o.push_str("\nuser namespaces\n");
    let mut row = |k: &str, v: String| o.push_str(&format!("  {k:<44} {v}\n"));
    row(
        if f.uid == 0 {
            "unprivileged (tried as uid 65534)"
        } else {
            "unprivileged (tried as the caller)"
        },
        answer_text(&f.userns),
    );
    for (k, v) in &f.sysctls {
        if *k == "dev.tty.legacy_tiocsti" {
            continue;
        }
        row(k, sysctl_meaning(k, v.as_deref()));
    }
    o.push_str("\nterminal\n");
    for (k, v) in &f.sysctls {
        if *k == "dev.tty.legacy_tiocsti" {
            o.push_str(&format!("  {k:<30} {}\n", sysctl_meaning(k, v.as_deref())));
        }
    }
    for e in &r.host_errors {
        o.push_str(&format!("\nerror: {e}\n"));
    }
    if let Some(p) = &r.plan {
        o.push_str(&format!(
            "\nplan {} ({}), {}\n",
            plan_file.unwrap_or("?"),
            p.name,
            if p.rootless {
                "applied rootless here: in a user namespace of its own"
            } else {
                "applied as root here: no user namespace"
            }
        ));
        if p.paths.is_empty() {
            o.push_str("  host paths: none\n");
        } else {
            o.push_str("  host paths\n");
        }
        for h in &p.paths {
            let what = match (&h.facts.dir, &h.facts.mount) {
                (Err(e), _) => format!("cannot be opened: {}", errno_words(*e)),
                (Ok(d), Some((mp, t, opts))) => format!(
                    "{} on {t} (the mount at {mp}: {opts})",
                    if *d { "a directory" } else { "a file" }
                ),
                (Ok(d), None) => (if *d { "a directory" } else { "a file" }).to_string(),
            };
            let steps = if h.steps.is_empty() {
                String::new()
            } else {
                format!(" (step {})", h.steps.join(", "))
            };
            o.push_str(&format!("    {}: {}{steps}: {what}\n", h.path, h.role));
            if let Some(a) = &h.idmap {
                o.push_str(&format!("      idmapped bind: {}\n", answer_text(a)));
            }
            if !h.locked.is_empty() {
                o.push_str(&format!(
                    "      locked in a user namespace: {}\n",
                    h.locked.join(", ")
                ));
            }
        }
        // Idmapped binds per filesystem type.
        let mut by_type: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for h in &p.paths {
            if let (Some(a), Some((_, t, _))) = (&h.idmap, &h.facts.mount) {
                by_type
                    .entry(format!("{t}: {}", answer_text(a)))
                    .or_default()
                    .push(h.path.clone());
            }
        }
        if !by_type.is_empty() {
            o.push_str("  idmapped binds, per filesystem type\n");
            for (k, v) in by_type {
                o.push_str(&format!("    {k} ({})\n", v.join(", ")));
            }
        }
        if !diags.is_empty() {
            o.push('\n');
            o.push_str(diags);
        }
    }
    let errors = r
        .plan
        .as_ref()
        .map(|p| p.diags.iter().filter(|d| d.is_error()).count())
        .unwrap_or(0);
    let warnings = r
        .plan
        .as_ref()
        .map(|p| {
            p.diags
                .iter()
                .filter(|d| d.severity == Severity::Warning)
                .count()
        })
        .unwrap_or(0);
    o.push_str(&match (&r.plan, r.can_apply()) {
        (Some(_), true) if warnings == 0 => "\nverdict: the plan can apply here\n".to_string(),
        (Some(_), true) => format!(
            "\nverdict: the plan can apply here, with {warnings} warning{}\n",
            if warnings == 1 { "" } else { "s" }
        ),
        (Some(_), false) => format!(
            "\nverdict: the plan will fail here: {} certain failure{}\n",
            errors + r.host_errors.len(),
            if errors + r.host_errors.len() == 1 {
                ""
            } else {
                "s"
            }
        ),
        (None, true) => "\nverdict: this host can apply plans\n".to_string(),
        (None, false) => "\nverdict: no plan can apply here\n".to_string(),
    });
    o
}

fn answer_json(name: &str, a: &Answer) -> serde_json::Value {
    match a {
        Answer::Yes => {
            serde_json::json!({"name": name, "ok": true, "call": null, "errno": null, "errno_text": null})
        }
        Answer::No { call, errno } => serde_json::json!({
            "name": name, "ok": false, "call": call, "errno": format!("{errno:?}"),
            "errno_text": errno.desc(),
        }),
    }
}

/// The report for scripts (see docs/json.md). `diags` is the plan's diagnostics as
/// [`crate::diag::json`] gives them.
pub fn json(r: &Report, plan_file: Option<&str>, diags: serde_json::Value) -> serde_json::Value {
    let f = &r.facts;
    let mut checks = vec![answer_json("openat2", &f.openat2)];
    for (n, a) in &f.mount_api {
        checks.push(answer_json(n, a));
    }
    checks.push(answer_json("mount_api_here", &f.mount_api_here));
    checks.push(answer_json("statmount", &f.statmount));
    checks.push(answer_json("listmount", &f.listmount));
    checks.push(answer_json("unprivileged_userns", &f.userns));
    let sysctls: serde_json::Map<String, serde_json::Value> = f
        .sysctls
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone().into()))
        .collect();
    let plan = r.plan.as_ref().map(|p| {
        let paths: Vec<serde_json::Value> = p
            .paths
            .iter()
            .map(|h| {
                serde_json::json!({
                    "path": h.path,
                    "role": h.role,
                    "steps": h.steps,
                    "exists": h.facts.dir.is_ok(),
                    "dir": h.facts.dir.as_ref().ok(),
                    "errno": h.facts.dir.as_ref().err().map(|e| format!("{e:?}")),
                    "mount": h.facts.mount.as_ref().map(|(mp, t, o)| serde_json::json!({
                        "mountpoint": mp, "fstype": t, "options": o,
                    })),
                    "idmap": h.idmap.as_ref().map(|a| answer_json("idmap", a)),
                    "locked": h.locked,
                })
            })
            .collect();
        serde_json::json!({
            "file": plan_file,
            "name": p.name,
            "rootless": p.rootless,
            "host_paths": paths,
            "diagnostics": diags["diagnostics"].clone(),
        })
    });
    serde_json::json!({
        "format_version": 1,
        "kernel": {"release": f.kernel.0, "machine": f.kernel.1},
        "uid": f.uid,
        "initial_user_namespace": f.initial_userns,
        "rootless": f.rootless,
        "checks": checks,
        "sysctls": sysctls,
        "idmap_root": f.idmap_root.as_ref().map(|(t, a)| {
            let mut v = answer_json("idmap", a);
            v["fstype"] = t.clone().into();
            v
        }),
        "host_errors": r.host_errors,
        "plan": plan,
        "can_apply": r.can_apply(),
    })
}

#[cfg(test)]
mod tests;
