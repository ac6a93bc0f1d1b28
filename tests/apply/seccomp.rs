//! openat2 unavailable: a seccomp filter (installed before exec, inherited by everything)
//! makes `openat2` fail with ENOSYS, as on kernels before 5.6 or under a container runtime's
//! filter. The apply must switch to the user-space walk (the JSON report says `walk`), the
//! hostile-root cases must hold exactly as with openat2, and, under strace, no call may take
//! a path below the root: every mount lands on `self/fd/N`, every creation on a directory
//! descriptor.

use std::path::Path;
use std::process::Command;

use crate::hostile::{CASES, Resolver, run_case};
use crate::support::*;

const PLAN: &str = r#"
version = 1
name = "walk"

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

[[step]]
kind = "mknod"
id = "fifo"
path = "/srv/link/fifo"
node = "fifo"

[[step]]
kind = "symlink"
id = "sym"
path = "/srv/s"
to = "a/b"

[[step]]
kind = "chmod"
id = "mode"
path = "/etc/hostname"
mode = "0600"

[[step]]
kind = "mount"
id = "tmp"
type = "tmpfs"
target = "/tmp"

[[step]]
kind = "mount"
id = "proc"
type = "proc"
target = "/proc"

[[step]]
kind = "mask"
id = "mask"
path = "/etc/hostname"

[[step]]
kind = "readonly"
id = "ro"
path = "/etc"

[[step]]
kind = "pivot"
id = "pivot"
strategy = "pivot-root"
"#;

fn setup(s: &Scratch) -> (std::path::PathBuf, std::path::PathBuf) {
    let root = s.path("root");
    busybox_root(&root);
    std::fs::create_dir(root.join("srv")).unwrap();
    // A symlink inside the root, followed by the walk.
    std::os::unix::fs::symlink("/srv/a/b", root.join("srv/link")).unwrap();
    (root.clone(), s.write("walk.toml", PLAN))
}

#[test]
fn seccomp_openat2_enosys_uses_the_walk_and_hostile_roots_still_hold() {
    let Some(_serial) =
        privileged("seccomp_openat2_enosys_uses_the_walk_and_hostile_roots_still_hold")
    else {
        return;
    };
    // The report says which resolver ran: openat2 normally, the walk under the filter.
    for deny in [false, true] {
        let s = Scratch::new("seccomp-resolver");
        let (root, plan) = setup(&s);
        let mut c = Run::apply(&plan, &s.state())
            .set("ROOTFS", &root)
            .arg("--format")
            .arg("json")
            .cmd(&["/bin/true"])
            .command();
        if deny {
            deny_openat2(&mut c);
        }
        let o = finish(c.spawn().unwrap(), std::time::Duration::from_secs(30));
        assert_eq!(o.status, 0, "deny={deny}: {}", o.stderr);
        let want = if deny {
            "\"resolver\":\"walk\""
        } else {
            "\"resolver\":\"openat2\""
        };
        assert!(
            o.stderr.contains(want),
            "deny={deny}: no {want} in {}",
            o.stderr
        );
        assert!(
            root.join("srv/a/b/fifo").exists(),
            "deny={deny}: not made through the link"
        );
    }
    for c in CASES {
        run_case(c, Resolver::Seccomp);
    }
}

/// Under strace, with openat2 denied: which calls name a path below the root?
#[test]
fn seccomp_the_walk_never_falls_back_to_path_calls() {
    let Some(_serial) = privileged("seccomp_the_walk_never_falls_back_to_path_calls") else {
        return;
    };
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("\n!!!! seccomp_the_walk_never_falls_back_to_path_calls: NOT RUN: no strace\n");
        assert!(!ci(), "strace is needed under CI=true");
        return;
    }
    let s = Scratch::new("seccomp-strace");
    let (root, plan) = setup(&s);
    let trace = s.path("trace");
    let r = Run::apply(&plan, &s.state())
        .set("ROOTFS", &root)
        .cmd(&["/bin/true"]);
    let mut c = r.traced(&trace, &["-s", "4096"]);
    deny_openat2(&mut c);
    let host = host_mounts();
    let o = finish(c.spawn().unwrap(), std::time::Duration::from_secs(60));
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(host, host_mounts());
    let text = std::fs::read_to_string(&trace).unwrap();
    audit(&text, &root);
}

/// The rules: openat2 always ENOSYS; every `mount(2)` target is `self/fd/N` (or `/`, the
/// setup's rslave, and `.` for the pivot), or `self/fd/N/NAME` right after the
/// `mkdirat(N, "NAME")` that made it; every `move_mount` and `mount_setattr` works on
/// descriptors alone (empty paths); a path below the root appears only in exec arguments, in
/// data read or written (mountinfo, the journal) and as what `readlink` returned.
fn audit(text: &str, root: &Path) {
    let below = format!("{}/", root.display());
    let mut mounts = 0;
    let mut walked = 0;
    // Each process's previous call (strace -f interleaves them).
    let mut last: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for l in text.lines() {
        let (pid, call) = l
            .split_once(' ')
            .map(|(p, r)| (p, r.trim_start()))
            .unwrap_or(("", l));
        let previous = last.get(pid).copied();
        let name = call.split('(').next().unwrap_or("");
        if name == "openat2" {
            assert!(l.contains("ENOSYS"), "openat2 was not denied: {l}");
        }
        if name == "openat" && l.contains("O_PATH") && l.contains("O_NOFOLLOW") {
            walked += 1;
        }
        if name == "move_mount" || name == "mount_setattr" {
            mounts += usize::from(name == "move_mount");
            let paths: Vec<&str> = call.split(", ").filter(|a| a.starts_with('"')).collect();
            assert!(
                paths.iter().all(|p| *p == "\"\"" || p.starts_with("\"\"")),
                "a {name} on a path, not a descriptor: {l}"
            );
        }
        if name == "mount" {
            mounts += 1;
            let target = call.split(", ").nth(1).unwrap_or("");
            let fd_name = target
                .strip_prefix("\"self/fd/")
                .and_then(|t| t.strip_suffix('"'));
            let ok = target == "\"/\""
                || target == "\".\""
                || fd_name.is_some_and(|t| {
                    t.bytes().all(|b| b.is_ascii_digit())
                        || t.split_once('/').is_some_and(|(fd, name)| {
                            previous.is_some_and(|p: &str| {
                                p.contains(&format!("mkdirat({fd}, \"{name}\", "))
                                    && p.ends_with(" = 0")
                            })
                        })
                });
            assert!(ok, "a mount on a path, not a descriptor: {l}");
        }
        last.insert(pid, call);
        if call.contains(&below) {
            assert!(
                ["execve", "read", "write", "pwrite64", "readlinkat"].contains(&name),
                "a path below the root was passed to {name}: {l}"
            );
        }
    }
    eprintln!("strace: {mounts} mounts, all on descriptors; {walked} O_PATH|O_NOFOLLOW opens");
    assert!(mounts >= 5, "the trace is missing the mounts:\n{text}");
    assert!(walked > 10, "the walk did not run:\n{text}");
}

/// The audit's own negative control: path-based calls in a trace are caught.
#[test]
fn seccomp_the_audit_catches_path_based_calls() {
    let root = Path::new("/tmp/r");
    let ok = "1 openat2(3, \"x\", {}, 24) = -1 ENOSYS (Function not implemented)\n\
              1 mount(\"tmpfs\", \"self/fd/4\", \"tmpfs\", 0, NULL) = 0\n";
    let many = format!(
        "{ok}{}",
        "1 openat(4, \"a\", O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_PATH) = 5\n".repeat(11)
    );
    let five = format!(
        "{many}{}",
        "1 mount(NULL, \"/\", NULL, MS_REC|MS_SLAVE, NULL) = 0\n".repeat(4)
    );
    audit(&five, root);
    audit(
        &format!(
            "{five}1 mkdirat(4, \"x\", 0755) = 0\n1 mount(\"tmpfs\", \"self/fd/4/x\", \"tmpfs\", 0, NULL) = 0\n"
        ),
        root,
    );
    for bad in [
        "1 mkdir(\"/tmp/r/srv/a\", 0755) = 0\n",
        "1 mount(\"tmpfs\", \"/tmp/r/tmp\", \"tmpfs\", 0, NULL) = 0\n",
        "1 openat2(3, \"x\", {}, 24) = 4\n",
        "1 mount(\"tmpfs\", \"tmp\", \"tmpfs\", 0, NULL) = 0\n",
        "1 mount(\"tmpfs\", \"self/fd/4/x\", \"tmpfs\", 0, NULL) = 0\n",
        "1 mkdirat(4, \"x\", 0755) = 0\n2 mount(\"tmpfs\", \"self/fd/4/x\", \"tmpfs\", 0, NULL) = 0\n",
        "1 mkdirat(5, \"x\", 0755) = 0\n1 mount(\"tmpfs\", \"self/fd/4/x\", \"tmpfs\", 0, NULL) = 0\n",
        "1 mkdirat(4, \"x\", 0755) = -1 EEXIST (File exists)\n1 mount(\"tmpfs\", \"self/fd/4/x\", \"tmpfs\", 0, NULL) = 0\n",
    ] {
        let t = format!("{five}{bad}");
        let r = std::panic::catch_unwind(|| audit(&t, root));
        assert!(r.is_err(), "not caught: {bad}");
    }
}
