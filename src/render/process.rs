//! What the command gets, in words: a plan's [`Process`] -> `(field, value)` lines, the same in
//! the text and Markdown dry runs and in `diff`; and its console: the calls that make it
//! ([`console_calls`]) and the final tree with `/dev/console` bound ([`with_console`]).

use std::borrow::Cow;

use crate::graph::{FinalTree, Mounted, TreeMount};
use crate::model::{CapsAsked, Console, ConsoleSource, MsFlags, Namespaces, Process};

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
        let what = match &c.source {
            ConsoleSource::Pty { devpts, step } => format!(
                "a new pty of the devpts at {devpts} (step `{step}`), its slave mode 0600 owner \
                 0:0 bound onto {}: the command's stdin, stdout, stderr and controlling \
                 terminal (mountplan relays the caller's input and output)",
                c.target
            ),
            ConsoleSource::Host(h) => format!(
                "the host's terminal {h} (its mode and owner left as they are) bound onto {}: \
                 the command's stdin, stdout, stderr and controlling terminal",
                c.target
            ),
        };
        v.push(("console", what));
    }
    v
}

/// The calls that make the console, as [`crate::sys::linux::console`] makes them: after the
/// steps (the pivot done: paths are in the new root), and for a host terminal its opening
/// before them.
pub(crate) fn console_calls(c: &Console) -> Vec<String> {
    let target = c.target.as_str();
    let (dir, name) = (c.target.parent(), c.target.file_name());
    let mountpoint = [
        format!("openat(<{dir}>, {name:?}, O_PATH|O_NOFOLLOW|O_CLOEXEC)"),
        format!(
            "openat(<{dir}>, {name:?}, O_CREAT|O_EXCL|O_WRONLY|O_NOFOLLOW|O_CLOEXEC, 0600) if it \
             is missing"
        ),
    ];
    let attach = format!(
        "move_mount(<tree>, \"\", <{target}>, \"\", MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_EMPTY_PATH)"
    );
    let devpts = match &c.source {
        ConsoleSource::Pty { devpts, .. } => devpts,
        ConsoleSource::Host(h) => {
            return vec![
                format!(
                    "before the steps, in the new mount namespace: open({:?}, O_RDWR|O_NOCTTY) \
                     => <console> (refused unless a terminal)",
                    h.as_str()
                ),
                "open_tree(<console>, OPEN_TREE_CLONE) => <tree>".to_string(),
                format!("after the steps: {}", mountpoint[0]),
                mountpoint[1].clone(),
                attach,
                "dup2(<console>, 0); dup2(<console>, 1); dup2(<console>, 2)".to_string(),
                "in the command: setsid(); ioctl(0, TIOCSCTTY, 0)".to_string(),
            ];
        }
    };
    vec![
        format!("openat(<{devpts}>, \"ptmx\", O_RDWR|O_NOCTTY|O_NOFOLLOW|O_CLOEXEC)"),
        "ioctl(<ptmx>, TIOCSPTLCK, 0)".to_string(),
        "ioctl(<ptmx>, TIOCGPTPEER, O_RDWR|O_NOCTTY|O_CLOEXEC) => <slave>".to_string(),
        "fchown(<slave>, 0, 0)".to_string(),
        "fchmod(<slave>, 0600)".to_string(),
        mountpoint[0].clone(),
        mountpoint[1].clone(),
        "open_tree(<slave>, OPEN_TREE_CLONE) => <tree>".to_string(),
        attach,
        "dup2(<slave>, 0); dup2(<slave>, 1); dup2(<slave>, 2)".to_string(),
        "sendmsg(<socket>, SCM_RIGHTS <ptmx>) (to mountplan, which relays)".to_string(),
        "in the command: setsid(); ioctl(0, TIOCSCTTY, 0)".to_string(),
    ]
}

/// The final tree with the console bound onto its target, when the plan has one (the first
/// pty of a new devpts instance is number 0).
pub(crate) fn with_console<'t>(tree: &'t FinalTree, p: &Process) -> Cow<'t, FinalTree> {
    let Some(c) = &p.console else {
        return Cow::Borrowed(tree);
    };
    let source = match &c.source {
        ConsoleSource::Pty { devpts, .. } => format!("{} (the console's pty)", devpts.join("0")),
        ConsoleSource::Host(h) => h.to_string(),
    };
    let mut t = tree.clone();
    t.mounts.push(TreeMount::new(
        c.target.clone(),
        Mounted::Bind,
        source,
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

    #[test]
    fn a_console_in_words_in_the_calls_and_in_the_tree() {
        let pty = Console {
            source: ConsoleSource::Pty {
                devpts: RootPath::new("/dev/pts").unwrap(),
                step: "pts".into(),
            },
            target: RootPath::new("/dev/console").unwrap(),
            loc: crate::source::Loc::default(),
        };
        let p = Process {
            console: Some(pty.clone()),
            ..Process::default()
        };
        let l = lines(&p, &Namespaces::default());
        assert_eq!(l.last().map(|(k, _)| *k), Some("console"));
        assert!(l.last().unwrap().1.starts_with(
            "a new pty of the devpts at /dev/pts (step `pts`), its slave mode 0600 owner 0:0 \
             bound onto /dev/console"
        ));
        let calls = console_calls(&pty);
        assert_eq!(
            calls[0],
            "openat(</dev/pts>, \"ptmx\", O_RDWR|O_NOCTTY|O_NOFOLLOW|O_CLOEXEC)"
        );
        assert!(calls.contains(&"fchmod(<slave>, 0600)".to_string()));
        assert!(calls.contains(&"fchown(<slave>, 0, 0)".to_string()));
        let empty = FinalTree::default();
        let tree = with_console(&empty, &p);
        assert_eq!(tree.mounts.len(), 1);
        assert_eq!(tree.mounts[0].mountpoint.as_str(), "/dev/console");
        assert_eq!(tree.mounts[0].source, "/dev/pts/0 (the console's pty)");
        // Without a console the tree is the graph's, untouched.
        assert!(matches!(
            with_console(&FinalTree::default(), &Process::default()),
            Cow::Borrowed(_)
        ));
        let host = Console {
            source: ConsoleSource::Host(crate::model::HostPath::new("/dev/pts/7").unwrap()),
            ..pty
        };
        let calls = console_calls(&host);
        assert!(
            calls[0].contains("open(\"/dev/pts/7\", O_RDWR|O_NOCTTY)"),
            "{calls:?}"
        );
        assert!(
            !calls.iter().any(|c| c.contains("fchmod")),
            "the host's mode is kept"
        );
    }
}
