//! `import nspawn`: takes a systemd-nspawn settings file (`NAME.nspawn`); returns a plan of
//! its `[Files]` section (binds, temporary file systems, overlays, inaccessible paths, a
//! read-only root) and the `[Exec]` keys a plan's `[process]` has, on the machine directory
//! `/var/lib/machines/NAME` (the `ROOTFS` variable).
//!
//! nspawn's own setup (its /proc, /sys, /dev, /run and the rest) is not in the file and not in
//! the plan: a note says so. Every key the plan does not carry is a note.

use std::path::Path;

use super::writer::{Plan, Step, Value};
use super::{Host, ImportError, Imported, absolute};

/// One `KEY=VALUE` of a section, with its line number.
struct Entry {
    section: String,
    key: String,
    value: String,
    line: usize,
}

fn parse(text: &str, name: &str) -> Result<Vec<Entry>, ImportError> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut pending = String::new();
    let mut start = 0;
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let l = raw.trim();
        if pending.is_empty() && (l.is_empty() || l.starts_with('#') || l.starts_with(';')) {
            continue;
        }
        // A backslash at the end continues the line (systemd's unit syntax).
        if let Some(body) = l.strip_suffix('\\') {
            if pending.is_empty() {
                start = line_no;
            }
            pending.push_str(body);
            pending.push(' ');
            continue;
        }
        let (l, line) = if pending.is_empty() {
            (l.to_string(), line_no)
        } else {
            let full = format!("{pending}{l}");
            pending.clear();
            (full, start)
        };
        if let Some(s) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s.to_string();
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            return Err(ImportError::new(
                format!("{name}:{line}: `{l}` is neither a [Section] nor KEY=VALUE"),
                "write KEY=VALUE inside a section such as [Files]",
            ));
        };
        if section.is_empty() {
            return Err(ImportError::new(
                format!("{name}:{line}: `{}` comes before any [Section]", k.trim()),
                "put it under [Exec], [Files] or [Network]",
            ));
        }
        out.push(Entry {
            section: section.clone(),
            key: k.trim().to_string(),
            value: v.trim().to_string(),
            line,
        });
    }
    Ok(out)
}

fn yes(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// Imports `text`, the settings file named `name` (its stem names the machine), into a plan
/// whose `#:schema` comment names `schema`.
pub fn import(
    text: &str,
    name: &str,
    schema: &str,
    host: &dyn Host,
) -> Result<Imported, ImportError> {
    let entries = parse(text, name)?;
    let machine = Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "machine".into());
    let rootfs = format!("/var/lib/machines/{machine}");
    let mut plan = Plan::new(schema);
    let mut notes = vec![
        "nspawn's own mounts (/proc, /sys, /dev, /run, /tmp...) are not in the file and not in \
         the plan: add them (or include a plan that makes them)"
            .to_string(),
    ];
    plan.header = vec![
        "Imported from a systemd-nspawn settings file by `mountplan import nspawn`: its [Files]"
            .into(),
        "section and the [Exec] keys of [process], on the machine directory ROOTFS.".into(),
    ];
    plan.vars.set("ROOTFS", Value::Var(rootfs.clone()));
    plan.root.set("path", Value::Var("${ROOTFS}".into()));
    plan.namespaces.set("pid", Value::Bool(true));
    plan.namespaces.set("ipc", Value::Bool(true));
    plan.namespaces.set("uts", Value::Bool(true));
    let mut net = false;
    let mut readonly = false;
    let mut masks = Vec::new();
    let at = |e: &Entry| format!("{name}:{}: [{}] {}=", e.line, e.section, e.key);
    for e in &entries {
        let here = at(e);
        match (e.section.as_str(), e.key.as_str()) {
            ("Files", "Bind" | "BindReadOnly") => {
                let ro = e.key == "BindReadOnly";
                let parts: Vec<&str> = e.value.splitn(3, ':').collect();
                let src = parts[0];
                if src.is_empty() {
                    notes.push(format!(
                        "{here}{}: a bind of a fresh temporary directory is not imported",
                        e.value
                    ));
                    continue;
                }
                let src = match src.strip_prefix('+') {
                    Some(rel) => format!("{rootfs}/{}", rel.trim_start_matches('/')),
                    None => src.to_string(),
                };
                let dst = parts
                    .get(1)
                    .filter(|d| !d.is_empty())
                    .copied()
                    .unwrap_or(parts[0]);
                let dst = dst.trim_start_matches('+');
                let mut rec = true;
                for o in parts
                    .get(2)
                    .map(|o| o.split(',').collect::<Vec<&str>>())
                    .unwrap_or_default()
                {
                    match o {
                        "rbind" => rec = true,
                        "norbind" => rec = false,
                        "" => {}
                        other => notes.push(format!(
                            "{here}{}: option `{other}` is not imported (mountplan has no \
                             idmapped mounts)",
                            e.value
                        )),
                    }
                }
                let src = absolute(Path::new("/"), &src);
                let dst = absolute(Path::new("/"), dst);
                let mut s = Step::new("mount")
                    .s("type", if rec { "rbind" } else { "bind" })
                    .s("source", src.clone())
                    .s("target", dst);
                if ro {
                    s = s.set("options", Value::Strs(vec!["ro".into()]));
                }
                if host.is_file(&src) {
                    s = s.s("create", "file");
                }
                plan.step(s.comment(format!("{}={}", e.key, e.value)));
            }
            ("Files", "TemporaryFileSystem") => {
                let (p, opts) = e.value.split_once(':').unwrap_or((&e.value, ""));
                let mut s = Step::new("mount")
                    .s("type", "tmpfs")
                    .s("target", absolute(Path::new("/"), p))
                    .set(
                        "options",
                        Value::Strs(vec!["nosuid".into(), "nodev".into()]),
                    )
                    .s("mode", "0755");
                let mut flags: Vec<String> = vec!["nosuid".into(), "nodev".into()];
                for o in opts.split(',').filter(|o| !o.is_empty()) {
                    let (k, v) = o.split_once('=').unwrap_or((o, ""));
                    match k {
                        "mode" => match u32::from_str_radix(v, 8) {
                            Ok(m) if m <= 0o7777 => s = s.s("mode", super::mode_str(m)),
                            _ => {
                                return Err(ImportError::new(
                                    format!("{here}{}: mode `{v}` is not octal", e.value),
                                    "give a mode such as mode=0755",
                                ));
                            }
                        },
                        "size" => s = s.s("size", v),
                        "nr_inodes" => match v.parse::<i64>() {
                            Ok(n) => s = s.set("nr_inodes", Value::Int(n)),
                            Err(_) => notes.push(format!("{here}: nr_inodes `{v}` not imported")),
                        },
                        "uid" | "gid" => match v.parse::<i64>() {
                            Ok(n) => s = s.set(k, Value::Int(n)),
                            Err(_) => notes.push(format!("{here}: {k} `{v}` not imported")),
                        },
                        "ro" | "noexec" | "nosuid" | "nodev" | "noatime" | "relatime"
                        | "strictatime" => {
                            if !flags.iter().any(|f| f == k) {
                                flags.push(k.to_string());
                            }
                        }
                        other => notes.push(format!(
                            "{here}{}: option `{other}` is not imported",
                            e.value
                        )),
                    }
                }
                s = s.set("options", Value::Strs(flags));
                plan.step(s.comment(format!("TemporaryFileSystem={}", e.value)));
            }
            ("Files", "Overlay" | "OverlayReadOnly") => {
                let ro = e.key == "OverlayReadOnly";
                let paths: Vec<&str> = e.value.split(':').collect();
                let need = if ro { 2 } else { 3 };
                if paths.len() < need || paths.iter().any(|p| p.is_empty()) {
                    notes.push(format!(
                        "{here}{}: not imported: give {need} paths or more (mountplan needs \
                         every layer named)",
                        e.value
                    ));
                    continue;
                }
                let dest = absolute(Path::new("/"), paths[paths.len() - 1]);
                let host_path = |p: &str| match p.strip_prefix('+') {
                    Some(r) => format!("{rootfs}/{}", r.trim_start_matches('/')),
                    None => absolute(Path::new("/"), p),
                };
                let (lowers, upper) = if ro {
                    (&paths[..paths.len() - 1], None)
                } else {
                    (
                        &paths[..paths.len() - 2],
                        Some(host_path(paths[paths.len() - 2])),
                    )
                };
                // nspawn lists the lowest layer first; the plan wants the topmost first.
                let lower: Vec<String> = lowers.iter().rev().map(|p| host_path(p)).collect();
                let mut s = Step::new("mount")
                    .s("type", "overlay")
                    .s("target", dest)
                    .set("lower", Value::Strs(lower));
                if let Some(u) = upper {
                    let work = format!("{}.work", u.trim_end_matches('/'));
                    notes.push(format!(
                        "{here}{}: the overlay's work directory is {work} (nspawn picks one \
                         beside the upper layer; mountplan needs it named, on the same \
                         filesystem)",
                        e.value
                    ));
                    s = s.s("upper", u).s("work", work);
                }
                plan.step(s.comment(format!("{}={}", e.key, e.value)));
            }
            ("Files", "Inaccessible") => masks.push(e.value.clone()),
            ("Files", "ReadOnly") => match yes(&e.value) {
                Some(v) => readonly = v,
                None => notes.push(format!("{here}{}: not a boolean; not imported", e.value)),
            },
            ("Files" | "Exec", "PrivateUsers") => match e.value.as_str() {
                "no" | "false" | "0" | "off" => {
                    plan.namespaces.set("user", Value::Bool(false));
                }
                v => {
                    plan.namespaces.set("user", Value::Bool(true));
                    notes.push(format!(
                        "{here}{v}: a user namespace; mountplan maps only the caller to 0, \
                         not a range"
                    ));
                }
            },
            ("Exec", "WorkingDirectory") => {
                plan.process.set("cwd", Value::str(e.value.clone()));
            }
            ("Exec", "Hostname") => {
                plan.process.set("hostname", Value::str(e.value.clone()));
            }
            ("Exec", "User") => match e.value.parse::<i64>() {
                Ok(n) => {
                    plan.process.set("uid", Value::Int(n));
                }
                Err(_) => notes.push(format!(
                    "{here}{}: a user name is not imported (a plan takes a number: uid = N)",
                    e.value
                )),
            },
            ("Exec", "Environment") => {
                for kv in e.value.split_whitespace() {
                    match kv.split_once('=') {
                        Some((k, v)) if !k.is_empty() => {
                            plan.env_set.set(k, Value::str(v.trim_matches('"')));
                        }
                        _ => notes.push(format!("{here}{kv}: not NAME=VALUE; not imported")),
                    }
                }
            }
            ("Exec", "NoNewPrivileges") => match yes(&e.value) {
                Some(v) => {
                    plan.process.set("no_new_privileges", Value::Bool(v));
                }
                None => notes.push(format!("{here}{}: not a boolean; not imported", e.value)),
            },
            ("Exec", "Capability" | "DropCapability") => notes.push(format!(
                "{here}{}: not imported: nspawn's capability set is its own; give the plan's \
                 with [process] capabilities",
                e.value
            )),
            ("Exec", "Parameters") => notes.push(format!(
                "{here}{}: a plan has no command; run `mountplan apply PLAN -- {}`",
                e.value, e.value
            )),
            ("Network", "Private" | "VirtualEthernet") => {
                if yes(&e.value) == Some(true) {
                    net = true;
                }
            }
            _ => notes.push(format!(
                "{here}{}: not imported: not part of a mount plan",
                e.value
            )),
        }
    }
    plan.namespaces.set("net", Value::Bool(net));
    for m in masks {
        plan.step(
            Step::new("mask")
                .s("path", absolute(Path::new("/"), &m))
                .comment(format!("Inaccessible={m}")),
        );
    }
    if readonly {
        plan.step(
            Step::new("remount")
                .s("target", "/")
                .set("options", Value::Strs(vec!["ro".into()]))
                .comment("ReadOnly=yes"),
        );
    }
    plan.step(Step::new("pivot").s("strategy", "pivot-root"));
    Ok(Imported {
        text: plan.text(),
        notes,
    })
}
