//! Creations on the plan's own mounts go through the descriptor of the mount they are on,
//! held from the moment the mount was made (`fsmount`), never through its mountpoint on disk:
//! a name right below a mount's root is made on that descriptor with no resolution at all.
//! These plans stack and unmount mounts between creations in one directory and check, from
//! inside, that every file landed on the mount on top at its time (the verification of the
//! mount table checks the mounts), and under strace that each creation used the descriptor of
//! its mount.

use crate::support::*;

const PLAN: &str = r#"
version = 1
name = "shortcuts"

[root]
path = "${ROOTFS}"

[namespaces]
user = false
pid = true

[[step]]
kind = "mount"
type = "tmpfs"
target = "/t"

# /t/a/x is made through the resolved /t/a, which the next mount covers: /t/a/y must land on
# the new tmpfs, not beside x. (`create = "none"`: no creation elsewhere in between, which
# would replace the reused descriptor anyway.)
[[step]]
kind = "mkdir"
path = "/t/a"

[[step]]
kind = "mkdir"
path = "/t/a/x"

[[step]]
kind = "mount"
type = "tmpfs"
target = "/t/a"
create = "none"

[[step]]
kind = "mkdir"
path = "/t/a/y"

# A mount on a directory just made (the shortcut), then more creations beside it through the
# same parent.
[[step]]
kind = "mount"
type = "tmpfs"
target = "/t/a/y/z"
options = ["nodev"]

[[step]]
kind = "mkdir"
path = "/t/a/y/w"

# A mount on the parent itself: /t/a/y/v goes on top of it.
[[step]]
kind = "mount"
type = "tmpfs"
target = "/t/a/y"
create = "none"

[[step]]
kind = "mkdir"
path = "/t/a/y/v"

# Right below the top of /t/a again.
[[step]]
kind = "mkdir"
path = "/t/a/q"

[[step]]
kind = "mknod"
path = "/t/a/fifo"
node = "fifo"

# An umount between two creations in /t/a/y: /t/a/y/u lands on the tmpfs below again.
[[step]]
kind = "mkdir"
path = "/t/a/y/v/deep"

[[step]]
kind = "umount"
target = "/t/a/y"

[[step]]
kind = "mkdir"
path = "/t/a/y/u"

[[step]]
kind = "pivot"
strategy = "pivot-root"
"#;

#[test]
fn shortcuts_land_every_file_on_the_mount_on_top_at_its_time() {
    let Some(_serial) = privileged("shortcuts_land_every_file_on_the_mount_on_top_at_its_time")
    else {
        return;
    };
    if std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!(
            "\n!!!! shortcuts_land_every_file_on_the_mount_on_top_at_its_time: NOT RUN: no strace\n"
        );
        assert!(!ci(), "strace is needed under CI=true");
        return;
    }
    let s = Scratch::new("shortcuts");
    let root = s.path("root");
    busybox_root(&root);
    std::fs::create_dir(root.join("t")).unwrap();
    let plan = s.write("shortcuts.toml", PLAN);
    let host = host_mounts();
    let before = manifest(&[&root]);
    let trace = s.path("trace");
    let mut c = Run::apply(&plan, &s.state())
        .set("ROOTFS", &root)
        .arg("-v")
        .cmd(&[
            "/bin/sh",
            "-c",
            "for d in /t /t/a /t/a/y /t/a/y/z; do echo \"$d:\" $(ls -a $d); done",
        ])
        .traced(&trace, &["-e", "trace=fsmount,mkdirat,mknodat,openat2"]);
    let o = finish(c.spawn().unwrap(), std::time::Duration::from_secs(60));
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(
        o.stdout,
        "/t: . .. a\n\
         /t/a: . .. fifo q y\n\
         /t/a/y: . .. u w z\n\
         /t/a/y/z: . ..\n",
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("predicted mounts match"),
        "the mount table was not verified:\n{}",
        o.stderr
    );
    assert_same("shortcuts", &before, &manifest(&[&root]));
    assert_eq!(host, host_mounts());
    // Each creation right below a mount's root was made on the descriptor `fsmount` gave for
    // that mount, with no path resolution: /t/a on the first tmpfs (/t), y, q and fifo on the
    // second (/t/a), v on the fourth (/t/a/y).
    let text = std::fs::read_to_string(&trace).unwrap();
    let fds: Vec<String> = text
        .lines()
        .filter(|l| l.contains("fsmount(") && !l.contains("= -1"))
        .filter_map(|l| l.rsplit("= ").next().map(|n| n.trim().to_string()))
        .collect();
    // The root's tmpfs is not made (a directory root); /t, /t/a, /t/a/y/z, /t/a/y in order.
    assert_eq!(fds.len(), 4, "four tmpfs mounts:\n{text}");
    let made_on = |name: &str| -> String {
        let l = text
            .lines()
            .find(|l| {
                (l.contains("mkdirat(") || l.contains("mknodat("))
                    && l.contains(&format!(", \"{name}\""))
            })
            .unwrap_or_else(|| panic!("no creation of {name}:\n{text}"));
        l.split('(')
            .nth(1)
            .and_then(|r| r.split(',').next())
            .unwrap()
            .to_string()
    };
    assert_eq!(made_on("a"), fds[0], "/t/a not made on the /t mount");
    for n in ["y", "q", "fifo"] {
        assert_eq!(made_on(n), fds[1], "/t/a/{n} not made on the /t/a mount");
    }
    assert_eq!(
        made_on("v"),
        fds[3],
        "/t/a/y/v not made on the /t/a/y mount"
    );
}
