//! The mounts below the root: takes each walked [`Mount`]; adds the directories its
//! mountpoint needs on a fresh tmpfs, its mount step (or why it is left out), a remount where
//! its flags cannot be given at mount time, and last its propagation.

use super::options::{fs_options, plain_source, super_ro, typed, words};
use super::tables::{Step, arr};
use super::{Writer, expect};
use crate::capture::table::{Mount, Origin};
use crate::model::{MsFlags, RootPath};
use crate::quote::plan_string;

impl Writer<'_> {
    pub(super) fn unexpressible(&mut self, m: &Mount, rest: &[String], c: &mut Vec<String>) {
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
    pub(super) fn fresh_step(
        &mut self,
        m: &Mount,
        target: &str,
        mut c: Vec<String>,
    ) -> Option<Step> {
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
            .key("type", plan_string(&fstype))
            .key("target", plan_string(target));
        if m.line.source != fstype {
            if plain_source(&m.line.source) {
                s = s.key("source", plan_string(&m.line.source));
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
                        ("upperdir", Some(v)) => s = s.key("upper", plan_string(&v)),
                        ("workdir", Some(v)) => s = s.key("work", plan_string(&v)),
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

    pub(super) fn mount(&mut self, all: &[Mount], i: usize) {
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
                        .key("path", plan_string(dir.as_str()))
                        .key("parents", "true".into())
                        .key("mode", plan_string(&format!("0{mode:o}")))
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
                    .key("type", plan_string("bind"))
                    .key("source", plan_string(path))
                    .key("target", plan_string(m.at.as_str()))
                    .key("options", arr(&words(m.flags)));
                if m.root_dir == Some(false) {
                    s = s.key("create", plan_string("file"));
                } else if m.at.is_root() {
                    s = s.key("create", plan_string("none"));
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
                    && crate::capture::table::KERNEL_STATE.contains(&m.line.fstype.as_str())
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
                        s = s.map(|s| s.key("create", plan_string("none")));
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
                    .key("target", plan_string(m.at.as_str()))
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

    pub(super) fn propagation(&mut self, m: &Mount) {
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
                    .key("target", plan_string(m.at.as_str()))
                    .key("propagation", plan_string(k))
                    .note(why),
            );
        }
    }
}
