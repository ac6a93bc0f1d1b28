//! The comparable fields of a step and of a plan's header: model values -> `(name, value)`
//! pairs in plan words, so a diff can say `options: nosuid -> nosuid, noexec`.
//!
//! Takes validated model values; returns the fields in a fixed order. Absent optional fields
//! are left out (a diff shows them as `(none)`).

use crate::model::{Action, Create, FsKind, MsFlags, NodeSpec, NodeType, Plan, Root, Step, UserNs};

/// Flags as the plan's option words (`ro, nosuid, rec`), or `(none)`.
pub(crate) fn option_words(flags: MsFlags) -> String {
    let v: Vec<&str> = crate::model::option_words(flags).collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

fn owner(v: &mut Vec<(&'static str, String)>, uid: Option<u32>, gid: Option<u32>) {
    if let Some(u) = uid {
        v.push(("uid", u.to_string()));
    }
    if let Some(g) = gid {
        v.push(("gid", g.to_string()));
    }
}

/// The fields of a step, as a reviewer compares them.
pub(crate) fn step_fields(s: &Step) -> Vec<(&'static str, String)> {
    let mut v: Vec<(&'static str, String)> = vec![("kind", s.kind().as_str().to_string())];
    if s.explicit_id {
        v.push(("id", s.id.to_string()));
    }
    if !s.after.is_empty() {
        let a: Vec<&str> = s.after.iter().map(|(id, _)| id.as_str()).collect();
        v.push(("after", a.join(", ")));
    }
    if let Some(n) = &s.note {
        v.push(("note", n.clone()));
    }
    match &s.action {
        Action::Mount(m) => {
            let ty = match &m.fs {
                FsKind::Bind {
                    recursive: true, ..
                } => "rbind",
                fs => fs.fstype(),
            };
            v.push(("type", ty.to_string()));
            v.push(("source", m.source().to_string()));
            v.push(("target", m.target.to_string()));
            v.push(("options", option_words(m.flags)));
            if let Some(d) = crate::lowering::fsconfig::data(&m.fs) {
                v.push(("data", d));
            }
            let create = match m.create {
                Create::Dir => "dir",
                Create::File => "file",
                Create::None => "none",
            };
            v.push(("create", create.to_string()));
        }
        Action::Remount(r) => {
            v.push(("target", r.target.to_string()));
            v.push(("options", option_words(r.flags)));
        }
        Action::Propagation(p) => {
            v.push(("target", p.target.to_string()));
            v.push(("propagation", p.kind.as_str().to_string()));
            v.push(("recursive", p.recursive.to_string()));
        }
        Action::Umount(u) => v.push(("target", u.target.to_string())),
        Action::Mkdir(m) => {
            v.push(("path", m.path.to_string()));
            v.push(("mode", m.mode.to_string()));
            v.push(("parents", m.parents.to_string()));
        }
        Action::Mknod(n) => {
            v.push(("path", n.path.to_string()));
            match &n.spec {
                NodeSpec::Given { node, major, minor } => {
                    v.push(("node", node.as_str().to_string()));
                    if *node != NodeType::Fifo {
                        v.push(("major", major.to_string()));
                        v.push(("minor", minor.to_string()));
                    }
                }
                NodeSpec::FromHost(h) => v.push(("from_host", h.to_string())),
            }
            v.push(("mode", n.mode.to_string()));
            owner(&mut v, n.uid, n.gid);
        }
        Action::Symlink(l) => {
            v.push(("path", l.path.to_string()));
            v.push(("to", l.to.clone()));
        }
        Action::Chmod(c) => {
            v.push(("path", c.path.to_string()));
            v.push(("mode", c.mode.to_string()));
            owner(&mut v, c.uid, c.gid);
        }
        Action::Mask(m) => v.push(("path", m.path.to_string())),
        Action::Readonly(r) => v.push(("path", r.path.to_string())),
        Action::Pivot(p) => {
            v.push(("strategy", p.strategy.as_str().to_string()));
            if let Some(f) = p.fallback {
                v.push(("fallback", f.as_str().to_string()));
            }
            v.push(("put_old", p.put_old.to_string()));
        }
    }
    v
}

/// The fields of a plan's header.
pub(crate) fn plan_fields(p: &Plan) -> Vec<(&'static str, String)> {
    let mut v = vec![("name", p.name.clone())];
    if let Some(d) = &p.description {
        v.push(("description", d.clone()));
    }
    v.push((
        "root",
        match &p.root {
            Root::Path(h) => format!("path {h}"),
            Root::Tmpfs(_) => match crate::lowering::fsconfig::data(&p.root.fs()) {
                Some(d) => format!("tmpfs ({d})"),
                None => "tmpfs".into(),
            },
        },
    ));
    let n = &p.namespaces;
    let user = match n.user {
        UserNs::Off => "off",
        UserNs::On => "on",
        UserNs::Auto => "auto",
    };
    let mut ns = vec![format!("user={user}")];
    ns.extend(n.others().map(str::to_string));
    v.push(("namespaces", ns.join(", ")));
    for (k, line) in crate::render::process::lines(&p.process, &p.namespaces) {
        let key = match k {
            "user" => "process.user",
            "capabilities" => "process.capabilities",
            "no_new_privs" => "process.no_new_privs",
            "cwd" => "process.cwd",
            "environment" => "process.env",
            "hostname" => "process.hostname",
            "console" => "process.console",
            _ => "process.umask",
        };
        v.push((key, line));
    }
    if !p.vars.is_empty() {
        let vars: Vec<String> = p.vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
        v.push(("vars", vars.join(", ")));
    }
    if !p.includes.is_empty() {
        v.push(("includes", p.includes.join(", ")));
    }
    v
}

/// The fields that differ: `(name, old, new)`, `(none)` for a field one side lacks. Fields in
/// `old`'s order, then those only `new` has.
pub(crate) fn changed(
    old: &[(&'static str, String)],
    new: &[(&'static str, String)],
) -> Vec<(&'static str, String, String)> {
    let none = || "(none)".to_string();
    let get = |v: &[(&'static str, String)], k: &str| {
        v.iter().find(|(n, _)| *n == k).map(|(_, x)| x.clone())
    };
    let mut out = Vec::new();
    for (k, o) in old {
        let n = get(new, k);
        if n.as_ref() != Some(o) {
            out.push((*k, o.clone(), n.unwrap_or_else(none)));
        }
    }
    for (k, n) in new {
        if get(old, k).is_none() {
            out.push((*k, none(), n.clone()));
        }
    }
    out
}
