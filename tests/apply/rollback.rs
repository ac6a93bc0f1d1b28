//! Rollback and recovery: a failure injected at every call in turn, a kill at every point of
//! the journal protocol, a parent killed while its child hangs at every journal point.
//! After each, the host is exactly as before.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::*;

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

#[test]
fn a_kill_at_each_journal_point_is_recovered_by_the_parent() {
    let Some(_serial) = privileged("a_kill_at_each_journal_point_is_recovered_by_the_parent")
    else {
        return;
    };
    if !debug_hooks("a_kill_at_each_journal_point_is_recovered_by_the_parent") {
        return;
    }
    let d = disk("kill-each");
    let host = host_mounts();
    let before = d.manifest();
    let mut k = 0;
    loop {
        let o = d.run().env("MOUNTPLAN_TEST_KILL_AT", k).run();
        if o.status == 0 {
            // Past the last point: the apply succeeded. 9 changes, 2 points each.
            assert_eq!(k, 18, "journal points: {}", o.stderr);
            break;
        }
        assert_eq!(o.status, 125, "point {k}: {}", o.stderr);
        assert!(
            o.stderr.contains("ended before it reported"),
            "point {k}: {}",
            o.stderr
        );
        assert!(o.stderr.contains("recovered the journal"), "{}", o.stderr);
        assert_same(&format!("kill at point {k}"), &before, &d.manifest());
        assert_eq!(host, host_mounts(), "kill at point {k}");
        assert!(journals(&d.s.state()).is_empty(), "point {k}: journal left");
        k += 1;
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
fn a_killed_parent_leaves_a_journal_that_recover_undoes() {
    let Some(_serial) = privileged("a_killed_parent_leaves_a_journal_that_recover_undoes") else {
        return;
    };
    if !debug_hooks("a_killed_parent_leaves_a_journal_that_recover_undoes") {
        return;
    }
    let d = disk("hang");
    let host = host_mounts();
    let before = d.manifest();
    // Every journal point of the disk plan (9 changes, 2 points each).
    for point in 0..18 {
        kill_parent_while_hanging(&d, point);
        assert_eq!(journals(&d.s.state()).len(), 1, "point {point}: no journal");
        if point > 0 {
            assert_ne!(before, d.manifest(), "point {point}: nothing was changed");
        }
        let o = Run {
            args: vec![
                "recover".into(),
                "--state-dir".into(),
                d.s.state().display().to_string(),
            ],
            ..Run::default()
        }
        .run();
        assert_eq!(o.status, 0, "recover after point {point}: {}", o.stderr);
        assert_same(
            &format!("recover after point {point}"),
            &before,
            &d.manifest(),
        );
        assert!(journals(&d.s.state()).is_empty());
        assert_eq!(host, host_mounts());
    }
    // The next apply also recovers by itself: leave a journal, then apply normally.
    kill_parent_while_hanging(&d, 9);
    let o = d.run().run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert!(o.stderr.contains("recovered the journal"), "{}", o.stderr);
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

/// Changes below a bind's source land in the host directory the bind shows: the journal
/// names that directory as the base, and recovery undoes them there (a chmod of the bind's
/// root changes the source directory itself).
const BIND_PLAN: &str = r#"
version = 1
name = "bind-changes"

[root]
tmpfs = { mode = "0755" }

[namespaces]
user = false

[[step]]
kind = "mount"
id = "data"
type = "bind"
source = "${SRC}"
target = "/data"

[[step]]
kind = "mkdir"
path = "/data/new/deeper"
parents = true

[[step]]
kind = "mknod"
path = "/data/new/fifo"
node = "fifo"

[[step]]
kind = "chmod"
path = "/data/existing"
mode = "0600"

[[step]]
kind = "chmod"
path = "/data"
mode = "0700"

[[step]]
kind = "pivot"
strategy = "pivot-root"
"#;

#[test]
fn changes_below_a_bind_source_are_undone_there_after_a_kill_or_a_failure() {
    let Some(_serial) =
        privileged("changes_below_a_bind_source_are_undone_there_after_a_kill_or_a_failure")
    else {
        return;
    };
    if !debug_hooks("changes_below_a_bind_source_are_undone_there_after_a_kill_or_a_failure") {
        return;
    }
    let s = Scratch::new("bind-changes");
    let src = s.path("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("existing"), "keep\n").unwrap();
    let plan = s.write("b.toml", BIND_PLAN);
    use std::os::unix::fs::PermissionsExt;
    let src_mode = std::fs::metadata(&src).unwrap().permissions().mode();
    let before = manifest(&[&src]);
    let host = host_mounts();
    let run = || Run::apply(&plan, &s.state()).set("SRC", &src);
    for hook in ["MOUNTPLAN_TEST_KILL_AT", "MOUNTPLAN_TEST_FAIL_AT_CALL"] {
        let mut n = 0;
        loop {
            let o = run().env(hook, n).run();
            if o.status == 0 {
                break;
            }
            assert_eq!(o.status, 125, "{hook}={n}: {}", o.stderr);
            assert_same(&format!("{hook}={n}"), &before, &manifest(&[&src]));
            assert_eq!(host, host_mounts());
            assert!(journals(&s.state()).is_empty(), "{hook}={n}");
            n += 1;
        }
        // Five changes (two directories, the FIFO, two modes): ten journal points.
        if hook == "MOUNTPLAN_TEST_KILL_AT" {
            assert_eq!(n, 10);
        } else {
            // Every call of the plan failed in turn before one run went through.
            assert!(n >= 4, "{hook}: only {n} calls failed in turn");
        }
        // The last run succeeded: its changes stay. Undo them by hand for the next hook.
        use std::os::unix::fs::PermissionsExt;
        assert!(src.join("new/deeper").is_dir());
        std::fs::remove_dir_all(src.join("new")).unwrap();
        std::fs::set_permissions(src.join("existing"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(src_mode)).unwrap();
    }
}

const OVERLAY_PLAN: &str = r#"
version = 1
name = "overlay-changes"

[root]
tmpfs = {}

[[step]]
kind = "mount"
type = "overlay"
target = "/app"
lower = ["${LOWER}"]
upper = "${UPPER}"
work = "${WORK}"

[[step]]
kind = "chmod"
path = "/app"
mode = "0700"

[[step]]
kind = "mkdir"
path = "/app/new/deeper"
parents = true

[[step]]
kind = "symlink"
path = "/app/link"
to = "existing"

[[step]]
kind = "mknod"
path = "/app/fifo"
node = "fifo"
mode = "0600"

[[step]]
kind = "mkdir"
path = "/app/etc/sub/made"

[[step]]
kind = "chmod"
path = "/app/etc/conf"
mode = "0600"
"#;

/// What a plan makes on an overlay is written to its upper layer, a host directory (a chmod of
/// the overlay's root changes the upper directory itself), and so is what the kernel copies up
/// for it (`etc` and `etc/sub` for the mkdir, `etc/conf` for the
/// chmod) and the `work` directory the mount makes in the work directory: a failure at any
/// call, or a kill at any journal point, leaves all three layers as they were.
#[test]
fn changes_on_an_overlay_are_undone_in_its_layers_after_a_failure_or_a_kill() {
    let test = "changes_on_an_overlay_are_undone_in_its_layers_after_a_failure_or_a_kill";
    let Some(_serial) = privileged(test) else {
        return;
    };
    if !debug_hooks(test) {
        return;
    }
    let s = Scratch::new("overlay-changes");
    let (lower, upper, work) = (s.path("lower"), s.path("upper"), s.path("work"));
    for d in [&lower, &upper, &work] {
        std::fs::create_dir(d).unwrap();
    }
    std::fs::write(lower.join("existing"), "lower\n").unwrap();
    std::fs::create_dir_all(lower.join("etc/sub")).unwrap();
    std::fs::write(lower.join("etc/conf"), "conf\n").unwrap();
    let plan = s.write("o.toml", OVERLAY_PLAN);
    let layers = || manifest(&[&lower, &upper, &work]);
    let before = layers();
    let host = host_mounts();
    let run = || {
        Run::apply(&plan, &s.state())
            .set("LOWER", &lower)
            .set("UPPER", &upper)
            .set("WORK", &work)
    };
    for hook in ["MOUNTPLAN_TEST_FAIL_AT_CALL", "MOUNTPLAN_TEST_KILL_AT"] {
        let mut n = 0;
        loop {
            let o = run().env(hook, n).run();
            if o.status == 0 {
                break;
            }
            assert_eq!(o.status, 125, "{hook}={n}: {}", o.stderr);
            // Killed after the kernel copied `etc/conf` up and before its inode number was
            // journaled, recovery knows the copy by the size and modification time it kept.
            assert!(!o.stderr.contains("left alone"), "{hook}={n}: {}", o.stderr);
            assert_same(&format!("{hook}={n}"), &before, &layers());
            assert_eq!(host, host_mounts(), "{hook}={n}");
            assert!(journals(&s.state()).is_empty(), "{hook}={n}");
            n += 1;
        }
        if hook == "MOUNTPLAN_TEST_KILL_AT" {
            // Ten changes, two points each: `work`, the mode of the upper directory itself,
            // `new`, `new/deeper`, the link, the FIFO, the copies of `etc` and `etc/sub`,
            // `etc/sub/made`, the copy of `etc/conf`; and the intent of `index`, which the mount
            // may make (with `index=on`) but did not.
            assert_eq!(n, 21, "journal points");
        } else {
            assert!(n >= 8, "{hook}: only {n} calls failed in turn");
        }
        // The run that succeeded wrote into the upper layer, as an overlay does. Undo it by
        // hand for the next hook.
        assert!(upper.join("new/deeper").is_dir() && upper.join("fifo").exists());
        assert!(upper.join("etc/sub/made").is_dir() && upper.join("etc/conf").is_file());
        for e in std::fs::read_dir(&upper).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() && !p.is_symlink() {
                std::fs::remove_dir_all(&p).unwrap();
            } else {
                std::fs::remove_file(&p).unwrap();
            }
        }
        std::fs::remove_dir(work.join("work")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&upper, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_same(&format!("{hook}: cleaned by hand"), &before, &layers());
    }
}

/// An overlay the kernel refuses (EINVAL, its reason only in the kernel log) gets the reason
/// mountplan can tell: here a work directory inside the upper one. Nothing is left behind.
#[test]
fn an_overlay_the_kernel_refuses_says_why() {
    let Some(_serial) = privileged("an_overlay_the_kernel_refuses_says_why") else {
        return;
    };
    let s = Scratch::new("overlay-refused");
    let (lower, upper) = (s.path("lower"), s.path("upper"));
    let work = upper.join("work");
    for d in [&lower, &upper, &work] {
        std::fs::create_dir(d).unwrap();
    }
    let plan = s.write("o.toml", OVERLAY_PLAN);
    let before = manifest(&[&lower, &upper]);
    let o = Run::apply(&plan, &s.state())
        .set("LOWER", &lower)
        .set("UPPER", &upper)
        .set("WORK", &work)
        .run();
    assert_eq!(o.status, 125, "{}", o.stderr);
    assert!(o.stderr.contains("EINVAL"), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("is inside the other; overlayfs needs two separate directories"),
        "{}",
        o.stderr
    );
    assert_same("refused overlay", &before, &manifest(&[&lower, &upper]));
    assert!(journals(&s.state()).is_empty());
}
