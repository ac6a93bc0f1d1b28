//! Fake device nodes (the CVE-2025-31133 class): masking binds `/dev/null` over files, so a
//! `/dev/null` that is not the real one (a symlink to something the attacker wants written, a
//! regular file, a device with another number) would make the "masked" path a window onto it.
//! mountplan binds the host's `/dev/null`, opened before the namespace and checked by
//! `fstat` on the very descriptor it mounts (character device 1:3, same inode when reopened),
//! never the root's: a fake node in the root changes nothing, and a fake node on the host
//! stops the apply before anything is made.

use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;

use crate::support::*;

const MASK_PLAN: &str = r#"
version = 1
name = "nodes"

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
kind = "mask"
id = "mask-secret"
path = "/etc/secret"

[[step]]
kind = "mask"
id = "mask-dir"
path = "/etc/secretdir"

[[step]]
kind = "pivot"
id = "pivot"
strategy = "pivot-root"
"#;

/// The command: write through the masked file, then say what it is. (No `2>/dev/null`: in
/// these roots `/dev/null` is the fake, which the command itself would write to.)
const PROBE: &str = "echo pwned > /etc/secret; echo pwned > /etc/secretdir/x; \
                     /bin/stat -c '%F %t:%T %d:%i' /etc/secret; \
                     echo content=$(/bin/cat /etc/secret /etc/secretdir/*)";

struct Fake {
    name: &'static str,
    /// Replaces `<root>/dev/null`; `victim` is a host file beside the root.
    plant: fn(root: &Path, victim: &Path),
}

const FAKES: &[Fake] = &[
    Fake {
        name: "symlink-to-a-host-file",
        plant: |root, victim| {
            symlink(victim, root.join("dev/null")).unwrap();
            // Inside the root the link names <root>/<victim path>: make that a file too.
            let mirror = root.join(victim.strip_prefix("/").unwrap());
            std::fs::create_dir_all(mirror.parent().unwrap()).unwrap();
            std::fs::write(mirror, "mirror\n").unwrap();
        },
    },
    Fake {
        name: "symlink-to-a-file-in-the-root",
        plant: |root, _| {
            std::fs::write(root.join("etc/victim"), "victim\n").unwrap();
            symlink("/etc/victim", root.join("dev/null")).unwrap();
        },
    },
    Fake {
        name: "regular-file",
        plant: |root, _| std::fs::write(root.join("dev/null"), "not null\n").unwrap(),
    },
    Fake {
        name: "char-device-1-5-zero",
        plant: |root, _| mknod_char(&root.join("dev/null"), 1, 5),
    },
    Fake {
        name: "char-device-1-7-full",
        plant: |root, _| mknod_char(&root.join("dev/null"), 1, 7),
    },
];

fn mknod_char(p: &Path, major: u64, minor: u64) {
    nix::sys::stat::mknod(
        p,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(major, minor),
    )
    .unwrap();
}

#[test]
fn nodes_a_fake_dev_null_in_the_root_is_never_what_masks_bind() {
    let Some(_serial) = privileged("nodes_a_fake_dev_null_in_the_root_is_never_what_masks_bind")
    else {
        return;
    };
    let null = std::fs::metadata("/dev/null").unwrap();
    let want = format!("character special file 1:3 {}:{}", null.dev(), null.ino());
    for f in FAKES {
        let s = Scratch::new(f.name);
        let root = s.path("root");
        busybox_root(&root);
        std::fs::write(root.join("etc/secret"), "secret\n").unwrap();
        std::fs::create_dir(root.join("etc/secretdir")).unwrap();
        std::fs::write(root.join("etc/secretdir/key"), "key\n").unwrap();
        let victim = s.write("victim", "victim\n");
        (f.plant)(&root, &victim);
        let plan = s.write("nodes.toml", MASK_PLAN);
        let host = host_mounts();
        let before = manifest(&[&root, &victim]);
        let o = Run::apply(&plan, &s.state())
            .set("ROOTFS", &root)
            .cmd(&["/bin/sh", "-c", PROBE])
            .run();
        let what = f.name;
        assert_eq!(o.status, 0, "{what}: {}", o.stderr);
        assert!(
            o.stdout.contains(&want),
            "{what}: the mask is not the host's /dev/null ({want}):\n{}",
            o.stdout
        );
        assert!(
            o.stdout.contains("content=\n") || o.stdout.trim_end().ends_with("content="),
            "{what}: the masked paths show content:\n{}",
            o.stdout
        );
        // The write through the mask went to the real /dev/null: nothing changed anywhere.
        assert_same(what, &before, &manifest(&[&root, &victim]));
        assert_eq!(host, host_mounts(), "{what}");
    }
}

/// A fake `/dev/null` on the host (in a private mount namespace of the test, so the real one
/// is untouched): the apply refuses before making anything.
#[test]
fn nodes_a_fake_host_dev_null_stops_the_apply_before_anything() {
    let Some(_serial) = privileged("nodes_a_fake_host_dev_null_stops_the_apply_before_anything")
    else {
        return;
    };
    let s = Scratch::new("host-null");
    let root = s.path("root");
    busybox_root(&root);
    std::fs::write(root.join("etc/secret"), "secret\n").unwrap();
    let plan = s.write("nodes.toml", MASK_PLAN);
    let file = s.write("fake/file", "not null\n");
    let link_dir = s.path("fakedev");
    std::fs::create_dir(&link_dir).unwrap();
    symlink(&file, link_dir.join("null")).unwrap();
    let apply = format!(
        "{BIN} apply {} --state-dir {} --set ROOTFS={} -- /bin/true",
        plan.display(),
        s.state().display(),
        root.display()
    );
    let cases = [
        (
            "regular-file",
            format!("mount --bind {} /dev/null", file.display()),
        ),
        (
            "char-device-1-5",
            "mount --bind /dev/zero /dev/null".to_string(),
        ),
        (
            "symlink-to-a-regular-file",
            format!("mount --bind {} /dev", link_dir.display()),
        ),
    ];
    let host = host_mounts();
    let before = manifest(&[&root, &file]);
    for (name, fake) in cases {
        let o = std::process::Command::new("unshare")
            .args(["-m", "sh", "-c", &format!("{fake} && exec {apply}")])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(125), "{name}: {err}");
        assert!(
            err.contains("/dev/null") && err.contains("1:3"),
            "{name}: the message must say why:\n{err}"
        );
        assert_same(name, &before, &manifest(&[&root, &file]));
        assert!(journals(&s.state()).is_empty(), "{name}");
    }
    assert_eq!(host, host_mounts());
}
