//! Rollback and recovery: a failure injected at every call in turn, a kill at every point of
//! the journal protocol, a parent killed while its child hangs at every journal point.
//! After each, the host is exactly as before.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::*;

#[path = "rollback/kills.rs"]
mod kills;
#[path = "rollback/layers.rs"]
mod layers;

/// A plan that changes the disk under a bound root in every way a plan can: directories
/// (with parents), a FIFO, a device node, a symlink, a mode, a file mountpoint, a directory
/// mountpoint; and mounts on them.
const DISK_PLAN: &str = r#"
version = 1
name = "disk"

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
id = "etc-mode"
path = "/etc"
mode = "0700"

[[step]]
kind = "mount"
id = "scratch"
type = "tmpfs"
target = "/scratch"

[[step]]
kind = "mkdir"
id = "on-tmpfs"
path = "/scratch/x"

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
options = ["nosuid", "nodev", "noexec"]

[[step]]
kind = "pivot"
id = "pivot"
strategy = "pivot-root"
"#;

/// A bound busybox root, a host file to bind, and the disk plan.
pub struct Disk {
    pub s: Scratch,
    pub plan: PathBuf,
    pub root: PathBuf,
    pub hostfile: PathBuf,
}

/// A fresh [`Disk`].
pub fn disk(name: &str) -> Disk {
    let s = Scratch::new(name);
    let root = s.path("root");
    busybox_root(&root);
    let hostfile = s.write("hostfile", "from the host\n");
    let plan = s.write("disk.toml", DISK_PLAN);
    Disk {
        s,
        plan,
        root,
        hostfile,
    }
}

impl Disk {
    /// `apply` of the disk plan with `/bin/true` as the command.
    pub fn run(&self) -> Run<'static> {
        Run::apply(&self.plan, &self.s.state())
            .set("ROOTFS", &self.root)
            .set("HOSTFILE", &self.hostfile)
            .cmd(&["/bin/true"])
    }
    /// The host state the tests compare: the scratch directory but the state directory.
    pub fn manifest(&self) -> Vec<String> {
        manifest(&[&self.root, &self.hostfile])
    }
}

#[test]
fn the_disk_plan_applies_and_changes_only_the_root() {
    let Some(_serial) = privileged("the_disk_plan_applies_and_changes_only_the_root") else {
        return;
    };
    let d = disk("disk-ok");
    let host = host_mounts();
    let hostfile = manifest(&[&d.hostfile]);
    let before = d.manifest();
    let o = d.run().run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(host, host_mounts());
    assert_eq!(hostfile, manifest(&[&d.hostfile]));
    let after = d.manifest();
    assert_ne!(before, after, "the plan makes things on disk");
    let r = &d.root;
    let meta = |p: &str| std::fs::symlink_metadata(r.join(p)).unwrap();
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    assert_eq!(meta("srv/a/b").mode() & 0o7777, 0o750);
    assert!(meta("srv/fifo").file_type().is_fifo());
    assert_eq!(meta("srv/null").rdev(), nix::sys::stat::makedev(1, 3));
    assert_eq!(
        std::fs::read_link(r.join("srv/link")).unwrap(),
        Path::new("a/b")
    );
    assert_eq!(meta("etc").mode() & 0o7777, 0o700);
    assert!(meta("etc/hostfile").is_file());
    // On the tmpfs: gone with the namespace.
    assert!(meta("scratch").is_dir());
    assert!(!r.join("scratch/x").exists());
    assert!(journals(&d.s.state()).is_empty());
}

#[test]
fn a_failure_at_each_call_in_turn_is_rolled_back() {
    let Some(_serial) = privileged("a_failure_at_each_call_in_turn_is_rolled_back") else {
        return;
    };
    if !debug_hooks("a_failure_at_each_call_in_turn_is_rolled_back") {
        return;
    }
    for no_openat2 in [false, true] {
        let d = disk("fail-each");
        let host = host_mounts();
        let before = d.manifest();
        let mut n = 0;
        loop {
            let mut r = d.run().env("MOUNTPLAN_TEST_FAIL_AT_CALL", n);
            if no_openat2 {
                r = r.env("MOUNTPLAN_TEST_NO_OPENAT2", 1);
            }
            let o = r.run();
            if o.status == 0 {
                assert!(n > 20, "the plan has more calls than {n}");
                break;
            }
            assert_eq!(o.status, 125, "call {n}: {}", o.stderr);
            assert!(
                o.stderr.contains("failure injected at call"),
                "call {n}: {}",
                o.stderr
            );
            assert!(o.stderr.contains("EIO (I/O error)"), "{}", o.stderr);
            assert!(
                !o.stderr.contains("could not roll back"),
                "call {n}: {}",
                o.stderr
            );
            assert_same(&format!("failure at call {n}"), &before, &d.manifest());
            assert_eq!(host, host_mounts(), "failure at call {n}");
            assert!(journals(&d.s.state()).is_empty(), "call {n}: journal left");
            n += 1;
        }
        eprintln!("{n} failure points rolled back (no_openat2={no_openat2})");
    }
}

pub fn kill_parent_while_hanging(d: &Disk, point: u32) {
    let r = d.run().env("MOUNTPLAN_TEST_HANG_AT", point);
    let mut child = r.command().spawn().unwrap();
    // Read stderr until the child says it hangs.
    let mut err = child.stderr.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    use std::io::Read;
    while !seen.contains("hanging at journal point") {
        let n = err.read(&mut buf).unwrap();
        assert!(n > 0, "the apply ended without hanging: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = child.wait();
    // The child and its pid namespace die with the parent.
    let left = wait_no_processes(&d.s.dir.display().to_string());
    assert!(left.is_empty(), "processes outlived the parent: {left:?}");
}

#[test]
fn two_applies_on_one_root_take_turns_and_the_second_recovers_the_first() {
    let Some(_serial) =
        privileged("two_applies_on_one_root_take_turns_and_the_second_recovers_the_first")
    else {
        return;
    };
    if !debug_hooks("two_applies_on_one_root_take_turns_and_the_second_recovers_the_first") {
        return;
    }
    let d = disk("turns");
    let before = d.manifest();
    let mut first = Watched::spawn(d.run().env("MOUNTPLAN_TEST_HANG_AT", 5).command());
    assert!(
        first.wait_for("hanging at journal point", Duration::from_secs(10)),
        "{}",
        first.stderr()
    );
    let mut second = Watched::spawn(d.run().command());
    assert!(
        second.wait_for("waiting for it", Duration::from_secs(10)),
        "the second apply did not wait: {}",
        second.stderr()
    );
    // It waits in flock(LOCK_EX) on the lock the first holds, which only the first's end lets
    // go (a state, looked at until it is reached: no time decides the verdict).
    let pid = second.child.id();
    let t = std::time::Instant::now();
    while !in_system_call(pid, libc::SYS_flock) {
        assert!(
            second.child.try_wait().unwrap().is_none(),
            "it did not wait: {}",
            second.stderr()
        );
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "it never blocked on the lock"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(
        second.child.try_wait().unwrap().is_none(),
        "it must still wait"
    );
    // The first dies with its changes half made; the second takes the lock, undoes them, and
    // applies from a clean root.
    first.kill();
    let st = second.child.wait().unwrap();
    assert!(st.success(), "{}", second.stderr());
    let err = second.stderr();
    assert!(err.contains("recovered the journal"), "{err}");
    assert!(journals(&d.s.state()).is_empty());
    // The result is the plan's, made once.
    let twin = disk("turns-twin");
    assert_eq!(twin.run().run().status, 0);
    let norm = |d: &Disk| {
        let p = d.root.display().to_string();
        d.manifest()
            .into_iter()
            .map(|l| l.replace(&p, "ROOT"))
            .map(|l| l.split(" ino=").next().unwrap().to_string())
            .filter(|l| !l.contains("hostfile"))
            .collect::<Vec<_>>()
    };
    assert_eq!(norm(&d), norm(&twin));
    assert_ne!(before, d.manifest());
}

/// Whether a thread of process `pid` is in system call `nr` now (`/proc/PID/task/*/syscall`).
fn in_system_call(pid: u32, nr: libc::c_long) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.filter_map(|e| e.ok()).any(|e| {
        std::fs::read_to_string(e.path().join("syscall"))
            .ok()
            .and_then(|t| t.split(' ').next()?.parse::<libc::c_long>().ok())
            == Some(nr)
    })
}
