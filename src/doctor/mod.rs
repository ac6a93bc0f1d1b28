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
//!
//! The files, by job: this one gathers the facts and holds the report's types; `judge.rs`
//! finds the plan's certain failures (the diagnostics); `output.rs` renders a [`Report`] as
//! text or JSON.

mod judge;
mod output;

pub use self::output::{json, text};

use self::judge::judge;

use std::path::Path;

use nix::errno::Errno;

use crate::diag::Diag;
use crate::graph::Dag;
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
        uid: crate::sys::linux::host::euid(),
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
                    "the kernel has no `{name}` ({call} => {}): a plan with `api = \"new\"` \
                     cannot apply here (the new mount API: Linux 5.2; mount_setattr 5.12); \
                     `auto`, the default, and `classic` make its mounts with mount(2)",
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

#[cfg(test)]
mod tests;
