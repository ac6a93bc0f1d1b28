//! Issue 14's "done when": every plan in plans/, on a merged-/usr Debian-like root this test
//! builds (no network: busybox-static in usr/bin, `bin -> usr/bin`, `lib -> usr/lib`...), is
//! applied under `strace -f`, and
//!
//! - the system calls the apply made, in order, are the dry run's json calls (`setup.calls`,
//!   each step's `calls`, its `fallback` when the first strategy failed): each call of the dry
//!   run is the system call (or the few calls) it names, with its flags, modes, names and
//!   fsconfig parameters; a call the dry run gives a condition (`unless ...`, `if ...`,
//!   `when it exists`) may be absent; no other call of those kinds is made;
//! - the mount table the command sees (its /proc/self/mountinfo) is the predicted tree, mount
//!   by mount and parent by parent: fstype, flags, filesystem options, propagation; a
//!   conditional mount may be missing; nothing else is there but what a recursive bind brought
//!   along.
//!
//! Its own matcher and comparison, not the executor's verify: what it checks is what the dry
//! run prints, against what the kernel was asked and shows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use mountplan::graph::{Dag, Mounted, TreeMount};
use mountplan::model::{MsFlags, Propagated};

use crate::support::*;

#[path = "strace_truth/want.rs"]
mod want;
use want::*;
#[path = "strace_truth/calls.rs"]
mod calls;
#[path = "strace_truth/undo.rs"]
mod undo;

/// The system calls traced: every kind a plan's call is made with.
pub const TRACED: &str = "trace=mount,umount2,fsopen,fsconfig,fsmount,move_mount,open_tree,\
                          mount_setattr,pivot_root,chroot,chdir,fchdir,mknodat,symlinkat,\
                          fchownat,fchmodat,fchmod,mkdirat,unlinkat,rmdir,openat,execve";

/// A merged-/usr root as a current Debian has it, with busybox as its programs.
pub fn debian_root(root: &Path) {
    for d in [
        "usr/bin",
        "usr/sbin",
        "usr/lib/x86_64-linux-gnu",
        "usr/lib64",
        "usr/share",
        "etc",
        "var/tmp",
        "var/lib",
        "var/log",
        "tmp",
        "dev",
        "proc",
        "sys",
        "run",
        "mnt",
        "home",
        "root",
        "srv",
        "opt",
        "boot",
        "media",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    for (link, to) in [
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        std::os::unix::fs::symlink(to, root.join(link)).unwrap();
    }
    std::fs::copy(busybox(), root.join("usr/bin/busybox")).unwrap();
    for a in ["sh", "cat", "ls", "stat", "echo", "mount"] {
        std::os::unix::fs::symlink("busybox", root.join("usr/bin").join(a)).unwrap();
    }
    std::fs::write(root.join("etc/hostname"), "debian\n").unwrap();
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/debian_version"), "12.0\n").unwrap();
}

/// One traced system call.
#[derive(Debug, Clone)]
pub struct Traced {
    pub name: String,
    pub line: String,
    pub failed: bool,
}

/// The traced calls of process `pid` (the first to make the setup's first call when `None`),
/// from that call on and up to its execve, with what is not the plan's left out: the
/// journal's files, `openat` without `O_CREAT`, the `fchdir` to /proc before a call through a
/// `self/fd/N` path, and system calls strace has no name for.
pub fn plan_calls(trace: &str, first: &str) -> Vec<Traced> {
    let mut pending: BTreeMap<String, String> = BTreeMap::new();
    let mut lines: Vec<(String, String)> = Vec::new();
    for l in trace.lines() {
        let Some((pid, rest)) = l.split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(p) = rest.strip_suffix("<unfinished ...>") {
            pending.insert(pid.to_string(), p.to_string());
            continue;
        }
        let rest = match (rest.starts_with("<... "), pending.remove(pid)) {
            (true, Some(p)) => format!("{p}{}", &rest[rest.find("resumed>").unwrap() + 8..]),
            _ => rest.to_string(),
        };
        lines.push((pid.to_string(), rest));
    }
    let Some(start) = lines.iter().position(|(_, l)| l.starts_with(first)) else {
        return Vec::new();
    };
    let pid = lines[start].0.clone();
    let mut out: Vec<Traced> = Vec::new();
    for (p, l) in &lines[start..] {
        if *p != pid || l.starts_with("---") || l.starts_with("+++") {
            continue;
        }
        let name = l[..l.find('(').unwrap_or(0)].to_string();
        if name == "execve" {
            break;
        }
        if name.is_empty()
            || name.starts_with("syscall_")
            || l.contains(".journal\"")
            || (name == "openat" && !l.contains("O_CREAT"))
        {
            continue;
        }
        let ret = l.rsplit_once(" = ").map_or("", |r| r.1);
        out.push(Traced {
            name,
            line: l.clone(),
            failed: ret.starts_with("-1"),
        });
    }
    // A change of directory to /proc, made to name a descriptor as `self/fd/N`.
    let mut kept = Vec::new();
    for (i, t) in out.iter().enumerate() {
        let next_via_fd = out
            .get(i + 1)
            .is_some_and(|n| n.line.contains("\"self/fd/"));
        if t.name == "fchdir" && next_via_fd {
            continue;
        }
        kept.push(t.clone());
    }
    kept
}

fn matches(w: &Want, t: &Traced) -> bool {
    if !w.names.contains(&t.name.as_str()) {
        return false;
    }
    if w.words.iter().any(|x| !t.line.contains(x.as_str())) {
        return false;
    }
    if w.absent.iter().any(|x| t.line.contains(x)) {
        return false;
    }
    w.sets.iter().all(|(sel, want)| {
        let mut have = match sel {
            Sel::Arg(i) => split_args(args(&t.line))
                .get(*i)
                .map(|a| flags_of(a))
                .unwrap_or_default(),
            Sel::Field(k) => field(&t.line, k),
        };
        have.retain(|f| !DESCRIPTOR_FORM.contains(&f.as_str()) && !LIBC_ADDS.contains(&f.as_str()));
        have == *want
    })
}

/// Whether `seq` matches the trace at `t`, with no call failing (`fail_last`: only the last).
fn seq_at(seq: &[Want], trace: &[Traced], t: usize, fail_last: bool) -> bool {
    seq.iter().enumerate().all(|(k, w)| {
        trace.get(t + k).is_some_and(|x| {
            matches(w, x)
                && (x.failed == (fail_last && k + 1 == seq.len()) || !fail_last && !x.failed)
        })
    })
}

/// Whether `items` match the trace from `t` to its end (backtracking over conditions).
fn matched(
    items: &[Item],
    trace: &[Traced],
    t: usize,
    memo: &mut BTreeMap<(usize, usize), bool>,
    base: usize,
) -> bool {
    if items.is_empty() {
        return t == trace.len();
    }
    let key = (base + items.len(), t);
    if let Some(&m) = memo.get(&key) {
        return m;
    }
    let rest = &items[1..];
    let r = match &items[0] {
        Item::Calls {
            calls, optional, ..
        } => {
            // A conditional call may be absent, or made and refused (mkdir of an existing
            // directory: EEXIST).
            let one_optional = *optional && calls.len() == 1;
            (*optional && matched(rest, trace, t, memo, base))
                || (seq_at(calls, trace, t, false)
                    && matched(rest, trace, t + calls.len(), memo, base))
                || (one_optional
                    && trace
                        .get(t)
                        .is_some_and(|x| x.failed && matches(&calls[0], x))
                    && matched(rest, trace, t + 1, memo, base))
        }
        Item::Either { alts, .. } => {
            matched(rest, trace, t, memo, base)
                || alts.iter().any(|a| {
                    seq_at(a, trace, t, false) && matched(rest, trace, t + a.len(), memo, base)
                })
        }
        Item::Each { alts, .. } => {
            matched(rest, trace, t, memo, base)
                || alts.iter().any(|a| {
                    seq_at(a, trace, t, false) && matched(items, trace, t + a.len(), memo, base)
                })
        }
        Item::Fallback { main, fallback } => {
            let mut all: Vec<Item> = main.clone();
            all.extend(rest.iter().cloned());
            let whole = matched(&all, trace, t, &mut BTreeMap::new(), 0);
            whole || {
                // The first strategy's calls up to one that failed, then the fallback's.
                let flat: Vec<Want> = main
                    .iter()
                    .flat_map(|i| match i {
                        Item::Calls { calls, .. } => calls.clone(),
                        _ => Vec::new(),
                    })
                    .collect();
                (1..=flat.len()).any(|k| {
                    seq_at(&flat[..k], trace, t, true) && {
                        let mut then: Vec<Item> = fallback.clone();
                        then.extend(rest.iter().cloned());
                        matched(&then, trace, t + k, &mut BTreeMap::new(), 0)
                    }
                })
            }
        }
    };
    memo.insert(key, r);
    r
}

/// `None` when the trace is the dry run's calls; else where they part: the longest prefix of
/// the items that matches, and the trace from there.
pub fn compare_calls(items: &[Item], trace: &[Traced]) -> Option<String> {
    if matched(items, trace, 0, &mut BTreeMap::new(), 0) {
        return None;
    }
    // Where it goes wrong: the first item after which no continuation fits, found by
    // matching ever longer prefixes against some prefix of the trace.
    let mut best = (0, 0);
    for n in 0..=items.len() {
        let fits = (0..=trace.len()).find(|&t| {
            let mut memo = BTreeMap::new();
            matched(&items[..n], &trace[..t], 0, &mut memo, 0)
        });
        match fits {
            Some(t) => best = (n, t),
            None => break,
        }
    }
    let (n, t) = best;
    let src = |i: &Item| match i {
        Item::Calls { src, .. } | Item::Either { src, .. } | Item::Each { src, .. } => src.clone(),
        Item::Fallback { .. } => "(a step with a fallback)".into(),
    };
    Some(format!(
        "the dry run's calls match the trace up to call {n} of {}; next in the dry run: {}\n\
         next in the trace:\n  {}",
        items.len(),
        items.get(n).map(src).unwrap_or_else(|| "(nothing)".into()),
        trace[t..]
            .iter()
            .take(8)
            .map(|x| x.line.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    ))
}

/// The dry run's json of `plan` as the binary prints it.
pub fn dry_run_json(plan: &Path, sets: &[(String, String)]) -> serde_json::Value {
    let mut c = std::process::Command::new(BIN);
    c.args(["plan", "--format", "json"]).arg(plan);
    for (k, v) in sets {
        c.arg("--set").arg(format!("{k}={v}"));
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}
