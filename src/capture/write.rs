//! The captured tree -> the plan's text.
//!
//! Takes the walked [`Mount`]s; returns TOML: the header comments (what was captured, how it
//! was read), `[namespaces]` from the namespaces the process does not share with mountplan,
//! `[root]`, then per mount, in order, the directories its mountpoint needs on a fresh tmpfs,
//! the mount, a remount where its flags cannot be given at mount time, then a pivot when a
//! whole foreign namespace is captured, and last the propagation of each mount (set after
//! everything is mounted, so that no mount is made under a shared one, which would change it).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::table::{Mount, Origin, Walked};
use super::{Captured, Expect, Look, Request, Snapshot};
use crate::model::{MsFlags, RootPath};

/// A TOML basic string of `s`, with `$` doubled (plan strings substitute `${NAME}`).
fn q(s: &str) -> String {
    toml::Value::String(s.replace('$', "$$")).to_string()
}

fn arr(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| q(s)).collect();
    format!("[{}]", items.join(", "))
}

/// A comment line's text: no line breaks or other control characters.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The plan words of per-mount flags, the atime mode always named.
pub fn words(f: MsFlags) -> Vec<String> {
    let mut v = Vec::new();
    for (flag, w) in [
        (MsFlags::MS_RDONLY, "ro"),
        (MsFlags::MS_NOSUID, "nosuid"),
        (MsFlags::MS_NODEV, "nodev"),
        (MsFlags::MS_NOEXEC, "noexec"),
    ] {
        if f.contains(flag) {
            v.push(w.to_string());
        }
    }
    v.push(
        if f.contains(MsFlags::MS_NOATIME) {
            "noatime"
        } else if f.contains(MsFlags::MS_RELATIME) {
            "relatime"
        } else {
            "strictatime"
        }
        .to_string(),
    );
    if f.contains(MsFlags::MS_NODIRATIME) {
        v.push("nodiratime".into());
    }
    v
}

/// A `[[step]]` table being written.
struct Step {
    comments: Vec<String>,
    keys: Vec<(&'static str, String)>,
}

impl Step {
    fn new(kind: &str, id: &str) -> Step {
        Step {
            comments: Vec::new(),
            keys: vec![("kind", q(kind)), ("id", q(id))],
        }
    }
    fn key(mut self, k: &'static str, v: String) -> Step {
        self.keys.push((k, v));
        self
    }
    fn note(mut self, c: impl Into<String>) -> Step {
        self.comments.push(c.into());
        self
    }
}

/// Ids from mountpoints (`/dev/pts` -> `dev-pts`), unique in the plan.
#[derive(Default)]
struct Ids(BTreeSet<String>);

impl Ids {
    fn get(&mut self, prefix: &str, at: &RootPath) -> String {
        let slug: String = if at.is_root() {
            "root".into()
        } else {
            at.relative()
                .chars()
                .map(|c| match c {
                    '/' => '-',
                    c if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' => c,
                    _ => '_',
                })
                .collect()
        };
        let base = if prefix.is_empty() {
            slug
        } else {
            format!("{prefix}-{slug}")
        };
        let mut id = base.clone();
        let mut n = 2;
        while !self.0.insert(id.clone()) {
            id = format!("{base}-{n}");
            n += 1;
        }
        id
    }
}

/// `key=value` options of a superblock, without `rw`/`ro`.
fn fs_options(m: &Mount) -> Vec<(String, Option<String>)> {
    m.line
        .super_opts
        .iter()
        .filter(|o| *o != "rw" && *o != "ro")
        .map(|o| match o.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (o.to_string(), None),
        })
        .collect()
}

fn super_ro(m: &Mount) -> bool {
    m.line.super_opts.first().is_some_and(|o| o == "ro")
}

/// A source name a plan accepts for a non-bind mount (it goes into the data string).
fn plain_source(s: &str) -> bool {
    !s.is_empty() && !s.contains([',', '=', ':', '\0'])
}

/// An octal mode as the kernel prints it (`755`, `1777`) in a plan's form (`0755`).
fn mode(v: &str) -> Option<String> {
    let n = u32::from_str_radix(v, 8).ok()?;
    (n <= 0o7777).then(|| format!("0{n:o}"))
}

/// The typed keys of a fresh filesystem of `m`'s type and the options left over (which a
/// plan cannot give).
fn typed(m: &Mount) -> (Vec<(&'static str, String)>, Vec<String>) {
    let mut keys = Vec::new();
    let mut rest = Vec::new();
    let fstype = m.line.fstype.as_str();
    for (k, v) in fs_options(m) {
        let shown = match &v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        };
        let key: Option<(&'static str, String)> = match (fstype, k.as_str(), v.as_deref()) {
            ("tmpfs", "size", Some(v)) => Some(("size", q(v))),
            ("tmpfs", "nr_inodes", Some(v)) if v.parse::<u64>().is_ok() => {
                Some(("nr_inodes", v.to_string()))
            }
            ("tmpfs" | "devpts", "mode", Some(v)) => mode(v).map(|m| ("mode", q(&m))),
            ("devpts", "ptmxmode", Some(v)) => mode(v).map(|m| ("ptmxmode", q(&m))),
            ("tmpfs" | "devpts", "uid", Some(v)) if v.parse::<u32>().is_ok() => {
                Some(("uid", v.to_string()))
            }
            ("tmpfs" | "devpts", "gid", Some(v)) if v.parse::<u32>().is_ok() => {
                Some(("gid", v.to_string()))
            }
            _ => None,
        };
        match key {
            Some(kv) => keys.push(kv),
            None => rest.push(shown),
        }
    }
    (keys, rest)
}

struct Writer<'a> {
    snap: &'a Snapshot,
    look: &'a dyn Look,
    prefix: RootPath,
    ids: Ids,
    steps: Vec<Step>,
    inexact: Vec<String>,
    notes: Vec<String>,
    /// Directories made (or known to exist) on each fresh tmpfs, by mount index.
    made: BTreeSet<(usize, String)>,
    /// Mount indices the plan makes as an empty tmpfs (the model knows they hold nothing).
    empty_tmpfs: BTreeSet<usize>,
    /// Mount indices the plan does not make (left out): mounts on them are left out too.
    skipped: BTreeSet<usize>,
    cgroup2: bool,
    expected: Vec<Expect>,
}

fn expect(m: &Mount) -> Expect {
    Expect {
        at: m.at.clone(),
        bind: match &m.origin {
            Origin::Host { path, .. } => Some(path.clone()),
            _ => None,
        },
        fstype: m.line.fstype.clone(),
        flags: m.flags,
        options: m
            .line
            .super_opts
            .iter()
            .filter(|o| *o != "rw" && *o != "ro")
            .cloned()
            .collect(),
    }
}

/// The plan text of a walked tree.
pub(super) fn plan(snap: &Snapshot, req: &Request, w: &Walked, look: &dyn Look) -> Captured {
    let mut wr = Writer {
        snap,
        look,
        prefix: req.root.clone().unwrap_or_else(RootPath::root),
        ids: Ids::default(),
        steps: Vec::new(),
        inexact: Vec::new(),
        notes: Vec::new(),
        made: BTreeSet::new(),
        empty_tmpfs: BTreeSet::new(),
        skipped: BTreeSet::new(),
        cgroup2: false,
        expected: Vec::new(),
    };
    for l in &w.left_out {
        wr.inexact.push(format!("left out: {l}"));
    }
    let root = wr.root(&w.mounts[0]);
    for i in 1..w.mounts.len() {
        wr.mount(&w.mounts, i);
    }
    let pivot = !snap.own && req.root.is_none();
    if pivot {
        let s = Step::new("pivot", "pivot")
            .key("strategy", q("pivot-root"))
            .note(
                "The captured process's root is its mount namespace's root: the plan makes \
                 this root the process root as well.",
            );
        wr.steps.push(s);
    }
    for (i, m) in w.mounts.iter().enumerate() {
        if !wr.skipped.contains(&i) {
            wr.propagation(m);
        }
    }
    for h in &w.host_below_root {
        wr.notes.push(format!(
            "the host has a mount at `{h}`, below the root's host path: `[root] path` binds \
             the root with the mounts below it, so it comes along"
        ));
    }
    let header = wr.header(req, w, pivot);
    let ns = wr.namespaces();
    let mut out = header;
    out.push_str(&ns);
    out.push_str(&root);
    for s in &wr.steps {
        out.push('\n');
        for c in &s.comments {
            for l in wrap(&clean(c), 94) {
                let _ = writeln!(out, "# {l}");
            }
        }
        out.push_str("[[step]]\n");
        for (k, v) in &s.keys {
            let _ = writeln!(out, "{k} = {v}");
        }
    }
    Captured {
        text: out,
        mounts: w.mounts.len() - wr.skipped.len(),
        inexact: wr.inexact,
        notes: wr.notes,
        expected: wr.expected,
    }
}

/// `text` in lines of at most `width` characters, broken at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

impl Writer<'_> {
    fn header(&self, req: &Request, w: &Walked, pivot: bool) -> String {
        let snap = self.snap;
        let whose = match snap.pid {
            Some(p) if !snap.own => format!("the mount namespace of pid {p}"),
            Some(p) => format!("the mount namespace of pid {p} (mountplan's own)"),
            None => "mountplan's own mount namespace".to_string(),
        };
        let mut c = vec![
            format!(
                "Captured by `{}`: the mount tree of {whose} below `{}`, {} mounts, on Linux {}.",
                req.command,
                self.prefix,
                w.mounts.len() - self.skipped.len(),
                snap.kernel
            ),
            format!(
                "Read from {} (mountpoints, sources, filesystem options).",
                snap.mountinfo_name()
            ),
        ];
        match (&snap.stat, w.ordered_by_unique_id) {
            (Ok(_), true) => c.push(
                "And from statmount(2) of every mount, listed by listmount(2): each mount's \
                 64-bit unique id, which is never reused and grows with each mount made, so \
                 the mounts on one mount are made here in the order they were made there (a \
                 mount that a later one hides must come first; mountinfo's ids are reused, \
                 and its order is not promised), and the per-mount flags and propagation as \
                 binary fields."
                    .to_string(),
            ),
            (Ok(_), false) => c.push(
                "statmount(2) did not describe every mount of the table (one changed while it \
                 was read), so flags, propagation and order come from mountinfo, in its order."
                    .to_string(),
            ),
            (Err(why), _) => c.push(format!(
                "statmount(2)/listmount(2) could not be used ({why}), so flags, propagation \
                 and order come from mountinfo, in its order (the order mounts were made on \
                 Linux 6.8 and later, which list a namespace's mounts by unique id, but not \
                 promised)."
            )),
        }
        c.push(
            "Host paths (bind sources, the root) are where the mounts' filesystems are in the \
             namespace mountplan ran in. Only mounts are captured, not the files in them; \
             propagation is each mount's type, not which mounts are peers."
                .to_string(),
        );
        if pivot {
            c.push("It ends with a pivot into the root, then sets propagation.".to_string());
        }
        if !self.inexact.is_empty() {
            c.push(format!(
                "Not rebuilt exactly ({}): {}.",
                self.inexact.len(),
                self.inexact.join("; ")
            ));
        }
        if !self.notes.is_empty() {
            c.push(format!("Caveats: {}.", self.notes.join("; ")));
        }
        let mut out = String::from("#:schema ../schema/plan.schema.json\n");
        for p in c {
            for l in wrap(&clean(&p), 94) {
                let _ = writeln!(out, "# {l}");
            }
        }
        let name = match snap.pid {
            Some(p) if !snap.own => format!("captured-{p}"),
            _ => "captured".to_string(),
        };
        let _ = writeln!(out, "version = 1");
        let _ = writeln!(out, "name = {}", q(&name));
        let _ = writeln!(
            out,
            "description = {}",
            q(&format!(
                "The mount tree of {whose} below {}, as captured.",
                self.prefix
            ))
        );
        out
    }

    fn namespaces(&self) -> String {
        let s = self.snap;
        let mut out = String::from(
            "\n# The namespaces the captured process does not share with mountplan are made \
             new.\n[namespaces]\n",
        );
        let user = if s.differs("user") {
            "true"
        } else {
            "\"auto\""
        };
        let _ = writeln!(out, "user = {user}");
        for k in ["pid", "ipc", "uts", "net"] {
            let _ = writeln!(out, "{k} = {}", s.differs(k));
        }
        if self.cgroup2 && !s.differs("cgroup") {
            out.push_str(
                "# A cgroup2 mount made in the host's cgroup namespace would set the host \
                 hierarchy's mount options\n# (nsdelegate, memory_recursiveprot, ...) to its \
                 own: it gets a cgroup namespace of its own.\n",
            );
            out.push_str("cgroup = true\n");
        } else {
            let _ = writeln!(out, "cgroup = {}", s.differs("cgroup"));
        }
        out
    }

    /// Where mount `m` is described, for its comment.
    fn what(&self, m: &Mount) -> String {
        let id = match m.unique {
            Some(u) => format!("mount {} (unique id {u})", m.line.id),
            None => format!("mount {}", m.line.id),
        };
        let root = if m.line.root == "/" {
            String::new()
        } else {
            format!(", its root `{}` in the filesystem", m.line.root)
        };
        format!(
            "{id} at `{}`: {} from `{}` (device {}:{}){root}, options {}, filesystem options {}.",
            m.line.mountpoint,
            m.line.fstype,
            m.line.source,
            m.line.dev.0,
            m.line.dev.1,
            m.line.opts.join(","),
            m.line.super_opts.join(","),
        )
    }

    /// Notes and inexactness every mount shares: per-mount options a plan cannot give.
    fn common(&mut self, m: &Mount, s: &mut Vec<String>) {
        if !m.odd_opts.is_empty() {
            let t = format!(
                "`{}`: the per-mount options {} cannot be given by a plan",
                m.at,
                m.odd_opts.join(", ")
            );
            s.push(format!("Not rebuilt: {t}."));
            self.inexact.push(t);
        }
        if let Origin::Host {
            path,
            confirmed: Err(why),
            ..
        } = &m.origin
        {
            let t = format!("`{}`: its host path `{path}` is not confirmed: {why}", m.at);
            s.push(format!("Not confirmed: {why}."));
            self.notes.push(t);
        }
    }

    fn root(&mut self, m: &Mount) -> String {
        self.expected.push(expect(m));
        let mut c = vec![format!("The root: {}", self.what(m))];
        self.common(m, &mut c);
        let mut body = String::new();
        let mut remount_to: Option<MsFlags> = None;
        let mut stacked: Option<Step> = None;
        match &m.origin {
            Origin::Host {
                path,
                confirmed,
                host_mount,
            } => {
                c.push(format!(
                    "The host path `{path}` (below the host's mount at `{}`){}.",
                    host_mount.0,
                    if confirmed.is_ok() {
                        ", confirmed: the same inode"
                    } else {
                        ""
                    }
                ));
                let _ = writeln!(body, "path = {}", q(path));
                if host_mount.1 != m.flags {
                    remount_to = Some(m.flags);
                }
            }
            Origin::Fresh | Origin::Copy { .. } if m.line.fstype == "tmpfs" => {
                let (keys, rest) = typed(m);
                let mut fields = Vec::new();
                for (k, v) in keys {
                    if matches!(k, "size" | "mode" | "nr_inodes") {
                        fields.push(format!("{k} = {v}"));
                    } else {
                        let t = format!("`/`: a tmpfs root cannot be given `{k}`");
                        c.push(format!(
                            "Not rebuilt: `{k} = {v}` (a tmpfs root takes none)."
                        ));
                        self.inexact.push(t);
                    }
                }
                self.unexpressible(m, &rest, &mut c);
                if super_ro(m) {
                    let t = "`/`: a tmpfs root cannot be read-only as a filesystem".to_string();
                    c.push("Not rebuilt: the filesystem is read-only.".into());
                    self.inexact.push(t);
                }
                c.push("A new, empty tmpfs, as the captured one is not on the host.".into());
                if fields.is_empty() {
                    let _ = writeln!(body, "tmpfs = {{}}");
                } else {
                    let _ = writeln!(body, "tmpfs = {{ {} }}", fields.join(", "));
                }
                self.empty_tmpfs.insert(0);
                // A tmpfs root is mounted nosuid, nodev (relatime).
                let made = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_RELATIME;
                if made != m.flags {
                    remount_to = Some(m.flags);
                }
            }
            _ => {
                let t = format!(
                    "`/`: a {} root cannot be given as `[root]`: the plan mounts it on an empty \
                     tmpfs root",
                    m.line.fstype
                );
                c.push(format!("Not rebuilt exactly: {t}."));
                self.inexact.push(t);
                let _ = writeln!(body, "tmpfs = {{}}");
                stacked = self.fresh_step(m, "/", Vec::new());
            }
        }
        let mut out = String::from("\n");
        for p in &c {
            for l in wrap(&clean(p), 94) {
                let _ = writeln!(out, "# {l}");
            }
        }
        out.push_str("[root]\n");
        out.push_str(&body);
        if let Some(s) = stacked {
            self.steps.push(s);
        }
        if let Some(f) = remount_to {
            let id = self.ids.get("remount", &m.at);
            self.steps.push(
                Step::new("remount", &id)
                    .key("target", q("/"))
                    .key("options", arr(&words(f)))
                    .note(format!(
                        "The root's per-mount flags as captured: {}.",
                        words(f).join(", ")
                    )),
            );
        }
        out
    }

    fn unexpressible(&mut self, m: &Mount, rest: &[String], c: &mut Vec<String>) {
        if rest.is_empty() {
            return;
        }
        let fstype = m.line.fstype.as_str();
        let list = rest
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let why = if fstype == "overlay" && rest.iter().any(|o| o.starts_with("uuid=")) {
            " (an overlay's `uuid=` is the kernel's choice on the first mount of an upper \
             layer, kept in it: a later mount does not show it)"
        } else {
            ""
        };
        c.push(format!(
            "Not rebuilt: the options {list}, which a plan cannot give{why}."
        ));
        self.inexact
            .push(format!("`{}`: the {fstype} options {list}", m.at));
    }

    /// The mount step of a new filesystem like `m`'s, on `target`.
    fn fresh_step(&mut self, m: &Mount, target: &str, mut c: Vec<String>) -> Option<Step> {
        let fstype = m.line.fstype.clone();
        let at = RootPath::new(target).unwrap_or_else(|_| RootPath::root());
        if !fstype
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        {
            self.inexact.push(format!(
                "`{at}`: the filesystem type `{fstype}` cannot be named in a plan: left out"
            ));
            return None;
        }
        if matches!(fstype.as_str(), "proc" | "sysfs")
            && at.starts_with(&RootPath::new("/proc").unwrap_or_else(|_| RootPath::root()))
            && at.as_str() != "/proc"
        {
            self.inexact.push(format!(
                "`{at}`: a {fstype} below /proc, which a plan refuses: left out"
            ));
            return None;
        }
        let id = self.ids.get("", &at);
        let mut s = Step::new("mount", &id)
            .key("type", q(&fstype))
            .key("target", q(target));
        if m.line.source != fstype {
            if plain_source(&m.line.source) {
                s = s.key("source", q(&m.line.source));
            } else {
                c.push(format!(
                    "Its source `{}` cannot be given to a plan (it would go into the data \
                     string): the type's name is used.",
                    m.line.source
                ));
            }
        }
        // The superblock's read-only flag goes with `ro` at mount time; per-mount flags that
        // differ from it are set by a remount after.
        let mut at_mount = m.flags - MsFlags::MS_RDONLY;
        if super_ro(m) {
            at_mount |= MsFlags::MS_RDONLY;
        }
        s = s.key("options", arr(&words(at_mount)));
        match fstype.as_str() {
            "tmpfs" | "devpts" => {
                let (keys, rest) = typed(m);
                for (k, v) in keys {
                    s = s.key(k, v);
                }
                self.unexpressible(m, &rest, &mut c);
            }
            "overlay" => {
                let mut rest = Vec::new();
                for (k, v) in fs_options(m) {
                    match (k.as_str(), v) {
                        ("lowerdir", Some(v)) => {
                            let l: Vec<String> = v.split(':').map(str::to_string).collect();
                            s = s.key("lower", arr(&l));
                        }
                        ("upperdir", Some(v)) => s = s.key("upper", q(&v)),
                        ("workdir", Some(v)) => s = s.key("work", q(&v)),
                        (k, Some(v)) => rest.push(format!("{k}={v}")),
                        (k, None) => rest.push(k.to_string()),
                    }
                }
                self.unexpressible(m, &rest, &mut c);
            }
            "proc" | "sysfs" | "mqueue" | "cgroup2" => {
                let rest: Vec<String> = fs_options(m)
                    .into_iter()
                    .map(|(k, v)| match v {
                        Some(v) => format!("{k}={v}"),
                        None => k,
                    })
                    .collect();
                self.unexpressible(m, &rest, &mut c);
                if fstype == "cgroup2" {
                    self.cgroup2 = true;
                }
            }
            _ => {
                let data: Vec<String> = m
                    .line
                    .super_opts
                    .iter()
                    .filter(|o| *o != "rw" && *o != "ro")
                    .cloned()
                    .collect();
                if !data.is_empty() {
                    s = s.key("data", arr(&data));
                }
            }
        }
        s.comments = c;
        Some(s)
    }

    fn mount(&mut self, all: &[Mount], i: usize) {
        let m = &all[i];
        let parent = m.parent.unwrap_or(0);
        if self.skipped.contains(&parent) {
            self.skipped.insert(i);
            self.inexact
                .push(format!("`{}`: left out with the mount it is on", m.at));
            return;
        }
        let mut c = vec![self.what(m)];
        self.common(m, &mut c);
        // On an empty tmpfs the plan made, the mountpoint's parent directories must be made.
        if self.empty_tmpfs.contains(&parent) {
            let dir = m.at.parent();
            let base = &all[parent].at;
            if dir != *base
                && dir.starts_with(base)
                && !self.made.contains(&(parent, dir.to_string()))
            {
                let inside = if all[parent].top {
                    self.look
                        .inside(self.prefix.join(dir.relative()).as_str())
                        .filter(|s| s.dir)
                } else {
                    None
                };
                let mode = inside.map(|s| s.mode & 0o7777).unwrap_or(0o755);
                let id = self.ids.get("mkdir", &dir);
                self.steps.push(
                    Step::new("mkdir", &id)
                        .key("path", q(dir.as_str()))
                        .key("parents", "true".into())
                        .key("mode", q(&format!("0{mode:o}")))
                        .note(format!(
                            "The directory `{}` is on a tmpfs the plan makes empty.",
                            dir
                        )),
                );
                for a in dir.ancestors_and_self() {
                    if a.starts_with(base) {
                        self.made.insert((parent, a.to_string()));
                    }
                }
            }
        }
        let step = match &m.origin {
            Origin::Host {
                path, confirmed, ..
            } => {
                c.push(format!(
                    "A bind of the host path `{path}`{}.",
                    if confirmed.is_ok() {
                        " (confirmed: the same inode)"
                    } else {
                        ""
                    }
                ));
                let id = self.ids.get("", &m.at);
                let mut s = Step::new("mount", &id)
                    .key("type", q("bind"))
                    .key("source", q(path))
                    .key("target", q(m.at.as_str()))
                    .key("options", arr(&words(m.flags)));
                if m.root_dir == Some(false) {
                    s = s.key("create", q("file"));
                } else if m.at.is_root() {
                    s = s.key("create", q("none"));
                }
                s.comments = c;
                Some(s)
            }
            Origin::Fresh | Origin::Copy { .. } => {
                if let Origin::Copy { why } = &m.origin {
                    c.push(format!(
                        "Made as a new {} with the same options: {why}; the same tree, not \
                         the same files.",
                        m.line.fstype
                    ));
                    self.notes
                        .push(format!("`{}`: a new {}: {why}", m.at, m.line.fstype));
                } else if m.line.root == "/"
                    && super::table::KERNEL_STATE.contains(&m.line.fstype.as_str())
                {
                    c.push(format!(
                        "A new {0} mount shows what the captured one shows, in the same \
                         namespaces.",
                        m.line.fstype
                    ));
                } else {
                    c.push(format!(
                        "A new {}: the captured one is not on the host.",
                        m.line.fstype
                    ));
                }
                if m.root_dir == Some(false) {
                    self.inexact.push(format!(
                        "`{}`: a {} whose root is a file, which a new mount cannot make: left \
                         out",
                        m.at, m.line.fstype
                    ));
                    None
                } else {
                    let target = m.at.to_string();
                    let mut s = self.fresh_step(m, &target, c);
                    if m.at.is_root() {
                        s = s.map(|s| s.key("create", q("none")));
                    }
                    s
                }
            }
        };
        let Some(step) = step else {
            self.skipped.insert(i);
            return;
        };
        let fresh = !matches!(m.origin, Origin::Host { .. });
        self.steps.push(step);
        self.expected.push(expect(m));
        if fresh && m.line.fstype == "tmpfs" {
            self.empty_tmpfs.insert(i);
        }
        if fresh && m.flags.contains(MsFlags::MS_RDONLY) != super_ro(m) {
            let id = self.ids.get("remount", &m.at);
            self.steps.push(
                Step::new("remount", &id)
                    .key("target", q(m.at.as_str()))
                    .key("options", arr(&words(m.flags)))
                    .note(format!(
                        "The mount is {} while its filesystem is {}: set after mounting.",
                        if m.flags.contains(MsFlags::MS_RDONLY) {
                            "read-only"
                        } else {
                            "read-write"
                        },
                        if super_ro(m) {
                            "read-only"
                        } else {
                            "read-write"
                        }
                    )),
            );
        }
    }

    fn propagation(&mut self, m: &Mount) {
        let p = m.propagation;
        let host = matches!(m.origin, Origin::Host { .. });
        let kinds: &[&str] = if p.unbindable {
            &["unbindable"]
        } else if p.shared && p.slave {
            &["slave", "shared"]
        } else if p.shared {
            &["shared"]
        } else if p.slave {
            &["slave"]
        } else if host {
            &["private"]
        } else {
            &[]
        };
        if !m.top && (p.shared || p.slave || p.unbindable || host) {
            // A propagation step names a path, which reaches the top mount there.
            if p.shared || p.slave || p.unbindable {
                self.notes.push(format!(
                    "`{}`: a mount hidden under another at the same path: its propagation \
                     cannot be set by a plan (it stays as the apply makes it)",
                    m.at
                ));
            }
            return;
        }
        if p.slave && !host {
            self.notes.push(format!(
                "`{}`: it is a slave, which a new mount cannot be made again (a mount with no \
                 master stays private)",
                m.at
            ));
        }
        for k in kinds {
            let id = self.ids.get("propagation", &m.at);
            let why = match *k {
                "private" => "A bind comes as its host mount's copy (a slave of the host's \
                              peers where the host shares it): made private as captured."
                    .to_string(),
                "slave" if p.shared => {
                    "Captured as shared and a slave: a slave first (of the host's peers, where \
                     the bind's copy has a master), then shared."
                        .to_string()
                }
                k => format!("Captured as {k}."),
            };
            self.steps.push(
                Step::new("propagation", &id)
                    .key("target", q(m.at.as_str()))
                    .key("propagation", q(k))
                    .note(why),
            );
        }
    }
}
