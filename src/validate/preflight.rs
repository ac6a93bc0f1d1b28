//! What cannot work on this host, found before any namespace is made: validation that needs
//! facts of the running system (who runs mountplan, its capabilities, whether the apply is
//! rootless, `--persist`).
//!
//! Takes the validated [`Plan`] and the [`Host`] facts; returns error [`Diag`]s, each with its
//! place in the plan where it has one, and how to fix it. An empty list: the apply may start.

use crate::diag::Diag;
use crate::model::{Action, CapSet, FsKind, NodeSpec, NodeType, Plan, Process, UserNs};
use crate::source::Loc;

/// The facts of the running system the checks need.
#[derive(Debug, Clone, Copy)]
pub struct Host {
    /// mountplan's effective uid.
    pub euid: u32,
    /// The apply makes a user namespace (see [`wants_userns`]).
    pub userns: bool,
    /// `--persist FILE` was given.
    pub persist: bool,
    /// The capabilities the plan's `[process]` lists that mountplan itself does not have.
    pub missing_caps: CapSet,
}

/// Whether the apply makes a user namespace (rootless): as the plan says, or with `"auto"`
/// when mountplan does not run as root.
pub fn wants_userns(plan: &Plan, euid: u32) -> bool {
    match plan.namespaces.user {
        UserNs::On => true,
        UserNs::Off => false,
        UserNs::Auto => euid != 0,
    }
}

/// `user = false` needs root: a mount namespace without a user namespace needs CAP_SYS_ADMIN.
fn needs_root(plan: &Plan, host: &Host, out: &mut Vec<Diag>) {
    if host.userns || host.euid == 0 {
        return;
    }
    out.push(
        Diag::error_nowhere(
            "mountplan::apply::needs-root",
            format!(
                "plan `{}` sets `user = false` in [namespaces], so it needs root (a mount \
                 namespace without a user namespace needs CAP_SYS_ADMIN), and mountplan \
                 runs as uid {}",
                plan.name, host.euid
            ),
        )
        .help("run it as root, or set `user = \"auto\"` in [namespaces] to apply it rootless"),
    );
}

/// Capabilities the command is to get that mountplan cannot give.
fn missing_caps(plan: &Plan, host: &Host, out: &mut Vec<Diag>) {
    if host.missing_caps.is_empty() {
        return;
    }
    let msg = format!(
        "the command is to get {}, which mountplan itself does not have (not in its \
         permitted or bounding set), so it cannot give them",
        host.missing_caps.names().join(", ")
    );
    let d = match plan.process.locs.caps {
        Some(l) => Diag::error("mountplan::apply::capabilities", msg, l).label("asked for here"),
        None => Diag::error_nowhere("mountplan::apply::capabilities", msg),
    };
    out.push(d.help(
        "leave them out of [process] capabilities (`\"all\"` takes only what there is), \
         or run mountplan with them",
    ));
}

/// What cannot work, found before any namespace is made: `--persist` of a pid namespace with
/// its own proc (the proc dies with the apply's init, so the pinned namespace's `/proc` would
/// be dead); in a user namespace, device nodes (the kernel refuses them), owners other than
/// root (only the caller is mapped, as 0), proc without a pid namespace and sysfs without a
/// network namespace, a command uid, gid or groups other than 0 and none, and `--persist`;
/// `user = false` without root; capabilities mountplan lacks.
pub fn preflight(plan: &Plan, host: &Host) -> Vec<Diag> {
    let mut out = plan_checks(plan, host.userns, host.persist);
    needs_root(plan, host, &mut out);
    missing_caps(plan, host, &mut out);
    out
}

fn plan_checks(plan: &Plan, userns: bool, persist: bool) -> Vec<Diag> {
    let mut out = Vec::new();
    if persist && plan.namespaces.pid {
        for s in &plan.steps {
            if let Action::Mount(m) = &s.action {
                if m.fs == FsKind::Proc {
                    out.push(
                        Diag::error(
                            "mountplan::apply::persist-pid-proc",
                            format!(
                                "step `{}` mounts the proc of the plan's pid namespace, which \
                                 dies when the apply ends: the namespace --persist pins would \
                                 keep a dead `{}` (`nsenter --mount=FILE` could not read \
                                 /proc/self/...)",
                                s.id.as_str(),
                                m.target
                            ),
                            m.target_loc,
                        )
                        .label("this proc dies with the apply")
                        .help(
                            "to pin this plan, set `pid = false` in [namespaces] (proc then \
                             shows the host's processes), or drop the proc mount",
                        ),
                    );
                }
            }
        }
    }
    if !userns {
        return out;
    }
    for s in &plan.steps {
        if let Action::Mount(m) = &s.action {
            if m.idmap.is_some() {
                out.push(
                    Diag::error(
                        "mountplan::apply::rootless-idmap",
                        format!(
                            "step `{}` idmaps its bind of `{}`, which cannot work rootless: \
                             idmapping a mount needs CAP_SYS_ADMIN in the user namespace that \
                             owns its filesystem, the host's (EPERM)",
                            s.id.as_str(),
                            m.source()
                        ),
                        m.target_loc,
                    )
                    .label("an idmapped bind in a user namespace")
                    .help("run as root with `user = false` in [namespaces], or remove `idmap`"),
                );
            }
        }
    }
    for s in &plan.steps {
        let id = s.id.as_str();
        match &s.action {
            Action::Mknod(n) => {
                let dev = match &n.spec {
                    NodeSpec::Given { node, .. } => *node != NodeType::Fifo,
                    NodeSpec::FromHost(_) => true,
                };
                if dev {
                    out.push(
                        Diag::error(
                            "mountplan::apply::rootless-mknod",
                            format!(
                                "step `{id}` makes the device node `{}`, which cannot work \
                                 rootless: the kernel refuses mknod of devices in a user \
                                 namespace (EPERM)",
                                n.path
                            ),
                            n.path_loc,
                        )
                        .label("a device node in a user namespace")
                        .help(format!(
                            "bind the host's node instead: kind = \"mount\", type = \"bind\", \
                             source = \"{0}\", target = \"{0}\", create = \"file\" (or run as \
                             root with [namespaces] user = false)",
                            n.path
                        )),
                    );
                }
                if n.uid.is_some_and(|u| u != 0) || n.gid.is_some_and(|g| g != 0) {
                    out.push(rootless_owner(id, s.loc));
                }
            }
            Action::Chmod(c) if c.uid.is_some_and(|u| u != 0) || c.gid.is_some_and(|g| g != 0) => {
                out.push(rootless_owner(id, c.path_loc));
            }
            Action::Mount(m) => match m.fs {
                FsKind::Proc if !plan.namespaces.pid => out.push(
                    Diag::error(
                        "mountplan::apply::rootless-proc",
                        format!(
                            "step `{id}` mounts proc, which a user namespace may do only in a \
                             pid namespace it owns"
                        ),
                        m.target_loc,
                    )
                    .label("proc needs a pid namespace here")
                    .help("set `pid = true` in [namespaces], or bind the host's /proc"),
                ),
                FsKind::Sysfs if !plan.namespaces.net => out.push(
                    Diag::error(
                        "mountplan::apply::rootless-sysfs",
                        format!(
                            "step `{id}` mounts sysfs, which a user namespace may do only in a \
                             network namespace it owns"
                        ),
                        m.target_loc,
                    )
                    .label("sysfs needs a network namespace here")
                    .help("set `net = true` in [namespaces], or bind the host's /sys"),
                ),
                _ => {}
            },
            _ => {}
        }
    }
    rootless_ids(&plan.process, &mut out);
    if persist {
        out.push(Diag::error_nowhere(
            "mountplan::apply::rootless-persist",
            "--persist needs root: pinning a namespace is a bind mount in the host's mount \
             namespace",
        ));
    }
    out
}

/// In a user namespace only uid and gid 0 exist (the caller), and setgroups is denied.
fn rootless_ids(p: &Process, out: &mut Vec<Diag>) {
    for (key, id, loc) in [("uid", p.uid, p.locs.uid), ("gid", p.gid, p.locs.gid)] {
        if id == 0 {
            continue;
        }
        let msg = format!(
            "the command would run as {key} {id}, but a rootless apply maps only the caller \
             (as uid and gid 0)"
        );
        let d = match loc {
            Some(l) => Diag::error("mountplan::apply::rootless-ids", msg, l)
                .label(format!("{key} {id} does not exist in this user namespace")),
            None => Diag::error_nowhere("mountplan::apply::rootless-ids", msg),
        };
        out.push(d.help(format!(
            "drop `{key}` from [process], or run as root with [namespaces] user = false"
        )));
    }
    if !p.groups.is_empty() {
        let msg = "the command would get supplementary groups, but a rootless apply cannot \
                   set them (setgroups is denied in its user namespace)";
        let d = match p.locs.groups {
            Some(l) => Diag::error("mountplan::apply::rootless-ids", msg, l)
                .label("setgroups is denied here"),
            None => Diag::error_nowhere("mountplan::apply::rootless-ids", msg),
        };
        out.push(
            d.help("drop `groups` from [process], or run as root with [namespaces] user = false"),
        );
    }
}

fn rootless_owner(id: &str, loc: Loc) -> Diag {
    Diag::error(
        "mountplan::apply::rootless-owner",
        format!(
            "step `{id}` sets an owner other than root, but a rootless apply maps only the \
             caller (as uid and gid 0)"
        ),
        loc,
    )
    .label("only uid/gid 0 exist in this user namespace")
    .help("drop `uid`/`gid`, or run as root with [namespaces] user = false")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Plan {
        let t = text.to_string();
        let c = crate::check(std::path::Path::new("t.toml"), &[], &mut |_| Ok(t.clone()));
        c.dag.expect("valid").plan
    }

    const ROOT: Host = Host {
        euid: 0,
        userns: false,
        persist: false,
        missing_caps: CapSet::EMPTY,
    };

    /// What each diagnostic points at in `text`.
    fn pointed(text: &str, d: &[Diag]) -> Vec<(&'static str, String)> {
        d.iter()
            .map(|d| {
                let at = d.loc.map(|l| text[l.span.start..l.span.end].to_string());
                (d.code, at.unwrap_or_default())
            })
            .collect()
    }

    /// An idmapped bind is refused before a rootless apply starts, at the bind's target; as
    /// root it is not.
    #[test]
    fn rootless_refuses_an_idmapped_bind() {
        let text = "version = 1\n[root]\ntmpfs = {}\n[[step]]\nkind = \"mount\"\nid = \"b\"\n\
                    type = \"bind\"\nsource = \"/srv\"\ntarget = \"/b\"\n\
                    idmap = { uid = [[0, 1000, 1]], gid = [[0, 1000, 1]] }\n";
        let p = plan(text);
        let rootless = Host {
            euid: 1000,
            userns: true,
            ..ROOT
        };
        assert_eq!(
            pointed(text, &preflight(&p, &rootless)),
            [("mountplan::apply::rootless-idmap", "\"/b\"".to_string())]
        );
        assert!(preflight(&p, &ROOT).is_empty());
    }

    /// A rootless apply maps only uid and gid 0 and cannot setgroups: a `[process]` asking for
    /// more is refused before anything starts, at the key, with the fix; as root it is fine.
    #[test]
    fn rootless_refuses_a_command_uid_gid_or_groups_other_than_root_s() {
        let text =
            "version = 1\n[root]\ntmpfs = {}\n[process]\nuid = 1000\ngid = 5\ngroups = [7]\n";
        let p = plan(text);
        let rootless = Host {
            euid: 1000,
            userns: true,
            ..ROOT
        };
        let d = preflight(&p, &rootless);
        assert_eq!(
            pointed(text, &d),
            [
                ("mountplan::apply::rootless-ids", "1000".to_string()),
                ("mountplan::apply::rootless-ids", "5".to_string()),
                ("mountplan::apply::rootless-ids", "7".to_string()),
            ]
        );
        assert!(d[0].help.as_deref().unwrap().contains("user = false"));
        assert!(preflight(&p, &ROOT).is_empty());
    }

    /// `user = false` without root, and capabilities mountplan lacks, are refused with what
    /// to change; `"auto"` picks a user namespace exactly when not root.
    #[test]
    fn root_only_plans_and_missing_capabilities_are_refused_with_the_fix() {
        let text = "version = 1\n[root]\ntmpfs = {}\n[namespaces]\nuser = false\n\
                    [process]\ncapabilities = [\"CAP_NET_ADMIN\"]\n";
        let p = plan(text);
        let mut lacking = CapSet::EMPTY;
        lacking.insert(crate::model::Cap::parse("CAP_NET_ADMIN").unwrap());
        let user = Host {
            euid: 1000,
            userns: wants_userns(&p, 1000),
            missing_caps: lacking,
            ..ROOT
        };
        assert!(!user.userns);
        let d = preflight(&p, &user);
        assert_eq!(
            pointed(text, &d),
            [
                ("mountplan::apply::needs-root", String::new()),
                (
                    "mountplan::apply::capabilities",
                    "[\"CAP_NET_ADMIN\"]".to_string()
                ),
            ]
        );
        assert!(
            d[0].message.contains("runs as uid 1000"),
            "{}",
            d[0].message
        );
        assert!(d[1].message.contains("CAP_NET_ADMIN"), "{}", d[1].message);
        assert!(preflight(&p, &ROOT).is_empty());
        let auto = plan("version = 1\n[root]\ntmpfs = {}\n");
        assert!(wants_userns(&auto, 1000) && !wants_userns(&auto, 0));
    }
}
