//! Descriptors (the CVE-2024-21626 class): mountplan is started with descriptors open without
//! CLOEXEC, among them a directory outside the root (what a leaked host directory descriptor
//! lets a command escape through: `/proc/self/fd/N/..`), at low and high numbers. The command
//! sees only 0, 1 and 2 (and the descriptor its own `ls` opens), its working directory is the
//! new root, and `/proc/self/fd/N` of a leaked number does not exist, with and without a pid
//! namespace.

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;

use crate::support::*;

const PLAN: &str = r#"
version = 1
name = "fds"

[root]
path = "${ROOTFS}"

[namespaces]
user = false
pid = PID

[[step]]
kind = "mount"
id = "proc"
type = "proc"
target = "/proc"

[[step]]
kind = "pivot"
id = "pivot"
strategy = "pivot-root"
"#;

/// The numbers the leaked descriptors get in mountplan.
const LEAKED: [i32; 5] = [3, 4, 7, 255, 1000];

#[test]
fn descriptors_leaked_into_mountplan_never_reach_the_command() {
    let Some(_serial) = privileged("descriptors_leaked_into_mountplan_never_reach_the_command")
    else {
        return;
    };
    for pid in [true, false] {
        let s = Scratch::new("fds");
        let root = s.path("root");
        busybox_root(&root);
        let outside = s.path("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("host-secret"), "secret\n").unwrap();
        let plan = s.write("fds.toml", &PLAN.replace("PID", &pid.to_string()));
        let probe = format!(
            "ls -l /proc/self/fd; echo cwd=$(readlink /proc/self/cwd); \
             for n in {}; do ls /proc/self/fd/$n/ 2>/dev/null && echo escaped=$n; done; \
             echo end",
            LEAKED.map(|n| n.to_string()).join(" ")
        );
        let mut c = Run::apply(&plan, &s.state())
            .set("ROOTFS", &root)
            .cmd(&["/bin/busybox", "sh", "-c", &probe])
            .command();
        let dir = std::fs::File::open(&outside).unwrap();
        let file = std::fs::File::open(outside.join("host-secret")).unwrap();
        let (d, f) = (dir.as_raw_fd(), file.as_raw_fd());
        unsafe {
            c.pre_exec(move || {
                for (i, n) in LEAKED.iter().enumerate() {
                    // dup2 clears CLOEXEC on the copy: these reach mountplan.
                    let from = if i % 2 == 0 { d } else { f };
                    if from != *n && libc::dup2(from, *n) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let o = finish(c.spawn().unwrap(), std::time::Duration::from_secs(30));
        assert_eq!(o.status, 0, "pid={pid}: {}", o.stderr);
        let kv = kv(&o.stdout);
        // `ls -l` lines: "... N -> TARGET". Only 0, 1, 2 and the directory `ls` opened for
        // itself (a /proc path).
        let fds: Vec<(&str, &str)> = o
            .stdout
            .lines()
            .filter_map(|l| l.split_once(" -> "))
            .map(|(a, t)| (a.rsplit(' ').next().unwrap(), t))
            .collect();
        assert!(fds.len() >= 3, "pid={pid}: no listing: {}", o.stdout);
        for (n, t) in &fds {
            assert!(
                ["0", "1", "2"].contains(n) || t.starts_with("/proc/"),
                "pid={pid}: descriptor {n} -> {t} leaked into the command:\n{}",
                o.stdout
            );
            assert!(!t.contains("outside"), "pid={pid}: {n} -> {t}");
        }
        assert!(fds.len() <= 4, "pid={pid}: {fds:?}");
        assert_eq!(kv["cwd"], "/", "pid={pid}");
        assert!(!o.stdout.contains("escaped="), "pid={pid}: {}", o.stdout);
        assert!(o.stdout.contains("end"), "pid={pid}: {}", o.stdout);
        drop((dir, file));
    }
}

/// Kernels before 5.9 have no `close_range` (here: a seccomp filter makes it ENOSYS), and the
/// caller may have lowered RLIMIT_NOFILE below a descriptor it leaves open: the fallback must
/// still close every descriptor, not only those below the limit.
#[test]
fn descriptors_above_the_limit_are_closed_without_close_range() {
    let Some(_serial) = privileged("descriptors_above_the_limit_are_closed_without_close_range")
    else {
        return;
    };
    for pid in [true, false] {
        let s = Scratch::new("fds-fallback");
        let root = s.path("root");
        busybox_root(&root);
        let outside = s.path("outside");
        std::fs::create_dir(&outside).unwrap();
        let plan = s.write("fds.toml", &PLAN.replace("PID", &pid.to_string()));
        let mut c = Run::apply(&plan, &s.state())
            .set("ROOTFS", &root)
            .cmd(&["/bin/ls", "-l", "/proc/self/fd"])
            .command();
        let dir = std::fs::File::open(&outside).unwrap();
        let d = dir.as_raw_fd();
        unsafe {
            c.pre_exec(move || {
                // Leaked at 40 and 1000, then the soft and hard limits lowered to 32.
                for n in [40, 1000] {
                    if libc::dup2(d, n) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                let l = libc::rlimit {
                    rlim_cur: 32,
                    rlim_max: 32,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        deny_syscalls(&mut c, &[libc::SYS_close_range as u32]);
        let o = finish(c.spawn().unwrap(), std::time::Duration::from_secs(30));
        assert_eq!(o.status, 0, "pid={pid}: {}", o.stderr);
        for l in o.stdout.lines().filter(|l| l.contains(" -> ")) {
            let (a, t) = l.split_once(" -> ").unwrap();
            let n = a.rsplit(' ').next().unwrap();
            assert!(
                ["0", "1", "2"].contains(&n) || t.starts_with("/proc/"),
                "pid={pid}: descriptor {n} -> {t} leaked into the command:\n{}",
                o.stdout
            );
        }
        drop(dir);
    }
}
