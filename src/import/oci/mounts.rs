//! One entry of `mounts`: takes the entry and the importer's state; adds its mount step (and
//! the remounts and propagation step runc's options make after it) to the plan.

use std::path::Path;

use oci_spec::runtime::Mount;

use super::Out;
use super::options::Options;
use crate::import::writer::{Step, Value};
use crate::import::{Host, absolute, mode_str};

pub(super) fn is_bind(m: &Mount, opts: &Options) -> bool {
    m.typ().as_deref() == Some("bind") || opts.bind || opts.rbind
}

/// One entry of `mounts`.
pub(super) fn mount(
    i: usize,
    m: &Mount,
    bundle: &Path,
    host: &dyn Host,
    userns: bool,
    o: &mut Out,
    dev_ro: &mut Option<Vec<String>>,
) {
    let dest = m.destination().to_string_lossy().into_owned();
    let at = format!("mounts[{i}] ({dest})");
    if !dest.starts_with('/') {
        o.note(format!(
            "{at}: a relative destination is not imported (runc 1.1 takes it relative to /)"
        ));
        return;
    }
    let dest = absolute(Path::new("/"), &dest);
    let opts = Options::parse(m.options().as_deref().unwrap_or_default());
    for (w, why) in &opts.dropped {
        o.note(format!("{at}: option `{w}` is not imported: {why}"));
    }
    let mut typ = m.typ().clone().unwrap_or_else(|| "none".into());
    let mut source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut opts = opts;
    if userns && (typ == "cgroup" || typ == "cgroup2") {
        // A user namespace may not mount cgroup2 without a cgroup namespace of its own: runc
        // then binds the host's unified hierarchy.
        o.note(format!(
            "{at}: in a user namespace the cgroup mount is imported as a recursive bind of the \
             host's /sys/fs/cgroup, as runc falls back to on a cgroup v2 host (on v1 it binds \
             the container's cgroups, which need a cgroup manager)"
        ));
        typ = "bind".into();
        source = "/sys/fs/cgroup".into();
        opts.rbind = true;
    }
    o.parent(&dest, host);
    let id = o.id(&dest, "");
    let mut step = Step::new("mount").s("id", id.clone());
    let words = opts.words();
    let bind = is_bind(m, &opts);
    let mut after_flags: Option<Vec<String>> = None;
    let mut rec_on_mount = false;
    if bind {
        let src = absolute(bundle, &source);
        step = step
            .s("type", if opts.rbind { "rbind" } else { "bind" })
            .s("source", src.clone())
            .s("target", dest.clone());
        if host.is_file(&src) {
            step = step.s("create", "file");
        }
        if opts.rbind {
            // runc remounts only the top mount of a recursive bind with the plain flags; the
            // plan's rbind would give them to every mount it brings, so a remount says it.
            if !words.is_empty() {
                after_flags = Some(words.clone());
            } else if !opts.rec.is_empty() {
                step = step.set("options", Value::Strs(opts.rec.clone()));
                rec_on_mount = true;
            }
        } else if !words.is_empty() {
            step = step.set("options", Value::Strs(words.clone()));
        }
        if !opts.data.is_empty() {
            o.note(format!(
                "{at}: filesystem options {} of a bind are not imported (a bind takes none)",
                opts.data.join(",")
            ));
        }
        step = idmapped(m, step, &at, o);
    } else {
        if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
            o.note(format!(
                "{at}: uidMappings/gidMappings are not imported: only a bind can be idmapped"
            ));
        }
        let (ty, fs_note) = match typ.as_str() {
            "cgroup" => (
                "cgroup2",
                Some(
                    "type cgroup is imported as cgroup2 (the unified hierarchy, as runc mounts \
                     it on a cgroup v2 host); on a v1 or hybrid host runc binds each v1 \
                     hierarchy of the container's cgroup instead, which needs a cgroup \
                     manager",
                ),
            ),
            "none" => {
                o.note(format!(
                    "{at}: type `none` without `bind` or `rbind` is not a mount; not imported"
                ));
                return;
            }
            t => (t, None),
        };
        if let Some(n) = fs_note {
            o.note(format!("{at}: {n}"));
        }
        let ty = ty.to_string();
        step = step.s("type", ty.clone());
        if !source.is_empty() && source != ty {
            step = step.s("source", source.clone());
        }
        step = step.s("target", dest.clone());
        let mut w = words.clone();
        if dest == "/dev" && w.iter().any(|x| x == "ro") {
            *dev_ro = Some(w.clone());
            w.retain(|x| x != "ro");
        }
        if !w.is_empty() {
            step = step.set("options", Value::Strs(w));
        }
        step = fs_data(&ty, &opts, step, &at, o);
    }
    let empty = matches!(
        step.keys.get("type"),
        Some(Value::Str(t)) if t == "tmpfs" || t == "devpts" || t == "mqueue"
    );
    o.mounted(&dest, empty);
    o.plan.step(step);
    if let Some(w) = after_flags {
        let rid = o.id(&dest, "-flags");
        o.plan.step(
            Step::new("remount")
                .s("id", rid)
                .s("target", dest.clone())
                .set("options", Value::Strs(w))
                .comment(format!(
                    "{at}: runc gives a recursive bind's flags to its top mount only"
                )),
        );
    }
    if let Some((kind, rec)) = opts.propagation {
        let pid = o.id(&dest, "-propagation");
        o.plan.step(
            Step::new("propagation")
                .s("id", pid)
                .s("target", dest.clone())
                .s("propagation", kind)
                .set("recursive", Value::Bool(rec)),
        );
    }
    if !opts.rec.is_empty() && !rec_on_mount {
        let rid = o.id(&dest, "-rec");
        let w = opts.rec.clone();
        o.plan.step(
            Step::new("remount")
                .s("id", rid)
                .s("target", dest)
                .set("options", Value::Strs(w))
                .comment(format!(
                    "{at}: the r* options, with mount_setattr(AT_RECURSIVE)"
                )),
        );
    }
}

/// The typed filesystem options of `ty` from runc's data words.
fn fs_data(ty: &str, opts: &Options, mut step: Step, at: &str, o: &mut Out) -> Step {
    let mut rest = Vec::new();
    let octal = |v: &str| u32::from_str_radix(v, 8).ok().map(mode_str);
    let int = |v: &str| v.parse::<i64>().ok();
    let mut newinstance = false;
    for d in &opts.data {
        let (k, v) = d.split_once('=').unwrap_or((d.as_str(), ""));
        let typed = match (ty, k) {
            ("tmpfs", "size") => Some(Value::str(v)),
            ("tmpfs", "nr_inodes") => int(v).map(Value::Int),
            ("tmpfs" | "devpts", "mode") | ("devpts", "ptmxmode") => octal(v).map(Value::Str),
            ("tmpfs" | "devpts", "uid" | "gid") => int(v).map(Value::Int),
            ("devpts", "newinstance") if v.is_empty() => {
                newinstance = true;
                None
            }
            ("overlay", "lowerdir") => Some(Value::Strs(v.split(':').map(String::from).collect())),
            ("overlay", "upperdir") => Some(Value::str(v)),
            ("overlay", "workdir") => Some(Value::str(v)),
            _ => {
                rest.push(d.clone());
                None
            }
        };
        if let Some(val) = typed {
            let key = match k {
                "lowerdir" => "lower",
                "upperdir" => "upper",
                "workdir" => "work",
                k => k,
            };
            step = step.set(key, val);
        }
    }
    if ty == "devpts" && !newinstance {
        step = step.set("newinstance", Value::Bool(false));
    }
    let known = matches!(
        ty,
        "tmpfs" | "devpts" | "proc" | "sysfs" | "mqueue" | "overlay" | "cgroup2"
    );
    if !rest.is_empty() {
        if known {
            o.note(format!(
                "{at}: {ty} options {} are not imported: the plan has no key for them",
                rest.join(",")
            ));
        } else {
            step = step.set("data", Value::Strs(rest));
        }
    }
    step
}

/// An OCI idmapped bind (`uidMappings` and `gidMappings`): each `{containerID, hostID, size}`
/// is a line of the user namespace's map as runc writes it (`containerID hostID size`), so a
/// file owned by `containerID` on the filesystem is seen as `hostID`: the plan's line
/// `[inside = hostID, outside = containerID, size]`. Both maps are needed, as runc needs them.
fn idmapped(m: &Mount, step: Step, at: &str, o: &mut Out) -> Step {
    let (uid, gid) = (m.uid_mappings(), m.gid_mappings());
    if uid.is_none() && gid.is_none() {
        return step;
    }
    let (Some(uid), Some(gid)) = (uid, gid) else {
        o.note(format!(
            "{at}: an idmapped mount needs both uidMappings and gidMappings; not idmapped"
        ));
        return step;
    };
    let lines = |v: &[oci_spec::runtime::LinuxIdMapping]| {
        v.iter()
            .map(|l| {
                [
                    i64::from(l.host_id()),
                    i64::from(l.container_id()),
                    i64::from(l.size()),
                ]
            })
            .collect::<Vec<_>>()
    };
    let mut t = crate::import::writer::Table::default();
    t.set("uid", Value::Triples(lines(uid)));
    t.set("gid", Value::Triples(lines(gid)));
    step.set("idmap", Value::Inline(t))
}
