//! Every plan in plans/ applies as root, twice (the same result both times), with a command
//! that prints the mount table, lists /dev and stats the nodes; what it prints is checked
//! against the plan's predicted final tree, and the host is unchanged by the second apply.
//! Then every plan rootless (as uid 65534): plans that make device nodes are refused before
//! anything starts; the others apply and show the same view.

use std::collections::BTreeMap;
use std::path::Path;

use mountplan::graph::{Dag, NodeKind};

use crate::support::*;

/// The plan's DAG, as the library builds it.
fn dag_of(plan: &Path, sets: &[(String, String)]) -> Dag {
    let c = mountplan::check(plan, sets, &mut |p: &Path| std::fs::read_to_string(p));
    assert!(
        !c.has_errors(),
        "{} does not check: {:?}",
        plan.display(),
        c.diags
    );
    c.dag.expect("a valid plan has a DAG")
}

const SCRIPT: &str = r#"
echo '==mountinfo'
cat /proc/self/mountinfo 2>/dev/null || echo 'no /proc'
echo '==dev'
ls -la /dev
echo '==stat'
for p in "$@"; do stat -c '%n|%F|%a|%t:%T' "$p" 2>&1; done
"#;

fn section<'a>(out: &'a str, name: &str) -> &'a str {
    let start = format!("=={name}\n");
    let Some(i) = out.find(&start) else {
        return "";
    };
    let rest = &out[i + start.len()..];
    match rest.find("\n==") {
        Some(j) => &rest[..j + 1],
        None => rest,
    }
}

fn file_type_word(k: &NodeKind) -> Option<&'static str> {
    Some(match k {
        NodeKind::Dir => "directory",
        NodeKind::File => "regular empty file",
        NodeKind::Char(_) => "character special file",
        NodeKind::Block(_) => "block special file",
        NodeKind::Fifo => "fifo",
        NodeKind::Symlink(_) => "symbolic link",
        NodeKind::Changed => return None,
    })
}

/// The root has a `/bin/sh`: it is a directory (the busybox root), `/bin` is mounted, or
/// `/bin` is a link into a bound `/usr` (the host's programs).
fn has_shell(dag: &Dag) -> bool {
    let mounted = |p: &str| dag.tree.mounts.iter().any(|m| m.mountpoint.as_str() == p);
    let bin_link = dag
        .tree
        .nodes
        .iter()
        .any(|n| n.path.as_str() == "/bin" && matches!(n.kind, NodeKind::Symlink(_)));
    matches!(dag.plan.root, mountplan::model::Root::Path(_))
        || mounted("/bin")
        || (bin_link && mounted("/usr"))
}

/// Checks the command's view against the prediction.
fn check_view(name: &str, dag: &Dag, out: &str) {
    let mi = section(out, "mountinfo");
    if !mi.contains("no /proc") {
        let actual = parse_mountinfo(mi);
        for m in &dag.tree.mounts {
            let mp = m.mountpoint.as_str();
            let here: Vec<&(String, String, String)> =
                actual.iter().filter(|(p, _, _)| p == mp).collect();
            // Masks and read-only paths leave a missing path alone.
            let optional = m.step.and_then(|i| dag.plan.steps.get(i)).is_some_and(|s| {
                matches!(
                    s.action,
                    mountplan::model::Action::Mask(_) | mountplan::model::Action::Readonly(_)
                )
            });
            if here.is_empty() && optional {
                continue;
            }
            assert!(
                !here.is_empty(),
                "{name}: the command sees no mount at {mp}:\n{mi}"
            );
            if m.fstype != "bind" && m.fstype != "mask" && m.step.is_some() {
                assert!(
                    here.iter().any(|(_, t, _)| *t == m.fstype),
                    "{name}: {mp} should be {} but is {here:?}",
                    m.fstype
                );
            }
            let ro = m.flags.contains(mountplan::model::MsFlags::MS_RDONLY);
            if ro {
                assert!(
                    here.iter().any(|(_, _, o)| o.split(',').any(|x| x == "ro")),
                    "{name}: {mp} should be read-only: {here:?}"
                );
            }
        }
    }
    let stats: BTreeMap<&str, Vec<&str>> = section(out, "stat")
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (f.len() == 4).then(|| (f[0], f))
        })
        .collect();
    // A mountpoint shows what is mounted on it, not what was made there.
    let mountpoints: Vec<&str> = dag
        .tree
        .mounts
        .iter()
        .map(|m| m.mountpoint.as_str())
        .collect();
    for n in dag
        .tree
        .nodes
        .iter()
        .filter(|n| n.hidden_by.is_none() && !mountpoints.contains(&n.path.as_str()))
    {
        let Some(want) = file_type_word(&n.kind) else {
            continue;
        };
        let p = n.path.as_str();
        let Some(f) = stats.get(p) else {
            panic!("{name}: {p} is not visible from inside:\n{out}");
        };
        assert!(
            f[1] == want || (want == "regular empty file" && f[1] == "regular file"),
            "{name}: {p} is a {} inside, the plan makes a {want}",
            f[1]
        );
        if let (Some(mode), false) = (n.mode, matches!(n.kind, NodeKind::Symlink(_))) {
            assert_eq!(
                u32::from_str_radix(f[2], 8).ok(),
                Some(mode.bits()),
                "{name}: mode of {p}"
            );
        }
        if let NodeKind::Char(mountplan::lowering::Dev::Num(ma, mi))
        | NodeKind::Block(mountplan::lowering::Dev::Num(ma, mi)) = &n.kind
        {
            assert_eq!(
                f[3],
                format!("{ma:x}:{mi:x}"),
                "{name}: device number of {p}"
            );
        }
    }
}

#[test]
fn every_plan_applies_as_root_and_the_command_sees_the_plan() {
    let Some(_serial) = privileged("every_plan_applies_as_root_and_the_command_sees_the_plan")
    else {
        return;
    };
    let mut names: Vec<_> = std::fs::read_dir(plans_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no plans in {}", plans_dir().display());
    for plan in names {
        let name = plan.file_stem().unwrap().to_string_lossy().into_owned();
        let s = Scratch::new(&name);
        let root = s.path("root");
        busybox_root(&root);
        // Plans with a root directory name it ${ROOTFS} (perhaps in an included file).
        let sets: Vec<(String, String)> = if dag_of(&plan, &[]).plan.vars.contains_key("ROOTFS") {
            vec![("ROOTFS".into(), root.display().to_string())]
        } else {
            Vec::new()
        };
        let dag = dag_of(&plan, &sets);
        let has_shell = has_shell(&dag);
        let nodes: Vec<String> = dag
            .tree
            .nodes
            .iter()
            .filter(|n| n.hidden_by.is_none())
            .map(|n| n.path.to_string())
            .collect();
        let mk = || {
            let mut r = Run::apply(&plan, &s.state());
            for (k, v) in &sets {
                r = r.set(k, Path::new(v));
            }
            if has_shell {
                let mut c = vec!["/bin/sh", "-c", SCRIPT, "sh"];
                c.extend(nodes.iter().map(String::as_str));
                r = r.cmd(&c);
            }
            r
        };
        let host = host_mounts();
        let first = mk().run();
        assert_eq!(
            first.status, 0,
            "{name}: first apply failed:\n{}\n{}",
            first.stderr, first.stdout
        );
        let m1 = manifest(&[&s.dir]);
        let second = mk().run();
        assert_eq!(
            second.status, 0,
            "{name}: second apply failed:\n{}",
            second.stderr
        );
        assert_same(&name, &m1, &manifest(&[&s.dir]));
        assert_eq!(host, host_mounts(), "{name}: the host mount table changed");
        assert!(
            journals(&s.state()).is_empty(),
            "{name}: a journal was left"
        );
        if has_shell {
            // A plan with a console (oci-default) prints through its pty: "\r\n" line ends.
            check_view(&name, &dag, &second.stdout.replace('\r', ""));
        }
        eprintln!("{name}: ok");
    }
}

/// Chowns a tree to 65534:65534 (not following symlinks), so a rootless apply may create in it.
fn chown_nobody(p: &Path) {
    let id = (
        Some(nix::unistd::Uid::from_raw(65534)),
        Some(nix::unistd::Gid::from_raw(65534)),
    );
    nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        p,
        id.0,
        id.1,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .unwrap();
    if p.symlink_metadata().unwrap().is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            chown_nobody(&e.unwrap().path());
        }
    }
}

#[test]
fn every_plan_applies_rootless_or_is_refused_before_it_starts() {
    let test = "every_plan_applies_rootless_or_is_refused_before_it_starts";
    let Some(_serial) = privileged(test) else {
        return;
    };
    if !rootless_possible(test) {
        return;
    }
    let mut names: Vec<_> = std::fs::read_dir(plans_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    names.sort();
    let (mut applied, mut refused) = (0, 0);
    for plan in names {
        let name = plan.file_stem().unwrap().to_string_lossy().into_owned();
        let s = Scratch::new(&format!("rootless-{name}"));
        let root = s.path("root");
        busybox_root(&root);
        chown_nobody(&s.dir);
        std::fs::create_dir_all(s.state()).unwrap();
        chown_nobody(&s.state());
        let sets: Vec<(String, String)> = if dag_of(&plan, &[]).plan.vars.contains_key("ROOTFS") {
            vec![("ROOTFS".into(), root.display().to_string())]
        } else {
            Vec::new()
        };
        let dag = dag_of(&plan, &sets);
        let makes_devices = dag
            .calls
            .steps
            .iter()
            .flat_map(|sc| sc.calls.iter())
            .any(|c| {
                let c = c.to_string();
                c.starts_with("mknod(") && (c.contains("S_IFCHR") || c.contains("S_IFBLK"))
            });
        let has_shell = has_shell(&dag);
        let mut r = Run::apply(&plan, &s.state());
        for (k, v) in &sets {
            r = r.set(k, Path::new(v));
        }
        let nodes: Vec<String> = dag
            .tree
            .nodes
            .iter()
            .filter(|n| n.hidden_by.is_none())
            .map(|n| n.path.to_string())
            .collect();
        if has_shell {
            let mut c = vec!["/bin/sh", "-c", SCRIPT, "sh"];
            c.extend(nodes.iter().map(String::as_str));
            r = r.cmd(&c);
        }
        r.nobody = true;
        let before = manifest(&[&s.dir]);
        let host = host_mounts();
        let o = r.run();
        assert_eq!(host, host_mounts(), "{name}: the host mount table changed");
        // What a user namespace cannot do (device nodes; sysfs without a network namespace
        // of its own), and a plan that says `user = false`, is refused before anything
        // starts, saying why and what to do instead; every other plan applies.
        let sysfs_without_net =
            !dag.plan.namespaces.net && dag.tree.mounts.iter().any(|m| m.fstype == "sysfs");
        let no_user = dag.plan.namespaces.user == mountplan::model::UserNs::Off;
        let expect_refusal = makes_devices || sysfs_without_net || no_user;
        if !expect_refusal {
            assert_eq!(o.status, 0, "{name}: rootless should apply:\n{}", o.stderr);
        }
        if expect_refusal {
            assert_eq!(o.status, 125, "{name}: rootless:\n{}", o.stderr);
            assert!(
                o.stderr.contains("mountplan::apply::")
                    && o.stderr.contains("help:")
                    && o.stderr.contains("nothing was applied"),
                "{name}: rootless refusal does not say why:\n{}",
                o.stderr
            );
            assert_same(&name, &before, &manifest(&[&s.dir]));
            refused += 1;
        } else {
            if has_shell {
                check_view(&name, &dag, &o.stdout);
            }
            applied += 1;
        }
        assert!(
            journals(&s.state()).is_empty(),
            "{name}: a journal was left"
        );
        eprintln!(
            "{name}: rootless: {}",
            if o.status == 0 { "applied" } else { "refused" }
        );
    }
    assert!(
        applied > 0 && refused > 0,
        "applied {applied}, refused {refused}"
    );
}

/// plans/host-sandbox.toml (the README's example), built from the `mountplan:` fragments,
/// runs the host's own dynamically linked programs: `ls /` lists exactly what the plan makes,
/// and a shell runs a pipeline of host programs, its loader found through the `/lib64` (or
/// `/lib`) link.
#[test]
fn host_sandbox_runs_the_hosts_dynamically_linked_programs() {
    let Some(_serial) = privileged("host_sandbox_runs_the_hosts_dynamically_linked_programs")
    else {
        return;
    };
    // The premise: the host's ls is dynamically linked, its loader behind a /lib* link.
    let interp = match mountplan::sys::linux::elf::program_start(Path::new("/usr/bin/ls")) {
        mountplan::sys::linux::elf::Start::Interpreter(i) => i,
        other => panic!("/usr/bin/ls is not dynamically linked here ({other:?})"),
    };
    assert!(
        interp.starts_with("/lib64") || interp.starts_with("/lib"),
        "{}",
        interp.display()
    );
    let s = Scratch::new("host-sandbox-ls");
    let plan = plans_dir().join("host-sandbox.toml");
    let o = Run::apply(&plan, &s.state()).cmd(&["ls", "/"]).run();
    assert_eq!(o.status, 0, "ls / failed:\n{}", o.stderr);
    let listed: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(
        listed,
        [
            "bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "tmp", "usr"
        ],
        "{}",
        o.stderr
    );
    let o = Run::apply(&plan, &s.state())
        .cmd(&[
            "sh",
            "-c",
            "ls -l /dev/null | cut -c1 && echo hi > /tmp/f && cat /tmp/f && readlink /lib64",
        ])
        .run();
    assert_eq!(o.status, 0, "sh failed:\n{}", o.stderr);
    assert_eq!(o.stdout, "c\nhi\nusr/lib64\n", "{}", o.stderr);
    assert!(journals(&s.state()).is_empty(), "a journal was left");
}
