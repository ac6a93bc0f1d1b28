//! The command's warnings: what the plan lets the command see or leave, given its process.
//!
//! Takes the validated plan; returns warnings: `mountplan::process::host-pids` when the command
//! could see host processes (no pid namespace, and proc mounted or the host's `/proc` bound),
//! and `mountplan::process::plain-chroot` when the pivot can end in a plain `chroot` (the
//! command then runs without CAP_SYS_CHROOT, which would let it leave).

use crate::diag::Diag;
use crate::model::{Action, Cap, FsKind, PivotStrategy, Plan};

/// The warnings about the command's view of the host.
pub(super) fn warnings(plan: &Plan) -> Vec<Diag> {
    let mut out = Vec::new();
    if !plan.namespaces.pid {
        host_pids(plan, &mut out);
    }
    plain_chroot(plan, &mut out);
    out
}

/// The steps that put a proc of the host's pid namespace in the root: a proc mount, or a bind
/// of the host's `/proc` (or of a path below it, or a recursive bind of `/`, which brings it).
fn host_pids(plan: &Plan, out: &mut Vec<Diag>) {
    let mut found = plan.steps.iter().filter_map(|s| {
        let Action::Mount(m) = &s.action else {
            return None;
        };
        let what = match &m.fs {
            FsKind::Proc => "mounts proc".to_string(),
            FsKind::Bind { source, recursive } => {
                let p = source.as_str();
                if p == "/proc" || p.starts_with("/proc/") {
                    format!("binds the host's `{p}`")
                } else if p == "/" && *recursive {
                    "binds the host's `/` recursively, with its `/proc`".to_string()
                } else {
                    return None;
                }
            }
            _ => return None,
        };
        Some((s, what))
    });
    let Some((first, what)) = found.next() else {
        return;
    };
    let mut d = Diag::warning(
        "mountplan::process::host-pids",
        format!(
            "the command can see the host's processes: step `{}` {what}, and the plan makes \
             no pid namespace",
            first.id
        ),
        first.key_loc(),
    )
    .label("proc of the host's pid namespace")
    .help(
        "set `pid = true` in [namespaces] (the default): the command then sees only its own \
         processes, not the host's (their command lines, and /proc/PID/root, fd and environ \
         of those it may trace)",
    );
    for (s, what) in found {
        d = d.also(s.key_loc(), format!("step `{}` {what} too", s.id));
    }
    out.push(d);
}

fn plain_chroot(plan: &Plan, out: &mut Vec<Diag>) {
    let Some((step, how)) = plan.steps.iter().find_map(|s| match &s.action {
        Action::Pivot(p) if p.strategy == PivotStrategy::Chroot => Some((s, "strategy")),
        Action::Pivot(p) if p.fallback == Some(PivotStrategy::Chroot) => Some((s, "fallback")),
        _ => None,
    }) else {
        return;
    };
    let pr = &plan.process;
    let then = if pr.chroot_drop {
        "so the command runs without CAP_SYS_CHROOT (taken out of the default capabilities)"
    } else if pr.caps.contains(Cap::SYS_CHROOT) {
        // validate refuses this; kept for a plan built by other means.
        "and the command has CAP_SYS_CHROOT"
    } else {
        "and the command's capabilities leave CAP_SYS_CHROOT out"
    };
    let where_ = if how == "strategy" {
        "the pivot is a plain `chroot`"
    } else {
        "the pivot falls back to a plain `chroot`"
    };
    out.push(
        Diag::warning(
            "mountplan::process::plain-chroot",
            format!(
                "{where_}, which a process with CAP_SYS_CHROOT can leave (chroot into a \
                 subdirectory, then walk `..` up to the host's root), {then}"
            ),
            step.key_loc(),
        )
        .label("a plain chroot keeps the host's root in the mount namespace")
        .help(
            "enter the root with `strategy = \"pivot-root\"` or `\"move\"`, without \
             `fallback = \"chroot\"`",
        ),
    );
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::diag::Diag;

    fn warnings(body: &str) -> (Vec<Diag>, String) {
        let text = format!("version = 1\n[root]\ntmpfs = {{}}\n{body}");
        let t = text.clone();
        let c = crate::check(Path::new("t.toml"), &[], &mut |_| Ok(t.clone()));
        assert!(!c.has_errors(), "{:#?}", c.diags);
        let w = c
            .diags
            .into_iter()
            .filter(|d| d.code.starts_with("mountplan::process::"))
            .collect();
        (w, text)
    }

    fn at(text: &str, d: &Diag) -> String {
        let l = d.loc.expect("a place");
        text[l.span.start..l.span.end].to_string()
    }

    const PROC: &str =
        "[[step]]\nkind = \"mount\"\nid = \"p\"\ntype = \"proc\"\ntarget = \"/proc\"\n";

    #[test]
    fn proc_without_a_pid_namespace_warns_at_the_mount() {
        let (w, t) = warnings(&format!("[namespaces]\npid = false\n{PROC}"));
        assert_eq!(w.len(), 1, "{w:#?}");
        assert_eq!(w[0].code, "mountplan::process::host-pids");
        assert_eq!(at(&t, &w[0]), "\"/proc\"");
        assert!(w[0].help.as_deref().unwrap().contains("pid = true"));
        // With the default pid namespace there is nothing to say.
        let (w, _) = warnings(PROC);
        assert!(w.is_empty(), "{w:#?}");
    }

    #[test]
    fn binds_of_the_host_s_proc_warn_too_and_are_listed() {
        let binds = "[[step]]\nkind = \"mount\"\nid = \"b\"\ntype = \"bind\"\nsource = \"/proc\"\n\
                     target = \"/hp\"\n\
                     [[step]]\nkind = \"mount\"\nid = \"all\"\ntype = \"rbind\"\nsource = \"/\"\n\
                     target = \"/host\"\n\
                     [[step]]\nkind = \"mount\"\nid = \"usr\"\ntype = \"rbind\"\nsource = \"/usr\"\n\
                     target = \"/usr\"\n";
        let (w, t) = warnings(&format!("[namespaces]\npid = false\n{binds}"));
        assert_eq!(w.len(), 1, "{w:#?}");
        assert_eq!(at(&t, &w[0]), "\"/hp\"");
        assert!(
            w[0].message.contains("binds the host's `/proc`"),
            "{}",
            w[0].message
        );
        assert_eq!(w[0].secondary.len(), 1, "{w:#?}");
        assert!(w[0].secondary[0].1.contains("recursively"));
    }

    #[test]
    fn a_plain_chroot_warns_that_cap_sys_chroot_is_gone() {
        for (pivot, word) in [
            ("strategy = \"chroot\"", "is a plain"),
            (
                "strategy = \"pivot-root\"\nfallback = \"chroot\"",
                "falls back",
            ),
        ] {
            let (w, t) = warnings(&format!("[[step]]\nkind = \"pivot\"\n{pivot}\n"));
            assert_eq!(w.len(), 1, "{w:#?}");
            assert_eq!(w[0].code, "mountplan::process::plain-chroot");
            assert_eq!(at(&t, &w[0]), "\"pivot\"");
            assert!(w[0].message.contains(word), "{}", w[0].message);
            assert!(w[0].message.contains("runs without CAP_SYS_CHROOT"));
        }
        let (w, _) = warnings(
            "[process]\ncapabilities = []\n[[step]]\nkind = \"pivot\"\nstrategy = \"chroot\"\n",
        );
        assert_eq!(w.len(), 1);
        assert!(
            w[0].message.contains("leave CAP_SYS_CHROOT out"),
            "{}",
            w[0].message
        );
        let (w, _) = warnings("[[step]]\nkind = \"pivot\"\nstrategy = \"move\"\n");
        assert!(w.is_empty(), "{w:#?}");
    }
}
