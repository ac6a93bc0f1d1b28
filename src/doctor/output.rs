//! The report, shown: takes a [`Report`] (and the plan's file name and its rendered
//! diagnostics); returns the text `mountplan doctor` prints, or its JSON.

use std::collections::BTreeMap;

use super::Report;
use crate::diag::Severity;
use crate::sys::errno_words;
use crate::sys::linux::probe::Answer;

fn answer_text(a: &Answer) -> String {
    match a {
        Answer::Yes => "yes".into(),
        Answer::No { call, errno } => format!("no: {call} => {}", errno_words(*errno)),
    }
}

fn sysctl_meaning(name: &str, v: Option<&str>) -> String {
    match (name, v) {
        (_, None) => "(not on this kernel)".into(),
        ("dev.tty.legacy_tiocsti", Some("1")) => "1: TIOCSTI works: a command run with \
            --keep-terminal could push input into the caller's terminal (without it, \
            mountplan runs the command in a new session)"
            .into(),
        ("dev.tty.legacy_tiocsti", Some("0")) => {
            "0: TIOCSTI is refused (but to CAP_SYS_ADMIN)".into()
        }
        ("kernel.unprivileged_userns_clone", Some("0")) => {
            "0: unprivileged users may not make user namespaces".into()
        }
        ("kernel.apparmor_restrict_unprivileged_userns", Some("1")) => {
            "1: AppArmor keeps unprivileged user namespaces from gaining capabilities \
             (unless a profile allows it)"
                .into()
        }
        ("user.max_user_namespaces" | "user.max_mnt_namespaces", Some("0")) => {
            "0: none may be made".into()
        }
        (_, Some(v)) => v.to_string(),
    }
}

/// The report for people. `diags` is the plan's diagnostics, rendered.
pub fn text(r: &Report, plan_file: Option<&str>, diags: &str) -> String {
    let f = &r.facts;
    let mut o = format!(
        "mountplan doctor: Linux {} {}, uid {}{}\n\nkernel\n",
        f.kernel.0,
        f.kernel.1,
        f.uid,
        if f.initial_userns {
            ""
        } else {
            " (in a user namespace: the host's mounts are locked as for a rootless apply)"
        }
    );
    let mut row = |k: &str, v: String| o.push_str(&format!("  {k:<30} {v}\n"));
    row("openat2", answer_text(&f.openat2));
    let missing: Vec<String> = f
        .mount_api
        .iter()
        .filter(|(_, a)| !a.yes())
        .map(|(n, a)| format!("{n} ({})", answer_text(a)))
        .collect();
    let names: Vec<&str> = f.mount_api.iter().map(|(n, _)| *n).collect();
    row(
        "new mount API",
        if missing.is_empty() {
            format!("yes: {}", names.join(", "))
        } else {
            format!("no: {}", missing.join("; "))
        },
    );
    row(
        if f.rootless {
            "  as a rootless apply uses it"
        } else {
            "  as an apply uses it"
        },
        answer_text(&f.mount_api_here),
    );
    row("statmount", answer_text(&f.statmount));
    row("listmount", answer_text(&f.listmount));
    if let Some((t, a)) = &f.idmap_root {
        row(&format!("idmapped binds ({t}, /)"), answer_text(a));
    }
    o.push_str("\nuser namespaces\n");
    let mut row = |k: &str, v: String| o.push_str(&format!("  {k:<44} {v}\n"));
    row(
        if f.uid == 0 {
            "unprivileged (tried as uid 65534)"
        } else {
            "unprivileged (tried as the caller)"
        },
        answer_text(&f.userns),
    );
    for (k, v) in &f.sysctls {
        if *k == "dev.tty.legacy_tiocsti" {
            continue;
        }
        row(k, sysctl_meaning(k, v.as_deref()));
    }
    o.push_str("\nterminal\n");
    for (k, v) in &f.sysctls {
        if *k == "dev.tty.legacy_tiocsti" {
            o.push_str(&format!("  {k:<30} {}\n", sysctl_meaning(k, v.as_deref())));
        }
    }
    for e in &r.host_errors {
        o.push_str(&format!("\nerror: {e}\n"));
    }
    if let Some(p) = &r.plan {
        o.push_str(&format!(
            "\nplan {} ({}), {}\n",
            plan_file.unwrap_or("?"),
            p.name,
            if p.rootless {
                "applied rootless here: in a user namespace of its own"
            } else {
                "applied as root here: no user namespace"
            }
        ));
        if p.paths.is_empty() {
            o.push_str("  host paths: none\n");
        } else {
            o.push_str("  host paths\n");
        }
        for h in &p.paths {
            let what = match (&h.facts.dir, &h.facts.mount) {
                (Err(e), _) => format!("cannot be opened: {}", errno_words(*e)),
                (Ok(d), Some((mp, t, opts))) => format!(
                    "{} on {t} (the mount at {mp}: {opts})",
                    if *d { "a directory" } else { "a file" }
                ),
                (Ok(d), None) => (if *d { "a directory" } else { "a file" }).to_string(),
            };
            let steps = if h.steps.is_empty() {
                String::new()
            } else {
                format!(" (step {})", h.steps.join(", "))
            };
            o.push_str(&format!("    {}: {}{steps}: {what}\n", h.path, h.role));
            if let Some(a) = &h.idmap {
                o.push_str(&format!("      idmapped bind: {}\n", answer_text(a)));
            }
            if !h.locked.is_empty() {
                o.push_str(&format!(
                    "      locked in a user namespace: {}\n",
                    h.locked.join(", ")
                ));
            }
        }
        // Idmapped binds per filesystem type.
        let mut by_type: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for h in &p.paths {
            if let (Some(a), Some((_, t, _))) = (&h.idmap, &h.facts.mount) {
                by_type
                    .entry(format!("{t}: {}", answer_text(a)))
                    .or_default()
                    .push(h.path.clone());
            }
        }
        if !by_type.is_empty() {
            o.push_str("  idmapped binds, per filesystem type\n");
            for (k, v) in by_type {
                o.push_str(&format!("    {k} ({})\n", v.join(", ")));
            }
        }
        if !diags.is_empty() {
            o.push('\n');
            o.push_str(diags);
        }
    }
    let errors = r
        .plan
        .as_ref()
        .map(|p| p.diags.iter().filter(|d| d.is_error()).count())
        .unwrap_or(0);
    let warnings = r
        .plan
        .as_ref()
        .map(|p| {
            p.diags
                .iter()
                .filter(|d| d.severity == Severity::Warning)
                .count()
        })
        .unwrap_or(0);
    o.push_str(&match (&r.plan, r.can_apply()) {
        (Some(_), true) if warnings == 0 => "\nverdict: the plan can apply here\n".to_string(),
        (Some(_), true) => format!(
            "\nverdict: the plan can apply here, with {warnings} warning{}\n",
            if warnings == 1 { "" } else { "s" }
        ),
        (Some(_), false) => format!(
            "\nverdict: the plan will fail here: {} certain failure{}\n",
            errors + r.host_errors.len(),
            if errors + r.host_errors.len() == 1 {
                ""
            } else {
                "s"
            }
        ),
        (None, true) => "\nverdict: this host can apply plans\n".to_string(),
        (None, false) => "\nverdict: no plan can apply here\n".to_string(),
    });
    o
}

fn answer_json(name: &str, a: &Answer) -> serde_json::Value {
    match a {
        Answer::Yes => {
            serde_json::json!({"name": name, "ok": true, "call": null, "errno": null, "errno_text": null})
        }
        Answer::No { call, errno } => serde_json::json!({
            "name": name, "ok": false, "call": call, "errno": format!("{errno:?}"),
            "errno_text": errno.desc(),
        }),
    }
}

/// The report for scripts (see docs/json.md). `diags` is the plan's diagnostics as
/// [`crate::diag::json`] gives them.
pub fn json(r: &Report, plan_file: Option<&str>, diags: serde_json::Value) -> serde_json::Value {
    let f = &r.facts;
    let mut checks = vec![answer_json("openat2", &f.openat2)];
    for (n, a) in &f.mount_api {
        checks.push(answer_json(n, a));
    }
    checks.push(answer_json("mount_api_here", &f.mount_api_here));
    checks.push(answer_json("statmount", &f.statmount));
    checks.push(answer_json("listmount", &f.listmount));
    checks.push(answer_json("unprivileged_userns", &f.userns));
    let sysctls: serde_json::Map<String, serde_json::Value> = f
        .sysctls
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone().into()))
        .collect();
    let plan = r.plan.as_ref().map(|p| {
        let paths: Vec<serde_json::Value> = p
            .paths
            .iter()
            .map(|h| {
                serde_json::json!({
                    "path": h.path,
                    "role": h.role,
                    "steps": h.steps,
                    "exists": h.facts.dir.is_ok(),
                    "dir": h.facts.dir.as_ref().ok(),
                    "errno": h.facts.dir.as_ref().err().map(|e| format!("{e:?}")),
                    "mount": h.facts.mount.as_ref().map(|(mp, t, o)| serde_json::json!({
                        "mountpoint": mp, "fstype": t, "options": o,
                    })),
                    "idmap": h.idmap.as_ref().map(|a| answer_json("idmap", a)),
                    "locked": h.locked,
                })
            })
            .collect();
        serde_json::json!({
            "file": plan_file,
            "name": p.name,
            "rootless": p.rootless,
            "host_paths": paths,
            "diagnostics": diags["diagnostics"].clone(),
        })
    });
    serde_json::json!({
        "format_version": 1,
        "kernel": {"release": f.kernel.0, "machine": f.kernel.1},
        "uid": f.uid,
        "initial_user_namespace": f.initial_userns,
        "rootless": f.rootless,
        "checks": checks,
        "sysctls": sysctls,
        "idmap_root": f.idmap_root.as_ref().map(|(t, a)| {
            let mut v = answer_json("idmap", a);
            v["fstype"] = t.clone().into();
            v
        }),
        "host_errors": r.host_errors,
        "plan": plan,
        "can_apply": r.can_apply(),
    })
}
