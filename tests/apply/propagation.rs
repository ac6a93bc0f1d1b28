//! Mount propagation: the root lives on a mount the test makes *shared* on the host, so any
//! mount made below it in a namespace that is still its peer would appear on the host too.
//! mountplan makes `/` a recursive slave first; the host's table must not change while the
//! command runs (mounts made there would stay after the namespace ends). The negative control
//! mounts in a namespace made without that step (`unshare -m --propagation unchanged`) and
//! must see the mount on the host.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

const PROP_PLAN: &str = r#"
version = 1
name = "prop"

[root]
path = "${ROOTFS}"

[namespaces]
user = false
pid = true

[[step]]
kind = "mount"
id = "proc"
type = "proc"
target = "/proc"

[[step]]
kind = "mount"
id = "scratch"
type = "tmpfs"
target = "/mnt"

[[step]]
kind = "mount"
id = "usr"
type = "bind"
source = "${SRC}"
target = "/usr"
options = ["ro", "rec"]

[[step]]
kind = "readonly"
id = "ro-etc"
path = "/etc"

[[step]]
kind = "mask"
id = "mask"
path = "/etc/hostname"
PIVOT
"#;

fn sh(c: &str) {
    let st = Command::new("sh").args(["-c", c]).status().unwrap();
    assert!(st.success(), "{c}");
}

/// A tmpfs made shared on the host, unmounted (with whatever propagated into it) on drop.
struct Shared(PathBuf);

impl Shared {
    fn new(dir: &Path) -> Shared {
        std::fs::create_dir_all(dir).unwrap();
        let d = dir.display();
        sh(&format!(
            "mount -t tmpfs mp-prop-test {d} && mount --make-shared {d}"
        ));
        Shared(dir.to_path_buf())
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .args(["-R", "-l", &self.0.display().to_string()])
            .status();
    }
}

fn mounts_below(text: &str, dir: &Path) -> Vec<String> {
    let d = dir.display().to_string();
    parse_mountinfo(text)
        .into_iter()
        .filter(|(mp, _, _)| mp.starts_with(&d))
        .map(|(mp, fs, _)| format!("{mp} {fs}"))
        .collect()
}

#[test]
fn propagation_nothing_reaches_a_shared_host_mount() {
    let Some(_serial) = privileged("propagation_nothing_reaches_a_shared_host_mount") else {
        return;
    };
    let s = Scratch::new("prop");
    let shared = Shared::new(&s.path("shared"));
    let root = shared.0.join("root");
    busybox_root(&root);
    let src = shared.0.join("src");
    std::fs::create_dir(&src).unwrap();
    let host = host_mounts();
    assert!(
        host.lines()
            .any(|l| l.contains(&shared.0.display().to_string()) && l.contains("shared:")),
        "the test mount is not shared:\n{host}"
    );
    let before = manifest(&[&root, &src]);
    for pivot in [true, false] {
        let tail = if pivot {
            "[[step]]\nkind = \"pivot\"\nstrategy = \"pivot-root\"\n"
        } else {
            ""
        };
        let plan = s.write("prop.toml", &PROP_PLAN.replace("PIVOT", tail));
        // The command says it is running, then waits for its stdin to close.
        let sh = if pivot { "/bin/sh" } else { "sh" };
        let mut c = Run::apply(&plan, &s.state())
            .set("ROOTFS", &root)
            .set("SRC", &src)
            .cmd(&[sh, "-c", "echo ready; read x; echo done"])
            .command();
        c.stdin(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n", "pivot={pivot}: the command did not start");
        let during = host_mounts();
        drop(stdin);
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
        let st = child.wait().unwrap();
        assert!(st.success(), "pivot={pivot}: {st:?}");
        assert_eq!(
            mounts_below(&during, &shared.0),
            mounts_below(&host, &shared.0),
            "pivot={pivot}: mounts of the apply propagated to the host"
        );
        assert_eq!(
            host, during,
            "pivot={pivot}: the host table changed during the command"
        );
        assert_eq!(host, host_mounts(), "pivot={pivot}: the host table changed");
        assert_same("propagation", &before, &manifest(&[&root, &src]));
    }
}

/// The negative control: the same mount made in a namespace whose `/` was *not* made a slave
/// appears on the host, so the test above would see a leak.
#[test]
fn propagation_negative_control_without_rslave_leaks() {
    let Some(_serial) = privileged("propagation_negative_control_without_rslave_leaks") else {
        return;
    };
    let s = Scratch::new("prop-control");
    let shared = Shared::new(&s.path("shared"));
    let mnt = shared.0.join("root/mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let host = host_mounts();
    let o = Command::new("unshare")
        .args([
            "-m",
            "--propagation",
            "unchanged",
            "mount",
            "-t",
            "tmpfs",
            "leak",
            &mnt.display().to_string(),
        ])
        .output()
        .unwrap();
    // mount(2) propagates to the peers before it returns: nothing to wait for.
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let leaked = mounts_below(&host_mounts(), &mnt);
    sh(&format!("umount {}", mnt.display()));
    assert_eq!(
        leaked,
        vec![format!("{} tmpfs", mnt.display())],
        "the control did not leak"
    );
    assert_eq!(host, host_mounts());
}
