//! The captured tree -> the plan's text.
//!
//! Takes the walked [`Mount`]s; returns TOML: the header comments (what was captured, how it
//! was read), `[namespaces]` from the namespaces the process does not share with mountplan,
//! `[root]`, then per mount, in order, the directories its mountpoint needs on a fresh tmpfs,
//! the mount, a remount where its flags cannot be given at mount time, then a pivot when a
//! whole foreign namespace is captured, and last the propagation of each mount (set after
//! everything is mounted, so that no mount is made under a shared one, which would change it).
//!
//! The files, by job: this one holds the writer's state, the order of the plan, its header,
//! `[namespaces]` and `[root]`; `mounts.rs` writes each mount below the root (and its
//! propagation); `options.rs` turns a mount's flags and filesystem options into plan keys;
//! `tables.rs` holds the `[[step]]` table, the step ids and the comment lines.

mod mounts;
mod options;
mod tables;

pub use self::options::words;

use std::collections::BTreeSet;
use std::fmt::Write as _;

use self::options::{super_ro, typed};
use self::tables::{Ids, Step, arr, clean, wrap};
use super::table::{Mount, Origin, Walked};
use super::{Captured, Expect, Look, Request, Snapshot};
use crate::model::{MsFlags, RootPath};
use crate::quote::plan_string;

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
            .key("strategy", plan_string("pivot-root"))
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
        let _ = writeln!(out, "name = {}", plan_string(&name));
        let _ = writeln!(
            out,
            "description = {}",
            plan_string(&format!(
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
                let _ = writeln!(body, "path = {}", plan_string(path));
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
                    .key("target", plan_string("/"))
                    .key("options", arr(&words(f)))
                    .note(format!(
                        "The root's per-mount flags as captured: {}.",
                        words(f).join(", ")
                    )),
            );
        }
        out
    }
}
