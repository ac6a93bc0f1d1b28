//! What the dry run says an apply will do, read from its json: each call as the system calls
//! (with flags, modes, names, fsconfig parameters) that strace shows for it, and whether it may
//! be absent (`unless ...`, `if ...`, `when it exists`).

use super::*;

// ---- the calls ----

/// One system call as the trace must show it.
#[derive(Debug, Clone, Default)]
pub struct Want {
    /// Its name (any of these).
    pub(super) names: Vec<&'static str>,
    /// Text its line must contain.
    pub(super) words: Vec<String>,
    /// Text its line must not contain (a flag the dry run does not give).
    pub(super) absent: Vec<&'static str>,
    /// Flags that must be exactly these (but for the descriptor form's own:
    /// [`DESCRIPTOR_FORM`]).
    pub(super) sets: Vec<(Sel, BTreeSet<String>)>,
}

/// Where a set of flags is in a traced call.
#[derive(Debug, Clone, Copy)]
pub(super) enum Sel {
    /// The argument at this index.
    Arg(usize),
    /// A field of a struct argument (`attr_set=`).
    Field(&'static str),
}

/// The flags a call gets because the executor names places by descriptor and keeps its
/// descriptors from the command (close-on-exec): not in the dry run, which names the place.
pub(super) const DESCRIPTOR_FORM: [&str; 4] = [
    "OPEN_TREE_CLOEXEC",
    "AT_EMPTY_PATH",
    "FSMOUNT_CLOEXEC",
    "MOVE_MOUNT_F_EMPTY_PATH",
];

/// Flags the C library adds on its own: musl's `openat` always passes O_LARGEFILE (no effect
/// on a 64-bit kernel), which the dry run, printing what mountplan asks for, does not show.
pub(super) const LIBC_ADDS: [&str; 1] = ["O_LARGEFILE"];

impl Want {
    pub(super) fn new(names: &[&'static str]) -> Want {
        Want {
            names: names.to_vec(),
            ..Want::default()
        }
    }
    pub(super) fn word(mut self, w: impl Into<String>) -> Want {
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

pub(super) fn flags_of(s: &str) -> BTreeSet<String> {
    s.split('|')
        .map(str::trim)
        .filter(|f| !f.is_empty() && *f != "0")
        .map(String::from)
        .collect()
}

/// The quoted last component of a path the dry run prints (`"<root>/dev/null"` -> `"null"`),
/// open at the end when the name is made at apply time (`XXXXXX`).
pub(super) fn base(quoted: &str) -> String {
    let p = quoted.trim().trim_matches('"');
    let b = p.rsplit('/').next().unwrap_or(p);
    match b.strip_suffix("XXXXXX") {
        Some(prefix) => format!("\"{prefix}"),
        None => format!("\"{b}\""),
    }
}

/// The arguments of `name(args) ...`: the text between the first `(` and its `)`.
pub(super) fn args(c: &str) -> &str {
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
pub(super) fn split_args(a: &str) -> Vec<String> {
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
pub(super) fn field(text: &str, key: &str) -> BTreeSet<String> {
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
pub(super) fn wants(c: &str) -> Vec<Want> {
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
pub(super) fn device(d: &str) -> String {
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
pub(super) fn item(c: &str) -> Item {
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
