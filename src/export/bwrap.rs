//! `export bwrap`: takes a validated plan; returns the bubblewrap (0.8) arguments that build
//! the same sandbox, and a note for each thing of the plan bwrap cannot do.
//!
//! The groups of steps `import bwrap` writes for `--dev` and `--proc`
//! ([`crate::import::bwrap::dev_steps`], [`crate::import::bwrap::proc_steps`]) are found
//! again and given back as the one option; a `mkdir` of the parent right before a step on a
//! path below it (bwrap makes parents itself) is left out. So the export of an import gives
//! the same options, normalised: namespaces, then the root, the filesystem options in plan
//! order, then the process options (`--uid`, `--gid`, `--hostname`, `--chdir`, `--clearenv`,
//! `--unsetenv`, `--setenv` sorted by name, `--cap-drop ALL --cap-add ...` unless the plan
//! keeps every capability) and `--new-session --die-with-parent`, which is how mountplan runs
//! every command.

use crate::import::bwrap::{DEV_NODES, PROC_COVERED};
use crate::model::{
    Action, CapsAsked, Create, FsKind, MsFlags, NodeType, PivotStrategy, Plan, Root, Size, Step,
    UserNs,
};

/// What an export gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// bwrap's arguments (without `bwrap` and the command).
    pub args: Vec<String>,
    /// What bwrap cannot do as the plan does, one line each.
    pub notes: Vec<String>,
}

const NS: MsFlags = MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV);

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The per-mount flags of a mount step, without MS_REC.
fn flags_of(f: MsFlags) -> MsFlags {
    f - MsFlags::MS_REC
}

/// `--dev D`'s sixteen steps at `i`: returns D.
fn dev_group(steps: &[Step], i: usize) -> Option<String> {
    let s = steps.get(i..i + 16)?;
    let Action::Mount(m) = &s[0].action else {
        return None;
    };
    let FsKind::Tmpfs(t) = &m.fs else { return None };
    if flags_of(m.flags) != NS
        || t.mode.map(|m| m.bits()) != Some(0o755)
        || t.size.is_some()
        || t.nr_inodes.is_some()
        || t.uid.is_some()
        || t.gid.is_some()
    {
        return None;
    }
    let d = m.target.as_str().to_string();
    for (k, n) in DEV_NODES.iter().enumerate() {
        let Action::Mount(b) = &s[1 + k].action else {
            return None;
        };
        let FsKind::Bind { source, recursive } = &b.fs else {
            return None;
        };
        if source.as_str() != format!("/dev/{n}")
            || !recursive
            || b.target.as_str() != join(&d, n)
            || flags_of(b.flags) != MsFlags::MS_NOSUID
            || b.create != Create::File
        {
            return None;
        }
    }
    let links = [
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("fd", "/proc/self/fd"),
        ("core", "/proc/kcore"),
    ];
    for (k, (n, to)) in links.iter().enumerate() {
        let Action::Symlink(l) = &s[7 + k].action else {
            return None;
        };
        if l.path.as_str() != join(&d, n) || l.to != *to {
            return None;
        }
    }
    for (k, n) in ["shm", "pts"].iter().enumerate() {
        let Action::Mkdir(m) = &s[12 + k].action else {
            return None;
        };
        if m.path.as_str() != join(&d, n) || m.mode.bits() != 0o755 {
            return None;
        }
    }
    let Action::Mount(p) = &s[14].action else {
        return None;
    };
    let FsKind::Devpts(o) = &p.fs else {
        return None;
    };
    if p.target.as_str() != join(&d, "pts")
        || flags_of(p.flags) != MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC
        || !o.newinstance
        || o.ptmxmode.map(|m| m.bits()) != Some(0o666)
        || o.mode.map(|m| m.bits()) != Some(0o620)
        || o.uid.is_some()
        || o.gid.is_some()
    {
        return None;
    }
    let Action::Symlink(l) = &s[15].action else {
        return None;
    };
    (l.path.as_str() == join(&d, "ptmx") && l.to == "pts/ptmx").then_some(d)
}

/// The readonly steps `--proc D` makes by itself, right after `i`: how many there are.
fn proc_covered(steps: &[Step], i: usize, d: &str) -> usize {
    let mut n = 0;
    for c in PROC_COVERED {
        match steps.get(i + 1 + n).map(|s| &s.action) {
            Some(Action::Readonly(r)) if r.path.as_str() == join(d, c) => n += 1,
            _ => break,
        }
    }
    n
}

/// The bwrap bind option for a recursive bind that adds `f`.
fn bind_option(f: MsFlags) -> (&'static str, Option<String>) {
    let opt = if f.contains(MsFlags::MS_RDONLY) {
        "--ro-bind"
    } else if f.contains(MsFlags::MS_NODEV) {
        "--bind"
    } else {
        "--dev-bind"
    };
    let gives = match opt {
        "--ro-bind" => MsFlags::MS_RDONLY | NS,
        "--bind" => NS,
        _ => MsFlags::MS_NOSUID,
    };
    let why = (f != gives).then(|| {
        format!(
            "bwrap's {opt} adds exactly {} (the plan: {})",
            crate::model::option_words(gives)
                .collect::<Vec<_>>()
                .join(","),
            crate::model::option_words(f).collect::<Vec<_>>().join(",")
        )
    });
    (opt, why)
}

/// The path a step makes or mounts on (for the implicit parents).
fn dest(a: &Action) -> Option<&str> {
    match a {
        Action::Mount(m) => Some(m.target.as_str()),
        Action::Mkdir(m) => Some(m.path.as_str()),
        Action::Symlink(m) => Some(m.path.as_str()),
        _ => None,
    }
}

/// Exports `plan`.
pub fn export(plan: &Plan) -> Exported {
    let mut a: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let push = |a: &mut Vec<String>, v: &[&str]| a.extend(v.iter().map(|s| s.to_string()));
    let ns = &plan.namespaces;
    match ns.user {
        UserNs::On => push(&mut a, &["--unshare-user"]),
        UserNs::Auto => {}
        UserNs::Off => notes.push(
            "user = false: bwrap run by a user other than root makes a user namespace anyway"
                .into(),
        ),
    }
    for (on, opt) in [
        (ns.ipc, "--unshare-ipc"),
        (ns.pid, "--unshare-pid"),
        (ns.net, "--unshare-net"),
        (ns.uts, "--unshare-uts"),
        (ns.cgroup, "--unshare-cgroup"),
    ] {
        if on {
            push(&mut a, &[opt]);
        }
    }
    let steps = &plan.steps;
    let mut i = 0;
    match &plan.root {
        Root::Path(p) => {
            let mut f = NS;
            if let Some(Action::Remount(r)) = steps.first().map(|s| &s.action) {
                if r.target.is_root() && r.flags.contains(MsFlags::MS_REC) {
                    f = flags_of(r.flags);
                    i = 1;
                }
            }
            if i == 0 {
                notes.push(format!(
                    "root {p}: bwrap's bind onto / adds nosuid,nodev to every mount of it; \
                     the plan's root keeps the host's flags"
                ));
            }
            let (opt, why) = bind_option(f);
            if let Some(w) = why {
                notes.push(format!("root {p}: {w}"));
            }
            push(&mut a, &[opt, p.as_str(), "/"]);
            notes.push(format!(
                "root {p}: mountplan journals what it makes in this host directory and rolls \
                 it back on failure (recover after a kill); bwrap makes it for good"
            ));
        }
        Root::Tmpfs(t) => {
            if *t != Default::default() {
                notes.push(
                    "[root] tmpfs options: bwrap's root tmpfs takes none; they are not exported"
                        .into(),
                );
            }
        }
    }
    while i < steps.len() {
        let s = &steps[i];
        let id = s.id.as_str();
        if let Some(d) = dev_group(steps, i) {
            push(&mut a, &["--dev", &d]);
            i += 16;
            continue;
        }
        match &s.action {
            Action::Mount(m) => {
                let t = m.target.as_str();
                let f = flags_of(m.flags);
                match &m.fs {
                    FsKind::Bind { source, recursive } => {
                        if !recursive {
                            notes.push(format!(
                                "step `{id}`: bwrap binds recursively; the plan's bind of {source} \
                                 is not"
                            ));
                        }
                        if !ns.pid && source.as_str() == "/proc" && f == NS {
                            let n = proc_covered(steps, i, t);
                            push(&mut a, &["--proc", t]);
                            i += 1 + n;
                            continue;
                        }
                        let (opt, why) = bind_option(f);
                        if let Some(w) = why {
                            notes.push(format!("step `{id}`: {w}"));
                        }
                        push(&mut a, &[opt, source.as_str(), t]);
                    }
                    FsKind::Tmpfs(o) => {
                        if f != NS {
                            notes.push(format!(
                                "step `{id}`: bwrap's tmpfs is nosuid,nodev; the plan's flags \
                                 differ"
                            ));
                        }
                        let mode = o.mode.map(|m| m.bits()).unwrap_or(0o1777);
                        if mode != 0o755 {
                            push(&mut a, &["--perms", &format!("{mode:04o}")]);
                        }
                        match o.size {
                            Some(Size::Bytes(b)) => push(&mut a, &["--size", &b.to_string()]),
                            Some(Size::Percent(p)) => notes.push(format!(
                                "step `{id}`: size {p}% is not exported (bwrap takes bytes)"
                            )),
                            None => {}
                        }
                        if o.nr_inodes.is_some() || o.uid.is_some() || o.gid.is_some() {
                            notes.push(format!(
                                "step `{id}`: tmpfs nr_inodes, uid and gid are not exported"
                            ));
                        }
                        push(&mut a, &["--tmpfs", t]);
                    }
                    FsKind::Proc => {
                        let n = proc_covered(steps, i, t);
                        if n < PROC_COVERED.len() {
                            notes.push(format!(
                                "step `{id}`: bwrap's --proc also makes {t}/sysrq-trigger, irq \
                                 and bus read-only"
                            ));
                        }
                        if !ns.pid {
                            notes.push(format!(
                                "step `{id}`: without a pid namespace bwrap's --proc binds the \
                                 host's /proc"
                            ));
                        }
                        push(&mut a, &["--proc", t]);
                        i += 1 + n;
                        continue;
                    }
                    FsKind::Mqueue => push(&mut a, &["--mqueue", t]),
                    other => notes.push(format!(
                        "step `{id}`: not exported: bwrap 0.8 cannot mount {} (it has \
                         tmpfs, proc, mqueue, the devpts of --dev, and binds; no overlay)",
                        other.fstype()
                    )),
                }
            }
            Action::Remount(r) => {
                if r.flags.contains(MsFlags::MS_RDONLY) && !r.flags.contains(MsFlags::MS_REC) {
                    push(&mut a, &["--remount-ro", r.target.as_str()]);
                } else {
                    notes.push(format!(
                        "step `{id}`: not exported: bwrap only remounts one mount read-only \
                         (--remount-ro)"
                    ));
                }
            }
            Action::Mkdir(m) => {
                let below = steps
                    .get(i + 1)
                    .and_then(|n| dest(&n.action))
                    .is_some_and(|d| d.starts_with(&format!("{}/", m.path.as_str())));
                if !(below && m.mode.bits() == 0o755) {
                    if m.mode.bits() != 0o755 {
                        push(&mut a, &["--perms", &format!("{:04o}", m.mode.bits())]);
                    }
                    push(&mut a, &["--dir", m.path.as_str()]);
                }
            }
            Action::Symlink(l) => push(&mut a, &["--symlink", &l.to, l.path.as_str()]),
            Action::Chmod(c) => {
                if c.uid.is_some() || c.gid.is_some() {
                    notes.push(format!(
                        "step `{id}`: the owner is not exported (bwrap has no chown)"
                    ));
                }
                push(
                    &mut a,
                    &[
                        "--chmod",
                        &format!("{:04o}", c.mode.bits()),
                        c.path.as_str(),
                    ],
                );
            }
            Action::Mknod(n) => notes.push(format!(
                "step `{id}`: not exported: bwrap makes no {} node; `--dev-bind` the host's {}",
                match &n.spec {
                    crate::model::NodeSpec::Given {
                        node: NodeType::Fifo,
                        ..
                    } => "FIFO",
                    _ => "device",
                },
                n.path
            )),
            Action::Mask(m) => notes.push(format!(
                "step `{id}`: not exported: bwrap cannot mask; for a file `--ro-bind /dev/null \
                 {0}`, for a directory `--tmpfs {0} --remount-ro {0}`",
                m.path
            )),
            Action::Readonly(r) => notes.push(format!(
                "step `{id}`: not exported: bwrap cannot make a path read-only in place; \
                 `--remount-ro {}` if it is a mount",
                r.path
            )),
            Action::Propagation(_) => notes.push(format!(
                "step `{id}`: not exported: bwrap has no propagation option"
            )),
            Action::Umount(_) => {
                notes.push(format!("step `{id}`: not exported: bwrap unmounts nothing"))
            }
            Action::Pivot(p) => {
                if p.strategy != PivotStrategy::PivotRoot {
                    notes.push(format!(
                        "step `{id}`: bwrap always uses pivot_root; the plan's strategy is not \
                         exported"
                    ));
                }
            }
        }
        i += 1;
    }
    let p = &plan.process;
    if p.uid != 0 {
        push(&mut a, &["--uid", &p.uid.to_string()]);
    }
    if p.gid != 0 {
        push(&mut a, &["--gid", &p.gid.to_string()]);
    }
    if !p.groups.is_empty() {
        notes.push("groups: not exported (bwrap sets no supplementary groups)".into());
    }
    if let Some(h) = &p.hostname {
        push(&mut a, &["--hostname", h]);
    }
    if p.locs.cwd.is_some() {
        push(&mut a, &["--chdir", p.cwd.as_str()]);
    } else {
        notes.push(
            "no cwd: the plan starts the command in /, bwrap in the caller's directory when \
             the sandbox has it (add --chdir /)"
                .into(),
        );
    }
    if p.env.clear {
        push(&mut a, &["--clearenv"]);
    }
    for k in &p.env.unset {
        push(&mut a, &["--unsetenv", k]);
    }
    for (k, v) in &p.env.set {
        push(&mut a, &["--setenv", k, v]);
    }
    match p.asked {
        CapsAsked::All => notes.push(
            "capabilities = \"all\": bwrap keeps every capability only when root runs it".into(),
        ),
        CapsAsked::Default | CapsAsked::Listed => {
            push(&mut a, &["--cap-drop", "ALL"]);
            for c in p.caps.names() {
                push(&mut a, &["--cap-add", &c]);
            }
            if p.uid != 0 && !p.caps.is_empty() {
                notes.push(
                    "bwrap gives --cap-add only when root runs it, as uid 0 in the sandbox".into(),
                );
            }
        }
    }
    if !p.no_new_privs {
        notes.push("no_new_privileges = false: bwrap always sets no_new_privs".into());
    }
    if p.umask.is_some() {
        notes.push("umask: not exported (bwrap keeps the caller's)".into());
    }
    push(&mut a, &["--new-session", "--die-with-parent"]);
    Exported { args: a, notes }
}
