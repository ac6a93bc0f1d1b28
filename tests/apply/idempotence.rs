//! Idempotence: the same plan applied twice to the same root gives the same result. The
//! second apply finds every persistent change made (each such step `unchanged`), leaves the
//! disk exactly as the first left it (same inodes too), and the command sees the same mount
//! table.

use crate::support::*;

const PLAN: &str = r#"
version = 1
name = "twice"

[root]
path = "${ROOTFS}"

[namespaces]
user = false
pid = true

[[step]]
kind = "mkdir"
id = "deep"
path = "/srv/a/b"
parents = true
mode = "0750"

[[step]]
kind = "mknod"
id = "fifo"
path = "/srv/fifo"
node = "fifo"
mode = "0600"

[[step]]
kind = "mknod"
id = "null"
path = "/srv/null"
node = "char"
major = 1
minor = 3
mode = "0666"

[[step]]
kind = "symlink"
id = "link"
path = "/srv/link"
to = "a/b"

[[step]]
kind = "chmod"
id = "mode"
path = "/etc/hostname"
mode = "0600"

[[step]]
kind = "mount"
id = "hostfile"
type = "bind"
source = "${HOSTFILE}"
target = "/etc/hostfile"
create = "file"
options = ["ro"]

[[step]]
kind = "mount"
id = "proc"
type = "proc"
target = "/proc"

[[step]]
kind = "mount"
id = "tmp"
type = "tmpfs"
target = "/tmp"

[[step]]
kind = "mask"
id = "mask"
path = "/etc/secret"

[[step]]
kind = "readonly"
id = "ro"
path = "/srv"

[[step]]
kind = "pivot"
id = "pivot"
strategy = "pivot-root"
"#;

/// A mount table without what differs between two namespaces (ids, anonymous device numbers).
fn shape(mountinfo: &str) -> Vec<String> {
    parse_mountinfo(mountinfo)
        .into_iter()
        .map(|(mp, fs, opts)| format!("{mp} {fs} {opts}"))
        .collect()
}

#[test]
fn idempotence_applying_a_plan_twice_gives_the_same_result() {
    let Some(_serial) = privileged("idempotence_applying_a_plan_twice_gives_the_same_result")
    else {
        return;
    };
    let s = Scratch::new("twice");
    let root = s.path("root");
    busybox_root(&root);
    std::fs::create_dir(root.join("srv")).unwrap();
    std::fs::write(root.join("etc/secret"), "secret\n").unwrap();
    let hostfile = s.write("hostfile", "host\n");
    let plan = s.write("twice.toml", PLAN);
    let host = host_mounts();
    let outside = manifest(&[&hostfile]);
    let run = || {
        Run::apply(&plan, &s.state())
            .set("ROOTFS", &root)
            .set("HOSTFILE", &hostfile)
            .arg("--format")
            .arg("json")
            .cmd(&["/bin/cat", "/proc/self/mountinfo"])
            .run()
    };
    let first = run();
    assert_eq!(first.status, 0, "{}", first.stderr);
    let after_first = manifest(&[&root]);
    let second = run();
    assert_eq!(second.status, 0, "{}", second.stderr);
    assert_same("second apply", &after_first, &manifest(&[&root]));
    assert_eq!(shape(&first.stdout), shape(&second.stdout));
    // The persistent steps found their work done.
    for id in ["deep", "fifo", "null", "link", "mode"] {
        let want = format!("{{\"id\":\"{id}\",");
        let i = second
            .stderr
            .find(&want)
            .unwrap_or_else(|| panic!("{id}: {}", second.stderr));
        let step = &second.stderr[i..second.stderr[i..].find('}').unwrap() + i];
        assert!(
            step.contains("\"status\":\"unchanged\""),
            "{id} did something the second time: {step}"
        );
    }
    // A third time, from a root the second left: still the same.
    let third = run();
    assert_eq!(third.status, 0, "{}", third.stderr);
    assert_same("third apply", &after_first, &manifest(&[&root]));
    assert_same("outside", &outside, &manifest(&[&hostfile]));
    assert_eq!(host, host_mounts());
    assert!(journals(&s.state()).is_empty());
}
