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

// ---- the calls ----

/// One system call as the trace must show it.
#[derive(Debug, Clone, Default)]
pub struct Want {
    /// Its name (any of these).
    names: Vec<&'static str>,
    /// Text its line must contain.
    words: Vec<String>,
    /// Text its line must not contain (a flag the dry run does not give).
    absent: Vec<&'static str>,
    /// Flags that must be exactly these (but for the descriptor form's own:
    /// [`DESCRIPTOR_FORM`]).
    sets: Vec<(Sel, BTreeSet<String>)>,
}

/// Where a set of flags is in a traced call.
#[derive(Debug, Clone, Copy)]
enum Sel {
    /// The argument at this index.
    Arg(usize),
    /// A field of a struct argument (`attr_set=`).
    Field(&'static str),
}

/// The flags a call gets because the executor names places by descriptor and keeps its
/// descriptors from the command (close-on-exec): not in the dry run, which names the place.
const DESCRIPTOR_FORM: [&str; 4] = [
    "OPEN_TREE_CLOEXEC",
    "AT_EMPTY_PATH",
    "FSMOUNT_CLOEXEC",
    "MOVE_MOUNT_F_EMPTY_PATH",
];

impl Want {
    fn new(names: &[&'static str]) -> Want {
        Want {
            names: names.to_vec(),
            ..Want::default()
        }
    }
    fn word(mut self, w: impl Into<String>) -> Want {
        self.words.push(w.into());
        self
    }
}

/// What one call of the dry run is in the trace.
#[derive(Debug, Clone)]
pub enum Item {
    /// These calls, in order; all absent when `optional`.
    Calls {
        calls: Vec<Want>,
        optional: bool,
        src: String,
    },
    /// One of these sequences, or nothing (a mask: its kind decided at apply time).
    Either { alts: Vec<Vec<Want>>, src: String },
    /// Any number of these sequences (the host's proc and sysfs mounts, however many).
    Each { alts: Vec<Vec<Want>>, src: String },
    /// The step's calls; when one of them fails, the calls up to it and then the fallback's.
    Fallback {
        main: Vec<Item>,
        fallback: Vec<Item>,
    },
}

fn flags_of(s: &str) -> BTreeSet<String> {
    s.split('|')
        .map(str::trim)
        .filter(|f| !f.is_empty() && *f != "0")
        .map(String::from)
        .collect()
}

/// The quoted last component of a path the dry run prints (`"<root>/dev/null"` -> `"null"`),
/// open at the end when the name is made at apply time (`XXXXXX`).
fn base(quoted: &str) -> String {
    let p = quoted.trim().trim_matches('"');
    let b = p.rsplit('/').next().unwrap_or(p);
    match b.strip_suffix("XXXXXX") {
        Some(prefix) => format!("\"{prefix}"),
        None => format!("\"{b}\""),
    }
}

/// The arguments of `name(args) ...`: the text between the first `(` and its `)`.
fn args(c: &str) -> &str {
    let open = c.find('(').unwrap_or(0);
    let mut depth = 0;
    for (i, ch) in c[open..].char_indices() {
        match ch {
            '(' | '{' => depth += 1,
            ')' | '}' => {
                depth -= 1;
                if depth == 0 && ch == ')' {
                    return &c[open + 1..open + i];
                }
            }
            _ => {}
        }
    }
    &c[open + 1..]
}

/// The top-level arguments, split at commas outside quotes and braces.
fn split_args(a: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut q) = (Vec::new(), String::new(), 0, false);
    for ch in a.chars() {
        match ch {
            '"' => q = !q,
            '(' | '{' if !q => depth += 1,
            ')' | '}' if !q => depth -= 1,
            ',' if !q && depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// A flag field of `mount_setattr`'s struct as printed (`attr_set=A|B`), as a set.
fn field(text: &str, key: &str) -> BTreeSet<String> {
    match text.find(&format!("{key}=")) {
        Some(i) => {
            let rest = &text[i + key.len() + 1..];
            let end = rest.find([',', '}']).unwrap_or(rest.len());
            flags_of(&rest[..end])
        }
        None => BTreeSet::new(),
    }
}

/// The system calls of one call as the dry run prints it (without its condition).
fn wants(c: &str) -> Vec<Want> {
    let c = c.trim();
    if c.contains(" + ") {
        // fsopen("T") + fsconfig(k="v", flag) + fsmount(ATTRS) = Mn
        let mut v = Vec::new();
        for part in c.split(" + ") {
            let a = args(part);
            if part.starts_with("fsopen(") {
                v.push(Want::new(&["fsopen"]).word(format!("{a},")));
            } else if part.starts_with("fsconfig(") {
                for p in split_args(a) {
                    v.push(match p.split_once('=') {
                        Some((k, val)) => Want::new(&["fsconfig"])
                            .word("FSCONFIG_SET_STRING")
                            .word(format!("\"{k}\", {val}, ")),
                        None => Want::new(&["fsconfig"])
                            .word("FSCONFIG_SET_FLAG")
                            .word(format!("\"{p}\", NULL")),
                    });
                }
                v.push(Want::new(&["fsconfig"]).word("FSCONFIG_CMD_CREATE"));
            } else if part.starts_with("fsmount(") {
                let mut w = Want::new(&["fsmount"]);
                w.sets.push((Sel::Arg(2), flags_of(a)));
                v.push(w);
            } else {
                panic!("unknown part {part:?} of {c:?}");
            }
        }
        return v;
    }
    let name = &c[..c.find('(').unwrap_or(c.len())];
    let a = split_args(args(c));
    let arg = |i: usize| a.get(i).cloned().unwrap_or_default();
    let w = match name {
        "mount" => {
            let mut w = Want::new(&["mount"]);
            w.sets.push((Sel::Arg(3), flags_of(&arg(3))));
            if arg(2) != "NULL" {
                w.words.push(arg(2));
            }
            w
        }
        "umount2" => Want::new(&["umount2"]).word(arg(1)),
        "open_tree" => {
            let mut w = Want::new(&["open_tree"]);
            w.sets.push((Sel::Arg(2), flags_of(&arg(1))));
            w
        }
        "move_mount" => Want::new(&["move_mount"]),
        "mkdir" => Want::new(&["mkdirat"])
            .word(base(&arg(0)))
            .word(format!(", {})", arg(1))),
        "mknod" => Want::new(&["mknodat"])
            .word(base(&arg(0)))
            .word(format!(", {}, ", arg(1)))
            .word(device(&arg(2))),
        "lchown" => Want::new(&["fchownat"]).word(format!(", {}, {}", arg(1), arg(2))),
        "chmod" => Want::new(&["fchmodat", "fchmod"]).word(arg(1)),
        "fchmod" => Want::new(&["fchmod"]).word(arg(1)),
        "symlink" => Want::new(&["symlinkat"])
            .word(format!("{}, ", arg(0)))
            .word(base(&arg(1))),
        // `openat(<dir>, "name", FLAGS, MODE)`: a name in a directory held by descriptor.
        "openat" if arg(1).starts_with('"') => {
            let mut w = Want::new(&["openat"]).word(arg(1));
            w.sets.push((Sel::Arg(2), flags_of(&arg(2))));
            w.word(format!(", {})", arg(3)))
        }
        "openat" => {
            let mut w = Want::new(&["openat"]).word(base(&arg(0)));
            w.sets.push((Sel::Arg(2), flags_of(&arg(1))));
            w.word(format!(", {})", arg(2)))
        }
        "mount_setattr" => {
            let mut w = Want::new(&["mount_setattr"]);
            w.sets.push((Sel::Arg(2), flags_of(&arg(1))));
            w.sets
                .push((Sel::Field("attr_set"), field(&arg(2), "attr_set")));
            w.sets
                .push((Sel::Field("attr_clr"), field(&arg(2), "attr_clr")));
            w
        }
        "chdir" if arg(0) == "\"<root>\"" => Want::new(&["fchdir", "chdir"]),
        "chdir" => Want::new(&["chdir"]).word(arg(0)),
        "pivot_root" => Want::new(&["pivot_root"]),
        "chroot" => Want::new(&["chroot"]),
        "rmdir" => Want::new(&["unlinkat", "rmdir"]),
        _ => panic!("the dry run prints a call this test does not know: {c:?}"),
    };
    vec![w]
}

/// A device number as strace shows it (`makedev(0x5, 0)`), from the dry run's
/// `makedev(0x5, 0x0)` or `<st_rdev of /dev/tty>` (the host node's, looked up here).
fn device(d: &str) -> String {
    let hex = |n: u64| {
        if n == 0 {
            "0".to_string()
        } else {
            format!("{n:#x}")
        }
    };
    if let Some(host) = d
        .strip_prefix("<st_rdev of ")
        .and_then(|h| h.strip_suffix('>'))
    {
        use std::os::unix::fs::MetadataExt;
        let r = std::fs::metadata(host).unwrap().rdev();
        let major = ((r >> 8) & 0xfff) | ((r >> 32) & !0xfff);
        let minor = (r & 0xff) | ((r >> 12) & !0xff);
        return format!("makedev({}, {})", hex(major), hex(minor));
    }
    d.replace(", 0x0)", ", 0)").replace("(0x0,", "(0,")
}

/// What one call of the dry run is in the trace.
fn item(c: &str) -> Item {
    let src = c.to_string();
    if let Some(rest) = c.strip_prefix("for each full proc or sysfs mount P outside <root>: ") {
        // mount(NULL, P, NULL, MS_SLAVE|MS_REC, NULL); umount2(P, MNT_DETACH) (or mount(...)
        // when refused)
        let (pair, or) = rest.split_once(" (or ").expect("the alternative");
        let (m, u) = pair.split_once("; ").expect("two calls");
        let alt = or.trim_end_matches(" when refused)");
        let mut seq = wants(m);
        seq.extend(wants(u));
        return Item::Each {
            alts: vec![seq, wants(alt)],
            src,
        };
    }
    if let Some((head, rest)) = c.split_once(" when it exists: ") {
        if head.starts_with("mask ") {
            // a directory gets A, anything else B; move_mount(...)
            let (alts, mv) = rest.rsplit_once("; ").expect("the attach");
            let (a, b) = alts
                .strip_prefix("a directory gets ")
                .and_then(|x| x.split_once(", anything else "))
                .expect("the two kinds");
            let strip = |x: &str| x.rsplit_once(" = M").map_or(x.to_string(), |p| p.0.into());
            let mut one = wants(&strip(a));
            one.extend(wants(mv));
            let mut two = wants(&strip(b));
            two.extend(wants(mv));
            return Item::Either {
                alts: vec![one, two],
                src,
            };
        }
        let calls = rest.split("; ").flat_map(wants).collect();
        return Item::Calls {
            calls,
            optional: true,
            src,
        };
    }
    let (call, optional) = match c.find(" unless ").or_else(|| c.find(") if ")) {
        Some(i) if c[i..].starts_with(") if ") => (&c[..i + 1], true),
        Some(i) => (&c[..i], true),
        None => (c, false),
    };
    // `mkdir(...), XXXXXX six random characters (...)`: the note after the call.
    let call = match call.find("), ") {
        Some(i) if call.starts_with("mkdir(") => &call[..i + 1],
        _ => call,
    };
    Item::Calls {
        calls: wants(call.trim_end_matches(|ch: char| ch != ')')),
        optional,
        src,
    }
}

/// The dry run's calls of a plan (its json), as items in order.
pub fn dry_run_items(json: &serde_json::Value) -> Vec<Item> {
    let strs = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let mut out: Vec<Item> = strs(&json["setup"]["calls"])
        .iter()
        .map(|c| item(c))
        .collect();
    for s in json["steps"].as_array().unwrap() {
        let main: Vec<Item> = strs(&s["calls"]).iter().map(|c| item(c)).collect();
        let fallback: Vec<Item> = strs(&s["fallback"]).iter().map(|c| item(c)).collect();
        if fallback.is_empty() {
            out.extend(main);
        } else {
            out.push(Item::Fallback { main, fallback });
        }
    }
    // The console, after the steps: the calls of the kinds traced; an `openat` without
    // O_CREAT is left out of the trace, and so of the dry run.
    let traced: Vec<&str> = TRACED
        .trim_start_matches("trace=")
        .split(',')
        .map(str::trim)
        .collect();
    for c in strs(&json["plan"]["process"]["console"]["calls"]) {
        let name = &c[..c.find('(').unwrap_or(0)];
        if !traced.contains(&name) || (name == "openat" && !c.contains("O_CREAT")) {
            continue;
        }
        out.push(item(&c));
    }
    // The command's working directory, set right before it runs (the dry run's `cwd:`).
    out.push(Item::Calls {
        calls: vec![Want::new(&["chdir"])],
        optional: true,
        src: "the command's cwd".into(),
    });
    out
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
        have.retain(|f| !DESCRIPTOR_FORM.contains(&f.as_str()));
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

// ---- the mount table ----

/// A line of mountinfo, the fields compared.
#[derive(Debug, Clone)]
struct Seen {
    id: u64,
    parent: u64,
    mountpoint: String,
    fstype: String,
    flags: BTreeSet<String>,
    options: BTreeMap<String, String>,
    propagation: Propagated,
}

fn seen(text: &str) -> Vec<Seen> {
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let f: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            Some(Seen {
                id: f.first()?.parse().ok()?,
                parent: f.get(1)?.parse().ok()?,
                mountpoint: f.get(4)?.to_string(),
                fstype: r.first()?.to_string(),
                flags: f.get(5)?.split(',').map(String::from).collect(),
                options: r
                    .get(2)
                    .unwrap_or(&"")
                    .split(',')
                    .map(|o| match o.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (o.to_string(), String::new()),
                    })
                    .collect(),
                propagation: Propagated::of_fields(f[6..].iter().copied()),
            })
        })
        .collect()
}

/// How the kernel shows a filesystem option the plan states (`None`: it shows nothing, a
/// default; `Some(None)`: not shown in a way this compares).
fn kernel_shows(fstype: &str, key: &str, value: &str) -> Option<Option<String>> {
    let oct = |v: &str| u32::from_str_radix(v, 8).unwrap();
    Some(Some(match (fstype, key) {
        ("tmpfs", "size") if value.ends_with('%') => return Some(None),
        ("tmpfs", "size") => format!("{}k", value.parse::<u64>().unwrap().div_ceil(4096) * 4),
        ("tmpfs", "mode") if oct(value) == 0o1777 => return None,
        ("tmpfs", "mode") => format!("{:o}", oct(value)),
        ("devpts", "mode" | "ptmxmode") => format!("{:03o}", oct(value)),
        (_, "uid" | "gid") if value == "0" => return None,
        ("devpts", "newinstance") => return None,
        _ => value.to_string(),
    }))
}

/// The flags a mount shows for the per-mount flags the tree states.
fn flag_words(f: MsFlags) -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    for (flag, w) in [
        (MsFlags::MS_RDONLY, "ro"),
        (MsFlags::MS_NOSUID, "nosuid"),
        (MsFlags::MS_NODEV, "nodev"),
        (MsFlags::MS_NOEXEC, "noexec"),
        (MsFlags::MS_RELATIME, "relatime"),
        (MsFlags::MS_NOATIME, "noatime"),
        (MsFlags::MS_NODIRATIME, "nodiratime"),
    ] {
        if f.contains(flag) {
            s.insert(w.to_string());
        }
    }
    s
}

/// Every difference between the predicted tree and the command's mountinfo.
pub fn compare_tree(dag: &Dag, mountinfo: &str) -> Vec<String> {
    let actual = seen(mountinfo);
    let mut bad = Vec::new();
    // The tree the dry run shows (the console included).
    let shown = mountplan::render::shown_tree(dag);
    let ms = &shown.mounts;
    // Each predicted mount's parent: the latest earlier mount on its mountpoint or above.
    let parent_of = |k: usize| -> Option<usize> {
        let p = ms[k].mountpoint.as_str();
        (0..k).rev().find(|&j| {
            let q = ms[j].mountpoint.as_str();
            q == "/" || q == p || p.starts_with(&format!("{q}/"))
        })
    };
    // The root: the mount on / whose parent is not in the table.
    let ids: BTreeSet<u64> = actual.iter().map(|e| e.id).collect();
    let mut claimed: BTreeMap<usize, usize> = BTreeMap::new();
    for (k, m) in ms.iter().enumerate() {
        let want_parent = parent_of(k).and_then(|p| claimed.get(&p).map(|&a| actual[a].id));
        let found = actual.iter().enumerate().position(|(a, e)| {
            !claimed.values().any(|&c| c == a)
                && e.mountpoint == m.mountpoint.as_str()
                && match (k, want_parent) {
                    (0, _) => !ids.contains(&e.parent),
                    (_, Some(p)) => e.parent == p,
                    (_, None) => false,
                }
        });
        let Some(a) = found else {
            if !m.conditional {
                bad.push(format!(
                    "{}: predicted ({} on {}), not there, or not on the mount the tree puts it on",
                    m.mountpoint,
                    m.fstype,
                    parent_of(k).map_or("nothing".to_string(), |p| ms[p].mountpoint.to_string())
                ));
            }
            continue;
        };
        claimed.insert(k, a);
        bad.extend(compare_one(m, &actual[a]));
    }
    // What no predicted mount is: only what a recursive mount of the tree brought along.
    let by_id: BTreeMap<u64, &Seen> = actual.iter().map(|e| (e.id, e)).collect();
    for (a, e) in actual.iter().enumerate() {
        if claimed.values().any(|&c| c == a) {
            continue;
        }
        let mut up = e.parent;
        let mut brought = false;
        for _ in 0..actual.len() {
            if let Some((&k, _)) = claimed.iter().find(|(_, c)| actual[**c].id == up) {
                brought = ms[k].recursive;
                break;
            }
            match by_id.get(&up) {
                Some(p) => up = p.parent,
                None => break,
            }
        }
        if !brought {
            bad.push(format!(
                "{}: {} is mounted there, which the tree does not predict",
                e.mountpoint, e.fstype
            ));
        }
    }
    bad
}

fn compare_one(m: &TreeMount, e: &Seen) -> Vec<String> {
    let mut bad = Vec::new();
    let mp = m.mountpoint.as_str();
    if !m.propagation.contains(e.propagation) {
        bad.push(format!(
            "{mp}: propagation {} where the tree predicts {}",
            e.propagation.as_str(),
            m.propagation.words()
        ));
    }
    let want = flag_words(m.flags);
    let shown = ["ro", "nosuid", "nodev", "noexec"];
    let perm = |s: &BTreeSet<String>| -> BTreeSet<String> {
        s.iter()
            .filter(|w| shown.contains(&w.as_str()))
            .cloned()
            .collect()
    };
    match &m.kind {
        Mounted::Fs(_) => {
            if e.fstype != m.fstype {
                bad.push(format!(
                    "{mp}: {} where the tree predicts {}",
                    e.fstype, m.fstype
                ));
            }
            // Exactly the flags predicted, atime included.
            let have: BTreeSet<String> = e.flags.iter().filter(|w| *w != "rw").cloned().collect();
            if have != want {
                bad.push(format!(
                    "{mp}: flags {have:?} where the tree predicts {want:?}"
                ));
            }
            for o in m.data.iter().flat_map(|d| d.split(',')) {
                let (k, v) = o.split_once('=').unwrap_or((o, ""));
                match kernel_shows(&m.fstype, k, v) {
                    Some(None) => {}
                    None => {
                        if e.options.get(k).is_some_and(|h| h != v && h != "1777") {
                            bad.push(format!(
                                "{mp}: {k}={} where the tree says the default",
                                e.options[k]
                            ));
                        }
                    }
                    Some(Some(w)) => {
                        if e.options.get(k) != Some(&w) {
                            bad.push(format!(
                                "{mp}: {k}={} where the tree predicts {k}={v} (shown {w})",
                                e.options.get(k).map_or("(none)", String::as_str)
                            ));
                        }
                    }
                }
            }
        }
        // A bind keeps its source's flags but for those the plan sets.
        Mounted::Bind => {
            if !perm(&want).is_subset(&perm(&e.flags)) {
                bad.push(format!(
                    "{mp}: flags {:?} lack the predicted {want:?}",
                    e.flags
                ));
            }
        }
        Mounted::Mask => {
            if e.fstype == "tmpfs" && !e.flags.contains("ro") {
                bad.push(format!("{mp}: a mask's tmpfs that is not read-only"));
            }
        }
    }
    bad
}

// ---- the test ----

fn dag_of(plan: &Path, sets: &[(String, String)]) -> Dag {
    let c = mountplan::check(plan, sets, &mut |p: &Path| std::fs::read_to_string(p));
    assert!(!c.has_errors(), "{}: {:?}", plan.display(), c.diags);
    c.dag.expect("a DAG")
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

/// A program the command can run to print its mount table: the root's busybox, or the host's
/// `cat` where the plan binds the host's /usr and links /bin into it.
fn cat_inside(dag: &Dag) -> Option<&'static str> {
    let mounted = |p: &str| dag.tree.mounts.iter().any(|m| m.mountpoint.as_str() == p);
    let root_dir = matches!(dag.plan.root, mountplan::model::Root::Path(_));
    (root_dir || mounted("/usr")).then_some("/bin/cat")
}

#[test]
fn every_plan_on_a_merged_usr_root_makes_the_dry_runs_calls_and_tree() {
    let Some(_serial) =
        privileged("every_plan_on_a_merged_usr_root_makes_the_dry_runs_calls_and_tree")
    else {
        return;
    };
    let mut plans: Vec<_> = std::fs::read_dir(plans_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    plans.sort();
    let mut failures = Vec::new();
    let mut calls_seen = 0;
    let mut mounts_seen = 0;
    for plan in &plans {
        let name = plan.file_stem().unwrap().to_string_lossy().into_owned();
        let s = Scratch::new(&format!("truth-{name}"));
        let root = s.path("root");
        debian_root(&root);
        let sets: Vec<(String, String)> = if dag_of(plan, &[]).plan.vars.contains_key("ROOTFS") {
            vec![("ROOTFS".into(), root.display().to_string())]
        } else {
            Vec::new()
        };
        let dag = dag_of(plan, &sets);
        let items = dry_run_items(&dry_run_json(plan, &sets));
        // Without apply's own verify: what is judged here is the table the command sees, by
        // this test's comparison (plans.rs applies every plan with verify).
        let mut r = Run::apply(plan, &s.state()).arg("--no-verify");
        for (k, v) in &sets {
            r = r.set(k, Path::new(v));
        }
        let cat = cat_inside(&dag);
        if let Some(cat) = cat {
            r = r.cmd(&[cat, "/proc/self/mountinfo"]);
        }
        let trace = s.path("trace");
        let o = finish(
            r.traced(&trace, &["-e", TRACED]).spawn().unwrap(),
            Duration::from_secs(120),
        );
        // A plan without /proc inside: the command's cat fails, the apply did not.
        let mountinfo = o.stdout.clone();
        assert!(
            o.status == 0 || (cat.is_some() && !o.stderr.contains("mountplan:")),
            "{name}: the apply failed under strace:\n{}",
            o.stderr
        );
        let text = std::fs::read_to_string(&trace).unwrap();
        let made = plan_calls(&text, "mount(NULL, \"/\", NULL, MS_REC|MS_SLAVE, NULL)");
        assert!(!made.is_empty(), "{name}: nothing traced:\n{text}");
        calls_seen += made.len();
        if let Some(why) = compare_calls(&items, &made) {
            failures.push(format!("{name}: {why}"));
        }
        if cat.is_some() && mountinfo.contains(" - ") {
            mounts_seen += mountinfo.lines().count();
            for d in compare_tree(&dag, &mountinfo) {
                failures.push(format!("{name}: {d}\n{mountinfo}"));
            }
        }
        eprintln!("{name}: {} calls traced", made.len());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        calls_seen > 100 && mounts_seen > 20,
        "{calls_seen} calls, {mounts_seen} mounts"
    );
}

// ---- what rollback does (issue 14, item 6) ----

/// The system calls of one of the dry run's undo lines (none for the namespace's own).
fn undo_item(line: &str) -> Option<Item> {
    let src = line.to_string();
    let name = &line[..line.find('(').unwrap_or(0)];
    let a = split_args(args(line));
    let (w, optional) = match name {
        "umount2" => (
            Want::new(&["umount2"]).word("MNT_DETACH"),
            line.contains(" if it mounted anything"),
        ),
        "mount_setattr" => {
            let mut w = Want::new(&["mount_setattr"]);
            let rec = a.get(1).map_or("", String::as_str);
            w.sets.push((Sel::Arg(2), flags_of(rec)));
            (w, false)
        }
        "rmdir" => (Want::new(&["unlinkat", "rmdir"]).word("AT_REMOVEDIR"), true),
        "unlink" => (
            Want::new(&["unlinkat"]).word(base(&a[0])).word(", 0)"),
            true,
        ),
        "chmod" => (Want::new(&["fchmodat", "fchmod"]), true),
        "lchown" => (Want::new(&["fchownat", "fchown"]), true),
        _ if line.starts_with("nothing") || line.starts_with("the rest") => return None,
        _ => panic!("an undo line this test does not know: {line:?}"),
    };
    Some(Item::Calls {
        calls: vec![w],
        optional,
        src,
    })
}

/// A failed apply undoes exactly what the dry run's undo lines say, in their order (the last
/// step done first): the remount of `remount / ro` put back, a read-only bind's remount put
/// back before the bind is detached, the device node made on a tmpfs unlinked, the tmpfs
/// detached. Seen in the system calls (strace), after the step's own calls.
#[test]
fn a_failed_applys_undo_calls_are_the_dry_runs_undo_lines() {
    let Some(_serial) = privileged("a_failed_applys_undo_calls_are_the_dry_runs_undo_lines") else {
        return;
    };
    let s = Scratch::new("truth-undo");
    let root = s.path("root");
    debian_root(&root);
    let plan = s.write(
        "undo.toml",
        r#"version = 1
name = "undo"
[root]
path = "${ROOTFS}"
[namespaces]
user = false
[[step]]
kind = "mount"
id = "dev"
type = "tmpfs"
target = "/dev"
[[step]]
kind = "mknod"
id = "null"
path = "/dev/null"
node = "char"
major = 1
minor = 3
mode = "0666"
[[step]]
kind = "mount"
id = "usr"
type = "bind"
source = "/usr"
target = "/mnt"
options = ["ro"]
[[step]]
kind = "remount"
id = "usr-ro"
target = "/mnt"
options = ["ro", "nosuid"]
[[step]]
kind = "remount"
id = "root-ro"
target = "/"
options = ["ro"]
[[step]]
kind = "mknod"
id = "fails"
path = "/nowhere/x"
node = "fifo"
mode = "0600"
"#,
    );
    let sets = vec![("ROOTFS".to_string(), root.display().to_string())];
    let json = dry_run_json(&plan, &sets);
    let steps = json["steps"].as_array().unwrap();
    let failing = steps.len() - 1;
    // What the dry run says: the calls up to the failing step's, then each done step's undo
    // lines, the last step first.
    let mut items = dry_run_items(&json);
    items.pop(); // the command's cwd: no command runs
    let mut undo = Vec::new();
    for st in steps[..failing].iter().rev() {
        for l in st["undo"].as_array().unwrap() {
            undo.extend(undo_item(l.as_str().unwrap()));
        }
    }
    assert!(
        undo.len() >= 5,
        "the dry run undoes two remounts, a bind, a node and a tmpfs: {undo:?}"
    );
    items.extend(undo);
    let before = manifest(&[&root]);
    let trace = s.path("trace");
    let r = Run::apply(&plan, &s.state()).set("ROOTFS", &root);
    let o = finish(
        r.traced(&trace, &["-e", TRACED]).spawn().unwrap(),
        Duration::from_secs(60),
    );
    assert_eq!(o.status, 125, "{}", o.stderr);
    assert!(
        o.stderr.contains("step 6 `fails` (mknod) failed"),
        "{}",
        o.stderr
    );
    assert_same("the root", &before, &manifest(&[&root]));
    let made = plan_calls(
        &std::fs::read_to_string(&trace).unwrap(),
        "mount(NULL, \"/\", NULL, MS_REC|MS_SLAVE, NULL)",
    );
    let undone: Vec<&str> = made.iter().rev().take(5).map(|t| t.name.as_str()).collect();
    assert_eq!(
        undone,
        [
            "umount2",
            "unlinkat",
            "umount2",
            "mount_setattr",
            "mount_setattr"
        ],
        "{made:#?}"
    );
    if let Some(why) = compare_calls(&items, &made) {
        panic!("{why}");
    }
}
