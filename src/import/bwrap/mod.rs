//! `import bwrap`: takes a bubblewrap (0.8) command line; returns the plan that builds the same
//! sandbox, each option as bwrap carries it out.
//!
//! bwrap's own ways, written out as steps: the root is a tmpfs (`nosuid,nodev`) unless the
//! first option binds something onto `/`; every bind is recursive and adds `nosuid` and
//! `nodev` (`--dev-bind`: `nosuid` only; `--ro-bind`: `ro` too) to every mount it brings;
//! missing parents of a destination are made (mode 0755, narrowed by `--perms`); `--proc`
//! makes `sysrq-trigger`, `irq` and `bus` read-only (never `sys`: the kernel refuses the
//! write access bwrap asks first); `--dev` is a tmpfs with the host's six basic nodes bound
//! in, the `/proc/self/fd` links, `core`, `shm`, a private devpts and the `ptmx` link. The
//! [`dev_steps`] and [`proc_steps`] expansions are the ones `export bwrap` recognises.
//!
//! The files, by job: `expansions.rs` holds the steps of `--dev` and `--proc` and the flags
//! of each bind (shared with `export bwrap`), `state.rs` what the importer knows of the new
//! root so far (and the small parsers of option arguments); this file reads the options in
//! bwrap's order.

mod expansions;
mod state;

use std::collections::BTreeSet;

pub use self::expansions::{DEV_NODES, PROC_COVERED, bind_words, dev_steps, proc_steps};

use self::expansions::join;
use self::state::{Env, State, add_words, dest, octal, plan_words};
use super::writer::{Plan, Step, Value};
use super::{Host, ImportError, Imported, mode_str, shell_word};
use crate::model::CAP_NAMES;

/// Imports bwrap's arguments `args` (as they follow `bwrap`) into a plan whose `#:schema`
/// comment names `schema`.
pub fn import(args: &[String], schema: &str, host: &dyn Host) -> Result<Imported, ImportError> {
    let mut st = State {
        host,
        plan: Plan::new(schema),
        notes: Vec::new(),
        known: ["/".to_string()].into(),
        root_dir: None,
        flags: vec![("/".into(), vec!["nosuid".into(), "nodev".into()])],
        perms: None,
        size: None,
        started: false,
    };
    st.plan.header = vec![
        "Imported from a bubblewrap command line by `mountplan import bwrap`: each option as"
            .into(),
        "bwrap 0.8 carries it out. `mountplan apply` this plan `-- COMMAND`.".into(),
    ];
    let mut ns: Vec<(&str, bool)> = Vec::new();
    let mut userns: Option<&str> = None;
    let mut env: Vec<(String, Env)> = Vec::new();
    let mut clearenv = false;
    let mut caps: Option<BTreeSet<String>> = None;
    let mut new_session = false;
    let mut die_with_parent = false;
    let all_caps =
        || -> BTreeSet<String> { CAP_NAMES.iter().map(|n| format!("CAP_{n}")).collect() };
    let mut i = 0;
    let mut command: Vec<String> = Vec::new();
    // First pass for what changes the meaning of earlier options: the pid namespace (--proc).
    let pidns = args
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--unshare-pid" || a == "--unshare-all");
    let take = |i: &mut usize, n: usize, opt: &str| -> Result<Vec<String>, ImportError> {
        if *i + n >= args.len() {
            return Err(ImportError::new(
                format!("{opt} takes {n} argument(s)"),
                format!("give {opt} its argument(s), as `bwrap --help` shows"),
            ));
        }
        let v = args[*i + 1..*i + 1 + n].to_vec();
        *i += n;
        Ok(v)
    };
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--" {
            command = args[i + 1..].to_vec();
            break;
        }
        if !a.starts_with("--") {
            command = args[i..].to_vec();
            break;
        }
        let perms = st.perms.take();
        let size = st.size.take();
        match a {
            "--bind" | "--ro-bind" | "--dev-bind" | "--bind-try" | "--ro-bind-try"
            | "--dev-bind-try" | "--bind-fd" | "--ro-bind-fd" => {
                let v = take(&mut i, 2, a)?;
                let kind = a.trim_end_matches("-try");
                let (src, kind) = if kind.ends_with("-fd") {
                    let fd: i32 = v[0].parse().map_err(|_| {
                        ImportError::new(
                            format!("{a} `{}`: not a descriptor number", v[0]),
                            "give the number of an open descriptor",
                        )
                    })?;
                    let p = host.fd_path(fd).ok_or_else(|| {
                        ImportError::new(
                            format!("{a} {fd}: descriptor {fd} is not open here"),
                            "run the import with the same descriptors open as bwrap would have, \
                             or give the path with --bind",
                        )
                    })?;
                    st.notes.push(format!(
                        "{a} {fd} {}: imported as a bind of {p}, the path descriptor {fd} is \
                         open on now (a plan names paths, not descriptors)",
                        v[1]
                    ));
                    (
                        p,
                        if kind == "--ro-bind-fd" {
                            "--ro-bind"
                        } else {
                            "--bind"
                        },
                    )
                } else {
                    (v[0].clone(), kind)
                };
                let d = dest(&v[1], a)?;
                if a.ends_with("-try") {
                    if !host.exists(&src) {
                        st.notes.push(format!(
                            "{a} {src} {d}: {src} does not exist here, so bwrap skips it; so \
                             does the plan"
                        ));
                        i += 1;
                        continue;
                    }
                    st.notes.push(format!(
                        "{a} {src} {d}: {src} exists here, so it is imported as {kind}"
                    ));
                }
                let src = super::absolute(std::path::Path::new("/"), &src);
                let words = bind_words(kind);
                if d == "/" {
                    if st.started {
                        return Err(ImportError::new(
                            format!("{a} {src} /: a bind onto / after other options"),
                            "put the bind onto / first: the plan's root is that directory",
                        ));
                    }
                    st.plan.vars.set("ROOTFS", Value::Var(src.clone()));
                    st.plan.root.set("path", Value::Var("${ROOTFS}".into()));
                    let mut w = words.clone();
                    w.push("rec".into());
                    st.plan.step(
                        Step::new("remount")
                            .s("target", "/")
                            .set("options", Value::Strs(w))
                            .comment(format!("{kind} {src} /")),
                    );
                    st.root_dir = Some(src.clone());
                    let mut base = host.mount_options(&src).unwrap_or_default();
                    add_words(&mut base, &words);
                    st.flags = vec![("/".into(), base)];
                } else {
                    st.parents(&d, None);
                    let mut s = Step::new("mount")
                        .s("type", "rbind")
                        .s("source", src.clone())
                        .s("target", d.clone())
                        .set("options", Value::Strs(words.clone()));
                    if host.exists(&src) && host.is_file(&src) {
                        s = s.s("create", "file");
                    }
                    st.plan.step(s);
                    let mut base = host.mount_options(&src).unwrap_or_default();
                    add_words(&mut base, &words);
                    st.mounted(&d, base);
                }
            }
            "--remount-ro" => {
                let v = take(&mut i, 1, a)?;
                let d = dest(&v[0], a)?;
                let mut w = st
                    .flags
                    .iter()
                    .rev()
                    .find(|(p, _)| *p == d)
                    .map(|(_, w)| w.clone())
                    .unwrap_or_default();
                add_words(&mut w, &["ro".to_string()]);
                let words = plan_words(&w);
                st.plan.step(
                    Step::new("remount")
                        .s("target", d.clone())
                        .set("options", Value::Strs(words))
                        .comment(format!(
                            "--remount-ro {d}: read-only, the mount's other flags kept"
                        )),
                );
                st.mounted(&d, w);
            }
            "--proc" => {
                let v = take(&mut i, 1, a)?;
                let d = dest(&v[0], a)?;
                st.parents(&d, None);
                for s in proc_steps(&d, pidns) {
                    st.plan.step(s);
                }
                st.mounted(&d, vec!["nosuid".into(), "nodev".into(), "noexec".into()]);
            }
            "--dev" => {
                let v = take(&mut i, 1, a)?;
                let d = dest(&v[0], a)?;
                st.parents(&d, None);
                for s in dev_steps(&d) {
                    st.plan.step(s);
                }
                st.notes.push(format!(
                    "--dev {d}: bwrap also binds the terminal of its stdout onto {d}/console \
                     when that is a tty; the plan does not"
                ));
                st.mounted(&d, vec!["nosuid".into(), "nodev".into()]);
                st.known.insert(join(&d, "pts"));
                st.known.insert(join(&d, "shm"));
            }
            "--tmpfs" => {
                let v = take(&mut i, 1, a)?;
                let d = dest(&v[0], a)?;
                st.parents(&d, perms);
                let mut s = Step::new("mount")
                    .s("type", "tmpfs")
                    .s("target", d.clone())
                    .set(
                        "options",
                        Value::Strs(vec!["nosuid".into(), "nodev".into()]),
                    )
                    .s("mode", mode_str(perms.unwrap_or(0o755)));
                if let Some(sz) = size {
                    s = s.set("size", Value::Int(sz as i64));
                }
                st.plan.step(s);
                st.mounted(&d, vec!["nosuid".into(), "nodev".into()]);
            }
            "--mqueue" => {
                let v = take(&mut i, 1, a)?;
                let d = dest(&v[0], a)?;
                st.parents(&d, None);
                st.plan.step(
                    Step::new("mount")
                        .s("type", "mqueue")
                        .s("target", d.clone()),
                );
                st.mounted(&d, Vec::new());
            }
            "--dir" => {
                let v = take(&mut i, 1, a)?;
                let d = dest(&v[0], a)?;
                st.parents(&d, perms);
                let mut s = Step::new("mkdir")
                    .s("path", d.clone())
                    .set("parents", Value::Bool(true));
                if let Some(p) = perms.filter(|p| *p != 0o755) {
                    s = s.s("mode", mode_str(p));
                }
                st.plan.step(s);
                st.known.insert(d);
            }
            "--symlink" => {
                let v = take(&mut i, 2, a)?;
                let d = dest(&v[1], a)?;
                st.parents(&d, None);
                st.plan
                    .step(Step::new("symlink").s("path", d).s("to", v[0].clone()));
            }
            "--chmod" => {
                let v = take(&mut i, 2, a)?;
                let m = octal(&v[0], a)?;
                let d = dest(&v[1], a)?;
                st.plan
                    .step(Step::new("chmod").s("path", d).s("mode", mode_str(m)));
            }
            "--perms" => {
                let v = take(&mut i, 1, a)?;
                st.perms = Some(octal(&v[0], a)?);
                st.size = size;
                i += 1;
                continue;
            }
            "--size" => {
                let v = take(&mut i, 1, a)?;
                let n: u64 = v[0].parse().map_err(|_| {
                    ImportError::new(
                        format!("--size `{}`: not a number of bytes", v[0]),
                        "give the tmpfs size in bytes, then --tmpfs",
                    )
                })?;
                st.size = Some(n);
                st.perms = perms;
                i += 1;
                continue;
            }
            "--unshare-user" => userns = Some("user"),
            "--unshare-user-try" => userns = Some("try"),
            "--unshare-ipc" => ns.push(("ipc", true)),
            "--unshare-pid" => ns.push(("pid", true)),
            "--unshare-net" => ns.push(("net", true)),
            "--unshare-uts" => ns.push(("uts", true)),
            "--unshare-cgroup" => ns.push(("cgroup", true)),
            "--unshare-cgroup-try" => {
                ns.push(("cgroup", true));
                st.notes.push(
                    "--unshare-cgroup-try: imported as a cgroup namespace (the apply fails \
                     where one cannot be made)"
                        .into(),
                );
            }
            "--unshare-all" => {
                userns = userns.or(Some("try"));
                for n in ["ipc", "pid", "net", "uts", "cgroup"] {
                    ns.push((n, true));
                }
            }
            "--share-net" => ns.push(("net", false)),
            "--uid" | "--gid" => {
                let v = take(&mut i, 1, a)?;
                let n: i64 = v[0].parse().map_err(|_| {
                    ImportError::new(format!("{a} `{}`: not a number", v[0]), "give a number")
                })?;
                st.plan.process.set(&a[2..], Value::Int(n));
            }
            "--hostname" => {
                let v = take(&mut i, 1, a)?;
                st.plan.process.set("hostname", Value::str(v[0].clone()));
            }
            "--chdir" => {
                let v = take(&mut i, 1, a)?;
                st.plan.process.set("cwd", Value::str(v[0].clone()));
            }
            "--setenv" => {
                let v = take(&mut i, 2, a)?;
                env.retain(|(k, _)| *k != v[0]);
                env.push((v[0].clone(), Env::Set(v[1].clone())));
            }
            "--unsetenv" => {
                let v = take(&mut i, 1, a)?;
                env.retain(|(k, _)| *k != v[0]);
                env.push((v[0].clone(), Env::Unset));
            }
            "--clearenv" => {
                clearenv = true;
                env.clear();
            }
            "--cap-add" | "--cap-drop" => {
                let v = take(&mut i, 1, a)?;
                let set = caps.get_or_insert_with(|| {
                    if host.is_root() {
                        host.caps()
                    } else {
                        BTreeSet::new()
                    }
                });
                let upper = v[0].to_ascii_uppercase();
                if upper == "ALL" {
                    *set = if a == "--cap-add" {
                        host.caps()
                    } else {
                        BTreeSet::new()
                    };
                } else {
                    let name = if upper.starts_with("CAP_") {
                        upper
                    } else {
                        format!("CAP_{upper}")
                    };
                    if !all_caps().contains(&name) {
                        return Err(ImportError::new(
                            format!("{a} `{}`: not a capability", v[0]),
                            "give a name such as CAP_NET_ADMIN, or ALL",
                        ));
                    }
                    if a == "--cap-add" {
                        set.insert(name);
                    } else {
                        set.remove(&name);
                    }
                }
            }
            "--new-session" => new_session = true,
            "--die-with-parent" => die_with_parent = true,
            "--args" => {
                return Err(ImportError::new(
                    "--args FD: the arguments are in a descriptor",
                    "give the arguments themselves after `--` (`xargs -0` can unpack them)",
                ));
            }
            "--file" | "--bind-data" | "--ro-bind-data" => {
                let v = take(&mut i, 2, a)?;
                st.notes.push(format!(
                    "{a} {} {}: not imported: a plan has no step that writes a file's content",
                    v[0], v[1]
                ));
            }
            "--userns" | "--userns2" | "--pidns" => {
                let v = take(&mut i, 1, a)?;
                st.notes.push(format!(
                    "{a} {}: not imported: a plan makes new namespaces, it joins none",
                    v[0]
                ));
            }
            "--seccomp" | "--add-seccomp-fd" | "--lock-file" | "--sync-fd" | "--block-fd"
            | "--userns-block-fd" | "--info-fd" | "--json-status-fd" | "--exec-label"
            | "--file-label" | "--argv0" => {
                let v = take(&mut i, 1, a)?;
                st.notes.push(format!(
                    "{a} {}: not imported: not part of a mount plan",
                    v[0]
                ));
            }
            "--disable-userns" | "--assert-userns-disabled" | "--as-pid-1" => {
                st.notes
                    .push(format!("{a}: not imported: a plan has no such setting"));
            }
            other => {
                return Err(ImportError::new(
                    format!("`{other}` is not a bubblewrap 0.8 option"),
                    "see `bwrap --help` for the options",
                ));
            }
        }
        if perms.is_some() && !matches!(a, "--dir" | "--tmpfs") {
            st.notes.push(format!(
                "--perms before {a}: bwrap uses it only for --dir, --tmpfs and files; ignored"
            ));
        }
        if size.is_some() && a != "--tmpfs" {
            return Err(ImportError::new(
                format!("--size before {a}: bwrap takes --size only before --tmpfs"),
                "put --size SIZE right before --tmpfs DEST",
            ));
        }
        if a.starts_with("--bind")
            || a.starts_with("--ro-bind")
            || a.starts_with("--dev-bind")
            || matches!(
                a,
                "--remount-ro"
                    | "--proc"
                    | "--dev"
                    | "--tmpfs"
                    | "--mqueue"
                    | "--dir"
                    | "--symlink"
                    | "--chmod"
            )
        {
            st.started = true;
        }
        i += 1;
    }
    if st.root_dir.is_none() {
        st.plan.root_tmpfs = Some(Default::default());
    }
    match userns {
        Some("user") => {
            st.plan.namespaces.set("user", Value::Bool(true));
        }
        Some(_) => st.notes.push(
            "--unshare-user-try: imported as `user = \"auto\"` (a user namespace when not \
             root)"
                .into(),
        ),
        None => {}
    }
    let mut set = |k: &str, v: bool| {
        st.plan.namespaces.set(k, Value::Bool(v));
    };
    for k in ["pid", "ipc", "uts", "net", "cgroup"] {
        let v = ns
            .iter()
            .rev()
            .find(|(n, _)| *n == k)
            .is_some_and(|(_, v)| *v);
        set(k, v);
    }
    let mut unset = Vec::new();
    for (k, e) in env {
        match e {
            Env::Set(v) => {
                st.plan.env_set.set(&k, Value::Str(v));
            }
            Env::Unset if !clearenv => unset.push(k),
            Env::Unset => {}
        }
    }
    if clearenv {
        st.plan.env.set("clear", Value::Bool(true));
    }
    if !unset.is_empty() {
        unset.sort();
        st.plan.env.set("unset", Value::Strs(unset));
    }
    let caps = caps.unwrap_or_else(|| {
        if host.is_root() {
            host.caps()
        } else {
            BTreeSet::new()
        }
    });
    if host.is_root() && caps == host.caps() {
        st.plan.process.set("capabilities", Value::str("all"));
    } else {
        st.plan
            .process
            .set("capabilities", Value::Strs(caps.into_iter().collect()));
    }
    if st.plan.process.get("cwd").is_none() {
        st.notes.push(
            "no --chdir: bwrap starts the command in the caller's directory when the sandbox \
             has it, the plan in /"
                .into(),
        );
    }
    if !new_session {
        st.notes.push(
            "no --new-session: bwrap keeps the caller's terminal session; `mountplan apply` \
             does with --keep-terminal"
                .into(),
        );
    }
    if !die_with_parent {
        st.notes
            .push("no --die-with-parent: the plan's command always dies with mountplan".into());
    }
    if !command.is_empty() {
        let line: Vec<String> = command.iter().map(|a| shell_word(a)).collect();
        st.notes.push(format!(
            "the command: run `mountplan apply PLAN -- {}`",
            line.join(" ")
        ));
    }
    st.plan.step(Step::new("pivot").s("strategy", "pivot-root"));
    Ok(Imported {
        text: st.plan.text(),
        notes: st.notes,
    })
}
