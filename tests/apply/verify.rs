//! Verification against the real mount table: a bound root that brings submounts of its own
//! verifies, and so does one whose host directory is itself a mountpoint; a mount that lands elsewhere than the plan says (through a symlink in the root)
//! fails the apply, shows the difference, and is rolled back.

use std::os::unix::fs::symlink;

use crate::support::*;

const PLAN: &str = r#"
version = 1
name = "verify"

[root]
path = "${ROOTFS}"

[namespaces]
user = false

[[step]]
kind = "mount"
id = "run"
type = "tmpfs"
target = "/var/run"
create = "none"

[[step]]
kind = "mount"
id = "proc"
type = "proc"
target = "/proc"
"#;

#[test]
fn a_root_with_submounts_of_its_own_verifies() {
    let Some(_serial) = privileged("a_root_with_submounts_of_its_own_verifies") else {
        return;
    };
    let s = Scratch::new("verify-sub");
    let root = s.path("root");
    busybox_root(&root);
    std::fs::create_dir_all(root.join("var/run")).unwrap();
    let mnt = root.join("mnt");
    let sh = |c: String| {
        let st = std::process::Command::new("sh")
            .args(["-c", &c])
            .status()
            .unwrap();
        assert!(st.success(), "{c}");
    };
    // The host has mounts below the root: the root's bind brings them along.
    let m = mnt.display().to_string();
    sh(format!(
        "mount -t tmpfs host-sub {m} && mkdir {m}/inner && mount -t tmpfs inner {m}/inner"
    ));
    struct Unmount(String);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .args(["-R", &self.0])
                .status();
        }
    }
    let _u = Unmount(m.clone());
    let plan = s.write("v.toml", PLAN);
    let host = host_mounts();
    let o = Run::apply(&plan, &s.state())
        .set("ROOTFS", &root)
        .arg("-v")
        .run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    // The root, /var/run and /proc; /mnt and /mnt/inner came with the root.
    assert!(
        o.stderr.contains("3 predicted mounts match"),
        "{}",
        o.stderr
    );
    assert_eq!(host, host_mounts());
}

/// On a root whose `/var/run` is a symlink to `/run` (as on most distributions), the tmpfs the
/// plan mounts on `/var/run` lands on `/run`, on the root's mount: a correct apply, so it
/// verifies (the mount is found by its id), and the report says where the mount is.
#[test]
fn a_mount_through_a_symlink_in_the_root_verifies_and_says_where_it_is() {
    let Some(_serial) =
        privileged("a_mount_through_a_symlink_in_the_root_verifies_and_says_where_it_is")
    else {
        return;
    };
    let s = Scratch::new("verify-moved");
    let root = s.path("root");
    busybox_root(&root);
    symlink("/run", root.join("var/run")).unwrap();
    let plan = s.write("v.toml", PLAN);
    let before = manifest(&[&root]);
    let host = host_mounts();
    let o = Run::apply(&plan, &s.state())
        .set("ROOTFS", &root)
        .arg("-v")
        .cmd(&["/bin/cat", "/proc/self/mountinfo"])
        .run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("the mount the dry run puts on /var/run is at /run"),
        "{}",
        o.stderr
    );
    // No pivot: the command sees the new root at its host path.
    let at = format!("{}/run", root.display());
    let inside = parse_mountinfo(&o.stdout);
    assert!(
        inside.iter().any(|(mp, t, _)| *mp == at && t == "tmpfs"),
        "{}",
        o.stdout
    );
    assert_same("the root", &before, &manifest(&[&root]));
    assert_eq!(host, host_mounts());
}

/// A root whose host directory is itself a mountpoint (a rootfs on its own filesystem, here
/// two tmpfs stacked on it): the mounts below the bind are not the plan's, and after a pivot
/// they are gone with the old root. Verification once counted them at `/` and took the bind
/// itself for one of them, failing every such apply with a pivot.
#[test]
fn a_root_that_is_a_mountpoint_verifies_with_and_without_a_pivot() {
    let Some(_serial) = privileged("a_root_that_is_a_mountpoint_verifies_with_and_without_a_pivot")
    else {
        return;
    };
    struct Unmount(String);
    impl Drop for Unmount {
        fn drop(&mut self) {
            for _ in 0..2 {
                let _ = std::process::Command::new("umount").arg(&self.0).status();
            }
        }
    }
    for (strategy, step) in [
        (
            "pivot-root",
            "[[step]]\nkind = \"pivot\"\nstrategy = \"pivot-root\"\n",
        ),
        (
            "chroot",
            "[[step]]\nkind = \"pivot\"\nstrategy = \"chroot\"\n",
        ),
        ("none", ""),
    ] {
        let s = Scratch::new(&format!("verify-mountpoint-{strategy}"));
        let root = s.path("root");
        std::fs::create_dir_all(&root).unwrap();
        let host = host_mounts();
        let r = root.display().to_string();
        let _u = Unmount(r.clone());
        for name in ["below", "top"] {
            let st = std::process::Command::new("mount")
                .args(["-t", "tmpfs", name, &r])
                .status()
                .unwrap();
            assert!(st.success(), "mount {name} on {r}");
        }
        busybox_root(&root);
        std::fs::create_dir_all(root.join("var/run")).unwrap();
        let plan = s.write("v.toml", &format!("{PLAN}\n{step}"));
        let o = Run::apply(&plan, &s.state())
            .set("ROOTFS", &root)
            .arg("-v")
            .cmd(&["/bin/true"])
            .run();
        assert_eq!(o.status, 0, "{strategy}: {}", o.stderr);
        // The root, /var/run and /proc.
        assert!(
            o.stderr.contains("3 predicted mounts match"),
            "{strategy}: {}",
            o.stderr
        );
        drop(_u);
        assert_eq!(host, host_mounts(), "{strategy}");
    }
}
