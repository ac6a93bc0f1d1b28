//! Hostile roots: symlinks planted in the root that lead outside it (absolute, through `..`,
//! to /proc/self/root), a FIFO where a directory is expected, /proc a symlink. Each is tried
//! with openat2 and with the user-space walk; nothing outside the root changes, nothing
//! hangs, and where the apply fails, the error says what was refused.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use crate::support::*;

pub struct Case {
    pub name: &'static str,
    /// Plants the hostile thing in `root`; `canary` is a directory beside the root.
    plant: fn(root: &Path, canary: &Path),
    /// The plan's steps (the root, namespaces and a pivot-less tail are added).
    steps: &'static str,
    /// Must the apply fail, and with what in its message?
    refused: Option<&'static [&'static str]>,
}

pub const CASES: &[Case] = &[
    Case {
        name: "parent-component-is-an-absolute-symlink-outside",
        plant: |root, canary| {
            std::fs::remove_dir(root.join("usr")).unwrap();
            symlink(canary, root.join("usr")).unwrap();
        },
        steps: r#"
[[step]]
kind = "mkdir"
path = "/usr/evil"
[[step]]
kind = "mknod"
path = "/usr/fifo"
node = "fifo"
"#,
        // Resolved inside the root, the link names <root>/<canary path>, which is missing.
        refused: Some(&["mkdir", "ENOENT"]),
    },
    Case {
        name: "mount-target-is-a-symlink-to-outside",
        plant: |root, canary| {
            std::fs::remove_dir(root.join("tmp")).unwrap();
            symlink(canary, root.join("tmp")).unwrap();
        },
        steps: r#"
[[step]]
kind = "mount"
type = "tmpfs"
target = "/tmp"
"#,
        refused: Some(&["exists and is a symlink"]),
    },
    Case {
        name: "dotdot-links-stay-inside",
        plant: |root, _| symlink("../../../../../../..", root.join("etc/up")).unwrap(),
        steps: r#"
[[step]]
kind = "mkdir"
path = "/etc/up/made-by-dotdot"
[[step]]
kind = "chmod"
path = "/etc/up"
mode = "0755"
"#,
        // `..` from the root stays at the root: the directory is made inside it.
        refused: None,
    },
    Case {
        name: "symlink-to-proc-self-root",
        plant: |root, _| symlink("/proc/self/root", root.join("escape")).unwrap(),
        steps: r#"
[[step]]
kind = "mount"
type = "proc"
target = "/proc"
[[step]]
kind = "mkdir"
path = "/escape/evil"
"#,
        // The link leads off the root's mount (into the proc mounted there): refused before
        // it could be followed as a magic link.
        refused: Some(&["symlink `/escape`", "EXDEV"]),
    },
    Case {
        name: "fifo-where-a-directory-is-expected",
        plant: |root, _| {
            std::fs::remove_dir(root.join("dev")).unwrap();
            nix::unistd::mkfifo(
                &root.join("dev"),
                nix::sys::stat::Mode::from_bits_truncate(0o644),
            )
            .unwrap();
        },
        steps: r#"
[[step]]
kind = "mknod"
path = "/dev/null"
node = "char"
major = 1
minor = 3
"#,
        refused: Some(&["is not a directory", "ENOTDIR"]),
    },
    Case {
        name: "fifo-as-a-mountpoint",
        plant: |root, _| {
            std::fs::remove_dir(root.join("dev")).unwrap();
            nix::unistd::mkfifo(
                &root.join("dev"),
                nix::sys::stat::Mode::from_bits_truncate(0o644),
            )
            .unwrap();
        },
        steps: r#"
[[step]]
kind = "mount"
type = "tmpfs"
target = "/dev"
"#,
        refused: Some(&["exists and is a FIFO"]),
    },
    Case {
        name: "proc-is-a-symlink-to-a-directory-inside",
        plant: |root, _| {
            std::fs::remove_dir(root.join("proc")).unwrap();
            std::fs::create_dir(root.join("fakeproc")).unwrap();
            symlink("/fakeproc", root.join("proc")).unwrap();
        },
        steps: r#"
[[step]]
kind = "mount"
type = "proc"
target = "/proc"
"#,
        refused: Some(&["CVE-2019-19921", "symlink"]),
    },
    Case {
        name: "proc-is-a-symlink-to-outside",
        plant: |root, canary| {
            std::fs::remove_dir(root.join("proc")).unwrap();
            symlink(canary, root.join("proc")).unwrap();
            // Make the link resolve inside the root, so only the proc rule refuses it.
            let inside = root.join(canary.strip_prefix("/").unwrap());
            std::fs::create_dir_all(inside).unwrap();
        },
        steps: r#"
[[step]]
kind = "mount"
type = "proc"
target = "/proc"
"#,
        refused: Some(&["CVE-2019-19921"]),
    },
    Case {
        name: "symlinked-node-target-is-not-followed",
        plant: |root, canary| symlink(canary.join("victim"), root.join("etc/victim")).unwrap(),
        steps: r#"
[[step]]
kind = "symlink"
path = "/etc/victim"
to = "/elsewhere"
[[step]]
kind = "mknod"
path = "/etc/victim"
node = "fifo"
"#,
        refused: Some(&["exists and is a symlink"]),
    },
];

fn plan_text(steps: &str) -> String {
    format!(
        "version = 1\nname = \"hostile\"\n[root]\npath = \"${{ROOTFS}}\"\n[namespaces]\n\
         user = false\npid = true\n{steps}"
    )
}

/// How paths are resolved in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolver {
    /// openat2, where the kernel has it.
    Openat2,
    /// The user-space walk, forced by the debug-build hook MOUNTPLAN_TEST_NO_OPENAT2.
    Hook,
    /// The user-space walk, because a seccomp filter makes openat2 fail with ENOSYS.
    Seccomp,
}

pub fn run_case(c: &Case, how: Resolver) {
    let s = Scratch::new(c.name);
    let root = s.path("root");
    busybox_root(&root);
    let canary: PathBuf = s.path("canary");
    std::fs::create_dir(&canary).unwrap();
    std::fs::write(canary.join("keep"), "canary\n").unwrap();
    (c.plant)(&root, &canary);
    let plan = s.write("hostile.toml", &plan_text(c.steps));
    let host = host_mounts();
    let outside = manifest(&[&canary, Path::new("/etc/hostname")]);
    let inside = manifest(&[&root]);
    let mut r = Run::apply(&plan, &s.state()).set("ROOTFS", &root);
    if how == Resolver::Hook {
        r = r.env("MOUNTPLAN_TEST_NO_OPENAT2", 1);
    }
    let mut cmd = r.command();
    if how == Resolver::Seccomp {
        deny_openat2(&mut cmd);
    }
    let o = finish(cmd.spawn().unwrap(), std::time::Duration::from_secs(60));
    let what = format!("{} ({how:?})", c.name);
    assert_same(
        &what,
        &outside,
        &manifest(&[&canary, Path::new("/etc/hostname")]),
    );
    assert_eq!(host, host_mounts(), "{what}: host mount table changed");
    assert!(journals(&s.state()).is_empty(), "{what}: journal left");
    match c.refused {
        Some(words) => {
            assert_eq!(o.status, 125, "{what}: must fail:\n{}", o.stderr);
            for w in words {
                assert!(o.stderr.contains(w), "{what}: no {w:?} in:\n{}", o.stderr);
            }
            assert!(
                o.stderr.contains("hostile.toml:"),
                "{what}: no place:\n{}",
                o.stderr
            );
            // Rolled back: the root too is as before.
            assert_same(&what, &inside, &manifest(&[&root]));
        }
        None => assert_eq!(o.status, 0, "{what}:\n{}", o.stderr),
    }
}

#[test]
fn hostile_roots_change_nothing_outside_and_say_what_was_refused() {
    let Some(_serial) = privileged("hostile_roots_change_nothing_outside_and_say_what_was_refused")
    else {
        return;
    };
    for c in CASES {
        run_case(c, Resolver::Openat2);
        if cfg!(debug_assertions) {
            run_case(c, Resolver::Hook);
        }
    }
}

#[test]
fn dotdot_links_are_clamped_to_the_root() {
    let Some(_serial) = privileged("dotdot_links_are_clamped_to_the_root") else {
        return;
    };
    let c = CASES
        .iter()
        .find(|c| c.name == "dotdot-links-stay-inside")
        .unwrap();
    let s = Scratch::new("dotdot");
    let root = s.path("root");
    busybox_root(&root);
    (c.plant)(&root, &s.path("canary"));
    let plan = s.write("p.toml", &plan_text(c.steps));
    let o = Run::apply(&plan, &s.state()).set("ROOTFS", &root).run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert!(root.join("made-by-dotdot").is_dir());
    assert!(!Path::new("/made-by-dotdot").exists());
}
