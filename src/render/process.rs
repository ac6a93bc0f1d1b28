//! What the command gets, in words: a plan's [`Process`] -> `(field, value)` lines, the same in
//! the text and Markdown dry runs and in `diff`; and its console: the calls that make it
//! ([`console_calls`]) and the final tree with `/dev/console` bound ([`with_console`]).

use std::borrow::Cow;

use crate::graph::{FinalTree, Mounted, TreeMount};
use crate::model::{CapsAsked, Console, MsFlags, Namespaces, Process};

/// The fields, in the order shown: user, capabilities, no_new_privs, cwd, environment,
/// hostname, umask, and the console when there is one.
pub(crate) fn lines(p: &Process, ns: &Namespaces) -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    let groups = if p.groups.is_empty() {
        "no supplementary groups".to_string()
    } else {
        let g: Vec<String> = p.groups.iter().map(u32::to_string).collect();
        format!("groups {}", g.join(", "))
    };
    v.push(("user", format!("uid {}, gid {}, {groups}", p.uid, p.gid)));
    let names = p.caps.names().join(", ");
    let caps = match p.asked {
        CapsAsked::All => "all that mountplan has (as root: every one the kernel has)".to_string(),
        _ if p.caps.is_empty() => "none".to_string(),
        CapsAsked::Default => format!("{names} (Docker's default set)"),
        CapsAsked::Listed => names,
    };
    let caps = if p.chroot_drop {
        format!("{caps}; CAP_SYS_CHROOT taken out, since the pivot can end in a plain chroot")
    } else {
        caps
    };
    v.push(("capabilities", caps));
    v.push((
        "no_new_privs",
        if p.no_new_privs { "yes" } else { "no" }.to_string(),
    ));
    v.push(("cwd", p.cwd.to_string()));
    let mut env = vec![if p.env.clear {
        "empty".to_string()
    } else {
        "the caller's".to_string()
    }];
    if !p.env.unset.is_empty() {
        env.push(format!("unset {}", p.env.unset.join(", ")));
    }
    if !p.env.set.is_empty() {
        let s: Vec<String> = p.env.set.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.push(format!("set {}", s.join(", ")));
    }
    v.push(("environment", env.join("; ")));
    v.push((
        "hostname",
        match (&p.hostname, ns.uts) {
            (Some(h), _) => format!("{h} (set in its UTS namespace before the steps)"),
            (None, true) => "the host's, in a UTS namespace of its own".to_string(),
            (None, false) => "the host's".to_string(),
        },
    ));
    v.push((
        "umask",
        match p.umask {
            Some(m) => format!("{:04o}", m.bits()),
            None => "the caller's".to_string(),
        },
    ));
    if let Some(c) = &p.console {
        v.push((
            "console",
            format!(
                "a new pty of the devpts at {} (step `{}`), its slave mode 0600 owner 0:0 bound \
                 onto {}: the command's stdin, stdout, stderr and controlling terminal \
                 (mountplan relays the caller's input and output)",
                c.devpts, c.devpts_step, c.target
            ),
        ));
    }
    v
}

/// The calls that make the console, after the steps (the pivot done: paths are in the new
/// root), as [`crate::sys::linux::console`] makes them.
pub(crate) fn console_calls(c: &Console) -> Vec<String> {
    vec![
        format!(
            "openat(<{}>, \"ptmx\", O_RDWR|O_NOCTTY|O_NOFOLLOW)",
            c.devpts
        ),
        "ioctl(<ptmx>, TIOCSPTLCK, 0)".to_string(),
        "ioctl(<ptmx>, TIOCGPTPEER, O_RDWR|O_NOCTTY) => <slave>".to_string(),
        "fchown(<slave>, 0, 0)".to_string(),
        "fchmod(<slave>, 0600)".to_string(),
        format!(
            "openat(<{}>, O_PATH|O_NOFOLLOW) (created when missing: O_CREAT|O_EXCL, 0600)",
            c.target
        ),
        "open_tree(<slave>, \"\", OPEN_TREE_CLONE|AT_EMPTY_PATH)".to_string(),
        format!(
            "move_mount(<tree>, \"\", <{}>, \"\", MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_EMPTY_PATH)",
            c.target
        ),
        "dup2(<slave>, 0); dup2(<slave>, 1); dup2(<slave>, 2)".to_string(),
        "sendmsg(<socket>, SCM_RIGHTS <ptmx>) (to mountplan, which relays)".to_string(),
        "in the command: setsid(); ioctl(0, TIOCSCTTY, 0)".to_string(),
    ]
}

/// The final tree with the console's bind of the pty slave onto its target, when the plan has
/// a console (the first pty of a new devpts instance is number 0).
pub(crate) fn with_console<'t>(tree: &'t FinalTree, p: &Process) -> Cow<'t, FinalTree> {
    let Some(c) = &p.console else {
        return Cow::Borrowed(tree);
    };
    let mut t = tree.clone();
    t.mounts.push(TreeMount::new(
        c.target.clone(),
        Mounted::Bind,
        format!("{} (the console's pty)", c.devpts.join("0")),
        MsFlags::empty(),
        None,
        false,
    ));
    Cow::Owned(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Cap, CapSet, Env, Mode, RootPath};

    #[test]
    fn the_default_process_in_words() {
        let l = lines(&Process::default(), &Namespaces::default());
        let want = [
            ("user", "uid 0, gid 0, no supplementary groups"),
            (
                "capabilities",
                "CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_KILL, CAP_SETGID, \
                 CAP_SETUID, CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_NET_RAW, CAP_SYS_CHROOT, \
                 CAP_MKNOD, CAP_AUDIT_WRITE, CAP_SETFCAP (Docker's default set)",
            ),
            ("no_new_privs", "yes"),
            ("cwd", "/"),
            ("environment", "the caller's"),
            ("hostname", "the host's"),
            ("umask", "the caller's"),
        ];
        let got: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_changed_process_in_words() {
        let mut caps = CapSet::EMPTY;
        caps.insert(Cap::SYS_ADMIN);
        let p = Process {
            asked: CapsAsked::Listed,
            caps,
            chroot_drop: true,
            no_new_privs: false,
            cwd: RootPath::new("/work").unwrap(),
            env: Env {
                clear: true,
                unset: vec!["HOME".into()],
                set: vec![("A".into(), "b".into())],
            },
            hostname: Some("box".into()),
            uid: 5,
            gid: 6,
            groups: vec![7, 8],
            umask: Mode::parse("022"),
            ..Process::default()
        };
        let ns = Namespaces {
            uts: true,
            ..Namespaces::default()
        };
        let l = lines(&p, &ns);
        let got: Vec<&str> = l.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(
            got,
            [
                "uid 5, gid 6, groups 7, 8",
                "CAP_SYS_ADMIN; CAP_SYS_CHROOT taken out, since the pivot can end in a plain chroot",
                "no",
                "/work",
                "empty; unset HOME; set A=b",
                "box (set in its UTS namespace before the steps)",
                "0022",
            ]
        );
    }
}
