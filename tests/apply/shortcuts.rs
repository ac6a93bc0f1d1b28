//! The executor's shortcuts on filesystems the plan made (tmpfs, devpts: no other process can
//! reach them to rename or replace anything): the parent directory of a creation is resolved
//! once and reused for the next creation in it, and a mount on a directory the previous call
//! just made goes through that parent's descriptor and the name. A reused descriptor must
//! never outlive what it names: any mount on the directory or above it, umount and pivot drop
//! it. These plans make each of those changes between two creations in one directory and check,
//! from inside, that every file landed on the filesystem on top at its time (the verification
//! of the mount table checks the mounts), and under strace that the shortcuts were taken.

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

# A parent reached through a symlink resolves inside the root, to the top of /t/a.
[[step]]
kind = "symlink"
path = "/t/s"
to = "/t/a"

[[step]]
kind = "mkdir"
path = "/t/s/q"

[[step]]
kind = "mknod"
path = "/t/s/fifo"
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
        .cmd(&[
            "/bin/sh",
            "-c",
            "for d in /t /t/a /t/a/y /t/a/y/z; do echo \"$d:\" $(ls -a $d); done",
        ])
        .traced(&trace, &["-e", "trace=mount,mkdirat,openat2"]);
    let o = finish(c.spawn().unwrap(), std::time::Duration::from_secs(60));
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(
        o.stdout,
        "/t: . .. a s\n\
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
    // The shortcuts were taken: the mount on the new /t/a/y/z went through its parent's
    // descriptor right after mkdirat made it there, and /t/a/y/w was made on that same
    // descriptor, without a resolution of its own.
    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("mkdirat(") && l.contains("\"z\""))
        .unwrap_or_else(|| panic!("no mkdirat of z:\n{text}"));
    let dir = lines[at]
        .split("mkdirat(")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap();
    assert!(
        lines[at + 1].contains(&format!("mount(\"tmpfs\", \"self/fd/{dir}/z\"")),
        "the mount on z did not use its parent's descriptor:\n{}\n{}",
        lines[at],
        lines[at + 1]
    );
    assert!(
        lines[at + 2].contains(&format!("mkdirat({dir}, \"w\"")),
        "w was not made on the same parent descriptor:\n{}",
        lines[at + 2]
    );
}
